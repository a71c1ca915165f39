package config

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cast"
)

const envPrefix = "VTGATE_LITE"

// setting is one scalar key: it has a default, a flag and an environment variable.
type setting struct {
	key   string // as in the YAML file, sections joined by "."
	def   any    // string, bool, int or time.Duration; also gives the type
	usage string
}

var settings = []setting{
	{"listen", "127.0.0.1:15306", "MySQL protocol listen address (host:port)"},
	{"http_listen", "127.0.0.1:15000", "HTTP listen address for status and debug pages (host:port)"},
	{"http_debug", true, "serve /debug/pprof on the HTTP address"},
	{"state_dir", "./vtdataroot/vtgate-lite", "directory for persisted state"},
	{"routing_rules", "", "Vitess routing rules JSON file"},
	{"pool.size", 32, "backend connections per server"},
	{"pool.idle_timeout", 5 * time.Minute, "close backend connections idle this long (0 = never)"},
	{"pool.wait_timeout", 10 * time.Second, "how long a statement waits for a free backend connection"},
	{"backend_io", "blocking", "how a session waits for its backend's answer: blocking (a thread sleeps in read(2); faster) or poller (Go's network poller)"},
	{"gomaxprocs", 0, "Go scheduler processors (0 = automatic: the number of CPUs, at least 16 with backend_io blocking on Linux; the GOMAXPROCS environment variable overrides)"},
	{"query_timeout", time.Duration(0), "per-statement timeout (0 = none)"},
	{"max_replica_lag", 30 * time.Second, "do not read from replicas lagging more than this"},
	{"transaction_mode", "single", "single, multi or twopc"},
	{"default_keyspace", "", "keyspace for sessions that select no database (empty: they have none, as on the server: statements that need no table run with no database selected)"},
	{"max_connections", 10000, "maximum client connections"},
	{"max_rows_in_memory", 100000, "maximum rows a join may hold in memory"},
	{"tls.cert", "", "client-facing TLS certificate file"},
	{"tls.key", "", "client-facing TLS key file"},
	{"tls.ca", "", "CA file to verify client certificates"},
	{"tls.require", false, "refuse clients that do not use TLS"},
	{"tls.auto_generate", true, "without tls.cert: generate a CA and server certificate in state_dir on first start (like MySQL's auto_generate_certs) and offer TLS"},
	{"backend_tls.enabled", false, "use TLS to the backend servers"},
	{"backend_tls.ca", "", "CA file to verify backend servers (default: system roots)"},
	{"backend_tls.skip_verify", false, "do not verify backend server certificates"},
	{"hold.max_statements", 10000, "statements held at most during a write switch"},
	{"hold.max_wait", 65 * time.Second, "how long a statement is held at most during a write switch (keep it above MIGRATE WRITES TIMEOUT, 30s by default, which bounds the drain and the catch-up together)"},
	{"migration.copy_batch_rows", 10000, "rows per copy batch"},
	{"migration.copy_rows_per_second", 0, "copy rate limit (0 = unlimited)"},
	{"migration.max_source_lag", 30 * time.Second, "pause copying while the source lags more than this"},
	{"topo.implementation", "file", "where the routing schema lives: file (state_dir; one instance) or etcd (shared by every instance on the same topo.root)"},
	{"topo.address", "", "etcd endpoints, host:port[,host:port...] (topo.implementation etcd)"},
	{"topo.root", "/vtgate-lite", "key prefix in etcd: several vtgate-lite clusters may share one etcd under different roots"},
	{"topo.lease_ttl", 10 * time.Second, "TTL of the instance's etcd lease (whole seconds, at least 2s): a dead instance leaves the registry this long after its last keepalive"},
	{"log_level", "info", "debug, info, warn or error"},
	{"log_format", "text", "text or json"},
}

var settingByKey = func() map[string]setting {
	m := map[string]setting{}
	for _, s := range settings {
		m[s.key] = s
	}
	return m
}()

type topKind int

const (
	scalar topKind = iota
	sectionMap
	structured // users, keyspaces, vschema: read by their own parsers
)

// topLevel lists the keys allowed at the top of the file.
var topLevel = func() map[string]topKind {
	m := map[string]topKind{"users": structured, "keyspaces": structured, "vschema": structured}
	for _, s := range settings {
		if sec, _, ok := strings.Cut(s.key, "."); ok {
			m[sec] = sectionMap
		} else {
			m[s.key] = scalar
		}
	}
	return m
}()

func flagName(key string) string { return strings.NewReplacer(".", "-", "_", "-").Replace(key) }

func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func (l *loader) str(key string) string {
	x := l.v.Get(key)
	if x == nil {
		return ""
	}
	switch x.(type) {
	case map[string]any, []any:
		l.fail(key, "want a string, got %s", describe(x))
		return ""
	}
	s, err := cast.ToStringE(x)
	if err != nil {
		l.fail(key, "want a string, got %s", describe(x))
	}
	return strings.TrimSpace(s)
}

func (l *loader) bool(key string) bool {
	x := l.v.Get(key)
	if s, ok := x.(string); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			l.fail(key, "%q is not a boolean (want true or false)", s)
		}
		return b
	}
	b, ok := x.(bool)
	if !ok && x != nil {
		l.fail(key, "%s is not a boolean (want true or false)", describe(x))
	}
	return b
}

func (l *loader) intAtLeast(key string, min int) int {
	x := l.v.Get(key)
	var n int
	switch t := x.(type) {
	case int:
		n = t
	case int64:
		n = int(t)
	case uint64:
		n = int(t)
	case string:
		v, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil {
			l.fail(key, "%q is not an integer", t)
			return 0
		}
		n = v
	default:
		l.fail(key, "%s is not an integer", describe(x))
		return 0
	}
	switch {
	case n < min && min == 1:
		l.fail(key, "must be > 0")
	case n < min:
		l.fail(key, "must be >= %d", min)
	}
	return n
}

// durationAtLeast reads a Go duration ("30s"); a bare 0 is accepted, other bare numbers
// are refused because their unit would be a guess.
func (l *loader) durationAtLeast(key string, min time.Duration) time.Duration {
	x := l.v.Get(key)
	var d time.Duration
	switch t := x.(type) {
	case time.Duration:
		d = t
	case string:
		s := strings.TrimSpace(t)
		if s == "0" {
			break
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			l.fail(key, "%q is not a duration (want Go syntax like \"30s\")", t)
			return 0
		}
		d = v
	case int, int64, uint64, float64:
		if cast.ToFloat64(t) != 0 {
			l.fail(key, "%v is not a duration (want Go syntax like \"30s\")", t)
			return 0
		}
	default:
		l.fail(key, "%s is not a duration (want Go syntax like \"30s\")", describe(x))
		return 0
	}
	if d < min {
		if min == 0 {
			l.fail(key, "must not be negative")
		} else {
			l.fail(key, "must be > 0")
		}
	}
	return d
}

// oneOf reads a string that must be one of allowed (any case; returned in lower case).
func (l *loader) oneOf(key string, allowed ...string) string {
	raw := l.str(key)
	s := strings.ToLower(raw)
	if !slices.Contains(allowed, s) {
		l.fail(key, "%q (want %s)", raw, orList(allowed))
	}
	return s
}

// address checks a listen address: host:port, host may be empty, port 0 picks a free one.
func (l *loader) address(key, s string) string {
	if err := checkHostPort(s, true); err != nil {
		l.fail(key, "%v", err)
	}
	return s
}

// checkHostPort validates host:port; backends need a host and a non-zero port, or are the
// absolute path of a unix socket (a server on the same host: cheaper than TCP over loopback).
func checkHostPort(s string, listen bool) error {
	if !listen && filepath.IsAbs(s) {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if !listen {
			return fmt.Errorf("%q is neither host:port nor the absolute path of a unix socket", s)
		}
		return fmt.Errorf("%q is not host:port", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (!listen && p == 0) {
		return fmt.Errorf("%q is not host:port (bad port %q)", s, port)
	}
	if !listen && host == "" {
		return fmt.Errorf("%q is not host:port (missing host)", s)
	}
	return nil
}

func orList(xs []string) string {
	if len(xs) == 1 {
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// asMap accepts both map shapes YAML decoding produces.
func asMap(x any) (map[string]any, bool) {
	switch m := x.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// describe names a YAML value's kind for error messages.
func describe(x any) string {
	switch t := x.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("string %q", t)
	case map[string]any, map[any]any:
		return "a map"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T %v", x, x)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
