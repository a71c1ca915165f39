// Package config turns vtgate-lite's YAML file, VTGATE_LITE_* environment variables and
// command-line flags into one typed, validated Config. It is the only package that imports
// viper; everything else receives the values it produces.
//
// Flow:
//  1. cmd calls RegisterFlags(fs), which defines a flag per scalar setting (pool.size ->
//     --pool-size), and parses the command line.
//  2. Load(path, fs) decodes the YAML file (keeping keyspace names' case) and reports any key
//     it does not know, so a typo is an error rather than a silently ignored setting.
//  3. viper layers the scalar settings, lowest precedence first: defaults, the file, the
//     environment (VTGATE_LITE_ + the key upper-cased with "." -> "_", e.g.
//     VTGATE_LITE_POOL_SIZE), and the flags set on the command line. Users, keyspaces and
//     vschema files come only from the file.
//  4. Each value is read and checked, and every problem is collected as an *Error that names
//     the key ("config: pool.size: must be > 0"), so one run shows them all.
//  5. Keyspaces become router.Keyspace values; the VSchema and routing-rules files (paths in
//     the file are relative to its directory) are read and parsed, and router.Build checks
//     the whole routing schema once, so a config that loads can be routed.
//  6. Watch polls the file and the files it names; on a change it repeats 2-5 and hands the
//     new Config to onChange, or the error to onError while the caller keeps the old one.
package config
