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

// TestUnixSocketBackends runs the binary with every backend given as its unix socket path:
// pooled connections on the primary and on a replica, the replica health check, and the
// migration engine (copy from the replica, binlog stream from the primary, VDIFF, the write
// switch and the reverse stream) all reach the servers through their sockets. MariaDB shows a
// socket connection's host as "localhost" (a TCP one as 127.0.0.1:port), which is how the
// test knows which transport a statement used.
func TestUnixSocketBackends(t *testing.T) {
	commerce, customer, dir := startCommerceCustomer(t, testcluster.Options{})
	replica := commerce.Replicas[0]
	listen, httpAddr := freeAddr(t), freeAddr(t)
	ks := fmt.Sprintf("  commerce:\n    user: root\n    password: %s\n    primary: %s\n    replicas:\n      - {address: %s, type: replica}\n",
		testcluster.RootPassword, commerce.Primary.Socket(), replica.Socket()) +
		fmt.Sprintf("  customer:\n    user: root\n    password: %s\n    primary: %s\n", testcluster.RootPassword, customer.Primary.Socket())
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
		d.SetMaxOpenConns(1)
		return d
	}
	// The host the backend sees for the proxy's connection (USER() is evaluated by the backend;
	// the processlist through vtgate-lite lists vtgate-lite's own sessions).
	const myHost = "select substring_index(user(), '@', -1)"
	db := open("app", "commerce")
	if got := strs(t, db, "select sku from product order by sku"); strings.Join(got, ",") != "a,b" {
		t.Fatalf("product = %v", got)
	}
	if got := strs(t, db, myHost); got[0] != "localhost" {
		t.Fatalf("primary connection from %v, want localhost (the unix socket)", got)
	}
	rdb := open("app", "commerce@replica")
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var id, host string
		if err := rdb.QueryRow("select @@server_id, ("+myHost+")").Scan(&id, &host); err != nil {
			t.Fatalf("@replica read (health check over the socket must keep it in rotation): %v", err)
		}
		if want := replica.QueryString(t, "select @@server_id"); id != want || host != "localhost" {
			t.Fatalf("@replica read served by server %s from %s, want the replica %s over its socket", id, host, want)
		}
	}

	adm := open("admin", "")
	moveProduct(t, adm, db, commerce.Primary, customer.Primary)
	// The engine's binlog readers are socket connections too.
	if n := customer.Primary.QueryString(t, "select count(*) from information_schema.processlist where command like 'Binlog Dump%' and host = 'localhost'"); n != "1" {
		t.Errorf("binlog readers on customer over the socket: %s, want 1 (the reverse stream)", n)
	}
}

// startCommerceCustomer starts keyspace commerce (a primary and a replica, table product with
// two rows) and an empty keyspace customer, both with opts, and returns them with a temporary
// directory holding vschema_commerce.json.
func startCommerceCustomer(t *testing.T, opts testcluster.Options) (commerce, customer *testcluster.Cluster, dir string) {
	t.Helper()
	copts := opts
	copts.Replicas, copts.Databases = []string{"replica"}, []string{"commerce"}
	commerce = testcluster.Start(t, copts)
	topts := opts
	topts.Databases = []string{"customer"}
	customer = testcluster.Start(t, topts)
	commerce.Primary.Exec(t,
		"CREATE TABLE commerce.product (sku VARCHAR(10) PRIMARY KEY, n INT)",
		"INSERT INTO commerce.product VALUES ('a', 1), ('b', 2)")
	commerce.WaitReplicas(t, 10*time.Second)
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vschema_commerce.json"), []byte(`{"tables": {"product": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return commerce, customer, dir
}
