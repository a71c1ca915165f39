package topo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
	"github.com/vtgate-lite/vtgate-lite/store"
)

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

func openEtcd(t *testing.T, e *testcluster.Etcd, root string) *Etcd {
	t.Helper()
	c, err := OpenEtcd(EtcdOptions{Endpoints: []string{e.Endpoint()}, Root: root, LeaseTTL: 2 * time.Second,
		RequestTimeout: time.Second, Logger: testLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var testKeyspaces = map[string]*router.Keyspace{
	"commerce": {Name: "commerce", Database: "commerce", Primary: "127.0.0.1:1"},
	"customer": {Name: "customer", Database: "customer", Primary: "127.0.0.1:2"},
}

// sharedHolder boots a holder on c, following the topology until the test ends.
func sharedHolder(t *testing.T, c Topo) *router.Holder {
	t.Helper()
	ctx := context.Background()
	v, _, err := Boot(ctx, c, BootOptions{Seed: emptySchema(), Log: testLog})
	if err != nil {
		t.Fatal(err)
	}
	h, err := router.NewSharedHolder(testKeyspaces, v.Schema, v.Revision, SharedSchema(c))
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); Follow(fctx, c, h, testLog) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func hasTable(h *router.Holder, ks, table string) bool {
	for _, tb := range h.Load().VSchemaTables(ks) {
		if tb == table {
			return true
		}
	}
	return false
}

// Two instances each make 50 changes at once: every one of the 100 lands.
func TestEtcdUpdateRaceLosesNothing(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a, b := openEtcd(t, e, "/race"), openEtcd(t, e, "/race")
	ha, hb := sharedHolder(t, a), sharedHolder(t, b)
	var wg sync.WaitGroup
	var edits atomic.Int64
	errs := make(chan error, 100)
	for i, h := range []*router.Holder{ha, hb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := int64(0)
			for n := range 50 {
				tb, err := h.Update(func(s *router.Schema) error {
					edits.Add(1)
					s.AddTable("commerce", fmt.Sprintf("t%d_%d", i, n))
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				if tb.Revision <= last {
					errs <- fmt.Errorf("revision went from %d to %d", last, tb.Revision)
				}
				last = tb.Revision
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	v, _, err := a.Schema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.Schema.VSchema["commerce"].Tables); n != 100 {
		t.Fatalf("%d tables stored, want 100", n)
	}
	t.Logf("100 changes took %d edits (%d compare-and-swap conflicts)", edits.Load(), edits.Load()-100)
	// Both holders end on the stored revision, with all 100 tables.
	for _, h := range []*router.Holder{ha, hb} {
		waitFor(t, time.Second, "holder on the last revision", func() bool { return h.Load().Revision == v.Revision })
		if n := len(h.Load().VSchemaTables("commerce")); n != 100 {
			t.Fatalf("holder serves %d tables", n)
		}
	}
}

// An edit that another instance's change overtakes runs again on that change: both land.
func TestEtcdUpdateConflictRetries(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a, b := openEtcd(t, e, "/conflict"), openEtcd(t, e, "/conflict")
	ctx := context.Background()
	if _, _, err := a.Create(ctx, emptySchema()); err != nil {
		t.Fatal(err)
	}
	calls := 0
	v, err := a.Update(ctx, func(s *router.Schema) error {
		calls++
		if calls == 1 { // b stores between a's read and a's compare-and-swap
			if _, err := b.Update(ctx, func(s *router.Schema) error { s.AddTable("commerce", "from_b"); return nil }); err != nil {
				return err
			}
		}
		s.AddTable("commerce", "from_a")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tables := v.Schema.VSchema["commerce"].Tables
	if calls != 2 || len(tables) != 2 || tables["from_a"] == nil || tables["from_b"] == nil {
		t.Fatalf("calls %d, stored %v", calls, tables)
	}
	if got, _, _ := b.Schema(ctx); got.Revision != v.Revision || len(got.Schema.VSchema["commerce"].Tables) != 2 {
		t.Fatalf("stored %+v at %d, Update returned %d", got.Schema.VSchema, got.Revision, v.Revision)
	}
}

// A change through one instance is served by another within a second, without storing it again.
func TestEtcdWatchDeliversToOtherHolder(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a, b := openEtcd(t, e, "/watch"), openEtcd(t, e, "/watch")
	ha, hb := sharedHolder(t, a), sharedHolder(t, b)
	for i := range 5 {
		table := fmt.Sprintf("corder%d", i)
		tb, err := ha.Update(func(s *router.Schema) error { s.AddTable("customer", table); return nil })
		if err != nil {
			t.Fatal(err)
		}
		took := waitFor(t, time.Second, "change served by the other instance", func() bool { return hasTable(hb, "customer", table) })
		if got := hb.Load().Revision; got != tb.Revision {
			t.Fatalf("other holder at revision %d, want %d", got, tb.Revision)
		}
		t.Logf("change %d served by the other instance after %s", i, took)
	}
	// A router built on the new table resolves it.
	if tg, err := hb.Load().Resolve("", "corder4", "", router.Primary); err != nil || tg.Keyspace != "customer" {
		t.Fatalf("Resolve corder4 = %+v, %v", tg, err)
	}
}

// A watch resuming from a compacted revision reads the schema again.
func TestEtcdWatchAfterCompaction(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a, b := openEtcd(t, e, "/compact"), openEtcd(t, e, "/compact")
	ctx := context.Background()
	v0, _, err := a.Create(ctx, emptySchema())
	if err != nil {
		t.Fatal(err)
	}
	var last Versioned
	for i := range 5 {
		if last, err = a.Update(ctx, func(s *router.Schema) error { s.AddTable("commerce", fmt.Sprint("t", i)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Client().Compact(ctx, last.Revision); err != nil {
		t.Fatal(err)
	}
	// b watches from the revision it last served (v0): compacted away.
	got := make(chan Versioned, 10)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.Watch(wctx, v0.Revision, func(v Versioned) { got <- v }) }()
	defer func() { cancel(); <-done }()
	select {
	case v := <-got:
		if v.Revision != last.Revision || len(v.Schema.VSchema["commerce"].Tables) != 5 {
			t.Fatalf("after compaction got revision %d with %v, want %d with 5 tables", v.Revision, v.Schema.VSchema, last.Revision)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no schema after compaction")
	}
	// And it goes on watching from there.
	next, err := a.Update(ctx, func(s *router.Schema) error { s.AddTable("commerce", "after"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if v.Revision != next.Revision {
			t.Fatalf("next revision %d, want %d", v.Revision, next.Revision)
		}
	case <-time.After(time.Second):
		t.Fatal("change after the reload not delivered")
	}
}

func instanceIDs(t *testing.T, c Topo) []string {
	t.Helper()
	insts, err := c.Instances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range insts {
		ids = append(ids, fmt.Sprintf("%s@%d", in.ID, in.RevisionServed))
	}
	return ids
}

// A registration appears, follows the revision served, comes back after its lease was
// revoked behind its back, and disappears on Close or when its keepalives stop.
func TestEtcdRegistration(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a, b := openEtcd(t, e, "/reg"), openEtcd(t, e, "/reg")
	ctx := context.Background()
	ra, err := a.Register(ctx, Instance{ID: "vtgate-a", MySQLAddr: "127.0.0.1:15306", HTTPAddr: "127.0.0.1:15000", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "registration listed", func() bool { return strings.Join(instanceIDs(t, b), ",") == "vtgate-a@0" })
	ra.SetRevision(7)
	waitFor(t, time.Second, "revision served updated", func() bool { return strings.Join(instanceIDs(t, b), ",") == "vtgate-a@7" })
	if d := time.Until(ra.Deadline()); d <= 0 || d > 2*time.Second {
		t.Fatalf("deadline in %s, want within the 2s TTL", d)
	}
	insts, _ := b.Instances(ctx)
	if in := insts[0]; in.MySQLAddr != "127.0.0.1:15306" || in.HTTPAddr != "127.0.0.1:15000" || in.Started.IsZero() || in.LeaseGranted.IsZero() {
		t.Fatalf("registration = %+v", in)
	}

	// Revoked by someone else: it registers again on a new lease.
	resp, err := b.Client().Get(ctx, b.Keys().VTGate("vtgate-a"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatal(err)
	}
	lease := clientv3.LeaseID(resp.Kvs[0].Lease)
	if _, err := b.Client().Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "registration back on a new lease", func() bool {
		resp, err := b.Client().Get(ctx, b.Keys().VTGate("vtgate-a"))
		return err == nil && len(resp.Kvs) == 1 && clientv3.LeaseID(resp.Kvs[0].Lease) != lease
	})

	// Close revokes: gone at once.
	if err := ra.Close(); err != nil {
		t.Fatal(err)
	}
	if ids := instanceIDs(t, b); len(ids) != 0 {
		t.Fatalf("after Close: %v", ids)
	}

	// A client that stops keeping its lease alive (its connection closed, as a crashed
	// process's would be) is gone once the TTL has passed.
	c, err := OpenEtcd(EtcdOptions{Endpoints: []string{e.Endpoint()}, Root: "/reg", LeaseTTL: 2 * time.Second, RequestTimeout: time.Second, Logger: testLog})
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := c.Register(ctx, Instance{ID: "vtgate-c"})
	waitFor(t, 3*time.Second, "second registration listed", func() bool { return strings.Join(instanceIDs(t, b), ",") == "vtgate-c@0" })
	c.Close()
	deadline := rc.Deadline()
	took := waitFor(t, 5*time.Second, "expired registration gone", func() bool { return len(instanceIDs(t, b)) == 0 })
	if time.Now().Before(deadline) {
		t.Fatalf("the lease expired before its fail-closed deadline (%s ahead)", time.Until(deadline))
	}
	t.Logf("expired registration gone after %s", took)
	rc.Close()
}

// AwaitServed returns once every live instance serves the revision, or names the ones that do not.
func TestEtcdAwaitServed(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a := openEtcd(t, e, "/await")
	ctx := context.Background()
	r1, _ := a.Register(ctx, Instance{ID: "one", MySQLAddr: "h:1"})
	r2, _ := a.Register(ctx, Instance{ID: "two", MySQLAddr: "h:2"})
	defer r1.Close()
	defer r2.Close()
	waitFor(t, 3*time.Second, "both registered", func() bool { return len(instanceIDs(t, a)) == 2 })
	r1.SetRevision(5)
	r2.SetRevision(4)
	err := AwaitServed(ctx, a, 5, 300*time.Millisecond)
	var se *sqlerr.Error
	if !errors.As(err, &se) || se.Code != 1105 || !strings.Contains(se.Message, "two (h:2, serving revision 4)") || strings.Contains(se.Message, "one (") {
		t.Fatalf("AwaitServed with a lagging instance: %v", err)
	}
	go func() { time.Sleep(100 * time.Millisecond); r2.SetRevision(6) }()
	if err := AwaitServed(ctx, a, 5, 3*time.Second); err != nil {
		t.Fatal(err)
	}
}

// etcd stopped: the routing keeps being served, changes fail naming the server and store
// nothing; once etcd is back the watch and the registration catch up by themselves.
func TestEtcdUnavailable(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a, b := openEtcd(t, e, "/down"), openEtcd(t, e, "/down")
	ha, hb := sharedHolder(t, a), sharedHolder(t, b)
	ctx := context.Background()
	ra, _ := a.Register(ctx, Instance{ID: "a"})
	defer ra.Close()
	if _, err := ha.Update(func(s *router.Schema) error { s.AddTable("commerce", "product"); return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "b serves product", func() bool { return hasTable(hb, "commerce", "product") })

	for _, how := range []string{"stopped", "frozen"} {
		t.Run(how, func(t *testing.T) {
			if how == "stopped" {
				e.Stop()
			} else {
				e.Freeze(t)
			}
			rev := hb.Load().Revision
			if tg, err := hb.Load().Resolve("", "product", "", router.Primary); err != nil || tg.Keyspace != "commerce" {
				t.Fatalf("routing not served with etcd %s: %+v %v", how, tg, err)
			}
			start := time.Now()
			_, err := hb.Update(func(s *router.Schema) error { s.AddTable("customer", "lost_"+how); return nil })
			var se *sqlerr.Error
			var ue *UnavailableError
			want := "topology server " + e.Endpoint() + " unavailable: "
			if !errors.As(err, &se) || se.Code != 1105 || !strings.HasPrefix(se.Message, want) || !errors.As(err, &ue) {
				t.Fatalf("Update with etcd %s: %v, want 1105 %q...", how, err, want)
			}
			t.Logf("Update failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
			updateErr := err
			if hb.Load().Revision != rev || hasTable(hb, "customer", "lost_"+how) {
				t.Fatal("a failed Update changed the routing")
			}
			if how == "stopped" {
				e.Restart(t)
			} else {
				e.Thaw(t)
			}
			// A change made through a after etcd returns reaches b by b's own watch.
			tb, err := retryUpdate(t, ha, func(s *router.Schema) error { s.AddTable("customer", "back_"+how); return nil })
			if err != nil {
				t.Fatal(err)
			}
			took := waitFor(t, 10*time.Second, "b caught up", func() bool { return hb.Load().Revision >= tb.Revision })
			t.Logf("b caught up %s after the change", took)
			// A change that failed before it was sent is never stored; one sent to a frozen
			// server may land when it thaws, and then whole (b serves it like any other
			// change), but only when the error said the outcome is unknown.
			lostMayLand := strings.Contains(updateErr.Error(), "outcome unknown")
			if (hasTable(hb, "customer", "lost_"+how) && !lostMayLand) || !hasTable(hb, "customer", "back_"+how) {
				t.Fatalf("after etcd returned b serves %v", hb.Load().VSchemaTables("customer"))
			}
			waitFor(t, 10*time.Second, "registration back", func() bool {
				insts, err := b.Instances(ctx)
				return err == nil && len(insts) == 1
			})
		})
	}
}

// retryUpdate retries while etcd is still coming back (its first requests may time out).
func retryUpdate(t *testing.T, h *router.Holder, edit func(*router.Schema) error) (*router.Table, error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		tb, err := h.Update(edit)
		var ue *UnavailableError
		if err == nil || !errors.As(err, &ue) || time.Now().After(deadline) {
			return tb, err
		}
	}
}

// Boot seeds an empty topology once, adds config VSchemas the stored schema lacks, and
// starts from the routing cached in state_dir when etcd does not answer.
func TestEtcdBoot(t *testing.T) {
	e := testcluster.StartEtcd(t)
	a, b := openEtcd(t, e, "/boot"), openEtcd(t, e, "/boot")
	ctx := context.Background()
	seed := emptySchema()
	seed.AddTable("commerce", "product")
	va, _, err := Boot(ctx, a, BootOptions{Seed: seed, Log: testLog})
	if err != nil {
		t.Fatal(err)
	}
	other := emptySchema()
	other.AddTable("commerce", "ignored")
	vb, _, err := Boot(ctx, b, BootOptions{Seed: other, VSchemas: map[string]*router.KeyspaceVSchema{
		"commerce": {}, "customer": {Tables: nil}}, Log: testLog})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := vb.Schema.VSchema["commerce"].Tables["ignored"]; ok || vb.Revision <= va.Revision {
		t.Fatalf("second boot: %+v at %d (first at %d)", vb.Schema.VSchema, vb.Revision, va.Revision)
	}
	if _, ok := vb.Schema.VSchema["customer"]; !ok || len(vb.Schema.VSchema["commerce"].Tables) != 1 {
		t.Fatalf("config VSchema of a new keyspace not added, or an existing one replaced: %+v", vb.Schema.VSchema)
	}

	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := router.NewSharedHolder(testKeyspaces, vb.Schema, vb.Revision, SharedSchema(b))
	if err := SaveCache(st, "/boot", b.Address(), h.Load()); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	v, fromCache, err := Boot(ctx, b, BootOptions{Seed: other, Cache: st, Root: "/boot", Log: testLog})
	if err != nil || !fromCache || v.Revision != vb.Revision || len(v.Schema.VSchema["commerce"].Tables) != 1 {
		t.Fatalf("boot from cache: %+v %v %v", v, fromCache, err)
	}
	_, _, err = Boot(ctx, b, BootOptions{Seed: other, Cache: st, Root: "/elsewhere", Log: testLog})
	if err == nil || !strings.Contains(err.Error(), "topology server "+e.Endpoint()+" unavailable") ||
		!strings.Contains(err.Error(), "no routing cached from topology root /elsewhere") {
		t.Fatalf("boot without a cache for the root: %v", err)
	}
}
