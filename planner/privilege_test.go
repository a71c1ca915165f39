package planner

import (
	"os"
	"strings"
	"testing"
)

// TestReasonsNamed: every reason has its own label, and docs/errors.md names it.
func TestReasonsNamed(t *testing.T) {
	doc, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for r := range NumReasons {
		n := r.String()
		if n == "" || n == "unknown" || seen[n] {
			t.Errorf("reason %d: label %q", r, n)
		}
		seen[n] = true
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("docs/errors.md does not name reason `%s`", n)
		}
	}
}

func TestOpenExecutableComments(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"select 1 /*M!, 2 */", "select 1  , 2  "},
		{"select 1 /*!50000 , 2 */", "select 1   , 2  "},
		{"select 1 /*!100000 , 2 */", "select 1   , 2  "},
		{"select 1 /*M!999999 , 2 */", "select 1   , 2  "},
		{"select '/*!', 1 /*!, 2 */", "select '/*!', 1  , 2  "},
		{"select 1 /* plain */ /*!, 2 */", "select 1 /* plain */  , 2  "},
		{"select 1 -- /*!, 2 */\n", "select 1 -- /*!, 2 */\n"},
	} {
		got, ok := openExecutableComments(c.in)
		if !ok || got != c.out {
			t.Errorf("%q: %q, %v; want %q", c.in, got, ok, c.out)
		}
	}
	if _, ok := openExecutableComments("select 1 /* plain */"); ok {
		t.Error("a plain comment is not executable")
	}
}

// FuzzPrivilege: any text gets a verdict or none, never a panic (the checks read text the
// parser rejected, and comments).
func FuzzPrivilege(f *testing.F) {
	for _, s := range []string{"SHUTDOWN", "select 1 /*M!, load_file('x') */", "set statement sql_log_bin=0 for select 1",
		"/*!50000 GRANT", "select @", "select @'x", "select \"mysql\".", "load data local", "-- ", "/*", "/*M!", "@@"} {
		f.Add(s)
	}
	parser := Parser()
	f.Fuzz(func(t *testing.T, sql string) {
		_ = UnparsedDenial(sql)
		if stmt, err := parser.Parse(sql); err == nil {
			_ = privilege(stmt, sql)
		}
	})
}
