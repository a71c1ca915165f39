package topo

import (
	"context"
	"testing"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/store"
)

// The file topology is the state store's routing_schema document: seeded once, changed in
// place, read back by the next process; its registry is the process itself.
func TestFileTopology(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	f := OpenFile(st, dir)
	seed := emptySchema()
	seed.AddTable("commerce", "product")
	v, _, err := Boot(ctx, f, BootOptions{Seed: seed, Log: testLog})
	if err != nil {
		t.Fatal(err)
	}
	h, err := router.NewSharedHolder(testKeyspaces, v.Schema, v.Revision, SharedSchema(f))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := h.Update(func(s *router.Schema) error { s.AddTable("customer", "corder"); return nil })
	if err != nil || tb.Revision != v.Revision+1 {
		t.Fatalf("Update: %v revision %d", err, tb.Revision)
	}
	r, _ := f.Register(ctx, Instance{ID: "only", MySQLAddr: "127.0.0.1:15306"})
	r.SetRevision(tb.Revision)
	if err := AwaitServed(ctx, f, tb.Revision, 0); err != nil {
		t.Fatal(err)
	}
	insts, _ := f.Instances(ctx)
	if len(insts) != 1 || insts[0].ID != "only" || insts[0].RevisionServed != tb.Revision {
		t.Fatalf("Instances = %+v", insts)
	}
	r.Close()

	// The next process reads what the first stored, in the format store.SchemaStore reads.
	sc, ok, err := store.SchemaStore{Store: st}.LoadSchema()
	if err != nil || !ok || sc.VSchema["customer"].Tables["corder"] == nil || sc.VSchema["commerce"].Tables["product"] == nil {
		t.Fatalf("stored schema %+v %v %v", sc, ok, err)
	}
	v2, _, err := Boot(ctx, OpenFile(st, dir), BootOptions{Seed: emptySchema(), Log: testLog})
	if err != nil || len(v2.Schema.VSchema["customer"].Tables) != 1 {
		t.Fatalf("second boot: %+v %v", v2, err)
	}
}
