package reliability

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The write ledger of the fault-injection suite. Writers run autocommit INSERT, UPDATE and
// DELETE on commerce.customer (value: email) and commerce.corder (value: price) THROUGH THE
// PROXY. Every key a writer touches has the set of values it may hold on the servers:
// after an acknowledged write exactly the written one ("absent" after a DELETE); after a
// write that failed (proxy killed, server down: the client cannot know whether it was
// applied) the old and the new one, and the writer retires the key. Inserted ids are
// unique (id base per writer), update values are unique (writer and sequence).

const absent = "\x00absent"

// Inserted ids start here, above any seeded row.
const insertIDBase = int64(1_000_000_000)

type ledgerKey struct {
	table string // customer or corder
	id    int64
}

type chaosLedger struct {
	seedRows int
	mu       sync.Mutex
	allowed  map[ledgerKey]map[string]bool

	ackInserts, ackUpdates, ackDeletes atomic.Int64
	failed                             atomic.Int64
	errMu                              sync.Mutex
	firstErrs                          []string

	// quiet is held (read) by each writer from a statement's send until the ledger knows its
	// outcome; quiesce takes it to read the servers with no write in flight.
	quiet sync.RWMutex
}

// quiesce waits until no ledger write is in flight and keeps the writers waiting before
// their next statement until resume is called: the servers then hold exactly what the
// ledger allows (once the streams have applied it). Call it only while statements
// complete (the proxy and the primary taking writes are up).
func (l *chaosLedger) quiesce() (resume func()) {
	l.quiet.Lock()
	return l.quiet.Unlock
}

func newChaosLedger(seedRows int) *chaosLedger {
	return &chaosLedger{seedRows: seedRows, allowed: map[ledgerKey]map[string]bool{}}
}

func (l *chaosLedger) acked() int64 {
	return l.ackInserts.Load() + l.ackUpdates.Load() + l.ackDeletes.Load()
}

func (l *chaosLedger) summary() string {
	return fmt.Sprintf("acknowledged %d (inserts %d, updates %d, deletes %d), failed (outcome unknown to the client) %d",
		l.acked(), l.ackInserts.Load(), l.ackUpdates.Load(), l.ackDeletes.Load(), l.failed.Load())
}

func (l *chaosLedger) set(k ledgerKey, vals ...string) {
	l.mu.Lock()
	m := map[string]bool{}
	for _, v := range vals {
		m[v] = true
	}
	l.allowed[k] = m
	l.mu.Unlock()
}

func (l *chaosLedger) has(k ledgerKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.allowed[k] != nil
}

func (l *chaosLedger) add(k ledgerKey, v string) {
	l.mu.Lock()
	if l.allowed[k] == nil {
		l.allowed[k] = map[string]bool{}
	}
	l.allowed[k][v] = true
	l.mu.Unlock()
}

func (l *chaosLedger) fail(what string, err error) {
	l.failed.Add(1)
	l.errMu.Lock()
	if len(l.firstErrs) < 10 {
		l.firstErrs = append(l.firstErrs, time.Now().Format("15:04:05.000")+" "+what+": "+err.Error())
	}
	l.errMu.Unlock()
}

// writers is a running set of ledger writers; stop them with halt.
type writers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	db     *sql.DB
}

// startWriters runs n writers through dsn; writer ids are base..base+n-1 (unique per ledger).
func (l *chaosLedger) startWriters(dsn string, base, n int) *writers {
	db, err := sql.Open("mysql", dsn+"?timeout=1s&readTimeout=15s&writeTimeout=15s")
	if err != nil {
		panic(err)
	}
	db.SetMaxOpenConns(n)
	ctx, cancel := context.WithCancel(context.Background())
	w := &writers{cancel: cancel, db: db}
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go func(id int) {
			defer w.wg.Done()
			l.writer(ctx, db, id, n)
		}(base + i)
	}
	return w
}

// halt stops the writers after their current statement (whose outcome is then known).
func (w *writers) halt() {
	w.cancel()
	w.wg.Wait()
	w.db.Close()
}

type liveKey struct {
	k   ledgerKey
	val string
}

func (l *chaosLedger) writer(ctx context.Context, db *sql.DB, w, stride int) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	var seq int64
	var live []liveKey
	// Seeded rows this writer owns: id % stride == w % stride; each is touched at most
	// once per writer id (the writer ids of a ledger are unique, so no two writers share a row).
	nextSeed := int64(w%stride) + 1
	for ctx.Err() == nil {
		seq++
		val := fmt.Sprintf("w%d-%d", w, seq)
		price := fmt.Sprint(int64(w+1)<<32 | seq)
		table := "customer"
		if rng.IntN(2) == 0 {
			table = "corder"
		}
		v := val
		if table == "corder" {
			v = price
		}
		var q string
		var args []any
		var k ledgerKey
		var before string
		kind := ""
		r := rng.IntN(100)
		switch {
		case r < 40 || len(live) == 0 && r < 70: // insert
			kind = "insert"
			k = ledgerKey{table, insertIDBase + int64(w)<<24 + seq}
			before = absent
			if table == "customer" {
				q, args = "INSERT INTO customer (customer_id, email) VALUES (?, ?)", []any{k.id, v}
			} else {
				q, args = "INSERT INTO corder (order_id, customer_id, sku, price) VALUES (?, ?, 'sku-w', ?)", []any{k.id, w, v}
			}
		case r < 70 && l.seedRows > 0 && nextSeed <= int64(l.seedRows): // update a seeded row (maybe not copied yet)
			kind = "update"
			k = ledgerKey{table, nextSeed}
			nextSeed += int64(stride)
			if l.has(k) { // touched by a writer of an earlier round
				continue
			}
			before = fmt.Sprintf("seed-%d", k.id)
			if table == "corder" {
				before = fmt.Sprint(k.id)
			}
			l.set(k, before)
			q, args = updateSQL(table, k.id, v)
		default: // update or delete a live key of ours
			if len(live) == 0 {
				continue
			}
			i := rng.IntN(len(live))
			lk := live[i]
			live = append(live[:i], live[i+1:]...)
			k, before = lk.k, lk.val
			if lk.k.table == "corder" {
				v = price
			} else {
				v = val
			}
			if r < 90 {
				kind = "update"
				q, args = updateSQL(k.table, k.id, v)
			} else {
				kind = "delete"
				v = absent
				if k.table == "customer" {
					q, args = "DELETE FROM customer WHERE customer_id = ?", []any{k.id}
				} else {
					q, args = "DELETE FROM corder WHERE order_id = ?", []any{k.id}
				}
			}
		}
		if kind == "insert" {
			l.set(k, before)
		}
		l.quiet.RLock()
		octx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		res, err := db.ExecContext(octx, q, args...)
		cancel()
		if err == nil {
			n, _ := res.RowsAffected()
			if n != 1 {
				err = fmt.Errorf("%d rows affected, want 1", n)
				// Acknowledged, but not what the ledger expects: a lost row. Keep it
				// visible to the verification by leaving the expected value as before.
				l.fail(kind+" "+k.table, err)
				l.quiet.RUnlock()
				continue
			}
			l.set(k, v)
			l.quiet.RUnlock()
			switch kind {
			case "insert":
				l.ackInserts.Add(1)
			case "update":
				l.ackUpdates.Add(1)
			case "delete":
				l.ackDeletes.Add(1)
			}
			if v != absent {
				live = append(live, liveKey{k, v})
			}
			continue
		}
		// Not acknowledged: either outcome is allowed; the key is retired.
		l.add(k, v)
		l.quiet.RUnlock()
		l.fail(kind+" "+k.table, err)
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func updateSQL(table string, id int64, v string) (string, []any) {
	if table == "customer" {
		return "UPDATE customer SET email = ? WHERE customer_id = ?", []any{v, id}
	}
	return "UPDATE corder SET price = ? WHERE order_id = ?", []any{v, id}
}

// verify reads customer and corder of database db (root, direct to a server) and returns
// every key whose value is not one the ledger allows, and every inserted-range row no
// writer wrote. No problem means every acknowledged write is present exactly once (ids
// are primary keys) and nothing unacknowledged is half-there.
func (l *chaosLedger) verify(ctx context.Context, db *sql.DB, schema string) ([]string, int, error) {
	actual := map[ledgerKey]string{}
	for _, q := range []struct{ table, sql string }{
		{"customer", "SELECT customer_id, IFNULL(email, '') FROM " + schema + ".customer"},
		{"corder", "SELECT order_id, IFNULL(CAST(price AS CHAR), '') FROM " + schema + ".corder"},
	} {
		rows, err := db.QueryContext(ctx, q.sql)
		if err != nil {
			return nil, 0, err
		}
		for rows.Next() {
			var id int64
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, 0, err
			}
			k := ledgerKey{q.table, id}
			if _, dup := actual[k]; dup {
				rows.Close()
				return []string{fmt.Sprintf("%s id %d returned twice", q.table, id)}, 0, nil
			}
			actual[k] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var problems []string
	for k, allowed := range l.allowed {
		got, ok := actual[k]
		if !ok {
			got = absent
		}
		if !allowed[got] {
			var want []string
			for v := range allowed {
				want = append(want, show(v))
			}
			sort.Strings(want)
			problems = append(problems, fmt.Sprintf("%s.%s id %d: %s, want one of %v", schema, k.table, k.id, show(got), want))
		}
	}
	for k := range actual {
		if k.id >= insertIDBase {
			if _, ok := l.allowed[k]; !ok {
				problems = append(problems, fmt.Sprintf("%s.%s id %d present, never written by a client", schema, k.table, k.id))
			}
		}
	}
	sort.Strings(problems)
	return problems, len(l.allowed), nil
}

func show(v string) string {
	if v == absent {
		return "absent"
	}
	return fmt.Sprintf("%q", v)
}
