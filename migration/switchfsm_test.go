package migration

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Tests of the write switch machine (switchfsm.go) without servers: a script says which
// action fails (or crashes, for a hook); the trace is the actions in the order issued, one
// short string each. The durable state a crash leaves (the journal's phase, the routing) is
// read from the trace, never from the machine.

var fsmRef = WorkflowRef{"customer", "commerce2customer"}

func forwardSpec(newDenied ...string) switchSpec {
	return switchSpec{Ref: fsmRef, Verb: "MIGRATE WRITES", Direction: "forward", OldKS: "commerce", NewKS: "customer",
		Tables: []string{"customer", "corder"}, Active: fsmRef, Opposite: reverseRef(fsmRef, "commerce"),
		Timeout: 30 * time.Second, NewDenied: newDenied, Reads: "replica,rdonly"}
}

func reverseSpec() switchSpec {
	return switchSpec{Ref: fsmRef, Verb: "MIGRATE REVERSE WRITES", Direction: "reverse", OldKS: "customer", NewKS: "commerce",
		Tables: []string{"customer", "corder"}, Active: reverseRef(fsmRef, "commerce"), Opposite: fsmRef,
		Timeout: 30 * time.Second, NewDenied: []string{"customer", "corder"}}
}

func actString(a swAction) string {
	switch a := a.(type) {
	case actHold:
		return "hold " + strings.Join(a.Tables, ",")
	case actRelease:
		return "release"
	case actJournal:
		if a.Pos != "" {
			return "journal " + string(a.Phase) + " " + a.Pos
		}
		return "journal " + string(a.Phase)
	case actDeleteJournal:
		return "delete-journal"
	case actCheckpoint:
		return "hook " + a.Step
	case actDeny:
		verb := "lift"
		if a.Deny {
			verb = "deny"
		}
		wait := a.Wait.String()
		if a.Rest {
			wait = "rest"
		}
		return fmt.Sprintf("%s %s %s %s", verb, a.Keyspace, strings.Join(a.Tables, ","), wait)
	case actReadPos:
		if a.Deadline {
			return "pos " + a.Keyspace + " by-deadline"
		}
		return "pos " + a.Keyspace
	case actRunTo:
		return "run-to " + a.Pos
	case actStopStream:
		return "stop " + a.Ref.String()
	case actStartStream:
		return "start " + a.Ref.String()
	case actStoreReverse:
		return "store-reverse " + a.Pos
	case actSwap:
		return "swap"
	case actRecord:
		return "record"
	case actAnnounce:
		return "announce"
	case actLog:
		return "log " + a.Level.String()
	}
	return fmt.Sprintf("?%T", a)
}

// script: the action (its string) that fails, and how.
type script struct {
	fail    string
	failErr error
	timeout bool
	also    map[string]error // further failures
}

// drive runs the machine from ev as the driver would, answering each action from sc.
func drive(t *testing.T, s switchState, ev swEvent, sc script) (switchState, []string) {
	t.Helper()
	var trace []string
	failed := map[string]bool{}
	for n := 0; ; n++ {
		if n > 100 {
			t.Fatalf("the machine does not end: %v", trace)
		}
		var acts []swAction
		s, acts = switchStep(s, ev)
		for _, a := range acts {
			str := actString(a)
			trace = append(trace, str)
			ev = evOK{}
			if rp, ok := a.(actReadPos); ok {
				ev = evOK{Pos: map[string]string{"commerce": "0-1-100", "customer": "0-2-200"}[rp.Keyspace]}
			}
			if str == sc.fail && !failed[str] {
				failed[str] = true
				err := sc.failErr
				if err == nil {
					err = errors.New("boom")
				}
				ev = evFailed{Err: err, Timeout: sc.timeout}
			} else if err, ok := sc.also[str]; ok {
				ev = evFailed{Err: err}
			}
		}
		if s.terminal() {
			return s, trace
		}
		if len(acts) == 0 {
			t.Fatalf("no action and not ended (phase %q): %v", s.at, trace)
		}
	}
}

func noLogs(trace []string) []string {
	return slices.DeleteFunc(slices.Clone(trace), func(s string) bool { return strings.HasPrefix(s, "log ") })
}

// The happy forward path: every phase in order, hooks included.
var forwardTrace = []string{
	"hold commerce.customer,commerce.corder",
	"journal drained", "hook drained",
	"deny commerce customer,corder rest",
	"pos commerce by-deadline", "run-to 0-1-100",
	"stop customer.commerce2customer", "hook stopped",
	"pos customer", "store-reverse 0-2-200", "journal prepared 0-2-200", "hook prepared",
	"swap", "hook swapped",
	"release", "lift customer customer,corder 30s", "record", "announce", "start commerce.commerce2customer_reverse", "delete-journal",
}

func TestSwitchFSMHappyPaths(t *testing.T) {
	s, trace := drive(t, newSwitch(forwardSpec()), evBegin{}, script{})
	if s.mode != swDone || s.err != nil || len(s.notes) > 0 {
		t.Fatalf("forward: mode %d err %v notes %v", s.mode, s.err, s.notes)
	}
	if !slices.Equal(trace, forwardTrace) {
		t.Errorf("forward trace:\n got %q\nwant %q", trace, forwardTrace)
	}
	// REVERSE: the new side (commerce) was denied since the forward switch: lifted before the
	// swap, with the hook "lifted".
	s, trace = drive(t, newSwitch(reverseSpec()), evBegin{}, script{})
	want := []string{
		"hold customer.customer,customer.corder", "journal drained", "hook drained",
		"deny customer customer,corder rest", "pos customer by-deadline", "run-to 0-2-200",
		"stop commerce.commerce2customer_reverse", "hook stopped",
		"pos commerce", "store-reverse 0-1-100", "journal prepared 0-1-100", "hook prepared",
		"lift commerce customer,corder rest", "hook lifted",
		"swap", "hook swapped",
		"release", "lift commerce customer,corder 30s", "record", "announce", "start customer.commerce2customer", "delete-journal",
	}
	if s.mode != swDone || !slices.Equal(trace, want) {
		t.Errorf("reverse (mode %d):\n got %q\nwant %q", s.mode, trace, want)
	}
	if got := s.switchedMessage(); got != "writes switched back to commerce; stream customer.commerce2customer keeps customer current" {
		t.Errorf("reverse message %q", got)
	}
}

// A failure of each action before the swap undoes exactly the compensations of the phases
// issued, in reverse order, and ends with "nothing changed".
func TestSwitchFSMFailureUndoesInReverse(t *testing.T) {
	const (
		liftOld   = "lift commerce customer,corder 10s"
		startFw   = "start customer.commerce2customer"
		denyAgain = "deny customer customer 10s"
	)
	cases := []struct {
		fail    string
		timeout bool
		denied  []string // spec.NewDenied
		undo    []string
		code    uint16
		msg     string
	}{
		{fail: "hold commerce.customer,commerce.corder", timeout: true, code: sqlerr.ERLockWaitTimeout, msg: "MIGRATE WRITES customer.commerce2customer: boom"},
		{fail: "journal drained", undo: []string{"release"}, code: sqlerr.ERWrongArguments, msg: "aborted, nothing changed: write journal: boom"},
		{fail: "deny commerce customer,corder rest", timeout: true, undo: []string{liftOld, "delete-journal", "release"},
			code: sqlerr.ERLockWaitTimeout, msg: "a transaction outside vtgate-lite kept a moved table on commerce busy for TIMEOUT 30s"},
		{fail: "pos commerce by-deadline", undo: []string{liftOld, "delete-journal", "release"}, msg: "read commerce position: boom"},
		{fail: "run-to 0-1-100", timeout: true, undo: []string{liftOld, "delete-journal", "release"},
			msg: "stream customer.commerce2customer did not reach 0-1-100 within TIMEOUT 30s (drain and catch-up together)"},
		{fail: "stop customer.commerce2customer", undo: []string{startFw, liftOld, "delete-journal", "release"}, msg: "stop stream customer.commerce2customer: boom"},
		{fail: "pos customer", undo: []string{startFw, liftOld, "delete-journal", "release"}, msg: "read customer position: boom"},
		{fail: "store-reverse 0-2-200", undo: []string{startFw, liftOld, "delete-journal", "release"}, msg: "prepare stream commerce.commerce2customer_reverse: boom"},
		{fail: "journal prepared 0-2-200", undo: []string{startFw, liftOld, "delete-journal", "release"}, msg: "aborted, nothing changed: boom"},
		{fail: "swap", undo: []string{startFw, liftOld, "delete-journal", "release"}, msg: "swap routing rules: boom"},
		// An earlier switch left a denial on the new side: lifted before the swap, denied again
		// on a failure from there on.
		{fail: "lift customer customer rest", denied: []string{"customer"}, undo: []string{denyAgain, startFw, liftOld, "delete-journal", "release"}, msg: "lift the write denial on customer: boom"},
		{fail: "swap", denied: []string{"customer"}, undo: []string{denyAgain, startFw, liftOld, "delete-journal", "release"}, msg: "swap routing rules: boom"},
		{fail: "journal prepared 0-2-200", denied: []string{"customer"}, undo: []string{startFw, liftOld, "delete-journal", "release"}},
	}
	for _, c := range cases {
		t.Run(c.fail, func(t *testing.T) {
			s, trace := drive(t, newSwitch(forwardSpec(c.denied...)), evBegin{}, script{fail: c.fail, timeout: c.timeout})
			i := slices.Index(trace, c.fail)
			if i < 0 {
				t.Fatalf("%q never issued: %q", c.fail, trace)
			}
			if got := noLogs(trace[i+1:]); !slices.Equal(got, c.undo) && !(len(got) == 0 && len(c.undo) == 0) {
				t.Errorf("after the failure:\n got %q\nwant %q", got, c.undo)
			}
			if s.mode != swAborted {
				t.Fatalf("mode %d, want aborted", s.mode)
			}
			var se *sqlerr.Error
			if !errors.As(s.err, &se) {
				t.Fatalf("error %v is not a MySQL error", s.err)
			}
			code := c.code
			if code == 0 {
				code = sqlerr.ERWrongArguments
			}
			if se.Code != code || !strings.Contains(se.Message, c.msg) {
				t.Errorf("error %d %q, want %d containing %q", se.Code, se.Message, code, c.msg)
			}
			if c.code != sqlerr.ERLockWaitTimeout && !strings.Contains(se.Message, "nothing changed") {
				t.Errorf("error %q does not say nothing changed", se.Message)
			}
		})
	}
}

// Without the privilege for the triggers (a denial that fails but not on a lock wait) the
// switch goes on without them, says so, and undoes what part of the denial may be in place.
func TestSwitchFSMDenialFailsGoesOn(t *testing.T) {
	s, trace := drive(t, newSwitch(forwardSpec()), evBegin{}, script{fail: "deny commerce customer,corder rest", failErr: errors.New("no SUPER")})
	if s.mode != swDone {
		t.Fatalf("mode %d err %v: %q", s.mode, s.err, trace)
	}
	i := slices.Index(trace, "deny commerce customer,corder rest")
	if want := []string{"log WARN", "lift commerce customer,corder rest", "pos commerce by-deadline"}; !slices.Equal(trace[i+1:i+4], want) {
		t.Errorf("after the failed denial: %q, want %q", trace[i+1:i+4], want)
	}
	if !strings.Contains(s.denyNote, "not denied on commerce: no SUPER") {
		t.Errorf("note %q", s.denyNote)
	}
	// Undone (the lift succeeded): a later abort has no denial to lift.
	s, trace = drive(t, newSwitch(forwardSpec()), evBegin{}, script{fail: "deny commerce customer,corder rest", failErr: errors.New("no SUPER"),
		also: map[string]error{"swap": errors.New("boom")}})
	if got, want := noLogs(trace[slices.Index(trace, "swap")+1:]), []string{"start customer.commerce2customer", "delete-journal", "release"}; s.mode != swAborted || !slices.Equal(got, want) {
		t.Errorf("abort after an undone denial: %q, want %q", got, want)
	}
	// Not undone: the abort lifts it.
	s, trace = drive(t, newSwitch(forwardSpec()), evBegin{}, script{fail: "deny commerce customer,corder rest", failErr: errors.New("no SUPER"),
		also: map[string]error{"swap": errors.New("boom"), "lift commerce customer,corder rest": errors.New("gone")}})
	if got, want := noLogs(trace[slices.Index(trace, "swap")+1:]), []string{"start customer.commerce2customer", "lift commerce customer,corder 10s", "delete-journal", "release"}; s.mode != swAborted || !slices.Equal(got, want) {
		t.Errorf("abort after a denial not undone: %q, want %q", got, want)
	}
}

// A compensation that fails is logged; the others still run, but the journal row stays, so
// that the next start rolls the switch back again.
func TestSwitchFSMUndoFailureKeepsJournal(t *testing.T) {
	s, trace := drive(t, newSwitch(forwardSpec()), evBegin{}, script{fail: "swap",
		also: map[string]error{"lift commerce customer,corder 10s": errors.New("lock wait")}})
	got := trace[slices.Index(trace, "swap")+1:]
	if want := []string{"start customer.commerce2customer", "lift commerce customer,corder 10s", "log ERROR", "release"}; !slices.Equal(got, want) {
		t.Errorf("after the failed compensation: %q, want %q", got, want)
	}
	if s.mode != swAborted || !strings.Contains(s.err.Error(), "swap routing rules") {
		t.Errorf("mode %d err %v", s.mode, s.err)
	}
}

// After the swap nothing is undone: a failed step is a bookkeeping note; a fatal one (the
// stream cannot start, writes_switched not recorded) stops there with the journal kept.
func TestSwitchFSMFinishFailures(t *testing.T) {
	cases := []struct {
		fail  string
		after []string
		note  string
	}{
		{"announce", []string{"start commerce.commerce2customer_reverse", "delete-journal"}, "boom"},
		{"delete-journal", nil, "boom"},
		{"record", nil, "record the switch: boom"},
		{"lift customer customer,corder 30s", nil, "lift the write denial on customer: boom"},
		{"start commerce.commerce2customer_reverse", nil, "start commerce.commerce2customer_reverse: boom"},
	}
	for _, c := range cases {
		s, trace := drive(t, newSwitch(forwardSpec()), evBegin{}, script{fail: c.fail})
		got := trace[slices.Index(trace, c.fail)+1:]
		if s.mode != swDone || !slices.Equal(got, c.after) && len(got)+len(c.after) > 0 {
			t.Errorf("%s failed: mode %d, then %q, want %q", c.fail, s.mode, got, c.after)
		}
		if err := errors.Join(s.notes...); err == nil || err.Error() != c.note {
			t.Errorf("%s failed: notes %v, want %q", c.fail, err, c.note)
		}
	}
}

// A step hook that fails abandons the switch as a crash would: nothing undone, the hold
// released (the process's death ends it), no further action.
func TestSwitchFSMHookCrash(t *testing.T) {
	for _, hook := range []string{"drained", "stopped", "prepared", "swapped"} {
		s, trace := drive(t, newSwitch(forwardSpec()), evBegin{}, script{fail: "hook " + hook, failErr: errors.New("simulated crash at " + hook)})
		if got := trace[slices.Index(trace, "hook "+hook)+1:]; s.mode != swCrashed || !slices.Equal(got, []string{"release"}) {
			t.Errorf("crash at %s: mode %d then %q", hook, s.mode, got)
		}
		if s.err == nil || !strings.Contains(s.err.Error(), "simulated crash") {
			t.Errorf("crash at %s: err %v", hook, s.err)
		}
	}
}

// durable is what a crash after trace leaves on disk: the journal's phase, Q in it, and
// whether the routing was swapped.
func durable(trace []string) (phase swPhase, q string, swapped bool) {
	for _, a := range trace {
		switch {
		case a == "journal drained":
			phase = phDrained
		case strings.HasPrefix(a, "journal prepared "):
			phase, q = phPrepared, strings.TrimPrefix(a, "journal prepared ")
		case a == "swap":
			swapped = true
		case a == "delete-journal":
			phase = phStart
		}
	}
	return
}

// A crash after every action of a switch, forward and reverse, with and without a denial
// on the new side: the restart's recovery finishes the switch iff the routing was swapped,
// and otherwise runs the compensation of every action done (all idempotent), whatever the
// journal's phase says, and deletes the journal last.
func TestSwitchFSMCrashAnywhereRecovers(t *testing.T) {
	for _, spec := range []switchSpec{forwardSpec(), forwardSpec("customer", "corder"), reverseSpec()} {
		_, full := drive(t, newSwitch(spec), evBegin{}, script{})
		full = noLogs(full)
		for n := 1; n <= len(full); n++ {
			done := full[:n]
			phase, q, swapped := durable(done)
			if phase == phStart {
				continue // no journal: nothing to recover (before it, or finished)
			}
			s := newSwitch(spec)
			s.q = q
			name := fmt.Sprintf("%s/after %q", spec.Direction, done[n-1])
			s, rec := drive(t, s, evRecover{Journaled: phase, RoutedToNew: swapped, HasActive: true, HasOpposite: true}, script{})
			rec = noLogs(rec)
			if s.mode != swDone {
				t.Errorf("%s: recovery ended in mode %d: %v", name, s.mode, s.err)
				continue
			}
			if rec[len(rec)-1] != "delete-journal" {
				t.Errorf("%s: recovery does not delete the journal last: %q", name, rec)
			}
			if swapped {
				want := []string{"lift " + spec.NewKS + " customer,corder 30s", "record", "announce", "start " + spec.Opposite.String(), "delete-journal"}
				if !slices.Equal(rec, want) {
					t.Errorf("%s: finish %q, want %q", name, rec, want)
				}
				continue
			}
			for _, a := range done {
				if c := compensationOf(spec, a); c != "" && !slices.Contains(rec, c) {
					t.Errorf("%s: recovery %q misses %q, the compensation of %q", name, rec, c, a)
				}
			}
			if slices.Contains(rec, "swap") || slices.Contains(rec, "start "+spec.Opposite.String()) {
				t.Errorf("%s: a rollback moved writes or started the opposite stream: %q", name, rec)
			}
		}
	}
}

// compensationOf is what recovery must run for an action a crash may have left done.
func compensationOf(sp switchSpec, a string) string {
	switch {
	case strings.HasPrefix(a, "deny "+sp.OldKS+" "):
		return "lift " + sp.OldKS + " customer,corder 30s"
	case strings.HasPrefix(a, "stop "):
		return "start " + sp.Active.String()
	case strings.HasPrefix(a, "lift "+sp.NewKS+" ") && strings.HasSuffix(a, " rest"):
		return "deny " + sp.NewKS + " " + strings.Join(sp.NewDenied, ",") + " 30s"
	}
	return ""
}

// Recovery's rollback, exactly, from each journaled phase; a failed compensation stops it
// (the journal stays for the next start) and says which.
func TestSwitchFSMRecoveryRollback(t *testing.T) {
	cases := []struct {
		name string
		spec switchSpec
		ev   evRecover
		want []string
	}{
		{"forward drained", forwardSpec(), evRecover{Journaled: phDrained, HasActive: true},
			[]string{"log INFO", "start customer.commerce2customer", "lift commerce customer,corder 30s", "delete-journal"}},
		{"forward prepared, nothing denied on customer", forwardSpec(), evRecover{Journaled: phPrepared, HasActive: true, HasOpposite: true},
			[]string{"log INFO", "start customer.commerce2customer", "lift commerce customer,corder 30s", "delete-journal"}},
		{"forward prepared after a reverse switch", forwardSpec("customer", "corder"), evRecover{Journaled: phPrepared, HasActive: true, HasOpposite: true},
			[]string{"log INFO", "deny customer customer,corder 30s", "start customer.commerce2customer", "lift commerce customer,corder 30s", "delete-journal"}},
		{"reverse drained", reverseSpec(), evRecover{Journaled: phDrained, HasActive: true, HasOpposite: true},
			[]string{"log INFO", "start commerce.commerce2customer_reverse", "lift customer customer,corder 30s", "delete-journal"}},
		{"reverse prepared", reverseSpec(), evRecover{Journaled: phPrepared, HasActive: true, HasOpposite: true},
			[]string{"log INFO", "deny commerce customer,corder 30s", "start commerce.commerce2customer_reverse", "lift customer customer,corder 30s", "delete-journal"}},
		{"reverse, the reverse stream gone", reverseSpec(), evRecover{Journaled: phPrepared, HasOpposite: true},
			[]string{"log INFO", "deny commerce customer,corder 30s", "lift customer customer,corder 30s", "delete-journal"}},
		// Routing at NEW but no Q or no opposite stream: not this machine's swap: rolled back.
		{"routed to new, no opposite", forwardSpec(), evRecover{Journaled: phPrepared, RoutedToNew: true, HasActive: true},
			[]string{"log INFO", "start customer.commerce2customer", "lift commerce customer,corder 30s", "delete-journal"}},
	}
	for _, c := range cases {
		s := newSwitch(c.spec)
		if c.ev.Journaled == phPrepared {
			s.q = "0-2-200"
		}
		s, trace := drive(t, s, c.ev, script{})
		if s.mode != swDone || !slices.Equal(trace, c.want) {
			t.Errorf("%s: mode %d\n got %q\nwant %q", c.name, s.mode, trace, c.want)
		}
	}
	s := newSwitch(reverseSpec())
	s.q = "0-1-100"
	s, trace := drive(t, s, evRecover{Journaled: phPrepared, HasActive: true}, script{fail: "deny commerce customer,corder 30s"})
	if s.mode != swFailed || s.err.Error() != "deny writes on commerce again: boom" || slices.Contains(trace, "delete-journal") {
		t.Errorf("failed compensation: mode %d err %v trace %q", s.mode, s.err, trace)
	}
	s = newSwitch(forwardSpec())
	s.q = "0-2-200"
	s, _ = drive(t, s, evRecover{Journaled: phPrepared, RoutedToNew: true, HasActive: true, HasOpposite: true}, script{fail: "record"})
	if s.mode != swFailed || s.err.Error() != "record the switch: boom" {
		t.Errorf("failed finish: mode %d err %v", s.mode, s.err)
	}
}

func TestSwitchFSMJournalPhase(t *testing.T) {
	for _, c := range []struct {
		phase, pos string
		want       swPhase
	}{{"", "", phDrained}, {"", "0-1-5", phPrepared}, {"drained", "", phDrained}, {"prepared", "0-1-5", phPrepared}} {
		if got := journalPhase(c.phase, c.pos); got != c.want {
			t.Errorf("journalPhase(%q, %q) = %q, want %q", c.phase, c.pos, got, c.want)
		}
	}
	// Every hook name of Config.StepHook's MIGRATE WRITES list is a phase's hook.
	var hooks []string
	for _, d := range switchPhases {
		if d.hook != "" {
			hooks = append(hooks, d.hook)
		}
	}
	if want := []string{"drained", "stopped", "prepared", "lifted", "swapped"}; !slices.Equal(hooks, want) {
		t.Errorf("hooks %q, want %q", hooks, want)
	}
	_ = slog.LevelInfo
}

func completeString(a swAction) string {
	switch a := a.(type) {
	case actJournalComplete:
		return "journal complete " + a.Action
	case actCompleteRouting:
		return "routing"
	case actRemoveReverse:
		return "remove " + a.Ref.String()
	case actSourceTables:
		return "tables " + a.Action
	case actMarkCompleted:
		return "completed: " + a.Msg
	}
	return actString(a)
}

func driveComplete(t *testing.T, s completeState, ev swEvent, fail string) (completeState, []string) {
	t.Helper()
	var trace []string
	for n := 0; n < 50; n++ {
		var acts []swAction
		s, acts = completeStep(s, ev)
		for _, a := range acts {
			str := completeString(a)
			trace = append(trace, str)
			ev = evOK{}
			if str == fail {
				ev = evFailed{Err: errors.New("boom")}
			}
		}
		if s.terminal() {
			return s, trace
		}
	}
	t.Fatalf("MIGRATE COMPLETE's machine does not end: %q", trace)
	return s, nil
}

func TestCompleteFSM(t *testing.T) {
	newC := func(action string) completeState {
		return completeState{ref: fsmRef, source: "commerce", tables: []string{"customer", "corder"}, action: action}
	}
	for _, c := range []struct {
		action string
		want   []string
	}{
		{completeDrop, []string{"journal complete drop", "hook complete:journaled", "routing", "hook complete:routed",
			"remove commerce.commerce2customer_reverse", "hook complete:reverse-removed", "tables drop", "hook complete:tables-done",
			"completed: completed: drop source tables"}},
		{completeRename, []string{"journal complete rename", "hook complete:journaled", "routing", "hook complete:routed",
			"remove commerce.commerce2customer_reverse", "hook complete:reverse-removed", "lift commerce customer,corder 30s",
			"tables rename", "hook complete:tables-done", "completed: completed: rename to _vt_old_<name> source tables"}},
	} {
		s, trace := driveComplete(t, newC(c.action), evBegin{}, "")
		if !s.done || s.err != nil || !slices.Equal(trace, c.want) {
			t.Errorf("%s: done %v err %v\n got %q\nwant %q", c.action, s.done, s.err, trace, c.want)
		}
		// Recovery runs every step after the journal again, hooks included.
		s, rec := driveComplete(t, newC(c.action), evRecover{}, "")
		if !s.done || !slices.Equal(rec, c.want[2:]) {
			t.Errorf("%s recovery: %q, want %q", c.action, rec, c.want[2:])
		}
	}
	for _, c := range []struct{ fail, err string }{
		{"journal complete keep", "MIGRATE COMPLETE customer.commerce2customer: nothing changed: write journal: boom"},
		{"hook complete:journaled", "boom"},
		{"routing", "MIGRATE COMPLETE customer.commerce2customer: update the routing: boom (the journal stays: run MIGRATE COMPLETE again, or restart vtgate-lite, to finish it)"},
		{"hook complete:routed", "MIGRATE COMPLETE customer.commerce2customer: boom (the journal stays"},
		{"remove commerce.commerce2customer_reverse", "stop reverse stream commerce.commerce2customer_reverse: boom (the journal stays"},
		{"lift commerce customer,corder 30s", "lift the write denial on commerce: boom (the journal stays"},
		{"tables keep", "MIGRATE COMPLETE customer.commerce2customer: boom (the journal stays"},
		{"completed: completed: keep source tables", "mark customer.commerce2customer Completed: boom (the journal stays"},
	} {
		s, trace := driveComplete(t, newC(completeKeep), evBegin{}, c.fail)
		if s.err == nil || !strings.Contains(s.err.Error(), c.err) || trace[len(trace)-1] != c.fail {
			t.Errorf("%s failed: err %v (want %q), trace %q", c.fail, s.err, c.err, trace)
		}
	}
	s, _ := driveComplete(t, newC(completeDrop), evRecover{}, "tables drop")
	if s.err == nil || s.err.Error() != "boom" {
		t.Errorf("recovery failure: %v, want the error as is", s.err)
	}
}
