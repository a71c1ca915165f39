package config

import (
	"crypto/sha1"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// base is a small valid file the error cases edit.
const base = `
users:
  - {name: app, password: secret}
  - {name: ro, password: "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7", keyspaces: [commerce]}
keyspaces:
  commerce:
    primary: 127.0.0.1:17100
    replicas:
      - {address: 127.0.0.1:17101, type: replica}
`

const vschemaJSON = `{"tables": {"product": {}, "customer": {}}}`

// writeFiles writes name -> content under a new temp dir and returns the dir.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadYAML(t *testing.T, yaml string, fs *pflag.FlagSet) (*Config, error) {
	t.Helper()
	dir := writeFiles(t, map[string]string{"vtgate-lite.yaml": yaml})
	return Load(filepath.Join(dir, "vtgate-lite.yaml"), fs)
}

func mustLoad(t *testing.T, yaml string, fs *pflag.FlagSet) *Config {
	t.Helper()
	c, err := loadYAML(t, yaml, fs)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestLoadExample(t *testing.T) {
	c, err := Load("testdata/example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata/example.yaml")
	if c.ConfigFile != abs {
		t.Errorf("ConfigFile = %q, want %q", c.ConfigFile, abs)
	}
	if c.Listen != "127.0.0.1:15306" || c.HTTPListen != "127.0.0.1:15000" || c.StateDir != "./vtdataroot/vtgate-lite" {
		t.Errorf("addresses = %q %q %q", c.Listen, c.HTTPListen, c.StateDir)
	}
	h1 := sha1.Sum([]byte("secret"))
	h2 := sha1.Sum(h1[:])
	wantUsers := []User{
		{Name: "app", Password: "secret"},
		{Name: "admin", Password: "secret", Admin: true},
		{Name: "ro", PasswordHash: h2[:], Keyspaces: []string{"commerce"}},
	}
	if !reflect.DeepEqual(c.Users, wantUsers) {
		t.Errorf("Users = %+v\nwant %+v", c.Users, wantUsers)
	}
	wantKS := map[string]*router.Keyspace{"commerce": {
		Name: "commerce", Database: "commerce", User: "root", Password: "rootpw",
		Primary: "127.0.0.1:17100",
		Replicas: []router.Server{
			{Address: "127.0.0.1:17101", Type: router.Replica},
			{Address: "127.0.0.1:17102", Type: router.Rdonly},
		},
	}}
	if !reflect.DeepEqual(c.Keyspaces, wantKS) {
		t.Errorf("Keyspaces = %+v", c.Keyspaces["commerce"])
	}
	wantFile := filepath.Join(filepath.Dir(abs), "vschema_commerce_initial.json")
	if c.VSchemaFiles["commerce"] != wantFile {
		t.Errorf("VSchemaFiles = %v, want commerce: %s", c.VSchemaFiles, wantFile)
	}
	if got := c.Schema(); len(got.VSchema["commerce"].Tables) != 3 {
		t.Errorf("VSchema tables = %v", got.VSchema["commerce"].Tables)
	}
	if c.RoutingRulesFile != "" || c.RoutingRules == nil || len(c.RoutingRules) != 0 {
		t.Errorf("RoutingRules = %q %v, want none", c.RoutingRulesFile, c.RoutingRules)
	}
	if !c.Users[0].CanUse("commerce") || !c.Users[2].CanUse("commerce") || c.Users[2].CanUse("customer") {
		t.Error("CanUse: nil keyspaces must allow all, a list only its members")
	}
	if _, err := router.NewHolder(c.Keyspaces, c.Schema(), nil); err != nil {
		t.Errorf("router.NewHolder: %v", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	c := mustLoad(t, base, nil)
	want := Config{
		Listen: "127.0.0.1:15306", HTTPListen: "127.0.0.1:15000", HTTPDebug: true,
		StateDir:        "./vtdataroot/vtgate-lite",
		Pool:            Pool{Size: 32, IdleTimeout: 5 * time.Minute, WaitTimeout: 10 * time.Second},
		BackendIO:       "blocking",
		QueryTimeout:    0,
		MaxReplicaLag:   30 * time.Second,
		TransactionMode: "single",
		MaxConnections:  10000,
		MaxRowsInMemory: 100000,
		TLS:             TLS{AutoGenerate: true},
		Hold:            Hold{MaxStatements: 10000, MaxWait: 65 * time.Second},
		Migration:       Migration{CopyBatchRows: 10000, CopyRowsPerSecond: 0, MaxSourceLag: 30 * time.Second},
		Topo:            Topo{Implementation: "file", Root: "/vtgate-lite", LeaseTTL: 10 * time.Second},
		LogLevel:        "info",
		LogFormat:       "text",
	}
	got := *c
	got.Users, got.Keyspaces, got.VSchemaFiles, got.VSchemas, got.RoutingRules, got.ConfigFile = nil, nil, nil, nil, nil, ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if ks := c.Keyspaces["commerce"]; ks.Database != "commerce" {
		t.Errorf("Database = %q, want the keyspace name", ks.Database)
	}
}

func TestLoadAllSettings(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"certs/server.pem": "cert", "certs/server.key": "key", "certs/ca.pem": "ca",
		"rules.json": `{"rules": [{"from_table": "product@replica", "to_tables": ["Customer_KS.product"]}]}`,
		"vs.json":    vschemaJSON,
		"c.yaml": base + `  Customer_KS:
    database: customer
    primary: db2:3306
    replicas: ["db3:3306"]
vschema: {Customer_KS: vs.json}
routing_rules: rules.json
listen: ":0"
http_listen: 0.0.0.0:0
http_debug: false
state_dir: /var/lib/vtgate-lite
pool: {size: 8, idle_timeout: 0, wait_timeout: 1500ms}
backend_io: poller
gomaxprocs: 4
query_timeout: 30s
max_replica_lag: 5s
transaction_mode: TwoPC
default_keyspace: Customer_KS
max_connections: 50
max_rows_in_memory: 7
tls: {cert: certs/server.pem, key: certs/server.key, ca: certs/ca.pem, require: true}
backend_tls: {enabled: true, ca: certs/ca.pem}
hold: {max_statements: 5, max_wait: 2s}
migration: {copy_batch_rows: 100, copy_rows_per_second: 1000, max_source_lag: 1m}
topo: {implementation: ETCD, address: "etcd1:2379, etcd2:2379", root: /prod/vtgate-lite, lease_ttl: 5s}
log_level: DEBUG
log_format: json
`,
	})
	c, err := Load(filepath.Join(dir, "c.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen: ":0", HTTPListen: "0.0.0.0:0", HTTPDebug: false, StateDir: "/var/lib/vtgate-lite",
		RoutingRulesFile: filepath.Join(dir, "rules.json"),
		RoutingRules:     map[string]string{"product@replica": "Customer_KS.product"},
		VSchemaFiles:     map[string]string{"Customer_KS": filepath.Join(dir, "vs.json")},
		Pool:             Pool{Size: 8, IdleTimeout: 0, WaitTimeout: 1500 * time.Millisecond},
		BackendIO:        "poller", GoMaxProcs: 4,
		QueryTimeout: 30 * time.Second, MaxReplicaLag: 5 * time.Second,
		TransactionMode: "twopc", DefaultKeyspace: "Customer_KS", MaxConnections: 50, MaxRowsInMemory: 7,
		TLS: TLS{Cert: filepath.Join(dir, "certs/server.pem"), Key: filepath.Join(dir, "certs/server.key"),
			CA: filepath.Join(dir, "certs/ca.pem"), Require: true, AutoGenerate: true},
		BackendTLS: BackendTLS{Enabled: true, CA: filepath.Join(dir, "certs/ca.pem")},
		Hold:       Hold{MaxStatements: 5, MaxWait: 2 * time.Second},
		Migration:  Migration{CopyBatchRows: 100, CopyRowsPerSecond: 1000, MaxSourceLag: time.Minute},
		Topo:       Topo{Implementation: "etcd", Address: []string{"etcd1:2379", "etcd2:2379"}, Root: "/prod/vtgate-lite", LeaseTTL: 5 * time.Second},
		LogLevel:   "debug", LogFormat: "json",
		ConfigFile: filepath.Join(dir, "c.yaml"),
	}
	got := *c
	got.Users, got.Keyspaces, got.VSchemas = nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
	// Keyspace names keep their case (viper would lower-case them).
	ks := c.Keyspaces["Customer_KS"]
	if ks == nil || ks.Database != "customer" || !reflect.DeepEqual(ks.Replicas, []router.Server{{Address: "db3:3306", Type: router.Replica}}) {
		t.Errorf("Customer_KS = %+v", ks)
	}
	if len(c.VSchemas["Customer_KS"].Tables) != 2 {
		t.Errorf("VSchemas = %v", c.VSchemas)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string            // appended to base unless noBase
		files map[string]string // written next to the config file
		// noBase replaces base entirely.
		noBase bool
		want   string
	}{
		{name: "unknown top-level key", yaml: "listn: :3306\n", want: `config: unknown key "listn"`},
		{name: "unknown section key", yaml: "pool: {sise: 3}\n", want: `config: unknown key "pool.sise"`},
		{name: "unknown keyspace key", noBase: true, yaml: "users: [{name: a}]\nkeyspaces: {ks: {primary: 'h:1', primay: 'h:2'}}\n",
			want: `config: unknown key "keyspaces.ks.primay"`},
		{name: "unknown user key", noBase: true, yaml: "users: [{name: a, pasword: x}]\n", want: `config: unknown key "users[0].pasword"`},
		{name: "unknown replica key", noBase: true, yaml: "users: [{name: a}]\nkeyspaces: {ks: {primary: 'h:1', replicas: [{adress: 'h:2'}]}}\n",
			want: `config: unknown key "keyspaces.ks.replicas[0].adress"`},
		{name: "section not a map", yaml: "pool: 5\n", want: `config: pool: want a map, got int 5`},
		{name: "yaml syntax", noBase: true, yaml: "users: [\n", want: `vtgate-lite.yaml: yaml:`},

		{name: "primary required", noBase: true, yaml: "users: [{name: a}]\nkeyspaces:\n  commerce: {database: c}\n",
			want: `config: keyspaces.commerce.primary: required`},
		{name: "primary not host:port", noBase: true, yaml: "users: [{name: a}]\nkeyspaces:\n  commerce: {primary: db1}\n",
			want: `config: keyspaces.commerce.primary: "db1" is neither host:port nor the absolute path of a unix socket`},
		{name: "primary relative socket path", noBase: true, yaml: "users: [{name: a}]\nkeyspaces:\n  commerce: {primary: run/mysqld.sock}\n",
			want: `config: keyspaces.commerce.primary: "run/mysqld.sock" is neither host:port nor the absolute path of a unix socket`},
		{name: "primary port 0", noBase: true, yaml: "users: [{name: a}]\nkeyspaces:\n  commerce: {primary: 'db1:0'}\n",
			want: `config: keyspaces.commerce.primary: "db1:0" is not host:port (bad port "0")`},
		{name: "replica type unknown", yaml: "      - {address: 127.0.0.1:17102, type: foo}\n",
			want: `config: keyspaces.commerce.replicas[1].type: unknown tablet type "foo"`},
		{name: "replica type primary", yaml: "      - {address: 127.0.0.1:17102, type: primary}\n",
			want: `config: keyspaces.commerce.replicas[1].type: "primary" is not allowed here (the primary is keyspaces.commerce.primary)`},
		{name: "replica address required", yaml: "      - {type: rdonly}\n",
			want: `config: keyspaces.commerce.replicas[1].address: required`},
		{name: "replica address repeated", yaml: "      - 127.0.0.1:17100\n",
			want: `config: keyspaces.commerce.replicas[1].address: 127.0.0.1:17100 is already used by keyspaces.commerce.primary`},
		{name: "replicas not a list", noBase: true, yaml: "users: [{name: a}]\nkeyspaces: {ks: {primary: 'h:1', replicas: 'h:2'}}\n",
			want: `config: keyspaces.ks.replicas: want a list`},
		{name: "keyspaces not a map", noBase: true, yaml: "users: [{name: a}]\nkeyspaces: [ks]\n",
			want: `config: keyspaces: want a map`},
		{name: "keyspace name", noBase: true, yaml: "users: [{name: a}]\nkeyspaces: {a.b: {primary: 'h:1'}}\n",
			want: `config: keyspaces."a.b": invalid keyspace name`},

		{name: "bad password hash", noBase: true, yaml: "users: [{name: a, password: x}, {name: b, password: '*12AB'}]\n",
			want: `config: users[1].password: "*12AB" is not a valid native password hash (want * followed by 40 hex digits)`},
		{name: "password hash not hex", noBase: true, yaml: "users: [{name: a, password: '*Z4E65567ABDB5135D0CFD9A70B3032C179A49EE7'}]\n",
			want: `config: users[0].password: "*Z4E65567ABDB5135D0CFD9A70B3032C179A49EE7" is not a valid native password hash`},
		{name: "password a number", noBase: true, yaml: "users: [{name: a, password: 0123}]\n",
			want: `config: users[0].password: want a string (quote it), got int 83`},
		{name: "no users", noBase: true, yaml: "listen: ':1'\n", want: `config: users: at least one user is required`},
		{name: "users not a list", noBase: true, yaml: "users: {name: a}\n", want: `config: users: want a list`},
		{name: "user name required", noBase: true, yaml: "users: [{name: a}, {name: b}, {password: x}]\n", want: `config: users[2].name: required`},
		{name: "user name repeated", noBase: true, yaml: "users: [{name: a}, {name: a}]\n",
			want: `config: users[1].name: duplicate user "a" (also users[0])`},
		{name: "user unknown keyspace", noBase: true, yaml: "users: [{name: a, keyspaces: [nope]}]\n",
			want: `config: users[0].keyspaces[0]: unknown keyspace "nope"`},
		{name: "user admin not bool", noBase: true, yaml: "users: [{name: a, admin: 'yes'}]\n",
			want: `config: users[0].admin: string "yes" is not a boolean`},

		{name: "backend password without user", noBase: true, yaml: "users: [{name: a, backend_password: x}]\n",
			want: `config: users[0].backend_password: set but users[0].backend_user is not`},
		{name: "backend user not a string", noBase: true, yaml: "users: [{name: a, backend_user: 7}]\n",
			want: `config: users[0].backend_user: want a string (quote it), got int 7`},
		{name: "backend account two passwords", noBase: true,
			yaml: "users: [{name: a, backend_user: ro, backend_password: x}, {name: b, backend_user: ro, backend_password: y}]\n",
			want: `config: users[1].backend_password: backend account "ro" has another password in users[0].backend_password`},
		{name: "backend account is the keyspace's with another password", noBase: true,
			yaml: "users: [{name: a, backend_user: app, backend_password: x}]\nkeyspaces: {ks: {primary: 'h:1', user: app, password: y}}\n",
			want: `config: users[0].backend_password: backend account "app" has another password in keyspaces.ks.password`},
		{name: "admin password without admin user", noBase: true,
			yaml: "users: [{name: a}]\nkeyspaces: {ks: {primary: 'h:1', user: app, admin_password: x}}\n",
			want: `config: keyspaces.ks.admin_password: set but keyspaces.ks.admin_user is not`},
		{name: "admin user not a string", noBase: true,
			yaml: "users: [{name: a}]\nkeyspaces: {ks: {primary: 'h:1', admin_user: [x]}}\n",
			want: `config: keyspaces.ks.admin_user: want a string (quote it), got a list`},

		{name: "transaction mode", yaml: "transaction_mode: foo\n", want: `config: transaction_mode: "foo" (want single, multi or twopc)`},
		{name: "default keyspace unknown", yaml: "default_keyspace: nope\n", want: `config: default_keyspace: "nope" is not a configured keyspace`},
		{name: "backend io", yaml: "backend_io: epoll\n", want: `config: backend_io: "epoll" (want blocking or poller)`},
		{name: "gomaxprocs negative", yaml: "gomaxprocs: -2\n", want: `config: gomaxprocs: must be >= 0`},
		{name: "log level", yaml: "log_level: loud\n", want: `config: log_level: "loud" (want debug, info, warn or error)`},
		{name: "log format", yaml: "log_format: xml\n", want: `config: log_format: "xml" (want text or json)`},
		{name: "pool size zero", yaml: "pool: {size: 0}\n", want: `config: pool.size: must be > 0`},
		{name: "pool size not int", yaml: "pool: {size: many}\n", want: `config: pool.size: "many" is not an integer`},
		{name: "max connections", yaml: "max_connections: -1\n", want: `config: max_connections: must be > 0`},
		{name: "max rows", yaml: "max_rows_in_memory: 0\n", want: `config: max_rows_in_memory: must be > 0`},
		{name: "hold statements", yaml: "hold: {max_statements: 0}\n", want: `config: hold.max_statements: must be > 0`},
		{name: "copy batch", yaml: "migration: {copy_batch_rows: 0}\n", want: `config: migration.copy_batch_rows: must be > 0`},
		{name: "copy rate", yaml: "migration: {copy_rows_per_second: -1}\n", want: `config: migration.copy_rows_per_second: must be >= 0`},
		{name: "duration without unit", yaml: "query_timeout: 30\n", want: `config: query_timeout: 30 is not a duration (want Go syntax like "30s")`},
		{name: "duration garbage", yaml: "max_replica_lag: soon\n", want: `config: max_replica_lag: "soon" is not a duration`},
		{name: "duration negative", yaml: "query_timeout: -1s\n", want: `config: query_timeout: must not be negative`},
		{name: "duration zero", yaml: "pool: {wait_timeout: 0s}\n", want: `config: pool.wait_timeout: must be > 0`},
		{name: "bool", yaml: "http_debug: maybe\n", want: `config: http_debug: "maybe" is not a boolean`},
		{name: "listen not host:port", yaml: "listen: localhost\n", want: `config: listen: "localhost" is not host:port`},
		{name: "listen bad port", yaml: "listen: 'localhost:http'\n", want: `config: listen: "localhost:http" is not host:port (bad port "http")`},
		{name: "http listen", yaml: "http_listen: '127.0.0.1:99999'\n", want: `config: http_listen: "127.0.0.1:99999" is not host:port`},
		{name: "listen a list", yaml: "listen: [a]\n", want: `config: listen: want a string, got a list`},
		{name: "http listen same as listen", yaml: "listen: ':3306'\nhttp_listen: ':3306'\n",
			want: `config: http_listen: same address as listen (:3306)`},
		{name: "state dir empty", yaml: "state_dir: ''\n", want: `config: state_dir: required`},

		{name: "vschema unknown keyspace", yaml: "vschema: {customer: vs.json}\n", files: map[string]string{"vs.json": vschemaJSON},
			want: `config: vschema.customer: no keyspace "customer" in keyspaces`},
		{name: "vschema unreadable", yaml: "vschema: {commerce: missing.json}\n",
			want: `config: vschema.commerce: open `},
		{name: "vschema bad json", yaml: "vschema: {commerce: vs.json}\n", files: map[string]string{"vs.json": `{"tables": [}`},
			want: `vs.json: invalid character`},
		{name: "vschema sharded", yaml: "vschema: {commerce: vs.json}\n", files: map[string]string{"vs.json": `{"sharded": true}`},
			want: `vs.json: sharded VSchemas are not supported`},
		{name: "vschema not a map", yaml: "vschema: vs.json\n", want: `config: vschema: want a map`},
		{name: "routing rules unreadable", yaml: "routing_rules: nope.json\n", want: `config: routing_rules: open `},
		{name: "routing rules bad json", yaml: "routing_rules: r.json\n", files: map[string]string{"r.json": `{"rules": {}}`},
			want: `config: routing_rules: parse `},
		{name: "routing rule to unknown keyspace", yaml: "routing_rules: r.json\n",
			files: map[string]string{"r.json": `{"rules": [{"from_table": "t", "to_tables": ["other.t"]}]}`},
			want:  `config: routing_rules: routing rule "t": unknown keyspace "other"`},

		{name: "tls cert without key", yaml: "tls: {cert: c.pem}\n", files: map[string]string{"c.pem": "x"},
			want: `config: tls.key: required when tls.cert is set`},
		{name: "tls key without cert", yaml: "tls: {key: k.pem}\n", files: map[string]string{"k.pem": "x"},
			want: `config: tls.cert: required when tls.key is set`},
		{name: "tls require without cert", yaml: "tls: {require: true, auto_generate: false}\n", want: `config: tls.require: needs tls.cert and tls.key, or tls.auto_generate`},
		{name: "tls cert unreadable", yaml: "tls: {cert: c.pem, key: k.pem}\n", files: map[string]string{"k.pem": "x"},
			want: `config: tls.cert: open `},
		{name: "backend tls ca without enabled", yaml: "backend_tls: {ca: ca.pem}\n", files: map[string]string{"ca.pem": "x"},
			want: `config: backend_tls.ca: set but backend_tls.enabled is false`},
		{name: "backend tls ca and skip verify", yaml: "backend_tls: {enabled: true, ca: ca.pem, skip_verify: true}\n",
			files: map[string]string{"ca.pem": "x"}, want: `config: backend_tls.skip_verify: cannot be combined with backend_tls.ca`},

		{name: "topo implementation", yaml: "topo: {implementation: zookeeper}\n", want: `config: topo.implementation: "zookeeper" (want file or etcd)`},
		{name: "topo etcd without address", yaml: "topo: {implementation: etcd}\n",
			want: `config: topo.address: required when topo.implementation is etcd`},
		{name: "topo address with file", yaml: "topo: {address: 'etcd:2379'}\n", want: `config: topo.address: set but topo.implementation is file`},
		{name: "topo address not host:port", yaml: "topo: {implementation: etcd, address: 'etcd:2379,etcd'}\n",
			want: `config: topo.address: "etcd" is not host:port`},
		{name: "topo address socket", yaml: "topo: {implementation: etcd, address: /run/etcd.sock}\n",
			want: `config: topo.address: "/run/etcd.sock" is not host:port`},
		{name: "topo address twice", yaml: "topo: {implementation: etcd, address: 'a:1,a:1'}\n", want: `config: topo.address: a:1 is listed twice`},
		{name: "topo root relative", yaml: "topo: {root: vtgate}\n", want: `config: topo.root: "vtgate" is not a key prefix`},
		{name: "topo root trailing slash", yaml: "topo: {root: /vtgate/}\n", want: `config: topo.root: "/vtgate/" is not a key prefix`},
		{name: "topo root slash", yaml: "topo: {root: /}\n", want: `config: topo.root: "/" is not a key prefix`},
		{name: "topo lease ttl fraction", yaml: "topo: {lease_ttl: 2500ms}\n", want: `config: topo.lease_ttl: 2.5s: want whole seconds, at least 2s`},
		{name: "topo lease ttl short", yaml: "topo: {lease_ttl: 1s}\n", want: `config: topo.lease_ttl: 1s: want whole seconds`},
		{name: "topo unknown key", yaml: "topo: {adress: 'a:1'}\n", want: `config: unknown key "topo.adress"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range tc.files {
				files[k] = v
			}
			y := tc.yaml
			if !tc.noBase {
				y = base + y
			}
			files["vtgate-lite.yaml"] = y
			dir := writeFiles(t, files)
			c, err := Load(filepath.Join(dir, "vtgate-lite.yaml"), nil)
			if err == nil {
				t.Fatalf("Load succeeded (%+v), want error containing %q", c, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

func TestProcs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("backend_io blocking takes effect on Linux only; elsewhere Procs keeps the default")
	}
	for _, tc := range []struct {
		io        string
		set, cpus int
		want      int
	}{
		{"blocking", 0, 2, 16}, // blocking reads: at least 16 scheduler processors
		{"blocking", 0, 32, 0}, // enough CPUs: the runtime's default
		{"poller", 0, 2, 0},    // the poller needs no more than the CPUs
		{"poller", 6, 2, 6},    // an explicit value always wins
		{"blocking", 3, 64, 3},
	} {
		c := &Config{BackendIO: tc.io, GoMaxProcs: tc.set}
		if got := c.Procs(tc.cpus); got != tc.want {
			t.Errorf("backend_io %s, gomaxprocs %d, %d CPUs: Procs = %d, want %d", tc.io, tc.set, tc.cpus, got, tc.want)
		}
	}
}

func TestLoadErrorsAreTypedAndAllReported(t *testing.T) {
	_, err := loadYAML(t, "listn: x\npool: {size: 0}\ntransaction_mode: foo\n", nil)
	if err == nil {
		t.Fatal("no error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%T is not an *Error", err)
	}
	var keys []string
	for _, err := range err.(interface{ Unwrap() []error }).Unwrap() {
		keys = append(keys, err.(*Error).Key)
	}
	want := []string{"listn", "pool.size", "transaction_mode", "users"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
}

func TestLoadBackendAccounts(t *testing.T) {
	c := mustLoad(t, `
users:
  - {name: app, password: secret}
  - {name: reporting, password: secret, backend_user: ro, backend_password: ropw}
  - {name: other, password: secret, backend_user: ro, backend_password: ropw, keyspaces: [customer]}
  - {name: nopw, backend_user: anon}
keyspaces:
  commerce: {primary: 'db1:3306', user: app, password: apppw, admin_user: engine, admin_password: enginepw}
  customer: {primary: 'db2:3306', user: app, password: other}
`, nil)
	want := []User{
		{Name: "app", Password: "secret"},
		{Name: "reporting", Password: "secret", BackendUser: "ro", BackendPassword: "ropw"},
		{Name: "other", Password: "secret", BackendUser: "ro", BackendPassword: "ropw", Keyspaces: []string{"customer"}},
		{Name: "nopw", BackendUser: "anon"},
	}
	if !reflect.DeepEqual(c.Users, want) {
		t.Errorf("users:\n%+v\nwant\n%+v", c.Users, want)
	}
	if u, p := c.Keyspaces["commerce"].Admin(); u != "engine" || p != "enginepw" {
		t.Errorf("commerce admin account = %s/%s, want engine/enginepw", u, p)
	}
	// Without admin_user the engine uses the application account, as before.
	if u, p := c.Keyspaces["customer"].Admin(); u != "app" || p != "other" {
		t.Errorf("customer admin account = %s/%s, want app/other", u, p)
	}
}

func TestLoadEmptySections(t *testing.T) {
	// "pool:" with nothing under it, as left by commenting out its settings.
	c := mustLoad(t, base+"pool:\ntls:\nvschema:\nrouting_rules:\n", nil)
	if c.Pool.Size != 32 || c.TLS != (TLS{AutoGenerate: true}) || len(c.VSchemas) != 0 || c.RoutingRulesFile != "" {
		t.Errorf("empty sections: %+v", c)
	}
}

func TestLoadWithoutFile(t *testing.T) {
	// No file: defaults, env and flags only; there is no way to give users, so it fails on that alone.
	_, err := Load("", nil)
	if err == nil || err.Error() != "config: users: at least one user is required" {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestEnvOverride(t *testing.T) {
	t.Setenv("VTGATE_LITE_LISTEN", "0.0.0.0:3306")
	t.Setenv("VTGATE_LITE_HTTP_LISTEN", "0.0.0.0:8080")
	t.Setenv("VTGATE_LITE_HTTP_DEBUG", "false")
	t.Setenv("VTGATE_LITE_POOL_SIZE", "64")
	t.Setenv("VTGATE_LITE_POOL_IDLE_TIMEOUT", "1m")
	t.Setenv("VTGATE_LITE_TRANSACTION_MODE", "multi")
	t.Setenv("VTGATE_LITE_MIGRATION_COPY_ROWS_PER_SECOND", "500")
	t.Setenv("VTGATE_LITE_BACKEND_TLS_ENABLED", "true")
	t.Setenv("VTGATE_LITE_BACKEND_TLS_SKIP_VERIFY", "true")
	t.Setenv("VTGATE_LITE_TOPO_IMPLEMENTATION", "etcd")
	t.Setenv("VTGATE_LITE_TOPO_ADDRESS", "10.0.0.1:2379,10.0.0.2:2379")
	t.Setenv("VTGATE_LITE_TOPO_ROOT", "/staging")
	c := mustLoad(t, base+"listen: 127.0.0.1:1\npool: {size: 2, wait_timeout: 3s}\n", nil)
	if c.Listen != "0.0.0.0:3306" || c.HTTPListen != "0.0.0.0:8080" || c.HTTPDebug {
		t.Errorf("Listen %q HTTPListen %q HTTPDebug %v", c.Listen, c.HTTPListen, c.HTTPDebug)
	}
	if want := (Pool{Size: 64, IdleTimeout: time.Minute, WaitTimeout: 3 * time.Second}); c.Pool != want {
		t.Errorf("Pool = %+v, want %+v (env over file, file kept where env is unset)", c.Pool, want)
	}
	if c.TransactionMode != "multi" || c.Migration.CopyRowsPerSecond != 500 || c.BackendTLS != (BackendTLS{Enabled: true, SkipVerify: true}) {
		t.Errorf("TransactionMode %q CopyRowsPerSecond %d BackendTLS %+v", c.TransactionMode, c.Migration.CopyRowsPerSecond, c.BackendTLS)
	}
	if want := (Topo{Implementation: "etcd", Address: []string{"10.0.0.1:2379", "10.0.0.2:2379"}, Root: "/staging", LeaseTTL: 10 * time.Second}); !reflect.DeepEqual(c.Topo, want) {
		t.Errorf("Topo = %+v, want %+v", c.Topo, want)
	}
}

func TestEnvInvalid(t *testing.T) {
	t.Setenv("VTGATE_LITE_POOL_SIZE", "lots")
	t.Setenv("VTGATE_LITE_HOLD_MAX_WAIT", "10")
	_, err := loadYAML(t, base, nil)
	for _, want := range []string{`config: pool.size: "lots" is not an integer`, `config: hold.max_wait: "10" is not a duration`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

func TestFlagOverride(t *testing.T) {
	fs := pflag.NewFlagSet("vtgate-lite", pflag.ContinueOnError)
	RegisterFlags(fs)
	err := fs.Parse([]string{"--listen=127.0.0.1:4000", "--pool-size=7", "--query-timeout=2s",
		"--log-level=warn", "--state-dir=/tmp/st", "--http-debug=false", "--hold-max-wait=1s",
		"--topo-implementation=etcd", "--topo-address=127.0.0.1:2379", "--topo-lease-ttl=3s"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VTGATE_LITE_LISTEN", "127.0.0.1:5000")   // the flag wins
	t.Setenv("VTGATE_LITE_LOG_FORMAT", "json")         // no flag: env wins over the file
	t.Setenv("VTGATE_LITE_HTTP_LISTEN", "127.0.0.1:1") // no flag
	c := mustLoad(t, base+"listen: 127.0.0.1:6000\nlog_format: text\nmax_connections: 9\ntopo: {root: /from-file, lease_ttl: 20s}\n", fs)
	if c.Listen != "127.0.0.1:4000" || c.Pool.Size != 7 || c.QueryTimeout != 2*time.Second || c.LogLevel != "warn" ||
		c.StateDir != "/tmp/st" || c.HTTPDebug || c.Hold.MaxWait != time.Second {
		t.Errorf("flags not applied: %+v", c)
	}
	if want := (Topo{Implementation: "etcd", Address: []string{"127.0.0.1:2379"}, Root: "/from-file", LeaseTTL: 3 * time.Second}); !reflect.DeepEqual(c.Topo, want) {
		t.Errorf("Topo = %+v, want %+v (flags over the file)", c.Topo, want)
	}
	if c.LogFormat != "json" || c.HTTPListen != "127.0.0.1:1" {
		t.Errorf("env under flags: LogFormat %q HTTPListen %q", c.LogFormat, c.HTTPListen)
	}
	// Flags left at their defaults do not override the file.
	if c.MaxConnections != 9 || c.Pool.IdleTimeout != 5*time.Minute {
		t.Errorf("unset flags overrode file/defaults: MaxConnections %d IdleTimeout %v", c.MaxConnections, c.Pool.IdleTimeout)
	}

	bad := pflag.NewFlagSet("vtgate-lite", pflag.ContinueOnError)
	RegisterFlags(bad)
	if err := bad.Parse([]string{"--transaction-mode=foo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadYAML(t, base, bad); err == nil || !strings.Contains(err.Error(), `config: transaction_mode: "foo"`) {
		t.Errorf("invalid flag value: err = %v", err)
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := pflag.NewFlagSet("vtgate-lite", pflag.ContinueOnError)
	RegisterFlags(fs)
	for _, name := range []string{"listen", "http-listen", "http-debug", "state-dir", "routing-rules", "pool-size",
		"pool-idle-timeout", "pool-wait-timeout", "query-timeout", "max-replica-lag", "transaction-mode",
		"max-connections", "max-rows-in-memory", "tls-cert", "tls-key", "tls-ca", "tls-require", "tls-auto-generate",
		"backend-tls-enabled", "backend-tls-ca", "backend-tls-skip-verify", "hold-max-statements", "hold-max-wait",
		"migration-copy-batch-rows", "migration-copy-rows-per-second", "migration-max-source-lag",
		"log-level", "log-format"} {
		if fs.Lookup(name) == nil {
			t.Errorf("no flag --%s", name)
		}
	}
	n := 0
	fs.VisitAll(func(*pflag.Flag) { n++ })
	if n != len(settings) {
		t.Errorf("%d flags for %d settings", n, len(settings))
	}
	// Flag defaults are the config defaults, so --help tells the truth.
	if f := fs.Lookup("pool-idle-timeout"); f.DefValue != "5m0s" {
		t.Errorf("--pool-idle-timeout default %q", f.DefValue)
	}
}

func TestPathsFromFlagsAreRelativeToWorkingDir(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"conf/c.yaml":       base,
		"conf/rules.json":   `{"rules": []}`,
		"cwd/rules.json":    `{"rules": [{"from_table": "t", "to_tables": ["commerce.t"]}]}`,
		"conf/vschema.json": vschemaJSON,
	})
	t.Chdir(filepath.Join(dir, "cwd"))
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--routing-rules=rules.json"}); err != nil {
		t.Fatal(err)
	}
	c, err := Load(filepath.Join(dir, "conf/c.yaml"), fs)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "cwd/rules.json"); c.RoutingRulesFile != want || c.RoutingRules["t"] != "commerce.t" {
		t.Errorf("RoutingRulesFile = %q (%v), want %q", c.RoutingRulesFile, c.RoutingRules, want)
	}
}

func TestSchemaIsACopy(t *testing.T) {
	c, err := Load("testdata/example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Schema()
	s.AddTable("commerce", "new_table")
	s.Rules["x"] = "commerce.x"
	if _, ok := c.VSchemas["commerce"].Tables["new_table"]; ok || len(c.RoutingRules) != 0 {
		t.Error("editing Schema() changed the Config")
	}
}

// A backend on the same host can be reached through its unix socket.
func TestLoadUnixSocketBackends(t *testing.T) {
	c := mustLoad(t, "users: [{name: a}]\nkeyspaces:\n  commerce:\n    primary: /run/mysqld/mysqld.sock\n    replicas: [{address: /run/mysqld/r1.sock, type: rdonly}]\n", nil)
	ks := c.Keyspaces["commerce"]
	if ks.Primary != "/run/mysqld/mysqld.sock" || len(ks.Replicas) != 1 || ks.Replicas[0].Address != "/run/mysqld/r1.sock" {
		t.Fatalf("keyspace: %+v", ks)
	}
}
