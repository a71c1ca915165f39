package migration

import (
	"strings"
	"testing"
	"time"
)

// TestCrashResume kills the engine (context cancelled abruptly, connections dropped, nothing
// cleaned up) mid-copy and several times mid-stream under write load; each time a NEW engine
// resumes from the sidecar state alone. MIGRATE STOP survives a restart too.
func TestCrashResume(t *testing.T) {
	e := newEnv(t)
	e.createSchema()
	e.fill(3000)
	e.cfg.CopyRowsPerSecond = 4000
	defer setCycle(400 * time.Millisecond)()
	e.start()
	w := e.startWriter(3000)
	defer func() {
		if w != nil {
			w.halt()
		}
	}()
	e.mustExec("MIGRATE TABLES customer, corder FROM commerce TO customer")
	ref := "customer.commerce2customer"
	e.waitFor(ref, 60*time.Second, func(m map[string]string) bool { return m["rows_copied"] >= "1000" && len(m["rows_copied"]) >= 4 })
	e.crash()
	copied := e.dst.Primary.QueryString(t, "SELECT SUM(rows_copied) FROM _vt_lite.copy_state")
	t.Logf("crashed mid-copy with %s rows copied", copied)
	time.Sleep(300 * time.Millisecond) // writes go on while vtgate-lite is down
	e.start()
	m := e.waitFor(ref, 10*time.Second, func(m map[string]string) bool { return m["state"] == "Copying" || m["state"] == "Running" })
	t.Logf("after restart: %v", m)
	// Stop survives a restart, start continues.
	e.mustExec("MIGRATE STOP " + ref)
	e.waitState(ref, Stopped)
	e.crash()
	e.start()
	e.waitState(ref, Stopped)
	time.Sleep(200 * time.Millisecond)
	if m := e.waitState(ref, Stopped); !strings.Contains(m["message"], "MIGRATE STOP") {
		t.Errorf("stopped message: %v", m)
	}
	e.mustExec("MIGRATE START " + ref)
	e.waitState(ref, Running)
	// Crash mid-stream, repeatedly, under load.
	for i := range 3 {
		time.Sleep(time.Duration(200+150*i) * time.Millisecond)
		e.crash()
		time.Sleep(100 * time.Millisecond)
		e.start()
	}
	e.waitState(ref, Running)
	w.halt()
	w = nil
	e.caughtUp("commerce2customer")
	e.sameData("customer", "corder")
	e.vdiffClean(ref)
}

// TestServerRestarts kills the source server mid-stream, then the target primary; the
// workflow shows the retries in SHOW MIGRATION and resumes when the server is back.
func TestServerRestarts(t *testing.T) {
	e := newEnv(t)
	e.createSchema()
	e.fill(1000)
	e.start()
	e.mustExec("MIGRATE TABLES customer FROM commerce TO customer WORKFLOW wf")
	ref := "customer.wf"
	e.waitState(ref, Running)
	w := e.startWriter(1000)
	time.Sleep(500 * time.Millisecond)
	e.src.Primary.Kill()
	w.halt()
	// The failure is visible, never silent.
	deadline := time.Now().Add(20 * time.Second)
	seen := ""
	for time.Now().Before(deadline) && seen == "" {
		r := e.mustExec("SHOW MIGRATION " + ref)
		if le := row(r, 0)["last_error"]; le != "" {
			seen = le
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seen == "" {
		t.Errorf("SHOW MIGRATION never showed the lost source")
	}
	t.Logf("while the source is down: %s", seen)
	e.src.Primary.Restart(t)
	w = e.startWriter(1000)
	time.Sleep(time.Second)
	w.halt()
	e.waitFor(ref, 60*time.Second, func(m map[string]string) bool { return m["state"] == "Running" && m["message"] == "" })
	e.caughtUp("wf")
	e.sameData("customer")
	e.vdiffClean(ref)

	// The target primary dies: source writes go on, the stream retries, then catches up.
	w = e.startWriter(1000)
	time.Sleep(300 * time.Millisecond)
	e.dst.Primary.Kill()
	time.Sleep(time.Second)
	if m := e.waitFor(ref, 10*time.Second, func(m map[string]string) bool { return strings.Contains(m["message"], "retry") }); m == nil {
		t.Fatal("no retry shown while the target is down")
	}
	e.dst.Primary.Restart(t)
	time.Sleep(500 * time.Millisecond)
	w.halt()
	e.waitFor(ref, 60*time.Second, func(m map[string]string) bool { return m["state"] == "Running" && m["message"] == "" })
	e.caughtUp("wf")
	e.sameData("customer")
}
