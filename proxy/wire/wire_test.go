package wire

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// whoami runs the test handler's "whoami" on db and returns its columns by name.
func whoami(t *testing.T, db *sql.DB) map[string]string {
	t.Helper()
	rows, err := db.Query("whoami")
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("whoami: no row: %v", rows.Err())
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, c := range cols {
		if vals[i].Valid {
			out[c] = vals[i].String
		} else {
			out[c] = "NULL"
		}
	}
	return out
}

func TestNativePasswordLogin(t *testing.T) {
	var mu sync.Mutex
	var failures []string
	ts := startServer(t, Config{OnAuthFailure: func(user, ip string) {
		mu.Lock()
		failures = append(failures, user+"@"+ip)
		mu.Unlock()
	}})

	cases := []struct {
		name, user, pw string
		wantErr        uint16
		wantMsg        string
	}{
		{"plaintext user", "alice", "secret", 0, ""},
		{"hash-only user", "bob", "hunter2", 0, ""},
		{"no password", "nopw", "", 0, ""},
		{"wrong password", "alice", "nope", 1045, "Access denied for user 'alice'@'127.0.0.1' (using password: YES)"},
		{"hash-only wrong password", "bob", "nope", 1045, ""},
		{"unknown user", "mallory", "x", 1045, ""},
		{"empty password for a user with one", "alice", "", 1045, "Access denied for user 'alice'@'127.0.0.1' (using password: NO)"},
		{"password for a user without one", "nopw", "x", 1045, "(using password: YES)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := ts.openDB(t, tc.user, tc.pw, "", "")
			err := db.Ping()
			if got := mysqlErr(err); got != tc.wantErr {
				t.Fatalf("Ping: error %v (code %d), want code %d", err, got, tc.wantErr)
			}
			if tc.wantErr != 0 {
				if !strings.Contains(err.Error(), "28000") || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("error %q, want SQLSTATE 28000 and %q", err, tc.wantMsg)
				}
				return
			}
			who := whoami(t, db)
			if who["user"] != tc.user || who["plugin"] != PluginNativePassword || who["tls"] != "false" {
				t.Fatalf("whoami = %v", who)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) != 5 || failures[0] != "alice@127.0.0.1" || failures[2] != "mallory@127.0.0.1" {
		t.Fatalf("OnAuthFailure calls: %v", failures)
	}
}

func TestHandshakeFields(t *testing.T) {
	ts := startServer(t, Config{})
	db := ts.openDB(t, "alice", "secret", "shop", "collation=utf8mb4_bin&connectionAttributes=app:billing")
	who := whoami(t, db)
	want := map[string]string{"user": "alice", "db": "shop", "collation": "46", "app": "billing", "deprecate_eof": "false"}
	for k, v := range want {
		if who[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, who[k], v, who)
		}
	}
	c, ok := ts.Conn(1)
	if !ok {
		t.Fatal("Conn(1) not found")
	}
	if c.Attrs["_client_name"] != "Go-MySQL-Driver" {
		t.Errorf("attrs %v", c.Attrs)
	}
	if c.Capabilities&^ServerCapabilities != 0 || c.Capabilities&CapProtocol41 == 0 {
		t.Errorf("negotiated capabilities %#x", c.Capabilities)
	}
}

func TestConnectedError(t *testing.T) {
	ts := startServer(t, Config{})
	err := ts.openDB(t, "alice", "secret", "nodb", "").Ping()
	if mysqlErr(err) != 1049 {
		t.Fatalf("got %v, want 1049", err)
	}
}

func TestCachingSHA2(t *testing.T) {
	serverTLS, tlsName, _ := testTLS(t)
	ts := startServer(t, Config{DefaultAuthPlugin: PluginCachingSHA2Password, TLS: serverTLS})
	cases := []struct {
		name, user, pw, params string
		wantErr                uint16
		wantTLS                string
	}{
		{"fast auth", "alice", "secret", "", 0, "false"},
		{"fast auth wrong password", "alice", "nope", "", 1045, ""},
		{"full auth over RSA", "bob", "hunter2", "", 0, "false"},
		{"full auth over RSA wrong password", "bob", "nope", "", 1045, ""},
		{"full auth over TLS", "bob", "hunter2", "tls=" + tlsName, 0, "true"},
		{"full auth over TLS wrong password", "bob", "nope", "tls=" + tlsName, 1045, ""},
		{"no password", "nopw", "", "", 0, "false"},
		{"empty password for a user with one", "bob", "", "", 1045, ""},
		{"unknown user", "mallory", "x", "", 1045, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := ts.openDB(t, tc.user, tc.pw, "", tc.params)
			err := db.Ping()
			if got := mysqlErr(err); got != tc.wantErr {
				t.Fatalf("Ping: error %v (code %d), want code %d", err, got, tc.wantErr)
			}
			if tc.wantErr != 0 {
				return
			}
			who := whoami(t, db)
			if who["user"] != tc.user || who["plugin"] != PluginCachingSHA2Password || who["tls"] != tc.wantTLS {
				t.Fatalf("whoami = %v", who)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	serverTLS, tlsName, _ := testTLS(t)
	ts := startServer(t, Config{TLS: serverTLS, RequireTLS: true})

	err := ts.openDB(t, "alice", "secret", "", "").Ping()
	if mysqlErr(err) != 3159 {
		t.Fatalf("plain connection with RequireTLS: %v, want 3159", err)
	}
	db := ts.openDB(t, "alice", "secret", "", "tls="+tlsName)
	if who := whoami(t, db); who["tls"] != "true" {
		t.Fatalf("whoami %v", who)
	}
	var state string
	if err := db.QueryRow("tlsstate").Scan(&state); err != nil || !strings.HasPrefix(state, "true TLS_") {
		t.Fatalf("tlsstate = %q, %v", state, err)
	}
	// WaitClientGone's short read timeouts must leave the TLS session usable.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var gone string
	if err := conn.QueryRowContext(context.Background(), "waitstop").Scan(&gone); err != nil || gone != "false" {
		t.Fatalf("waitstop over TLS = %q, %v", gone, err)
	}
	if err := conn.PingContext(context.Background()); err != nil {
		t.Fatalf("ping after WaitClientGone over TLS: %v", err)
	}
	// A big result crosses many TLS records and the write buffer.
	var big []byte
	if err := db.QueryRow("big 100000").Scan(&big); err != nil || len(big) != 100000 {
		t.Fatalf("big over TLS: %d bytes, %v", len(big), err)
	}
}

func TestAuthFailureLimiter(t *testing.T) {
	ts := startServer(t, Config{AuthFailureLimiter: func(ip string) bool { return ip != "127.0.0.1" }})
	err := ts.openDB(t, "alice", "secret", "", "").Ping()
	if mysqlErr(err) != 1129 {
		t.Fatalf("got %v, want 1129", err)
	}
}

func TestResults(t *testing.T) {
	ts := startServer(t, Config{})
	db := ts.openDB(t, "alice", "secret", "", "")
	ctx := context.Background()

	t.Run("select 1", func(t *testing.T) {
		var n int
		if err := db.QueryRow("select 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("select 1 = %d, %v", n, err)
		}
	})
	t.Run("ok packet", func(t *testing.T) {
		res, err := db.Exec("ok")
		if err != nil {
			t.Fatal(err)
		}
		aff, _ := res.RowsAffected()
		id, _ := res.LastInsertId()
		if aff != 3 || id != 42 {
			t.Fatalf("affected %d, last id %d", aff, id)
		}
	})
	t.Run("error packet", func(t *testing.T) {
		_, err := db.Exec("error")
		if mysqlErr(err) != 1146 || !strings.Contains(err.Error(), "42S02") {
			t.Fatalf("got %v", err)
		}
		// The connection survives an ERR.
		var n int
		if err := db.QueryRow("select 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ping", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for range 3 {
			if err := conn.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})

	want := []string{"hello", "-42", "123456", "7", "-300", "18446744073709551615", "3.25", "1.5", "NULL",
		"2024-02-03 04:05:06.789", "2024-02-03", "-25:01:02", "2024", "12.345", "\x00\x01\x02\xff"}
	check := func(t *testing.T, rows *sql.Rows, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if !rows.Next() {
			t.Fatalf("no row: %v", rows.Err())
		}
		vals := make([]any, len(typedCols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var got string
			switch v := v.(type) {
			case nil:
				got = "NULL"
			case []byte:
				got = string(v)
			default:
				got = fmt.Sprint(v)
			}
			if got != want[i] {
				t.Errorf("column %s = %q (%T), want %q", typedCols[i].Name, got, v, want[i])
			}
		}
		if rows.Next() {
			t.Fatal("more than one row")
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("text protocol types", func(t *testing.T) {
		rows, err := db.Query("types")
		check(t, rows, err)
	})
	t.Run("binary protocol types", func(t *testing.T) {
		// An argument makes go-sql-driver prepare and execute: COM_STMT_PREPARE, then
		// COM_STMT_EXECUTE answered with binary rows, then COM_STMT_CLOSE.
		rows, err := db.Query("select ?", 1)
		check(t, rows, err)
		stmt, err := db.Prepare("select ?, ?")
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		for range 2 {
			rows, err := stmt.Query(1, "x")
			check(t, rows, err)
		}
	})
	t.Run("column types", func(t *testing.T) {
		rows, err := db.Query("types")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cts, _ := rows.ColumnTypes()
		if cts[1].DatabaseTypeName() != "BIGINT" || cts[0].DatabaseTypeName() != "VARCHAR" ||
			cts[5].DatabaseTypeName() != "UNSIGNED BIGINT" || cts[9].DatabaseTypeName() != "DATETIME" {
			t.Fatalf("types %s %s %s %s", cts[0].DatabaseTypeName(), cts[1].DatabaseTypeName(),
				cts[5].DatabaseTypeName(), cts[9].DatabaseTypeName())
		}
	})
}

// TestLargePackets crosses the 16 MiB packet boundary both ways.
func TestLargePackets(t *testing.T) {
	if testing.Short() {
		t.Skip("moves ~70 MB")
	}
	ts := startServer(t, Config{})
	db := ts.openDB(t, "alice", "secret", "", "")
	for _, n := range []int{maxPayload - 4 /* row payload exactly 16 MiB-1 */, 17 << 20} {
		var big []byte
		if err := db.QueryRow(fmt.Sprintf("big %d", n)).Scan(&big); err != nil || len(big) != n {
			t.Fatalf("big %d: got %d bytes, %v", n, len(big), err)
		}
	}
	// A 17 MiB query reaches the handler reassembled.
	var n int
	if err := db.QueryRow("len " + strings.Repeat("y", 17<<20)).Scan(&n); err != nil || n != 17<<20 {
		t.Fatalf("len: %d, %v", n, err)
	}
}

func TestTooManyConnections(t *testing.T) {
	ts := startServer(t, Config{MaxConns: 1})
	ctx := context.Background()
	db1 := ts.openDB(t, "alice", "secret", "", "")
	c1, err := db1.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db2 := ts.openDB(t, "alice", "secret", "", "")
	if err := db2.Ping(); mysqlErr(err) != 1040 || !strings.Contains(err.Error(), "Too many connections") {
		t.Fatalf("second connection: %v, want 1040", err)
	}
	if n := ts.ConnCount(); n != 1 {
		t.Fatalf("ConnCount %d", n)
	}
	c1.Close()
	db1.Close()
	waitFor(t, func() bool { return ts.ConnCount() == 0 })
	if err := db2.Ping(); err != nil {
		t.Fatalf("after the first left: %v", err)
	}
}

func TestOversizedPacket(t *testing.T) {
	ts := startServer(t, Config{MaxPacket: 1 << 20})
	db := ts.openDB(t, "alice", "secret", "", "")
	db.SetMaxOpenConns(1)
	_, err := db.Exec("len " + strings.Repeat("z", 2<<20))
	if mysqlErr(err) != 1153 {
		t.Fatalf("got %v, want 1153", err)
	}
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
	// The pool recovers with a new connection.
	var n int
	if err := db.QueryRow("len abc").Scan(&n); err != nil || n != 3 {
		t.Fatalf("after 1153: %d, %v", n, err)
	}
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	db := ts.openDB(t, "alice", "secret", "", "")
	other, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	victim, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	if _, err := victim.ExecContext(ctx, "panic"); err == nil {
		t.Fatal("panic query succeeded")
	}
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
	var n int
	if err := other.QueryRowContext(ctx, "select 1").Scan(&n); err != nil {
		t.Fatalf("other connection after a panic: %v", err)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "panic in command handler") || !strings.Contains(logs, "boom") ||
		!strings.Contains(logs, "goroutine") {
		t.Fatalf("panic not logged with stack:\n%s", logs)
	}
	ts.h.mu.Lock()
	defer ts.h.mu.Unlock()
	for id, n := range ts.h.closedIDs {
		if n != 1 {
			t.Fatalf("Closed called %d times for conn %d", n, id)
		}
	}
}

func TestHandlerErrorClosesConnection(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	db := ts.openDB(t, "alice", "secret", "", "")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "fail"); err == nil {
		t.Fatal("fail query succeeded")
	}
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
}

func TestShutdown(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	db := ts.openDB(t, "alice", "secret", "", "")
	idle, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := idle.PingContext(ctx); err != nil {
		t.Fatal(err)
	}

	queryDone := make(chan error, 1)
	go func() {
		_, err := busy.ExecContext(ctx, "block")
		queryDone <- err
	}()
	<-ts.h.entered

	shutdownDone := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		shutdownDone <- ts.Shutdown(sctx)
	}()
	// The idle connection is closed at once; the busy one is waited for.
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned %v while a command was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(ts.h.release)
	if err := <-queryDone; err != nil {
		t.Fatalf("in-flight command during shutdown: %v", err)
	}
	if err := <-shutdownDone; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := ts.ConnCount(); n != 0 {
		t.Fatalf("ConnCount after shutdown %d", n)
	}
	if err := idle.PingContext(ctx); err == nil {
		t.Fatal("idle connection still works after shutdown")
	}
	// New connections are refused.
	if err := ts.openDB(t, "alice", "secret", "", "timeout=1s").Ping(); err == nil {
		t.Fatal("connected after shutdown")
	}
}

func TestShutdownDeadline(t *testing.T) {
	ts := startServer(t, Config{})
	ctx := context.Background()
	db := ts.openDB(t, "alice", "secret", "", "")
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	queryDone := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(ctx, "block")
		queryDone <- err
	}()
	<-ts.h.entered
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	// The socket was closed under the stuck handler: the client sees an error.
	if err := <-queryDone; err == nil {
		t.Fatal("query on a force-closed connection succeeded")
	}
	close(ts.h.release)
	waitFor(t, func() bool { return ts.h.closed.Load() == 1 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
