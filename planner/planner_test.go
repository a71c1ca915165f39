package planner

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

type golden struct {
	Comment  string          `json:"comment,omitempty"`
	Query    string          `json:"query"`
	Keyspace string          `json:"session_keyspace,omitempty"`
	Tablet   string          `json:"session_tablet_type,omitempty"`
	SQLMode  string          `json:"sql_mode,omitempty"`
	Default  string          `json:"default_keyspace,omitempty"`
	Plan     json.RawMessage `json:"plan,omitempty"`
	Error    string          `json:"error,omitempty"`
	// Refusal is the error a user without admin gets (privilege_cases.json), as app@127.0.0.1.
	Refusal string `json:"refusal,omitempty"`
}

func goldenTable(t *testing.T) *router.Table {
	ks := map[string]*router.Keyspace{
		"commerce": {Name: "commerce", Database: "commerce", Primary: "p:1", Replicas: []router.Server{{Address: "r:1", Type: router.Replica}}},
		"customer": {Name: "customer", Database: "customer_db", Primary: "p:2"},
	}
	s := &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{
		"corder@replica": "customer.corder",
		// moved: a table a workflow moved from commerce to customer (writes switched).
		"moved": "customer.moved", "commerce.moved": "customer.moved", "customer.moved": "customer.moved",
		// staying: a workflow from commerce to customer before its switch.
		"staying": "commerce.staying", "commerce.staying": "commerce.staying", "customer.staying": "commerce.staying",
	}}
	s.AddTable("commerce", "product")
	s.AddTable("customer", "customer")
	s.AddTable("customer", "corder")
	tbl, err := router.Build(1, ks, s)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestGoldenPlans(t *testing.T) {
	files, _ := filepath.Glob("testdata/*_cases.json")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	rt := goldenTable(t)
	parser := Parser()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []golden
		if err := json.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range cases {
			c := &cases[i]
			sess := Session{Keyspace: c.Keyspace, Default: c.Default}
			if c.Tablet != "" {
				sess.TabletType, _ = router.ParseTabletType(c.Tablet)
			}
			if c.SQLMode != "" {
				sess.Mode = ParseSQLMode(c.SQLMode)
			}
			sess.Mode = sess.Mode.WithVersion(101106)
			var got json.RawMessage
			var gotErr, refusal string
			p, err := PlanSQL(parser, c.Query, sess, rt)
			if err == nil {
				got, _ = json.MarshalIndent(p, "      ", "  ")
				if p.Deny != nil {
					e := p.Deny.Error("app", "127.0.0.1", true)
					refusal = "ERROR " + itoa(int(e.Code)) + " (" + e.State + "): " + e.Message
				}
			}
			if err != nil {
				var e *sqlerr.Error
				if errors.As(err, &e) {
					gotErr = e.Message
					gotErr = "ERROR " + itoa(int(e.Code)) + ": " + gotErr
				} else {
					gotErr = "ERROR: " + err.Error()
				}
			}
			if *update {
				c.Plan, c.Error, c.Refusal = got, gotErr, refusal
				continue
			}
			if refusal != c.Refusal {
				t.Errorf("%s: %q: refusal %q, want %q", f, c.Query, refusal, c.Refusal)
			}
			if gotErr != c.Error {
				t.Errorf("%s: %q: error %q, want %q", f, c.Query, gotErr, c.Error)
				continue
			}
			if c.Error == "" && !jsonEqual(t, got, c.Plan) {
				t.Errorf("%s: %q:\n got %s\nwant %s", f, c.Query, got, c.Plan)
			}
		}
		if *update {
			out, _ := json.MarshalIndent(cases, "", "  ")
			if err := os.WriteFile(f, append(out, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ab, _ := json.Marshal(x)
	bb, _ := json.Marshal(y)
	return string(ab) == string(bb)
}

// FuzzBuild: any statement the parser accepts yields a plan or an error, never a panic.
func FuzzBuild(f *testing.F) {
	for _, s := range []string{"select * from product", "select * from commerce.product join customer.corder", "use customer@replica",
		"set names utf8mb4", "insert into corder select * from product", "vexplain plan select 1", "show tables from customer"} {
		f.Add(s)
	}
	rt := goldenTable(&testing.T{})
	parser := Parser()
	f.Fuzz(func(t *testing.T, sql string) {
		_, _ = Digest(sql) // any text: no panic
		stmt, err := parser.Parse(sql)
		if err != nil {
			return
		}
		for _, sess := range []Session{{}, {Keyspace: "commerce"}, {Keyspace: "customer", TabletType: router.Replica}} {
			_, _ = Build(stmt, sql, sess, rt)
		}
	})
}
