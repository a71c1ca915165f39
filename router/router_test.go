package router

import (
	"context"
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

// memShared is an in-memory SharedSchema: a revision counter and a compare-and-swap that
// another "instance" can win (bump simulates a concurrent change).
type memShared struct {
	s     *Schema
	rev   int64
	calls int
	bump  func(*Schema) // applied once, between the edit's read and its store
}

func (m *memShared) UpdateSchema(_ context.Context, edit func(*Schema) error) (*Schema, int64, error) {
	for {
		m.calls++
		readRev := m.rev
		s := m.s.Clone()
		if err := edit(s); err != nil {
			return m.s.Clone(), m.rev, err
		}
		if m.bump != nil { // another instance stores first: our read is stale
			m.bump(m.s)
			m.bump = nil
			m.rev++
		}
		if readRev != m.rev {
			continue
		}
		m.s, m.rev = s, m.rev+1
		return s.Clone(), m.rev, nil
	}
}

func TestSharedHolder(t *testing.T) {
	ks := map[string]*Keyspace{"commerce": {Name: "commerce", Primary: "a:1"}, "customer": {Name: "customer", Primary: "b:1"}}
	m := &memShared{s: &Schema{VSchema: map[string]*KeyspaceVSchema{}, Rules: map[string]string{}}, rev: 10}
	h, err := NewSharedHolder(ks, m.s, 10, m)
	if err != nil {
		t.Fatal(err)
	}
	var seen []int64
	h.OnChange(func(t *Table) { seen = append(seen, t.Revision) })

	// A concurrent change by another instance is kept: the edit runs again on it.
	m.bump = func(s *Schema) { s.AddTable("commerce", "product") }
	tb, err := h.Update(func(s *Schema) error { s.AddTable("customer", "corder"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if tb.Revision != 12 || m.calls != 2 || len(tb.VSchemaTables("commerce")) != 1 || len(tb.VSchemaTables("customer")) != 1 {
		t.Fatalf("revision %d calls %d tables %v %v", tb.Revision, m.calls, tb.VSchemaTables("commerce"), tb.VSchemaTables("customer"))
	}

	// A schema this instance cannot route is refused before it is stored.
	if _, err := h.Update(func(s *Schema) error { s.Rules["t"] = "nowhere.t"; return nil }); err == nil {
		t.Fatal("rule to an unknown keyspace accepted")
	}
	if m.rev != 12 || len(m.s.Rules) != 0 {
		t.Fatalf("refused edit was stored: rev %d rules %v", m.rev, m.s.Rules)
	}

	// Apply: an older or equal revision is ignored, a newer one installed without storing.
	if _, applied, _ := h.Apply(&Schema{}, 12); applied {
		t.Fatal("same revision applied again")
	}
	remote := m.s.Clone()
	remote.AddTable("customer", "customer")
	tb, applied, err := h.Apply(remote, 15)
	if err != nil || !applied || tb.Revision != 15 || len(tb.VSchemaTables("customer")) != 2 || m.rev != 12 {
		t.Fatalf("Apply: %v %v revision %d tables %v store rev %d", err, applied, tb.Revision, tb.VSchemaTables("customer"), m.rev)
	}
	if _, applied, err := h.Apply(&Schema{Rules: map[string]string{"t": "nowhere.t"}}, 16); err == nil || applied || h.Load().Revision != 15 {
		t.Fatalf("unroutable remote schema: %v %v, serving %d", err, applied, h.Load().Revision)
	}

	// ErrNoChange on a stored schema newer than ours installs it.
	m.s.AddTable("commerce", "extra")
	m.rev = 20
	tb, err = h.Update(func(*Schema) error { return ErrNoChange })
	if err != nil || tb.Revision != 20 || len(tb.VSchemaTables("commerce")) != 2 {
		t.Fatalf("ErrNoChange: %v revision %d", err, tb.Revision)
	}
	// A config reload keeps the revision and stores nothing.
	calls := m.calls
	if tb, err = h.SetKeyspaces(ks); err != nil || tb.Revision != 20 || m.calls != calls {
		t.Fatalf("SetKeyspaces: %v revision %d", err, tb.Revision)
	}
	if want := []int64{12, 15, 20, 20}; len(seen) != len(want) || seen[0] != 12 || seen[1] != 15 || seen[2] != 20 || seen[3] != 20 {
		t.Fatalf("OnChange revisions %v, want %v", seen, want)
	}
}
