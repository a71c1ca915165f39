package migration

import (
	"strings"

	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMigrateTablesEndToEnd: copy from a replica with writes during the copy (several copy
// cycles, so fast-forward runs) and after it, routing rules, progress, VDIFF, MIGRATE READS,
// cancel.
func TestMigrateTablesEndToEnd(t *testing.T) {
	e := newEnv(t, "replica")
	e.createSchema()
	e.fill(3000)
	e.src.WaitReplicas(t, 30*time.Second)
	e.cfg.CopyRowsPerSecond = 6000
	defer setCycle(300 * time.Millisecond)()
	e.start()
	w := e.startWriter(3000)
	res := e.mustExec("MIGRATE TABLES customer, corder FROM commerce TO customer DEFER SECONDARY KEYS")
	if !strings.Contains(res.Info, "customer.commerce2customer") {
		t.Errorf("info: %s", res.Info)
	}
	ref := "customer.commerce2customer"
	// Routing rules send every reference to the source.
	rules := e.holder.Load().Rules()
	for _, from := range []string{"customer", "commerce.customer", "customer.customer", "corder@replica", "customer.corder@rdonly", "commerce.corder@replica"} {
		tbl := from
		if i := strings.LastIndex(tbl, "."); i >= 0 {
			tbl = tbl[i+1:]
		}
		tbl, _, _ = strings.Cut(tbl, "@")
		if got := rules[from]; got != "commerce."+tbl {
			t.Errorf("rule %s -> %q, want commerce.%s", from, got, tbl)
		}
	}
	if got := e.holder.Load().VSchemaTables("customer"); strings.Join(got, ",") != "corder,customer" {
		t.Errorf("target vschema tables: %v", got)
	}
	// Progress while copying.
	m := e.waitFor(ref, 60*time.Second, func(m map[string]string) bool { return m["rows_copied"] != "0" })
	if m["state"] != "Copying" {
		t.Logf("state while copying: %v", m)
	}
	sm := e.mustExec("SHOW MIGRATION " + ref)
	if len(sm.Rows) != 2 || strings.Join(sm.Columns, ",") != "table,state,rows_copied,rows_total,pct,rows_per_second,eta,position,lag_seconds,stream_source,last_error" {
		t.Errorf("SHOW MIGRATION: %v %v", sm.Columns, sm.Rows)
	}
	t.Logf("SHOW MIGRATION while copying: %v", sm.Rows)
	e.waitState(ref, Running)
	// The replica spares the primary: copy and stream read it.
	if src := row(e.mustExec("SHOW MIGRATION "+ref), 0)["stream_source"]; src != e.src.Replicas[0].Addr() {
		t.Errorf("stream_source %s, want the replica %s", src, e.src.Replicas[0].Addr())
	}
	time.Sleep(500 * time.Millisecond)
	w.halt()
	t.Logf("writer: %d ops, %d errors", w.ops.Load(), w.errors.Load())
	e.caughtUp("commerce2customer")
	e.sameData("customer", "corder")
	// Deferred secondary keys exist on the target.
	if got := e.dst.Primary.QueryString(t, "SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='"+dstDB+"' AND TABLE_NAME='customer'"); got != "3" {
		t.Errorf("target customer has %s indexes, want 3", got)
	}
	// VDIFF with traffic flowing.
	w = e.startWriter(3000)
	r := e.vdiffClean(ref)
	t.Logf("VDIFF: %v", r.Rows)
	w.halt()
	e.caughtUp("commerce2customer")
	e.sameData("customer", "corder")
	m = e.waitFor(ref, 10*time.Second, func(m map[string]string) bool { return m["lag_seconds"] == "0.0" })
	t.Logf("SHOW MIGRATIONS: %v", m)

	// Metrics.
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "vtgate_lite_migration_") {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "workflow" && l.GetValue() == ref {
						found[mf.GetName()] = true
					}
				}
			}
		}
	}
	for _, name := range []string{"vtgate_lite_migration_rows_copied_total", "vtgate_lite_migration_lag_seconds", "vtgate_lite_migration_events_applied_total",
		"vtgate_lite_migration_transactions_applied_total", "vtgate_lite_migration_workflow_state", "vtgate_lite_migration_copy_rows_per_second"} {
		if !found[name] {
			t.Errorf("metric %s missing for %s", name, ref)
		}
	}

	// Reads switch for replica/rdonly only.
	e.mustExec("MIGRATE READS " + ref + " TABLET_TYPE rdonly, replica")
	rules = e.holder.Load().Rules()
	if rules["customer@replica"] != "customer.customer" || rules["customer"] != "commerce.customer" || rules["commerce.corder@rdonly"] != "customer.corder" {
		t.Errorf("after MIGRATE READS: %v", rules)
	}
	e.mustExec("MIGRATE REVERSE READS " + ref + " TABLET_TYPE replica")
	rules = e.holder.Load().Rules()
	if rules["customer@replica"] != "commerce.customer" || rules["customer@rdonly"] != "customer.customer" {
		t.Errorf("after MIGRATE REVERSE READS: %v", rules)
	}

	// VDIFF finds differences planted on the target, with sample keys.
	gone := e.dst.Primary.QueryString(t, "SELECT MIN(id) FROM "+dstDB+".customer")
	changed := e.dst.Primary.QueryString(t, "SELECT MAX(id) FROM "+dstDB+".customer")
	e.dst.Primary.Exec(t,
		"DELETE FROM "+dstDB+".customer WHERE id="+gone,
		"UPDATE "+dstDB+".customer SET note='tampered' WHERE id="+changed,
		"INSERT INTO "+dstDB+".customer (id, email, flag) VALUES (99999999, 'extra@x', 1)")
	res = e.mustExec("VDIFF " + ref)
	id := res.Rows[0][0]
	var got map[string]string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		r := e.mustExec("SHOW VDIFF " + ref + " LAST")
		if row(r, 0)["vdiff_id"] == id && row(r, 0)["state"] == "completed" && row(r, 1)["state"] == "completed" {
			got = row(r, 0)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got == nil || got["table"] != "customer" || got["missing_on_target"] != "1" || got["extra_on_target"] != "1" || got["mismatched"] != "1" ||
		!strings.Contains(got["sample_keys"], "missing: "+gone) || !strings.Contains(got["sample_keys"], "extra: 99999999") || !strings.Contains(got["sample_keys"], "mismatched: "+changed) {
		t.Errorf("VDIFF of a tampered target: %v", got)
	}

	// A second workflow on the same tables is refused.
	if _, err := e.exec("MIGRATE TABLES customer FROM commerce TO customer WORKFLOW again"); err == nil || !strings.Contains(err.Error(), "already in workflow") {
		t.Errorf("second workflow: %v", err)
	}
	// Cancel drops the tables and rules.
	e.mustExec("MIGRATE CANCEL " + ref)
	if len(e.holder.Load().Rules()) != 0 {
		t.Errorf("rules after cancel: %v", e.holder.Load().Rules())
	}
	if got := e.dst.Primary.QueryString(t, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='"+dstDB+"'"); got != "0" {
		t.Errorf("target tables after cancel: %s", got)
	}
	if got := e.dst.Primary.QueryString(t, "SELECT COUNT(*) FROM _vt_lite.workflow"); got != "0" {
		t.Errorf("sidecar rows after cancel: %s", got)
	}
	if res := e.mustExec("SHOW MIGRATIONS"); len(res.Rows) != 0 {
		t.Errorf("SHOW MIGRATIONS after cancel: %v", res.Rows)
	}
}

func setCycle(d time.Duration) func() {
	old := copyCycleBudget
	copyCycleBudget = d
	return func() { copyCycleBudget = old }
}
