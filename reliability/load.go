package reliability

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql" // the client driver of the load
)

// Schema is what RunLoad needs in the database its DSN names. item rows 1..N start at
// val 0 (SeedItems); every acknowledged update adds 1 to one of them. ledger.seq is the
// primary key so that a write applied twice would show up as two rows with the same id.
var Schema = []string{
	"CREATE TABLE IF NOT EXISTS item (id BIGINT PRIMARY KEY, val BIGINT NOT NULL DEFAULT 0, note VARCHAR(64))",
	"CREATE TABLE IF NOT EXISTS ledger (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL, writer INT NOT NULL, kind VARCHAR(8) NOT NULL, KEY (id))",
}

// SeedItems returns the statement that inserts item rows 1..n.
func SeedItems(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO item (id, val, note) VALUES ")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d,0,'item-%d')", i, i)
	}
	return b.String()
}

// LoadOptions describe one load run.
type LoadOptions struct {
	// DSN is a go-sql-driver DSN of the proxy with the schema selected, e.g.
	// "app:secret@tcp(127.0.0.1:15306)/commerce". Timeouts are added when missing.
	DSN      string
	Idle     int           // connections opened, checked, held idle, checked again at the end
	Active   int           // connections running the statement mix
	Duration time.Duration // how long the active ones run
	Items    int           // item rows 1..Items exist (SeedItems)
	// ConnectParallel bounds concurrent connection attempts (default 50).
	ConnectParallel int
	// StatementTimeout bounds every statement (default 30s).
	StatementTimeout time.Duration
	// Connected, if set, is called once every connection is open, before the active
	// clients start; Running once they stop (idle ones still open).
	Connected func()
}

// LoadResult is what the clients saw. Ledger ids are writer<<32 | sequence.
type LoadResult struct {
	Connected   int
	ConnectTime time.Duration
	Elapsed     time.Duration // active phase
	Statements  uint64        // statements that returned success (BEGIN/COMMIT included)
	Commits     uint64        // transactions committed
	Rollbacks   uint64        // transactions rolled back on purpose
	Errors      uint64
	FirstErrors []string
	IdleChecked int // idle connections that answered at the end

	Acked       []int64 // ledger ids whose write was acknowledged (autocommit OK or COMMIT OK)
	RolledBack  []int64 // ids inserted in transactions that were rolled back (ROLLBACK OK)
	Unknown     []int64 // ids whose outcome the client cannot know (an error mid-way)
	AckedIncr   int64   // acknowledged item increments
	UnknownIncr int64   // increments of unknown outcome
}

// QPS is statements per second of the active phase.
func (r *LoadResult) QPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Statements) / r.Elapsed.Seconds()
}

type loadState struct {
	opts       LoadOptions
	statements atomic.Uint64
	commits    atomic.Uint64
	rollbacks  atomic.Uint64
	errs       atomic.Uint64

	mu          sync.Mutex
	firstErrors []string
	acked       []int64
	rolledBack  []int64
	unknown     []int64
	ackedIncr   int64
	unknownIncr int64
}

func (st *loadState) fail(what string, err error) {
	st.errs.Add(1)
	st.mu.Lock()
	if len(st.firstErrors) < 20 {
		st.firstErrors = append(st.firstErrors, what+": "+err.Error())
	}
	st.mu.Unlock()
}

func withDefaults(dsn string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	for _, p := range []string{"timeout=10s", "readTimeout=60s", "writeTimeout=60s"} {
		if !strings.Contains(dsn, strings.SplitN(p, "=", 2)[0]+"=") {
			dsn += sep + p
			sep = "&"
		}
	}
	return dsn
}

// RunLoad opens Idle+Active connections, runs the mix on the active ones for Duration,
// checks that every idle one still answers, and closes everything. It returns when all
// client connections are closed, or with an error when the connections cannot be opened.
func RunLoad(ctx context.Context, o LoadOptions) (*LoadResult, error) {
	if o.ConnectParallel <= 0 {
		o.ConnectParallel = 50
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 30 * time.Second
	}
	if o.Items <= 0 {
		return nil, errors.New("reliability: LoadOptions.Items must be > 0")
	}
	db, err := sql.Open("mysql", withDefaults(o.DSN))
	if err != nil {
		return nil, err
	}
	defer db.Close() // closes the physical connections (sql.Conn.Close only returns them)
	total := o.Idle + o.Active
	db.SetMaxIdleConns(total)
	db.SetMaxOpenConns(total)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	res := &LoadResult{}
	conns := make([]*sql.Conn, total)
	t0 := time.Now()
	var cerrs []error
	var cmu sync.Mutex
	sem := make(chan struct{}, o.ConnectParallel)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			c, err := db.Conn(cctx)
			if err == nil {
				if err = c.PingContext(cctx); err != nil {
					c.Close()
				}
			}
			if err != nil {
				cmu.Lock()
				cerrs = append(cerrs, fmt.Errorf("connection %d: %w", i, err))
				cmu.Unlock()
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	res.ConnectTime = time.Since(t0)
	closeAll := func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
	if len(cerrs) > 0 {
		closeAll()
		return nil, fmt.Errorf("reliability: %d of %d connections failed; first: %w", len(cerrs), total, cerrs[0])
	}
	res.Connected = total
	if o.Connected != nil {
		o.Connected()
	}

	st := &loadState{opts: o}
	actx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	t1 := time.Now()
	for w := 0; w < o.Active; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.client(actx, conns[o.Idle+w], w)
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(t1)

	// Every idle connection must still be there and answer.
	for i := 0; i < o.Idle; i++ {
		qctx, qcancel := context.WithTimeout(ctx, o.StatementTimeout)
		var one int
		err := conns[i].QueryRowContext(qctx, "SELECT 1").Scan(&one)
		qcancel()
		if err != nil || one != 1 {
			st.fail(fmt.Sprintf("idle connection %d at the end", i), fmt.Errorf("%v (got %d)", err, one))
			continue
		}
		res.IdleChecked++
	}
	closeAll()
	if err := db.Close(); err != nil {
		st.fail("close", err)
	}

	res.Statements, res.Commits, res.Rollbacks, res.Errors = st.statements.Load(), st.commits.Load(), st.rollbacks.Load(), st.errs.Load()
	res.FirstErrors = st.firstErrors
	res.Acked, res.RolledBack, res.Unknown = st.acked, st.rolledBack, st.unknown
	res.AckedIncr, res.UnknownIncr = st.ackedIncr, st.unknownIncr
	return res, nil
}

// client runs the statement mix on one connection until ctx ends.
func (st *loadState) client(ctx context.Context, c *sql.Conn, writer int) {
	rng := rand.New(rand.NewPCG(uint64(writer), uint64(time.Now().UnixNano())))
	var seq int64
	nextID := func() int64 { seq++; return int64(writer+1)<<32 | seq }
	// A statement prepared once and reused (binary protocol, long-lived statement id);
	// the writes go through database/sql's prepare-execute-close per call.
	pctx, pcancel := context.WithTimeout(ctx, st.opts.StatementTimeout)
	sel, err := c.PrepareContext(pctx, "SELECT val, note FROM item WHERE id = ?")
	pcancel()
	if err != nil {
		st.fail("prepare", err)
		return
	}
	defer sel.Close()
	item := func() int64 { return 1 + rng.Int64N(int64(st.opts.Items)) }

	for ctx.Err() == nil {
		// Each operation gets its own deadline, detached from the run's end: an operation
		// that started is finished, so its outcome is known.
		octx, ocancel := context.WithTimeout(context.Background(), st.opts.StatementTimeout)
		switch r := rng.IntN(100); {
		case r < 50: // point select
			var val int64
			var note string
			id := item()
			if err := sel.QueryRowContext(octx, id).Scan(&val, &note); err != nil {
				st.fail("point select", err)
			} else if note != fmt.Sprintf("item-%d", id) {
				st.fail("point select", fmt.Errorf("item %d: note %q", id, note))
			} else {
				st.statements.Add(1)
			}
		case r < 65: // autocommit insert
			id := nextID()
			if _, err := c.ExecContext(octx, "INSERT INTO ledger (id, writer, kind) VALUES (?, ?, 'single')", id, writer); err != nil {
				st.fail("insert", err)
				st.record(nil, nil, []int64{id}, 0, 0)
			} else {
				st.statements.Add(1)
				st.record([]int64{id}, nil, nil, 0, 0)
			}
		case r < 75: // autocommit update
			res, err := c.ExecContext(octx, "UPDATE item SET val = val + 1 WHERE id = ?", item())
			if err != nil {
				st.fail("update", err)
				st.record(nil, nil, nil, 0, 1)
			} else if n, _ := res.RowsAffected(); n != 1 {
				st.fail("update", fmt.Errorf("%d rows affected", n))
				st.record(nil, nil, nil, 0, 1)
			} else {
				st.statements.Add(1)
				st.record(nil, nil, nil, 1, 0)
			}
		default: // transaction of 2-3 statements; one in four is rolled back
			st.transaction(octx, c, rng, nextID, item, writer, r >= 94)
		}
		ocancel()
	}
}

// transaction runs BEGIN; INSERT; UPDATE; [INSERT]; COMMIT or ROLLBACK.
func (st *loadState) transaction(ctx context.Context, c *sql.Conn, rng *rand.Rand, nextID func() int64, item func() int64, writer int, rollback bool) {
	ids := []int64{nextID()}
	if rng.IntN(2) == 0 {
		ids = append(ids, nextID())
	}
	// Two ways in: database/sql's BeginTx (START TRANSACTION) and a plain BEGIN.
	var exec func(q string, args ...any) error
	var finish func(commit bool) error
	n := uint64(0)
	if rng.IntN(2) == 0 {
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			st.fail("begin", err)
			return
		}
		exec = func(q string, args ...any) error { _, err := tx.ExecContext(ctx, q, args...); return err }
		finish = func(commit bool) error {
			if commit {
				return tx.Commit()
			}
			return tx.Rollback()
		}
	} else {
		if _, err := c.ExecContext(ctx, "BEGIN"); err != nil {
			st.fail("begin", err)
			return
		}
		exec = func(q string, args ...any) error { _, err := c.ExecContext(ctx, q, args...); return err }
		finish = func(commit bool) error {
			q := "ROLLBACK"
			if commit {
				q = "COMMIT"
			}
			_, err := c.ExecContext(ctx, q)
			return err
		}
	}
	n++
	kind := "tx"
	if rollback {
		kind = "rb"
	}
	steps := []func() error{
		func() error {
			return exec("INSERT INTO ledger (id, writer, kind) VALUES (?, ?, ?)", ids[0], writer, kind)
		},
		func() error { return exec("UPDATE item SET val = val + 1 WHERE id = ?", item()) },
	}
	if len(ids) == 2 {
		steps = append(steps, func() error {
			return exec("INSERT INTO ledger (id, writer, kind) VALUES (?, ?, ?)", ids[1], writer, kind)
		})
	}
	for _, s := range steps {
		if err := s(); err != nil {
			st.fail("in transaction", err)
			_ = finish(false)
			st.record(nil, nil, ids, 0, 1)
			return
		}
		n++
	}
	if err := finish(!rollback); err != nil {
		st.fail(map[bool]string{true: "rollback", false: "commit"}[rollback], err)
		st.record(nil, nil, ids, 0, 1)
		return
	}
	st.statements.Add(n + 1)
	if rollback {
		st.rollbacks.Add(1)
		st.record(nil, ids, nil, 0, 0)
	} else {
		st.commits.Add(1)
		st.record(ids, nil, nil, 1, 0)
	}
}

func (st *loadState) record(acked, rolledBack, unknown []int64, incr, unknownIncr int64) {
	st.mu.Lock()
	st.acked = append(st.acked, acked...)
	st.rolledBack = append(st.rolledBack, rolledBack...)
	st.unknown = append(st.unknown, unknown...)
	st.ackedIncr += incr
	st.unknownIncr += unknownIncr
	st.mu.Unlock()
}

// Verify compares the ledger on the backend (db: a direct connection to the backend
// database, not through the proxy) with what the clients were told. It returns the
// problems found, none when every acknowledged write is present exactly once, no
// rolled-back write is present, nothing unknown to the clients was written and the item
// increments add up.
func (r *LoadResult) Verify(ctx context.Context, db *sql.DB) ([]string, error) {
	var problems []string
	rows, err := db.QueryContext(ctx, "SELECT id, COUNT(*) FROM ledger GROUP BY id")
	if err != nil {
		return nil, err
	}
	present := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, err
		}
		present[id] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	add := func(format string, args ...any) {
		if len(problems) < 50 {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	seen := map[int64]bool{}
	for _, id := range r.Acked {
		seen[id] = true
		if n := present[id]; n != 1 {
			add("acknowledged write %#x present %d times", id, n)
		}
	}
	for _, id := range r.RolledBack {
		seen[id] = true
		if n := present[id]; n != 0 {
			add("rolled-back write %#x present %d times", id, n)
		}
	}
	for _, id := range r.Unknown {
		seen[id] = true
		if n := present[id]; n > 1 {
			add("write of unknown outcome %#x present %d times", id, n)
		}
	}
	var extra []int64
	for id := range present {
		if !seen[id] {
			extra = append(extra, id)
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i] < extra[j] })
	for _, id := range extra {
		add("row %#x on the backend was never written by a client", id)
	}
	var sum sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT SUM(val) FROM item").Scan(&sum); err != nil {
		return nil, err
	}
	if sum.Int64 < r.AckedIncr || sum.Int64 > r.AckedIncr+r.UnknownIncr {
		add("SUM(item.val) = %d, want %d acknowledged increments (+ up to %d of unknown outcome)", sum.Int64, r.AckedIncr, r.UnknownIncr)
	}
	return problems, nil
}
