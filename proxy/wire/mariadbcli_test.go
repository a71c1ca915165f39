package wire

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMariaDBClient logs in with the real `mariadb` command-line client (libmariadb, C),
// the client backend-facts.md says real users run: its greeting parser, TLS, plugins
// and result-set reader are independent of go-sql-driver's.
func TestMariaDBClient(t *testing.T) {
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mariadb client not installed")
		}
		t.Skip("mariadb client not installed")
	}
	serverTLS, _, _ := testTLS(t)
	plain := startServer(t, Config{})
	secure := startServer(t, Config{TLS: serverTLS})
	// libmariadb answers with the plugin the greeting names, whatever --default-auth says.
	plainSHA2 := startServer(t, Config{DefaultAuthPlugin: PluginCachingSHA2Password})
	secureSHA2 := startServer(t, Config{DefaultAuthPlugin: PluginCachingSHA2Password, TLS: serverTLS})

	run := func(t *testing.T, addr string, args ...string) (string, error) {
		t.Helper()
		host, port, _ := net.SplitHostPort(addr)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		base := []string{"--no-defaults", "--protocol=tcp", "-h", host, "-P", port, "-N", "-B", "--connect-timeout=10"}
		out, err := exec.CommandContext(ctx, bin, append(base, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	cases := []struct {
		name string
		ts   *testServer
		args []string
		want string // prefix of whoami's tab-separated row: user, plugin, tls
	}{
		{"native", plain, []string{"-ualice", "-psecret"}, "alice\tmysql_native_password\tfalse"},
		{"native hash-only user", plain, []string{"-ubob", "-phunter2"}, "bob\tmysql_native_password\tfalse"},
		{"native over TLS", secure, []string{"--ssl", "-ualice", "-psecret"}, "alice\tmysql_native_password\ttrue"},
		{"caching_sha2 fast auth", plainSHA2, []string{"-ualice", "-psecret"}, "alice\tcaching_sha2_password\tfalse"},
		{"caching_sha2 full auth over TLS", secureSHA2, []string{"--ssl", "-ubob", "-phunter2"}, "bob\tcaching_sha2_password\ttrue"},
		// Without --skip-ssl, libmariadb believes the connection secure when TLS was merely
		// requested and sends the password in clear over plain TCP; like MySQL, we refuse that.
		{"caching_sha2 full auth over RSA", plainSHA2, []string{"--skip-ssl", "-ubob", "-phunter2"}, "bob\tcaching_sha2_password\tfalse"},
		{"caching_sha2 no password", plainSHA2, []string{"-unopw"}, "nopw\tcaching_sha2_password\tfalse"},
		{"sha256_password is switched to native", plain, []string{"--default-auth=sha256_password", "-ubob", "-phunter2"}, "bob\tmysql_native_password\tfalse"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.ts.addr, append(tc.args, "-e", "whoami")...)
			if err != nil || !strings.HasPrefix(out, tc.want) {
				t.Fatalf("got %q (%v), want prefix %q", out, err, tc.want)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		out, err := run(t, plain.addr, "-ualice", "-pnope", "-e", "whoami")
		if err == nil || !strings.Contains(out, "ERROR 1045 (28000): Access denied for user 'alice'@'127.0.0.1' (using password: YES)") {
			t.Fatalf("got %q (%v)", out, err)
		}
	})
	t.Run("too many connections", func(t *testing.T) {
		full := startServer(t, Config{MaxConns: 1})
		dialRaw(t, full.addr).login("alice", "secret")
		out, err := run(t, full.addr, "-ualice", "-psecret", "-e", "whoami")
		if err == nil || !strings.Contains(out, "ERROR 1040 (08004): Too many connections") {
			t.Fatalf("got %q (%v)", out, err)
		}
	})
	t.Run("results and errors", func(t *testing.T) {
		out, err := run(t, plain.addr, "-ualice", "-psecret", "-e", "select 1; types; ok; whoami")
		if err != nil || !strings.HasPrefix(out, "1\nhello\t-42\t123456\t7\t-300\t18446744073709551615\t3.25\t1.5\tNULL\t2024-02-03 04:05:06.789") {
			t.Fatalf("got %q (%v)", out, err)
		}
		// libmariadb asks for MariaDB extended metadata when offered, and reads the proxy's
		// own column definitions (with their empty extended info) the same.
		ext := startServer(t, Config{MariaDBCapabilities: MariaDBCapExtendedMetadata})
		extOut, err := run(t, ext.addr, "-ualice", "-psecret", "-e", "select 1; types; ok")
		if want, _, _ := strings.Cut(out, "\nalice\t"); err != nil || extOut != want {
			t.Fatalf("with extended metadata: got %q (%v), want %q", extOut, err, want)
		}
		if caps, err := run(t, ext.addr, "-ualice", "-psecret", "-e", "mariadbcaps"); err != nil || caps != "8" {
			t.Fatalf("libmariadb negotiated MariaDB capabilities %q (%v), want 8 (extended metadata)", caps, err)
		}
		out, err = run(t, plain.addr, "-ualice", "-psecret", "-e", "error")
		if err == nil || !strings.Contains(out, "ERROR 1146 (42S02)") {
			t.Fatalf("got %q (%v)", out, err)
		}
	})
}
