package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
)

func TestHoldAndDrain(t *testing.T) {
	e := startEnv(t)
	e.commerce.Primary.Exec(t, "CREATE TABLE commerce.corder (order_id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT, sku VARBINARY(128), price BIGINT)")
	moved := []string{"customer.corder"}
	ctx := context.Background()

	t.Run("held statement runs on the new routing after release", func(t *testing.T) {
		db := e.open(t, "app", "")
		release, err := e.proxy.HoldAndDrain(ctx, moved, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.Exec("insert into corder(customer_id, sku, price) values (42, 'held', 1)")
			done <- err
		}()
		// Other tables never wait.
		if _, err := db.Exec("select * from commerce.product"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("statement on a held table ran during the hold: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := e.holder.Update(func(s *router.Schema) error {
			s.Rules["corder"] = "commerce.corder"
			s.Rules["customer.corder"] = "commerce.corder"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := e.commerce.Primary.QueryString(t, "select count(*) from commerce.corder where sku = 'held'"); got != "1" {
			t.Fatalf("held insert not on the new keyspace (commerce has %s)", got)
		}
		if got := e.customer.Primary.QueryString(t, "select count(*) from customer_db.corder where sku = 'held'"); got != "0" {
			t.Fatalf("held insert went to the old keyspace too (%s)", got)
		}
		e.holder.Update(func(s *router.Schema) error {
			delete(s.Rules, "corder")
			delete(s.Rules, "customer.corder")
			return nil
		})
	})

	t.Run("a long open transaction aborts the switch and names the session", func(t *testing.T) {
		db := e.open(t, "app", "")
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("insert into customer.corder(customer_id, sku, price) values (1, 'long', 1)"); err != nil {
			t.Fatal(err)
		}
		_, err = e.proxy.HoldAndDrain(ctx, moved, 300*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "open transaction on customer.corder") || !strings.Contains(err.Error(), "session ") {
			t.Fatalf("HoldAndDrain = %v", err)
		}
		// Nothing changed: other sessions are not held, the transaction goes on.
		other := e.open(t, "app", "")
		if _, err := other.Exec("select count(*) from customer.corder"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("transactions in flight may finish during the drain", func(t *testing.T) {
		db := e.open(t, "app", "")
		tx, _ := db.Begin()
		if _, err := tx.Exec("insert into customer.corder(customer_id, sku, price) values (1, 'drain-1', 1)"); err != nil {
			t.Fatal(err)
		}
		type result struct {
			release func()
			err     error
		}
		res := make(chan result, 1)
		go func() {
			r, err := e.proxy.HoldAndDrain(ctx, moved, 5*time.Second)
			res <- result{r, err}
		}()
		time.Sleep(50 * time.Millisecond)
		// The draining transaction's next statement on the held table is not held.
		if _, err := tx.Exec("insert into customer.corder(customer_id, sku, price) values (1, 'drain-2', 1)"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.release()
		if got := e.customer.Primary.QueryString(t, "select count(*) from customer_db.corder where sku like 'drain-%'"); got != "2" {
			t.Fatalf("drained transaction rows = %s", got)
		}
	})

	t.Run("a transaction whose first statement is held does not block the drain", func(t *testing.T) {
		db := e.open(t, "app", "")
		tx, _ := db.Begin()
		if _, err := tx.Exec("select 1"); err != nil {
			t.Fatal(err)
		}
		release, err := e.proxy.HoldAndDrain(ctx, moved, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := tx.Exec("insert into customer.corder(customer_id, sku, price) values (1, 'held-first', 1)")
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		release()
		release2, err := e.proxy.HoldAndDrain(ctx, moved, 300*time.Millisecond) // nothing in flight but that transaction's statement
		if err == nil {
			release2()
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		tx.Rollback()
		// The held statement waits without registering the table with its transaction.
		tx2, _ := db.Begin()
		tx2.Exec("select 1")
		release3, err := e.proxy.HoldAndDrain(ctx, moved, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := tx2.Exec("insert into customer.corder(customer_id, sku, price) values (1, 'held-first', 1)")
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		r4, err := e.proxy.HoldAndDrain(ctx, moved, 500*time.Millisecond)
		if err != nil {
			t.Fatalf("a second drain counted the held statement's transaction: %v", err)
		}
		r4()
		release3()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		tx2.Rollback()
	})

	t.Run("a draining transaction goes on to the other held tables", func(t *testing.T) {
		both := []string{"customer.corder", "customer.customer"}
		db := e.open(t, "app", "")
		tx, _ := db.Begin()
		if _, err := tx.Exec("insert into customer.corder(customer_id, sku, price) values (1, 'drain-3', 1)"); err != nil {
			t.Fatal(err)
		}
		type result struct {
			release func()
			err     error
		}
		res := make(chan result, 1)
		go func() {
			r, err := e.proxy.HoldAndDrain(ctx, both, 5*time.Second)
			res <- result{r, err}
		}()
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		if _, err := tx.Exec("insert into customer.customer(email) values ('drain-3')"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("the transaction's statement on another held table waited %s", d)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		r := <-res
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.release()
	})
}

// Held statements are bounded in count and time; past the bound they fail with a clear error.
func TestHoldBounds(t *testing.T) {
	e := startEnv(t)
	e.proxy.SetHoldLimits(1, 400*time.Millisecond)
	moved := []string{"customer.corder"}
	release, err := e.proxy.HoldAndDrain(context.Background(), moved, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	db := e.open(t, "app", "")
	first := make(chan error, 1)
	go func() {
		_, err := db.Exec("insert into customer.corder(customer_id, sku, price) values (1, 'bound', 1)")
		first <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_, err = db.Exec("insert into customer.corder(customer_id, sku, price) values (2, 'bound', 1)")
	if err == nil || !strings.Contains(err.Error(), "too many statements held by a traffic switch") {
		t.Errorf("second held statement past the count bound: %v", err)
	}
	err = <-first
	if err == nil || !strings.Contains(err.Error(), "held longer than 400ms") {
		t.Errorf("held statement past the time bound: %v", err)
	}
	if got := e.customer.Primary.QueryString(t, "select count(*) from customer_db.corder where sku = 'bound'"); got != "0" {
		t.Errorf("a statement that failed the bound ran anyway (%s rows)", got)
	}
}
