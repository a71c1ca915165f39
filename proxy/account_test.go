package proxy

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
)

// withUser adds u to the env's users (startEnv option).
func withUser(u *wire.User) func(*Config) {
	return func(c *Config) {
		prev := c.Users
		c.Users = func(n string) (*wire.User, bool) {
			if n == u.Name {
				return u, true
			}
			return prev(n)
		}
	}
}

// TestBackendAccountPerUser: a user mapped to a backend account runs every statement as that
// account (routed, on a replica, in a transaction, on a reserved connection, with session
// settings, in a cross-keyspace pull), gets the backend's own errors for what the account
// may not do, and never gets a pooled connection of another account.
func TestBackendAccountPerUser(t *testing.T) {
	e := startEnv(t,
		withUser(&wire.User{Name: "reporting", Password: "secret", BackendUser: "ro", BackendPassword: "ropw"}),
		withUser(&wire.User{Name: "writer", Password: "secret", BackendUser: "rw", BackendPassword: "rwpw"}))
	// On the primaries (the commerce replicas get them by replication).
	for _, s := range []struct {
		exec func(testing.TB, ...string)
		db   string
	}{{e.commerce.Primary.Exec, "commerce"}, {e.customer.Primary.Exec, "customer_db"}} {
		s.exec(t,
			"CREATE USER IF NOT EXISTS ro@'%' IDENTIFIED BY 'ropw'",
			"GRANT SELECT ON "+s.db+".* TO ro@'%'",
			"CREATE USER IF NOT EXISTS rw@'%' IDENTIFIED BY 'rwpw'",
			"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE TEMPORARY TABLES ON "+s.db+".* TO rw@'%'")
	}
	e.commerce.WaitReplicas(t, 10*time.Second)

	t.Run("select-only account reads and gets the backend's 1142 for writes", func(t *testing.T) {
		db := e.open(t, "reporting", "commerce")
		if got := queryStrings(t, db, "select sku from product order by sku"); len(got) != 2 {
			t.Fatalf("product = %v", got)
		}
		if got := queryStrings(t, db, "select current_user()"); got[0][0] != "ro@%" {
			t.Fatalf("current_user() = %v, want ro@%%", got)
		}
		_, err := db.Exec("insert into product values ('SKU-9', 'x', 1)")
		if mysqlCode(err) != 1142 || !strings.Contains(err.Error(), "INSERT command denied to user 'ro'@") {
			t.Fatalf("text INSERT: %v, want the backend's 1142 for ro", err)
		}
		stmt, err := db.Prepare("insert into product values (?, ?, ?)")
		if err == nil {
			_, err = stmt.Exec("SKU-9", "x", 1)
			stmt.Close()
		}
		if mysqlCode(err) != 1142 || !strings.Contains(err.Error(), "INSERT command denied to user 'ro'@") {
			t.Fatalf("prepared INSERT: %v, want the backend's 1142 for ro", err)
		}
		// In a transaction too (the transaction's connection is the account's).
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("update product set price = 1"); mysqlCode(err) != 1142 {
			t.Fatalf("UPDATE in a transaction: %v, want 1142", err)
		}
		_ = tx.Rollback()
		if got := e.commerce.Primary.QueryString(t, "SELECT COUNT(*) FROM commerce.product WHERE sku = 'SKU-9' OR price = 1"); got != "0" {
			t.Fatalf("rows written by the select-only account: %s", got)
		}
		// A replica read runs as the account as well.
		rdb := e.open(t, "reporting", "commerce@replica")
		if got := queryStrings(t, rdb, "select current_user(), count(*) from product"); got[0][0] != "ro@%" || got[0][1] != "2" {
			t.Fatalf("replica read = %v", got)
		}
	})

	t.Run("cross-keyspace pulls run as the account", func(t *testing.T) {
		// The pull creates a temporary table on the anchor: rw may, ro may not.
		q := "select count(*) from commerce.product p join customer.corder o on o.sku = p.sku"
		if got := queryStrings(t, e.open(t, "writer", "commerce"), q); got[0][0] != "0" {
			t.Fatalf("writer cross-keyspace join = %v", got)
		}
		_, err := e.open(t, "reporting", "commerce").Exec(q)
		if c := mysqlCode(err); (c != 1044 && c != 1142) || !strings.Contains(err.Error(), "'ro'@") {
			t.Fatalf("reporting cross-keyspace join: %v, want the backend's access denied for ro", err)
		}
	})

	t.Run("pools are never shared between accounts", func(t *testing.T) {
		users := map[string]string{"app": "root@", "reporting": "ro@%", "writer": "rw@%"}
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for name, want := range users {
			db := e.open(t, name, "commerce")
			db.SetMaxOpenConns(4)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					conn, err := db.Conn(t.Context())
					if err != nil {
						errs <- err.Error()
						return
					}
					defer conn.Close()
					check := func(what string) {
						var got string
						if err := conn.QueryRowContext(t.Context(), "select current_user()").Scan(&got); err != nil {
							errs <- name + " " + what + ": " + err.Error()
						} else if !strings.HasPrefix(got, want) {
							errs <- name + " " + what + ": current_user() = " + got + ", want " + want
						}
					}
					for i := 0; i < 20; i++ {
						check("pooled")
					}
					// A settings bucket: the same setting in every account's sessions.
					if _, err := conn.ExecContext(t.Context(), "set session sql_mode = 'ANSI_QUOTES'"); err != nil {
						errs <- name + ": " + err.Error()
						return
					}
					for i := 0; i < 5; i++ {
						check("with settings")
					}
					if w%2 == 0 { // a reserved connection (user variable)
						if _, err := conn.ExecContext(t.Context(), "set @x = 1"); err != nil {
							errs <- name + ": " + err.Error()
							return
						}
						check("reserved")
					}
					tx, err := conn.BeginTx(t.Context(), nil)
					if err != nil {
						errs <- name + ": " + err.Error()
						return
					}
					var got string
					if err := tx.QueryRow("select current_user()").Scan(&got); err != nil || !strings.HasPrefix(got, want) {
						errs <- name + " in a transaction: " + got + " " + errString(err)
					}
					_ = tx.Rollback()
				}(w)
			}
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		// A pool per account, each its own series in the metrics.
		for _, user := range []string{"root", "ro", "rw"} {
			found := false
			for _, pl := range e.proxy.allPools() {
				found = found || (pl.keyspace == "commerce" && pl.opts.User == user)
			}
			if !found {
				t.Errorf("no commerce pool for backend account %s", user)
			}
		}
		// Gathering fails on two series with the same labels (the CLIENT_FOUND_ROWS pools are summed).
		if problems, err := testutil.CollectAndLint(e.proxy.metrics.pool); err != nil || len(problems) > 0 {
			t.Errorf("pool metrics: %v %v", err, problems)
		}
		if n := testutil.CollectAndCount(e.proxy.metrics.pool, "vtgate_lite_pool_connections"); n < 4 { // 3 on commerce, 1+ on customer
			t.Errorf("vtgate_lite_pool_connections series = %d, want one per keyspace, server and account", n)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
