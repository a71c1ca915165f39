package migration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Traffic switching (issue #4): MIGRATE WRITES, MIGRATE REVERSE WRITES, MIGRATE COMPLETE.
//
// A workflow <target>.<name> moving tables from S to D owns, once its writes were switched, a
// reverse workflow <source>.<name>_reverse (D -> S, sidecar on S's primary, reading D's
// primary). Exactly one of the two streams runs at a time: the one flowing from the keyspace
// that takes the writes. A write switch from keyspace OLD to keyspace NEW:
//
//  1. pre-checks (switchChecks): the stream OLD->NEW is Running, copied, lag <= MAX LAG, NEW's
//     primary has a ROW/FULL binlog (the opposite stream will read it);
//  2. the state machine of switchfsm.go, driven by switchdriver.go: hold and drain
//     (TrafficGate.HoldAndDrain; on timeout nothing has changed), journal, P, catch-up, Q,
//     the opposite stream stored, the routing swapped in one Holder.Update (the point of no
//     return), release, bookkeeping.
//
// Recovery (Engine.recoverSwitches, after the sidecars were read) runs the same machine from
// the journal row: routing at NEW finishes the switch, anything else rolls it back. The
// routing table is the single switch point, so at no moment do both keyspaces take writes.

// TrafficGate is the proxy side of a write switch (*proxy.Proxy implements it).
type TrafficGate interface {
	HoldAndDrain(ctx context.Context, tables []string, timeout time.Duration) (release func(), err error)
}

// SetTrafficGate gives the engine the proxy's gate; MIGRATE WRITES refuses without one.
func (e *Engine) SetTrafficGate(g TrafficGate) {
	e.sw.mu.Lock()
	e.sw.gate = g
	e.sw.mu.Unlock()
}

type switcher struct {
	mu   sync.Mutex // one switch at a time per engine
	gate TrafficGate
	// hook, for tests: called at each step; an error simulates a crash there.
	hook func(step string) error
}

// MigrateWrites is MIGRATE [REVERSE] WRITES <ref> [TIMEOUT d] [MAX LAG d] [DRY RUN].
type MigrateWrites struct {
	Ref     WorkflowRef
	Reverse bool
	Timeout time.Duration
	MaxLag  time.Duration
	DryRun  bool
}

// MigrateComplete is MIGRATE COMPLETE <ref> [KEEP DATA | RENAME TABLES] [DRY RUN].
type MigrateComplete struct {
	Ref          WorkflowRef
	KeepData     bool
	RenameTables bool
	DryRun       bool
}

func (MigrateWrites) command()   {}
func (MigrateComplete) command() {}

// parseDuration accepts 30s, 500ms, 2m or a bare number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(strings.ToLower(s)); err == nil && d > 0 {
		return d, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err == nil && n > 0 && fmt.Sprint(n) == s {
		return time.Duration(n) * time.Second, nil
	}
	return 0, fmt.Errorf("bad duration %q", s)
}

func (p *parser) writesCommand(reverse bool) (Command, error) {
	r, err := p.ref()
	if err != nil {
		return nil, err
	}
	c := MigrateWrites{Ref: r, Reverse: reverse, Timeout: 30 * time.Second, MaxLag: 30 * time.Second}
	for {
		switch {
		case p.keyword("TIMEOUT"):
			s, err := p.ident("a duration (30s)")
			if err != nil {
				return nil, err
			}
			if c.Timeout, err = parseDuration(s); err != nil {
				return nil, syntaxErr("expected a duration such as 30s after TIMEOUT, got '%s'", s)
			}
		case p.keyword("MAX"):
			if err := p.expect("LAG", "LAG after MAX"); err != nil {
				return nil, err
			}
			s, err := p.ident("a duration (30s)")
			if err != nil {
				return nil, err
			}
			if c.MaxLag, err = parseDuration(s); err != nil {
				return nil, syntaxErr("expected a duration such as 30s after MAX LAG, got '%s'", s)
			}
		case p.keyword("DRY"):
			if err := p.expect("RUN", "RUN after DRY"); err != nil {
				return nil, err
			}
			c.DryRun = true
		default:
			if err := p.end(); err != nil {
				return nil, syntaxErr("expected TIMEOUT, MAX LAG or DRY RUN %s", p.near())
			}
			return c, nil
		}
	}
}

func (p *parser) migrateComplete() (Command, error) {
	r, err := p.ref()
	if err != nil {
		return nil, err
	}
	c := MigrateComplete{Ref: r}
	for {
		switch {
		case p.keyword("KEEP"):
			if err := p.expect("DATA", "DATA after KEEP"); err != nil {
				return nil, err
			}
			c.KeepData = true
		case p.keyword("RENAME"):
			if err := p.expect("TABLES", "TABLES after RENAME"); err != nil {
				return nil, err
			}
			c.RenameTables = true
		case p.keyword("DRY"):
			if err := p.expect("RUN", "RUN after DRY"); err != nil {
				return nil, err
			}
			c.DryRun = true
		default:
			if err := p.end(); err != nil {
				return nil, syntaxErr("expected KEEP DATA, RENAME TABLES or DRY RUN %s", p.near())
			}
			if c.KeepData && c.RenameTables {
				return nil, syntaxErr("KEEP DATA and RENAME TABLES exclude each other")
			}
			return c, nil
		}
	}
}

// switch metrics
type switchMetrics struct {
	duration *prometheus.HistogramVec
	pause    *prometheus.HistogramVec
	aborted  *prometheus.CounterVec
	longest  *prometheus.GaugeVec
}

var (
	swMetricsOnce sync.Once
	swMetrics     *switchMetrics
)

func theSwitchMetrics() *switchMetrics {
	swMetricsOnce.Do(func() {
		const ns = "vtgate_lite_migration_"
		buckets := []float64{.01, .025, .05, .1, .2, .5, 1, 2, 5, 10, 30}
		m := &switchMetrics{
			duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "switch_duration_seconds", Help: "MIGRATE [REVERSE] WRITES duration, pre-checks to release.", Buckets: buckets}, []string{"workflow", "direction"}),
			pause:    prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: ns + "switch_write_pause_seconds", Help: "How long writes on the moved tables were held by a switch.", Buckets: buckets}, []string{"workflow", "direction"}),
			aborted:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "switch_aborted_total", Help: "Write switches aborted with nothing changed."}, []string{"workflow", "direction"}),
			longest:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: ns + "switch_longest_hold_seconds", Help: "Longest write pause of any switch of the workflow."}, []string{"workflow"}),
		}
		for _, c := range []prometheus.Collector{m.duration, m.pause, m.aborted, m.longest} {
			if err := prometheus.DefaultRegisterer.Register(c); err != nil {
				var are prometheus.AlreadyRegisteredError
				if !errors.As(err, &are) {
					panic(err)
				}
			}
		}
		swMetrics = m
	})
	return swMetrics
}

func switchErr(format string, args ...any) *sqlerr.Error {
	return sqlerr.New(sqlerr.ERWrongArguments, "HY000", format, args...)
}

func reverseRef(ref WorkflowRef, source string) WorkflowRef {
	return WorkflowRef{source, ref.Workflow + "_reverse"}
}

// forwardRef is reverseRef's inverse: the forward workflow of a reverse stream ref whose
// source is source; ok is false when ref is not named as a reverse stream.
func forwardRef(ref WorkflowRef, source string) (WorkflowRef, bool) {
	name, ok := strings.CutSuffix(ref.Workflow, "_reverse")
	return WorkflowRef{source, name}, ok
}

const journalDDL = `CREATE TABLE IF NOT EXISTS ` + sidecarDB + `.traffic_switch (
  keyspace VARBINARY(255) NOT NULL,
  name VARBINARY(255) NOT NULL,
  direction VARBINARY(16) NOT NULL,
  new_pos BLOB NOT NULL,
  started_at BIGINT NOT NULL DEFAULT 0,
  phase VARBINARY(32) NOT NULL DEFAULT '',
  new_denied BLOB NULL,
  PRIMARY KEY (keyspace, name)) ENGINE=InnoDB`

// swHook calls the test step hook (Config.StepHook) at step.
func (e *Engine) swHook(step string) error {
	if h := e.sw.hook; h != nil {
		return h(step)
	}
	return nil
}

// dialPrimary opens a connection to keyspace ksName's primary (data: see dial); the
// keyspace comes with it.
func (e *Engine) dialPrimary(ctx context.Context, ksName string, data bool) (*conn, *router.Keyspace, error) {
	ks, ok := e.cfg.Routing.Load().Keyspace(ksName)
	if !ok {
		return nil, nil, fmt.Errorf("keyspace %s is not configured", ksName)
	}
	c, err := dial(ctx, ks, ks.Primary, data)
	if err != nil {
		return nil, nil, err
	}
	return c, ks, nil
}

// execOn runs statements on a keyspace's primary.
func (e *Engine) execOn(ctx context.Context, ksName string, stmts ...string) error {
	c, _, err := e.dialPrimary(ctx, ksName, true)
	if err != nil {
		return err
	}
	defer c.close()
	for _, q := range stmts {
		if _, err := c.exec(q); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) primaryPos(ctx context.Context, ksName string) (string, error) {
	c, _, err := e.dialPrimary(ctx, ksName, false)
	if err != nil {
		return "", err
	}
	defer c.close()
	res, err := c.exec("SELECT @@GLOBAL.gtid_binlog_pos")
	if err != nil {
		return "", err
	}
	return res.GetString(0, 0)
}

// routeWrites points every form of the moved tables at to ("S" or "D"); reads at a tablet type
// listed in readsOn go to D whatever to is.
func routeWrites(s *router.Schema, src, dst, to string, tables []string, readsOn map[string]bool) {
	for _, t := range tables {
		for _, suf := range ruleSuffixes {
			dest := to
			if suf != "" && readsOn[suf[1:]] {
				dest = dst
			}
			for _, from := range []string{t, src + "." + t, dst + "." + t} {
				s.Rules[from+suf] = dest + "." + t
			}
		}
	}
}

func readsSet(list string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s != "" {
			m[s] = true
		}
	}
	return m
}

// writesRoutedTo reports the keyspace primary statements on the moved tables go to now.
func writesRoutedTo(rt *router.Table, tables []string) (string, bool) {
	ks := ""
	for _, t := range tables {
		to, ok := rt.Rules()[t]
		if !ok {
			return "", false
		}
		k, _, _ := strings.Cut(to, ".")
		if ks != "" && ks != k {
			return "", false
		}
		ks = k
	}
	return ks, ks != ""
}

// switchPlan describes one write switch: its workflows, as the driver needs them.
type switchPlan struct {
	fw        *runner // the forward workflow (S -> D)
	active    *runner // the stream OLD -> NEW (fw, or the reverse runner)
	opposite  *runner // NEW -> OLD when it exists already
	rec       wfRecord
	oldKS     string
	newKS     string
	direction string
	verb      string
	oppRef    WorkflowRef
}

// spec is what the machine (switchfsm.go) needs of the plan.
func (pl switchPlan) spec(c MigrateWrites, newDenied []string) switchSpec {
	reads := pl.rec.ReadsSwitched
	if pl.direction == "forward" {
		reads = "replica,rdonly"
	}
	return switchSpec{Ref: pl.rec.ref(), Verb: pl.verb, Direction: pl.direction, OldKS: pl.oldKS, NewKS: pl.newKS,
		Tables: pl.rec.Tables, Active: pl.active.ref, Opposite: pl.oppRef, Timeout: c.Timeout, NewDenied: newDenied, Reads: reads}
}

// switchWrites is MIGRATE [REVERSE] WRITES: pre-checks, then the machine, driven.
func (e *Engine) switchWrites(ctx context.Context, c MigrateWrites) (*Result, error) {
	e.sw.mu.Lock()
	defer e.sw.mu.Unlock()
	started := time.Now()
	pl, err := e.planSwitch(c)
	if err != nil {
		return nil, err
	}
	checks, failed := e.switchChecks(ctx, pl, c)
	if c.DryRun {
		return switchDryRun(pl, c, checks, failed), nil
	}
	if len(failed) > 0 {
		return nil, switchErr("%s %s refused: %s", pl.verb, c.Ref, strings.Join(failed, "; "))
	}
	// Deny triggers the new side carries from an earlier switch (deny.go): lifted just before
	// the routing swap; looked up now, outside the write pause.
	newDenied, err := e.deniedTables(ctx, pl.newKS, pl.rec.Tables)
	if err != nil {
		return nil, switchErr("%s %s refused: list the triggers on %s: %v", pl.verb, c.Ref, pl.newKS, err)
	}
	if err := e.ensureJournal(ctx, pl.rec.Keyspace); err != nil {
		return nil, switchErr("%s %s refused: create the journal on %s: %v", pl.verb, c.Ref, pl.rec.Keyspace, err)
	}
	d := &switchDriver{e: e, gate: e.sw.gate, pl: pl}
	return d.outcome(d.run(ctx, newSwitch(pl.spec(c, newDenied)), evBegin{}), started)
}

// planSwitch finds the workflows of a switch and refuses one their state does not allow.
func (e *Engine) planSwitch(c MigrateWrites) (switchPlan, error) {
	fw, err := e.runner(c.Ref)
	if err != nil {
		return switchPlan{}, err
	}
	fw.mu.Lock()
	rec, fst := *fw.rec, fw.st
	fw.mu.Unlock()
	if fwd, ok := forwardRef(c.Ref, rec.Source); ok {
		if _, err := e.runner(fwd); err == nil {
			return switchPlan{}, switchErr("%s is a reverse workflow: use MIGRATE REVERSE WRITES %s", c.Ref, fwd)
		}
	}
	pl := switchPlan{fw: fw, rec: rec, direction: "forward", oldKS: rec.Source, newKS: rec.Keyspace, verb: "MIGRATE WRITES"}
	rvRef := reverseRef(c.Ref, rec.Source)
	rv, _ := e.runner(rvRef)
	if fst.Phase == Completed {
		return pl, switchErr("%s: workflow %s is completed", pl.verb, c.Ref)
	}
	if !c.Reverse {
		if fst.WritesSwitched {
			return pl, switchErr("%s refused: writes of %s are already switched to %s", pl.verb, c.Ref, rec.Keyspace)
		}
		pl.active, pl.opposite, pl.oppRef = fw, rv, rvRef
		return pl, nil
	}
	pl.verb, pl.direction, pl.oldKS, pl.newKS = "MIGRATE REVERSE WRITES", "reverse", rec.Keyspace, rec.Source
	if !fst.WritesSwitched {
		return pl, switchErr("%s refused: writes of %s are not switched to %s", pl.verb, c.Ref, rec.Keyspace)
	}
	if rv == nil {
		return pl, switchErr("%s refused: the reverse workflow %s does not exist", pl.verb, rvRef)
	}
	pl.active, pl.opposite, pl.oppRef = rv, fw, c.Ref
	return pl, nil
}

// switchChecks runs the pre-checks: rows of (check, name, ok|FAILED, detail), and the failures.
func (e *Engine) switchChecks(ctx context.Context, pl switchPlan, c MigrateWrites) (checks [][]string, failed []string) {
	check := func(name string, ok bool, detail string) {
		res := "ok"
		if !ok {
			res = "FAILED"
			failed = append(failed, name+": "+detail)
		}
		checks = append(checks, []string{"check", name, res, detail})
	}
	pl.active.mu.Lock()
	ast, lag, alastErr := pl.active.st, pl.active.lag, pl.active.lastErr
	pl.active.mu.Unlock()
	detail := fmt.Sprintf("stream %s is %s", pl.active.ref, ast.Phase)
	if ast.Retries > 0 {
		detail += " (retrying: " + alastErr + ")"
	}
	check("stream running", ast.Phase == Running && ast.CopyDone && ast.Retries == 0, detail)
	check("lag <= MAX LAG", time.Duration(lag*float64(time.Second)) <= c.MaxLag, fmt.Sprintf("lag %.1fs, max %s", lag, c.MaxLag))
	rt := e.cfg.Routing.Load()
	nks, ok := rt.Keyspace(pl.newKS)
	bdetail := "binlog ROW/FULL on " + pl.newKS + " primary (the opposite stream reads it)"
	if ok {
		if err := checkBinlog(ctx, nks, nks.Primary); err != nil {
			ok, bdetail = false, err.Error()
		}
	}
	check("binlog on "+pl.newKS, ok, bdetail)
	cur, _ := writesRoutedTo(rt, pl.rec.Tables)
	check("writes routed to "+pl.oldKS, cur == pl.oldKS, "routing rules send the moved tables' writes to "+cur)
	check("traffic gate", e.sw.gate != nil, "the proxy can hold and drain statements")
	return checks, failed
}

// switchDryRun is MIGRATE WRITES ... DRY RUN: the checks and the steps, nothing changed.
func switchDryRun(pl switchPlan, c MigrateWrites, checks [][]string, failed []string) *Result {
	held := strings.Join(qualify(pl.oldKS, pl.rec.Tables), ", ")
	res := &Result{Columns: []string{"kind", "step", "result", "detail"}, Rows: checks}
	steps := []string{
		fmt.Sprintf("hold new statements on %s and drain transactions in flight on them (timeout %s); on timeout abort with nothing changed", held, c.Timeout),
		fmt.Sprintf("write the journal; deny writes that bypass vtgate-lite on %s (triggers; they wait for transactions open there outside vtgate-lite, within the same timeout)", held),
		fmt.Sprintf("read %s primary's position P, run stream %s to P, stop it", pl.oldKS, pl.active.ref),
		fmt.Sprintf("read %s primary's position Q; store stream %s at Q (stopped)", pl.newKS, pl.oppRef),
		fmt.Sprintf("lift the write denial on %s if an earlier switch left one; swap the routing rules of %s to %s (one step)", pl.newKS, strings.Join(pl.rec.Tables, ", "), pl.newKS),
		fmt.Sprintf("release the held statements to %s (planned again); start stream %s from Q", pl.newKS, pl.oppRef),
	}
	for i, s := range steps {
		res.Rows = append(res.Rows, []string{"step", fmt.Sprint(i + 1), "dry run", s})
	}
	res.Info = fmt.Sprintf("DRY RUN %s %s: nothing changed", pl.verb, c.Ref)
	if len(failed) > 0 {
		res.Info += "; it would be refused: " + strings.Join(failed, "; ")
	}
	return res
}

var longestMu sync.Mutex
var longestHold = map[string]time.Duration{}

func (s *switcher) noteLongest(ref WorkflowRef, d time.Duration) {
	longestMu.Lock()
	defer longestMu.Unlock()
	if d > longestHold[ref.String()] {
		longestHold[ref.String()] = d
		theSwitchMetrics().longest.WithLabelValues(ref.String()).Set(d.Seconds())
	}
}

// syncTo runs r's stream exactly to pos (at a transaction boundary, everything committed).
func syncTo(ctx context.Context, r *runner, pos string) error {
	req := &syncRequest{Reply: make(chan error, 1),
		Snapshot: func(string) (string, error) { return pos, nil },
		Fn:       func() error { return nil }}
	select {
	case r.syncCh <- req:
	case <-ctx.Done():
		return fmt.Errorf("the stream did not take the request: %w", ctx.Err())
	}
	select {
	case err := <-req.Reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resumeStream starts a stopped runner again (its stored position is where it stopped).
func (e *Engine) resumeStream(ctx context.Context, r *runner) error {
	return r.command(ctx, EvStart{})
}

// prepareOpposite stores the NEW -> OLD stream at position q, stopped.
func (e *Engine) prepareOpposite(ctx context.Context, pl switchPlan, q string) (*runner, error) {
	rec := pl.rec
	if pl.direction == "reverse" {
		// The forward workflow exists: store its new position (it is Stopped).
		if err := e.execOn(ctx, rec.Keyspace, fmt.Sprintf("UPDATE %s.workflow SET pos=%s, phase='Stopped', message='waiting for the write switch'%s", sidecarDB, quote(q), wfWhere(rec.ref()))); err != nil {
			return nil, err
		}
		return pl.fw, nil
	}
	rref := reverseRef(rec.ref(), rec.Source)
	rrec := &wfRecord{Keyspace: rec.Source, Name: rref.Workflow, Source: rec.Keyspace, Tables: rec.Tables, OnDDL: rec.OnDDL,
		CopyFrom: "primary", Phase: Stopped, CopyDone: true, Flavor: rec.Flavor, Pos: q, Message: "waiting for the write switch"}
	sks, ok := e.cfg.Routing.Load().Keyspace(rec.Source)
	if !ok {
		return nil, fmt.Errorf("keyspace %s is not configured", rec.Source)
	}
	c, err := dial(ctx, sks, sks.Primary, true)
	if err != nil {
		return nil, err
	}
	defer c.close()
	if err := ensureSidecar(c); err != nil {
		return nil, err
	}
	if pl.opposite != nil {
		if _, err := c.exec(fmt.Sprintf("UPDATE %s.workflow SET pos=%s, phase='Stopped', message='waiting for the write switch'%s", sidecarDB, quote(q), wfWhere(rref))); err != nil {
			return nil, err
		}
		return pl.opposite, nil
	}
	if _, err := c.exec("DELETE FROM " + sidecarDB + ".workflow" + wfWhere(rref)); err != nil {
		return nil, err
	}
	if _, err := c.exec(insertWorkflowSQL(rrec)); err != nil {
		return nil, err
	}
	r := newRunner(e, rrec)
	e.mu.Lock()
	e.runners[rref.String()] = r
	e.found[rec.Source] = true
	e.startLocked(r)
	e.mu.Unlock()
	return r, nil
}

// recoverSwitches finishes or rolls back write switches a crash interrupted. Called once
// every sidecar was read.
func (e *Engine) recoverSwitches(ctx context.Context) {
	for _, fw := range e.sortedRunners() {
		if strings.HasSuffix(fw.ref.Workflow, "_reverse") {
			continue
		}
		if err := e.recoverSwitch(ctx, fw); err != nil {
			e.cfg.Logger.Warn("migration: cannot recover an interrupted traffic switch, will retry at next start", "workflow", fw.ref.String(), "err", err)
		}
	}
}

// retryRecover finishes a switch whose bookkeeping failed after the routing swap (the journal
// row is still there), until it succeeds or the engine stops.
func (e *Engine) retryRecover(fw *runner) {
	e.mu.Lock()
	ctx := e.runCtx
	e.mu.Unlock()
	if ctx == nil {
		return
	}
	for n := 1; ctx.Err() == nil; n++ {
		select {
		case <-time.After(Backoff(n)):
		case <-ctx.Done():
			return
		}
		if err := e.recoverSwitch(ctx, fw); err == nil {
			return
		} else {
			e.cfg.Logger.Warn("migration: finishing a write switch failed, will retry", "workflow", fw.ref.String(), "err", err)
		}
	}
}

// recoverSwitch runs the machine from fw's journal row: a switch whose routing was swapped is
// finished, any other rolled back (switchfsm.go); an interrupted MIGRATE COMPLETE is finished.
func (e *Engine) recoverSwitch(ctx context.Context, fw *runner) error {
	e.sw.mu.Lock()
	defer e.sw.mu.Unlock()
	if _, ok := e.cfg.Routing.Load().Keyspace(fw.ref.Keyspace); !ok {
		return nil
	}
	j, ok, err := e.readJournal(ctx, fw.ref.Keyspace, fw.ref)
	if err != nil || !ok {
		return err
	}
	if j.direction == "complete" {
		e.cfg.Logger.Info("migration: finishing an interrupted MIGRATE COMPLETE", "workflow", fw.ref.String(), "source tables", j.newPos)
		return e.runComplete(ctx, fw, j.newPos, evRecover{})
	}
	pl, s := e.recoveredSwitch(fw, j)
	routed, _ := writesRoutedTo(e.cfg.Routing.Load(), pl.rec.Tables)
	ev := evRecover{Journaled: journalPhase(j.phase, j.newPos), RoutedToNew: routed == pl.newKS,
		HasActive: pl.active != nil, HasOpposite: pl.opposite != nil}
	d := &switchDriver{e: e, pl: pl}
	if s = d.run(ctx, s, ev); s.mode == swFailed {
		return s.err
	}
	return nil
}

// recoveredSwitch rebuilds a switch's plan and state from its journal row.
func (e *Engine) recoveredSwitch(fw *runner, j journalRow) (switchPlan, switchState) {
	fw.mu.Lock()
	rec := *fw.rec
	fw.mu.Unlock()
	rvRef := reverseRef(fw.ref, rec.Source)
	rv, _ := e.runner(rvRef)
	pl := switchPlan{fw: fw, rec: rec, direction: j.direction, oldKS: rec.Source, newKS: rec.Keyspace, active: fw, opposite: rv, oppRef: rvRef}
	if j.direction == "reverse" {
		pl.oldKS, pl.newKS, pl.active, pl.opposite, pl.oppRef = rec.Keyspace, rec.Source, rv, fw, fw.ref
	}
	newDenied := splitList(j.newDenied)
	if j.phase == "" && j.direction == "reverse" {
		newDenied = rec.Tables // a row from before the column: the source was denied since the forward switch
	}
	reads := rec.ReadsSwitched
	if j.direction == "forward" {
		reads = "replica,rdonly"
	}
	activeRef := fw.ref
	if j.direction == "reverse" {
		activeRef = rvRef
	}
	s := newSwitch(switchSpec{Ref: fw.ref, Direction: j.direction, OldKS: pl.oldKS, NewKS: pl.newKS, Tables: rec.Tables,
		Active: activeRef, Opposite: pl.oppRef, NewDenied: newDenied, Reads: reads})
	s.q = j.newPos
	return pl, s
}

// migrateComplete ends a workflow whose writes are switched: removes the routing rules and
// the source's VSchema entries, stops and removes the reverse stream, and drops (or renames,
// or keeps) the source tables: completeStep's machine (switchfsm.go). A journal row (direction
// "complete", new_pos the action) is written first, so a crash at any step is finished at the
// next start (recoverSwitch); every step is idempotent.
func (e *Engine) migrateComplete(ctx context.Context, c MigrateComplete) (*Result, error) {
	e.sw.mu.Lock()
	defer e.sw.mu.Unlock()
	fw, err := e.runner(c.Ref)
	if err != nil {
		return nil, err
	}
	fw.mu.Lock()
	rec, st := *fw.rec, fw.st
	fw.mu.Unlock()
	if st.Phase == Completed {
		return nil, switchErr("MIGRATE COMPLETE: workflow %s is already completed", c.Ref)
	}
	if !st.WritesSwitched {
		return nil, switchErr("MIGRATE COMPLETE refused: writes of %s are not switched to %s (run MIGRATE WRITES first, or MIGRATE CANCEL)", c.Ref, rec.Keyspace)
	}
	sks, ok := e.cfg.Routing.Load().Keyspace(rec.Source)
	if !ok {
		return nil, switchErr("MIGRATE COMPLETE: keyspace %s is not configured", rec.Source)
	}
	action := completeDrop
	switch {
	case c.KeepData:
		action = completeKeep
	case c.RenameTables:
		action = completeRename
	}
	steps := completeSteps(c.Ref, rec, sks.Database, action)
	if c.DryRun {
		res := &Result{Columns: []string{"step", "detail"}}
		for i, s := range steps {
			res.Rows = append(res.Rows, []string{fmt.Sprint(i + 1), s})
		}
		res.Info = "DRY RUN MIGRATE COMPLETE " + c.Ref.String() + ": nothing changed"
		return res, nil
	}
	if err := e.runComplete(ctx, fw, action, evBegin{}); err != nil {
		return nil, err
	}
	return &Result{Info: fmt.Sprintf("workflow %s completed: %s", c.Ref, strings.Join(steps, "; "))}, nil
}

// What MIGRATE COMPLETE does with the source tables (stored in the journal row).
const (
	completeDrop   = "drop"
	completeKeep   = "keep"
	completeRename = "rename"
)

func completeSteps(ref WorkflowRef, rec wfRecord, srcDB, action string) []string {
	what := map[string]string{completeDrop: "drop", completeKeep: "keep", completeRename: "rename to _vt_old_<name>"}[action]
	return []string{
		"remove the routing rules of " + strings.Join(rec.Tables, ", ") + " and their entries in " + rec.Source + "'s VSchema (the tables now belong to " + rec.Keyspace + ")",
		"stop and remove the reverse stream " + reverseRef(ref, rec.Source).String(),
		what + " the source tables " + strings.Join(qualify(srcDB, rec.Tables), ", "),
		"mark " + ref.String() + " Completed",
	}
}

// tablesPresent reports which of tables exist in keyspace ksName's database on its primary.
func (e *Engine) tablesPresent(ctx context.Context, ksName string, tables []string) (map[string]bool, error) {
	c, ks, err := e.dialPrimary(ctx, ksName, false)
	if err != nil {
		return nil, err
	}
	defer c.close()
	res, err := c.exec("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=" + quote(ks.Database))
	if err != nil {
		return nil, err
	}
	all := map[string]bool{}
	for i := 0; i < res.RowNumber(); i++ {
		n, _ := res.GetString(i, 0)
		all[n] = true
	}
	present := map[string]bool{}
	for _, t := range tables {
		present[t] = all[t]
	}
	return present, nil
}

func qualify(db string, tables []string) []string {
	var out []string
	for _, t := range tables {
		out = append(out, db+"."+t)
	}
	return out
}

// guardStart refuses MIGRATE START of a stream whose direction does not take writes now
// (it would stream the other stream's changes back: a loop).
func (e *Engine) guardStart(ref WorkflowRef) error {
	r, err := e.runner(ref)
	if err != nil {
		return err
	}
	r.mu.Lock()
	rec, st := *r.rec, r.st
	r.mu.Unlock()
	if st.WritesSwitched {
		return switchErr("MIGRATE START refused: writes of %s are switched to %s; stream %s keeps %s current", ref, rec.Keyspace, reverseRef(ref, rec.Source), rec.Source)
	}
	if fwd, ok := forwardRef(ref, rec.Source); ok {
		if fw, err := e.runner(fwd); err == nil {
			fw.mu.Lock()
			ws := fw.st.WritesSwitched
			fw.mu.Unlock()
			if !ws {
				return switchErr("MIGRATE START refused: writes of %s are on %s; the reverse stream %s runs only after MIGRATE WRITES", fw.ref, rec.Keyspace, ref)
			}
		}
	}
	return nil
}

// guardCancel refuses MIGRATE CANCEL of a reverse workflow (cancel would drop the source tables).
func (e *Engine) guardCancel(ref WorkflowRef) error {
	r, err := e.runner(ref)
	if err != nil {
		return err
	}
	r.mu.Lock()
	src := r.rec.Source
	r.mu.Unlock()
	if fwd, ok := forwardRef(ref, src); ok {
		if _, err := e.runner(fwd); err == nil {
			return switchErr("MIGRATE CANCEL refused: %s is the reverse stream of %s: use MIGRATE REVERSE WRITES or MIGRATE COMPLETE", ref, fwd)
		}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return "bookkeeping is retried in the background: " + err.Error()
}

// migrateCancel is MIGRATE CANCEL: refused for a reverse workflow; a forward workflow whose
// writes were switched back (REVERSE WRITES) also loses its stopped reverse workflow.
func (e *Engine) migrateCancel(ctx context.Context, c MigrateCancel) (*Result, error) {
	if err := e.guardCancel(c.Ref); err != nil {
		return nil, err
	}
	var rv *runner
	if r, err := e.runner(c.Ref); err == nil {
		r.mu.Lock()
		src := r.rec.Source
		r.mu.Unlock()
		rv, _ = e.runner(reverseRef(c.Ref, src))
	}
	res, err := e.simple(ctx, c.Ref, EvCancel{KeepData: c.KeepData}, "cancelled")
	if err != nil || rv == nil {
		return res, err
	}
	// KeepData: the reverse workflow's "target tables" are the source tables, never dropped.
	if err := rv.command(ctx, EvCancel{KeepData: true}); err != nil {
		return nil, switchErr("workflow %s cancelled, but removing its reverse workflow %s failed: %v", c.Ref, rv.ref, err)
	}
	res.Info += "; reverse workflow " + rv.ref.String() + " removed"
	return res, nil
}
