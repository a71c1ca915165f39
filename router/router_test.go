package router

import (
	"errors"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

func testTable(t *testing.T, rules map[string]string) *Table {
	t.Helper()
	ks := map[string]*Keyspace{
		"commerce": {Name: "commerce", Database: "commerce", Primary: "a:1", Replicas: []Server{{"a:2", Replica}, {"a:3", Rdonly}}},
		"customer": {Name: "customer", Database: "cust_db", Primary: "b:1"},
	}
	s := &Schema{VSchema: map[string]*KeyspaceVSchema{}, Rules: rules}
	for _, tb := range []string{"product", "customer", "corder"} {
		s.AddTable("commerce", tb)
	}
	s.AddTable("customer", "customer")
	s.AddTable("customer", "corder")
	tbl, err := Build(1, ks, s)
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestResolve(t *testing.T) {
	moving := map[string]string{
		"customer": "commerce.customer", "customer.customer": "commerce.customer", "commerce.customer": "commerce.customer",
		"customer@replica": "customer.customer", "customer.customer@replica": "customer.customer", "commerce.customer@replica": "customer.customer",
	}
	cases := []struct {
		name                 string
		rules                map[string]string
		qual, table, session string
		tt                   TabletType
		wantKS               string
		wantCode             uint16
	}{
		{"unique owner", nil, "", "product", "", Primary, "commerce", 0},
		{"qualified", nil, "customer", "corder", "", Primary, "customer", 0},
		{"unknown qualifier", nil, "nope", "t", "", Primary, "", sqlerr.ERBadDB},
		{"ambiguous resolved by session", nil, "", "customer", "customer", Primary, "customer", 0},
		{"ambiguous without session", nil, "", "customer", "", Primary, "", sqlerr.ERNoSuchTable},
		{"not in vschema goes to session", nil, "", "other", "commerce", Primary, "commerce", 0},
		{"not in vschema no session", nil, "", "other", "", Primary, "", sqlerr.ERNoDB},
		{"rule primary", moving, "", "customer", "", Primary, "commerce", 0},
		{"rule replica", moving, "", "customer", "", Replica, "customer", 0},
		{"rule rdonly falls back to untyped", moving, "", "customer", "", Rdonly, "commerce", 0},
		{"qualified rule", moving, "customer", "customer", "", Primary, "commerce", 0},
		{"qualified rule replica", moving, "commerce", "customer", "", Replica, "customer", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := testTable(t, c.rules).Resolve(c.qual, c.table, c.session, c.tt)
			if c.wantCode != 0 {
				var e *sqlerr.Error
				if !errors.As(err, &e) || e.Code != c.wantCode {
					t.Fatalf("err = %v, want code %d", err, c.wantCode)
				}
				return
			}
			if err != nil || got.Keyspace != c.wantKS {
				t.Fatalf("got %+v, %v; want keyspace %s", got, err, c.wantKS)
			}
		})
	}
}

type memPersister struct{ saved []*Schema }

func (m *memPersister) SaveSchema(s *Schema) error { m.saved = append(m.saved, s.Clone()); return nil }

func TestHolderUpdateSwapsAndPersists(t *testing.T) {
	p := &memPersister{}
	h, err := NewHolder(map[string]*Keyspace{"commerce": {Name: "commerce", Primary: "a:1"}}, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	before := h.Load()
	after, err := h.Update(func(s *Schema) error { s.AddTable("commerce", "t1"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(before.VSchemaTables("commerce")) != 0 {
		t.Fatal("old table was modified in place")
	}
	if got := after.VSchemaTables("commerce"); len(got) != 1 || got[0] != "t1" || h.Load() != after {
		t.Fatalf("new table = %v", got)
	}
	if len(p.saved) != 1 {
		t.Fatalf("persisted %d times", len(p.saved))
	}
	if _, err := h.Update(func(s *Schema) error { s.Rules["t1"] = "missing.t1"; return nil }); err == nil {
		t.Fatal("rule to an unknown keyspace accepted")
	}
	if h.Load() != after || len(p.saved) != 1 {
		t.Fatal("failed update changed state")
	}
}

func TestRulesJSONRoundTrip(t *testing.T) {
	s := &Schema{Rules: map[string]string{"customer@replica": "customer.customer", "customer": "commerce.customer"}}
	b, err := s.RulesJSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRulesJSON(b)
	if err != nil || len(got) != 2 || got["customer@replica"] != "customer.customer" {
		t.Fatalf("round trip: %v %v", got, err)
	}
}
