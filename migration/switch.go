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
//  1. pre-checks: the stream OLD->NEW is Running, copied, lag <= MAX LAG, NEW's primary has
//     a ROW/FULL binlog (the opposite stream will read it);
//  2. the proxy holds new statements touching OLD.t and drains transactions in flight on them
//     (TrafficGate.HoldAndDrain); on timeout nothing has changed;
//  3. only then: P = OLD primary's @@gtid_binlog_pos; the stream OLD->NEW runs to P (the
//     VDIFF synchronisation point), then stops;
//  4. a journal row is written on D's sidecar; Q = NEW primary's @@gtid_binlog_pos; the
//     opposite stream NEW->OLD is stored (Stopped) at Q;
//  5. routing rules are swapped in one Holder.Update (persisted): the point of no return;
//  6. the opposite stream starts, the journal row is deleted with writes_switched, the held
//     statements are released (and re-planned against the new routing).
//
// Recovery (Engine.recoverSwitches, after the sidecars were read): a journal row whose
// routing still points at OLD is rolled back (the OLD->NEW stream starts again from its stored
// position); one whose routing points at NEW is finished (the NEW->OLD stream starts at Q).
// The routing table is the single switch point, so at no moment do both keyspaces take writes.

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

func (p *parser) migrateWrites(reverse bool) (Command, error) {
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
  PRIMARY KEY (keyspace, name)) ENGINE=InnoDB`

func (e *Engine) swStep(step string) error {
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

// switchPlan describes one write switch.
type switchPlan struct {
	fw        *runner // the forward workflow (S -> D)
	active    *runner // the stream OLD -> NEW (fw, or the reverse runner)
	opposite  *runner // NEW -> OLD when it exists already
	rec       wfRecord
	oldKS     string
	newKS     string
	direction string
}

func (e *Engine) migrateWrites(ctx context.Context, c MigrateWrites) (*Result, error) {
	e.sw.mu.Lock()
	defer e.sw.mu.Unlock()
	started := time.Now()
	fw, err := e.runner(c.Ref)
	if err != nil {
		return nil, err
	}
	fw.mu.Lock()
	rec, fst := *fw.rec, fw.st
	fw.mu.Unlock()
	if fwd, ok := forwardRef(c.Ref, rec.Source); ok {
		if _, err := e.runner(fwd); err == nil {
			return nil, switchErr("%s is a reverse workflow: use MIGRATE REVERSE WRITES %s", c.Ref, fwd)
		}
	}
	pl := switchPlan{fw: fw, rec: rec, direction: "forward", oldKS: rec.Source, newKS: rec.Keyspace}
	verb := "MIGRATE WRITES"
	rvRef := reverseRef(c.Ref, rec.Source)
	rv, _ := e.runner(rvRef)
	if fst.Phase == Completed {
		return nil, switchErr("%s: workflow %s is completed", verb, c.Ref)
	}
	if c.Reverse {
		verb = "MIGRATE REVERSE WRITES"
		pl.direction, pl.oldKS, pl.newKS = "reverse", rec.Keyspace, rec.Source
		if !fst.WritesSwitched {
			return nil, switchErr("%s refused: writes of %s are not switched to %s", verb, c.Ref, rec.Keyspace)
		}
		if rv == nil {
			return nil, switchErr("%s refused: the reverse workflow %s does not exist", verb, rvRef)
		}
		pl.active, pl.opposite = rv, fw
	} else {
		if fst.WritesSwitched {
			return nil, switchErr("%s refused: writes of %s are already switched to %s", verb, c.Ref, rec.Keyspace)
		}
		pl.active, pl.opposite = fw, rv
	}
	// 1. Pre-checks.
	var checks [][]string
	check := func(name string, ok bool, detail string) {
		res := "ok"
		if !ok {
			res = "FAILED"
		}
		checks = append(checks, []string{"check", name, res, detail})
	}
	pl.active.mu.Lock()
	ast, lag, alastErr := pl.active.st, pl.active.lag, pl.active.lastErr
	pl.active.mu.Unlock()
	streamOK := ast.Phase == Running && ast.CopyDone && ast.Retries == 0
	detail := fmt.Sprintf("stream %s is %s", pl.active.ref, ast.Phase)
	if ast.Retries > 0 {
		detail += " (retrying: " + alastErr + ")"
	}
	check("stream running", streamOK, detail)
	lagOK := time.Duration(lag*float64(time.Second)) <= c.MaxLag
	check("lag <= MAX LAG", lagOK, fmt.Sprintf("lag %.1fs, max %s", lag, c.MaxLag))
	rt := e.cfg.Routing.Load()
	nks, ok := rt.Keyspace(pl.newKS)
	binlogOK := ok
	bdetail := "binlog ROW/FULL on " + pl.newKS + " primary (the opposite stream reads it)"
	if ok {
		if err := checkBinlog(ctx, nks, nks.Primary); err != nil {
			binlogOK, bdetail = false, err.Error()
		}
	}
	check("binlog on "+pl.newKS, binlogOK, bdetail)
	cur, _ := writesRoutedTo(rt, rec.Tables)
	check("writes routed to "+pl.oldKS, cur == pl.oldKS, "routing rules send the moved tables' writes to "+cur)
	gate := e.sw.gate
	check("traffic gate", gate != nil, "the proxy can hold and drain statements")
	var failed []string
	for _, ch := range checks {
		if ch[2] != "ok" {
			failed = append(failed, ch[1]+": "+ch[3])
		}
	}
	var held []string
	for _, t := range rec.Tables {
		held = append(held, pl.oldKS+"."+t)
	}
	oppRef := rvRef
	if c.Reverse {
		oppRef = c.Ref
	}
	if c.DryRun {
		res := &Result{Columns: []string{"kind", "step", "result", "detail"}, Rows: checks}
		steps := []string{
			fmt.Sprintf("hold new statements on %s and drain transactions in flight on them (timeout %s); on timeout abort with nothing changed", strings.Join(held, ", "), c.Timeout),
			fmt.Sprintf("write the journal; deny writes that bypass vtgate-lite on %s (triggers; they wait for transactions open there outside vtgate-lite, within the same timeout)", strings.Join(held, ", ")),
			fmt.Sprintf("read %s primary's position P, run stream %s to P, stop it", pl.oldKS, pl.active.ref),
			fmt.Sprintf("read %s primary's position Q; store stream %s at Q (stopped)", pl.newKS, oppRef),
			fmt.Sprintf("lift the write denial on %s if an earlier switch left one; swap the routing rules of %s to %s (one step)", pl.newKS, strings.Join(rec.Tables, ", "), pl.newKS),
			fmt.Sprintf("release the held statements to %s (planned again); start stream %s from Q", pl.newKS, oppRef),
		}
		for i, s := range steps {
			res.Rows = append(res.Rows, []string{"step", fmt.Sprint(i + 1), "dry run", s})
		}
		res.Info = fmt.Sprintf("DRY RUN %s %s: nothing changed", verb, c.Ref)
		if len(failed) > 0 {
			res.Info += "; it would be refused: " + strings.Join(failed, "; ")
		}
		return res, nil
	}
	if len(failed) > 0 {
		return nil, switchErr("%s %s refused: %s", verb, c.Ref, strings.Join(failed, "; "))
	}
	// Deny triggers the new side carries from an earlier switch (deny.go): lifted just before
	// the routing swap; looked up now, outside the write pause.
	newDenied, err := e.deniedTables(ctx, pl.newKS, rec.Tables)
	if err != nil {
		return nil, switchErr("%s %s refused: list the triggers on %s: %v", verb, c.Ref, pl.newKS, err)
	}
	m := theSwitchMetrics()
	journaled, oldDenied, denyNote := false, false, ""
	abort := func(err error) (*Result, error) {
		if journaled {
			e.execOn(context.WithoutCancel(ctx), rec.Keyspace, "DELETE FROM "+sidecarDB+".traffic_switch"+wfWhere(c.Ref))
		}
		if oldDenied {
			// The old side keeps the writes: lift its denial (bounded: readers may hold it).
			if uerr := e.setDenied(context.WithoutCancel(ctx), pl.oldKS, rec.Tables, false, "", 10*time.Second); uerr != nil {
				e.cfg.Logger.Error("migration: the aborted switch could not lift the write denial on the old side: writes that bypass vtgate-lite fail there until MIGRATE WRITES or a restart retries",
					"workflow", c.Ref.String(), "keyspace", pl.oldKS, "err", uerr)
			}
		}
		m.aborted.WithLabelValues(c.Ref.String(), pl.direction).Inc()
		return nil, err
	}

	// 2. Hold and drain.
	holdAt := time.Now()
	release, err := gate.HoldAndDrain(ctx, held, c.Timeout)
	if err != nil {
		msg := err.Error()
		var se *sqlerr.Error
		if errors.As(err, &se) {
			msg = se.Message
		}
		return abort(sqlerr.Wrap(err, sqlerr.ERLockWaitTimeout, "HY000", "%s %s: %s", verb, c.Ref, msg))
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	// Journal: from here a crash is finished or rolled back by recoverSwitches (it lifts the
	// denial below when it rolls back: without the journal, the proxy's own writes, still
	// routed to the old side, would meet it).
	if err := e.execOn(ctx, rec.Keyspace, journalDDL,
		fmt.Sprintf("REPLACE INTO %s.traffic_switch (keyspace, name, direction, new_pos, started_at) VALUES (%s,%s,%s,'',%d)",
			sidecarDB, quote(c.Ref.Keyspace), quote(c.Ref.Workflow), quote(pl.direction), time.Now().Unix())); err != nil {
		return abort(switchErr("%s %s aborted, nothing changed: write journal: %v", verb, c.Ref, err))
	}
	journaled = true
	if err := e.swStep("drained"); err != nil {
		return nil, err
	}
	remaining := func() time.Duration { return max(time.Until(holdAt.Add(c.Timeout)), time.Second) }
	// Deny writes that bypass vtgate-lite on the old side from now on (deny.go). Creating the
	// triggers waits for transactions open on the tables outside vtgate-lite: they commit
	// before P is read, so the stream carries them.
	if err := e.setDenied(ctx, pl.oldKS, rec.Tables, true, denyReason(c.Ref, pl.newKS), remaining()); err != nil {
		oldDenied = true // a part may be in place: abort lifts it
		if isLockWait(err) {
			return abort(sqlerr.Wrap(err, sqlerr.ERLockWaitTimeout, "HY000", "%s %s aborted, nothing changed: a transaction outside vtgate-lite kept a moved table on %s busy for TIMEOUT %s: %v", verb, c.Ref, pl.oldKS, c.Timeout, err))
		}
		if uerr := e.setDenied(context.WithoutCancel(ctx), pl.oldKS, rec.Tables, false, "", remaining()); uerr == nil {
			oldDenied = false
		}
		denyNote = fmt.Sprintf("writes that bypass vtgate-lite are not denied on %s: %v", pl.oldKS, err)
		e.cfg.Logger.Warn("migration: "+denyNote, "workflow", c.Ref.String())
	} else {
		oldDenied = true
	}
	// 3. Catch up: P read after the drain; the stream runs exactly to it, then stops. TIMEOUT
	// bounds the drain and the catch-up together: no statement is held longer than TIMEOUT
	// (plus the few milliseconds of the steps after it).
	catchCtx, cancel := context.WithDeadline(ctx, holdAt.Add(c.Timeout))
	defer cancel()
	p, err := e.primaryPos(catchCtx, pl.oldKS)
	if err != nil {
		return abort(switchErr("%s %s aborted, nothing changed: read %s position: %v", verb, c.Ref, pl.oldKS, err))
	}
	if err := syncTo(catchCtx, pl.active, p); err != nil {
		return abort(switchErr("%s %s aborted, nothing changed: stream %s did not reach %s within TIMEOUT %s (drain and catch-up together): %v", verb, c.Ref, pl.active.ref, p, c.Timeout, err))
	}
	newLifted := false
	rollback := func(cause error) (*Result, error) {
		// Before the routing swap: the OLD->NEW stream resumes from its stored position, and
		// the new side is denied again if this switch had lifted it.
		if newLifted {
			_ = e.setDenied(context.WithoutCancel(ctx), pl.newKS, newDenied, true, denyReason(c.Ref, pl.oldKS), 10*time.Second)
		}
		e.resumeStream(context.WithoutCancel(ctx), pl.active)
		return abort(switchErr("%s %s aborted, nothing changed: %v", verb, c.Ref, cause))
	}
	if err := pl.active.command(ctx, EvStop{}); err != nil {
		return rollback(fmt.Errorf("stop stream %s: %w", pl.active.ref, err))
	}
	if err := e.swStep("stopped"); err != nil {
		return nil, err
	}
	q, err := e.primaryPos(ctx, pl.newKS)
	if err != nil {
		return rollback(fmt.Errorf("read %s position: %w", pl.newKS, err))
	}
	// 4. The opposite stream, stored stopped at Q.
	opp, err := e.prepareOpposite(ctx, pl, q)
	if err != nil {
		return rollback(fmt.Errorf("prepare stream %s: %w", oppRef, err))
	}
	if err := e.execOn(ctx, rec.Keyspace, fmt.Sprintf("UPDATE %s.traffic_switch SET new_pos=%s%s", sidecarDB, quote(q), wfWhere(c.Ref))); err != nil {
		return rollback(err)
	}
	if err := e.swStep("prepared"); err != nil {
		return nil, err
	}
	if len(newDenied) > 0 {
		newLifted = true // a part may be lifted: rollback denies again
		if err := e.setDenied(ctx, pl.newKS, newDenied, false, "", remaining()); err != nil {
			return rollback(fmt.Errorf("lift the write denial on %s: %w", pl.newKS, err))
		}
		if err := e.swStep("lifted"); err != nil {
			return nil, err
		}
	}
	// 5. Swap the routing in one step: the point of no return.
	readsOn := readsSet(rec.ReadsSwitched)
	newReads := rec.ReadsSwitched
	if !c.Reverse {
		readsOn = map[string]bool{"replica": true, "rdonly": true}
		newReads = "replica,rdonly"
	}
	if _, err := e.cfg.Routing.Update(func(s *router.Schema) error {
		routeWrites(s, rec.Source, rec.Keyspace, pl.newKS, rec.Tables, readsOn)
		return nil
	}); err != nil {
		return rollback(fmt.Errorf("swap routing rules: %w", err))
	}
	if err := e.swStep("swapped"); err != nil {
		return nil, err
	}
	// 6. Release first (the writes now go to NEW), then finish the bookkeeping.
	release()
	released = true
	pause := time.Since(holdAt)
	ferr := e.finishSwitch(context.WithoutCancel(ctx), fw, opp, pl.active, !c.Reverse, newReads)
	m.pause.WithLabelValues(c.Ref.String(), pl.direction).Observe(pause.Seconds())
	m.duration.WithLabelValues(c.Ref.String(), pl.direction).Observe(time.Since(started).Seconds())
	e.sw.noteLongest(c.Ref, pause)
	info := fmt.Sprintf("workflow %s: writes switched to %s (writes paused %s); stream %s started", c.Ref, pl.newKS, pause.Round(time.Millisecond), opp.ref)
	if ferr != nil {
		info += fmt.Sprintf("; bookkeeping is retried in the background: %v", ferr)
		go e.retryRecover(fw)
	}
	note := errString(ferr)
	if denyNote != "" {
		info += "; " + denyNote
		note = strings.TrimPrefix(note+"; "+denyNote, "; ")
	}
	return &Result{Info: info, Columns: []string{"workflow", "writes_to", "write_pause_ms", "stream_started", "note"},
		Rows: [][]string{{c.Ref.String(), pl.newKS, fmt.Sprint(pause.Milliseconds()), opp.ref.String(), note}}}, nil
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

// finishSwitch records writes_switched on the forward workflow, starts the opposite stream and
// deletes the journal row, in that order: the stream's first load reads the new flags, and a
// crash before the journal row is gone is finished again by recoverSwitches.
func (e *Engine) finishSwitch(ctx context.Context, fw, opp, stopped *runner, forward bool, reads string) error {
	var errs []error
	fw.mu.Lock()
	source, tables := fw.rec.Source, fw.rec.Tables
	fw.mu.Unlock()
	// The new side takes the writes: no denial left there (the live switch lifted it before
	// releasing the held statements; a restart that finishes a switch may not have).
	newKS := fw.ref.Keyspace
	if !forward {
		newKS = source
	}
	if err := e.setDenied(ctx, newKS, tables, false, "", 30*time.Second); err != nil {
		return fmt.Errorf("lift the write denial on %s: %w", newKS, err) // the journal stays: retried
	}
	msg := "writes switched to " + fw.ref.Keyspace + "; stream " + opp.ref.String() + " keeps " + source + " current"
	if !forward {
		msg = "writes switched back to " + source + "; stream " + opp.ref.String() + " keeps " + fw.ref.Keyspace + " current"
	}
	if err := e.execOn(ctx, fw.ref.Keyspace,
		fmt.Sprintf("UPDATE %s.workflow SET writes_switched=%s, reads_switched=%s%s", sidecarDB, boolSQL(forward), quote(reads), wfWhere(fw.ref))); err != nil {
		return fmt.Errorf("record the switch: %w", err) // the journal stays: the next start finishes
	}
	if err := e.execOn(ctx, stopped.ref.Keyspace, "UPDATE "+sidecarDB+".workflow SET message="+quote(msg)+wfWhere(stopped.ref)); err != nil {
		errs = append(errs, err)
	}
	fw.mu.Lock()
	fw.rec.WritesSwitched, fw.st.WritesSwitched = forward, forward
	fw.rec.ReadsSwitched, fw.st.ReadsSwitched = reads, reads != ""
	fw.mu.Unlock()
	stopped.mu.Lock()
	stopped.st.Message = msg
	stopped.mu.Unlock()
	if err := e.resumeStream(ctx, opp); err != nil {
		return errors.Join(append(errs, fmt.Errorf("start %s: %w", opp.ref, err))...)
	}
	if err := e.execOn(ctx, fw.ref.Keyspace, "DELETE FROM "+sidecarDB+".traffic_switch"+wfWhere(fw.ref)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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

func (e *Engine) recoverSwitch(ctx context.Context, fw *runner) error {
	e.sw.mu.Lock()
	defer e.sw.mu.Unlock()
	tks, ok := e.cfg.Routing.Load().Keyspace(fw.ref.Keyspace)
	if !ok {
		return nil
	}
	c, err := dial(ctx, tks, tks.Primary, true)
	if err != nil {
		return err
	}
	res, err := c.exec("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='" + sidecarDB + "' AND TABLE_NAME='traffic_switch'")
	if err != nil {
		c.close()
		return err
	}
	if n, _ := res.GetInt(0, 0); n == 0 {
		c.close()
		return nil
	}
	res, err = c.exec("SELECT direction, new_pos FROM " + sidecarDB + ".traffic_switch" + wfWhere(fw.ref))
	c.close()
	if err != nil {
		return err
	}
	if res.RowNumber() == 0 {
		return nil
	}
	dir, _ := res.GetString(0, 0)
	newPos, _ := res.GetString(0, 1)
	if dir == "complete" {
		e.cfg.Logger.Info("migration: finishing an interrupted MIGRATE COMPLETE", "workflow", fw.ref.String(), "source tables", newPos)
		return e.finishComplete(ctx, fw, newPos)
	}
	fw.mu.Lock()
	rec := *fw.rec
	fw.mu.Unlock()
	rv, _ := e.runner(reverseRef(fw.ref, rec.Source))
	oldKS, newKS, active, opp := rec.Source, rec.Keyspace, fw, rv
	if dir == "reverse" {
		oldKS, newKS, active, opp = rec.Keyspace, rec.Source, rv, fw
	}
	routed, _ := writesRoutedTo(e.cfg.Routing.Load(), rec.Tables)
	if routed == newKS && newPos != "" && opp != nil {
		// The routing was swapped: finish.
		e.cfg.Logger.Info("migration: finishing an interrupted write switch", "workflow", fw.ref.String(), "to", newKS)
		reads := rec.ReadsSwitched
		if dir == "forward" {
			reads = "replica,rdonly"
		}
		return e.finishSwitch(ctx, fw, opp, active, dir == "forward", reads)
	}
	// Not swapped: roll back. Make sure the routing points at OLD (it does unless the rules were
	// edited by hand), restart the OLD -> NEW stream from its stored position.
	e.cfg.Logger.Info("migration: rolling back an interrupted write switch", "workflow", fw.ref.String(), "writes stay on", oldKS)
	// Writes stay on OLD: lift the denial the switch put there; a reverse switch's NEW side
	// (the source) was denied since the forward switch and stays so.
	if err := e.setDenied(ctx, oldKS, rec.Tables, false, "", 30*time.Second); err != nil {
		return fmt.Errorf("lift the write denial on %s: %w", oldKS, err)
	}
	if dir == "reverse" {
		if err := e.setDenied(ctx, newKS, rec.Tables, true, denyReason(fw.ref, oldKS), 30*time.Second); err != nil {
			return fmt.Errorf("deny writes on %s again: %w", newKS, err)
		}
	}
	if active != nil {
		if err := e.resumeStream(ctx, active); err != nil {
			return err
		}
	}
	if opp != nil && dir == "forward" && !rec.WritesSwitched {
		// A reverse stream prepared for this switch stays stopped.
		_ = opp
	}
	return e.execOn(ctx, rec.Keyspace, "DELETE FROM "+sidecarDB+".traffic_switch"+wfWhere(fw.ref))
}

// migrateComplete ends a workflow whose writes are switched: removes the routing rules and
// the source's VSchema entries, stops and removes the reverse stream, and drops (or renames,
// or keeps) the source tables. A journal row (direction "complete", new_pos the action) is
// written first, so a crash at any step is finished at the next start (recoverSwitch); every
// step is idempotent.
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
	if err := e.execOn(ctx, rec.Keyspace, journalDDL,
		fmt.Sprintf("REPLACE INTO %s.traffic_switch (keyspace, name, direction, new_pos, started_at) VALUES (%s,%s,'complete',%s,%d)",
			sidecarDB, quote(c.Ref.Keyspace), quote(c.Ref.Workflow), quote(action), time.Now().Unix())); err != nil {
		return nil, switchErr("MIGRATE COMPLETE %s: nothing changed: write journal: %v", c.Ref, err)
	}
	if err := e.swStep("complete:journaled"); err != nil {
		return nil, err
	}
	if err := e.finishComplete(ctx, fw, action); err != nil {
		return nil, switchErr("MIGRATE COMPLETE %s: %v (the journal stays: run MIGRATE COMPLETE again, or restart vtgate-lite, to finish it)", c.Ref, err)
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

// finishComplete runs MIGRATE COMPLETE's steps after its journal row is written; each step can
// run again after a crash. Caller holds e.sw.mu.
//
// The routing goes first, in one atomic update: the tables leave the source's VSchema and the
// rules in the same swap, so no statement is ever routed back to the source tables. Only then is
// the reverse stream (which keeps the source current) removed, and the source tables dropped.
func (e *Engine) finishComplete(ctx context.Context, fw *runner, action string) error {
	fw.mu.Lock()
	rec := *fw.rec
	fw.mu.Unlock()
	ref := fw.ref
	sks, ok := e.cfg.Routing.Load().Keyspace(rec.Source)
	if !ok {
		return fmt.Errorf("keyspace %s is not configured", rec.Source)
	}
	if _, err := e.cfg.Routing.Update(func(s *router.Schema) error {
		removeRules(s, rec.Source, rec.Keyspace, rec.Tables)
		for _, t := range rec.Tables {
			s.DropTable(rec.Source, t)
			s.AddTable(rec.Keyspace, t)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("update the routing: %w", err)
	}
	if err := e.swStep("complete:routed"); err != nil {
		return err
	}
	rvRef := reverseRef(ref, rec.Source)
	if rv, err := e.runner(rvRef); err == nil {
		// ActCancel with KeepData removes the reverse stream's sidecar rows and the routing
		// rules of the tables (already gone), and never touches data.
		if err := rv.command(ctx, EvCancel{KeepData: true}); err != nil {
			return fmt.Errorf("stop reverse stream %s: %w", rvRef, err)
		}
	}
	if err := e.swStep("complete:reverse-removed"); err != nil {
		return err
	}
	if action != completeDrop {
		// Kept or renamed, the source tables leave the workflow: no denial left on them.
		if err := e.setDenied(ctx, rec.Source, rec.Tables, false, "", 30*time.Second); err != nil {
			return fmt.Errorf("lift the write denial on %s: %w", rec.Source, err)
		}
	}
	if action != completeKeep {
		present, err := e.tablesPresent(ctx, rec.Source, rec.Tables)
		if err != nil {
			return fmt.Errorf("list the source tables: %w", err)
		}
		var stmts []string
		for _, t := range rec.Tables {
			if !present[t] {
				continue // dropped or renamed before a crash
			}
			if action == completeRename {
				stmts = append(stmts, "RENAME TABLE "+ident(sks.Database)+"."+ident(t)+" TO "+ident(sks.Database)+"."+ident("_vt_old_"+t))
			} else {
				stmts = append(stmts, "DROP TABLE IF EXISTS "+ident(sks.Database)+"."+ident(t))
			}
		}
		if err := e.execOn(ctx, rec.Source, stmts...); err != nil {
			return fmt.Errorf("%s the source tables: %w", action, err)
		}
	}
	if err := e.swStep("complete:tables-done"); err != nil {
		return err
	}
	msg := map[string]string{completeDrop: "completed: drop source tables", completeKeep: "completed: keep source tables",
		completeRename: "completed: rename to _vt_old_<name> source tables"}[action]
	if err := e.execOn(ctx, rec.Keyspace, "BEGIN", updatePhaseSQL(ref, Completed, msg, true),
		"DELETE FROM "+sidecarDB+".traffic_switch"+wfWhere(ref), "COMMIT"); err != nil {
		return fmt.Errorf("mark %s Completed: %w", ref, err)
	}
	fw.mu.Lock()
	fw.st.Phase, fw.st.Message = Completed, msg
	fw.rec.Phase = Completed
	fw.mu.Unlock()
	e.metrics.state(ref, Completed)
	return nil
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
