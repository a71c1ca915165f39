package migration

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// The write switch (MIGRATE [REVERSE] WRITES) as a state machine: switchStep decides, with
// no I/O, no clock and no context; the driver (switchdriver.go) performs the actions it
// returns and feeds their results back as events. OLD is the keyspace that takes the writes
// before the switch, NEW the one after it; the stream OLD->NEW is the active one.
//
//	phase           action                             compensation (undo)        hook
//	held            hold + drain the moved tables      release the held ones
//	drained         journal row (phase drained)        delete the journal row     drained
//	denied          deny bypass writes on OLD          lift that denial
//	deny-undone     (the denial failed, not on a lock wait: lift any part, go on without it)
//	position        P = OLD primary's position
//	caught-up       stream OLD->NEW runs to P
//	stopped         stop that stream                   start it again             stopped
//	new-position    Q = NEW primary's position
//	reverse-stored  store stream NEW->OLD at Q         (none: it stays, stopped)
//	prepared        journal: phase prepared, Q
//	lifted          lift NEW's denial, if any          deny NEW again             lifted
//	swapped         swap the routing: POINT OF NO RETURN                          swapped
//	---- finishing: nothing is undone any more, failures are bookkeeping, retried ----
//	released        release the held statements (to NEW)
//	new-open        no denial left on NEW
//	recorded        writes_switched on the forward workflow
//	announced       the stopped stream's message
//	started         start stream NEW->OLD at Q
//	done            delete the journal row
//
// Failure of a phase before swapped undoes, in reverse order, the compensations of the
// phases issued (a compensation is pushed when its action is issued, since a part of it may
// be done when it fails; the hold's and the journal's once they succeeded). A compensation
// that fails is logged and the others run, but the journal row stays for the next start.
// TIMEOUT bounds the hold, the denial, P, the catch-up and the lift together (the driver owns
// the clock). A step hook that fails abandons the switch as a crash would: only the hold ends.
//
// The journal on the target's sidecar holds the last phase written ahead of what follows it:
// "drained" covers the phases up to reverse-stored, "prepared" those up to swapped; past that
// the routing itself records the switch (one persisted Holder.Update). Recovery feeds
// evRecover: routing at NEW (with Q stored and the stream NEW->OLD present) finishes the
// switch; otherwise it undoes every compensation of the journaled phase's span (they are
// idempotent).
//
// The hold goes through TrafficGate ("publish the hold, wait for every acknowledgement"):
// today one proxy; an N-instance barrier is another gate, the machine does not change.

type swPhase string

const (
	phStart         swPhase = ""
	phHeld          swPhase = "held"
	phDrained       swPhase = "drained"
	phDenied        swPhase = "denied"
	phDenyUndone    swPhase = "deny-undone" // the denial failed (not a lock wait): go on without it
	phPosition      swPhase = "position"
	phCaughtUp      swPhase = "caught-up"
	phStopped       swPhase = "stopped"
	phNewPosition   swPhase = "new-position"
	phReverseStored swPhase = "reverse-stored"
	phPrepared      swPhase = "prepared"
	phLifted        swPhase = "lifted"
	phSwapped       swPhase = "swapped"
	phReleased      swPhase = "released"
	phNewOpen       swPhase = "new-open"
	phRecorded      swPhase = "recorded"
	phAnnounced     swPhase = "announced"
	phStarted       swPhase = "started"
	phDone          swPhase = "done"
)

// switchSpec is what one switch moves; fixed before the hold.
type switchSpec struct {
	Ref          WorkflowRef // the forward workflow
	Verb         string      // MIGRATE WRITES or MIGRATE REVERSE WRITES
	Direction    string      // "forward" or "reverse" (the journal's direction)
	OldKS, NewKS string
	Tables       []string
	Active       WorkflowRef // the stream OLD -> NEW
	Opposite     WorkflowRef // the stream NEW -> OLD
	Timeout      time.Duration
	NewDenied    []string // moved tables NEW denies (from an earlier switch): lifted before the swap
	Reads        string   // the forward workflow's reads_switched after the switch
}

func (sp switchSpec) held() []string {
	var out []string
	for _, t := range sp.Tables {
		out = append(out, sp.OldKS+"."+t)
	}
	return out
}

type swMode int

const (
	swForward   swMode = iota // doing the phases up to swapped
	swUndoing                 // running compensations
	swFinishing               // after swapped
	swAborted                 // terminal: nothing changed (err)
	swCrashed                 // terminal: a step hook abandoned the switch, as a crash would (err)
	swDone                    // terminal: switched (notes: bookkeeping failures)
	swFailed                  // terminal, recovery only: err; the journal stays
)

// switchState is the machine's whole state.
type switchState struct {
	spec       switchSpec
	recovery   bool // run by recoverSwitch: nothing is held; failures return, the journal stays
	mode       swMode
	at         swPhase // the phase whose action was issued last
	checkpoint bool    // the hook of phase at was issued
	undo       []swAction
	undoing    swAction // the compensation issued last
	undoFailed bool
	hasActive  bool // recovery: the stream OLD->NEW exists
	p, q       string
	denyNote   string
	err        error   // swAborted, swCrashed, swFailed
	notes      []error // bookkeeping failures after the swap
}

func newSwitch(spec switchSpec) switchState { return switchState{spec: spec, hasActive: true} }

func (s switchState) terminal() bool { return s.mode >= swAborted }

// Events: the results of actions, and the two that start the machine.
type swEvent interface{ swEvent() }

type (
	// evBegin starts a live switch (pre-checks passed).
	evBegin struct{}
	// evRecover starts a recovery from the journal row (phase Journaled).
	evRecover struct {
		Journaled   swPhase
		RoutedToNew bool // the routing sends the moved tables' writes to NEW
		HasActive   bool // the stream OLD -> NEW exists
		HasOpposite bool // the stream NEW -> OLD exists
	}
	// evOK: the last action succeeded; Pos is actReadPos's result.
	evOK struct{ Pos string }
	// evFailed: the last action failed; Timeout when a wait ran out (a metadata lock wait,
	// a deadline).
	evFailed struct {
		Err     error
		Timeout bool
	}
)

func (evBegin) swEvent()   {}
func (evRecover) swEvent() {}
func (evOK) swEvent()      {}
func (evFailed) swEvent()  {}

// Actions: values the driver performs. Every action yields an event; the driver feeds the
// last one of a batch to switchStep (the ones before it are effects that cannot fail).
type swAction interface{ swAction() }

type (
	// actHold holds new statements on Tables and drains transactions on them (TrafficGate),
	// within Timeout; the driver starts TIMEOUT's clock here.
	actHold struct {
		Tables  []string
		Timeout time.Duration
	}
	actRelease struct{}
	// actJournal writes the journal row: phase drained creates it, phase prepared adds Q.
	actJournal struct {
		Phase     swPhase
		Pos       string
		NewDenied []string
	}
	actDeleteJournal struct{}
	// actCheckpoint calls the step hook; a failure abandons the switch as a crash would.
	actCheckpoint struct{ Step string }
	// actDeny creates (Deny) or drops the deny triggers of Tables on Keyspace's primary;
	// the metadata lock wait is Wait, or what is left of TIMEOUT (at least 1 s) with Rest.
	actDeny struct {
		Keyspace string
		Tables   []string
		Deny     bool
		Why      string
		Wait     time.Duration
		Rest     bool
	}
	// actReadPos reads Keyspace primary's @@gtid_binlog_pos, by TIMEOUT's deadline with
	// Deadline.
	actReadPos struct {
		Keyspace string
		Deadline bool
	}
	// actRunTo runs the active stream exactly to Pos, by TIMEOUT's deadline.
	actRunTo        struct{ Pos string }
	actStopStream   struct{ Ref WorkflowRef }
	actStartStream  struct{ Ref WorkflowRef }
	actStoreReverse struct{ Pos string } // store the stream NEW -> OLD, stopped at Pos
	actSwap         struct{}             // route the moved tables' writes to NEW (reads per spec)
	actRecord       struct{}             // writes_switched / reads_switched on the forward workflow
	actAnnounce     struct{ Msg string } // the stopped stream's message
	actLog          struct {
		Level slog.Level
		Msg   string
		Args  []any
	}
)

func (actHold) swAction()          {}
func (actRelease) swAction()       {}
func (actJournal) swAction()       {}
func (actDeleteJournal) swAction() {}
func (actCheckpoint) swAction()    {}
func (actDeny) swAction()          {}
func (actReadPos) swAction()       {}
func (actRunTo) swAction()         {}
func (actStopStream) swAction()    {}
func (actStartStream) swAction()   {}
func (actStoreReverse) swAction()  {}
func (actSwap) swAction()          {}
func (actRecord) swAction()        {}
func (actAnnounce) swAction()      {}
func (actLog) swAction()           {}

// phaseDef is one row of the diagram above.
type phaseDef struct {
	phase swPhase
	skip  func(s switchState) bool
	do    func(s switchState) swAction
	// undo is pushed when do is issued, or once it succeeded with undoAfter.
	undo      func(s switchState) swAction
	undoAfter bool
	// got keeps an ok result (a position).
	got func(s *switchState, ok evOK)
	// fail (before swapped) returns the command's error, or nil to go on without the phase
	// (it may change s). After swapped, fail returns the bookkeeping note.
	fail func(s *switchState, f evFailed) error
	// fatal (after swapped): the failure stops the bookkeeping.
	fatal bool
	hook  string
}

// switchPhases is the diagram, in order.
var switchPhases = []phaseDef{
	{phase: phHeld,
		do:   func(s switchState) swAction { return actHold{s.spec.held(), s.spec.Timeout} },
		undo: func(switchState) swAction { return actRelease{} }, undoAfter: true,
		fail: func(s *switchState, f evFailed) error {
			msg := f.Err.Error()
			var se *sqlerr.Error
			if errors.As(f.Err, &se) {
				msg = se.Message
			}
			return sqlerr.Wrap(f.Err, sqlerr.ERLockWaitTimeout, "HY000", "%s %s: %s", s.spec.Verb, s.spec.Ref, msg)
		}},
	{phase: phDrained, hook: "drained",
		do:   func(s switchState) swAction { return actJournal{Phase: phDrained, NewDenied: s.spec.NewDenied} },
		undo: func(switchState) swAction { return actDeleteJournal{} }, undoAfter: true,
		fail: func(s *switchState, f evFailed) error { return s.abortErr("write journal: %v", f.Err) }},
	{phase: phDenied,
		do: func(s switchState) swAction {
			return actDeny{Keyspace: s.spec.OldKS, Tables: s.spec.Tables, Deny: true, Why: denyReason(s.spec.Ref, s.spec.NewKS), Rest: true}
		},
		undo: func(s switchState) swAction { return s.liftOld(10 * time.Second) },
		fail: func(s *switchState, f evFailed) error {
			if f.Timeout {
				sp := s.spec
				return sqlerr.Wrap(f.Err, sqlerr.ERLockWaitTimeout, "HY000", "%s %s aborted, nothing changed: a transaction outside vtgate-lite kept a moved table on %s busy for TIMEOUT %s: %v", sp.Verb, sp.Ref, sp.OldKS, sp.Timeout, f.Err)
			}
			// Without the privilege for the triggers the switch goes on without them.
			s.denyNote = fmt.Sprintf("writes that bypass vtgate-lite are not denied on %s: %v", s.spec.OldKS, f.Err)
			return nil
		}},
	{phase: phDenyUndone,
		skip: func(s switchState) bool { return s.denyNote == "" },
		do: func(s switchState) swAction {
			return actDeny{Keyspace: s.spec.OldKS, Tables: s.spec.Tables, Rest: true}
		},
		got:  func(s *switchState, _ evOK) { s.undo = dropLiftOld(s.undo, s.spec.OldKS) },
		fail: func(*switchState, evFailed) error { return nil }}, // a part stays: an abort lifts it
	{phase: phPosition,
		do:  func(s switchState) swAction { return actReadPos{s.spec.OldKS, true} },
		got: func(s *switchState, ok evOK) { s.p = ok.Pos },
		fail: func(s *switchState, f evFailed) error {
			return s.abortErr("read %s position: %v", s.spec.OldKS, f.Err)
		}},
	{phase: phCaughtUp,
		do: func(s switchState) swAction { return actRunTo{s.p} },
		fail: func(s *switchState, f evFailed) error {
			return s.abortErr("stream %s did not reach %s within TIMEOUT %s (drain and catch-up together): %v", s.spec.Active, s.p, s.spec.Timeout, f.Err)
		}},
	{phase: phStopped, hook: "stopped",
		do:   func(s switchState) swAction { return actStopStream{s.spec.Active} },
		undo: func(s switchState) swAction { return actStartStream{s.spec.Active} },
		fail: func(s *switchState, f evFailed) error {
			return s.abortErr("%v", fmt.Errorf("stop stream %s: %w", s.spec.Active, f.Err))
		}},
	{phase: phNewPosition,
		do:  func(s switchState) swAction { return actReadPos{s.spec.NewKS, false} },
		got: func(s *switchState, ok evOK) { s.q = ok.Pos },
		fail: func(s *switchState, f evFailed) error {
			return s.abortErr("%v", fmt.Errorf("read %s position: %w", s.spec.NewKS, f.Err))
		}},
	{phase: phReverseStored,
		do: func(s switchState) swAction { return actStoreReverse{s.q} },
		fail: func(s *switchState, f evFailed) error {
			return s.abortErr("%v", fmt.Errorf("prepare stream %s: %w", s.spec.Opposite, f.Err))
		}},
	{phase: phPrepared, hook: "prepared",
		do:   func(s switchState) swAction { return actJournal{Phase: phPrepared, Pos: s.q} },
		fail: func(s *switchState, f evFailed) error { return s.abortErr("%v", f.Err) }},
	{phase: phLifted, hook: "lifted",
		skip: func(s switchState) bool { return len(s.spec.NewDenied) == 0 },
		do: func(s switchState) swAction {
			return actDeny{Keyspace: s.spec.NewKS, Tables: s.spec.NewDenied, Rest: true}
		},
		undo: func(s switchState) swAction { return s.denyNewAgain(10 * time.Second) },
		fail: func(s *switchState, f evFailed) error {
			return s.abortErr("%v", fmt.Errorf("lift the write denial on %s: %w", s.spec.NewKS, f.Err))
		}},
	{phase: phSwapped, hook: "swapped",
		do: func(switchState) swAction { return actSwap{} },
		fail: func(s *switchState, f evFailed) error {
			return s.abortErr("%v", fmt.Errorf("swap routing rules: %w", f.Err))
		}},
	// Finishing: recorded writes_switched before the stream starts (its first load reads
	// the flags); the journal row goes last, so a crash before is finished again.
	{phase: phReleased,
		skip: func(s switchState) bool { return s.recovery },
		do:   func(switchState) swAction { return actRelease{} }},
	{phase: phNewOpen, fatal: true,
		do: func(s switchState) swAction {
			return actDeny{Keyspace: s.spec.NewKS, Tables: s.spec.Tables, Wait: 30 * time.Second}
		},
		fail: func(s *switchState, f evFailed) error {
			return fmt.Errorf("lift the write denial on %s: %w", s.spec.NewKS, f.Err)
		}},
	{phase: phRecorded, fatal: true,
		do:   func(switchState) swAction { return actRecord{} },
		fail: func(_ *switchState, f evFailed) error { return fmt.Errorf("record the switch: %w", f.Err) }},
	{phase: phAnnounced,
		do:   func(s switchState) swAction { return actAnnounce{s.switchedMessage()} },
		fail: func(_ *switchState, f evFailed) error { return f.Err }},
	{phase: phStarted, fatal: true,
		do:   func(s switchState) swAction { return actStartStream{s.spec.Opposite} },
		fail: func(s *switchState, f evFailed) error { return fmt.Errorf("start %s: %w", s.spec.Opposite, f.Err) }},
	{phase: phDone,
		do:   func(switchState) swAction { return actDeleteJournal{} },
		fail: func(_ *switchState, f evFailed) error { return f.Err }},
}

func (s switchState) abortErr(format string, args ...any) error {
	return switchErr("%s %s aborted, nothing changed: "+format, append([]any{s.spec.Verb, s.spec.Ref}, args...)...)
}

func (s switchState) liftOld(wait time.Duration) actDeny {
	return actDeny{Keyspace: s.spec.OldKS, Tables: s.spec.Tables, Wait: wait}
}

func (s switchState) denyNewAgain(wait time.Duration) actDeny {
	return actDeny{Keyspace: s.spec.NewKS, Tables: s.spec.NewDenied, Deny: true, Why: denyReason(s.spec.Ref, s.spec.OldKS), Wait: wait}
}

// switchedMessage is the message of the stream that stops taking part (SHOW MIGRATIONS).
func (s switchState) switchedMessage() string {
	sp := s.spec
	if sp.Direction == "forward" {
		return "writes switched to " + sp.NewKS + "; stream " + sp.Opposite.String() + " keeps " + sp.OldKS + " current"
	}
	return "writes switched back to " + sp.NewKS + "; stream " + sp.Opposite.String() + " keeps " + sp.OldKS + " current"
}

// dropLiftOld removes the compensation that lifts the old side's denial (it was lifted).
func dropLiftOld(undo []swAction, oldKS string) []swAction {
	var out []swAction
	for _, a := range undo {
		if d, ok := a.(actDeny); ok && !d.Deny && d.Keyspace == oldKS {
			continue
		}
		out = append(out, a)
	}
	return out
}

func phaseIndex(p swPhase) int {
	for i, d := range switchPhases {
		if d.phase == p {
			return i
		}
	}
	return -1
}

// switchStep is the write switch's decision function.
func switchStep(s switchState, ev swEvent) (switchState, []swAction) {
	switch ev := ev.(type) {
	case evBegin:
		return s.issue(0)
	case evRecover:
		return s.recover(ev)
	case evOK:
		switch {
		case s.mode == swUndoing:
			return s.undoNext()
		case s.checkpoint:
			return s.issue(phaseIndex(s.at) + 1)
		}
		d := switchPhases[phaseIndex(s.at)]
		if d.got != nil {
			d.got(&s, ev)
		}
		if d.undo != nil && d.undoAfter {
			s.undo = append(s.undo, d.undo(s))
		}
		return s.passed(d)
	case evFailed:
		return s.failed(ev)
	}
	return s, nil
}

// passed moves past phase d: its hook first, if any.
func (s switchState) passed(d phaseDef) (switchState, []swAction) {
	if d.hook != "" && !s.recovery {
		s.checkpoint = true
		return s, []swAction{actCheckpoint{d.hook}}
	}
	return s.issue(phaseIndex(d.phase) + 1)
}

// issue issues the action of phase i or of the first phase after it that is not skipped.
func (s switchState) issue(i int) (switchState, []swAction) {
	for ; i < len(switchPhases); i++ {
		d := switchPhases[i]
		if d.skip == nil || !d.skip(s) {
			break
		}
	}
	if i == len(switchPhases) {
		s.mode = swDone
		if s.recovery && len(s.notes) > 0 {
			s.mode, s.err = swFailed, errors.Join(s.notes...)
		}
		return s, nil
	}
	d := switchPhases[i]
	s.at, s.checkpoint = d.phase, false
	if d.phase == phReleased || (s.recovery && i > phaseIndex(phSwapped)) {
		s.mode, s.undo = swFinishing, nil
	}
	if d.undo != nil && !d.undoAfter {
		s.undo = append(s.undo, d.undo(s))
	}
	acts := []swAction{d.do(s)}
	if d.phase == phDenyUndone {
		acts = append([]swAction{actLog{slog.LevelWarn, "migration: " + s.denyNote, []any{"workflow", s.spec.Ref.String()}}}, acts...)
	}
	return s, acts
}

func (s switchState) failed(f evFailed) (switchState, []swAction) {
	switch {
	case s.mode == swUndoing:
		return s.undoFailedStep(f)
	case s.checkpoint:
		// The hook abandons the switch as a crash would: nothing is undone (the next start
		// recovers), only the hold ends, as the process's death would end it.
		s.mode, s.err = swCrashed, f.Err
		if s.holding() {
			return s, []swAction{actRelease{}}
		}
		return s, nil
	}
	d := switchPhases[phaseIndex(s.at)]
	if s.mode == swFinishing {
		note := f.Err
		if d.fail != nil {
			note = d.fail(&s, f)
		}
		s.notes = append(s.notes, note)
		if d.fatal {
			s.mode = swDone
			if s.recovery {
				s.mode, s.err = swFailed, errors.Join(s.notes...)
			}
			return s, nil
		}
		return s.issue(phaseIndex(d.phase) + 1)
	}
	err := d.fail(&s, f)
	if err == nil {
		return s.passed(d)
	}
	s.mode, s.err = swUndoing, err
	return s.undoNext()
}

func (s switchState) holding() bool {
	for _, a := range s.undo {
		if _, ok := a.(actRelease); ok {
			return true
		}
	}
	return false
}

// undoNext issues the last compensation not run yet. A live switch keeps the journal row
// when a compensation failed, so that the next start rolls the switch back again.
func (s switchState) undoNext() (switchState, []swAction) {
	for len(s.undo) > 0 {
		a := s.undo[len(s.undo)-1]
		s.undo = s.undo[:len(s.undo)-1]
		if _, ok := a.(actDeleteJournal); ok && s.undoFailed {
			continue
		}
		s.undoing = a
		return s, []swAction{a}
	}
	if s.recovery {
		s.mode = swDone
	} else {
		s.mode = swAborted
	}
	return s, nil
}

func (s switchState) undoFailedStep(f evFailed) (switchState, []swAction) {
	if s.recovery {
		s.mode, s.err = swFailed, recoveryError(s.undoing, f.Err)
		return s, nil
	}
	s.undoFailed = true
	log := actLog{slog.LevelError, "migration: an aborted write switch could not undo a step: the journal stays, the next start rolls the switch back (writes that bypass vtgate-lite may fail on " + s.spec.OldKS + " until then)",
		[]any{"workflow", s.spec.Ref.String(), "err", f.Err}}
	s, acts := s.undoNext()
	return s, append([]swAction{log}, acts...)
}

// recover starts a recovery from a journal row (phase ev.Journaled, s.q its position).
func (s switchState) recover(ev evRecover) (switchState, []swAction) {
	s.recovery, s.hasActive = true, ev.HasActive
	ref := s.spec.Ref.String()
	if ev.RoutedToNew && s.q != "" && ev.HasOpposite {
		log := actLog{slog.LevelInfo, "migration: finishing an interrupted write switch", []any{"workflow", ref, "to", s.spec.NewKS}}
		s, acts := s.issue(phaseIndex(phSwapped) + 1)
		return s, append([]swAction{log}, acts...)
	}
	s.mode, s.undo = swUndoing, recoveryUndo(s, ev.Journaled)
	log := actLog{slog.LevelInfo, "migration: rolling back an interrupted write switch", []any{"workflow", ref, "writes stay on", s.spec.OldKS}}
	s, acts := s.undoNext()
	return s, append([]swAction{log}, acts...)
}

// recoveryUndo is the compensations of every phase the journaled phase j covers (a crash may
// have come after any action of its span), in the order they are pushed.
func recoveryUndo(s switchState, j swPhase) []swAction {
	undo := []swAction{actDeleteJournal{}, s.liftOld(30 * time.Second)}
	if s.hasActive {
		undo = append(undo, actStartStream{s.spec.Active})
	}
	if j == phPrepared && len(s.spec.NewDenied) > 0 {
		undo = append(undo, s.denyNewAgain(30*time.Second))
	}
	return undo
}

// recoveryError names the compensation a recovery could not run.
func recoveryError(a swAction, err error) error {
	if d, ok := a.(actDeny); ok {
		if d.Deny {
			return fmt.Errorf("deny writes on %s again: %w", d.Keyspace, err)
		}
		return fmt.Errorf("lift the write denial on %s: %w", d.Keyspace, err)
	}
	return err
}

// journalPhase reads the phase column of a journal row; rows written before it existed are
// "prepared" once they hold Q.
func journalPhase(phase, newPos string) swPhase {
	switch swPhase(phase) {
	case phDrained, phPrepared:
		return swPhase(phase)
	}
	if newPos != "" {
		return phPrepared
	}
	return phDrained
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// MIGRATE COMPLETE is a machine too, with nothing to undo: every step is idempotent and goes
// forward. Its journal row (direction "complete", new_pos the action) is written first;
// recovery runs every step after it again (the hooks included).
//
//	phase            action                                          hook
//	journaled        journal row (direction complete)                complete:journaled
//	routed           rules and the source's VSchema entries removed  complete:routed
//	reverse-removed  the reverse stream stopped and removed          complete:reverse-removed
//	source-open      the source's denial lifted (keep, rename)
//	tables-done      the source tables dropped or renamed (or kept)  complete:tables-done
//	completed        Completed and the journal row deleted, in one transaction

type (
	actJournalComplete struct{ Action string }
	actCompleteRouting struct{} // the rules and the source's VSchema entries, in one update
	actRemoveReverse   struct{ Ref WorkflowRef }
	actSourceTables    struct{ Action string } // drop or rename the source tables still there
	actMarkCompleted   struct{ Msg string }
)

func (actJournalComplete) swAction() {}
func (actCompleteRouting) swAction() {}
func (actRemoveReverse) swAction()   {}
func (actSourceTables) swAction()    {}
func (actMarkCompleted) swAction()   {}

type completeState struct {
	ref        WorkflowRef
	source     string
	tables     []string
	action     string // completeDrop, completeKeep, completeRename
	recovery   bool
	at         int // index in completePhases of the action issued last
	checkpoint bool
	done       bool
	err        error
}

func (s completeState) terminal() bool { return s.done || s.err != nil }

type completePhase struct {
	phase swPhase
	hook  string
	skip  func(s completeState) bool
	do    func(s completeState) swAction
	cause string // the failure's text ("%w": the error as is)
}

var completePhases = []completePhase{
	{phase: "journaled", hook: "complete:journaled", cause: "%[1]w",
		do: func(s completeState) swAction { return actJournalComplete{s.action} }},
	{phase: "routed", hook: "complete:routed", cause: "update the routing: %[1]w",
		do: func(completeState) swAction { return actCompleteRouting{} }},
	{phase: "reverse-removed", hook: "complete:reverse-removed", cause: "stop reverse stream %[2]s: %[1]w",
		do: func(s completeState) swAction { return actRemoveReverse{reverseRef(s.ref, s.source)} }},
	{phase: "source-open", cause: "lift the write denial on %[3]s: %[1]w",
		skip: func(s completeState) bool { return s.action == completeDrop },
		do: func(s completeState) swAction {
			return actDeny{Keyspace: s.source, Tables: s.tables, Wait: 30 * time.Second}
		}},
	{phase: "tables-done", hook: "complete:tables-done", cause: "%[1]w",
		do: func(s completeState) swAction { return actSourceTables{s.action} }},
	{phase: "completed", cause: "mark %[4]s Completed: %[1]w",
		do: func(s completeState) swAction { return actMarkCompleted{completedMessage(s.action)} }},
}

func completedMessage(action string) string {
	return map[string]string{completeDrop: "completed: drop source tables", completeKeep: "completed: keep source tables",
		completeRename: "completed: rename to _vt_old_<name> source tables"}[action]
}

// completeStep is MIGRATE COMPLETE's decision function.
func completeStep(s completeState, ev swEvent) (completeState, []swAction) {
	switch ev := ev.(type) {
	case evBegin:
		return s.issue(0)
	case evRecover:
		s.recovery = true
		return s.issue(1)
	case evOK:
		if d := completePhases[s.at]; d.hook != "" && !s.checkpoint {
			s.checkpoint = true
			return s, []swAction{actCheckpoint{d.hook}}
		}
		return s.issue(s.at + 1)
	case evFailed:
		s.err = s.failure(ev.Err)
	}
	return s, nil
}

func (s completeState) issue(i int) (completeState, []swAction) {
	for ; i < len(completePhases); i++ {
		if d := completePhases[i]; d.skip == nil || !d.skip(s) {
			s.at, s.checkpoint = i, false
			return s, []swAction{d.do(s)}
		}
	}
	s.done = true
	return s, nil
}

// failure is the error of a failed step (or hook): as is in recovery, which logs it and
// retries at the next start; for the command, with what to do about it.
func (s completeState) failure(err error) error {
	if !s.checkpoint {
		err = fmt.Errorf(completePhases[s.at].cause, err, reverseRef(s.ref, s.source), s.source, s.ref)
	}
	switch {
	case s.recovery:
		return err
	case s.at == 0 && !s.checkpoint:
		return switchErr("MIGRATE COMPLETE %s: nothing changed: write journal: %v", s.ref, err)
	case s.at == 0:
		return err
	}
	return switchErr("MIGRATE COMPLETE %s: %v (the journal stays: run MIGRATE COMPLETE again, or restart vtgate-lite, to finish it)", s.ref, err)
}
