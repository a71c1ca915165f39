package reliability

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tolerances for "back to baseline" (the baseline is taken after a warm-up that filled
// the pool, the plan cache and the prepared-statement caches, so the steady-state
// structures exist on both sides of the comparison):
//   - goroutines: +5. Per client the proxy runs one goroutine; 1,000 clients leaking
//     even 1% would be +10. The slack covers HTTP server goroutines of the scrape itself
//     finishing and a client-watch goroutine (WaitClientGone) ending up to 200 ms later.
//   - file descriptors: +3, the HTTP scrape's socket in TIME_WAIT/close and at most two
//     backend connections the pool may legitimately reopen (it never exceeds pool.size).
//   - Go heap in use (after a forced GC): baseline + 8 MiB + 25%. 1,000 sessions with
//     two 16 KiB buffers each are ~32 MiB plus their stacks; what stays is allocator
//     fragmentation (spans partly used), not live objects.
//   - RSS is reported, not asserted against the baseline: the Go runtime gives freed
//     pages back to the OS in the background (scavenger, minutes), so RSS after 10 s says
//     little. It must stay below 512 MiB at any time.
const (
	tolGoroutines = 5
	tolFDs        = 3
	tolHeapFixed  = 8 << 20
	tolHeapRatio  = 0.25
	maxRSS        = 512 << 20
	settleWithin  = 10 * time.Second
)

// TestLoad runs LOAD_CONNS client connections (default 1000; LOAD_ACTIVE of them active,
// default 100) through the real binary for LOAD_DURATION (default 10s).
func TestLoad(t *testing.T) {
	dur := envDuration(t, "LOAD_DURATION", 10*time.Second)
	total := envInt(t, "LOAD_CONNS", 1000)
	active := envInt(t, "LOAD_ACTIVE", 100)
	poolSize := envInt(t, "LOAD_POOL_SIZE", 16)
	if active > total {
		t.Fatalf("LOAD_ACTIVE=%d > LOAD_CONNS=%d", active, total)
	}
	const items = 1000
	// Everything is bounded: connecting, the run, checks and the return to baseline.
	ctx, cancel := context.WithTimeout(context.Background(), dur+4*time.Minute)
	defer cancel()

	cl := backend(t, items)
	root := cl.Primary.Open(t, "commerce")
	p := startProxy(t, cl, poolSize)

	// Warm-up: the same statements on a few connections, then enough concurrent sleeps to
	// open every pool connection. Its writes are checked and then cleared.
	warm, err := RunLoad(ctx, LoadOptions{DSN: p.dsn("commerce"), Idle: 5, Active: 2 * poolSize, Duration: time.Second, Items: items})
	if err != nil {
		t.Fatal(err)
	}
	if warm.Errors != 0 {
		t.Fatalf("warm-up: %d errors: %v", warm.Errors, warm.FirstErrors)
	}
	if problems, err := warm.Verify(ctx, root); err != nil || len(problems) > 0 {
		t.Fatalf("warm-up ledger: %v %v", err, problems)
	}
	for _, q := range []string{"DELETE FROM ledger", "UPDATE item SET val = 0"} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	fillPool(ctx, t, p, poolSize)

	base := settle(ctx, t, p, Snapshot{}, false)
	saveHeapProfile(ctx, t, p, "baseline")
	t.Logf("baseline: %s backend_conns=%d", base, mustBackendConns(ctx, t, root))

	// Sample the proxy and the backend while the load runs.
	var (
		mu           sync.Mutex
		peak         Snapshot
		peakBackend  int
		samples      int
		samplerErr   error
		stopSampling = make(chan struct{})
		samplerDone  = make(chan struct{})
	)
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			s, err := TakeSnapshot(sctx, p.pid, p.httpBase, false)
			var nb int
			if err == nil {
				nb, err = backendConns(sctx, root)
			}
			scancel()
			mu.Lock()
			if err != nil {
				samplerErr = err
			} else {
				samples++
				peak.Goroutines = max(peak.Goroutines, s.Goroutines)
				peak.FDs = max(peak.FDs, s.FDs)
				peak.RSS = max(peak.RSS, s.RSS)
				peak.HeapInuse = max(peak.HeapInuse, s.HeapInuse)
				peak.HeapAlloc = max(peak.HeapAlloc, s.HeapAlloc)
				peak.Clients = max(peak.Clients, s.Clients)
				peak.PoolOpen = max(peak.PoolOpen, s.PoolOpen)
				peakBackend = max(peakBackend, nb)
			}
			mu.Unlock()
		}
	}()

	res, err := RunLoad(ctx, LoadOptions{
		DSN: p.dsn("commerce"), Idle: total - active, Active: active, Duration: dur, Items: items,
	})
	close(stopSampling)
	<-samplerDone
	if err != nil {
		t.Fatal(err)
	}
	after := settle(ctx, t, p, base, true)
	saveHeapProfile(ctx, t, p, "after")
	end, _ := TakeSnapshot(ctx, p.pid, p.httpBase, false)

	t.Logf("load: %d connections (%d idle, %d active) opened in %s; active phase %s",
		res.Connected, total-active, active, res.ConnectTime.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond))
	t.Logf("load: %d statements (%.0f/s), %d commits, %d rollbacks, %d acknowledged ledger rows, %d increments, %d client errors, %d proxy errors, %d pool waits",
		res.Statements, res.QPS(), res.Commits, res.Rollbacks, len(res.Acked), res.AckedIncr, res.Errors, end.QueryErrors-base.QueryErrors, end.PoolWaits-base.PoolWaits)
	t.Logf("peak: %s backend_conns=%d (pool.size %d, %d samples)", peak, peakBackend, poolSize, samples)
	t.Logf("after: %s", after)

	if res.Errors != 0 {
		t.Errorf("%d client errors; first: %s", res.Errors, strings.Join(res.FirstErrors, "\n  "))
	}
	if res.IdleChecked != total-active {
		t.Errorf("%d of %d idle connections answered at the end", res.IdleChecked, total-active)
	}
	if samplerErr != nil {
		t.Errorf("sampling: %v", samplerErr)
	}
	if samples == 0 {
		t.Error("no sample taken during the load")
	}
	if peak.Clients < total {
		t.Errorf("proxy saw at most %d client connections, want %d", peak.Clients, total)
	}
	if peakBackend > poolSize || peak.PoolOpen > poolSize {
		t.Errorf("backend connections: processlist peak %d, pool metric peak %d; pool.size is %d", peakBackend, peak.PoolOpen, poolSize)
	}
	if n := mustBackendConns(ctx, t, root); n > poolSize {
		t.Errorf("after the load the backend has %d proxy connections, pool.size is %d", n, poolSize)
	}
	if end.Panics != 0 {
		t.Errorf("%d handler panics", end.Panics)
	}
	if res.Commits == 0 || res.Rollbacks == 0 || len(res.Acked) == 0 {
		t.Errorf("the mix did not run: %d commits, %d rollbacks, %d acknowledged rows", res.Commits, res.Rollbacks, len(res.Acked))
	}

	// The ledger, read on the backend directly.
	vctx, vcancel := context.WithTimeout(ctx, time.Minute)
	defer vcancel()
	problems, err := res.Verify(vctx, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Error("ledger: " + pr)
	}
	t.Logf("ledger: %d acknowledged rows present once each, %d rolled-back rows absent, %d of unknown outcome",
		len(res.Acked), len(res.RolledBack), len(res.Unknown))
}

// fillPool opens every connection of the pool: 2*size concurrent SLEEPs.
func fillPool(ctx context.Context, t *testing.T, p *proxyProc, size int) {
	t.Helper()
	db := sqlOpen(t, p.dsn("commerce"))
	defer db.Close()
	db.SetMaxOpenConns(2 * size)
	var wg sync.WaitGroup
	errs := make(chan error, 2*size)
	for i := 0; i < 2*size; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := db.ExecContext(qctx, "SELECT SLEEP(0.3)"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("fill pool: %v", err)
	}
}

// settle waits (at most settleWithin) until no client is connected and, when check is
// set, until goroutines, fds and the heap are back within tolerance of base. Without
// check it returns the first snapshot taken one second after the clients left (the
// baseline).
func settle(ctx context.Context, t *testing.T, p *proxyProc, base Snapshot, check bool) Snapshot {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(settleWithin)
	var last Snapshot
	var why string
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := TakeSnapshot(sctx, p.pid, p.httpBase, true)
		cancel()
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		last = s
		switch {
		case s.Clients != 0:
			why = "clients still connected"
		case !check:
			if time.Since(t0) >= time.Second {
				return s
			}
			why = "waiting a second"
		case s.Goroutines > base.Goroutines+tolGoroutines:
			why = "goroutines"
		case s.FDs > base.FDs+tolFDs:
			why = "fds"
		case float64(s.HeapInuse) > float64(base.HeapInuse)*(1+tolHeapRatio)+tolHeapFixed:
			why = "heap"
		default:
			if s.RSS > maxRSS {
				t.Errorf("RSS %.1f MiB > %d MiB", mib(s.RSS), maxRSS>>20)
			}
			t.Logf("back to baseline %s after the clients left", time.Since(t0).Round(time.Millisecond))
			return s
		}
		if time.Now().After(deadline) {
			if check {
				t.Errorf("not back to baseline within %s (%s): baseline %s, now %s", settleWithin, why, base, s)
			} else {
				t.Fatalf("no baseline within %s (%s): %s", settleWithin, why, s)
			}
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func mustBackendConns(ctx context.Context, t *testing.T, root *sql.DB) int {
	t.Helper()
	n, err := backendConns(ctx, root)
	if err != nil {
		t.Fatalf("backend processlist: %v", err)
	}
	return n
}

func sqlOpen(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", withDefaults(dsn))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// saveHeapProfile writes the proxy's heap profile (after a GC) to $LOAD_HEAP_PROFILES/name.pb.gz
// when that variable names a directory: `go tool pprof -top -base baseline.pb.gz after.pb.gz`
// shows what the load left behind.
func saveHeapProfile(ctx context.Context, t *testing.T, p *proxyProc, name string) {
	t.Helper()
	dir := os.Getenv("LOAD_HEAP_PROFILES")
	if dir == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.httpBase+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".pb.gz")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("heap profile: %s", path)
}
