package migration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// runner drives one workflow: it feeds events to Step and performs the actions, re-reading the
// persisted state at the start of every work action so that any failure resumes from disk.
type runner struct {
	e   *Engine
	ref WorkflowRef

	mu         sync.Mutex
	rec        *wfRecord
	st         State
	copy       map[string]*copyState
	rates      map[string]*rate
	lag        float64
	streamAddr string
	lastErr    string
	pending    []cmdReq
	workCancel context.CancelFunc
	wake       chan struct{}
	done       chan struct{}
	cancelled  bool

	// Owned by the runner goroutine.
	moved  map[string]*tableInfo
	tgtKS  *router.Keyspace
	ddl    *pendingDDL
	syncCh chan *syncRequest
}

type cmdReq struct {
	ev    Event
	reply chan error
}

type rate struct {
	at   time.Time
	rows int64
	rps  float64
}

func newRunner(e *Engine, rec *wfRecord) *runner {
	return &runner{e: e, ref: rec.ref(), rec: rec, copy: map[string]*copyState{}, rates: map[string]*rate{},
		st:   State{Phase: rec.Phase, CopyDone: rec.CopyDone, OnDDL: rec.OnDDL, Message: rec.Message, WritesSwitched: rec.WritesSwitched, ReadsSwitched: rec.ReadsSwitched != ""},
		wake: make(chan struct{}, 1), done: make(chan struct{}), syncCh: make(chan *syncRequest)}
}

// command hands ev to the runner and waits until it has been acted on.
func (r *runner) command(ctx context.Context, ev Event) error {
	req := cmdReq{ev: ev, reply: make(chan error, 1)}
	r.mu.Lock()
	r.pending = append(r.pending, req)
	if r.workCancel != nil {
		r.workCancel()
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-req.reply:
		return err
	case <-r.done:
		if _, ok := ev.(EvCancel); ok {
			return nil
		}
		return errors.New("workflow runner exited")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *runner) takePending() (cmdReq, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return cmdReq{}, false
	}
	c := r.pending[0]
	r.pending = r.pending[1:]
	return c, true
}

func (r *runner) state() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	var ev Event = EvResume{}
	var reply chan error
	for ctx.Err() == nil {
		r.mu.Lock()
		st, acts := Step(r.st, ev)
		r.st = st
		r.mu.Unlock()
		r.e.metrics.state(r.ref, st.Phase)
		ev = nil
		var rejected error
		for _, a := range acts {
			switch a.(type) {
			case ActCopyCycle, ActStream, ActIdle, ActBackoff:
				// The command has been acted on; the work that follows may run for long.
				if reply != nil {
					reply <- rejected
					reply = nil
				}
			}
			next, err := r.perform(ctx, a)
			if ctx.Err() != nil {
				return
			}
			if rj, ok := a.(ActReject); ok {
				rejected = errors.New(rj.Reason)
				continue
			}
			if _, ok := a.(ActCancel); ok && err == nil {
				if reply != nil {
					reply <- nil
				}
				return
			}
			if err != nil {
				if reply != nil && rejected == nil {
					rejected = err // the command's own action failed: tell the caller
				}
				ev = r.failure(err)
				break
			}
			if next != nil {
				ev = next
				break
			}
		}
		if reply != nil {
			reply <- rejected
			reply = nil
		}
		if ev == nil {
			ev = EvResume{}
		}
		if c, ok := r.takePending(); ok {
			ev, reply = c.ev, c.reply
		}
	}
}

func (r *runner) failure(err error) Event {
	r.e.metrics.errors.WithLabelValues(r.ref.String()).Inc()
	r.mu.Lock()
	r.lastErr = err.Error()
	r.mu.Unlock()
	r.e.cfg.Logger.Warn("migration workflow error", "workflow", r.ref.String(), "err", err)
	return EvFailure{Err: err.Error(), Retryable: retryable(err)}
}

// perform runs one action; work actions return the next event.
func (r *runner) perform(ctx context.Context, a Action) (Event, error) {
	switch a := a.(type) {
	case ActPersist:
		return nil, r.withTarget(ctx, func(t *conn) error {
			_, err := t.exec(updatePhaseSQL(r.ref, a.Phase, a.Message, r.state().CopyDone))
			return err
		})
	case ActCopyCycle:
		return r.work(ctx, r.copyCycle)
	case ActStream:
		return r.work(ctx, r.stream)
	case ActIdle:
		for {
			if c, ok := r.peekPending(); ok {
				return c, nil
			}
			select {
			case <-r.wake:
			case <-ctx.Done():
				return nil, nil
			}
		}
	case ActBackoff:
		t := time.NewTimer(a.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			return EvResume{}, nil
		case <-r.wake:
			return EvResume{}, nil
		case <-ctx.Done():
			return nil, nil
		}
	case ActSkipDDL:
		return nil, r.skipDDL(ctx, a.Phase, a.Message)
	case ActExecDDL:
		return nil, r.execDDL(ctx)
	case ActCancel:
		return nil, r.cancel(ctx, a.KeepData)
	case ActReject:
		return nil, nil
	}
	return nil, fmt.Errorf("unknown action %T", a)
}

// peekPending returns a sentinel event when a command waits; the main loop takes it.
func (r *runner) peekPending() (Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) > 0 {
		return EvResume{}, true
	}
	return nil, false
}

// work runs fn under a context that a command cancels.
func (r *runner) work(ctx context.Context, fn func(context.Context) (Event, error)) (Event, error) {
	wctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.workCancel = cancel
	waiting := len(r.pending) > 0
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.workCancel = nil
		r.mu.Unlock()
		cancel()
	}()
	if waiting {
		return EvResume{}, nil
	}
	ev, err := fn(wctx)
	if ctx.Err() != nil {
		return nil, nil
	}
	if wctx.Err() != nil {
		// Interrupted by a command: the main loop takes it.
		return EvResume{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ev, nil
}

func (r *runner) keyspaces() (src, tgt *router.Keyspace, err error) {
	t := r.e.cfg.Routing.Load()
	r.mu.Lock()
	source := r.rec.Source
	r.mu.Unlock()
	src, ok := t.Keyspace(source)
	if !ok {
		return nil, nil, fmt.Errorf("source keyspace %s is no longer configured", source)
	}
	tgt, ok = t.Keyspace(r.ref.Keyspace)
	if !ok {
		return nil, nil, fmt.Errorf("target keyspace %s is no longer configured", r.ref.Keyspace)
	}
	return src, tgt, nil
}

func (r *runner) withTarget(ctx context.Context, fn func(*conn) error) error {
	_, tks, err := r.keyspaces()
	if err != nil {
		return err
	}
	t, err := dial(ctx, tks, tks.Primary, true)
	if err != nil {
		return err
	}
	defer t.close()
	return fn(t)
}

// sourceOrder lists the source servers to read from, preferred first.
func (r *runner) sourceOrder(ks *router.Keyspace) []string {
	types := []router.TabletType{router.Replica, router.Rdonly, router.Primary}
	if r.rec.CopyFrom != "" {
		tt, err := router.ParseTabletType(r.rec.CopyFrom)
		if err == nil {
			types = []router.TabletType{tt}
		}
	}
	var out []string
	for _, tt := range types {
		out = append(out, ks.Servers(tt)...)
	}
	return out
}

// dialSource connects to the first reachable source server, in preference order.
func (r *runner) dialSource(ctx context.Context, ks *router.Keyspace) (*conn, error) {
	var errs []error
	for _, addr := range r.sourceOrder(ks) {
		c, err := dial(ctx, ks, addr, true)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("keyspace %s has no server to copy from", ks.Name)
	}
	return nil, errors.Join(errs...)
}

// load re-reads the workflow and copy state from the sidecar and the moved tables' schemas.
func (r *runner) load(ctx context.Context, tconn, src *conn, sks *router.Keyspace) error {
	recs, err := loadWorkflows(tconn, r.ref.Keyspace, r.ref.Workflow)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("workflow %s vanished from the sidecar schema", r.ref)
	}
	cs, err := loadCopyState(tconn, r.ref)
	if err != nil {
		return err
	}
	moved := map[string]*tableInfo{}
	for _, t := range recs[0].Tables {
		ti, err := loadTableInfo(src, sks.Database, t)
		if err != nil {
			return fmt.Errorf("source table %s.%s: %w", sks.Database, t, err)
		}
		moved[strings.ToLower(t)] = ti
	}
	r.mu.Lock()
	r.rec = recs[0]
	r.copy = cs
	r.mu.Unlock()
	r.moved = moved
	return nil
}

func (r *runner) copyCycle(ctx context.Context) (Event, error) {
	sks, tks, err := r.keyspaces()
	if err != nil {
		return nil, err
	}
	r.tgtKS = tks
	tconn, err := dial(ctx, tks, tks.Primary, true)
	if err != nil {
		return nil, err
	}
	defer tconn.close()
	snap, err := r.dialSource(ctx, sks)
	if err != nil {
		return nil, err
	}
	defer snap.close()
	if err := r.load(ctx, tconn, snap, sks); err != nil {
		return nil, err
	}
	rec := r.rec
	// Tables left to copy; finished ones only may need their deferred keys.
	var todo []string
	for _, t := range rec.Tables {
		cs := r.copy[t]
		if cs == nil {
			return nil, fmt.Errorf("copy_state row for %s is missing", t)
		}
		if !cs.Done {
			todo = append(todo, t)
		} else if len(cs.DeferredKeys) > 0 {
			if err := buildDeferredKeys(tconn, r.ref, tks.Database, t, cs.DeferredKeys); err != nil {
				return nil, err
			}
			r.mu.Lock()
			cs.DeferredKeys = nil
			r.mu.Unlock()
		}
	}
	// Several tables copy in parallel, each worker on its own snapshot connection; the
	// snapshots are opened together under a brief read lock on the moved tables so that they
	// all show the moved tables at one position. One table needs no lock at all (MariaDB).
	snaps := []*conn{snap}
	workers := min(len(todo), max(1, r.e.cfg.CopyWriters), maxParallelTables)
	for len(snaps) < workers {
		c, err := dial(ctx, sks, snap.addr, true)
		if err != nil {
			return nil, err
		}
		defer c.close()
		snaps = append(snaps, c)
	}
	pos, err := snapshotTables(ctx, snaps, sks, todo, rec.Flavor)
	if err != nil {
		return nil, err
	}
	// Fast-forward: bring every row already copied from the last position to the snapshot's.
	if rec.Pos == "" {
		if _, err := tconn.exec(updatePosSQL(r.ref, pos, 0)); err != nil {
			return nil, err
		}
	} else {
		f, err := r.newFollower(tconn, sks, tks.Database, rec.Flavor, rec.Pos)
		if err != nil {
			return nil, err
		}
		ev, err := f.run(ctx, snap.addr, pos)
		if err != nil || ev != nil {
			return ev, err
		}
	}
	r.e.progress(r)
	var lagMu sync.Mutex
	lagConn := (*conn)(nil)
	defer func() { lagConn.close() }()
	lagCheck := func() error {
		if r.e.cfg.MaxSourceLag <= 0 || snap.addr == sks.Primary {
			return nil
		}
		lagMu.Lock()
		defer lagMu.Unlock()
		for {
			var err error
			if lagConn == nil {
				if lagConn, err = dial(ctx, sks, snap.addr, false); err != nil {
					return err
				}
			}
			res, err := lagConn.exec("SHOW REPLICA STATUS") // MariaDB >= 10.5, MySQL >= 8.0.22
			if err != nil {
				if res, err = lagConn.exec("SHOW SLAVE STATUS"); err != nil {
					return err
				}
			}
			lag := int64(-1)
			if res.RowNumber() > 0 {
				for _, col := range []string{"Seconds_Behind_Master", "Seconds_Behind_Source"} {
					if v, err := res.GetIntByName(0, col); err == nil {
						lag = v
						break
					}
				}
			}
			if lag < 0 || time.Duration(lag)*time.Second <= r.e.cfg.MaxSourceLag {
				return nil
			}
			r.setMessage(fmt.Sprintf("copy throttled: source %s lags %ds (max %s)", snap.addr, lag, r.e.cfg.MaxSourceLag))
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	deadline := time.Now().Add(copyCycleBudget)
	queue := make(chan string, len(todo))
	for _, t := range todo {
		queue <- t
	}
	close(queue)
	var allDone atomic.Bool
	allDone.Store(true)
	g, gctx := errgroup.WithContext(ctx)
	writers := max(1, r.e.cfg.CopyWriters/workers)
	for w := range workers {
		wsnap := snaps[w]
		g.Go(func() error {
			wt := tconn
			if w > 0 {
				c, err := dial(gctx, tks, tks.Primary, true)
				if err != nil {
					return err
				}
				defer c.close()
				wt = c
			}
			for t := range queue {
				if time.Now().After(deadline) {
					allDone.Store(false)
					return nil
				}
				cs := r.copy[t]
				ti := r.moved[strings.ToLower(t)]
				if err := r.countRows(wsnap, wt, sks.Database, ti, cs); err != nil {
					return err
				}
				done, err := r.copyTable(gctx, wsnap, wt, sks.Database, tks.Database, ti, cs, deadline, lagCheck, writers)
				if err != nil {
					return err
				}
				if !done {
					allDone.Store(false)
					return nil
				}
				if err := buildDeferredKeys(wt, r.ref, tks.Database, t, cs.DeferredKeys); err != nil {
					return err
				}
				r.mu.Lock()
				cs.DeferredKeys = nil
				r.mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, c := range snaps {
		c.Execute("ROLLBACK")
	}
	r.setMessage("")
	return EvCycleDone{AllCopied: allDone.Load()}, nil
}

// maxParallelTables bounds the tables copied at once.
const maxParallelTables = 4

// countRows sets rows_total to the rows copied so far plus the rows left in this cycle's
// snapshot (COUNT(*) of the remaining key range: exact). Tables larger than the InnoDB estimate
// threshold get the estimate instead, flagged as such, so a huge table never waits on a count.
func (r *runner) countRows(snap, tconn *conn, db string, ti *tableInfo, cs *copyState) error {
	res, err := snap.exec(fmt.Sprintf("SELECT IFNULL(TABLE_ROWS,0) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", quote(db), quote(ti.Name)))
	if err != nil {
		return err
	}
	est, _ := res.GetInt(0, 0)
	r.mu.Lock()
	copied, lastpk := cs.RowsCopied, cs.LastPK
	r.mu.Unlock()
	total, exact := max(est, copied), false
	if est <= exactCountLimit {
		q := "SELECT COUNT(*) FROM " + ident(db) + "." + ident(ti.Name)
		if lastpk != nil {
			q += " WHERE " + ti.keyAfter(lastpk)
		}
		res, err := snap.exec(q)
		if err != nil {
			return err
		}
		left, _ := res.GetInt(0, 0)
		total, exact = copied+left, true
	}
	if _, err := tconn.exec(fmt.Sprintf("UPDATE %s.copy_state SET rows_total=%d, total_exact=%s%s", sidecarDB, total, boolSQL(exact), csWhere(r.ref, ti.Name))); err != nil {
		return err
	}
	r.mu.Lock()
	cs.RowsTotal, cs.TotalExact = total, exact
	r.mu.Unlock()
	return nil
}

// exactCountLimit: up to this many rows (InnoDB estimate) progress uses an exact count.
const exactCountLimit = 2_000_000

func (r *runner) stream(ctx context.Context) (Event, error) {
	sks, tks, err := r.keyspaces()
	if err != nil {
		return nil, err
	}
	tconn, err := dial(ctx, tks, tks.Primary, true)
	if err != nil {
		return nil, err
	}
	defer tconn.close()
	src, err := r.dialSource(ctx, sks)
	if err != nil {
		return nil, err
	}
	defer src.close()
	if err := r.load(ctx, tconn, src, sks); err != nil {
		return nil, err
	}
	r.e.progress(r)
	f, err := r.newFollower(tconn, sks, tks.Database, r.rec.Flavor, r.rec.Pos)
	if err != nil {
		return nil, err
	}
	return f.run(ctx, src.addr, "")
}

// skipDDL moves the persisted position past the pending DDL (and sets phase, when given).
func (r *runner) skipDDL(ctx context.Context, phase Phase, msg string) error {
	d := r.ddl
	if d == nil {
		return nil
	}
	err := r.withTarget(ctx, func(t *conn) error {
		if _, err := t.exec("BEGIN"); err != nil {
			return err
		}
		if _, err := t.exec(updatePosSQL(r.ref, d.PosAfter, d.TS)); err != nil {
			return err
		}
		if phase != "" {
			if _, err := t.exec(updatePhaseSQL(r.ref, phase, msg, r.state().CopyDone)); err != nil {
				return err
			}
		}
		_, err := t.exec("COMMIT")
		return err
	})
	if err == nil {
		r.ddl = nil
	}
	return err
}

// execDDL applies the pending DDL to the target database, then moves past it. A DDL commits
// implicitly, so the two cannot share a transaction: a crash in between re-runs the DDL, and a
// re-run that fails shows in the workflow's message.
func (r *runner) execDDL(ctx context.Context) error {
	d := r.ddl
	if d == nil {
		return nil
	}
	sks, tks, err := r.keyspaces()
	if err != nil {
		return err
	}
	stmt := rewriteQualifier(d.Stmt, sks.Database, tks.Database)
	err = r.withTarget(ctx, func(t *conn) error {
		if _, err := t.exec("USE " + ident(tks.Database)); err != nil {
			return err
		}
		if _, err := t.exec(stmt); err != nil {
			return fmt.Errorf("ON DDL EXEC: %w", err)
		}
		return nil
	})
	if err != nil {
		var qe *queryError
		if errors.As(err, &qe) {
			return &fatalError{err}
		}
		return err
	}
	return r.skipDDL(ctx, "", "")
}

// fatalError is never retried.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// cancel removes the workflow: routing rules, sidecar rows and, unless keepData, the target
// tables. It runs on the runner goroutine after the work stopped, so it never races a stream.
func (r *runner) cancel(ctx context.Context, keepData bool) error {
	_, tks, err := r.keyspaces()
	if err != nil {
		return err
	}
	rec := r.rec
	if keepData {
		// The kept tables leave the workflow: no write denial left on them (deny.go).
		if err := r.e.setDenied(ctx, rec.Keyspace, rec.Tables, false, "", 30*time.Second); err != nil {
			return err
		}
	}
	err = r.withTarget(ctx, func(t *conn) error {
		if !keepData {
			for _, tbl := range rec.Tables {
				if _, err := t.exec("DROP TABLE IF EXISTS " + ident(tks.Database) + "." + ident(tbl)); err != nil {
					return err
				}
			}
		}
		for _, q := range []string{
			"BEGIN",
			"DELETE FROM " + sidecarDB + ".copy_state WHERE keyspace=" + quote(r.ref.Keyspace) + " AND workflow=" + quote(r.ref.Workflow),
			"DELETE FROM " + sidecarDB + ".workflow" + wfWhere(r.ref),
			"COMMIT",
		} {
			if _, err := t.exec(q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = r.e.cfg.Routing.Update(func(s *router.Schema) error {
		removeRules(s, rec.Source, rec.Keyspace, rec.Tables)
		if !keepData {
			for _, t := range rec.Tables {
				s.DropTable(rec.Keyspace, t)
			}
		}
		return nil
	})
	if err != nil {
		return &fatalError{fmt.Errorf("remove routing rules: %w", err)}
	}
	r.mu.Lock()
	r.cancelled = true
	r.mu.Unlock()
	r.e.forget(r)
	return nil
}

// Routing rules of a workflow moving tables from src to dst.
var ruleSuffixes = []string{"", "@replica", "@rdonly"}

func setRules(s *router.Schema, src, dst string, tables []string) {
	for _, t := range tables {
		for _, suf := range ruleSuffixes {
			for _, from := range []string{t, src + "." + t, dst + "." + t} {
				s.Rules[from+suf] = src + "." + t
			}
		}
	}
}

func removeRules(s *router.Schema, src, dst string, tables []string) {
	for _, t := range tables {
		for _, suf := range ruleSuffixes {
			for _, from := range []string{t, src + "." + t, dst + "." + t} {
				delete(s.Rules, from+suf)
			}
		}
	}
}

// Status setters used by the work (SHOW MIGRATION and metrics read them).

func (r *runner) setMessage(m string) {
	r.mu.Lock()
	r.st.Message = m
	r.mu.Unlock()
}

func (r *runner) setStreamAddr(a string) {
	r.mu.Lock()
	r.streamAddr = a
	r.mu.Unlock()
}

func (r *runner) setLag(sec float64, ts int64) {
	r.mu.Lock()
	r.lag = sec
	if r.rec != nil && ts > 0 {
		r.rec.SourceTS = ts
	}
	r.mu.Unlock()
	r.e.metrics.lag.WithLabelValues(r.ref.String()).Set(sec)
}

func (r *runner) applied(events, txns int64, pos string) {
	r.mu.Lock()
	if r.rec != nil {
		r.rec.Pos = pos
	}
	r.st, _ = Step(r.st, EvProgress{}) // durable progress: the backoff starts over
	r.lastErr = ""
	r.mu.Unlock()
	r.e.metrics.events.WithLabelValues(r.ref.String()).Add(float64(events))
	r.e.metrics.txns.WithLabelValues(r.ref.String()).Add(float64(txns))
}

func (r *runner) copied(table string, n int64, cs *copyState, lastpk []string, done bool) {
	now := time.Now()
	r.mu.Lock()
	if lastpk != nil {
		cs.LastPK = lastpk
	}
	cs.RowsCopied += n
	cs.Done = done
	r.st, _ = Step(r.st, EvProgress{}) // durable progress: the backoff starts over
	r.lastErr = ""
	rt := r.rates[table]
	if rt == nil {
		rt = &rate{at: now}
		r.rates[table] = rt
	}
	rt.rows += n
	if el := now.Sub(rt.at); el >= time.Second {
		inst := float64(rt.rows) / el.Seconds()
		if rt.rps == 0 {
			rt.rps = inst
		} else {
			rt.rps = 0.5*rt.rps + 0.5*inst
		}
		rt.at, rt.rows = now, 0
	}
	rps := rt.rps
	r.mu.Unlock()
	r.e.metrics.rowsCopied.WithLabelValues(r.ref.String(), table).Add(float64(n))
	r.e.metrics.copyRate.WithLabelValues(r.ref.String(), table).Set(rps)
}
