package reliability

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// Faults during the write switch (issue #5: scenario 1b, scenario 3 during MIGRATE WRITES,
// scenario 5; docs/reliability.md "Fault injection"). Same environment as chaos_test.go
// (commerce -> customer, ledger writers through the real binary), then:
//
//   - TestChaosSwitchKill: kill -9 of the binary at every step of MIGRATE WRITES (drained,
//     stopped, prepared, swapped) and of MIGRATE COMPLETE (complete:journaled, routed,
//     reverse-removed, tables-done), reached deterministically with the binary's test hook
//     VTGATE_LITE_TEST_PAUSE_AT (cmd/vtgate-lite/admin.go): the process logs "test hook:
//     paused" and blocks there for good; the test kills it and checks what the next start
//     does (migration/switch.go recoverSwitch): before the routing swap the switch is rolled
//     back, at and after it the switch is finished, an interrupted COMPLETE is finished.
//     One workflow crosses all eight steps.
//   - TestChaosSwitchAbort: an open transaction on a moved table makes MIGRATE WRITES ...
//     TIMEOUT fail with error 1205 naming the session (scenario 5); the target primary
//     down when MIGRATE WRITES is issued, and stopped while a MIGRATE WRITES is under way
//     (scenario 3): a clean error, nothing changed, writers acknowledged throughout; then
//     MIGRATE WRITES succeeds.
//
// After each fault: the routing, the journal (_vt_lite.traffic_switch on the target), both
// workflows' states, the ledger (every acknowledged write exactly once) on the side that
// takes the writes and, once its stream caught up, on the other side; VDIFF.

const (
	pauseEnvName    = "VTGATE_LITE_TEST_PAUSE_AT"
	reverseWorkflow = "commerce.commerce2customer_reverse"
)

// switchState is what the test observes of a write switch from outside the binary.
type switchState struct {
	fw, rv  map[string]string // SHOW MIGRATIONS rows of the two workflows (nil: absent)
	journal []string          // directions of the journal rows on the target's sidecar
	route   string            // keyspace an UPDATE of customer and of corder is routed to
	err     error
}

func (s switchState) String() string {
	return fmt.Sprintf("forward %v; reverse %v; journal %v; writes routed to %q; err %v", brief(s.fw), brief(s.rv), s.journal, s.route, s.err)
}

func brief(m map[string]string) string {
	if m == nil {
		return "absent"
	}
	return fmt.Sprintf("{state %s, writes_switched %s, message %q}", m["state"], m["writes_switched"], m["message"])
}

// observe reads the switch state once: SHOW MIGRATIONS and VEXPLAIN PLAN through the proxy,
// the journal on the target primary directly (an error while the target is down).
func (e *chaosEnv) observe() switchState {
	var s switchState
	rows, err := e.query("SHOW MIGRATIONS")
	if err != nil {
		s.err = err
		return s
	}
	for _, r := range rows {
		switch r["workflow"] {
		case chaosWorkflow:
			s.fw = r
		case reverseWorkflow:
			s.rv = r
		}
	}
	if s.route, err = e.writesRoute(); err != nil {
		s.err = err
		return s
	}
	s.journal, s.err = e.journal()
	return s
}

// writesRoute asks the proxy where writes on both moved tables go (VEXPLAIN PLAN), as the
// writers send them (unqualified, database commerce).
func (e *chaosEnv) writesRoute() (string, error) {
	db, err := sql.Open("mysql", e.appDSN("commerce")+"?timeout=2s&readTimeout=10s")
	if err != nil {
		return "", err
	}
	defer db.Close()
	route := ""
	for _, q := range []string{
		"VEXPLAIN PLAN UPDATE customer SET email = 'x' WHERE customer_id = 0",
		"VEXPLAIN PLAN UPDATE corder SET price = 1 WHERE order_id = 0",
	} {
		var op, ks, tt, servers, query, rules sql.NullString
		if err := db.QueryRow(q).Scan(&op, &ks, &tt, &servers, &query, &rules); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
		if route != "" && route != ks.String {
			return "", fmt.Errorf("customer writes go to %s, corder writes to %s", route, ks.String)
		}
		route = ks.String
	}
	return route, nil
}

// journal lists the directions of the journal rows on the target primary.
func (e *chaosEnv) journal() ([]string, error) {
	db, err := sql.Open("mysql", e.dst.Primary.DSN("")+"&timeout=2s&readTimeout=10s")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='_vt_lite' AND TABLE_NAME='traffic_switch'").Scan(&n); err != nil || n == 0 {
		return nil, err
	}
	rows, err := db.Query("SELECT direction FROM _vt_lite.traffic_switch")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// waitSwitch polls observe until cond holds; it returns the state and how long it took.
func (e *chaosEnv) waitSwitch(what string, within time.Duration, cond func(switchState) bool) (switchState, time.Duration) {
	e.t.Helper()
	t0 := time.Now()
	var s switchState
	for time.Since(t0) < within {
		s = e.observe()
		if s.err == nil && cond(s) {
			return s, time.Since(t0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("%s: not within %s; last: %s", what, within, s)
	return s, 0
}

// routingRules reads the routing rules the binary persisted in its state_dir.
func (e *chaosEnv) routingRules() map[string]string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "state", "routing_schema.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	var sc struct {
		Rules map[string]string `json:"routing_rules"`
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		e.t.Fatal(err)
	}
	return sc.Rules
}

func (e *chaosEnv) logSize() int64 {
	st, err := os.Stat(e.logPath)
	if err != nil {
		return 0
	}
	return st.Size()
}

// startPaused starts the binary with the test hook armed at step ("": not armed) and returns
// the log offset where its output begins.
func (e *chaosEnv) startPaused(step string) int64 {
	e.t.Helper()
	off := e.logSize()
	var env []string
	if step != "" {
		env = []string{pauseEnvName + "=" + step}
	}
	e.startWith(env)
	return off
}

// waitPaused waits for the binary's "test hook: paused" line of step in the log after off.
// cmd, when not nil, is the result of the command that must block there: it must not end first.
func (e *chaosEnv) waitPaused(off int64, step string, within time.Duration, cmd <-chan error) time.Duration {
	e.t.Helper()
	t0 := time.Now()
	for time.Since(t0) < within {
		if b, err := os.ReadFile(e.logPath); err == nil && int64(len(b)) >= off {
			for _, line := range strings.Split(string(b[off:]), "\n") {
				if strings.Contains(line, "test hook: paused") && (strings.HasSuffix(line, "step="+step) || strings.Contains(line, "step="+step+" ") || strings.Contains(line, `step="`+step+`"`)) {
					return time.Since(t0)
				}
			}
		}
		select {
		case err := <-cmd:
			e.t.Fatalf("the command ended before pausing at %s: %v", step, err)
		case <-e.proxy.done:
			e.t.Fatalf("vtgate-lite exited before pausing at %s: %v", step, e.proxy.exitErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	e.t.Fatalf("vtgate-lite did not pause at step %s within %s", step, within)
	return 0
}

// adminAsync runs an admin statement on a connection of its own; its outcome comes on the
// channel. The statement is sent once: a connection lost while it runs is an error, never
// a retry on the next process.
func (e *chaosEnv) adminAsync(q string) <-chan error {
	e.t.Helper()
	ch := make(chan error, 1)
	db, err := sql.Open("mysql", fmt.Sprintf("admin:secret@tcp(%s)/commerce?timeout=2s&readTimeout=300s", e.listen))
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	go func() {
		defer db.Close()
		defer conn.Close()
		_, err := conn.ExecContext(context.Background(), q)
		ch <- err
	}()
	return ch
}

// heldTotal is vtgate_lite_switch_held_statements_total of the running binary.
func (e *chaosEnv) heldTotal() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := Scrape(ctx, e.proxy.httpBase+"/metrics")
	if err != nil {
		e.t.Fatalf("scrape: %v", err)
	}
	return m["vtgate_lite_switch_held_statements_total"]
}

type ledgerSide struct {
	name, schema string
	db           *sql.DB
}

// verifyQuiet quiesces the writers (no write in flight, the next ones wait), runs catchUp
// (the other side's stream applies everything acknowledged) and verifies the ledger on each
// side, then lets the writers go on. It returns the keys checked.
func (e *chaosEnv) verifyQuiet(l *chaosLedger, label string, catchUp func(), sides ...ledgerSide) int {
	t := e.t
	t.Helper()
	resume := l.quiesce()
	defer resume()
	if catchUp != nil {
		catchUp()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys := 0
	for _, side := range sides {
		problems, n, err := l.verify(ctx, side.db, side.schema)
		if err != nil {
			t.Fatalf("%s: ledger on the %s: %v", label, side.name, err)
		}
		keys = n
		if len(problems) > 0 {
			if len(problems) > 30 {
				problems = append(problems[:30], fmt.Sprintf("... and %d more", len(problems)-30))
			}
			t.Errorf("%s: LOST/WRONG on the %s (%d keys checked):\n  %s", label, side.name, n, strings.Join(problems, "\n  "))
		}
	}
	return keys
}

func (e *chaosEnv) sides() (src, dst ledgerSide) {
	return ledgerSide{"source primary (commerce)", "commerce", e.srcDB},
		ledgerSide{"target primary (customer)", "customer", e.dst.Primary.Open(e.t, "customer")}
}

// reverseCaughtUp waits until the reverse stream applied on commerce everything the customer
// primary has (a reverse workflow's sidecar is on its target, commerce).
func (e *chaosEnv) reverseCaughtUp(within time.Duration) time.Duration {
	e.t.Helper()
	return e.caughtUpWF(e.dst.Primary, e.src.Primary, "commerce", "commerce2customer_reverse", within)
}

// atStep describes the persisted switch state, read on the servers and in state_dir: the
// journal, the sidecar phases of both workflows, the routing rule of customer.
func (e *chaosEnv) atStep() string {
	t := e.t
	t.Helper()
	j, err := e.journal()
	if err != nil {
		t.Fatal(err)
	}
	phase := func(s *testcluster.Server, ks, name string) string {
		p := s.QueryString(t, fmt.Sprintf("SELECT IFNULL((SELECT phase FROM _vt_lite.workflow WHERE keyspace='%s' AND name='%s'), 'absent')", ks, name))
		return p
	}
	rv := "absent"
	if e.src.Primary.QueryString(t, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='_vt_lite' AND TABLE_NAME='workflow'") == "1" {
		rv = phase(e.src.Primary, "commerce", "commerce2customer_reverse")
	}
	return fmt.Sprintf("journal %v forward %s reverse %s rule %s", j, phase(e.dst.Primary, "customer", "commerce2customer"), rv, e.routingRules()["customer"])
}

// sourceTablesGone checks that customer and corder left commerce (renamed to _vt_old_<name>
// when renamed is set).
func (e *chaosEnv) sourceTablesGone(label string, renamed bool) {
	t := e.t
	t.Helper()
	count := func(names string) string {
		return e.src.Primary.QueryString(t, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='commerce' AND TABLE_NAME IN ("+names+")")
	}
	if n := count("'customer','corder'"); n != "0" {
		t.Errorf("%s: %s source tables left on commerce", label, n)
	}
	want := "0"
	if renamed {
		want = "2"
	}
	if n := count("'_vt_old_customer','_vt_old_corder'"); n != want {
		t.Errorf("%s: %s renamed source tables on commerce, want %s", label, n, want)
	}
}

// TestChaosSwitchKill: kill -9 of the binary at each step of MIGRATE WRITES and MIGRATE
// COMPLETE, one workflow crossing all of them, ledger writers through the binary throughout.
func TestChaosSwitchKill(t *testing.T) {
	t.Parallel()
	sc := scale()
	t0 := time.Now()
	rows := sc.rows / 5
	e := newChaosEnv(t, chaosOpts{Rows: rows, ProxyEnv: []string{pauseEnvName + "=drained"}})
	l := newChaosLedger(rows)
	src, dst := e.sides()
	w := l.startWriters(e.appDSN("commerce"), 0, sc.writers)
	defer func() {
		if w != nil {
			w.halt()
		}
	}()
	e.mustQuery("MIGRATE TABLES customer, corder FROM commerce TO customer")
	e.waitWorkflow("Running", 120*time.Second, func(m map[string]string) bool { return m["state"] == "Running" })
	e.caughtUp(60 * time.Second)
	time.Sleep(sc.writeFor)

	// kill stops the paused binary; the blocked command must then fail (unknown outcome to
	// its client: the next start decides).
	kill := func(step string, cmd <-chan error) time.Time {
		t.Helper()
		e.kill9()
		at := time.Now()
		if cmd != nil {
			select {
			case err := <-cmd:
				if err == nil {
					t.Fatalf("the command paused at %s succeeded although the process was killed", step)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the command paused at %s did not fail within 10s of the kill", step)
			}
		}
		time.Sleep(300 * time.Millisecond) // writers see the proxy down
		return at
	}

	// MIGRATE WRITES, killed at each step; the restart arms the hook at the next one.
	writeSteps := []string{"drained", "stopped", "prepared", "swapped"}
	off := int64(0) // where the running process's log begins
	for i, step := range writeSteps {
		next := "complete:journaled"
		if i+1 < len(writeSteps) {
			next = writeSteps[i+1]
		}
		e.waitWorkflow("Running with no error before MIGRATE WRITES", 60*time.Second, func(m map[string]string) bool {
			return m["state"] == "Running" && m["message"] == "" && m["writes_switched"] == "no"
		})
		failedBefore := l.failed.Load()
		cmd := e.adminAsync("MIGRATE WRITES " + chaosWorkflow + " TIMEOUT 20s")
		dPause := e.waitPaused(off, step, 60*time.Second, cmd)
		time.Sleep(200 * time.Millisecond) // writers reach the held tables
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := Scrape(ctx, e.proxy.httpBase+"/metrics")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		held := m["vtgate_lite_switch_held_statements"]
		if held == 0 {
			t.Errorf("paused at %s: no writer statement is held", step)
		}
		// The process is at the step: check so on the servers and in state_dir.
		at := e.atStep()
		want := map[string]string{
			"drained":  "journal [forward] forward Running reverse absent rule commerce.customer",
			"stopped":  "journal [forward] forward Stopped reverse absent rule commerce.customer",
			"prepared": "journal [forward] forward Stopped reverse Stopped rule commerce.customer",
			"swapped":  "journal [forward] forward Stopped reverse Stopped rule customer.customer",
		}[step]
		if at != want {
			t.Errorf("paused at %s: %s, want %s", step, at, want)
		}
		killedAt := kill(step, cmd)
		off = e.startPaused(next)
		up := time.Since(killedAt)
		var s switchState
		var dRec time.Duration
		if step != "swapped" {
			s, dRec = e.waitSwitch("rolled back after the kill at "+step, 60*time.Second, func(s switchState) bool {
				return s.fw != nil && s.fw["state"] == "Running" && s.fw["writes_switched"] == "no" && s.fw["message"] == "" &&
					(s.rv == nil || s.rv["state"] != "Running") && len(s.journal) == 0 && s.route == "commerce"
			})
			if r := e.routingRules()["customer"]; r != "commerce.customer" {
				t.Errorf("after the kill at %s: routing rule customer -> %q, want commerce.customer", step, r)
			}
			// The rollback lifted the write denial the switch put on commerce (deny.go).
			if n := e.denyTriggers(); n != "0" {
				t.Errorf("after the kill at %s (rolled back): %s deny triggers left on commerce", step, n)
			}
			e.verifyQuiet(l, "after the kill at "+step, func() { e.caughtUp(60 * time.Second) }, src, dst)
		} else {
			s, dRec = e.waitSwitch("finished after the kill at "+step, 60*time.Second, func(s switchState) bool {
				return s.fw != nil && s.fw["writes_switched"] == "yes" && s.fw["state"] != "Running" &&
					s.rv != nil && s.rv["state"] == "Running" && len(s.journal) == 0 && s.route == "customer"
			})
			if r := e.routingRules()["customer"]; r != "customer.customer" {
				t.Errorf("after the kill at %s: routing rule customer -> %q, want customer.customer", step, r)
			}
			// Finished: commerce refuses writes that bypass vtgate-lite (3 events x 2 tables).
			if n := e.denyTriggers(); n != "6" {
				t.Errorf("after the kill at %s (finished): %s deny triggers on commerce, want 6", step, n)
			}
			e.waitWorkflow("forward stream stopped", 10*time.Second, func(m map[string]string) bool { return m["state"] == "Stopped" })
			e.verifyQuiet(l, "after the kill at "+step, func() { e.reverseCaughtUp(60 * time.Second) }, dst, src)
		}
		wf := chaosWorkflow
		if step == "swapped" {
			wf = reverseWorkflow
		}
		compared, dVdiff := e.vdiffCleanWF(wf, 120*time.Second)
		t.Logf("CHAOS switch-kill %s: MIGRATE WRITES paused %s after it was issued (statements held at the pause: %.0f; %s); killed; back up %s later (hook armed at %s); %s %s after the restart: %s; ledger exact on both sides; VDIFF %s %d rows clean (%s); writes failed during this round: %d",
			step, dPause.Round(time.Millisecond), held, at, up.Round(time.Millisecond), next, map[bool]string{true: "finished", false: "rolled back"}[step == "swapped"],
			dRec.Round(time.Millisecond), s, wf, compared, dVdiff.Round(time.Millisecond), l.failed.Load()-failedBefore)
		time.Sleep(sc.writeFor)
	}

	// MIGRATE COMPLETE: paused at complete:journaled in the running process, then each
	// restart's recovery runs the remaining steps up to the next pause.
	completeSteps := []string{"complete:journaled", "complete:routed", "complete:reverse-removed", "complete:tables-done"}
	// The long form keeps the source tables, renamed (RENAME TABLES); the short form drops them.
	complete, gone := "MIGRATE COMPLETE "+chaosWorkflow, "dropped"
	if chaosLong() {
		complete, gone = complete+" RENAME TABLES", "renamed to _vt_old_<name>"
	}
	cmd := e.adminAsync(complete)
	for i, step := range completeSteps {
		if i > 0 {
			off = e.startPaused(step)
			cmd = nil
		}
		dPause := e.waitPaused(off, step, 60*time.Second, cmd)
		// What the paused process shows: the journal says complete until the last step.
		j, err := e.journal()
		if err != nil || len(j) != 1 || j[0] != "complete" {
			t.Errorf("paused at %s: journal %v (err %v), want one 'complete' row", step, j, err)
		}
		route, err := e.writesRoute()
		if err != nil {
			t.Fatalf("paused at %s: %v", step, err)
		}
		var detail string
		switch step {
		case "complete:journaled":
			detail = fmt.Sprintf("routing rules %d", len(e.routingRules()))
		case "complete:routed":
			if n := len(e.routingRules()); n != 0 {
				t.Errorf("paused at %s: %d routing rules left", step, n)
			}
			detail = "no routing rules"
		case "complete:reverse-removed":
			n := e.src.Primary.QueryString(t, "SELECT COUNT(*) FROM _vt_lite.workflow WHERE name='commerce2customer_reverse'")
			if n != "0" {
				t.Errorf("paused at %s: the reverse workflow is still in commerce's sidecar", step)
			}
			detail = "reverse workflow gone from commerce's sidecar"
		case "complete:tables-done":
			e.sourceTablesGone(step, chaosLong())
			detail = "source tables " + gone
		}
		if route != "customer" {
			t.Errorf("paused at %s: writes routed to %q", step, route)
		}
		// The ledger on the side taking the writes (the paused command holds no statement).
		keys := e.verifyQuiet(l, "paused at "+step, nil, dst)
		killedAt := kill(step, cmd)
		t.Logf("CHAOS switch-kill %s: paused %s after %s (writes routed to %s; %s; ledger on customer exact, %d keys); killed at %s",
			step, dPause.Round(time.Millisecond), map[bool]string{true: "MIGRATE COMPLETE was issued", false: "the restart"}[i == 0], route, detail, keys, killedAt.Format("15:04:05.000"))
	}
	e.startPaused("")
	s, dDone := e.waitSwitch("completed after the last kill", 60*time.Second, func(s switchState) bool {
		return s.fw != nil && s.fw["state"] == "Completed" && s.rv == nil && len(s.journal) == 0 && s.route == "customer"
	})
	if n := len(e.routingRules()); n != 0 {
		t.Errorf("completed: %d routing rules left: %v", n, e.routingRules())
	}
	e.sourceTablesGone("completed", chaosLong())
	time.Sleep(sc.writeFor)
	w.halt()
	w = nil
	keys := e.verifyQuiet(l, "completed", nil, dst)
	t.Logf("CHAOS switch-kill: Completed %s after the last restart: %s", dDone.Round(time.Millisecond), s)
	t.Logf("CHAOS switch-kill: %s; keys checked %d on customer; lost 0 unless reported above; total %s",
		l.summary(), keys, time.Since(t0).Round(time.Millisecond))
	if len(l.firstErrs) > 0 {
		t.Logf("CHAOS switch-kill: first client errors (not acknowledged, expected while the binary was down): %s", strings.Join(l.firstErrs, " | "))
	}
}

// errNumber is the MySQL error number of err (0 when it is not a server error).
func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// TestChaosSwitchAbort: MIGRATE WRITES that cannot complete changes nothing. Scenario 5: an
// open transaction through the proxy on a moved table blocks the drain until TIMEOUT: error
// 1205 naming the session. Scenario 3 during the switch: the target primary down when the
// command is issued, and stopped while a command is under way (its drain waits on an open
// transaction, committed once the target is down, so the catch-up and journal steps run
// against the stopped target). Then, with everything up, MIGRATE WRITES succeeds.
func TestChaosSwitchAbort(t *testing.T) {
	t.Parallel()
	sc := scale()
	t0 := time.Now()
	rows := sc.rows / 5
	e := newChaosEnv(t, chaosOpts{Rows: rows})
	l := newChaosLedger(rows)
	src, dst := e.sides()
	// Seeded customer rows the long transactions update; no writer touches a key the
	// ledger already has.
	longKeys := []ledgerKey{{"customer", int64(rows)}, {"customer", int64(rows - 1)}}
	for _, k := range longKeys {
		l.set(k, fmt.Sprintf("seed-%d", k.id))
	}
	w := l.startWriters(e.appDSN("commerce"), 0, sc.writers)
	defer func() {
		if w != nil {
			w.halt()
		}
	}()
	e.mustQuery("MIGRATE TABLES customer, corder FROM commerce TO customer")
	e.waitWorkflow("Running", 120*time.Second, func(m map[string]string) bool { return m["state"] == "Running" })
	e.caughtUp(60 * time.Second)
	time.Sleep(sc.writeFor)

	appDB, err := sql.Open("mysql", e.appDSN("commerce")+"?timeout=2s&readTimeout=60s")
	if err != nil {
		t.Fatal(err)
	}
	defer appDB.Close()
	// openTx starts a transaction through the proxy that updates key k of the ledger.
	openTx := func(k ledgerKey, val string) *sql.Tx {
		t.Helper()
		tx, err := appDB.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec("UPDATE customer SET email = ? WHERE customer_id = ?", val, k.id); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	unchanged := func(label string) switchState {
		t.Helper()
		s := e.observe()
		if s.err != nil {
			t.Fatalf("%s: %v", label, s.err)
		}
		if s.route != "commerce" || s.fw == nil || s.fw["writes_switched"] != "no" || s.rv != nil || len(s.journal) != 0 {
			t.Errorf("%s: something changed: %s", label, s)
		}
		if r := e.routingRules()["customer"]; r != "commerce.customer" {
			t.Errorf("%s: routing rule customer -> %q, want commerce.customer", label, r)
		}
		return s
	}

	// Scenario 5: a long transaction on a moved table blocks the drain.
	const timeout5 = 2 * time.Second
	failedBefore, ackedBefore, heldBefore := l.failed.Load(), l.acked(), e.heldTotal()
	tx := openTx(longKeys[0], "long-txn-1")
	started := time.Now()
	_, err = e.query(fmt.Sprintf("MIGRATE WRITES %s TIMEOUT %dms", chaosWorkflow, timeout5.Milliseconds()))
	took := time.Since(started)
	if err == nil {
		t.Fatal("MIGRATE WRITES succeeded with a transaction open on a moved table")
	}
	if errNumber(err) != 1205 || !strings.Contains(err.Error(), "nothing changed") || !strings.Contains(err.Error(), "session") || !strings.Contains(err.Error(), "app@") {
		t.Errorf("MIGRATE WRITES blocked by an open transaction: want error 1205 naming the session, got %v", err)
	}
	if took < timeout5 || took > timeout5+5*time.Second {
		t.Errorf("MIGRATE WRITES ... TIMEOUT %s failed after %s", timeout5, took)
	}
	held := e.heldTotal() - heldBefore
	if held == 0 {
		t.Errorf("no writer statement was held during the drain")
	}
	s := unchanged("after the aborted switch (open transaction)")
	time.Sleep(300 * time.Millisecond)
	if n := l.failed.Load() - failedBefore; n != 0 {
		t.Errorf("%d writes failed while MIGRATE WRITES waited on the open transaction: %v", n, l.firstErrs)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("COMMIT of the long transaction after the aborted switch: %v", err)
	}
	l.set(longKeys[0], "long-txn-1")
	ackedDuring := l.acked() - ackedBefore
	e.verifyQuiet(l, "scenario 5", func() { e.caughtUp(60 * time.Second) }, src, dst)
	compared, dVdiff := e.vdiffClean(120 * time.Second)
	t.Logf("CHAOS switch-abort long-transaction: MIGRATE WRITES ... TIMEOUT %s failed after %s: %v; statements held meanwhile %.0f, released to commerce; writes acknowledged %d, failed 0; then the transaction committed; %s; ledger exact on both sides; VDIFF %d rows clean (%s)",
		timeout5, took.Round(time.Millisecond), err, held, ackedDuring, s, compared, dVdiff.Round(time.Millisecond))
	time.Sleep(sc.writeFor)

	// Scenario 3a: the target primary is down when MIGRATE WRITES is issued.
	switchTimeout := sc.targetDown / 2
	failedBefore, ackedBefore = l.failed.Load(), l.acked()
	e.dst.Primary.Stop()
	stopped := time.Now()
	started = time.Now()
	_, err = e.query(fmt.Sprintf("MIGRATE WRITES %s TIMEOUT %dms", chaosWorkflow, switchTimeout.Milliseconds()))
	took = time.Since(started)
	if err == nil {
		t.Fatal("MIGRATE WRITES succeeded with the target primary down")
	}
	if errNumber(err) == 0 || !(strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "nothing changed")) {
		t.Errorf("MIGRATE WRITES with the target down: want a clean refusal, got %v", err)
	}
	if took > switchTimeout+5*time.Second {
		t.Errorf("MIGRATE WRITES with the target down took %s", took)
	}
	errDown := err
	if rest := sc.targetDown - time.Since(stopped); rest > 0 {
		time.Sleep(rest)
	}
	if r, _ := e.writesRoute(); r != "commerce" {
		t.Errorf("target down: writes routed to %q", r)
	}
	ackedDown, failedDown := l.acked()-ackedBefore, l.failed.Load()-failedBefore
	e.dst.Primary.Restart(t)
	down := time.Since(stopped)
	_, dRun := e.waitWorkflow("Running with no error after the target restart", 90*time.Second, func(m map[string]string) bool {
		return m["state"] == "Running" && m["message"] == ""
	})
	s = unchanged("after the refused switch (target down)")
	e.verifyQuiet(l, "scenario 3a", func() { e.caughtUp(60 * time.Second) }, src, dst)
	if failedDown != 0 {
		t.Errorf("%d writes failed while the target was down (writes are on commerce)", failedDown)
	}
	t.Logf("CHAOS switch-abort target-down-before: target primary stopped %s; MIGRATE WRITES ... TIMEOUT %s failed after %s: %v; writes acknowledged on commerce meanwhile %d, failed %d; Running without error %s after the restart; %s; ledger exact",
		down.Round(time.Millisecond), switchTimeout, took.Round(time.Millisecond), errDown, ackedDown, failedDown, dRun.Round(time.Millisecond), s)
	time.Sleep(sc.writeFor)

	// Scenario 3b: the target primary stops while MIGRATE WRITES is under way: the drain waits
	// on an open transaction; the target is stopped; the transaction commits (on commerce);
	// the catch-up and the journal then meet the stopped target.
	failedBefore, ackedBefore, heldBefore = l.failed.Load(), l.acked(), e.heldTotal()
	tx = openTx(longKeys[1], "long-txn-2")
	// The drain outlasts the target's shutdown (up to ~3 s on a busy box); the catch-up's
	// bound (the same TIMEOUT) plus that stays below the writers' 15 s read timeout.
	drainFor := max(sc.targetDown*3/4, 4500*time.Millisecond)
	cmd := e.adminAsync(fmt.Sprintf("MIGRATE WRITES %s TIMEOUT %dms", chaosWorkflow, drainFor.Milliseconds()))
	started = time.Now()
	time.Sleep(300 * time.Millisecond) // the drain is waiting on tx
	e.dst.Primary.Stop()
	stopped = time.Now()
	select {
	case err := <-cmd:
		t.Fatalf("MIGRATE WRITES ended before the open transaction committed: %v", err)
	default:
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("COMMIT of the transaction the drain waited on: %v", err)
	}
	l.set(longKeys[1], "long-txn-2")
	committed := time.Now()
	select {
	case err = <-cmd:
	case <-time.After(drainFor + 30*time.Second):
		t.Fatalf("MIGRATE WRITES still running %s after the drain ended (target down)", time.Since(committed))
	}
	took, afterCommit := time.Since(started), time.Since(committed)
	if err == nil {
		t.Fatal("MIGRATE WRITES succeeded with the target primary stopped during the switch")
	}
	if errNumber(err) == 0 || !strings.Contains(err.Error(), "nothing changed") {
		t.Errorf("MIGRATE WRITES with the target stopped during the switch: want a clean error (nothing changed), got %v", err)
	}
	// TIMEOUT bounds the whole write pause, drain and catch-up together (it used to bound
	// each: writes were held up to 2 x TIMEOUT).
	if took > drainFor+300*time.Millisecond {
		t.Errorf("MIGRATE WRITES ... TIMEOUT %s held writes and returned after %s: TIMEOUT must bound the drain and the catch-up together", drainFor, took)
	}
	errDuring := err
	if r, _ := e.writesRoute(); r != "commerce" {
		t.Errorf("target stopped during the switch: writes routed to %q", r)
	}
	time.Sleep(300 * time.Millisecond)
	heldDuring := e.heldTotal() - heldBefore
	if heldDuring == 0 {
		t.Errorf("no writer statement was held during the switch")
	}
	if rest := sc.targetDown - time.Since(stopped); rest > 0 {
		time.Sleep(rest)
	}
	ackedDown, failedDown = l.acked()-ackedBefore, l.failed.Load()-failedBefore
	e.dst.Primary.Restart(t)
	down = time.Since(stopped)
	restarted := time.Now()
	_, dRun = e.waitWorkflow("Running with no error after the target restart", 90*time.Second, func(m map[string]string) bool {
		return m["state"] == "Running" && m["message"] == ""
	})
	dCatch := e.caughtUp(90 * time.Second)
	s, _ = e.waitSwitch("nothing changed after the target restart", 30*time.Second, func(s switchState) bool { return len(s.journal) == 0 })
	s = unchanged("after the failed switch (target stopped during it)")
	if failedDown != 0 {
		t.Errorf("%d writes failed while the target was down during the switch (writes are on commerce)", failedDown)
	}
	e.verifyQuiet(l, "scenario 3b", func() { e.caughtUp(60 * time.Second) }, src, dst)
	e.dst.WaitReplicas(t, 60*time.Second)
	compared, dVdiff = e.vdiffClean(120 * time.Second)
	t.Logf("CHAOS switch-abort target-down-during: MIGRATE WRITES ... TIMEOUT %s failed %s after it was issued, %s after the drain ended: %v; statements held %.0f, released to commerce; target down %s; writes acknowledged on commerce meanwhile %d, failed %d; Running without error %s after the restart (%s since), caught up %s later; %s; ledger exact; VDIFF %d rows clean (%s)",
		drainFor, took.Round(time.Millisecond), afterCommit.Round(time.Millisecond), errDuring, heldDuring, down.Round(time.Millisecond), ackedDown, failedDown,
		dRun.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond), dCatch.Round(time.Millisecond), s, compared, dVdiff.Round(time.Millisecond))
	time.Sleep(sc.writeFor)

	// Everything up: MIGRATE WRITES succeeds; writes go to customer, the reverse stream keeps
	// commerce current.
	// The target primary restarted twice since the binary started: the writes moved to it
	// must not meet a connection that died with it.
	failedBefore = l.failed.Load()
	res := e.mustQuery("MIGRATE WRITES " + chaosWorkflow + " TIMEOUT 10s")
	pause := ""
	if len(res) > 0 {
		pause = res[0]["write_pause_ms"]
	}
	s, _ = e.waitSwitch("switched", 30*time.Second, func(s switchState) bool {
		return s.route == "customer" && s.rv != nil && s.rv["state"] == "Running" && s.fw["writes_switched"] == "yes" && len(s.journal) == 0
	})
	ackedBefore = l.acked()
	time.Sleep(sc.writeFor)
	w.halt()
	w = nil
	if n := l.failed.Load() - failedBefore; n != 0 {
		t.Errorf("%d writes failed during or after the switch to customer (everything up): %v", n, l.firstErrs)
	}
	keys := e.verifyQuiet(l, "switched", func() { e.reverseCaughtUp(60 * time.Second) }, dst, src)
	compared, dVdiff = e.vdiffCleanWF(reverseWorkflow, 120*time.Second)
	t.Logf("CHAOS switch-abort: MIGRATE WRITES retried with everything up: switched, writes paused %s ms; %d writes acknowledged on customer after it; %s; ledger exact on both sides; VDIFF %s %d rows clean (%s)",
		pause, l.acked()-ackedBefore, s, reverseWorkflow, compared, dVdiff.Round(time.Millisecond))
	t.Logf("CHAOS switch-abort: %s; keys checked %d on customer and commerce; lost 0 unless reported above; total %s",
		l.summary(), keys, time.Since(t0).Round(time.Millisecond))
	if len(l.firstErrs) > 0 {
		t.Logf("CHAOS switch-abort: client errors: %s", strings.Join(l.firstErrs, " | "))
	}
}

// denyTriggers counts the triggers a write switch puts on commerce's moved tables (migration
// deny.go).
func (e *chaosEnv) denyTriggers() string {
	return e.src.Primary.QueryString(e.t, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='commerce' AND TRIGGER_NAME LIKE '\\_vt\\_lite\\_deny\\_%'")
}
