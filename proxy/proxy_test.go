package proxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// env is a proxy in front of two keyspaces on real MariaDB servers: commerce (primary +
// replica + rdonly) and customer (primary only, backend database "customer_db").
type env struct {
	commerce, customer *testcluster.Cluster
	holder             *router.Holder
	proxy              *Proxy
	addr               string
}

func startEnv(t *testing.T, opts ...func(*Config)) *env {
	t.Helper()
	e := &env{}
	e.commerce = testcluster.Start(t, testcluster.Options{Replicas: []string{"replica", "rdonly"}, Databases: []string{"commerce"}})
	e.customer = testcluster.Start(t, testcluster.Options{Databases: []string{"customer_db"}})
	e.commerce.Primary.Exec(t,
		"CREATE TABLE commerce.product (sku VARBINARY(128) PRIMARY KEY, description VARBINARY(128), price BIGINT)",
		"INSERT INTO commerce.product VALUES ('SKU-1001','Monitor',100),('SKU-1002','Keyboard',30)")
	e.customer.Primary.Exec(t,
		"CREATE TABLE customer_db.customer (customer_id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARBINARY(128))",
		"CREATE TABLE customer_db.corder (order_id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT, sku VARBINARY(128), price BIGINT)")
	e.commerce.WaitReplicas(t, 10*time.Second)
	ks := map[string]*router.Keyspace{
		"commerce": e.commerce.Keyspace("commerce", "commerce"),
		"customer": e.customer.Keyspace("customer", "customer_db"),
	}
	s := &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}
	s.AddTable("commerce", "product")
	s.AddTable("customer", "customer")
	s.AddTable("customer", "corder")
	var err error
	if e.holder, err = router.NewHolder(ks, s, nil); err != nil {
		t.Fatal(err)
	}
	users := map[string]*wire.User{
		"app":   {Name: "app", Password: "secret"},
		"admin": {Name: "admin", Password: "secret", Admin: true},
		"ro":    {Name: "ro", Password: "secret", Keyspaces: []string{"commerce"}},
	}
	cfg := Config{
		Routing:       e.holder,
		Users:         func(n string) (*wire.User, bool) { u, ok := users[n]; return u, ok },
		ServerVersion: "10.11.0-MariaDB-vtgate-lite",
		PoolSize:      8,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.proxy, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.proxy.Serve(ctx, l); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("proxy did not stop")
		}
		e.proxy.Close()
	})
	return e
}

func (e *env) open(t *testing.T, user, db string, params ...string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("%s:secret@tcp(%s)/%s?timeout=5s", user, e.addr, db)
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

func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func queryStrings(t *testing.T, q interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string, args ...any) [][]string {
	t.Helper()
	rows, err := q.Query(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	_, _, out := scanRows(t, rows, query)
	return out
}

func TestProxyEndToEnd(t *testing.T) {
	e := startEnv(t)

	t.Run("routing and rewriting", func(t *testing.T) {
		db := e.open(t, "app", "")
		db.SetMaxOpenConns(1)
		if got := queryStrings(t, db, "select sku, price from product order by sku"); len(got) != 2 || got[0][0] != "SKU-1001" {
			t.Fatalf("product = %v", got)
		}
		if _, err := db.Exec("insert into customer.customer(email) values ('alice@domain.com'), ('bob@domain.com')"); err != nil {
			t.Fatal(err)
		}
		if got := queryStrings(t, db, "select c.email from customer.customer c order by c.customer_id"); len(got) != 2 || got[1][0] != "bob@domain.com" {
			t.Fatalf("customer = %v", got)
		}
		if got := queryStrings(t, db, "show databases"); fmt.Sprint(got) != "[[commerce] [customer]]" {
			t.Fatalf("show databases = %v", got)
		}
		if got := queryStrings(t, db, "select database()"); got[0][0] != "NULL" {
			t.Fatalf("database() without USE = %v", got)
		}
		if _, err := db.Exec("use customer"); err != nil {
			t.Fatal(err)
		}
		if got := queryStrings(t, db, "select database()"); got[0][0] != "customer" {
			t.Fatalf("database() = %v", got)
		}
		if got := queryStrings(t, db, "select count(*) from customer"); got[0][0] != "2" {
			t.Fatalf("unqualified after USE = %v", got)
		}
		// Inside a longer statement too: the keyspace (its backend database is customer_db),
		// under the client's column name.
		rows, err := db.Query("select database(), count(*) from customer")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		rows.Close()
		if got := queryStrings(t, db, "select database(), count(*) from customer"); got[0][0] != "customer" || got[0][1] != "2" || cols[0] != "database()" {
			t.Fatalf("select database(), count(*) = %v, columns %v", got, cols)
		}
		if _, err := db.Exec("use commerce"); err != nil {
			t.Fatal(err)
		}
		if got := queryStrings(t, db, "select schema(), count(*) from customer.customer"); got[0][0] != "commerce" {
			t.Fatalf("schema() of a commerce session reading customer = %v", got)
		}
	})

	t.Run("inlined literals: one plan per statement shape", func(t *testing.T) {
		db := e.open(t, "app", "commerce")
		db.SetMaxOpenConns(1)
		hits0, miss0 := testutil.ToFloat64(e.proxy.cacheDigestHit), testutil.ToFloat64(e.proxy.cacheMiss)
		// Each statement runs with its own literals (the plan is shared, the text is not).
		for _, c := range [][2]string{{"SKU-1001", "Monitor"}, {"SKU-1002", "Keyboard"}, {"SKU-1001", "Monitor"}, {"nope", ""}} {
			got := queryStrings(t, db, "select description from product where sku = '"+c[0]+"' and price > 1")
			if (c[1] == "" && len(got) != 0) || (c[1] != "" && (len(got) != 1 || got[0][0] != c[1])) {
				t.Fatalf("sku %s: %v, want %q", c[0], got, c[1])
			}
		}
		if hits, miss := testutil.ToFloat64(e.proxy.cacheDigestHit)-hits0, testutil.ToFloat64(e.proxy.cacheMiss)-miss0; hits != 3 || miss != 1 {
			t.Errorf("plan lookups for 4 executions of one shape: %v digest hits, %v misses; want 3 and 1", hits, miss)
		}
	})

	t.Run("errors keep their MySQL codes", func(t *testing.T) {
		db := e.open(t, "app", "")
		cases := []struct {
			q    string
			code uint16
		}{
			{"select * from commerce.nope", 1146}, // from the backend, relayed
			{"select * from nope.t", 1049},        // proxy: unknown keyspace
			{"select * from unknown_table", 1046}, // no keyspace selected
			{"selec 1", 1064},                     // syntax
			{"update corder join product on corder.sku = product.sku set corder.price = 1", 1235}, // cross-keyspace UPDATE
			{"alter vschema add table commerce.x", 1227},                                          // admin only
			{"insert into commerce.product values ('x', 'y', 'not a number')", 1366},              // backend error code preserved
		}
		for _, c := range cases {
			_, err := db.Exec(c.q)
			if got := mysqlCode(err); got != c.code {
				t.Errorf("%s: error %v (code %d), want %d", c.q, err, got, c.code)
			}
		}
		bad, _ := sql.Open("mysql", fmt.Sprintf("app:wrong@tcp(%s)/", e.addr))
		defer bad.Close()
		if err := bad.Ping(); mysqlCode(err) != 1045 {
			t.Errorf("wrong password: %v", err)
		}
		unknown, _ := sql.Open("mysql", fmt.Sprintf("app:secret@tcp(%s)/nope", e.addr))
		defer unknown.Close()
		if err := unknown.Ping(); mysqlCode(err) != 1049 {
			t.Errorf("unknown database at connect: %v", err)
		}
		ro := e.open(t, "ro", "")
		if _, err := ro.Exec("select * from customer.customer"); mysqlCode(err) != 1044 {
			t.Errorf("per-user keyspace access: %v", err)
		}
		if got := queryStrings(t, ro, "show databases"); fmt.Sprint(got) != "[[commerce]]" {
			t.Errorf("ro sees %v", got)
		}
	})

	t.Run("prepared statements and transactions", func(t *testing.T) {
		db := e.open(t, "app", "customer")
		stmt, err := db.Prepare("select email from customer where customer_id = ?")
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		for i := 0; i < 20; i++ { // many executions over pooled connections
			var email string
			id := 1 + i%2
			if err := stmt.QueryRow(id).Scan(&email); err != nil {
				t.Fatal(err)
			}
			want := map[int]string{1: "alice@domain.com", 2: "bob@domain.com"}[id]
			if email != want {
				t.Fatalf("id %d: %q, want %q", id, email, want)
			}
		}
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("insert into corder(customer_id, sku, price) values (?, ?, ?)", 1, "SKU-1001", 100); err != nil {
			t.Fatal(err)
		}
		if got := queryStrings(t, tx, "select count(*) from corder"); got[0][0] != "1" {
			t.Fatalf("inside tx: %v", got)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := queryStrings(t, db, "select count(*) from corder"); got[0][0] != "0" {
			t.Fatalf("after rollback: %v", got)
		}
		tx, _ = db.Begin()
		if _, err := tx.Exec("insert into corder(customer_id, sku, price) values (1, 'SKU-1001', 100)"); err != nil {
			t.Fatal(err)
		}
		// transaction_mode=single: a write in a second keyspace is refused.
		if _, err := tx.Exec("update commerce.product set price = price where sku = 'SKU-1001'"); mysqlCode(err) != 1568 {
			t.Fatalf("second keyspace write in tx: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := queryStrings(t, db, "select count(*) from corder"); got[0][0] != "1" {
			t.Fatalf("after commit: %v", got)
		}
		// Read commerce first, write customer, then try to write commerce: still refused.
		tx, _ = db.Begin()
		queryStrings(t, tx, "select count(*) from commerce.product")
		if _, err := tx.Exec("insert into corder(customer_id, sku, price) values (2, 'SKU-1002', 30)"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("update commerce.product set price = price where sku = 'SKU-1001'"); mysqlCode(err) != 1568 {
			t.Fatalf("write in a keyspace first only read: %v", err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		// A transaction that starts with a read: its BEGIN rides in front of the read
		// (backendConn.pending) and must still open the transaction before it: the
		// first read sees in_transaction = 1 and fixes the snapshot, so a row committed
		// meanwhile by another session stays invisible until the end.
		for _, prepared := range []bool{false, true} {
			tx, _ = db.Begin()
			q := "select @@in_transaction, count(*) from corder"
			var got [][]string
			if prepared {
				st, err := tx.Prepare(q)
				if err != nil {
					t.Fatal(err)
				}
				var inTx, n string
				if err := st.QueryRow().Scan(&inTx, &n); err != nil {
					t.Fatal(err)
				}
				got = [][]string{{inTx, n}}
			} else {
				got = queryStrings(t, tx, q)
			}
			if got[0][0] != "1" {
				t.Fatalf("prepared %v: first read of a transaction ran outside it: @@in_transaction = %s", prepared, got[0][0])
			}
			if _, err := db.Exec("insert into corder(customer_id, sku, price) values (2, 'SKU-1002', 30)"); err != nil {
				t.Fatal(err)
			}
			if again := queryStrings(t, tx, "select count(*) from corder"); again[0][0] != got[0][1] {
				t.Fatalf("prepared %v: the transaction's snapshot moved: %s rows, then %s", prepared, got[0][1], again[0][0])
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec("delete from corder where sku = 'SKU-1002'"); err != nil {
			t.Fatal(err)
		}
		// sysbench and some drivers prepare BEGIN/COMMIT: the proxy answers them itself.
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := context.Background()
		begin, err := conn.PrepareContext(ctx, "BEGIN")
		if err != nil {
			t.Fatal(err)
		}
		rollback, err := conn.PrepareContext(ctx, "ROLLBACK")
		if err != nil {
			t.Fatal(err)
		}
		ins, err := conn.PrepareContext(ctx, "insert into corder(customer_id, sku, price) values (?, 'ps-tx', 1)")
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range []*sql.Stmt{begin, ins, rollback} {
			if _, err := st.Exec(argsFor(st == ins)...); err != nil {
				t.Fatal(err)
			}
		}
		if got := queryStrings(t, db, "select count(*) from corder where sku = 'ps-tx'"); got[0][0] != "0" {
			t.Fatalf("prepared ROLLBACK did not roll back: %v", got)
		}
	})

	t.Run("multi statements and settings", func(t *testing.T) {
		db := e.open(t, "app", "commerce", "multiStatements=true")
		db.SetMaxOpenConns(1)
		rows, err := db.Query("select 1; select sku from product order by sku limit 1; select 'x'")
		if err != nil {
			t.Fatal(err)
		}
		var sets int
		for {
			for rows.Next() {
			}
			sets++
			if !rows.NextResultSet() {
				break
			}
		}
		rows.Close()
		if sets != 3 {
			t.Fatalf("got %d result sets, want 3", sets)
		}
		if _, err := db.Exec("set sql_mode = 'ANSI_QUOTES'"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if got := queryStrings(t, db, "select @@sql_mode"); got[0][0] != "ANSI_QUOTES" {
				t.Fatalf("setting not replayed: %v", got)
			}
		}
		if _, err := db.Exec("set no_such_variable = 1"); mysqlCode(err) != 1193 {
			t.Fatalf("unknown variable: %v", err)
		}
	})

	t.Run("replica routing and vexplain", func(t *testing.T) {
		db := e.open(t, "app", "commerce@replica")
		db.SetMaxOpenConns(1)
		got := queryStrings(t, db, "vexplain queries select * from product")
		if len(got) != 1 || got[0][3] != e.commerce.Replicas[0].Addr() || got[0][2] != "replica" {
			t.Fatalf("vexplain queries at replica = %v (replica is %s)", got, e.commerce.Replicas[0].Addr())
		}
		if _, err := db.Exec("insert into product values ('SKU-9', 'x', 1)"); mysqlCode(err) != 1290 {
			t.Fatalf("write at replica: %v", err)
		}
		if _, err := db.Exec("use commerce@rdonly"); err != nil {
			t.Fatal(err)
		}
		got = queryStrings(t, db, "vexplain queries select * from product")
		if got[0][3] != e.commerce.Replicas[1].Addr() {
			t.Fatalf("rdonly went to %v", got)
		}
		plan := queryStrings(t, db, "vexplain plan select * from product")
		if plan[0][1] != "commerce" || plan[0][2] != "rdonly" {
			t.Fatalf("vexplain plan = %v", plan)
		}
	})

	t.Run("idle clients do not open backend connections", func(t *testing.T) {
		var conns []net.Conn
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 200; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := e.open(t, "app", "commerce")
				db.SetMaxIdleConns(1)
				if err := db.Ping(); err != nil {
					t.Error(err)
				}
				if _, err := db.Exec("select 1"); err != nil {
					t.Error(err)
				}
				mu.Lock()
				conns = append(conns, nil)
				mu.Unlock()
			}()
		}
		wg.Wait()
		for _, pl := range e.proxy.allPools() {
			if open, _, _ := pl.stats(); open > 8 {
				t.Errorf("pool %s has %d connections, size 8", pl.addr, open)
			}
		}
		if n := e.proxy.server.ConnCount(); n < 200 {
			t.Errorf("only %d client connections open", n)
		}
		_ = strings.TrimSpace
	})
}

func argsFor(withParam bool) []any {
	if withParam {
		return []any{7}
	}
	return nil
}

func TestRemovedKeyspaceClosesItsPools(t *testing.T) {
	e := startEnv(t)
	db := e.open(t, "app", "")
	if _, err := db.Exec("select * from customer.customer"); err != nil {
		t.Fatal(err)
	}
	ks := e.holder.Load().Keyspaces()
	only := map[string]*router.Keyspace{"commerce": ks["commerce"]}
	if _, err := e.holder.SetKeyspaces(only); err != nil {
		t.Fatal(err)
	}
	for _, pl := range e.proxy.allPools() {
		if pl.keyspace == "customer" {
			t.Fatalf("pool for removed keyspace customer still open (%s)", pl.addr)
		}
	}
	if _, err := db.Exec("select * from customer.customer"); mysqlCode(err) != 1049 {
		t.Fatalf("removed keyspace: %v", err)
	}
	if got := queryStrings(t, db, "show databases"); fmt.Sprint(got) != "[[commerce]]" {
		t.Fatalf("show databases = %v", got)
	}
}
