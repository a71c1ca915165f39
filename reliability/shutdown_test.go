package reliability

import (
	"context"
	"database/sql"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// What a SIGTERM does (the behaviour this test holds vtgate-lite to):
//   - The listener closes at once: new connections are refused.
//   - A statement in flight runs to its end and its result reaches the client, whether a
//     read, an autocommit write or a statement inside a transaction.
//   - A connection between statements is closed at once. The proxy does not wait for
//     clients to send their next statement (that could be forever); a transaction left
//     open is rolled back by the backend when its connection closes, and its client sees
//     the COMMIT fail, so nothing the client was told is committed goes missing and
//     nothing it was not told is committed half-way.
//   - When the last in-flight statement has answered, the backend connections are
//     closed and the process exits 0 (bound: the longest statement + 5 s).
func TestGracefulShutdown(t *testing.T) {
	const sleep = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl := backend(t, 10)
	root := cl.Primary.Open(t, "commerce")
	p := startProxy(t, cl, 8)

	db := sqlOpen(t, p.dsn("commerce"))
	defer db.Close()
	conn := func() *sql.Conn {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	exec := func(c *sql.Conn, q string) {
		t.Helper()
		if _, err := c.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// Acknowledged before the signal: a committed transaction and an autocommit insert.
	committed := conn()
	exec(committed, "BEGIN")
	exec(committed, "INSERT INTO ledger (id, writer, kind) VALUES (3001, 3, 'tx')")
	exec(committed, "COMMIT")
	exec(committed, "INSERT INTO ledger (id, writer, kind) VALUES (3002, 3, 'single')")

	// Idle, and idle inside a transaction (an acknowledged INSERT, no COMMIT yet).
	idle := conn()
	idleTx := conn()
	exec(idleTx, "BEGIN")
	exec(idleTx, "INSERT INTO ledger (id, writer, kind) VALUES (4001, 4, 'tx')")

	// In flight at the signal: a read, an autocommit write, a statement inside a transaction.
	type outcome struct {
		err  error
		rows int64
		val  int
	}
	read, write, txc := conn(), conn(), conn()
	exec(txc, "BEGIN")
	exec(txc, "INSERT INTO ledger (id, writer, kind) VALUES (2001, 2, 'tx')")
	readDone, writeDone, txDone := make(chan outcome, 1), make(chan outcome, 1), make(chan outcome, 1)
	q := func(s string) string {
		return strings.ReplaceAll(s, "SLEEP()", "SLEEP("+strconv.Itoa(int(sleep.Seconds()))+")")
	}
	go func() {
		var o outcome
		o.err = read.QueryRowContext(ctx, q("SELECT SLEEP() + 42")).Scan(&o.val)
		readDone <- o
	}()
	go func() {
		var o outcome
		r, err := write.ExecContext(ctx, q("INSERT INTO ledger (id, writer, kind) SELECT 1001, 1, IF(SLEEP() = 0, 'single', 'x')"))
		if o.err = err; err == nil {
			o.rows, _ = r.RowsAffected()
		}
		writeDone <- o
	}()
	go func() {
		var o outcome
		r, err := txc.ExecContext(ctx, q("UPDATE item SET val = val + 1 WHERE id = 1 AND SLEEP() = 0"))
		if o.err = err; err == nil {
			o.rows, _ = r.RowsAffected()
		}
		txDone <- o
	}()
	// Wait until the three statements run on the backend.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND INFO LIKE '%SLEEP(%'", backendUser).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 statements running on the backend", n)
		}
		time.Sleep(20 * time.Millisecond)
	}

	t0 := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New connections are refused while the in-flight statements still run.
	time.Sleep(200 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", p.listen, time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted after SIGTERM")
	}
	// The idle connections are closed.
	if _, err := idle.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Error("an idle connection still answered after SIGTERM")
	}
	if _, err := idleTx.ExecContext(ctx, "COMMIT"); err == nil {
		t.Error("COMMIT on a connection idle in a transaction succeeded after SIGTERM")
	}
	if time.Since(t0) > sleep-300*time.Millisecond {
		t.Fatalf("the checks above took %s: the statements were no longer in flight", time.Since(t0))
	}

	// The in-flight statements complete with their results.
	wait := func(name string, ch chan outcome) outcome {
		select {
		case o := <-ch:
			if o.err != nil {
				t.Errorf("%s in flight at SIGTERM: %v", name, o.err)
			}
			return o
		case <-time.After(sleep + 10*time.Second):
			t.Fatalf("%s did not return", name)
			return outcome{}
		}
	}
	if o := wait("SELECT SLEEP", readDone); o.err == nil && o.val != 42 {
		t.Errorf("SELECT SLEEP(%d) + 42 = %d", int(sleep.Seconds()), o.val)
	}
	if o := wait("INSERT ... SLEEP", writeDone); o.err == nil && o.rows != 1 {
		t.Errorf("INSERT in flight: %d rows affected", o.rows)
	}
	if o := wait("UPDATE ... SLEEP in a transaction", txDone); o.err == nil && o.rows != 1 {
		t.Errorf("UPDATE in flight: %d rows affected", o.rows)
	}
	// That transaction's connection is then closed: its COMMIT fails, and it is rolled back.
	_, commitErr := txc.ExecContext(ctx, "COMMIT")
	if commitErr == nil {
		t.Error("COMMIT after the in-flight statement succeeded: the proxy was meant to close the connection")
	}

	// The process exits 0, in time.
	select {
	case <-p.done:
	case <-time.After(sleep + 10*time.Second):
		t.Fatalf("vtgate-lite still running %s after SIGTERM", time.Since(t0))
	}
	took := p.exitedAt.Sub(t0)
	t.Logf("exited %s after SIGTERM (in-flight statements: %s): %v", took.Round(time.Millisecond), sleep, p.exitErr)
	if p.exitErr != nil {
		t.Errorf("exit: %v, want status 0", p.exitErr)
	}
	if took < sleep-500*time.Millisecond {
		t.Errorf("exited %s after SIGTERM, before the %s statements could finish", took, sleep)
	}
	if took > sleep+5*time.Second {
		t.Errorf("exited %s after SIGTERM, want within %s", took, sleep+5*time.Second)
	}

	// The backend: acknowledged writes are there once, the unacknowledged ones are not,
	// and the proxy's connections are gone.
	want := map[int64]int{3001: 1, 3002: 1, 1001: 1, 2001: 0, 4001: 0}
	for id, n := range want {
		var got int
		if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM ledger WHERE id = ?", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("ledger id %d: %d rows, want %d", id, got, n)
		}
	}
	var val int
	if err := root.QueryRowContext(ctx, "SELECT val FROM item WHERE id = 1").Scan(&val); err != nil || val != 0 {
		t.Errorf("item 1 val = %d (%v), want 0: the transaction was not committed", val, err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		n := mustBackendConns(ctx, t, root)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d proxy connections still on the backend 5s after exit", n)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
