package migration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// env is a source keyspace "commerce" (database commerce) and a target keyspace "customer"
// (database customer_db: a keyspace's database may differ from its name), each on its own
// mariadbd, plus an engine that can be crashed and restarted.
type env struct {
	engineRun
	src    *testcluster.Cluster
	dst    *testcluster.Cluster
	holder *router.Holder
	cfg    Config
}

// engineRun runs one Engine inside a test and drives it with admin SQL.
type engineRun struct {
	t           *testing.T
	eng         *Engine
	cancel      context.CancelFunc
	done        chan error
	execTimeout time.Duration // default 60s
}

// run starts eng; stop it with crash.
func (r *engineRun) run(eng *Engine) {
	r.t.Helper()
	if r.eng != nil {
		r.t.Fatal("engine already running")
	}
	r.eng = eng
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- eng.Run(ctx) }()
}

// crash cancels the engine's context abruptly: connections close without cleanup, open target
// transactions roll back.
func (r *engineRun) crash() {
	if r.eng == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.t.Errorf("engine did not stop within 30s")
	}
	r.eng = nil
}

func (r *engineRun) exec(sql string) (*Result, error) {
	r.t.Helper()
	cmd, ok, err := ParseAdmin(sql)
	if !ok || err != nil {
		r.t.Fatalf("parse %q: ok=%v err=%v", sql, ok, err)
	}
	timeout := r.execTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.eng.Exec(ctx, cmd)
}

func (r *engineRun) mustExec(sql string) *Result {
	r.t.Helper()
	res, err := r.exec(sql)
	if err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	return res
}

const (
	srcDB = "commerce"
	dstDB = "customer_db"
)

func newEnv(t *testing.T, replicas ...string) *env {
	t.Helper()
	var src *testcluster.Cluster
	var dst *testcluster.Cluster
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dst = testcluster.Start(t, testcluster.Options{})
	}()
	src = testcluster.Start(t, testcluster.Options{Replicas: replicas, Databases: []string{srcDB}})
	wg.Wait()
	if dst == nil {
		t.FailNow()
	}
	ks := map[string]*router.Keyspace{
		"commerce": src.Keyspace("commerce", srcDB),
		"customer": dst.Keyspace("customer", dstDB),
	}
	h, err := router.NewHolder(ks, &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{engineRun: engineRun{t: t}, src: src, dst: dst, holder: h, cfg: Config{Routing: h, CopyBatchRows: 250, MaxSourceLag: 30 * time.Second}}
	t.Cleanup(func() { e.crash() })
	return e
}

// start runs a NEW engine on the same servers, as a restarted vtgate-lite would.
func (e *env) start() {
	e.t.Helper()
	e.run(NewEngine(e.cfg))
}

// row returns a result row as column -> value.
func row(r *Result, i int) map[string]string {
	m := map[string]string{}
	for j, c := range r.Columns {
		m[c] = r.Rows[i][j]
	}
	return m
}

// waitFor polls SHOW MIGRATIONS until cond holds for the workflow's row.
func (e *env) waitFor(ref string, timeout time.Duration, cond func(map[string]string) bool) map[string]string {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string]string
	for time.Now().Before(deadline) {
		if e.eng != nil {
			res := e.mustExec("SHOW MIGRATIONS")
			for i := range res.Rows {
				m := row(res, i)
				if m["workflow"] == ref {
					last = m
					if cond(m) {
						return m
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("workflow %s: condition not met within %s; last: %v", ref, timeout, last)
	return nil
}

func (e *env) waitState(ref string, state Phase) map[string]string {
	e.t.Helper()
	return e.waitFor(ref, 90*time.Second, func(m map[string]string) bool { return m["state"] == string(state) })
}

// caughtUp waits until the target's stored position covers the source primary's binlog.
func (e *env) caughtUp(wf string) {
	e.t.Helper()
	want := e.src.Primary.QueryString(e.t, "SELECT @@gtid_binlog_pos")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		got := e.dst.Primary.QueryString(e.t, "SELECT pos FROM _vt_lite.workflow WHERE keyspace='customer' AND name='"+wf+"'")
		if gtidContains(mariadb, got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("target did not catch up to %s", want)
}

const schemaSQL = `
CREATE TABLE commerce.customer (
  id INT NOT NULL AUTO_INCREMENT,
  email VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL,
  n INT NULL,
  note TEXT NULL,
  created DATETIME(3) NULL,
  amount DECIMAL(12,2) NULL,
  flag TINYINT UNSIGNED NOT NULL DEFAULT 0,
  raw VARBINARY(16) NULL,
  domain VARCHAR(100) AS (SUBSTRING_INDEX(email, '@', -1)) VIRTUAL,
  PRIMARY KEY (id), KEY email_idx (email), UNIQUE KEY n_email (n, email)) ENGINE=InnoDB;
CREATE TABLE commerce.corder (
  order_id BIGINT UNSIGNED NOT NULL,
  sku VARCHAR(20) CHARACTER SET latin1 NOT NULL,
  price DOUBLE NULL,
  qty FLOAT NULL,
  ts TIMESTAMP NULL,
  total DOUBLE AS (price * 2) STORED,
  PRIMARY KEY (order_id, sku), KEY price_idx (price)) ENGINE=InnoDB;
CREATE TABLE commerce.product (sku VARCHAR(20) PRIMARY KEY, description TEXT) ENGINE=InnoDB;
`

func (e *env) createSchema() {
	e.t.Helper()
	var stmts []string
	for _, s := range strings.Split(schemaSQL, ";") {
		if strings.TrimSpace(s) != "" {
			stmts = append(stmts, s)
		}
	}
	e.src.Primary.Exec(e.t, stmts...)
}

// fill inserts n customers and n orders in multi-row statements.
func (e *env) fill(n int) {
	e.t.Helper()
	db := e.src.Primary.Open(e.t, srcDB)
	for i := 0; i < n; i += 500 {
		var cv, ov []string
		for j := i; j < min(n, i+500); j++ {
			cv = append(cv, fmt.Sprintf("(%d,'user%d@Example.com',%d,'note ''%d'' é',NOW(3),%d.%02d,%d,UNHEX('00ff%04x'))", j+1, j, j, j, j, j%100, j%256, j))
			oid := uint64(j + 1)
			if j%2 == 0 {
				oid = 18446744073709551000 - uint64(j)
			}
			ov = append(ov, fmt.Sprintf("(%d,'SKU-%d',%d.5,%d.25,'2024-01-02 03:04:05')", oid, j%7, j, j))
		}
		if _, err := db.Exec("INSERT INTO customer (id,email,n,note,created,amount,flag,raw) VALUES " + strings.Join(cv, ",")); err != nil {
			e.t.Fatal(err)
		}
		if _, err := db.Exec("INSERT IGNORE INTO corder (order_id, sku, price, qty, ts) VALUES " + strings.Join(ov, ",")); err != nil {
			e.t.Fatal(err)
		}
	}
}

// writer runs a mixed write load on the source primary until stopped: inserts, updates,
// updates that change the primary key, deletes, and multi-statement transactions.
type writer struct {
	stop   chan struct{}
	done   chan struct{}
	ops    atomic.Int64
	errors atomic.Int64
}

func (e *env) startWriter(maxID int) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	db, err := sql.Open("mysql", e.src.Primary.DSN(srcDB))
	if err != nil {
		e.t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer db.Close()
		rng := rand.New(rand.NewPCG(1, 2))
		next := maxID + 1_000_000
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			id := rng.IntN(maxID) + 1
			var err error
			switch rng.IntN(7) {
			case 0:
				next++
				_, err = db.Exec("INSERT INTO customer (id,email,n,note,amount,flag) VALUES (?,?,?,?,?,?)", next, fmt.Sprintf("new%d@x", next), next, "ins", 1.5, 7)
			case 1:
				_, err = db.Exec("UPDATE customer SET note=CONCAT(IFNULL(note,''),'u'), n=n+1000000, amount=amount+1 WHERE id=?", id)
			case 2:
				next++
				_, err = db.Exec("UPDATE customer SET id=? WHERE id=?", next, id) // key change
			case 3:
				_, err = db.Exec("DELETE FROM customer WHERE id=?", id)
			case 4:
				_, err = db.Exec("UPDATE corder SET price=price*2, qty=qty+0.5 WHERE order_id=? OR order_id=?", id, 18446744073709551000-uint64(id))
			case 5:
				tx, terr := db.Begin()
				if terr != nil {
					err = terr
					break
				}
				tx.Exec("INSERT INTO corder (order_id, sku, price, qty, ts) VALUES (?,?,?,?,NOW())", next+rng.IntN(1000), "TX", 1.25, 2.5)
				tx.Exec("UPDATE customer SET flag=255 WHERE id=?", id)
				tx.Exec("DELETE FROM corder WHERE order_id=? AND sku=?", id, "SKU-1")
				tx.Exec("INSERT INTO product VALUES (?, 'not moved') ON DUPLICATE KEY UPDATE description='x'", fmt.Sprint(id))
				err = tx.Commit()
			case 6:
				_, err = db.Exec("UPDATE corder SET sku=CONCAT(sku,'-k') WHERE order_id=? AND LENGTH(sku) < 15", id) // key change, composite
			}
			w.ops.Add(1)
			if err != nil {
				w.errors.Add(1)
			}
		}
	}()
	return w
}

func (w *writer) halt() {
	close(w.stop)
	<-w.done
}

// sameData compares the moved tables directly, row by row (independent of VDIFF).
func (e *env) sameData(tables ...string) {
	e.t.Helper()
	s := e.src.Primary.Open(e.t, srcDB)
	d := e.dst.Primary.Open(e.t, dstDB)
	for _, t := range tables {
		a, b := dump(e.t, s, t), dump(e.t, d, t)
		if len(a) != len(b) {
			e.t.Errorf("table %s: source has %d rows, target %d", t, len(a), len(b))
		}
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				e.t.Errorf("table %s row %d differs:\n src %s\n dst %s", t, i, a[i], b[i])
				break
			}
		}
	}
}

func dump(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1, 2")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, v := range vals {
			if v == nil {
				parts = append(parts, "NULL")
			} else {
				parts = append(parts, fmt.Sprintf("%q", string(v)))
			}
		}
		out = append(out, strings.Join(parts, ","))
	}
	return out
}

// vdiffClean runs VDIFF and waits for a report with no differences.
func (e *env) vdiffClean(ref string) *Result {
	e.t.Helper()
	res := e.mustExec("VDIFF " + ref)
	id := res.Rows[0][0]
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		r := e.mustExec("SHOW VDIFF " + ref + " " + id)
		state := row(r, 0)["state"]
		done := true
		for i := range r.Rows {
			if m := row(r, i); m["state"] != "completed" {
				done = false
				if m["state"] == "error" {
					e.t.Fatalf("VDIFF failed: %v", m)
				}
			}
		}
		if done {
			for i := range r.Rows {
				m := row(r, i)
				if m["missing_on_target"] != "0" || m["extra_on_target"] != "0" || m["mismatched"] != "0" {
					e.t.Errorf("VDIFF found differences: %v", m)
				}
				if m["rows_compared"] == "0" {
					e.t.Errorf("VDIFF compared no rows: %v", m)
				}
			}
			return r
		}
		_ = state
		time.Sleep(200 * time.Millisecond)
	}
	e.t.Fatalf("VDIFF %s did not complete", id)
	return nil
}
