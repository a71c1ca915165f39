package proxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// answer is what a client sees of one statement: its first result set, or its error.
type answer struct {
	Rows [][]string
	Code uint16
	Msg  string
}

func (o answer) String() string {
	if o.Code != 0 {
		return fmt.Sprintf("ERROR %d: %s", o.Code, o.Msg)
	}
	return fmt.Sprint(o.Rows)
}

// run executes q on c, through the text protocol, or prepared (the binary protocol).
func run(t *testing.T, c *sql.Conn, q string, prepared bool, args ...any) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rows *sql.Rows
	var err error
	if prepared {
		var st *sql.Stmt
		if st, err = c.PrepareContext(ctx, q); err == nil {
			defer st.Close()
			rows, err = st.QueryContext(ctx, args...)
		}
	} else {
		rows, err = c.QueryContext(ctx, q, args...)
	}
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			return answer{Code: me.Number, Msg: me.Message}
		}
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out answer
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out.Rows = append(out.Rows, row)
	}
	if err := rows.Err(); err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			return answer{Code: me.Number, Msg: me.Message}
		}
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func pinned(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSQLModeParsing: statements written for the session's sql_mode give, through the proxy,
// the answer MariaDB gives directly, in both protocols.
func TestSQLModeParsing(t *testing.T) {
	e := startEnv(t)
	direct := pinned(t, e.commerce.Primary.Open(t, "commerce"))
	// The direct DSN interpolates parameters; the comparison needs real prepared statements.
	ddb, err := sql.Open("mysql", strings.Replace(e.commerce.Primary.DSN("commerce"), "interpolateParams=true", "interpolateParams=false", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.Close() })
	direct = pinned(t, ddb)
	proxied := pinned(t, e.open(t, "app", "commerce"))

	same := func(q string, prepared bool, args ...any) answer {
		t.Helper()
		want := run(t, direct, q, prepared, args...)
		got := run(t, proxied, q, prepared, args...)
		if got.String() != want.String() {
			t.Errorf("%s (prepared %v): through the proxy %s, directly %s", q, prepared, got, want)
		}
		return got
	}
	set := func(q string, prepared bool) {
		t.Helper()
		for _, c := range []*sql.Conn{direct, proxied} {
			if o := run(t, c, q, prepared); o.Code != 0 {
				t.Fatalf("%s: %s", q, o)
			}
		}
	}

	for _, prepared := range []bool{false, true} {
		set("SET sql_mode = 'NO_BACKSLASH_ESCAPES'", prepared)
		o := same(`SELECT 'it''s', 'C:\path', 'a\\b', "x\y"`, prepared)
		if len(o.Rows) != 1 || o.Rows[0][1] != `C:\path` || o.Rows[0][2] != `a\\b` {
			t.Errorf("NO_BACKSLASH_ESCAPES: %s", o)
		}
		same(`SELECT sku FROM product WHERE sku = 'SKU-1001' OR description = 'x\'`, prepared)
		if prepared {
			same(`SELECT ?, 'C:\path'`, true, `a\b`)
		}

		set("SET sql_mode = 'ANSI_QUOTES'", prepared)
		o = same(`SELECT "sku" FROM product ORDER BY "sku"`, prepared)
		if len(o.Rows) != 2 || o.Rows[0][0] != "SKU-1001" {
			t.Errorf("ANSI_QUOTES: %s", o)
		}
		same(`SELECT "p"."sku", 'lit' FROM "product" AS "p" WHERE "price" > 50`, prepared)

		set("SET sql_mode = 'ANSI'", prepared)
		same(`SELECT "sku" || '-' || "description" FROM product ORDER BY 1`, prepared)
		same(`SELECT 'a' || 'b'`, prepared)

		// A value the proxy cannot evaluate: it asks the server.
		set("SET sql_mode = ''", prepared)
		set("SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", prepared)
		o = same(`SELECT "sku" FROM product ORDER BY 1`, prepared)
		if len(o.Rows) != 2 || o.Rows[0][0] != "SKU-1001" {
			t.Errorf("CONCAT(@@sql_mode, ',ANSI_QUOTES'): %s", o)
		}
		set("SET sql_mode = DEFAULT", prepared)
		same(`SELECT "sku" FROM product ORDER BY 1`, prepared) // a string again
	}

	// Statements the proxy rewrites (customer.customer is customer_db.customer on its server):
	// a misread would change the answer, not only the route.
	if o := run(t, proxied, "INSERT INTO customer.customer (customer_id, email) VALUES (1, 'a@x')", false); o.Code != 0 {
		t.Fatal(o)
	}
	for _, prepared := range []bool{false, true} {
		for _, c := range []struct{ mode, q, want string }{
			{"ANSI_QUOTES", `SELECT "email", 'lit' FROM customer.customer WHERE "customer_id" = 1`, "[[a@x lit]]"},
			{"NO_BACKSLASH_ESCAPES", `SELECT 'C:\path', 'it''s', email FROM customer.customer WHERE email <> 'x\'`, `[[C:\path it's a@x]]`},
			{"NO_BACKSLASH_ESCAPES,ANSI_QUOTES", `SELECT "email", 'a\' FROM customer.customer`, `[[a@x a\]]`},
			{"", `SELECT 'C:\\path', "email" FROM customer.customer`, `[[C:\path email]]`},
		} {
			if o := run(t, proxied, "SET sql_mode = '"+c.mode+"'", prepared); o.Code != 0 {
				t.Fatal(o)
			}
			if o := run(t, proxied, c.q, prepared); o.String() != c.want {
				t.Errorf("sql_mode %q: %s (prepared %v): %s, want %s", c.mode, c.q, prepared, o, c.want)
			}
		}
	}

	// A write under NO_BACKSLASH_ESCAPES stores what the server reads.
	set("SET sql_mode = 'NO_BACKSLASH_ESCAPES'", false)
	if o := run(t, proxied, `INSERT INTO product VALUES ('a\\b', 'C:\path', 1)`, false); o.Code != 0 {
		t.Fatal(o)
	}
	if o := run(t, direct, `SELECT description FROM product WHERE sku = 'a\\b'`, false); o.String() != `[[C:\path]]` {
		t.Errorf("row written through the proxy under NO_BACKSLASH_ESCAPES: %s", o)
	}
	// In a multi-statement: split as the server reads it ('a\' ends the string).
	multi := e.open(t, "app", "commerce", "multiStatements=true")
	mc := pinned(t, multi)
	if o := run(t, mc, `SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\'`, false); o.Code != 0 {
		t.Errorf("multi-statement under NO_BACKSLASH_ESCAPES: %s", o)
	}
}

// TestUnparsedStatements: statements outside the parser's grammar run in the session's
// keyspace with the server's answer; one that may name a table routed elsewhere is refused.
func TestUnparsedStatements(t *testing.T) {
	e := startEnv(t)
	ddb, err := sql.Open("mysql", strings.Replace(e.commerce.Primary.DSN("commerce"), "interpolateParams=true", "interpolateParams=false", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ddb.Close() })
	direct := pinned(t, ddb)
	proxied := pinned(t, e.open(t, "app", "commerce"))
	same := func(q string, prepared bool) answer {
		t.Helper()
		want := run(t, direct, q, prepared)
		got := run(t, proxied, q, prepared)
		if got.String() != want.String() {
			t.Errorf("%s (prepared %v): through the proxy %s, directly %s", q, prepared, got, want)
		}
		return got
	}
	before := testutil.ToFloat64(e.proxy.unparsedSent)

	// A stored procedure whose body the parser refuses; CALL relays its SIGNAL.
	if o := run(t, proxied, `CREATE PROCEDURE p() BEGIN SIGNAL SQLSTATE '45001' SET MESSAGE_TEXT = "an error", MYSQL_ERRNO = 45001; END`, false); o.Code != 0 {
		t.Fatalf("CREATE PROCEDURE: %s", o)
	}
	for _, prepared := range []bool{false, true} {
		if o := same("CALL p()", prepared); o.Code != 45001 || o.Msg != "an error" {
			t.Errorf("CALL p() (prepared %v): %s", prepared, o)
		}
	}
	if o := run(t, proxied, "CREATE OR REPLACE TABLE t_cor (a INT)", false); o.Code != 0 {
		t.Errorf("CREATE OR REPLACE TABLE: %s", o)
	}
	for _, q := range []string{
		"CHECK TABLE product",
		"ANALYZE TABLE product",
		"EXPLAIN EXTENDED SELECT * FROM product",
		"EXECUTE IMMEDIATE 'SELECT 1'",
		"SET STATEMENT max_statement_time=10 FOR SELECT 1",
		"/*!100000 SELECT 1 */",
		"/*M!100000 SELECT 1 */",
		"SELECT 1 /*!999999 , 2 */",
		"SELECT COUNT(*) FROM product GROUP BY YEAR(NOW()) WITH ROLLUP",
		"CHECK TABLEX product", // the server's own syntax error, message and all
	} {
		same(q, false)
	}
	for _, q := range []string{"CHECK TABLE product", "SET STATEMENT max_statement_time=10 FOR SELECT 1",
		"/*M!100000 SELECT 1 */", "SELECT COUNT(*) FROM product GROUP BY YEAR(NOW()) WITH ROLLUP"} {
		same(q, true)
	}
	// LOCK TABLE (singular) keeps the connection: the lock is there for the next statements.
	if o := run(t, proxied, "LOCK TABLE product READ", false); o.Code != 0 {
		t.Fatalf("LOCK TABLE: %s", o)
	}
	if o := run(t, proxied, "INSERT INTO product VALUES ('x', 'y', 1)", false); o.Code != 1099 {
		t.Errorf("write under LOCK TABLE ... READ: %s, want error 1099", o)
	}
	if o := run(t, proxied, "UNLOCK TABLES", false); o.Code != 0 {
		t.Fatalf("UNLOCK TABLES: %s", o)
	}

	// VEXPLAIN PLAN shows the fallback.
	o := run(t, proxied, "VEXPLAIN PLAN CHECK TABLE product", false)
	if len(o.Rows) != 1 || o.Rows[0][0] != "Route (unparsed: sent unchanged)" || o.Rows[0][1] != "commerce" {
		t.Errorf("VEXPLAIN PLAN: %s", o)
	}
	if after := testutil.ToFloat64(e.proxy.unparsedSent); after < before+10 {
		t.Errorf("vtgate_lite_unparsed_statements_total{result=sent} went from %v to %v", before, after)
	}

	// Refused: a table of another keyspace, a table a routing rule sends elsewhere.
	if _, err := e.holder.Update(func(s *router.Schema) error { s.Rules["moved"] = "customer.customer"; return nil }); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"CHECK TABLE customer":                            "table customer is in keyspace customer",
		"CHECK TABLE moved":                               "table moved is routed to customer.customer (routing rule moved)",
		"EXECUTE IMMEDIATE 'SELECT * FROM moved'":         "table moved is routed to customer.customer",
		"SELECT 1 /*!100000 FROM customer */ WITH ROLLUP": "table customer is in keyspace customer",
	} {
		o := run(t, proxied, q, false)
		if o.Code != 1105 || !strings.Contains(o.Msg, want) || !strings.Contains(o.Msg, "could not be parsed") {
			t.Errorf("%s: %s, want error 1105 with %q", q, o, want)
		}
	}
	if testutil.ToFloat64(e.proxy.unparsedRefused) < 4 {
		t.Errorf("vtgate_lite_unparsed_statements_total{result=refused} = %v", testutil.ToFloat64(e.proxy.unparsedRefused))
	}
	// Without a keyspace: the parser's syntax error, as before.
	none := pinned(t, e.open(t, "app", ""))
	if o := run(t, none, "CHECK TABLE product", false); o.Code != 1064 {
		t.Errorf("no keyspace: %s, want 1064", o)
	}
	// A multi-statement holding a stored program is split as the server reads it.
	mc := pinned(t, e.open(t, "app", "commerce", "multiStatements=true"))
	if o := run(t, mc, "CREATE PROCEDURE p4() BEGIN DECLARE x INT; SET x = 1; SELECT x; END; SELECT 7", false); o.Code != 0 {
		t.Errorf("multi-statement with a procedure: %s", o)
	}
	if o := run(t, proxied, "CALL p4()", false); o.String() != "[[1]]" {
		t.Errorf("CALL p4(): %s", o)
	}
}
