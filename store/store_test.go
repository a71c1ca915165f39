package store

import (
	"testing"

	"github.com/vtgate-lite/vtgate-lite/router"
)

func TestFileStoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	fs, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := fs.Get("a"); ok || err != nil {
		t.Fatalf("missing key: ok=%v err=%v", ok, err)
	}
	if err := fs.Put("twopc_1", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := fs.Put("../evil", nil); err == nil {
		t.Fatal("path traversal key accepted")
	}
	ss := SchemaStore{fs}
	sc := &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{"t": "ks.t"}}
	sc.AddTable("ks", "t")
	if err := ss.SaveSchema(sc); err != nil {
		t.Fatal(err)
	}
	// A new store on the same dir (a restart) sees what was saved.
	fs2, _ := Open(dir)
	got, ok, err := SchemaStore{fs2}.LoadSchema()
	if err != nil || !ok || got.Rules["t"] != "ks.t" || got.VSchema["ks"].Tables["t"] == nil {
		t.Fatalf("reloaded %+v ok=%v err=%v", got, ok, err)
	}
	keys, _ := fs2.List("twopc_")
	if len(keys) != 1 || keys[0] != "twopc_1" {
		t.Fatalf("List = %v", keys)
	}
	if err := fs2.Delete("twopc_1"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := fs2.List("twopc_"); len(keys) != 0 {
		t.Fatalf("after delete: %v", keys)
	}
}
