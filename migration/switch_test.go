package migration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vtgate-lite/vtgate-lite/internal/testcluster"
	"github.com/vtgate-lite/vtgate-lite/proxy"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// swEnv is a real proxy and a migration engine sharing one routing Holder, in front of
// commerce (primary, replica, rdonly; database commerce) and customer (primary, replica,
// rdonly; database customer_db).
type swEnv struct {
	engineRun
	src, dst *testcluster.Cluster
	holder   *router.Holder
	proxy    *proxy.Proxy
	addr     string
	hook     func(string) error
	ks       map[string]*router.Keyspace
	persist  *memPersister
	pcancel  context.CancelFunc
	pdone    chan struct{}
}

const swSchema = `CREATE TABLE commerce.customer (id BIGINT NOT NULL PRIMARY KEY, email VARCHAR(100) NOT NULL, n BIGINT NOT NULL DEFAULT 0);
CREATE TABLE commerce.corder (order_id BIGINT NOT NULL PRIMARY KEY, customer_id BIGINT NOT NULL, sku VARCHAR(20) NOT NULL);
CREATE TABLE commerce.product (sku VARCHAR(20) PRIMARY KEY, description TEXT)`

func newSwEnv(t *testing.T) *swEnv {
	t.Helper()
	e := &swEnv{engineRun: engineRun{t: t, execTimeout: 90 * time.Second}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.dst = testcluster.Start(t, testcluster.Options{Replicas: []string{"replica", "rdonly"}, Databases: []string{dstDB}})
	}()
	e.src = testcluster.Start(t, testcluster.Options{Replicas: []string{"replica", "rdonly"}, Databases: []string{srcDB}})
	wg.Wait()
	if e.dst == nil {
		t.FailNow()
	}
	e.src.Primary.Exec(t, strings.Split(swSchema, ";")...)
	var vals []string
	for i := 1; i <= 200; i++ {
		vals = append(vals, fmt.Sprintf("(%d,'c%d@x',0)", i, i))
	}
	e.src.Primary.Exec(t, "INSERT INTO commerce.customer VALUES "+strings.Join(vals, ","),
		"INSERT INTO commerce.product VALUES ('SKU-1','monitor'),('SKU-2','keyboard')")
	e.src.WaitReplicas(t, 30*time.Second)
	ks := map[string]*router.Keyspace{
		"commerce": e.src.Keyspace("commerce", srcDB),
		"customer": e.dst.Keyspace("customer", dstDB),
	}
	s := &router.Schema{VSchema: map[string]*router.KeyspaceVSchema{}, Rules: map[string]string{}}
	for _, tb := range []string{"customer", "corder", "product"} {
		s.AddTable("commerce", tb)
	}
	e.ks, e.persist = ks, &memPersister{s: s.Clone()}
	var err error
	if e.holder, err = router.NewHolder(ks, s, e.persist); err != nil {
		t.Fatal(err)
	}
	e.startProxy("127.0.0.1:0")
	t.Cleanup(func() {
		e.stopEngine()
		e.stopProxy()
	})
	e.startEngine()
	return e
}

// memPersister keeps the last routing schema saved, as the state store does on disk.
type memPersister struct {
	mu sync.Mutex
	s  *router.Schema
}

func (m *memPersister) SaveSchema(s *router.Schema) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.s = s.Clone()
	return nil
}

func (e *swEnv) startProxy(addr string) {
	t := e.t
	users := map[string]*wire.User{"app": {Name: "app", Password: "secret"}}
	var err error
	e.proxy, err = proxy.New(proxy.Config{
		Routing:       e.holder,
		Users:         func(n string) (*wire.User, bool) { u, ok := users[n]; return u, ok },
		ServerVersion: "10.11.0-MariaDB-vtgate-lite",
		PoolSize:      16,
		MaxReplicaLag: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p := e.proxy
	go func() { _ = p.Serve(ctx, l); close(done) }()
	e.pcancel, e.pdone = cancel, done
}

func (e *swEnv) stopProxy() {
	if e.pcancel == nil {
		return
	}
	e.pcancel()
	select {
	case <-e.pdone:
	case <-time.After(40 * time.Second):
		e.t.Error("proxy did not stop")
	}
	e.proxy.Close()
	e.pcancel = nil
}

// restartAll stops the engine and the proxy and starts new ones on the persisted routing, on
// the same address, as a restarted vtgate-lite would.
func (e *swEnv) restartAll() {
	e.t.Helper()
	e.stopEngine()
	e.stopProxy()
	e.persist.mu.Lock()
	s := e.persist.s.Clone()
	e.persist.mu.Unlock()
	var err error
	if e.holder, err = router.NewHolder(e.ks, s, e.persist); err != nil {
		e.t.Fatal(err)
	}
	e.startProxy(e.addr)
	e.startEngine()
}

func (e *swEnv) startEngine() {
	eng := NewEngine(Config{Routing: e.holder, CopyBatchRows: 500})
	eng.SetTrafficGate(e.proxy)
	eng.sw.hook = e.hook
	e.run(eng)
}

// stopEngine stops the engine abruptly, as a crash would (connections closed, nothing cleaned).
func (e *swEnv) stopEngine() { e.crash() }

func (e *swEnv) wf(ref string) map[string]string {
	res := e.mustExec("SHOW MIGRATIONS")
	for i := range res.Rows {
		if m := row(res, i); m["workflow"] == ref {
			return m
		}
	}
	return nil
}

func (e *swEnv) waitWF(ref string, cond func(map[string]string) bool) map[string]string {
	e.t.Helper()
	var last map[string]string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if last = e.wf(ref); last != nil && cond(last) {
			return last
		}
	}
	e.t.Fatalf("workflow %s: condition not met; last %v", ref, last)
	return nil
}

func (e *swEnv) open(db string) *sql.DB {
	d, err := sql.Open("mysql", fmt.Sprintf("app:secret@tcp(%s)/%s?timeout=5s", e.addr, db))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { d.Close() })
	return d
}

// servedBy runs VEXPLAIN QUERIES through the proxy at a tablet type and returns the server.
func (e *swEnv) servedBy(tabletType, query string) string {
	e.t.Helper()
	db := e.open("")
	db.SetMaxOpenConns(1)
	if tabletType != "primary" {
		if _, err := db.Exec("USE commerce@" + tabletType); err != nil {
			e.t.Fatal(err)
		}
	}
	rows, err := db.Query("VEXPLAIN QUERIES " + query)
	if err != nil {
		e.t.Fatalf("VEXPLAIN QUERIES %s @%s: %v", query, tabletType, err)
	}
	defer rows.Close()
	var servers []string
	for rows.Next() {
		var n, ks, tt, srv, q string
		if err := rows.Scan(&n, &ks, &tt, &srv, &q); err != nil {
			e.t.Fatal(err)
		}
		servers = append(servers, srv)
	}
	return strings.Join(servers, ",")
}

func serverOf(c *testcluster.Cluster, typ string) string {
	if typ == "primary" {
		return c.Primary.Addr()
	}
	for _, r := range c.Replicas {
		if r.Type == typ {
			return r.Addr()
		}
	}
	return ""
}

// expectReads checks, through VEXPLAIN QUERIES, which keyspace serves each tablet type.
func (e *swEnv) expectReads(want map[string]string) {
	e.t.Helper()
	for _, tt := range []string{"primary", "replica", "rdonly"} {
		c := e.src
		if want[tt] == "customer" {
			c = e.dst
		}
		for _, q := range []string{"SELECT * FROM customer WHERE id=1", "SELECT * FROM commerce.customer WHERE id=1", "SELECT * FROM customer.customer WHERE id=1"} {
			if got := e.servedBy(tt, q); got != serverOf(c, tt) {
				e.t.Errorf("%s at %s served by %s, want %s's %s %s", q, tt, got, want[tt], tt, serverOf(c, tt))
			}
		}
	}
}

// ledger: writers through the proxy record every write the server acknowledged.
type ledger struct {
	mu       sync.Mutex
	ids      map[int64]bool // customer ids inserted
	orders   map[int64]bool
	incs     map[int64]int64 // counter row -> acknowledged increments
	errs     []string
	ops      atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
	maxPause atomic.Int64 // longest single statement, ns
	// tolerant: client errors are expected (the proxy restarts); each is an uncertain write.
	tolerant  bool
	uncertain int64
}

func (e *swEnv) startWriters(n int, tolerant ...bool) *ledger {
	l := &ledger{tolerant: len(tolerant) > 0 && tolerant[0], ids: map[int64]bool{}, orders: map[int64]bool{}, incs: map[int64]int64{}, stop: make(chan struct{})}
	for w := range n {
		db := e.open("")
		db.SetMaxOpenConns(1)
		counter := int64(w + 1) // rows 1..n exist
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			fail := func(op string, err error) {
				l.mu.Lock()
				if l.tolerant {
					l.uncertain++ // the proxy went away: the write may or may not have happened
				} else {
					l.errs = append(l.errs, fmt.Sprintf("writer %d %s: %v", w, op, err))
				}
				l.mu.Unlock()
				if l.tolerant {
					time.Sleep(50 * time.Millisecond)
				}
			}
			for seq := int64(1); ; seq++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := int64(w+1)*1_000_000 + seq
				start := time.Now()
				switch seq % 3 {
				case 0:
					if _, err := db.Exec("INSERT INTO customer (id, email, n) VALUES (?, ?, 0)", id, fmt.Sprintf("w%d-%d@x", w, seq)); err != nil {
						fail("insert", err)
						continue
					}
					l.mu.Lock()
					l.ids[id] = true
					l.mu.Unlock()
				case 1:
					res, err := db.Exec("UPDATE customer SET n = n + 1 WHERE id = ?", counter)
					if err != nil {
						fail("update", err)
						continue
					}
					if n, _ := res.RowsAffected(); n != 1 {
						fail("update", fmt.Errorf("%d rows affected", n))
						continue
					}
					l.mu.Lock()
					l.incs[counter]++
					l.mu.Unlock()
				case 2:
					tx, err := db.Begin()
					if err != nil {
						fail("begin", err)
						continue
					}
					_, err1 := tx.Exec("INSERT INTO customer (id, email, n) VALUES (?, ?, 0)", id, fmt.Sprintf("t%d-%d@x", w, seq))
					_, err2 := tx.Exec("INSERT INTO corder (order_id, customer_id, sku) VALUES (?, ?, 'SKU-1')", id, id)
					if err1 != nil || err2 != nil {
						tx.Rollback()
						fail("tx", fmt.Errorf("%v / %v", err1, err2))
						continue
					}
					if err := tx.Commit(); err != nil {
						fail("commit", err)
						continue
					}
					l.mu.Lock()
					l.ids[id], l.orders[id] = true, true
					l.mu.Unlock()
				}
				if d := time.Since(start).Nanoseconds(); d > l.maxPause.Load() {
					l.maxPause.Store(d)
				}
				l.ops.Add(1)
				// Reads at every tablet type keep working (not part of the ledger).
			}
		}()
	}
	return l
}

func (l *ledger) halt() {
	close(l.stop)
	l.wg.Wait()
}

// haltWriters stops the writers and fails the test on any client error: writers through
// the proxy must never see one, whatever the switch does.
func (e *swEnv) haltWriters(l *ledger) {
	t := e.t
	t.Helper()
	l.halt()
	if len(l.errs) > 0 {
		t.Errorf("%d client errors, first: %s", len(l.errs), strings.Join(l.errs[:min(5, len(l.errs))], "\n"))
	}
	t.Logf("writers: %d acknowledged operations", l.ops.Load())
}

// crashHook makes the engine's step hook fail at the step last given to crash (a simulated
// crash there; "" crashes nowhere); saw reports whether a step was reached. Safe across the
// engine's goroutines and restarts.
func (e *swEnv) crashHook() (crash func(step string), saw func(step string) bool) {
	var mu sync.Mutex
	crashAt, seen := "", map[string]bool{}
	e.hook = func(step string) error {
		mu.Lock()
		defer mu.Unlock()
		seen[step] = true
		if step == crashAt {
			return fmt.Errorf("simulated crash at %s", step)
		}
		return nil
	}
	e.eng.sw.hook = e.hook
	crash = func(step string) {
		mu.Lock()
		crashAt = step
		mu.Unlock()
	}
	saw = func(step string) bool {
		mu.Lock()
		defer mu.Unlock()
		return seen[step]
	}
	return crash, saw
}

// triggers counts the triggers in database db on s (the write denial puts 3 per moved table).
func (e *swEnv) triggers(s *testcluster.Server, db string) string {
	return s.QueryString(e.t, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='"+db+"'")
}

// checkLedger: every acknowledged write is on server exactly once (keys are unique, so "once"
// means present), and every acknowledged increment was applied exactly once.
func (e *swEnv) checkLedger(l *ledger, srv *testcluster.Server, db string) {
	e.t.Helper()
	conn := srv.Open(e.t, db)
	count := func(q string) int64 {
		var n int64
		if err := conn.QueryRow(q).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		return n
	}
	var ids, orders []string
	for id := range l.ids {
		ids = append(ids, fmt.Sprint(id))
	}
	for id := range l.orders {
		orders = append(orders, fmt.Sprint(id))
	}
	if len(ids) > 0 {
		if got := count("SELECT COUNT(*) FROM customer WHERE id IN (" + strings.Join(ids, ",") + ")"); got != int64(len(ids)) {
			e.t.Errorf("%d acknowledged customers, %d on %s", len(ids), got, srv.Name)
		}
	}
	if len(orders) > 0 {
		if got := count("SELECT COUNT(*) FROM corder WHERE order_id IN (" + strings.Join(orders, ",") + ")"); got != int64(len(orders)) {
			e.t.Errorf("%d acknowledged orders, %d on %s", len(orders), got, srv.Name)
		}
	}
	if got := count("SELECT COUNT(*) FROM customer WHERE id >= 1000000"); got < int64(len(ids)) || got > int64(len(ids))+l.uncertain {
		e.t.Errorf("%d writer rows on %s, %d acknowledged (unacknowledged writes applied?)", got, srv.Name, len(ids))
	}
	for c, n := range l.incs {
		if got := count(fmt.Sprintf("SELECT n FROM customer WHERE id=%d", c)); got < n || got > n+l.uncertain {
			e.t.Errorf("counter %d: %d acknowledged increments, %d applied on %s", c, n, got, srv.Name)
		}
	}
}

func (e *swEnv) migrate() {
	e.t.Helper()
	e.mustExec("MIGRATE TABLES customer, corder FROM commerce TO customer")
	e.waitWF("customer.commerce2customer", func(m map[string]string) bool { return m["state"] == "Running" })
}

func TestSwitchTrafficLedger(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	l := e.startWriters(4)
	time.Sleep(500 * time.Millisecond)
	e.expectReads(map[string]string{"primary": "commerce", "replica": "commerce", "rdonly": "commerce"})

	e.mustExec("MIGRATE READS " + ref + " TABLET_TYPE rdonly")
	e.expectReads(map[string]string{"primary": "commerce", "replica": "commerce", "rdonly": "customer"})
	if m := e.wf(ref); m["reads_switched"] != "rdonly" {
		t.Errorf("SHOW MIGRATIONS reads_switched=%q", m["reads_switched"])
	}

	dry := e.mustExec("MIGRATE WRITES " + ref + " DRY RUN")
	if !strings.Contains(dry.Info, "nothing changed") || len(dry.Rows) < 5 {
		t.Errorf("dry run: %+v", dry)
	}
	e.expectReads(map[string]string{"primary": "commerce", "replica": "commerce", "rdonly": "customer"})

	var pauses []string
	sw := func(q string) {
		t.Helper()
		time.Sleep(700 * time.Millisecond) // let writers run between switches
		res, err := e.exec(q)
		if err != nil {
			var buf strings.Builder
			pprof.Lookup("goroutine").WriteTo(&buf, 2)
			for _, g := range strings.Split(buf.String(), "\n\n") {
				if strings.Contains(g, "proxy.(*session)") {
					t.Log(g)
				}
			}
			t.Fatalf("%s: %v", q, err)
		}
		t.Logf("%s: %s", q, res.Info)
		pauses = append(pauses, res.Rows[0][2])
	}
	sw("MIGRATE WRITES " + ref + " TIMEOUT 10s MAX LAG 30s")
	e.expectReads(map[string]string{"primary": "customer", "replica": "customer", "rdonly": "customer"})
	e.waitWF("commerce.commerce2customer_reverse", func(m map[string]string) bool { return m["state"] == "Running" })
	if m := e.wf(ref); m["writes_switched"] != "yes" || m["state"] != "Stopped" {
		t.Errorf("after WRITES: %v", m)
	}
	if _, err := e.exec("MIGRATE START " + ref); err == nil {
		t.Errorf("MIGRATE START of the stopped forward stream after WRITES was allowed")
	}
	if _, err := e.exec("MIGRATE CANCEL " + ref); err == nil {
		t.Errorf("MIGRATE CANCEL after WRITES was allowed")
	}

	sw("MIGRATE REVERSE WRITES " + ref + " TIMEOUT 10s")
	e.expectReads(map[string]string{"primary": "commerce", "replica": "customer", "rdonly": "customer"})
	e.waitWF(ref, func(m map[string]string) bool { return m["state"] == "Running" && m["writes_switched"] == "no" })
	e.mustExec("MIGRATE REVERSE READS " + ref + " TABLET_TYPE replica")
	e.expectReads(map[string]string{"primary": "commerce", "replica": "commerce", "rdonly": "customer"})

	sw("MIGRATE WRITES " + ref)
	e.expectReads(map[string]string{"primary": "customer", "replica": "customer", "rdonly": "customer"})
	time.Sleep(700 * time.Millisecond)
	l.halt()
	t.Logf("writers: %d acknowledged operations, longest statement %s, write pauses (ms) %v", l.ops.Load(), time.Duration(l.maxPause.Load()), pauses)
	if len(l.errs) > 0 {
		t.Errorf("%d client errors, first: %s", len(l.errs), strings.Join(l.errs[:min(5, len(l.errs))], "\n"))
	}
	if l.ops.Load() < 50 {
		t.Errorf("only %d operations", l.ops.Load())
	}
	e.checkLedger(l, e.dst.Primary, dstDB)
	m := theSwitchMetrics()
	if n := collectCount(m.pause); n == 0 {
		t.Errorf("no write pause metric")
	}
	if n := collectCount(m.duration); n == 0 {
		t.Errorf("no switch duration metric")
	}
	if v := metricValue(m.longest.WithLabelValues(ref)); v <= 0 {
		t.Errorf("longest hold metric = %v", v)
	}

	// VDIFF through the reverse stream (customer -> commerce): both sides agree.
	res := e.mustExec("VDIFF commerce.commerce2customer_reverse")
	id := res.Rows[0][0]
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := e.mustExec("SHOW VDIFF commerce.commerce2customer_reverse " + id)
		done := true
		for i := range r.Rows {
			m := row(r, i)
			if m["state"] == "error" {
				t.Fatalf("VDIFF: %v", m)
			}
			if m["state"] != "completed" {
				done = false
			}
		}
		if done {
			for i := range r.Rows {
				m := row(r, i)
				if m["missing_on_target"] != "0" || m["extra_on_target"] != "0" || m["mismatched"] != "0" || m["rows_compared"] == "0" {
					t.Errorf("VDIFF: %v", m)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("VDIFF did not complete")
		}
	}
	e.checkLedger(l, e.src.Primary, srcDB) // the reverse stream kept commerce current too

	if _, err := e.exec("MIGRATE COMPLETE " + ref + " DRY RUN"); err != nil {
		t.Fatal(err)
	}
	e.mustExec("MIGRATE COMPLETE " + ref)
	app := e.open("")
	_, err := app.Exec("SELECT * FROM commerce.customer")
	var me *mysql.MySQLError
	if err == nil || !errorsAs(err, &me) || me.Number != 1146 {
		t.Errorf("SELECT * FROM commerce.customer after COMPLETE: %v (want 1146)", err)
	}
	for _, q := range []string{"SELECT COUNT(*) FROM customer", "SELECT COUNT(*) FROM customer.customer", "SELECT COUNT(*) FROM commerce.product"} {
		var n int
		if err := app.QueryRow(q).Scan(&n); err != nil || n == 0 {
			t.Errorf("%s after COMPLETE: n=%d err=%v", q, n, err)
		}
	}
	if m := e.wf(ref); m["state"] != "Completed" {
		t.Errorf("after COMPLETE: %v", m)
	}
	e.checkCompleted("")
}

// checkCompleted checks what MIGRATE COMPLETE leaves: no reverse workflow, no routing rules,
// and on commerce only the source tables it kept (renamed: "_vt_old_corder,_vt_old_customer";
// dropped: "").
func (e *swEnv) checkCompleted(wantTables string) {
	t := e.t
	t.Helper()
	if m := e.wf("commerce.commerce2customer_reverse"); m != nil {
		t.Errorf("reverse workflow still listed: %v", m)
	}
	if n := e.src.Primary.QueryString(t, "SELECT IFNULL(GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME), '') FROM information_schema.TABLES WHERE TABLE_SCHEMA='commerce' AND TABLE_NAME IN ('customer','corder','_vt_old_customer','_vt_old_corder')"); n != wantTables {
		t.Errorf("source tables after COMPLETE: %q, want %q", n, wantTables)
	}
	if rules := e.holder.Load().Rules(); len(rules) != 0 {
		t.Errorf("routing rules left: %v", rules)
	}
}

func errorsAs(err error, me **mysql.MySQLError) bool {
	m, ok := err.(*mysql.MySQLError)
	if ok {
		*me = m
	}
	return ok
}

// A long open transaction on a moved table makes MIGRATE WRITES abort after TIMEOUT with
// nothing changed; statements held meanwhile go to the source.
func TestSwitchTrafficAbortOnLongTransaction(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	rulesBefore := e.holder.Load().Rules()
	long := e.open("")
	tx, err := long.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE customer SET n = n + 1 WHERE id = 7"); err != nil {
		t.Fatal(err)
	}
	// A statement on a moved table issued during the drain is held, then released to commerce.
	other := e.open("")
	heldDone := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		_, err := other.Exec("INSERT INTO customer (id, email) VALUES (5000001, 'held@x')")
		heldDone <- err
	}()
	// Other tables never wait.
	prodDone := make(chan time.Duration, 1)
	go func() {
		time.Sleep(400 * time.Millisecond)
		st := time.Now()
		other.Exec("SELECT * FROM commerce.product")
		prodDone <- time.Since(st)
	}()
	start := time.Now()
	_, err = e.exec("MIGRATE WRITES " + ref + " TIMEOUT 1500ms")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "nothing changed") || !strings.Contains(err.Error(), "session") {
		t.Fatalf("MIGRATE WRITES with a long transaction: %v", err)
	}
	t.Logf("aborted after %s: %v", took, err)
	if took < 1400*time.Millisecond || took > 5*time.Second {
		t.Errorf("abort took %s, TIMEOUT 1500ms", took)
	}
	if err := <-heldDone; err != nil {
		t.Errorf("held statement failed: %v", err)
	}
	if d := <-prodDone; d > 200*time.Millisecond {
		t.Errorf("a statement on another table waited %s", d)
	}
	if got := e.src.Primary.QueryString(t, "SELECT COUNT(*) FROM commerce.customer WHERE id=5000001"); got != "1" {
		t.Errorf("held insert not on commerce")
	}
	if v := metricValue(theSwitchMetrics().aborted.WithLabelValues(ref, "forward")); v < 1 {
		t.Errorf("aborted switches metric = %v", v)
	}
	if !mapsEqual(rulesBefore, e.holder.Load().Rules()) {
		t.Errorf("routing changed by an aborted switch")
	}
	if m := e.wf(ref); m["state"] != "Running" || m["writes_switched"] != "no" {
		t.Errorf("after abort: %v", m)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if e.wf("commerce.commerce2customer_reverse") != nil {
		t.Errorf("an aborted switch created the reverse workflow")
	}
	// Pre-checks refuse and say why; COMPLETE needs switched writes.
	if _, err := e.exec("MIGRATE COMPLETE " + ref); err == nil || !strings.Contains(err.Error(), "not switched") {
		t.Errorf("COMPLETE before WRITES: %v", err)
	}
	e.mustExec("MIGRATE STOP " + ref)
	if _, err := e.exec("MIGRATE WRITES " + ref); err == nil || !strings.Contains(err.Error(), "stream running") {
		t.Errorf("WRITES with the stream stopped: %v", err)
	}
	dry := e.mustExec("MIGRATE WRITES " + ref + " DRY RUN")
	if !strings.Contains(dry.Info, "would be refused") {
		t.Errorf("DRY RUN with the stream stopped: %s", dry.Info)
	}
	e.mustExec("MIGRATE START " + ref)
	e.waitWF(ref, func(m map[string]string) bool { return m["state"] == "Running" })
	// With the transaction gone the switch succeeds.
	e.mustExec("MIGRATE WRITES " + ref + " TIMEOUT 5s")
	if got := e.dst.Primary.QueryString(t, "SELECT n FROM customer_db.customer WHERE id=7"); got != "1" {
		t.Errorf("committed update not on the target: n=%s", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A crash (engine context cancelled, holds released as the proxy's death would) at each step
// of MIGRATE WRITES leaves a state that the restarted engine rolls back (before the routing
// swap) or finishes (after it), with writers running through the proxy all along.
func TestSwitchTrafficCrashRecovery(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	l := e.startWriters(3)
	crash, _ := e.crashHook()
	restart := func() {
		e.stopEngine()
		e.startEngine()
	}
	for _, step := range []string{"drained", "stopped", "prepared"} {
		crash(step)
		time.Sleep(300 * time.Millisecond)
		if _, err := e.exec("MIGRATE WRITES " + ref); err == nil || !strings.Contains(err.Error(), "simulated crash") {
			t.Fatalf("crash at %s: %v", step, err)
		}
		restart()
		// Rolled back: writes on commerce, the forward stream runs again, no reverse stream.
		e.waitWF(ref, func(m map[string]string) bool { return m["state"] == "Running" && m["writes_switched"] == "no" })
		if to, _ := writesRoutedTo(e.holder.Load(), []string{"customer", "corder"}); to != "commerce" {
			t.Fatalf("after a crash at %s writes go to %s", step, to)
		}
		if m := e.wf("commerce.commerce2customer_reverse"); m != nil && m["state"] == "Running" {
			t.Fatalf("after a crash at %s the reverse stream runs: %v", step, m)
		}
		if e.dst.Primary.QueryString(t, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='_vt_lite' AND TABLE_NAME='traffic_switch'") == "0" {
			continue
		}
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			n := e.dst.Primary.QueryString(t, "SELECT COUNT(*) FROM _vt_lite.traffic_switch")
			if n == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("journal left after recovery: %s", n)
			}
		}
	}
	crash("swapped")
	time.Sleep(300 * time.Millisecond)
	if _, err := e.exec("MIGRATE WRITES " + ref); err == nil {
		t.Fatal("no simulated crash")
	}
	restart()
	// Finished: writes on customer, the reverse stream runs, writes_switched recorded.
	e.waitWF(ref, func(m map[string]string) bool { return m["writes_switched"] == "yes" })
	e.waitWF("commerce.commerce2customer_reverse", func(m map[string]string) bool { return m["state"] == "Running" })
	if to, _ := writesRoutedTo(e.holder.Load(), []string{"customer", "corder"}); to != "customer" {
		t.Fatalf("after a crash past the swap writes go to %s", to)
	}
	crash("")
	time.Sleep(500 * time.Millisecond)
	e.mustExec("MIGRATE REVERSE WRITES " + ref)
	time.Sleep(500 * time.Millisecond)
	e.haltWriters(l)
	e.checkLedger(l, e.src.Primary, srcDB)
	// The forward stream brings customer up to date again.
	want := e.src.Primary.QueryString(t, "SELECT @@gtid_binlog_pos")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := e.dst.Primary.QueryString(t, "SELECT pos FROM _vt_lite.workflow WHERE keyspace='customer' AND name='commerce2customer'")
		if gtidContains(mariadb, got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forward stream at %s, source at %s", got, want)
		}
	}
	e.checkLedger(l, e.dst.Primary, dstDB)
}

func TestSwitchParse(t *testing.T) {
	ref := WorkflowRef{"customer", "commerce2customer"}
	def := 30 * time.Second
	cases := []struct {
		sql  string
		want Command
	}{
		{"MIGRATE WRITES customer.commerce2customer", MigrateWrites{Ref: ref, Timeout: def, MaxLag: def}},
		{"migrate writes customer.commerce2customer timeout 5s max lag 2s dry run;", MigrateWrites{Ref: ref, Timeout: 5 * time.Second, MaxLag: 2 * time.Second, DryRun: true}},
		{"MIGRATE WRITES customer.commerce2customer TIMEOUT 1500ms", MigrateWrites{Ref: ref, Timeout: 1500 * time.Millisecond, MaxLag: def}},
		{"MIGRATE WRITES customer.commerce2customer TIMEOUT 10", MigrateWrites{Ref: ref, Timeout: 10 * time.Second, MaxLag: def}},
		{"MIGRATE REVERSE WRITES customer.commerce2customer TIMEOUT 30s DRY RUN", MigrateWrites{Ref: ref, Reverse: true, Timeout: def, MaxLag: def, DryRun: true}},
		{"MIGRATE COMPLETE customer.commerce2customer", MigrateComplete{Ref: ref}},
		{"MIGRATE COMPLETE customer.commerce2customer KEEP DATA", MigrateComplete{Ref: ref, KeepData: true}},
		{"MIGRATE COMPLETE customer.commerce2customer RENAME TABLES DRY RUN", MigrateComplete{Ref: ref, RenameTables: true, DryRun: true}},
		{"MIGRATE REVERSE READS customer.commerce2customer TABLET_TYPE rdonly", MigrateReads{Ref: ref, TabletTypes: []router.TabletType{router.Rdonly}, Reverse: true}},
	}
	for _, c := range cases {
		got, ok, err := ParseAdmin(c.sql)
		if !ok || err != nil {
			t.Errorf("%q: ok=%v err=%v", c.sql, ok, err)
			continue
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", c.sql, got, c.want)
		}
	}
	for _, bad := range []string{
		"MIGRATE WRITES customer.commerce2customer TIMEOUT",
		"MIGRATE WRITES customer.commerce2customer TIMEOUT soon",
		"MIGRATE WRITES customer.commerce2customer MAX 3s",
		"MIGRATE WRITES customer.commerce2customer DRY",
		"MIGRATE WRITES customer",
		"MIGRATE COMPLETE customer.commerce2customer KEEP DATA RENAME TABLES",
		"MIGRATE COMPLETE customer.commerce2customer DROP",
		"MIGRATE REVERSE customer.commerce2customer",
	} {
		_, ok, err := ParseAdmin(bad)
		var se *sqlerr.Error
		if !ok || err == nil || !errors.As(err, &se) || se.Code != sqlerr.ERParse {
			t.Errorf("%q: ok=%v err=%v, want a 1064", bad, ok, err)
		}
	}
}

// After WRITES and REVERSE WRITES, MIGRATE CANCEL removes the workflow and its reverse workflow,
// keeps the source tables, and leaves no routing rule.
func TestSwitchTrafficCancelAfterReverse(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	e.mustExec("MIGRATE WRITES " + ref)
	if _, err := e.exec("MIGRATE CANCEL commerce.commerce2customer_reverse"); err == nil {
		t.Fatal("MIGRATE CANCEL of the reverse workflow was allowed")
	}
	e.mustExec("MIGRATE REVERSE WRITES " + ref)
	e.waitWF(ref, func(m map[string]string) bool { return m["state"] == "Running" })
	res := e.mustExec("MIGRATE CANCEL " + ref)
	if !strings.Contains(res.Info, "reverse workflow commerce.commerce2customer_reverse removed") {
		t.Errorf("cancel: %s", res.Info)
	}
	if e.wf(ref) != nil || e.wf("commerce.commerce2customer_reverse") != nil {
		t.Errorf("workflows left: %v", e.mustExec("SHOW MIGRATIONS").Rows)
	}
	if n := e.src.Primary.QueryString(t, "SELECT COUNT(*) FROM commerce.customer"); n != "200" {
		t.Errorf("source table has %s rows after cancel", n)
	}
	if rules := e.holder.Load().Rules(); len(rules) != 0 {
		t.Errorf("routing rules left: %v", rules)
	}
	var n int
	if err := e.open("").QueryRow("SELECT COUNT(*) FROM commerce.customer").Scan(&n); err != nil || n != 200 {
		t.Errorf("through the proxy after cancel: n=%d err=%v", n, err)
	}
}

func collectCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	switch {
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	case d.Counter != nil:
		return d.Counter.GetValue()
	}
	return -1
}

// A full restart of vtgate-lite (engine and proxy, routing reloaded from what was persisted)
// in the middle of MIGRATE WRITES: before the routing swap it is rolled back, after it it is
// finished. Acknowledged writes are all on the final primary.
func TestSwitchTrafficRestartMidSwitch(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	l := e.startWriters(3, true)
	crash, _ := e.crashHook()
	for _, c := range []struct{ step, to string }{{"prepared", "commerce"}, {"swapped", "customer"}} {
		crash(c.step)
		time.Sleep(400 * time.Millisecond)
		if _, err := e.exec("MIGRATE WRITES " + ref); err == nil || !strings.Contains(err.Error(), "simulated crash") {
			t.Fatalf("crash at %s: %v", c.step, err)
		}
		e.restartAll()
		if to, _ := writesRoutedTo(e.holder.Load(), []string{"customer", "corder"}); to != c.to {
			t.Fatalf("after a restart at %s writes go to %s, want %s", c.step, to, c.to)
		}
		if c.to == "commerce" {
			e.waitWF(ref, func(m map[string]string) bool { return m["state"] == "Running" && m["writes_switched"] == "no" })
		} else {
			e.waitWF(ref, func(m map[string]string) bool { return m["writes_switched"] == "yes" })
			e.waitWF("commerce.commerce2customer_reverse", func(m map[string]string) bool { return m["state"] == "Running" })
		}
	}
	crash("")
	time.Sleep(500 * time.Millisecond)
	e.mustExec("MIGRATE REVERSE WRITES " + ref)
	time.Sleep(500 * time.Millisecond)
	l.halt()
	t.Logf("writers: %d acknowledged operations, %d uncertain (proxy restarts)", l.ops.Load(), l.uncertain)
	e.checkLedger(l, e.src.Primary, srcDB)
}

// TestCompleteCrashRecovery: MIGRATE COMPLETE abandoned at each of its steps, as a crash would,
// is finished by the next start, with writers running through the proxy all along and never
// failing. The first crash is in the command; every later one is in the recovery that the
// restart runs, so each step is crossed exactly once by a crash and a restart.
func TestCompleteCrashRecovery(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	l := e.startWriters(3)
	crash, saw := e.crashHook()
	e.mustExec("MIGRATE WRITES " + ref)
	time.Sleep(300 * time.Millisecond)
	steps := []string{"complete:journaled", "complete:routed", "complete:reverse-removed", "complete:tables-done"}
	crash(steps[0])
	if _, err := e.exec("MIGRATE COMPLETE " + ref + " RENAME TABLES"); err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("crash at %s: %v", steps[0], err)
	}
	journal := func() string {
		return e.dst.Primary.QueryString(t, "SELECT COUNT(*) FROM _vt_lite.traffic_switch WHERE direction='complete'")
	}
	for i, next := range append(steps[1:], "") {
		if n := journal(); n != "1" {
			t.Fatalf("journal rows after a crash at %s: %s", steps[i], n)
		}
		// Whatever step it stopped at, writes go to customer: never back to commerce.
		for _, tbl := range []string{"customer", "corder"} {
			for _, session := range []string{"", "commerce"} {
				if to, err := e.holder.Load().Resolve("", tbl, session, router.Primary); err != nil || to.Keyspace != "customer" {
					t.Fatalf("after a crash at %s, %s (session keyspace %q) resolves to %v, %v", steps[i], tbl, session, to, err)
				}
			}
		}
		crash(next)
		time.Sleep(200 * time.Millisecond)
		e.stopEngine()
		e.startEngine()
		if next != "" {
			// The recovery runs at start and is abandoned at the next step.
			for deadline := time.Now().Add(30 * time.Second); !saw(next); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the restart did not reach %s", next)
				}
			}
		}
	}
	e.waitWF(ref, func(m map[string]string) bool { return m["state"] == "Completed" })
	if n := journal(); n != "0" {
		t.Errorf("journal rows after the completed recovery: %s", n)
	}
	time.Sleep(300 * time.Millisecond)
	e.haltWriters(l)
	e.checkLedger(l, e.dst.Primary, dstDB)
	e.checkCompleted("_vt_old_corder,_vt_old_customer")
}

// TestSwitchDeniesBypassWrites: after a write switch, the side that no longer takes writes
// refuses writes that bypass vtgate-lite (error 1036 naming where writes go), while the
// streams still apply to it; the denial follows REVERSE WRITES, and COMPLETE leaves none. A
// transaction open outside vtgate-lite on a moved table makes MIGRATE WRITES wait for it and,
// past TIMEOUT, abort with nothing changed (no trigger left).
func TestSwitchDeniesBypassWrites(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	src := e.src.Primary.Open(t, srcDB)
	dst := e.dst.Primary.Open(t, dstDB)
	app := e.open("")
	app.SetMaxOpenConns(1)
	triggers := e.triggers
	denied := func(db *sql.DB, side string, id int) {
		t.Helper()
		_, err := db.Exec("INSERT INTO customer (id, email) VALUES (?, 'bypass@x')", id)
		var me *mysql.MySQLError
		if !errorsAs(err, &me) || me.Number != 1036 || !strings.Contains(me.Message, "read only") || !strings.Contains(me.Message, ref) {
			t.Fatalf("bypass write on the %s: %v, want 1036 naming the workflow", side, err)
		}
		if _, err := db.Exec("UPDATE customer SET n = n + 1 WHERE id = 1"); err == nil {
			t.Fatalf("bypass UPDATE on the %s succeeded", side)
		}
	}
	allowed := func(db *sql.DB, side string, id int) {
		t.Helper()
		if _, err := db.Exec("INSERT INTO customer (id, email) VALUES (?, 'direct@x')", id); err != nil {
			t.Fatalf("direct write on the %s (it takes writes): %v", side, err)
		}
	}
	waitRow := func(s *testcluster.Server, db string, id int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); s.QueryString(t, fmt.Sprintf("SELECT COUNT(*) FROM %s.customer WHERE id=%d", db, id)) != "1"; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("row %d never reached %s: a stream does not apply", id, s.Name)
			}
		}
	}

	// A transaction outside vtgate-lite on a moved table: the switch waits, then aborts.
	tx, err := src.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE customer SET n = n + 1 WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	_, err = e.exec("MIGRATE WRITES " + ref + " TIMEOUT 2s")
	if err == nil || !strings.Contains(err.Error(), "outside vtgate-lite") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("MIGRATE WRITES with a bypassing transaction open: %v", err)
	}
	if d := time.Since(t0); d > 4*time.Second {
		t.Errorf("the abort took %s for TIMEOUT 2s", d)
	}
	if n := triggers(e.src.Primary, srcDB); n != "0" {
		t.Errorf("%s triggers left on the source after the abort", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("the bypassing transaction cannot commit after the abort: %v", err)
	}
	allowed(src, "source (abort changed nothing)", 9001)
	waitRow(e.dst.Primary, dstDB, 9001)

	e.mustExec("MIGRATE WRITES " + ref)
	denied(src, "source", 9002)
	allowed(dst, "target", 9003)
	waitRow(e.src.Primary, srcDB, 9003) // the reverse stream writes through the denial
	if _, err := app.Exec("INSERT INTO customer (id, email) VALUES (9004, 'proxy@x')"); err != nil {
		t.Fatal(err)
	}
	waitRow(e.src.Primary, srcDB, 9004)

	e.mustExec("MIGRATE REVERSE WRITES " + ref)
	denied(dst, "target after REVERSE WRITES", 9005)
	allowed(src, "source after REVERSE WRITES", 9006)
	waitRow(e.dst.Primary, dstDB, 9006) // the forward stream writes through the denial

	e.mustExec("MIGRATE WRITES " + ref)
	denied(src, "source, switched again", 9007)
	allowed(dst, "target, switched again", 9008)
	if n := triggers(e.dst.Primary, dstDB); n != "0" {
		t.Errorf("%s triggers left on the target that takes writes", n)
	}
	e.mustExec("MIGRATE COMPLETE " + ref + " RENAME TABLES")
	if n := triggers(e.src.Primary, srcDB); n != "0" {
		t.Errorf("%s triggers left on the renamed source tables", n)
	}
	if _, err := src.Exec("INSERT INTO _vt_old_customer (id, email) VALUES (9009, 'kept@x')"); err != nil {
		t.Errorf("the renamed source table is still denied: %v", err)
	}
}

// TestSwitchTimeoutBoundsWholePause: MIGRATE WRITES ... TIMEOUT bounds the drain and the
// catch-up together. The drain waits ~1 s for a transaction; the catch-up can never finish
// (a LOCK TABLES on the target blocks the stream). The command must give up at TIMEOUT after
// the hold began, not at TIMEOUT after the drain (writes were held up to 2 x TIMEOUT).
func TestSwitchTimeoutBoundsWholePause(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	l := e.startWriters(2)
	time.Sleep(300 * time.Millisecond)

	lockDB := e.dst.Primary.Open(t, dstDB)
	lock, err := lockDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	// One table only: every writer operation writes customer, so the stream stalls on it;
	// locking corder as well let LOCK TABLES hold customer while it waited for a stream
	// transaction holding corder, and MariaDB broke that cycle by failing the stream (1213),
	// which MIGRATE WRITES then refused to switch over.
	if _, err := lock.ExecContext(context.Background(), "LOCK TABLES customer WRITE"); err != nil {
		t.Fatal(err)
	}
	app := e.open("")
	tx, err := app.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE customer SET n = n WHERE id = 3"); err != nil { // no change: not in the ledger
		t.Fatal(err)
	}
	go func() {
		time.Sleep(time.Second) // the drain waits for this transaction
		tx.Commit()
	}()
	const timeout = 3 * time.Second
	t0 := time.Now()
	_, err = e.exec(fmt.Sprintf("MIGRATE WRITES %s TIMEOUT %s", ref, timeout))
	took := time.Since(t0)
	if err == nil || !strings.Contains(err.Error(), "did not reach") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("MIGRATE WRITES with the stream blocked: %v", err)
	}
	if took < timeout-200*time.Millisecond || took > timeout+500*time.Millisecond {
		t.Errorf("MIGRATE WRITES ... TIMEOUT %s gave up after %s: the drain (~1 s) and the catch-up share the TIMEOUT", timeout, took)
	}
	if _, err := lock.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	if to, _ := writesRoutedTo(e.holder.Load(), []string{"customer", "corder"}); to != "commerce" {
		t.Fatalf("after the abort writes go to %s", to)
	}
	time.Sleep(300 * time.Millisecond)
	l.halt()
	if len(l.errs) > 0 {
		t.Errorf("%d client errors, first: %s", len(l.errs), strings.Join(l.errs[:min(5, len(l.errs))], "\n"))
	}
	t.Logf("gave up after %s for TIMEOUT %s; writers: %d acknowledged operations", took.Round(time.Millisecond), timeout, l.ops.Load())
	e.checkLedger(l, e.src.Primary, srcDB)
}

// TestCancelKeepDataLiftsDenial: MIGRATE CANCEL ... KEEP DATA after a switch there and back
// leaves the kept target tables writable (REVERSE WRITES had denied them).
func TestCancelKeepDataLiftsDenial(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	e.mustExec("MIGRATE WRITES " + ref)
	e.mustExec("MIGRATE REVERSE WRITES " + ref)
	dst := e.dst.Primary.Open(t, dstDB)
	if _, err := dst.Exec("INSERT INTO customer (id, email) VALUES (9101, 'x')"); err == nil {
		t.Fatal("a bypass write on the target succeeded after REVERSE WRITES")
	}
	e.mustExec("MIGRATE CANCEL " + ref + " KEEP DATA")
	if n := e.triggers(e.dst.Primary, dstDB); n != "0" {
		t.Errorf("%s triggers left on the kept target tables", n)
	}
	if _, err := dst.Exec("INSERT INTO customer (id, email) VALUES (9102, 'x')"); err != nil {
		t.Errorf("the kept target table is still denied: %v", err)
	}
	if n := e.triggers(e.src.Primary, srcDB); n != "0" {
		t.Errorf("%s triggers on the source after CANCEL", n)
	}
}

// TestReverseSwitchCrashKeepsDenial: MIGRATE REVERSE WRITES abandoned at "lifted" (customer
// already denied, commerce's denial already lifted, routing not swapped) is rolled back by the
// next start with the denial where it was (commerce refuses writes that bypass vtgate-lite
// again, customer takes them); abandoned after the swap, it is finished with the denial moved
// to customer. Writers through the proxy never fail.
func TestReverseSwitchCrashKeepsDenial(t *testing.T) {
	e := newSwEnv(t)
	e.migrate()
	const ref = "customer.commerce2customer"
	l := e.startWriters(2)
	crash, _ := e.crashHook()
	triggers := e.triggers
	waitTriggers := func(what string, s *testcluster.Server, db, want string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); triggers(s, db) != want; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s triggers on %s, want %s", what, triggers(s, db), db, want)
			}
		}
	}
	e.mustExec("MIGRATE WRITES " + ref)
	waitTriggers("after MIGRATE WRITES", e.src.Primary, srcDB, "6")

	crash("lifted") // customer denied, commerce's denial lifted, routing not swapped yet
	if _, err := e.exec("MIGRATE REVERSE WRITES " + ref); err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("crash at lifted: %v", err)
	}
	if d, s := triggers(e.dst.Primary, dstDB), triggers(e.src.Primary, srcDB); d != "6" || s != "0" {
		t.Fatalf("at the crash: %s triggers on customer (want 6), %s on commerce (want 0)", d, s)
	}
	crash("")
	e.stopEngine()
	e.startEngine()
	e.waitWF(ref, func(m map[string]string) bool { return m["writes_switched"] == "yes" })
	waitTriggers("rolled back: customer takes writes", e.dst.Primary, dstDB, "0")
	waitTriggers("rolled back: commerce still denied", e.src.Primary, srcDB, "6")
	if to, _ := writesRoutedTo(e.holder.Load(), []string{"customer", "corder"}); to != "customer" {
		t.Fatalf("after the rolled-back reverse switch writes go to %s", to)
	}

	crash("swapped")
	time.Sleep(300 * time.Millisecond)
	if _, err := e.exec("MIGRATE REVERSE WRITES " + ref); err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("crash at swapped: %v", err)
	}
	crash("")
	e.stopEngine()
	e.startEngine()
	e.waitWF(ref, func(m map[string]string) bool { return m["writes_switched"] == "no" && m["state"] == "Running" })
	waitTriggers("finished: commerce takes writes", e.src.Primary, srcDB, "0")
	waitTriggers("finished: customer denied", e.dst.Primary, dstDB, "6")

	time.Sleep(300 * time.Millisecond)
	e.haltWriters(l)
	e.checkLedger(l, e.src.Primary, srcDB)
}
