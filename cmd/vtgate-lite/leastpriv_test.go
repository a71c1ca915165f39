package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// grantsFile holds the backend accounts' grants: the example scripts apply the same file,
// and docs/security.md quotes it (examples/compose_test.go keeps the quote in step).
const grantsFile = "../../examples/common/grants.sql"

// applyGrants creates the application and engine accounts of examples/common/grants.sql for
// database db on every server of c, as the example scripts do: as root, out of the binlog.
func applyGrants(t *testing.T, c *testcluster.Cluster, db string) {
	t.Helper()
	b, err := os.ReadFile(grantsFile)
	if err != nil {
		t.Fatal(err)
	}
	sqlText := strings.NewReplacer("{{database}}", db, "{{app_user}}", "vtgate_app", "{{app_password}}", "apppw",
		"{{engine_user}}", "vtgate_engine", "{{engine_password}}", "enginepw").Replace(string(b))
	if strings.Contains(sqlText, "{{") {
		t.Fatalf("%s has a placeholder applyGrants does not know", grantsFile)
	}
	for _, s := range c.Servers() {
		s.Exec(t, "SET sql_log_bin = 0; "+sqlText)
	}
}

// TestLeastPrivilegeAccounts runs a whole table migration (MIGRATE TABLES, READS, WRITES,
// COMPLETE: copy from a replica, binlog streams, VDIFF, deny triggers, the reverse stream, the
// source tables dropped) with the engine on the engine account of examples/common/grants.sql
// and the application's statements on its query account, and nothing as root: so the grants
// the example and docs/security.md give are proven enough. The application account is also
// shown to lack what it must not have.
func TestLeastPrivilegeAccounts(t *testing.T) {
	commerce, customer, dir := startCommerceCustomer(t, testcluster.Options{})
	// Two tables: their snapshots open under FLUSH TABLES ... WITH READ LOCK; corder's
	// secondary key is deferred (ALTER TABLE ... ADD KEY after the copy).
	commerce.Primary.Exec(t, "CREATE TABLE commerce.corder (id INT PRIMARY KEY, sku VARCHAR(10), KEY (sku))",
		"INSERT INTO commerce.corder VALUES (1, 'a'), (2, 'b')")
	if err := os.WriteFile(filepath.Join(dir, "vschema_commerce.json"), []byte(`{"tables": {"product": {}, "corder": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	commerce.WaitReplicas(t, 10*time.Second)
	applyGrants(t, commerce, "commerce")
	applyGrants(t, customer, "customer")
	replica := commerce.Replicas[0]
	listen, httpAddr := freeAddr(t), freeAddr(t)
	account := "    user: vtgate_app\n    password: apppw\n    admin_user: vtgate_engine\n    admin_password: enginepw\n"
	ks := "  commerce:\n" + account + fmt.Sprintf("    primary: %s\n    replicas:\n      - {address: %s, type: replica}\n", commerce.Primary.Addr(), replica.Addr()) +
		"  customer:\n" + account + fmt.Sprintf("    primary: %s\n", customer.Primary.Addr())
	path := filepath.Join(dir, "vtgate-lite.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(configTmpl, listen, httpAddr, filepath.Join(dir, "state"), ks)), 0o644); err != nil {
		t.Fatal(err)
	}
	in := start(t, path)
	defer in.stop(t)
	open := func(user, db string) *sql.DB {
		d, err := sql.Open("mysql", user+":secret@tcp("+listen+")/"+db+"?timeout=5s&readTimeout=30s")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	db, adm := open("app", "commerce"), open("admin", "")
	if got := strs(t, db, "select current_user()"); got[0] != "vtgate_app@%" {
		t.Fatalf("the application runs as %v, want vtgate_app@%%", got)
	}
	// Replica reads need the replica health check, which runs as the engine account.
	rdb := open("app", "commerce@replica")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var id string
		err := rdb.QueryRow("select @@server_id from product limit 1").Scan(&id)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("@replica read (the health check as the engine account must keep the replica in rotation): %v", err)
		}
	}
	// What the query account must not be able to do, asked straight from the backend.
	for _, q := range []string{"SET SESSION sql_log_bin = 0", "SET GLOBAL max_connections = 499", "SELECT COUNT(*) FROM mysql.user",
		"CREATE TABLE commerce.t2 (id INT PRIMARY KEY)", "CREATE TRIGGER commerce.tr BEFORE INSERT ON commerce.product FOR EACH ROW SET @x = 1"} {
		if err := appDirect(t, commerce.Primary, q); err == nil {
			t.Errorf("the query account could run %q", q)
		}
	}

	if _, err := adm.Exec("migrate tables product, corder from commerce to customer defer secondary keys"); err != nil {
		t.Fatal(err)
	}
	waitMigration(t, adm, "customer.commerce2customer", func(m map[string]string) bool {
		return m["state"] == "Running" && m["rows_copied"] == "4"
	})
	if got := customer.Primary.QueryString(t, "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = 'customer' AND table_name = 'corder' AND index_name = 'sku'"); got != "1" {
		t.Errorf("corder's deferred secondary key on customer: %s, want it added after the copy", got)
	}
	// Inserts, updates and deletes, so the stream applies each kind as the engine account.
	appExec(t, db, "insert into product values ('c', 3), ('e', 5)", "update product set n = 30 where sku = 'c'", "delete from product where sku = 'e'")
	waitCount(t, adm, customer.Primary, "customer.product", "3")
	vdiff(t, adm, "customer.commerce2customer")
	for _, q := range []string{"migrate reads customer.commerce2customer tablet_type replica",
		"migrate writes customer.commerce2customer timeout 30s max lag 30s"} {
		if _, err := adm.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	appExec(t, db, "insert into product values ('d', 4), ('f', 6)", "update product set n = 40 where sku = 'd'", "delete from product where sku = 'f'")
	waitCount(t, adm, customer.Primary, "customer.product", "4")
	waitCount(t, adm, commerce.Primary, "commerce.product", "4") // the reverse stream
	for deadline := time.Now().Add(10 * time.Second); commerce.Primary.QueryString(t, "SELECT n FROM commerce.product WHERE sku = 'd'") != "40"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reverse stream did not apply the update")
		}
	}
	// The deny triggers the engine created fence the old side against the query account too.
	if err := appDirect(t, commerce.Primary, "INSERT INTO commerce.product VALUES ('x', 9)"); err == nil || !strings.Contains(err.Error(), "1036") {
		t.Errorf("a write on the old side straight to the backend: %v, want the deny trigger's 1036", err)
	}
	if _, err := adm.Exec("migrate complete customer.commerce2customer"); err != nil {
		t.Fatalf("migrate complete: %v", err)
	}
	if got := commerce.Primary.QueryString(t, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'commerce' AND table_name IN ('product', 'corder')"); got != "0" {
		t.Errorf("%s moved tables still on commerce after MIGRATE COMPLETE", got)
	}
	if got := strs(t, db, "select count(*) from product"); got[0] != "4" {
		t.Errorf("product after COMPLETE = %v, want 4 rows (from customer)", got)
	}
	// Nothing ran as root: every backend login of the proxy and the engine used the two accounts
	// (root's Binlog Dump is the test cluster's own replica).
	for _, s := range []*testcluster.Server{commerce.Primary, replica, customer.Primary} {
		if got := s.QueryString(t, "SELECT COUNT(*) FROM information_schema.processlist WHERE user NOT IN ('vtgate_app', 'vtgate_engine', 'system user', 'event_scheduler') AND id <> connection_id() AND NOT (user = 'root' AND command LIKE 'Binlog Dump%')"); got != "0" {
			t.Errorf("%s: %s connections of other accounts: %v", s.Name, got, s.QueryString(t, "SELECT GROUP_CONCAT(user, '/', command) FROM information_schema.processlist WHERE id <> connection_id()"))
		}
	}
}

func appExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// appDirect runs q as the query account straight on s (bypassing vtgate-lite).
func appDirect(t *testing.T, s *testcluster.Server, q string) error {
	t.Helper()
	d, err := sql.Open("mysql", "vtgate_app:apppw@tcp("+s.Addr()+")/?timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.Exec(q)
	return err
}
