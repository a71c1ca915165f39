package planner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/router"
)

func TestDigest(t *testing.T) {
	for _, c := range []struct {
		sql, want string
		ok        bool
	}{
		{"SELECT c FROM sbtest1 WHERE id=5561", "SELECT c FROM sbtest1 WHERE id=?", true},
		{"select * from t where a = 'x''y' and b = 'its' and c = 1.5", "select * from t where a = ? and b = ? and c = ?.?", true},
		{"select * from t where b = 'it\\'s'", "select * from t where b = ?", true}, // one literal in the default mode (NO_BACKSLASH_ESCAPES: TestDigestMode)
		{"select 'a\\'; set global max_connections = 1 -- '", "select ?", true},     // one literal too: the server reads it so
		{"INSERT INTO t1 (k, c) VALUES (12, 'abc'), (-3, x'0F')", "INSERT INTO t1 (k, c) VALUES (?, ?), (-?, x?)", true},
		{"select `1`, \"a'b\", t2.c3 from `db 1`.t2 order by 2 limit 10", "select `1`, \"a'b\", t2.c3 from `db 1`.t2 order by ? limit ?", true},
		{"select 1e5, 0x1F, 2 from dual", "select 1e5, 0x1F, ? from dual", true},
		{"select a from t", "", false},                       // no literal: the text is its own key
		{"select 1; select 2", "", false},                    // two statements
		{"select /*+ MAX_EXECUTION_TIME(1) */ 1", "", false}, // hint or /*! code */
		{"select 1 -- c", "", false},
		{"select 1 # c", "", false},
		{"select * from t where id = ?", "", false}, // placeholder
		{"select 'open", "", false},
		{"select \\N", "", false},
		{"select 1 from tëst where x = 2", "select ? from tëst where x = ?", true},
	} {
		got, ok := Digest(c.sql)
		if got != c.want || ok != c.ok {
			t.Errorf("Digest(%q) = %q, %v; want %q, %v", c.sql, got, ok, c.want, c.ok)
		}
	}
}

var literalRE = regexp.MustCompile(`'[^']*'|\b[0-9]+\b`)

// TestDigestPlansAgree: for every golden statement, a copy with other literal values has the
// same digest and, when the proxy would reuse the plan by digest (a Route that sends the
// client's text), exactly the same plan when built from scratch.
func TestDigestPlansAgree(t *testing.T) {
	rt := goldenTable(t)
	parser := Parser()
	files, _ := filepath.Glob("testdata/*_cases.json")
	// Statements shaped like what applications send with inlined parameters, beyond the
	// golden files.
	var extra []golden
	for _, ks := range []string{"", "commerce", "customer"} {
		for _, q := range []string{
			"select * from product where sku = 'SKU-1001'",
			"select sku, price from product where price > 10 and price < 20.5 order by 2 desc limit 5",
			"select * from customer where customer_id in (1, 2, 3)",
			"select count(*) from corder where customer_id = 7 group by sku having count(*) > 1",
			"insert into corder (order_id, customer_id, sku, price) values (1, 2, 'SKU-1', 100)",
			"insert into product (sku, description, price) values ('a', 'b', 1) on duplicate key update price = price + 1",
			"update customer set email = 'x@y' where customer_id = 5",
			"delete from corder where order_id = 9 limit 1",
			"select get_lock('lock-1', 10)",
			"select @x := 5, release_lock('l')",
			"select * from corder where customer_id = (select customer_id from customer where email = 'a' limit 1)",
			"select * from customer where customer_id = 1 for update",
			"replace into product values ('s', 'd', 3)",
			"select 1 from dual where 2 > 1",
		} {
			extra = append(extra, golden{Query: q, Keyspace: ks}, golden{Query: q, Keyspace: ks, Tablet: "replica"})
		}
	}
	reused := 0
	for _, f := range append(files, "extra") {
		var cases []golden
		if f == "extra" {
			cases = extra
		} else {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &cases); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range cases {
			sess := Session{Keyspace: c.Keyspace, Mode: ParseSQLMode(c.SQLMode).WithVersion(101106)}
			if c.Tablet != "" {
				sess.TabletType, _ = router.ParseTabletType(c.Tablet)
			}
			if sess.Mode&ModeNoBackslashEscapes != 0 || strings.Contains(c.Query, "\\") {
				continue // literalRE does not read backslash escapes
			}
			other := literalRE.ReplaceAllStringFunc(c.Query, func(l string) string {
				if l[0] == '\'' {
					return "'other value'"
				}
				return "977"
			})
			d1, ok1 := DigestMode(c.Query, sess.Mode)
			d2, ok2 := DigestMode(other, sess.Mode)
			if ok1 != ok2 || d1 != d2 {
				t.Errorf("%q and %q: digests %q/%v and %q/%v", c.Query, other, d1, ok1, d2, ok2)
				continue
			}
			if !ok1 {
				continue
			}
			p1, err1 := build(parser, c.Query, sess, rt)
			if err1 != nil || !DigestReusable(p1) {
				continue
			}
			p2, err2 := build(parser, other, sess, rt)
			if err2 != nil || !reflect.DeepEqual(p1, p2) {
				t.Errorf("%q: plan %+v, but %q: plan %+v, %v", c.Query, p1, other, p2, err2)
			}
			reused++
		}
	}
	if reused < 40 {
		t.Errorf("only %d golden statements would reuse a plan by digest: the test checks too little", reused)
	}
	t.Logf("%d golden statements checked with other literal values", reused)
}

func build(parser *sqlparser.Parser, sql string, sess Session, rt *router.Table) (*Plan, error) {
	return PlanSQL(parser, sql, sess, rt)
}

// TestDigestMode: under NO_BACKSLASH_ESCAPES a backslash ends no string, so text that hides a
// second statement from the default reading never shares the plan (and the privilege
// verdict) of a one-literal SELECT.
func TestDigestMode(t *testing.T) {
	nbe := ParseSQLMode("NO_BACKSLASH_ESCAPES")
	hidden := "select 'a\\'; set global max_connections = 1 -- '"
	plain, _ := DigestMode("select 'x'", nbe)
	if d, ok := DigestMode(hidden, nbe); ok && d == plain {
		t.Errorf("DigestMode(%q, NO_BACKSLASH_ESCAPES) = %q: the plan of %q", hidden, d, "select 'x'")
	}
	if d, ok := DigestMode("select 'C:\\path'", nbe); !ok || d != "select ?" {
		t.Errorf("DigestMode of a backslash literal under NO_BACKSLASH_ESCAPES = %q, %v; want select ?, true", d, ok)
	}
	if _, ok := DigestMode("select 1", ModeUnknown); ok {
		t.Error("an unknown mode has a digest")
	}
}
