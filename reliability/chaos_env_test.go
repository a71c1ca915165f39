package reliability

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
)

// Helpers of the fault-injection suite (chaos_test.go): two keyspaces on real servers, the
// real binary in front (restartable on the same addresses and state_dir), the admin SQL
// of a workflow, and a write ledger on customer/corder. The binary, proxyProc, waitReady and
// freeAddr come from harness_test.go.

const chaosWorkflow = "customer.commerce2customer"

// chaosOpts describe one environment.
type chaosOpts struct {
	Rows          int           // seeded rows in commerce.customer and in commerce.corder
	CopyRPS       int           // migration.copy_rows_per_second (0 = unlimited)
	CopyBatch     int           // migration.copy_batch_rows
	MaxReplicaLag time.Duration // max_replica_lag
	SrcReplicas   []string      // tablet types of the commerce replicas (default: one replica)
	NoTarget      bool          // no customer keyspace (scenario 6)
	ProxyEnv      []string      // environment of the binary's first start (NAME=value)
}

type chaosEnv struct {
	t        *testing.T
	opts     chaosOpts
	src, dst *testcluster.Cluster
	dir      string
	cfgPath  string
	listen   string
	httpAddr string
	logPath  string
	proxy    *proxyProc
	admin    *sql.DB
	srcDB    *sql.DB // root on the source primary, database commerce
}

func chaosLong() bool { return os.Getenv("CHAOS_LONG") != "" && os.Getenv("CHAOS_LONG") != "0" }

// repoFile reads a file of the repository by its path from the root.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(file)), rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newChaosEnv(t *testing.T, o chaosOpts) *chaosEnv {
	t.Helper()
	if o.SrcReplicas == nil {
		o.SrcReplicas = []string{"replica"}
	}
	if o.CopyBatch == 0 {
		o.CopyBatch = 1000
	}
	if o.MaxReplicaLag == 0 {
		o.MaxReplicaLag = 30 * time.Second
	}
	e := &chaosEnv{t: t, opts: o, dir: t.TempDir()}
	var wg sync.WaitGroup
	if !o.NoTarget {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.dst = testcluster.Start(t, testcluster.Options{Replicas: []string{"replica"}, Databases: []string{"customer"}})
		}()
	}
	e.src = testcluster.Start(t, testcluster.Options{Replicas: o.SrcReplicas, Databases: []string{"commerce"}})
	wg.Wait()
	if !o.NoTarget && e.dst == nil {
		t.FailNow()
	}
	grant := []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", backendUser, backendPass),
		fmt.Sprintf("GRANT ALL ON *.* TO '%s'@'%%'", backendUser),
	}
	e.src.Primary.Exec(t, grant...)
	stmts := []string{"USE commerce"}
	for _, s := range strings.Split(repoFile(t, "examples/common/create_commerce_schema.sql"), ";") {
		if strings.TrimSpace(s) != "" {
			stmts = append(stmts, s)
		}
	}
	stmts = append(stmts, "CREATE TABLE hb (id INT PRIMARY KEY, ts BIGINT NOT NULL)", "INSERT INTO hb VALUES (1, 0)")
	if o.Rows > 0 {
		stmts = append(stmts,
			fmt.Sprintf("INSERT INTO customer (customer_id, email) SELECT seq, CONCAT('seed-', seq) FROM seq_1_to_%d", o.Rows),
			fmt.Sprintf("INSERT INTO corder (order_id, customer_id, sku, price) SELECT seq, seq, CONCAT('sku-', seq MOD 100), seq FROM seq_1_to_%d", o.Rows))
	}
	e.src.Primary.Exec(t, stmts...)
	e.src.WaitReplicas(t, 60*time.Second)
	if e.dst != nil {
		e.dst.Primary.Exec(t, grant...)
		e.dst.WaitReplicas(t, 30*time.Second)
	}
	e.srcDB = e.src.Primary.Open(t, "commerce")

	e.listen, e.httpAddr = freeAddr(t), freeAddr(t)
	e.logPath = filepath.Join(e.dir, "vtgate-lite.log")
	if err := os.WriteFile(filepath.Join(e.dir, "vschema_commerce.json"), []byte(`{"tables": {"product": {}, "customer": {}, "corder": {}, "hb": {}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "vschema_customer.json"), []byte(`{"tables": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `listen: %s
http_listen: %s
http_debug: false
state_dir: %s
log_level: info
users:
  - {name: app, password: secret}
  - {name: admin, password: secret, admin: true}
pool: {size: 16, wait_timeout: 10s}
max_replica_lag: %s
migration: {copy_rows_per_second: %d, copy_batch_rows: %d}
keyspaces:
`, e.listen, e.httpAddr, filepath.Join(e.dir, "state"), o.MaxReplicaLag, o.CopyRPS, o.CopyBatch)
	ks := func(name string, c *testcluster.Cluster) {
		fmt.Fprintf(&b, "  %s:\n    database: %s\n    user: %s\n    password: %s\n    primary: %s\n", name, name, backendUser, backendPass, c.Primary.Addr())
		if len(c.Replicas) > 0 {
			b.WriteString("    replicas:\n")
			for _, r := range c.Replicas {
				fmt.Fprintf(&b, "      - {address: %s, type: %s}\n", r.Addr(), r.Type)
			}
		}
	}
	ks("commerce", e.src)
	if e.dst != nil {
		ks("customer", e.dst)
	}
	b.WriteString("vschema:\n  commerce: vschema_commerce.json\n")
	if e.dst != nil {
		b.WriteString("  customer: vschema_customer.json\n")
	}
	e.cfgPath = filepath.Join(e.dir, "vtgate-lite.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e.startWith(o.ProxyEnv)
	adm, err := sql.Open("mysql", fmt.Sprintf("admin:secret@tcp(%s)/commerce?timeout=2s&readTimeout=60s&writeTimeout=10s", e.listen))
	if err != nil {
		t.Fatal(err)
	}
	adm.SetConnMaxLifetime(0)
	t.Cleanup(func() { adm.Close() })
	e.admin = adm
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(e.logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("vtgate-lite log (tail):\n%s", b)
		}
	})
	return e
}

// start starts the binary with the env's config (same addresses and state_dir each time).
func (e *chaosEnv) start() {
	e.t.Helper()
	e.startWith(nil)
}

// startWith is start with extra environment variables for the binary (NAME=value).
func (e *chaosEnv) startWith(env []string) {
	t := e.t
	t.Helper()
	bin := binary(t)
	logf, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "==== start %s\n", time.Now().Format(time.RFC3339Nano))
	p := &proxyProc{listen: e.listen, httpBase: "http://" + e.httpAddr, logPath: e.logPath, env: env}
	p.launch(t, bin, e.cfgPath, logf)
	e.proxy = p
	p.waitReady(t, 30*time.Second)
}

// kill9 sends SIGKILL to the binary (by its PID) and waits for it to be gone.
func (e *chaosEnv) kill9() {
	e.t.Helper()
	p := e.proxy
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
		e.t.Fatalf("kill -9 %d: %v", p.pid, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		e.t.Fatalf("vtgate-lite %d still running 10s after SIGKILL", p.pid)
	}
}

// query runs an admin statement through the proxy and returns its rows by column name.
func (e *chaosEnv) query(q string) ([]map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, err := e.admin.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []map[string]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vals[i].String
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (e *chaosEnv) mustQuery(q string) []map[string]string {
	e.t.Helper()
	r, err := e.query(q)
	if err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return r
}

// workflow returns the SHOW MIGRATIONS row of the workflow (nil when absent).
func (e *chaosEnv) workflow() (map[string]string, error) {
	rows, err := e.query("SHOW MIGRATIONS")
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r["workflow"] == chaosWorkflow {
			return r, nil
		}
	}
	return nil, nil
}

// waitWorkflow polls SHOW MIGRATIONS (errors while the proxy is coming up are retried)
// until cond holds; it returns the row and how long it took.
func (e *chaosEnv) waitWorkflow(what string, within time.Duration, cond func(map[string]string) bool) (map[string]string, time.Duration) {
	e.t.Helper()
	t0 := time.Now()
	var last map[string]string
	var lastErr error
	for time.Since(t0) < within {
		m, err := e.workflow()
		if err != nil {
			lastErr = err
		} else {
			last = m
			if m != nil && cond(m) {
				return m, time.Since(t0)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	detail, _ := e.query("SHOW MIGRATION " + chaosWorkflow)
	e.t.Fatalf("workflow %s: %s not reached within %s; last: %v (err %v); SHOW MIGRATION: %v", chaosWorkflow, what, within, last, lastErr, detail)
	return nil, 0
}

// copyProgressed waits until the copy moved half a second's worth of rows (copyRPS) past
// last and returns the rows copied; false (and a test error) if the copy ended before copy
// round round could start.
func (e *chaosEnv) copyProgressed(round int, last int64, copyRPS int) (int64, bool) {
	e.t.Helper()
	m, _ := e.waitWorkflow("copying", 60*time.Second, func(m map[string]string) bool {
		return m["state"] == "Running" || m["state"] == "Copying" && rowsCopied(m) > last+int64(copyRPS/2)
	})
	if m["state"] != "Copying" {
		e.t.Errorf("the copy ended before copy round %d (raise CHAOS rows or lower copyRPS)", round)
		return 0, false
	}
	return rowsCopied(m), true
}

func rowsCopied(m map[string]string) int64 {
	var n int64
	fmt.Sscan(m["rows_copied"], &n)
	return n
}

// caughtUp waits until the position stored on the target covers the source primary's
// binlog position (read once, now): every write acknowledged so far has been applied.
func (e *chaosEnv) caughtUp(within time.Duration) time.Duration {
	e.t.Helper()
	return e.caughtUpWF(e.src.Primary, e.dst.Primary, "customer", "commerce2customer", within)
}

// caughtUpWF is caughtUp for workflow ks.name reading from's binlog, whose sidecar (the
// stored position) is on server sidecar.
func (e *chaosEnv) caughtUpWF(from, sidecar *testcluster.Server, ks, name string, within time.Duration) time.Duration {
	e.t.Helper()
	want := from.QueryString(e.t, "SELECT @@gtid_binlog_pos")
	wantSet, err := gomysql.ParseGTIDSet(gomysql.MariaDBFlavor, want)
	if err != nil {
		e.t.Fatalf("source position %q: %v", want, err)
	}
	t0 := time.Now()
	got := ""
	for time.Since(t0) < within {
		got = sidecar.QueryString(e.t, fmt.Sprintf("SELECT IFNULL((SELECT pos FROM _vt_lite.workflow WHERE keyspace='%s' AND name='%s'), '')", ks, name))
		if g, err := gomysql.ParseGTIDSet(gomysql.MariaDBFlavor, got); err == nil && g.Contain(wantSet) {
			return time.Since(t0)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("workflow %s.%s: position %q does not reach its source's %q within %s", ks, name, got, want, within)
	return 0
}

// vdiffClean runs VDIFF, polls SHOW VDIFF ... LAST until every table is completed, and
// fails the test on any difference. It returns the rows compared and the time taken.
func (e *chaosEnv) vdiffClean(within time.Duration) (int64, time.Duration) {
	e.t.Helper()
	return e.vdiffCleanWF(chaosWorkflow, within)
}

// vdiffCleanWF is vdiffClean for workflow wf (keyspace.name).
func (e *chaosEnv) vdiffCleanWF(wf string, within time.Duration) (int64, time.Duration) {
	e.t.Helper()
	t0 := time.Now()
	res := e.mustQuery("VDIFF " + wf)
	id := ""
	if len(res) > 0 {
		id = res[0]["vdiff_id"]
	}
	var last []map[string]string
	for time.Since(t0) < within {
		rows, err := e.query("SHOW VDIFF " + wf + " LAST")
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		last = rows
		done := len(rows) > 0
		for _, r := range rows {
			if r["vdiff_id"] != id {
				done = false
				continue
			}
			switch r["state"] {
			case "completed":
			case "error", "interrupted":
				e.t.Fatalf("VDIFF %s: %v", id, r)
			default:
				done = false
			}
		}
		if done {
			var compared int64
			for _, r := range rows {
				var n int64
				fmt.Sscan(r["rows_compared"], &n)
				compared += n
				if r["missing_on_target"] != "0" || r["extra_on_target"] != "0" || r["mismatched"] != "0" {
					e.t.Errorf("VDIFF %s found differences: %v", id, r)
				}
				if n == 0 {
					e.t.Errorf("VDIFF %s compared no rows: %v", id, r)
				}
			}
			return compared, time.Since(t0)
		}
		time.Sleep(250 * time.Millisecond)
	}
	e.t.Fatalf("VDIFF %s not completed within %s; last: %v", id, within, last)
	return 0, 0
}

// startSlave restarts replication on a restarted replica (testcluster uses --skip-slave-start).
func startSlave(t *testing.T, s *testcluster.Server) { s.Exec(t, "START SLAVE") }
