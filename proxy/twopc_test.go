package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/store"
)

func countRows(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var n string
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestTransactionModes: multi commits in keyspace order; twopc commits atomically and a
// crash at each point of the commit is resolved by recovery on restart.
func TestTransactionModes(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, func(c *Config) { c.TransactionMode = "twopc"; c.Store = st })
	commerce := e.commerce.Primary.Open(t, "commerce")
	customer := e.customer.Primary.Open(t, "customer_db")
	db := e.open(t, "app", "")

	write := func(tag string) (*sql.Tx, error) {
		tx, err := db.Begin()
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec("insert into commerce.product values (?, 'twopc', 1)", tag); err != nil {
			return nil, err
		}
		if _, err := tx.Exec("insert into customer.corder(customer_id, sku, price) values (1, ?, 1)", tag); err != nil {
			return nil, err
		}
		return tx, nil
	}
	both := func(tag string) string {
		return countRows(t, commerce, "select count(*) from product where sku = '"+tag+"'") + "/" +
			countRows(t, customer, "select count(*) from corder where sku = '"+tag+"'")
	}

	t.Run("commit and rollback", func(t *testing.T) {
		tx, err := write("2pc-commit")
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := both("2pc-commit"); got != "1/1" {
			t.Fatalf("after commit: %s", got)
		}
		tx, err = write("2pc-rollback")
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := both("2pc-rollback"); got != "0/0" {
			t.Fatalf("after rollback: %s", got)
		}
	})

	for _, c := range []struct{ point, want string }{
		{"after-prepare", "0/0"},      // no decision recorded: presumed abort
		{"after-record", "1/1"},       // decided: recovery commits both
		{"after-first-commit", "1/1"}, // half committed: recovery finishes
	} {
		t.Run("crash "+c.point, func(t *testing.T) {
			tag := "crash-" + c.point
			twopcHook = func(p string) {
				if p == c.point {
					panic("simulated crash at " + p)
				}
			}
			defer func() { twopcHook = nil }()
			tx, err := write(tag)
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err == nil {
				t.Fatal("commit succeeded through a crash")
			}
			twopcHook = nil
			// Prepared branches hold their row locks: reads do not see them yet.
			if got := both(tag); c.point != "after-first-commit" && got != "0/0" {
				t.Fatalf("before recovery: %s", got)
			}
			// A restart runs recovery before serving.
			if err := e.proxy.RecoverTwoPC(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := both(tag); got != c.want {
				t.Fatalf("after recovery: %s, want %s", got, c.want)
			}
			if keys, _ := st.List("twopc_"); len(keys) != 0 {
				t.Fatalf("records left: %v", keys)
			}
			var pending int
			for _, s := range []*sql.DB{commerce, customer} {
				rows, _ := s.Query("XA RECOVER")
				for rows.Next() {
					pending++
				}
				rows.Close()
			}
			if pending != 0 {
				t.Fatalf("%d prepared XA branches left", pending)
			}
		})
	}

	t.Run("multi mode commits in order", func(t *testing.T) {
		e.proxy.cfg.TransactionMode = "multi"
		defer func() { e.proxy.cfg.TransactionMode = "twopc" }()
		tx, err := write("multi")
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := both("multi"); got != "1/1" {
			t.Fatalf("multi: %s", got)
		}
		_ = fmt.Sprint
	})
}
