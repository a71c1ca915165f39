package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sessionConn opens one client connection of user (a proxy session) and returns it with its id.
func sessionConn(t *testing.T, e *env, user string) (*sql.Conn, uint32) {
	t.Helper()
	c := pinned(t, e.open(t, user, "commerce", "readTimeout=60s"))
	var id uint32
	if err := c.QueryRowContext(context.Background(), "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return c, id
}

// processRows runs q on c and returns its rows as maps column -> value ("NULL" for NULL).
func processRows(t *testing.T, c *sql.Conn, q string) []map[string]string {
	t.Helper()
	rows, err := c.QueryContext(context.Background(), q)
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
			m[c] = "NULL"
			if vals[i].Valid {
				m[c] = vals[i].String
			}
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func rowOf(rows []map[string]string, idCol string, id uint32) map[string]string {
	for _, r := range rows {
		if r[idCol] == strconv.FormatUint(uint64(id), 10) {
			return r
		}
	}
	return nil
}

// waitRow polls SHOW FULL PROCESSLIST on c until session id's row satisfies ok.
func waitRow(t *testing.T, c *sql.Conn, id uint32, ok func(map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows := processRows(t, c, "SHOW FULL PROCESSLIST")
		if r := rowOf(rows, "Id", id); ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d never reached the expected state; processlist: %v", id, rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProcesslistAndKill: two clients of one user see and kill each other's statements
// through the proxy's own processlist; another user neither sees nor kills them; an admin
// sees and kills everything; the backends' connections are never listed.
func TestProcesslistAndKill(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	a, idA := sessionConn(t, e, "app")
	b, idB := sessionConn(t, e, "app")
	other, idO := sessionConn(t, e, "ro")
	adm, idAdm := sessionConn(t, e, "admin")
	if idA == idB || idA == 0 {
		t.Fatalf("CONNECTION_ID() = %d and %d", idA, idB)
	}

	// CONNECTION_ID() anywhere in a statement, text and prepared: the proxy's id, not the backend's.
	var got uint32
	var sku string
	if err := a.QueryRowContext(ctx, "SELECT CONNECTION_ID() + 0, sku FROM product ORDER BY sku LIMIT 1").Scan(&got, &sku); err != nil || got != idA {
		t.Fatalf("CONNECTION_ID() in a routed select = %d (%v), want %d", got, err, idA)
	}
	stmt, err := a.PrepareContext(ctx, "SELECT CONNECTION_ID() + ?")
	if err != nil {
		t.Fatal(err)
	}
	if err := stmt.QueryRowContext(ctx, 0).Scan(&got); err != nil || got != idA {
		t.Fatalf("prepared CONNECTION_ID() = %d (%v), want %d", got, err, idA)
	}
	stmt.Close()
	if own := processRows(t, a, "SELECT ID, USER FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()"); len(own) != 1 ||
		own[0]["ID"] != strconv.FormatUint(uint64(idA), 10) || own[0]["USER"] != "app" {
		t.Fatalf("own processlist row = %v, want id %d", own, idA)
	}

	long := "SELECT SLEEP(30), '" + strings.Repeat("x", 120) + "'"
	aDone := make(chan error, 1)
	aStart := time.Now()
	go func() {
		var s, x string
		aDone <- a.QueryRowContext(ctx, long).Scan(&s, &x)
	}()
	row := waitRow(t, b, idA, func(r map[string]string) bool { return r != nil && r["State"] == "executing" })
	if row["User"] != "app" || row["Command"] != "Query" || row["Info"] != long || row["db"] != "commerce" ||
		!strings.HasPrefix(row["Host"], "127.0.0.1:") {
		t.Errorf("SHOW FULL PROCESSLIST row of the sleeping session = %v", row)
	}
	short := rowOf(processRows(t, b, "SHOW PROCESSLIST"), "Id", idA)
	if short == nil || short["Info"] != long[:100] {
		t.Errorf("SHOW PROCESSLIST info = %q, want the first 100 characters", short["Info"])
	}
	is := processRows(t, b, fmt.Sprintf("SELECT ID, USER, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST WHERE ID = %d AND INFO LIKE 'select sleep%%'", idA))
	if len(is) != 1 || is[0]["INFO"] != long || is[0]["COMMAND"] != "Query" {
		t.Errorf("information_schema.PROCESSLIST = %v", is)
	}

	// Same user: B sees A and B only (and never the backends' connections, user root).
	for _, r := range processRows(t, b, "SHOW PROCESSLIST") {
		if r["User"] != "app" {
			t.Errorf("app sees a session of %s: %v", r["User"], r)
		}
	}
	// Another non-admin user sees only its own sessions, and may not kill A.
	for _, r := range processRows(t, other, "SHOW FULL PROCESSLIST") {
		if r["User"] != "ro" {
			t.Errorf("ro sees %v", r)
		}
	}
	if n := processRows(t, other, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST"); n[0]["n"] != "1" {
		t.Errorf("ro counts %s sessions, want its own one", n[0]["n"])
	}
	if _, err := other.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", idA)); mysqlCode(err) != 1095 ||
		!strings.Contains(err.Error(), fmt.Sprintf("You are not owner of thread %d", idA)) {
		t.Errorf("KILL QUERY by another user: %v, want 1095", err)
	}
	if _, err := other.ExecContext(ctx, fmt.Sprintf("KILL %d", idA)); mysqlCode(err) != 1095 {
		t.Errorf("KILL by another user: %v, want 1095", err)
	}
	if _, err := b.ExecContext(ctx, "KILL 999999"); mysqlCode(err) != 1094 || !strings.Contains(err.Error(), "Unknown thread id: 999999") {
		t.Errorf("KILL of an unknown id: %v, want 1094", err)
	}
	// The admin sees everyone: exactly the proxy's sessions.
	all := processRows(t, adm, "SHOW PROCESSLIST")
	for _, id := range []uint32{idA, idB, idO, idAdm} {
		if rowOf(all, "Id", id) == nil {
			t.Errorf("admin does not see session %d: %v", id, all)
		}
	}
	for _, r := range all {
		if r["User"] == "root" || r["Command"] == "Binlog Dump" {
			t.Errorf("a backend connection is listed: %v", r)
		}
	}
	if len(all) != 4 {
		t.Errorf("admin sees %d sessions, want the 4 clients: %v", len(all), all)
	}

	// B (same user) kills A's statement: A gets 1317 at once, and its session goes on.
	if _, err := b.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", idA)); err != nil {
		t.Fatalf("KILL QUERY: %v", err)
	}
	select {
	case err := <-aDone:
		if mysqlCode(err) != 1317 {
			t.Fatalf("killed statement: %v, want 1317", err)
		}
		if d := time.Since(aStart); d > 10*time.Second {
			t.Errorf("the killed statement answered after %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY did not interrupt SELECT SLEEP(30)")
	}
	if err := a.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&got); err != nil || got != idA {
		t.Fatalf("after KILL QUERY, A: %d %v", got, err)
	}
	waitRow(t, b, idA, func(r map[string]string) bool { return r != nil && r["Command"] == "Sleep" && r["Info"] == "NULL" })

	// KILL CONNECTION of an idle session: its next statement fails with a connection error.
	if _, err := b.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", idA)); err != nil {
		t.Fatalf("KILL CONNECTION: %v", err)
	}
	waitRow(t, b, idA, func(r map[string]string) bool { return r == nil })
	if err := a.QueryRowContext(ctx, "SELECT 1").Scan(&got); err == nil || mysqlCode(err) != 0 {
		t.Fatalf("A after KILL CONNECTION: %v, want a connection error", err)
	}

	// The admin kills another user's connection while it runs a statement.
	c, idC := sessionConn(t, e, "app")
	cDone := make(chan error, 1)
	go func() { _, err := c.ExecContext(ctx, "SELECT SLEEP(30)"); cDone <- err }()
	waitRow(t, adm, idC, func(r map[string]string) bool { return r != nil && r["State"] == "executing" })
	if _, err := adm.ExecContext(ctx, fmt.Sprintf("KILL %d", idC)); err != nil {
		t.Fatalf("admin KILL: %v", err)
	}
	select {
	case err := <-cDone:
		if err == nil || mysqlCode(err) != 0 {
			t.Fatalf("statement of a killed connection: %v, want a connection error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("KILL CONNECTION did not end the running statement")
	}
	waitRow(t, adm, idC, func(r map[string]string) bool { return r == nil })

	// KILL of oneself.
	if _, err := b.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", idB)); mysqlCode(err) != 1317 {
		t.Errorf("KILL QUERY of oneself: %v, want 1317", err)
	}
	if _, err := b.ExecContext(ctx, fmt.Sprintf("KILL %d", idB)); mysqlCode(err) != 1927 {
		t.Errorf("KILL of oneself: %v, want 1927", err)
	}

	// Statements reading the processlist in ways the proxy cannot evaluate are refused.
	for _, q := range []string{
		"SELECT * FROM product WHERE price IN (SELECT ID FROM information_schema.PROCESSLIST)",
		"SELECT USER, COUNT(*) FROM information_schema.PROCESSLIST GROUP BY USER",
		"SELECT * FROM performance_schema.threads",
	} {
		if _, err := adm.ExecContext(ctx, q); mysqlCode(err) != 1235 {
			t.Errorf("%s: %v, want 1235", q, err)
		}
	}
}
