package migration

import (
	"fmt"
	"strings"
	"time"
)

// Phase is a workflow's persisted state, as SHOW MIGRATIONS prints it.
type Phase string

const (
	Copying   Phase = "Copying"
	Running   Phase = "Running"
	Stopped   Phase = "Stopped"
	Error     Phase = "Error"
	Completed Phase = "Completed"
)

// State is what the pure core knows about one workflow. The driver loads it from the
// sidecar schema, feeds events to Step and performs the returned actions.
type State struct {
	Phase    Phase
	CopyDone bool // every table has been copied; streaming alone keeps the target current
	OnDDL    OnDDL
	Message  string
	Retries  int // consecutive failures, reset by progress
	// ReadsSwitched / WritesSwitched are reserved for issue #4 (traffic switching). A workflow whose
	// writes are switched can no longer be cancelled.
	ReadsSwitched  bool
	WritesSwitched bool
}

// Event is something that happened to a workflow.
type Event interface{ event() }

type (
	// EvResume: the workflow was loaded (engine start, creation) or a backoff ended.
	EvResume struct{}
	// EvStart, EvStop, EvCancel are the admin commands MIGRATE START / STOP / CANCEL.
	EvStart  struct{}
	EvStop   struct{}
	EvCancel struct{ KeepData bool }
	// EvCycleDone: a copy cycle committed; AllCopied when no table is left to copy.
	EvCycleDone struct{ AllCopied bool }
	// EvDDL: the stream met a DDL statement on a moved table (not yet applied or skipped).
	EvDDL struct{ Stmt string }
	// EvFailure: the work failed. Retryable errors (lost connections, server restarts) back off
	// and resume from the persisted position; others put the workflow in Error.
	EvFailure struct {
		Err       string
		Retryable bool
	}
	// EvProgress: work made durable progress since the last failure (resets the backoff).
	EvProgress struct{}
)

func (EvResume) event()    {}
func (EvStart) event()     {}
func (EvStop) event()      {}
func (EvCancel) event()    {}
func (EvCycleDone) event() {}
func (EvDDL) event()       {}
func (EvFailure) event()   {}
func (EvProgress) event()  {}

// Action is a side effect the driver performs. Work actions (ActCopyCycle, ActStream, ActIdle,
// ActBackoff) produce the next event; the others return nothing unless they fail.
type Action interface{ action() }

type (
	// ActPersist writes Phase and Message to the sidecar workflow row.
	ActPersist struct {
		Phase   Phase
		Message string
	}
	// ActCopyCycle: snapshot the source at P, stream the target to P, copy rows from the
	// snapshot until done or the cycle's time budget is spent.
	ActCopyCycle struct{}
	// ActStream: follow the binlog from the persisted position until stopped or failing.
	ActStream struct{}
	// ActSkipDDL advances the persisted position past the pending DDL without applying it and,
	// when Phase is set, persists Phase and Message in the same transaction.
	ActSkipDDL struct {
		Phase   Phase
		Message string
	}
	// ActExecDDL applies the pending DDL to the target, then advances past it.
	ActExecDDL struct{ Stmt string }
	// ActIdle waits for an admin command.
	ActIdle struct{}
	// ActBackoff waits, then resumes.
	ActBackoff struct{ Delay time.Duration }
	// ActCancel removes routing rules, sidecar state and (unless KeepData) the target tables.
	ActCancel struct{ KeepData bool }
	// ActReject reports that a command is not allowed in the current state.
	ActReject struct{ Reason string }
)

func (ActPersist) action()   {}
func (ActCopyCycle) action() {}
func (ActStream) action()    {}
func (ActSkipDDL) action()   {}
func (ActExecDDL) action()   {}
func (ActIdle) action()      {}
func (ActBackoff) action()   {}
func (ActCancel) action()    {}
func (ActReject) action()    {}

const maxBackoff = 30 * time.Second

// Backoff is the wait before retry n (1-based): 250ms doubling, capped at 30s.
func Backoff(n int) time.Duration {
	d := 250 * time.Millisecond
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// work returns the action that continues the workflow in its current phase.
func (s State) work() Action {
	switch s.Phase {
	case Copying:
		return ActCopyCycle{}
	case Running:
		return ActStream{}
	}
	return ActIdle{}
}

func (s State) active() bool { return s.Phase == Copying || s.Phase == Running }

// Step is the workflow's decision function: no I/O, no clock.
func Step(s State, ev Event) (State, []Action) {
	switch ev := ev.(type) {
	case EvResume:
		return s, []Action{s.work()}
	case EvProgress:
		if s.Retries > 0 || strings.HasPrefix(s.Message, "copy throttled") {
			s.Retries = 0
			if s.active() {
				s.Message = ""
			}
		}
		return s, nil
	case EvStart:
		if s.Phase == Completed {
			return s, []Action{ActReject{"workflow is completed"}, ActIdle{}}
		}
		if s.active() && s.Retries == 0 {
			return s, []Action{s.work()}
		}
		s.Phase, s.Message, s.Retries = Running, "", 0
		if !s.CopyDone {
			s.Phase = Copying
		}
		return s, []Action{ActPersist{s.Phase, ""}, s.work()}
	case EvStop:
		if !s.active() {
			return s, []Action{ActIdle{}}
		}
		s.Phase, s.Message, s.Retries = Stopped, "stopped by MIGRATE STOP", 0
		return s, []Action{ActPersist{s.Phase, s.Message}, ActIdle{}}
	case EvCancel:
		if s.WritesSwitched {
			return s, []Action{ActReject{"writes are already switched: use MIGRATE REVERSE or MIGRATE COMPLETE"}, s.work()}
		}
		return s, []Action{ActCancel{KeepData: ev.KeepData}}
	case EvCycleDone:
		s.Retries = 0
		if ev.AllCopied {
			s.CopyDone = true
			s.Phase, s.Message = Running, ""
			return s, []Action{ActPersist{Running, ""}, ActStream{}}
		}
		return s, []Action{ActCopyCycle{}}
	case EvDDL:
		switch s.OnDDL {
		case DDLIgnore:
			return s, []Action{ActSkipDDL{}, s.work()}
		case DDLExec:
			return s, []Action{ActExecDDL{ev.Stmt}, s.work()}
		default:
			s.Phase = Error
			s.Message = "ON DDL STOP: the source ran DDL on a moved table; apply it to the target yourself, then MIGRATE START: " + ev.Stmt
			// The position moves past the DDL so that MIGRATE START continues after it.
			return s, []Action{ActSkipDDL{Error, s.Message}, ActIdle{}}
		}
	case EvFailure:
		if !ev.Retryable {
			s.Phase, s.Message, s.Retries = Error, ev.Err, 0
			return s, []Action{ActPersist{Error, ev.Err}, ActIdle{}}
		}
		s.Retries++
		d := Backoff(s.Retries)
		s.Message = fmt.Sprintf("retry %d in %s after: %s", s.Retries, d, ev.Err)
		return s, []Action{ActBackoff{d}}
	}
	return s, nil
}
