package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// outcome runs one statement on c and describes everything a client sees of it: every
// result set (columns and rows) or the error code. Statements are compared by their
// outcome through the proxy and directly on the backend (the reference answer).
func outcome(ctx context.Context, c *sql.Conn, q string, args ...any) string {
	rows, err := c.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Sprintf("error %d", mysqlCode(err))
	}
	defer rows.Close()
	var b strings.Builder
	for {
		cols, _ := rows.Columns()
		if len(cols) > 0 {
			fmt.Fprintf(&b, "%v:", cols)
		}
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return "scan: " + err.Error()
			}
			for _, v := range vals {
				if v.Valid {
					b.WriteString(" " + v.String)
				} else {
					b.WriteString(" NULL")
				}
			}
			b.WriteString(";")
		}
		if !rows.NextResultSet() {
			break
		}
		b.WriteString(" | ")
	}
	if err := rows.Err(); err != nil {
		return fmt.Sprintf("error %d", mysqlCode(err))
	}
	if b.Len() == 0 {
		return "ok"
	}
	return b.String()
}

// sameOutcomes runs stmts in order on a proxy session and on a direct backend session and
// fails on the first statement whose outcome differs.
func sameOutcomes(t *testing.T, viaProxy, direct *sql.Conn, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	for _, q := range stmts {
		got, want := outcome(ctx, viaProxy, q), outcome(ctx, direct, q)
		if got != want {
			t.Fatalf("%s:\n through the proxy %s\n directly         %s", q, got, want)
		}
	}
}

func conn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustExec(t *testing.T, c *sql.Conn, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := c.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func value(t *testing.T, c *sql.Conn, q string) string {
	t.Helper()
	var v sql.NullString
	if err := c.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if !v.Valid {
		return "NULL"
	}
	return v.String
}

// warmPool makes the keyspace's pool hold n idle connections with its database selected:
// n sessions hold one each at once, then give them back.
func warmPool(t *testing.T, e *env, keyspace, query string, n int) {
	t.Helper()
	db := e.open(t, "app", keyspace)
	var held []*sql.Tx
	for i := 0; i < n; i++ {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := tx.QueryRow(query).Scan(&s); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		held = append(held, tx)
	}
	for _, tx := range held {
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSessionStateSurvivesMultiplexing(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	direct := func(t *testing.T) *sql.Conn { return conn(t, e.customer.Primary.Open(t, "customer_db")) }

	t.Run("SET from a user variable or an expression", func(t *testing.T) {
		p, d := conn(t, e.open(t, "app", "customer")), direct(t)
		sameOutcomes(t, p, d,
			"SET @tz = '+05:00'", "SET time_zone = @tz", "SELECT @@time_zone",
			"SET sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')", "SELECT @@sql_mode",
			"SET @saved_cs_client = @@character_set_client", "SET character_set_client = latin1",
			"SELECT @@character_set_client, @@character_set_connection",
			"SET character_set_client = @saved_cs_client", "SELECT @@character_set_client, @@character_set_results, @@collation_connection",
			"SET @n = 2048", "SET group_concat_max_len = @n + 1", "SELECT @@group_concat_max_len",
			"SET @nothing = NULL", "SET character_set_client = @nothing", // 1231 on both
			"SET character_set_results = @nothing", "SELECT @@character_set_results",
			"SET character_set_results = utf8mb4",
			"SET @q = 'it''s'", "SET time_zone = @q", // 1298 unknown time zone, on both
			"SELECT @@time_zone")
		// The literal values are what other connections of the session replay: commerce's
		// pool has none of the session's user variables.
		if got := value(t, p, "SELECT concat(@@time_zone, ' ', @@group_concat_max_len, ' ', @@sql_mode) FROM commerce.product LIMIT 1"); got != "+05:00 2049 "+value(t, d, "SELECT @@sql_mode") {
			t.Errorf("settings replayed on another keyspace's connection = %q", got)
		}
		if got := value(t, p, "SELECT @@character_set_client FROM commerce.product LIMIT 1"); got != value(t, d, "SELECT @@character_set_client") {
			t.Errorf("character_set_client on another keyspace's connection = %q", got)
		}
	})

	t.Run("SET from an expression without user variables", func(t *testing.T) {
		p, d := conn(t, e.open(t, "app", "commerce")), direct(t)
		sameOutcomes(t, p, d, "SET sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_IN_DATE')", "SELECT @@sql_mode",
			"SET div_precision_increment = @@div_precision_increment * 2", "SELECT @@div_precision_increment",
			"SET sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')")
		// Another keyspace's pooled connection gets both additions, not the last expression
		// evaluated again on its own defaults.
		if got, want := value(t, p, "SELECT concat(@@sql_mode, ' ', @@div_precision_increment, ' ', COUNT(*) > -1) FROM customer.customer"), value(t, d, "SELECT concat(@@sql_mode, ' ', @@div_precision_increment, ' 1')"); got != want {
			t.Errorf("settings on another keyspace's connection = %q, want %q", got, want)
		}
	})

	t.Run("prepared SET from a user variable", func(t *testing.T) {
		p := conn(t, e.open(t, "app", "customer"))
		mustExec(t, p, "SET @tz = '-03:00'")
		st, err := p.PrepareContext(ctx, "SET time_zone = @tz")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
		if got := value(t, p, "SELECT @@time_zone FROM commerce.product LIMIT 1"); got != "-03:00" {
			t.Errorf("time_zone after a prepared SET from @tz, on another keyspace = %q", got)
		}
	})

	t.Run("autocommit=0: a transaction starts at the first statement after COMMIT", func(t *testing.T) {
		p, d := conn(t, e.open(t, "app", "customer")), direct(t)
		sameOutcomes(t, p, d,
			"SET autocommit = 0", "COMMIT", "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
			"SELECT COUNT(*) FROM customer", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", // 1568 on both: open now
			"INSERT INTO customer (email) VALUES ('tx@x')", "ROLLBACK",
			"SELECT COUNT(*) FROM customer WHERE email = 'tx@x'", "COMMIT",
			"SET @v = 1", "SET TRANSACTION READ ONLY", "COMMIT",
			"BEGIN", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "ROLLBACK", // 1568 on both
			"SET autocommit = 1", "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED")
	})

	t.Run("CALL with several result sets", func(t *testing.T) {
		e.customer.Primary.Exec(t,
			"CREATE PROCEDURE customer_db.two_results(IN n INT) BEGIN SELECT n AS a; SELECT n + 1 AS b, 'x' AS c UNION ALL SELECT n + 2, NULL; END",
			"CREATE PROCEDURE customer_db.no_result() BEGIN DECLARE x INT DEFAULT 1; SET x = x + 1; END")
		p, d := conn(t, e.open(t, "app", "customer", "multiStatements=true")), conn(t, e.customer.Primary.Open(t, "customer_db"))
		sameOutcomes(t, p, d, "CALL two_results(5)", "SELECT 1", "CALL no_result()", "SELECT 2",
			"CALL two_results(1); SELECT 3", "CALL nope()", "SELECT 4")
		// From another keyspace, qualified by the keyspace: its database holds the procedure.
		c := conn(t, e.open(t, "app", "commerce"))
		if got, want := outcome(ctx, c, "CALL customer.two_results(7)"), outcome(ctx, d, "CALL two_results(7)"); got != want {
			t.Errorf("CALL customer.two_results(7) from commerce = %s, want %s", got, want)
		}
	})

	t.Run("restore a mariadb-dump through the proxy", func(t *testing.T) {
		dump, err := exec.LookPath("mariadb-dump")
		if err != nil {
			t.Skip("mariadb-dump is not installed")
		}
		client, err := exec.LookPath("mariadb")
		if err != nil {
			t.Skip("the mariadb client is not installed")
		}
		e.customer.Primary.Exec(t,
			"CREATE TABLE customer_db.dump_a (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) CHARACTER SET utf8mb4, note TEXT, price DECIMAL(10,2), at DATETIME(3), KEY (name)) DEFAULT CHARSET=latin1",
			"INSERT INTO customer_db.dump_a (name, note, price, at) VALUES ('Ünïcødé ☃', 'it''s \"quoted\" \\\\ back', 12.50, '2024-01-02 03:04:05.678'), (NULL, NULL, NULL, NULL), ('plain', REPEAT('x', 3000), -1, NOW())",
			"CREATE TABLE customer_db.dump_b (k VARBINARY(16) PRIMARY KEY, v BLOB, t TIMESTAMP NULL) DEFAULT CHARSET=utf8mb4",
			"INSERT INTO customer_db.dump_b VALUES (0x00ff, 0xdeadbeef, '2020-02-29 12:00:00'), ('k2', '', NULL)",
			"CREATE VIEW customer_db.dump_v AS SELECT id, name FROM customer_db.dump_a")
		srv := e.customer.Primary
		checksums := func() string {
			return srv.QueryString(t, "SELECT CONCAT((SELECT COUNT(*) FROM customer_db.dump_a), ' ', (SELECT COUNT(*) FROM customer_db.dump_b), ' ', (SELECT COUNT(*) FROM customer_db.dump_v))") +
				" " + checksumTable(t, srv, "customer_db.dump_a") + " " + checksumTable(t, srv, "customer_db.dump_b") +
				" " + srv.QueryString(t, "SELECT GROUP_CONCAT(TABLE_NAME, ':', TABLE_COLLATION ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'customer_db' AND TABLE_NAME LIKE 'dump%'")
		}
		before := checksums()
		file := filepath.Join(t.TempDir(), "dump.sql")
		out, err := exec.Command(dump, "-h127.0.0.1", fmt.Sprintf("-P%d", srv.Port), "-uroot", "-p"+testcluster.RootPassword,
			"--result-file="+file, "customer_db", "dump_a", "dump_b", "dump_v").CombinedOutput()
		if err != nil {
			t.Fatalf("mariadb-dump: %v: %s", err, out)
		}
		p := conn(t, e.open(t, "app", "customer"))
		mustExec(t, p, "DROP VIEW dump_v", "DROP TABLE dump_a, dump_b")
		_, port, _ := strings.Cut(e.addr, ":")
		in, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		cmdCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cmdCtx, client, "-h127.0.0.1", "-P"+port, "-uapp", "-psecret", "customer")
		cmd.Stdin = in
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restore through the proxy: %v: %s", err, out)
		}
		if after := checksums(); after != before {
			t.Errorf("after the restore: %s\nbefore the dump:   %s", after, before)
		}
	})

	t.Run("a reused pooled connection has the recreated database's defaults", func(t *testing.T) {
		warmPool(t, e, "customer", "SELECT @@character_set_database", 4)
		p := conn(t, e.open(t, "app", ""))
		mustExec(t, p, "DROP DATABASE customer", "CREATE DATABASE customer CHARACTER SET utf8mb4", "USE customer",
			"CREATE TABLE t_cs (a VARCHAR(10))")
		if got := e.customer.Primary.QueryString(t, "SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'customer_db' AND TABLE_NAME = 't_cs'"); !strings.HasPrefix(got, "utf8mb4") {
			t.Errorf("table created after CREATE DATABASE ... utf8mb4; USE: collation %q", got)
		}
		// Every pooled connection: held at once, so each is a different one.
		db := e.open(t, "app", "customer")
		var txs []*sql.Tx
		for i := 0; i < 5; i++ {
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			txs = append(txs, tx)
			var cs string
			if err := tx.QueryRow("SELECT @@character_set_database").Scan(&cs); err != nil || cs != "utf8mb4" {
				t.Errorf("connection %d: @@character_set_database = %q, %v; want utf8mb4", i, cs, err)
			}
		}
		for _, tx := range txs {
			_ = tx.Rollback()
		}
	})

	t.Run("DROP DATABASE of the current database", func(t *testing.T) {
		p := conn(t, e.open(t, "app", "customer"))
		d := conn(t, e.customer.Primary.Open(t, "customer_db"))
		mustExec(t, d, "CREATE TABLE IF NOT EXISTS t_drop (a INT)")
		sameOutcomes(t, p, d, "SELECT COUNT(*) FROM t_drop") // DATABASE() differs here: the keyspace is named customer
		if _, err := p.ExecContext(ctx, "DROP DATABASE customer"); err != nil {
			t.Fatal(err)
		}
		e.customer.Primary.Exec(t, "CREATE DATABASE customer_db") // the reference session drops its current one too
		if _, err := d.ExecContext(ctx, "DROP DATABASE customer_db"); err != nil {
			t.Fatal(err)
		}
		sameOutcomes(t, p, d, "SELECT DATABASE()", "SELECT DATABASE(), 1", "SELECT COUNT(*) FROM t_drop", "SELECT 2", "SET time_zone = '+01:00'", "SELECT @@time_zone")
		// Not the current database: the session keeps its own.
		q := conn(t, e.open(t, "app", "commerce"))
		mustExec(t, q, "CREATE DATABASE customer", "DROP DATABASE IF EXISTS customer", "DROP DATABASE IF EXISTS customer", "CREATE DATABASE customer")
		if got := value(t, q, "SELECT DATABASE()"); got != "commerce" {
			t.Errorf("DATABASE() after dropping another keyspace's database = %q", got)
		}
		c := conn(t, e.open(t, "app", "customer"))
		mustExec(t, c, "DROP DATABASE IF EXISTS nope_db")
		if got := value(t, c, "SELECT DATABASE()"); got != "customer" {
			t.Errorf("DATABASE() after DROP DATABASE IF EXISTS of another name = %q", got)
		}
	})

	t.Run("a session without a database", func(t *testing.T) {
		// The first keyspace's database is missing on its server: statements that need
		// no database do not care, as on the server.
		e.commerce.Primary.Exec(t, "DROP DATABASE commerce")
		p := conn(t, e.open(t, "app", ""))
		d := conn(t, e.commerce.Primary.Open(t, ""))
		sameOutcomes(t, p, d, "SELECT 1", "SELECT NOW() IS NOT NULL", "SELECT DATABASE()", "SELECT DATABASE(), 1",
			"SET time_zone = '+02:00'", "SELECT @@time_zone", "SHOW VARIABLES LIKE 'time_zone'",
			"SET @x = 5", "SELECT @x", "SELECT * FROM unknown_table",
			"CALL some_proc()", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
		// Prepared (go-sql-driver prepares a statement with arguments) the same way.
		if got, want := outcome(ctx, p, "SELECT DATABASE(), ? + 1", 41), "[DATABASE() ? + 1]: NULL 42;"; got != want { // the server's column name when prepared
			t.Errorf("prepared SELECT DATABASE(), ? + 1 = %s, want %s", got, want)
		}
		if got := outcome(ctx, p, "VEXPLAIN PLAN SELECT 1"); !strings.Contains(got, "Route (no database selected)") {
			t.Errorf("VEXPLAIN PLAN SELECT 1 without a database = %s", got)
		}
		// Prepared DROP DATABASE of the current one: the session has none after it too.
		s := conn(t, e.open(t, "app", "customer"))
		st, err := s.PrepareContext(ctx, "DROP DATABASE customer")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
		if got := value(t, s, "SELECT DATABASE()"); got != "NULL" {
			t.Errorf("DATABASE() after a prepared DROP DATABASE of the current one = %s", got)
		}
	})
}

func checksumTable(t *testing.T, s *testcluster.Server, table string) string {
	t.Helper()
	d := s.Open(t, "")
	var name string
	var sum sql.NullString
	if err := d.QueryRow("CHECKSUM TABLE "+table).Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	return sum.String
}

func TestDefaultKeyspace(t *testing.T) {
	e := startEnv(t, func(c *Config) { c.DefaultKeyspace = "customer" })
	e.commerce.Primary.Exec(t, "DROP DATABASE commerce") // the first keyspace by name does not matter
	p := conn(t, e.open(t, "app", ""))
	for _, c := range []struct{ q, want string }{
		{"SELECT 1", "[1]: 1;"},
		{"SELECT DATABASE()", "[DATABASE()]: NULL;"},
		{"SELECT DATABASE(), 1", "[database() 1]: NULL 1;"},
		{"CREATE TABLE t_default (a INT)", "ok"},
		{"INSERT INTO t_default VALUES (7)", "ok"},
		{"SELECT a FROM t_default", "[a]: 7;"},
		{"SELECT COUNT(*) FROM customer", "[COUNT(*)]: 0;"},
		{"SET @v = 3", "ok"},
		{"SELECT @v", "[@v]: 3;"},
	} {
		if got := outcome(context.Background(), p, c.q); got != c.want {
			t.Errorf("%s = %s, want %s", c.q, got, c.want)
		}
	}
	if got := e.customer.Primary.QueryString(t, "SELECT a FROM customer_db.t_default"); got != "7" {
		t.Errorf("t_default on customer's primary: %q", got)
	}
}
