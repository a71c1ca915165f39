package migration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// switchDriver performs the write switch machine's actions (switchfsm.go): the only part of
// the switch with I/O and a clock. It owns the hold (TrafficGate's release) and TIMEOUT's
// clock, which starts with the hold.
type switchDriver struct {
	e        *Engine
	gate     TrafficGate
	pl       switchPlan
	release  func()
	holdAt   time.Time
	pause    time.Duration
	released bool
}

// run feeds ev to the machine and performs its actions until it ends.
func (d *switchDriver) run(ctx context.Context, s switchState, ev swEvent) switchState {
	for {
		var acts []swAction
		s, acts = switchStep(s, ev)
		for _, a := range acts {
			ev = d.do(d.ctxFor(ctx, s), s, a)
		}
		if s.terminal() {
			return s
		}
		if len(acts) == 0 {
			s.mode, s.err = swAborted, fmt.Errorf("write switch stalled in phase %q", s.at)
			return s
		}
	}
}

// ctxFor: a live switch undoes and finishes even when its client went away.
func (d *switchDriver) ctxFor(ctx context.Context, s switchState) context.Context {
	if !s.recovery && s.mode != swForward {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

func result(err error) swEvent {
	if err != nil {
		return evFailed{Err: err, Timeout: isLockWait(err) || errors.Is(err, context.DeadlineExceeded)}
	}
	return evOK{}
}

func (d *switchDriver) do(ctx context.Context, s switchState, a swAction) swEvent {
	e, sp := d.e, s.spec
	switch a := a.(type) {
	case actHold:
		d.holdAt = time.Now()
		rel, err := d.gate.HoldAndDrain(ctx, a.Tables, a.Timeout)
		d.release = rel
		return result(err)
	case actRelease:
		if d.release != nil && !d.released {
			d.release()
			d.released, d.pause = true, time.Since(d.holdAt)
		}
		return evOK{}
	case actJournal:
		return result(d.journal(ctx, sp, a))
	case actDeleteJournal:
		return result(e.execOn(ctx, d.pl.rec.Keyspace, "DELETE FROM "+sidecarDB+".traffic_switch"+wfWhere(sp.Ref)))
	case actCheckpoint:
		return result(e.swHook(a.Step))
	case actDeny:
		wait := a.Wait
		if a.Rest {
			wait = d.rest(sp)
		}
		return result(e.setDenied(ctx, a.Keyspace, a.Tables, a.Deny, a.Why, wait))
	case actReadPos:
		if a.Deadline {
			var cancel context.CancelFunc
			ctx, cancel = d.deadline(ctx, sp)
			defer cancel()
		}
		pos, err := e.primaryPos(ctx, a.Keyspace)
		if err != nil {
			return result(err)
		}
		return evOK{Pos: pos}
	case actRunTo:
		ctx, cancel := d.deadline(ctx, sp)
		defer cancel()
		return result(d.withRunner(sp.Active, func(r *runner) error { return syncTo(ctx, r, a.Pos) }))
	case actStopStream:
		return result(d.withRunner(a.Ref, func(r *runner) error { return r.command(ctx, EvStop{}) }))
	case actStartStream:
		return result(d.withRunner(a.Ref, func(r *runner) error { return e.resumeStream(ctx, r) }))
	case actStoreReverse:
		_, err := e.prepareOpposite(ctx, d.pl, a.Pos)
		return result(err)
	case actSwap:
		_, err := e.cfg.Routing.Update(func(sc *router.Schema) error {
			routeWrites(sc, d.pl.rec.Source, d.pl.rec.Keyspace, sp.NewKS, sp.Tables, readsSet(sp.Reads))
			return nil
		})
		return result(err)
	case actRecord:
		return result(d.record(ctx, sp))
	case actAnnounce:
		return result(d.announce(ctx, sp, a.Msg))
	case actLog:
		e.cfg.Logger.Log(ctx, a.Level, a.Msg, a.Args...)
		return evOK{}
	}
	return evFailed{Err: fmt.Errorf("unknown switch action %T", a)}
}

// rest is what is left of TIMEOUT, at least 1 s: a lock wait within the write pause.
func (d *switchDriver) rest(sp switchSpec) time.Duration {
	return max(time.Until(d.holdAt.Add(sp.Timeout)), time.Second)
}

// deadline bounds P and the catch-up by TIMEOUT, counted from the hold: no statement is
// held longer than TIMEOUT (plus the few milliseconds of the steps after it).
func (d *switchDriver) deadline(ctx context.Context, sp switchSpec) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, d.holdAt.Add(sp.Timeout))
}

func (d *switchDriver) withRunner(ref WorkflowRef, fn func(*runner) error) error {
	r, err := d.e.runner(ref)
	if err != nil {
		return err
	}
	return fn(r)
}

func (d *switchDriver) journal(ctx context.Context, sp switchSpec, a actJournal) error {
	if a.Phase == phPrepared {
		return d.e.execOn(ctx, d.pl.rec.Keyspace, fmt.Sprintf("UPDATE %s.traffic_switch SET new_pos=%s, phase=%s%s",
			sidecarDB, quote(a.Pos), quote(string(a.Phase)), wfWhere(sp.Ref)))
	}
	return d.e.execOn(ctx, d.pl.rec.Keyspace, fmt.Sprintf(
		"REPLACE INTO %s.traffic_switch (keyspace, name, direction, new_pos, started_at, phase, new_denied) VALUES (%s,%s,%s,'',%d,%s,%s)",
		sidecarDB, quote(sp.Ref.Keyspace), quote(sp.Ref.Workflow), quote(sp.Direction), time.Now().Unix(),
		quote(string(a.Phase)), quote(strings.Join(a.NewDenied, ","))))
}

// record sets writes_switched / reads_switched on the forward workflow, on disk then in memory.
func (d *switchDriver) record(ctx context.Context, sp switchSpec) error {
	fw := d.pl.fw
	forward := sp.Direction == "forward"
	if err := d.e.execOn(ctx, fw.ref.Keyspace,
		fmt.Sprintf("UPDATE %s.workflow SET writes_switched=%s, reads_switched=%s%s", sidecarDB, boolSQL(forward), quote(sp.Reads), wfWhere(fw.ref))); err != nil {
		return err
	}
	fw.mu.Lock()
	fw.rec.WritesSwitched, fw.st.WritesSwitched = forward, forward
	fw.rec.ReadsSwitched, fw.st.ReadsSwitched = sp.Reads, sp.Reads != ""
	fw.mu.Unlock()
	return nil
}

// announce gives the stream that stopped taking part its message (in memory even when the
// sidecar write fails).
func (d *switchDriver) announce(ctx context.Context, sp switchSpec, msg string) error {
	stopped, err := d.e.runner(sp.Active)
	if err != nil {
		return nil // nothing to announce it on
	}
	err = d.e.execOn(ctx, stopped.ref.Keyspace, "UPDATE "+sidecarDB+".workflow SET message="+quote(msg)+wfWhere(stopped.ref))
	stopped.mu.Lock()
	stopped.st.Message = msg
	stopped.mu.Unlock()
	return err
}

// outcome turns a live switch's final state into the command's answer, and its metrics.
func (d *switchDriver) outcome(s switchState, started time.Time) (*Result, error) {
	sp, m := s.spec, theSwitchMetrics()
	switch s.mode {
	case swAborted:
		m.aborted.WithLabelValues(sp.Ref.String(), sp.Direction).Inc()
		return nil, s.err
	case swCrashed:
		return nil, s.err
	}
	m.pause.WithLabelValues(sp.Ref.String(), sp.Direction).Observe(d.pause.Seconds())
	m.duration.WithLabelValues(sp.Ref.String(), sp.Direction).Observe(time.Since(started).Seconds())
	d.e.sw.noteLongest(sp.Ref, d.pause)
	ferr := errors.Join(s.notes...)
	info := fmt.Sprintf("workflow %s: writes switched to %s (writes paused %s); stream %s started", sp.Ref, sp.NewKS, d.pause.Round(time.Millisecond), sp.Opposite)
	if ferr != nil {
		info += fmt.Sprintf("; bookkeeping is retried in the background: %v", ferr)
		go d.e.retryRecover(d.pl.fw)
	}
	note := errString(ferr)
	if s.denyNote != "" {
		info += "; " + s.denyNote
		note = strings.TrimPrefix(note+"; "+s.denyNote, "; ")
	}
	return &Result{Info: info, Columns: []string{"workflow", "writes_to", "write_pause_ms", "stream_started", "note"},
		Rows: [][]string{{sp.Ref.String(), sp.NewKS, fmt.Sprint(d.pause.Milliseconds()), sp.Opposite.String(), note}}}, nil
}

// ensureJournal creates the journal table on keyspace ksName's primary, or adds the columns
// an older version did not have.
func (e *Engine) ensureJournal(ctx context.Context, ksName string) error {
	c, _, err := e.dialPrimary(ctx, ksName, true)
	if err != nil {
		return err
	}
	defer c.close()
	return ensureJournalOn(c)
}

// ensureJournalOn is ensureJournal on an open connection (portable: no ADD COLUMN IF NOT
// EXISTS, which MySQL lacks).
func ensureJournalOn(c *conn) error {
	if _, err := c.exec(journalDDL); err != nil {
		return err
	}
	res, err := c.exec("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='" + sidecarDB + "' AND TABLE_NAME='traffic_switch'")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for i := 0; i < res.RowNumber(); i++ {
		n, _ := res.GetString(i, 0)
		have[strings.ToLower(n)] = true
	}
	var add []string
	for _, col := range journalColumns {
		if !have[col[0]] {
			add = append(add, "ADD COLUMN "+col[0]+" "+col[1])
		}
	}
	if len(add) == 0 {
		return nil
	}
	_, err = c.exec("ALTER TABLE " + sidecarDB + ".traffic_switch " + strings.Join(add, ", "))
	return err
}

// journalColumns are the journal's columns added after its first version.
var journalColumns = [][2]string{{"phase", "VARBINARY(32) NOT NULL DEFAULT ''"}, {"new_denied", "BLOB NULL"}}

// journalRow is a journal row as recovery reads it.
type journalRow struct {
	direction, newPos, phase, newDenied string
}

// readJournal reads workflow ref's journal row on keyspace ksName's primary (ok false: none).
func (e *Engine) readJournal(ctx context.Context, ksName string, ref WorkflowRef) (journalRow, bool, error) {
	var j journalRow
	c, _, err := e.dialPrimary(ctx, ksName, true)
	if err != nil {
		return j, false, err
	}
	defer c.close()
	res, err := c.exec("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='" + sidecarDB + "' AND TABLE_NAME='traffic_switch'")
	if err != nil {
		return j, false, err
	}
	if n, _ := res.GetInt(0, 0); n == 0 {
		return j, false, nil
	}
	if err := ensureJournalOn(c); err != nil {
		return j, false, err
	}
	res, err = c.exec("SELECT direction, new_pos, phase, IFNULL(new_denied, '') FROM " + sidecarDB + ".traffic_switch" + wfWhere(ref))
	if err != nil || res.RowNumber() == 0 {
		return j, false, err
	}
	j.direction, _ = res.GetString(0, 0)
	j.newPos, _ = res.GetString(0, 1)
	j.phase, _ = res.GetString(0, 2)
	j.newDenied, _ = res.GetString(0, 3)
	return j, true, nil
}

// completeDriver performs MIGRATE COMPLETE's actions (completeStep) for workflow fw.
type completeDriver struct {
	e   *Engine
	fw  *runner
	rec wfRecord
	db  string // the source keyspace's database
}

// runComplete runs MIGRATE COMPLETE's machine from ev (evBegin, or evRecover after a crash).
// Caller holds e.sw.mu.
func (e *Engine) runComplete(ctx context.Context, fw *runner, action string, ev swEvent) error {
	fw.mu.Lock()
	rec := *fw.rec
	fw.mu.Unlock()
	sks, ok := e.cfg.Routing.Load().Keyspace(rec.Source)
	if !ok {
		return fmt.Errorf("keyspace %s is not configured", rec.Source)
	}
	d := &completeDriver{e: e, fw: fw, rec: rec, db: sks.Database}
	s := completeState{ref: fw.ref, source: rec.Source, tables: rec.Tables, action: action}
	for {
		var acts []swAction
		s, acts = completeStep(s, ev)
		for _, a := range acts {
			ev = result(d.do(ctx, a))
		}
		if s.terminal() {
			return s.err
		}
	}
}

func (d *completeDriver) do(ctx context.Context, a swAction) error {
	e, rec, ref := d.e, d.rec, d.fw.ref
	switch a := a.(type) {
	case actJournalComplete:
		if err := e.ensureJournal(ctx, rec.Keyspace); err != nil {
			return err
		}
		return e.execOn(ctx, rec.Keyspace, fmt.Sprintf(
			"REPLACE INTO %s.traffic_switch (keyspace, name, direction, new_pos, started_at, phase) VALUES (%s,%s,'complete',%s,%d,'journaled')",
			sidecarDB, quote(ref.Keyspace), quote(ref.Workflow), quote(a.Action), time.Now().Unix()))
	case actCheckpoint:
		return e.swHook(a.Step)
	case actCompleteRouting:
		// The tables leave the source's VSchema and the rules in the same swap, so no
		// statement is ever routed back to the source tables.
		_, err := e.cfg.Routing.Update(func(s *router.Schema) error {
			removeRules(s, rec.Source, rec.Keyspace, rec.Tables)
			for _, t := range rec.Tables {
				s.DropTable(rec.Source, t)
				s.AddTable(rec.Keyspace, t)
			}
			return nil
		})
		return err
	case actRemoveReverse:
		// ActCancel with KeepData removes the reverse stream's sidecar rows and the routing
		// rules of the tables (already gone), and never touches data.
		if rv, err := e.runner(a.Ref); err == nil {
			return rv.command(ctx, EvCancel{KeepData: true})
		}
		return nil
	case actDeny:
		return e.setDenied(ctx, a.Keyspace, a.Tables, a.Deny, a.Why, a.Wait)
	case actSourceTables:
		return d.sourceTables(ctx, a.Action)
	case actMarkCompleted:
		if err := e.execOn(ctx, rec.Keyspace, "BEGIN", updatePhaseSQL(ref, Completed, a.Msg, true),
			"DELETE FROM "+sidecarDB+".traffic_switch"+wfWhere(ref), "COMMIT"); err != nil {
			return err
		}
		d.fw.mu.Lock()
		d.fw.st.Phase, d.fw.st.Message = Completed, a.Msg
		d.fw.rec.Phase = Completed
		d.fw.mu.Unlock()
		e.metrics.state(ref, Completed)
		return nil
	}
	return fmt.Errorf("unknown MIGRATE COMPLETE action %T", a)
}

// sourceTables drops or renames the source tables still there (a crash may have done a part).
func (d *completeDriver) sourceTables(ctx context.Context, action string) error {
	if action == completeKeep {
		return nil
	}
	present, err := d.e.tablesPresent(ctx, d.rec.Source, d.rec.Tables)
	if err != nil {
		return fmt.Errorf("list the source tables: %w", err)
	}
	var stmts []string
	for _, t := range d.rec.Tables {
		if !present[t] {
			continue
		}
		if action == completeRename {
			stmts = append(stmts, "RENAME TABLE "+ident(d.db)+"."+ident(t)+" TO "+ident(d.db)+"."+ident("_vt_old_"+t))
		} else {
			stmts = append(stmts, "DROP TABLE IF EXISTS "+ident(d.db)+"."+ident(t))
		}
	}
	if err := d.e.execOn(ctx, d.rec.Source, stmts...); err != nil {
		return fmt.Errorf("%s the source tables: %w", action, err)
	}
	return nil
}
