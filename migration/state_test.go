package migration

import (
	"reflect"
	"testing"
	"time"
)

func TestStep(t *testing.T) {
	copying := State{Phase: Copying, OnDDL: DDLStop}
	running := State{Phase: Running, CopyDone: true, OnDDL: DDLStop}
	cases := []struct {
		name    string
		in      State
		ev      Event
		want    State
		actions []Action
	}{
		{"resume copying copies", copying, EvResume{}, copying, []Action{ActCopyCycle{}}},
		{"resume running streams", running, EvResume{}, running, []Action{ActStream{}}},
		{"resume stopped idles", State{Phase: Stopped}, EvResume{}, State{Phase: Stopped}, []Action{ActIdle{}}},
		{"cycle not done copies again", copying, EvCycleDone{}, copying, []Action{ActCopyCycle{}}},
		{"cycle done starts streaming", copying, EvCycleDone{AllCopied: true}, State{Phase: Running, CopyDone: true, OnDDL: DDLStop}, []Action{ActPersist{Running, ""}, ActStream{}}},
		{"stop", running, EvStop{}, State{Phase: Stopped, CopyDone: true, OnDDL: DDLStop, Message: "stopped by MIGRATE STOP"}, []Action{ActPersist{Stopped, "stopped by MIGRATE STOP"}, ActIdle{}}},
		{"stop while stopped", State{Phase: Stopped}, EvStop{}, State{Phase: Stopped}, []Action{ActIdle{}}},
		{"start stopped copy", State{Phase: Stopped, Message: "x"}, EvStart{}, State{Phase: Copying}, []Action{ActPersist{Copying, ""}, ActCopyCycle{}}},
		{"start error after copy", State{Phase: Error, CopyDone: true, Message: "boom"}, EvStart{}, State{Phase: Running, CopyDone: true}, []Action{ActPersist{Running, ""}, ActStream{}}},
		{"start completed rejected", State{Phase: Completed}, EvStart{}, State{Phase: Completed}, []Action{ActReject{"workflow is completed"}, ActIdle{}}},
		{"retryable failure backs off", running, EvFailure{Err: "conn lost", Retryable: true},
			State{Phase: Running, CopyDone: true, OnDDL: DDLStop, Retries: 1, Message: "retry 1 in 250ms after: conn lost"}, []Action{ActBackoff{250 * time.Millisecond}}},
		{"fatal failure errors", running, EvFailure{Err: "bad"}, State{Phase: Error, CopyDone: true, OnDDL: DDLStop, Message: "bad"}, []Action{ActPersist{Error, "bad"}, ActIdle{}}},
		{"progress resets retries", State{Phase: Running, Retries: 3, Message: "retry"}, EvProgress{}, State{Phase: Running}, nil},
		{"ddl stop", running, EvDDL{Stmt: "ALTER TABLE t ADD c INT"},
			State{Phase: Error, CopyDone: true, OnDDL: DDLStop, Message: "ON DDL STOP: the source ran DDL on a moved table; apply it to the target yourself, then MIGRATE START: ALTER TABLE t ADD c INT"},
			[]Action{ActSkipDDL{Error, "ON DDL STOP: the source ran DDL on a moved table; apply it to the target yourself, then MIGRATE START: ALTER TABLE t ADD c INT"}, ActIdle{}}},
		{"ddl ignore", State{Phase: Running, OnDDL: DDLIgnore}, EvDDL{Stmt: "x"}, State{Phase: Running, OnDDL: DDLIgnore}, []Action{ActSkipDDL{}, ActStream{}}},
		{"ddl exec during copy", State{Phase: Copying, OnDDL: DDLExec}, EvDDL{Stmt: "x"}, State{Phase: Copying, OnDDL: DDLExec}, []Action{ActExecDDL{"x"}, ActCopyCycle{}}},
		{"cancel", running, EvCancel{KeepData: true}, running, []Action{ActCancel{KeepData: true}}},
		{"cancel after write switch rejected", State{Phase: Running, WritesSwitched: true}, EvCancel{}, State{Phase: Running, WritesSwitched: true},
			[]Action{ActReject{"writes are already switched: use MIGRATE REVERSE or MIGRATE COMPLETE"}, ActStream{}}},
	}
	for _, c := range cases {
		got, acts := Step(c.in, c.ev)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: state\n got %+v\nwant %+v", c.name, got, c.want)
		}
		if !reflect.DeepEqual(acts, c.actions) {
			t.Errorf("%s: actions\n got %#v\nwant %#v", c.name, acts, c.actions)
		}
	}
}

// TestStepScript drives a whole life: copy in cycles, a lost connection, streaming, a DDL under
// ON DDL STOP, a restart by MIGRATE START, a stop.
func TestStepScript(t *testing.T) {
	s := State{Phase: Copying, OnDDL: DDLStop}
	script := []struct {
		ev    Event
		phase Phase
		first Action
	}{
		{EvResume{}, Copying, ActCopyCycle{}},
		{EvCycleDone{}, Copying, ActCopyCycle{}},
		{EvFailure{Err: "lost", Retryable: true}, Copying, ActBackoff{250 * time.Millisecond}},
		{EvFailure{Err: "lost", Retryable: true}, Copying, ActBackoff{500 * time.Millisecond}},
		{EvResume{}, Copying, ActCopyCycle{}},
		{EvCycleDone{AllCopied: true}, Running, ActPersist{Running, ""}},
		{EvDDL{Stmt: "DROP TABLE t"}, Error, nil},
		{EvResume{}, Error, ActIdle{}},
		{EvStart{}, Running, ActPersist{Running, ""}},
		{EvStop{}, Stopped, ActPersist{Stopped, "stopped by MIGRATE STOP"}},
	}
	for i, st := range script {
		var acts []Action
		s, acts = Step(s, st.ev)
		if s.Phase != st.phase {
			t.Fatalf("step %d (%T): phase %s, want %s", i, st.ev, s.Phase, st.phase)
		}
		if st.first != nil && (len(acts) == 0 || !reflect.DeepEqual(acts[0], st.first)) {
			t.Fatalf("step %d (%T): actions %#v, want first %#v", i, st.ev, acts, st.first)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d)=%s want %s", i+1, got, w)
		}
	}
	if Backoff(100) != maxBackoff {
		t.Errorf("Backoff(100)=%s", Backoff(100))
	}
}
