package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// User is a client account of the proxy.
type User struct {
	Name string
	// Password is the plaintext password ("" when the config gave a hash). A password
	// starting with "*" is always read as a hash, as MySQL does.
	Password string
	// PasswordHash is the 20-byte MySQL native password hash SHA1(SHA1(pw)), set when the
	// config gave "*<40 hex>" instead of a plaintext password; nil otherwise.
	PasswordHash []byte
	Admin        bool
	// Keyspaces the user may use; nil (the key absent) means all, empty means none.
	Keyspaces []string
	// BackendUser and BackendPassword are the backend account the user's statements run as,
	// on every server of its keyspaces; "" = each keyspace's user and password.
	BackendUser     string
	BackendPassword string
}

// CanUse reports whether the user may use keyspace.
func (u User) CanUse(keyspace string) bool {
	return u.Keyspaces == nil || slices.Contains(u.Keyspaces, keyspace)
}

// Pool sizes the per-server backend connection pools.
type Pool struct {
	Size        int           // connections per server, > 0
	IdleTimeout time.Duration // 0 = idle connections are never closed
	WaitTimeout time.Duration // how long a statement waits for a free connection, > 0
}

// TLS is client-facing TLS. Cert and Key are both set or both empty.
type TLS struct {
	Cert, Key string // absolute paths
	CA        string // absolute path; when set, client certificates are verified against it
	Require   bool   // refuse clients that do not switch to TLS (needs a certificate: Cert and Key, or AutoGenerate)
	// AutoGenerate, when Cert is empty, makes a CA and a server certificate in StateDir on
	// first start (reused afterwards): TLS is offered out of the box, as on MySQL 8.
	AutoGenerate bool
}

// BackendTLS is TLS from the proxy to the backend servers.
type BackendTLS struct {
	Enabled    bool
	CA         string // absolute path; "" = system roots
	SkipVerify bool
}

// Hold limits the statements held while writes are switched to another keyspace.
type Hold struct {
	MaxStatements int           // > 0
	MaxWait       time.Duration // > 0
}

// Migration tunes table migrations.
type Migration struct {
	CopyBatchRows     int           // rows per copy batch, > 0
	CopyRowsPerSecond int           // 0 = unlimited
	MaxSourceLag      time.Duration // > 0
}

// Topo says where the routing schema and the instance registry live.
type Topo struct {
	Implementation string   // file | etcd
	Address        []string // etcd endpoints (host:port), empty for file
	Root           string   // etcd key prefix, "/..." without a trailing "/"
	LeaseTTL       time.Duration
}

// Config is the validated configuration. Every path in it is absolute except StateDir,
// which is kept as given (relative to the working directory, like Vitess's VTDATAROOT).
type Config struct {
	Listen     string // MySQL protocol, host:port
	HTTPListen string
	HTTPDebug  bool // serve /debug/pprof
	StateDir   string

	Users []User

	// Keyspaces by name. Database defaults to the name; every keyspace has a primary.
	Keyspaces map[string]*router.Keyspace
	// VSchemaFiles maps keyspace -> VSchema file path, VSchemas holds their contents.
	VSchemaFiles map[string]string
	VSchemas     map[string]*router.KeyspaceVSchema
	// RoutingRulesFile is "" when no rules file is configured; RoutingRules is then empty.
	RoutingRulesFile string
	RoutingRules     map[string]string

	Pool            Pool
	BackendIO       string        // blocking | poller
	GoMaxProcs      int           // 0 = automatic (see Procs)
	QueryTimeout    time.Duration // per statement; 0 = none
	MaxReplicaLag   time.Duration
	TransactionMode string // single | multi | twopc
	// DefaultKeyspace is where sessions without a database route ("" = none); it names a keyspace.
	DefaultKeyspace string
	MaxConnections  int
	MaxRowsInMemory int

	TLS        TLS
	BackendTLS BackendTLS
	Hold       Hold
	Migration  Migration
	Topo       Topo

	LogLevel  string // debug | info | warn | error
	LogFormat string // text | json

	// ConfigFile is the absolute path of the file loaded, "" if none.
	ConfigFile string
}

// Procs is the GOMAXPROCS to set for numCPU CPUs, 0 to keep the runtime's default. With
// blocking backend reads (backend_io: blocking) a session waiting for its backend keeps a
// processor of the Go scheduler while its thread sleeps in read(2); with only as many
// processors as CPUs, the other sessions' goroutines wait until the runtime takes one
// back. 16 measured best on 2 CPUs (docs/benchmarks.md).
func (c *Config) Procs(numCPU int) int {
	if c.GoMaxProcs > 0 {
		return c.GoMaxProcs
	}
	if c.BackendIO == "blocking" && runtime.GOOS == "linux" && numCPU < 16 { // elsewhere the poller is kept (proxy.toBlocking)
		return 16
	}
	return 0
}

// Schema returns the routing schema the config describes (VSchemas and routing rules),
// ready for router.NewHolder. It shares no maps with c.
func (c *Config) Schema() *router.Schema {
	return (&router.Schema{VSchema: c.VSchemas, Rules: c.RoutingRules}).Clone()
}

// files lists every file the config was read from, for Watch.
func (c *Config) files() []string {
	out := []string{}
	if c.ConfigFile != "" {
		out = append(out, c.ConfigFile)
	}
	for _, ks := range sortedKeys(c.VSchemaFiles) {
		out = append(out, c.VSchemaFiles[ks])
	}
	if c.RoutingRulesFile != "" {
		out = append(out, c.RoutingRulesFile)
	}
	return out
}

// Error is one validation problem: the key (as written in the YAML file) and what is wrong.
type Error struct {
	Key     string
	Problem string
}

const problemUnknownKey = "unknown key"

func (e *Error) Error() string {
	switch {
	case e.Problem == problemUnknownKey:
		return fmt.Sprintf("config: unknown key %q", e.Key)
	case e.Key == "":
		return "config: " + e.Problem
	}
	return "config: " + e.Key + ": " + e.Problem
}

// RegisterFlags defines a flag for every scalar setting on fs: the key with "." and "_"
// turned into "-" (listen -> --listen, pool.size -> --pool-size). Users, keyspaces and
// vschema files come only from the file.
func RegisterFlags(fs *pflag.FlagSet) {
	for _, s := range settings {
		name := flagName(s.key)
		switch d := s.def.(type) {
		case string:
			fs.String(name, d, s.usage)
		case bool:
			fs.Bool(name, d, s.usage)
		case int:
			fs.Int(name, d, s.usage)
		case time.Duration:
			fs.Duration(name, d, s.usage)
		default:
			panic(fmt.Sprintf("config: setting %s has default of type %T", s.key, s.def))
		}
	}
}

// Load builds a Config from, lowest precedence first: defaults, the YAML file at path
// ("" = no file), VTGATE_LITE_* environment variables, and the flags of fs that were set
// on the command line (fs may be nil). It returns every validation problem found, each an
// *Error, joined.
func Load(path string, fs *pflag.FlagSet) (*Config, error) {
	l := &loader{fs: fs}
	raw := map[string]any{}
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		b, err := os.ReadFile(abs)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			if err := yaml.Unmarshal(b, &raw); err != nil {
				return nil, fmt.Errorf("config: %s: %w", abs, err)
			}
		}
		if raw == nil { // a file holding only "~"
			raw = map[string]any{}
		}
		l.file, l.dir = abs, filepath.Dir(abs)
	}
	l.raw = raw
	l.v = newViper(raw, fs)
	cfg := l.build()
	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// newViper layers defaults, the file, the environment and set flags for the scalar settings.
func newViper(raw map[string]any, fs *pflag.FlagSet) *viper.Viper {
	v := viper.New()
	for _, s := range settings {
		v.SetDefault(s.key, s.def)
	}
	// Only scalar sections go to viper: it lowercases map keys, and keyspace names are
	// case-sensitive, so users, keyspaces and vschema are read from raw directly.
	scalars := map[string]any{}
	for k, x := range raw {
		if _, ok := topLevel[k]; ok && k != "users" && k != "keyspaces" && k != "vschema" {
			scalars[k] = x
		}
	}
	_ = v.MergeConfigMap(scalars) // cannot fail for a map
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if fs != nil {
		for _, s := range settings {
			if f := fs.Lookup(flagName(s.key)); f != nil {
				_ = v.BindPFlag(s.key, f) // f is non-nil, the only failure
			}
		}
	}
	return v
}

// loader carries one Load's inputs and the problems found so far.
type loader struct {
	fs   *pflag.FlagSet
	v    *viper.Viper
	raw  map[string]any
	file string // absolute path of the config file, "" if none
	dir  string // its directory
	errs []error
	// keyspaceNames holds every name under keyspaces:, valid or not, so a reference to a
	// keyspace that had its own error is not reported again as unknown.
	keyspaceNames map[string]bool
}

func (l *loader) fail(key, format string, args ...any) {
	l.errs = append(l.errs, &Error{Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (l *loader) build() *Config {
	l.checkKeys()
	c := &Config{ConfigFile: l.file}

	c.Listen = l.address("listen", l.str("listen"))
	c.HTTPListen = l.address("http_listen", l.str("http_listen"))
	if c.HTTPListen == c.Listen && c.Listen != "" && !strings.HasSuffix(c.Listen, ":0") {
		l.fail("http_listen", "same address as listen (%s)", c.Listen)
	}
	c.HTTPDebug = l.bool("http_debug")
	c.StateDir = l.str("state_dir")
	if c.StateDir == "" {
		l.fail("state_dir", "required")
	}

	c.Pool = Pool{
		Size:        l.intAtLeast("pool.size", 1),
		IdleTimeout: l.durationAtLeast("pool.idle_timeout", 0),
		WaitTimeout: l.durationAtLeast("pool.wait_timeout", 1),
	}
	c.BackendIO = l.oneOf("backend_io", "blocking", "poller")
	c.GoMaxProcs = l.intAtLeast("gomaxprocs", 0)
	c.QueryTimeout = l.durationAtLeast("query_timeout", 0)
	c.MaxReplicaLag = l.durationAtLeast("max_replica_lag", 1)
	c.TransactionMode = l.oneOf("transaction_mode", "single", "multi", "twopc")
	c.MaxConnections = l.intAtLeast("max_connections", 1)
	c.MaxRowsInMemory = l.intAtLeast("max_rows_in_memory", 1)

	c.TLS = l.tls()
	c.BackendTLS = l.backendTLS()
	c.Hold = Hold{
		MaxStatements: l.intAtLeast("hold.max_statements", 1),
		MaxWait:       l.durationAtLeast("hold.max_wait", 1),
	}
	c.Migration = Migration{
		CopyBatchRows:     l.intAtLeast("migration.copy_batch_rows", 1),
		CopyRowsPerSecond: l.intAtLeast("migration.copy_rows_per_second", 0),
		MaxSourceLag:      l.durationAtLeast("migration.max_source_lag", 1),
	}
	c.Topo = l.topo()
	c.LogLevel = l.oneOf("log_level", "debug", "info", "warn", "error")
	c.LogFormat = l.oneOf("log_format", "text", "json")

	c.Keyspaces = l.keyspaces()
	c.Users = l.users(c.Keyspaces)
	if c.DefaultKeyspace = l.str("default_keyspace"); c.DefaultKeyspace != "" && c.Keyspaces[c.DefaultKeyspace] == nil {
		l.fail("default_keyspace", "%q is not a configured keyspace", c.DefaultKeyspace)
	}
	c.VSchemaFiles, c.VSchemas = l.vschemas(c.Keyspaces)
	c.RoutingRulesFile, c.RoutingRules = l.routingRules()

	if len(l.errs) == 0 {
		// The router's own checks (rule targets, sharded VSchemas) at load time, so a bad
		// file is refused here rather than when the proxy builds its routing table.
		if _, err := router.Build(0, c.Keyspaces, c.Schema()); err != nil {
			key := "routing_rules"
			if c.RoutingRulesFile == "" {
				key = "vschema"
			}
			l.fail(key, "%v", err)
		}
	}
	return c
}

// checkKeys reports keys the file has but no setting uses, and sections of the wrong shape.
func (l *loader) checkKeys() {
	for _, k := range sortedKeys(l.raw) {
		kind, ok := topLevel[k]
		if !ok {
			l.fail(k, problemUnknownKey)
			continue
		}
		if kind != sectionMap {
			continue
		}
		m, ok := asMap(l.raw[k])
		if !ok {
			if l.raw[k] != nil {
				l.fail(k, "want a map, got %s", describe(l.raw[k]))
			}
			continue
		}
		for _, sub := range sortedKeys(m) {
			if _, ok := settingByKey[k+"."+sub]; !ok {
				l.fail(k+"."+sub, problemUnknownKey)
			}
		}
	}
}

// resolvePath makes the path of a scalar key absolute: relative to the config file's
// directory when the value came from the file, to the working directory when it came from a
// flag or the environment.
func (l *loader) resolvePath(key, p string) string { return l.resolve(p, l.fromFile(key)) }

func (l *loader) resolve(p string, fromFile bool) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if l.dir != "" && fromFile {
		return filepath.Join(l.dir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// fromFile reports whether the value of a scalar key comes from the config file.
func (l *loader) fromFile(key string) bool {
	if l.fs != nil {
		if f := l.fs.Lookup(flagName(key)); f != nil && f.Changed {
			return false
		}
	}
	if os.Getenv(envName(key)) != "" {
		return false
	}
	return true
}

// readable checks that the file at p can be read.
func (l *loader) readable(key, p string) {
	if p == "" {
		return
	}
	if _, err := os.ReadFile(p); err != nil {
		l.fail(key, "%v", err)
	}
}

func (l *loader) tls() TLS {
	t := TLS{
		Cert:    l.resolvePath("tls.cert", l.str("tls.cert")),
		Key:     l.resolvePath("tls.key", l.str("tls.key")),
		CA:      l.resolvePath("tls.ca", l.str("tls.ca")),
		Require: l.bool("tls.require"),
		// No certificate configured: one is generated (or reused) in state_dir.
		AutoGenerate: l.bool("tls.auto_generate"),
	}
	switch {
	case t.Cert != "" && t.Key == "":
		l.fail("tls.key", "required when tls.cert is set")
	case t.Cert == "" && t.Key != "":
		l.fail("tls.cert", "required when tls.key is set")
	case t.Cert == "" && t.Require && !t.AutoGenerate:
		l.fail("tls.require", "needs tls.cert and tls.key, or tls.auto_generate")
	}
	if t.Cert == "" && t.CA != "" && !t.AutoGenerate {
		l.fail("tls.ca", "needs tls.cert and tls.key, or tls.auto_generate")
	}
	l.readable("tls.cert", t.Cert)
	l.readable("tls.key", t.Key)
	l.readable("tls.ca", t.CA)
	return t
}

func (l *loader) backendTLS() BackendTLS {
	b := BackendTLS{
		Enabled:    l.bool("backend_tls.enabled"),
		CA:         l.resolvePath("backend_tls.ca", l.str("backend_tls.ca")),
		SkipVerify: l.bool("backend_tls.skip_verify"),
	}
	// Settings that would do nothing are more likely a forgotten "enabled: true".
	if !b.Enabled && b.CA != "" {
		l.fail("backend_tls.ca", "set but backend_tls.enabled is false")
	}
	if !b.Enabled && b.SkipVerify {
		l.fail("backend_tls.skip_verify", "set but backend_tls.enabled is false")
	}
	if b.CA != "" && b.SkipVerify {
		l.fail("backend_tls.skip_verify", "cannot be combined with backend_tls.ca")
	}
	l.readable("backend_tls.ca", b.CA)
	return b
}

// topo reads the topo section: etcd needs its endpoints, the file store (state_dir) takes none.
func (l *loader) topo() Topo {
	t := Topo{
		Implementation: l.oneOf("topo.implementation", "file", "etcd"),
		Root:           l.str("topo.root"),
		LeaseTTL:       l.durationAtLeast("topo.lease_ttl", 1),
	}
	addr := l.str("topo.address")
	switch {
	case t.Implementation == "file" && addr != "":
		l.fail("topo.address", "set but topo.implementation is file (want etcd to use it)")
	case t.Implementation == "etcd" && addr == "":
		l.fail("topo.address", "required when topo.implementation is etcd (host:port[,host:port...])")
	case t.Implementation == "etcd":
		seen := map[string]bool{}
		for _, a := range strings.Split(addr, ",") {
			a = strings.TrimSpace(a)
			if err := checkHostPort(a, false); err != nil || filepath.IsAbs(a) {
				l.fail("topo.address", "%q is not host:port", a)
				continue
			}
			if seen[a] {
				l.fail("topo.address", "%s is listed twice", a)
				continue
			}
			seen[a] = true
			t.Address = append(t.Address, a)
		}
	}
	if r := t.Root; !strings.HasPrefix(r, "/") || r == "/" || strings.HasSuffix(r, "/") || strings.Contains(r, "//") || strings.ContainsAny(r, " \t\n") {
		l.fail("topo.root", "%q is not a key prefix like /vtgate-lite (a leading /, no trailing /, no spaces)", r)
	}
	if t.LeaseTTL > 0 && (t.LeaseTTL < 2*time.Second || t.LeaseTTL%time.Second != 0) {
		l.fail("topo.lease_ttl", "%s: want whole seconds, at least 2s (etcd leases count in seconds)", t.LeaseTTL)
	}
	return t
}

// parseNativeHash decodes "*<40 hex>" into the 20-byte hash.
func parseNativeHash(s string) ([]byte, bool) {
	if len(s) != 41 || s[0] != '*' {
		return nil, false
	}
	b, err := hex.DecodeString(s[1:])
	return b, err == nil
}
