package main

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

const backendTLSConfigTmpl = `listen: %s
http_listen: %s
state_dir: %s
users:
  - {name: app, password: secret}
  - {name: admin, password: secret, admin: true}
keyspaces:
  commerce:
    user: root
    password: %s
    primary: %s
    replicas:
      - {address: %s, type: replica}
  customer:
    user: root
    password: %s
    primary: %s
vschema:
  commerce: vschema_commerce.json
%s`

// TestBackendTLS runs the binary (config file to run()) against MariaDB servers started with
// --require-secure-transport=ON, so every backend connection it opens must be TLS: pooled
// query connections on the primary and on a replica, the replica health check, the version
// probe at start, the collation lookup, and the migration engine's connections and binlog
// stream. A connection that skipped TLS fails loudly instead of passing unnoticed.
func TestBackendTLS(t *testing.T) {
	commerce, customer, dir := startCommerceCustomer(t, testcluster.Options{TLS: true, RequireSecureTransport: true})
	replica := commerce.Replicas[0]
	// Each cluster has its own CA: the proxy trusts a bundle of both.
	var bundle []byte
	for _, f := range []string{commerce.CA, customer.CA} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bundle = append(bundle, b...)
	}
	bundleFile := filepath.Join(dir, "backend-ca.pem")
	if err := os.WriteFile(bundleFile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}

	var launchWith func(t *testing.T, backendTLS, commercePrimary string) string
	// launch starts the binary with the given backend_tls block and returns its listen address.
	launch := func(t *testing.T, backendTLS string) string {
		t.Helper()
		return launchWith(t, backendTLS, commerce.Primary.Addr())
	}
	launchWith = func(t *testing.T, backendTLS, commercePrimary string) string {
		t.Helper()
		sub := t.TempDir()
		listen, httpAddr := freeAddr(t), freeAddr(t)
		body := fmt.Sprintf(backendTLSConfigTmpl, listen, httpAddr, filepath.Join(sub, "state"),
			testcluster.RootPassword, commercePrimary, replica.Addr(),
			testcluster.RootPassword, customer.Primary.Addr(), backendTLS)
		path := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".yaml")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		in := start(t, path)
		t.Cleanup(func() { in.stop(t) })
		return listen
	}
	open := func(t *testing.T, listen, user, db string, params ...string) *sql.DB {
		t.Helper()
		dsn := user + ":secret@tcp(" + listen + ")/" + db + "?timeout=5s&readTimeout=30s"
		for _, p := range params {
			dsn += "&" + p
		}
		d, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	// failFast runs q and returns its error, failing the test when it succeeds or takes long.
	failFast := func(t *testing.T, db *sql.DB, q string) *mysql.MySQLError {
		t.Helper()
		t0 := time.Now()
		_, err := db.Exec(q)
		if d := time.Since(t0); d > 10*time.Second {
			t.Errorf("%s took %s to fail", q, d)
		}
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			t.Fatalf("%s: %v, want a MySQL error", q, err)
		}
		t.Logf("%s: %v", q, err)
		return me
	}
	// alive checks the binary still serves: a new login, and an admin statement it answers itself.
	alive := func(t *testing.T, listen string) {
		t.Helper()
		if got := strs(t, open(t, listen, "admin", ""), "show keyspaces"); strings.Join(got, ",") != "commerce,customer" {
			t.Fatalf("SHOW KEYSPACES = %v", got)
		}
	}

	t.Run("disabled against a server requiring TLS", func(t *testing.T) {
		listen := launch(t, "")
		db := open(t, listen, "app", "commerce")
		for i := 0; i < 2; i++ { // twice: the first failure leaves nothing stuck behind
			me := failFast(t, db, "select sku from product")
			// MariaDB 10.11 refuses an insecure login with 1045 (MySQL and MariaDB 11: 3159);
			// the proxy keeps the backend's code and names the backend.
			if me.Number != 1045 && me.Number != 3159 {
				t.Errorf("error %d, want the backend's 1045 or 3159", me.Number)
			}
			if !strings.Contains(me.Message, commerce.Primary.Addr()) {
				t.Errorf("error %q does not name the backend %s", me.Message, commerce.Primary.Addr())
			}
		}
		alive(t, listen)
	})

	t.Run("wrong CA", func(t *testing.T) {
		wrong := testcluster.NewCA(t)
		listen := launch(t, "backend_tls: {enabled: true, ca: "+wrong.File+"}\n")
		db := open(t, listen, "app", "commerce")
		me := failFast(t, db, "select sku from product")
		if me.Number != 2026 || !strings.Contains(me.Message, "certificate") || !strings.Contains(me.Message, commerce.Primary.Addr()) {
			t.Errorf("error %d %q, want 2026 naming the backend and the certificate problem", me.Number, me.Message)
		}
		alive(t, listen)
	})

	t.Run("enabled against a server without TLS", func(t *testing.T) {
		plain := testcluster.Start(t, testcluster.Options{})
		listen := launchWith(t, "backend_tls: {enabled: true, ca: "+bundleFile+"}\n", plain.Primary.Addr())
		db := open(t, listen, "app", "commerce")
		me := failFast(t, db, "select 1 from dual")
		if me.Number != 2026 || !strings.Contains(me.Message, "does not support TLS") || !strings.Contains(me.Message, plain.Primary.Addr()) {
			t.Errorf("error %d %q, want 2026 naming the backend and saying it has no TLS", me.Number, me.Message)
		}
		alive(t, listen)
	})

	t.Run("skip_verify", func(t *testing.T) {
		listen := launch(t, "backend_tls: {enabled: true, skip_verify: true}\n")
		db := open(t, listen, "app", "commerce")
		if got := strs(t, db, "select sku from product order by sku"); strings.Join(got, ",") != "a,b" {
			t.Fatalf("product = %v", got)
		}
		if c := sslCipher(t, db); c == "" {
			t.Fatal("Ssl_cipher is empty: the backend connection is not TLS")
		}
	})

	t.Run("verified", func(t *testing.T) {
		listen := launch(t, "backend_tls: {enabled: true, ca: "+bundleFile+"}\n")
		// The version probe at start reached the primary (else the proxy advertises 8.0.30).
		if v := handshakeVersion(t, listen); !strings.Contains(v, "MariaDB") {
			t.Errorf("advertised version %q: the start-up version probe did not reach the primary", v)
		}

		db := open(t, listen, "app", "commerce")
		db.SetMaxOpenConns(1)
		if got := strs(t, db, "select sku from product order by sku"); strings.Join(got, ",") != "a,b" {
			t.Fatalf("product = %v", got)
		}
		if c := sslCipher(t, db); c == "" {
			t.Fatal("primary: Ssl_cipher is empty")
		}
		if got := strs(t, db, "select @@port"); got[0] != strconv.Itoa(commerce.Primary.Port) {
			t.Fatalf("@@port = %v, want the primary's %d", got, commerce.Primary.Port)
		}

		// A client collation other than the default makes the proxy look it up on a backend.
		coll := open(t, listen, "app", "commerce", "collation=utf8mb4_unicode_ci")
		if got := strs(t, coll, "select @@collation_connection"); got[0] != "utf8mb4_unicode_ci" {
			t.Fatalf("collation_connection = %v", got)
		}

		// Replica reads, over several health-check rounds (a failing check takes the replica
		// out of rotation within 0.5 s).
		rdb := open(t, listen, "app", "commerce@replica")
		rdb.SetMaxOpenConns(1)
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if got := strs(t, rdb, "select @@port"); got[0] != strconv.Itoa(replica.Port) {
				t.Fatalf("@replica @@port = %v, want the replica's %d", got, replica.Port)
			}
		}
		if c := sslCipher(t, rdb); c == "" {
			t.Fatal("replica: Ssl_cipher is empty")
		}

		moveProduct(t, open(t, listen, "admin", ""), db, commerce.Primary, customer.Primary)
	})
}

// moveProduct runs the migration engine over the backends the test configured: MIGRATE TABLES
// product (copy from the replica, binlog stream from the primary), a write through db that
// the stream carries, VDIFF, then MIGRATE WRITES (its own connections to both primaries) and a
// write that the reverse stream, reading the customer primary's binlog, brings back.
func moveProduct(t *testing.T, adm, db *sql.DB, commerce, customer *testcluster.Server) {
	t.Helper()
	if _, err := adm.Exec("migrate tables product from commerce to customer"); err != nil {
		t.Fatal(err)
	}
	waitMigration(t, adm, "customer.commerce2customer", func(m map[string]string) bool {
		return m["state"] == "Running" && m["rows_copied"] == "2"
	})
	if _, err := db.Exec("insert into product values ('c', 3)"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, adm, customer, "customer.product", "3")
	vdiff(t, adm, "customer.commerce2customer")
	if _, err := adm.Exec("migrate writes customer.commerce2customer timeout 30s max lag 30s"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("insert into product values ('d', 4)"); err != nil {
		t.Fatal(err)
	}
	waitCount(t, adm, customer, "customer.product", "4")
	waitCount(t, adm, commerce, "commerce.product", "4")
}

// waitCount waits until table on s has n rows (the migration streams moved them), showing
// the workflows' state when it does not happen.
func waitCount(t *testing.T, adm *sql.DB, s *testcluster.Server, table, n string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.QueryString(t, "SELECT COUNT(*) FROM "+table) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s does not have %s rows: a stream is not running; SHOW MIGRATIONS: %v", table, s.Name, n, rowsOf(t, adm, "show migrations"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sslCipher is the cipher of the proxy's connection to the backend the statement ran on:
// information_schema.SESSION_STATUS is routed (SHOW STATUS LIKE 'Ssl%' describes the client's
// own connection, answered by the proxy).
func sslCipher(t *testing.T, db *sql.DB) string {
	t.Helper()
	var value string
	if err := db.QueryRow("SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'").Scan(&value); err != nil {
		t.Fatalf("information_schema.SESSION_STATUS: %v", err)
	}
	return value
}

// handshakeVersion reads the server version the proxy advertises in its handshake packet.
func handshakeVersion(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil || n < 6 {
		t.Fatalf("read handshake: %d bytes, %v", n, err)
	}
	v := buf[5:n] // 3-byte length, sequence, protocol version
	if i := strings.IndexByte(string(v), 0); i >= 0 {
		v = v[:i]
	}
	return string(v)
}

// rowsOf returns the rows of q as column -> value maps.
func rowsOf(t *testing.T, db *sql.DB, q string) []map[string]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i].String
		}
		out = append(out, m)
	}
	return out
}

func waitMigration(t *testing.T, adm *sql.DB, ref string, cond func(map[string]string) bool) {
	t.Helper()
	var last map[string]string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, m := range rowsOf(t, adm, "show migrations") {
			if m["workflow"] == ref {
				if last = m; cond(m) {
					return
				}
			}
		}
	}
	t.Fatalf("workflow %s: condition not met; last: %v", ref, last)
}

// vdiff runs VDIFF and waits for a report with no differences.
func vdiff(t *testing.T, adm *sql.DB, ref string) {
	t.Helper()
	res := rowsOf(t, adm, "vdiff "+ref)
	if len(res) == 0 {
		t.Fatal("VDIFF returned no row")
	}
	id := res[0]["vdiff_id"]
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		rep := rowsOf(t, adm, "show vdiff "+ref+" "+id)
		done := len(rep) > 0
		for _, m := range rep {
			switch m["state"] {
			case "completed":
				if m["missing_on_target"] != "0" || m["extra_on_target"] != "0" || m["mismatched"] != "0" || m["rows_compared"] == "0" {
					t.Fatalf("VDIFF: %v", m)
				}
			case "error":
				t.Fatalf("VDIFF failed: %v", m)
			default:
				done = false
			}
		}
		if done {
			return
		}
	}
	t.Fatalf("VDIFF %s did not complete", id)
}
