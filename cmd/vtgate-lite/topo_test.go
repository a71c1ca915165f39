package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/config"
	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
	"github.com/vtgate-lite/vtgate-lite/topo"
)

// etcdConfig writes the config of one instance on etcd (own ports and state_dir) and
// returns its path and MySQL address.
func etcdConfig(t *testing.T, dir, name, keyspaces, etcdAddr string) (path, listen string) {
	t.Helper()
	listen = freeAddr(t)
	body := fmt.Sprintf(configTmpl, listen, freeAddr(t), filepath.Join(dir, name+"-state"), keyspaces) +
		fmt.Sprintf("topo: {implementation: etcd, address: %q, root: /two, lease_ttl: 3s}\n", etcdAddr)
	path = filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, listen
}

func mysqlErr(t *testing.T, err error) *mysql.MySQLError {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("want a MySQL error, got %v", err)
	}
	return me
}

// Two instances on one etcd act as one: ALTER VSCHEMA through one is served by the other
// before the statement returns, SHOW VTGATES lists both, a lagging instance is named, and
// with etcd down queries go on, changes fail naming the server, an instance starts from the
// routing cached in state_dir (one without a cache refuses to), and all catch up afterwards.
func TestTwoInstancesOnEtcd(t *testing.T) {
	etcd := testcluster.StartEtcd(t)
	commerce := testcluster.Start(t, testcluster.Options{Databases: []string{"commerce"}})
	customer := testcluster.Start(t, testcluster.Options{Databases: []string{"customer"}})
	commerce.Primary.Exec(t, "CREATE TABLE commerce.product (sku VARCHAR(10) PRIMARY KEY)", "INSERT INTO commerce.product VALUES ('a')")
	customer.Primary.Exec(t, "CREATE TABLE customer.corder (id INT PRIMARY KEY)", "INSERT INTO customer.corder VALUES (1), (2)",
		"CREATE TABLE customer.late (id INT PRIMARY KEY)")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vschema_commerce.json"), []byte(`{"tables": {"product": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	keyspaces := keyspaceYAML("commerce", commerce.Primary) + keyspaceYAML("customer", customer.Primary)
	pathA, listenA := etcdConfig(t, dir, "a", keyspaces, etcd.Endpoint())
	pathB, listenB := etcdConfig(t, dir, "b", keyspaces, etcd.Endpoint())
	a := start(t, pathA)
	defer func() { a.stop(t) }()
	b := start(t, pathB)
	defer func() { b.stop(t) }()

	admA, _ := sql.Open("mysql", "admin:secret@tcp("+listenA+")/")
	defer admA.Close()
	admA.SetMaxOpenConns(1)
	appB, _ := sql.Open("mysql", "app:secret@tcp("+listenB+")/")
	defer appB.Close()
	admB, _ := sql.Open("mysql", "admin:secret@tcp("+listenB+")/")
	defer admB.Close()

	vtgates := func(db *sql.DB) [][]string {
		t.Helper()
		rows, err := db.Query("show vtgates")
		if err != nil {
			t.Fatalf("show vtgates: %v", err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if got := strings.Join(cols, ","); got != "id,mysql_addr,http_addr,revision_served,lease_age,workflows" {
			t.Fatalf("SHOW VTGATES columns %s", got)
		}
		var out [][]string
		for rows.Next() {
			r := make([]string, 6)
			if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(vtgates(admA)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("SHOW VTGATES on a: %v", vtgates(admA))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := appB.Exec("show vtgates"); mysqlErr(t, err).Number != 1227 {
		t.Fatalf("SHOW VTGATES by a non-admin: %v", err)
	}

	// Before: b cannot resolve an unqualified corder (no VSchema declares it).
	if _, err := appB.Query("select count(*) from corder"); mysqlErr(t, err).Number != 1046 {
		t.Fatalf("corder before ALTER VSCHEMA: %v", err)
	}
	if _, err := admA.Exec("alter vschema add table customer.corder"); err != nil {
		t.Fatal(err)
	}
	// Served by b as soon as the statement returned on a: no wait here.
	var n int
	if err := appB.QueryRow("select count(*) from corder").Scan(&n); err != nil || n != 2 {
		t.Fatalf("b right after ALTER VSCHEMA on a: %d %v", n, err)
	}
	rows := vtgates(admB)
	if len(rows) != 2 || rows[0][3] != rows[1][3] || rows[0][3] == "0" {
		t.Fatalf("SHOW VTGATES on b: %v (want both on one revision)", rows)
	}
	for _, r := range rows {
		if r[1] != listenA && r[1] != listenB {
			t.Fatalf("SHOW VTGATES row %v: unknown mysql_addr", r)
		}
		if age, err := strconv.Atoi(r[4]); err != nil || age < 0 || age > 60 {
			t.Fatalf("lease_age %q", r[4])
		}
	}
	t.Logf("SHOW VTGATES: %v", rows)

	// An instance that does not serve the new revision is named, after the bounded wait.
	ghostTopo, err := topo.OpenEtcd(topo.EtcdOptions{Endpoints: []string{etcd.Endpoint()}, Root: "/two", LeaseTTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ghostTopo.Close()
	ghost, _ := ghostTopo.Register(context.Background(), topo.Instance{ID: "ghost", MySQLAddr: "127.0.0.1:1"})
	for len(vtgates(admA)) != 3 {
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	_, err = admA.Exec("alter vschema add table customer.late")
	if me := mysqlErr(t, err); me.Number != 1105 || !strings.Contains(me.Message, "ghost (127.0.0.1:1, serving revision 0)") ||
		strings.Contains(me.Message, listenB) {
		t.Fatalf("ALTER VSCHEMA with a lagging instance: %v", err)
	}
	t.Logf("lagging instance named after %s: %v", time.Since(t0).Round(time.Millisecond), err)
	ghost.Close()
	if err := appB.QueryRow("select count(*) from late").Scan(&n); err != nil {
		t.Fatalf("b serves the change all the same: %v", err)
	}

	// etcd down: queries go on from the routing in memory, a change fails naming etcd.
	etcd.Stop()
	if err := appB.QueryRow("select count(*) from corder").Scan(&n); err != nil || n != 2 {
		t.Fatalf("query on b with etcd down: %v", err)
	}
	_, err = admA.Exec("alter vschema drop table customer.late")
	if me := mysqlErr(t, err); me.Number != 1105 || !strings.HasPrefix(me.Message, "topology server "+etcd.Endpoint()+" unavailable: ") {
		t.Fatalf("ALTER VSCHEMA with etcd down: %v", err)
	}
	// b restarts while etcd is down: it serves the routing cached in its state_dir.
	b.stop(t)
	b = start(t, pathB)
	if err := appB.QueryRow("select count(*) from corder").Scan(&n); err != nil || n != 2 {
		t.Fatalf("b started from its cache: %v", err)
	}
	// A new instance with nothing cached refuses to start, and says why.
	pathC, _ := etcdConfig(t, dir, "c", keyspaces, etcd.Endpoint())
	cfgC, err := config.Load(pathC, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = run(ctx, cfgC, pathC, nil)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "topology server "+etcd.Endpoint()+" unavailable") ||
		!strings.Contains(err.Error(), "no routing cached") {
		t.Fatalf("start without etcd and without a cache: %v", err)
	}

	// etcd back: a change through a reaches b (watch resumed by itself) before it returns.
	etcd.Restart(t)
	deadline = time.Now().Add(30 * time.Second)
	for {
		rows, err := admA.Query("show vtgates")
		n := 0
		for err == nil && rows.Next() {
			n++
		}
		if rows != nil {
			rows.Close()
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("both instances not registered again after etcd returned: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := admA.Exec("alter vschema drop table customer.late"); err != nil {
		t.Fatalf("ALTER VSCHEMA after etcd returned: %v", err)
	}
	if _, err := appB.Query("select count(*) from late"); mysqlErr(t, err).Number != 1046 {
		t.Fatalf("b still routes the dropped table: %v", err)
	}
	if rows := vtgates(admB); len(rows) != 2 || rows[0][3] != rows[1][3] {
		t.Fatalf("SHOW VTGATES after etcd returned: %v", rows)
	}
}
