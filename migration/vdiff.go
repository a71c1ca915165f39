package migration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

const vdiffSamples = 5

// vdiffTable is one table's part of a VDIFF report.
type vdiffTable struct {
	Table            string   `json:"table"`
	State            string   `json:"state"`
	RowsCompared     int64    `json:"rows_compared"`
	Missing          int64    `json:"missing_on_target"`
	Extra            int64    `json:"extra_on_target"`
	Mismatched       int64    `json:"mismatched"`
	SampleMissing    []string `json:"sample_missing,omitempty"`
	SampleExtra      []string `json:"sample_extra,omitempty"`
	SampleMismatched []string `json:"sample_mismatched,omitempty"`
}

type vdiffReport struct {
	Tables []*vdiffTable `json:"tables"`
}

// startVDiff records a new diff and runs it in the background; SHOW VDIFF follows it.
func (e *Engine) startVDiff(ctx context.Context, ref WorkflowRef) (*Result, error) {
	r, err := e.runner(ref)
	if err != nil {
		return nil, err
	}
	st := r.state()
	if st.Phase != Running || !st.CopyDone {
		return nil, sqlerr.New(sqlerr.ERWrongArguments, "HY000", "VDIFF: workflow %s must be Running with its copy finished (it is %s)", ref, st.Phase)
	}
	e.mu.Lock()
	runCtx := e.runCtx
	e.mu.Unlock()
	if runCtx == nil {
		return nil, sqlerr.Internal("VDIFF: the migration engine is not running")
	}
	r.mu.Lock()
	tables := append([]string(nil), r.rec.Tables...)
	r.mu.Unlock()
	rep := &vdiffReport{}
	for _, t := range tables {
		rep.Tables = append(rep.Tables, &vdiffTable{Table: t, State: "pending"})
	}
	var id int64
	err = r.withTarget(ctx, func(t *conn) error {
		b, _ := json.Marshal(rep)
		res, err := t.exec(fmt.Sprintf("INSERT INTO %s.vdiff (keyspace, workflow, state, pos, report, message, started_at) VALUES (%s,%s,'running','',%s,'',%d)",
			sidecarDB, quote(ref.Keyspace), quote(ref.Workflow), quote(string(b)), time.Now().Unix()))
		if err != nil {
			return err
		}
		id = int64(res.InsertId)
		return nil
	})
	if err != nil {
		return nil, sqlerr.FromError(err)
	}
	e.vdiffs.Add(1)
	go func() {
		defer e.vdiffs.Done()
		d := &differ{r: r, id: id, rep: rep}
		d.run(runCtx)
	}()
	return &Result{Columns: []string{"vdiff_id"}, Rows: [][]string{{strconv.FormatInt(id, 10)}},
		Info: fmt.Sprintf("VDIFF %d started for %s; follow it with SHOW VDIFF %s %d", id, ref, ref, id)}, nil
}

type differ struct {
	r   *runner
	id  int64
	mu  sync.Mutex
	rep *vdiffReport
	pos string
}

func (d *differ) run(ctx context.Context) {
	err := d.diff(ctx)
	state, msg := "completed", ""
	if err != nil {
		state, msg = "error", err.Error()
	}
	d.save(context.WithoutCancel(ctx), state, msg)
}

func (d *differ) save(ctx context.Context, state, msg string) {
	d.mu.Lock()
	b, _ := json.Marshal(d.rep)
	pos := d.pos
	d.mu.Unlock()
	done := "0"
	if state != "running" {
		done = strconv.FormatInt(time.Now().Unix(), 10)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = d.r.withTarget(sctx, func(t *conn) error {
		_, err := t.exec(fmt.Sprintf("UPDATE %s.vdiff SET state=%s, report=%s, message=%s, pos=%s, completed_at=%s WHERE id=%d",
			sidecarDB, quote(state), quote(string(b)), quote(msg), quote(pos), done, d.id))
		return err
	})
}

func (d *differ) diff(ctx context.Context) error {
	r := d.r
	sks, tks, err := r.keyspaces()
	if err != nil {
		return err
	}
	// 1. Pause the stream at a transaction boundary and snapshot the source at P there (on the
	// server the stream reads, so P is at or after everything applied).
	// 2. Run the target exactly to P, snapshot it, let the stream go on.
	var ssnap *conn
	defer func() { ssnap.close() }()
	r.mu.Lock()
	flavor := r.rec.Flavor
	r.mu.Unlock()
	tsnap, err := dial(ctx, tks, tks.Primary, true)
	if err != nil {
		return err
	}
	defer tsnap.close()
	if _, err := tsnap.exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return err
	}
	req := &syncRequest{Reply: make(chan error, 1),
		Snapshot: func(addr string) (string, error) {
			var err error
			if ssnap, err = dial(ctx, sks, addr, true); err != nil {
				return "", err
			}
			pos, err := snapshot(ctx, ssnap, sks, flavor)
			d.mu.Lock()
			d.pos = pos
			d.mu.Unlock()
			return pos, err
		},
		Fn: func() error {
			_, err := tsnap.exec("START TRANSACTION WITH CONSISTENT SNAPSHOT")
			return err
		}}
	deadline := time.After(10 * time.Minute)
	select {
	case r.syncCh <- req:
	case <-deadline:
		return errors.New("the workflow's stream did not take the VDIFF request within 10m (is it running?)")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.Reply:
		if err != nil {
			return fmt.Errorf("synchronize source and target snapshots: %w", err)
		}
	case <-deadline:
		return errors.New("the target did not reach the source snapshot's position within 10m")
	case <-ctx.Done():
		return ctx.Err()
	}
	// 3. Merge-compare each table by key; traffic and the stream keep flowing meanwhile.
	cmp, err := dial(ctx, sks, ssnap.addr, true)
	if err != nil {
		return err
	}
	defer cmp.close()
	lastSave := time.Now()
	for _, vt := range d.rep.Tables {
		ti, err := loadTableInfo(cmp, sks.Database, vt.Table)
		if err != nil {
			return fmt.Errorf("table %s: %w", vt.Table, err)
		}
		d.mu.Lock()
		vt.State = "running"
		d.mu.Unlock()
		err = d.compareTable(ctx, ssnap, tsnap, cmp, sks, tks, ti, vt, func() {
			if time.Since(lastSave) > 2*time.Second {
				lastSave = time.Now()
				d.save(ctx, "running", "")
			}
		})
		if err != nil {
			return fmt.Errorf("table %s: %w", vt.Table, err)
		}
		d.mu.Lock()
		vt.State = "completed"
		d.mu.Unlock()
	}
	return nil
}

type diffRow struct {
	vals []string
	key  []string
}

// stream reads q on c and sends rendered rows to out.
func streamRows(ctx context.Context, c *conn, q string, ti *tableInfo, out chan<- diffRow) error {
	defer close(out)
	var res mysql.Result
	return c.ExecuteSelectStreaming(q, &res, func(row []mysql.FieldValue) error {
		vals := make([]string, len(row))
		for j := range row {
			vals[j] = fieldLiteral(ti.Columns[j], &row[j])
		}
		key := make([]string, len(ti.Key))
		for i, k := range ti.Key {
			key[i] = vals[k]
		}
		select {
		case out <- diffRow{vals, key}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil)
}

func (d *differ) compareTable(ctx context.Context, ssnap, tsnap, cmp *conn, sks, tks *router.Keyspace, ti *tableInfo, vt *vdiffTable, tick func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sel := func(db string) string {
		return "SELECT " + ti.columnList() + " FROM " + ident(db) + "." + ident(ti.Name) + " ORDER BY " + ti.keyList()
	}
	sch, tch := make(chan diffRow, 512), make(chan diffRow, 512)
	errs := make(chan error, 2)
	go func() { errs <- streamRows(ctx, ssnap, sel(sks.Database), ti, sch) }()
	go func() { errs <- streamRows(ctx, tsnap, sel(tks.Database), ti, tch) }()
	s, sok := <-sch
	t, tok := <-tch
	sample := func(list *[]string, key []string) {
		if len(*list) < vdiffSamples {
			*list = append(*list, strings.Join(key, ","))
		}
	}
	for sok || tok {
		var c int
		switch {
		case !tok:
			c = -1
		case !sok:
			c = 1
		default:
			var err error
			if c, err = compareKeys(cmp, ti, s.key, t.key); err != nil {
				return err
			}
		}
		d.mu.Lock()
		switch {
		case c < 0:
			vt.Missing++
			sample(&vt.SampleMissing, s.key)
			vt.RowsCompared++
		case c > 0:
			vt.Extra++
			sample(&vt.SampleExtra, t.key)
		default:
			vt.RowsCompared++
			if !slicesEqual(s.vals, t.vals) {
				vt.Mismatched++
				sample(&vt.SampleMismatched, s.key)
			}
		}
		d.mu.Unlock()
		if c <= 0 {
			s, sok = <-sch
		}
		if c >= 0 {
			t, tok = <-tch
		}
		if vt.RowsCompared%1000 == 0 {
			tick()
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// compareKeys orders two keys the way the server's ORDER BY does: integers in Go, anything
// else (collations, temporal, decimal) by asking the source server.
func compareKeys(cmp *conn, ti *tableInfo, a, b []string) (int, error) {
	for i, k := range ti.Key {
		if a[i] == b[i] {
			continue
		}
		c := ti.Columns[k]
		if c.Class == classNumeric && c.Bits > 0 {
			x, ok1 := new(big.Int).SetString(a[i], 10)
			y, ok2 := new(big.Int).SetString(b[i], 10)
			if ok1 && ok2 {
				if v := x.Cmp(y); v != 0 {
					return v, nil
				}
				continue
			}
		}
		res, err := cmp.exec("SELECT " + keyLiteral(c, a[i]) + " < " + keyLiteral(c, b[i]) + ", " + keyLiteral(c, a[i]) + " = " + keyLiteral(c, b[i]))
		if err != nil {
			return 0, err
		}
		lt, _ := res.GetInt(0, 0)
		eq, _ := res.GetInt(0, 1)
		if eq == 1 {
			continue
		}
		if lt == 1 {
			return -1, nil
		}
		return 1, nil
	}
	return 0, nil
}

func (e *Engine) showVDiff(ctx context.Context, c ShowVDiff) (*Result, error) {
	r, err := e.runner(c.Ref)
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: []string{"vdiff_id", "table", "state", "rows_compared", "missing_on_target", "extra_on_target", "mismatched", "sample_keys", "position", "started_at", "completed_at", "message"}}
	err = r.withTarget(ctx, func(t *conn) error {
		q := fmt.Sprintf("SELECT id, state, report, pos, started_at, completed_at, message FROM %s.vdiff WHERE keyspace=%s AND workflow=%s", sidecarDB, quote(c.Ref.Keyspace), quote(c.Ref.Workflow))
		if c.ID > 0 {
			q += fmt.Sprintf(" AND id=%d", c.ID)
		} else {
			q += " ORDER BY id DESC LIMIT 1"
		}
		rs, err := t.exec(q)
		if err != nil {
			return err
		}
		if rs.RowNumber() == 0 {
			return sqlerr.New(sqlerr.ERWrongArguments, "HY000", "no VDIFF found for %s", c.Ref)
		}
		id, _ := rs.GetString(0, 0)
		state, _ := rs.GetString(0, 1)
		report, _ := rs.GetString(0, 2)
		pos, _ := rs.GetString(0, 3)
		started, _ := rs.GetInt(0, 4)
		completed, _ := rs.GetInt(0, 5)
		msg, _ := rs.GetString(0, 6)
		var rep vdiffReport
		if err := json.Unmarshal([]byte(report), &rep); err != nil {
			return err
		}
		ts := func(u int64) string {
			if u == 0 {
				return ""
			}
			return time.Unix(u, 0).UTC().Format(time.RFC3339)
		}
		for _, vt := range rep.Tables {
			var samples []string
			if len(vt.SampleMissing) > 0 {
				samples = append(samples, "missing: "+strings.Join(vt.SampleMissing, "; "))
			}
			if len(vt.SampleExtra) > 0 {
				samples = append(samples, "extra: "+strings.Join(vt.SampleExtra, "; "))
			}
			if len(vt.SampleMismatched) > 0 {
				samples = append(samples, "mismatched: "+strings.Join(vt.SampleMismatched, "; "))
			}
			tstate := vt.State
			if state != "running" && tstate != "completed" {
				tstate = state
			}
			res.Rows = append(res.Rows, []string{id, vt.Table, tstate, strconv.FormatInt(vt.RowsCompared, 10), strconv.FormatInt(vt.Missing, 10),
				strconv.FormatInt(vt.Extra, 10), strconv.FormatInt(vt.Mismatched, 10), strings.Join(samples, " | "), pos, ts(started), ts(completed), msg})
		}
		res.Info = fmt.Sprintf("VDIFF %s of %s: %s", id, c.Ref, state)
		return nil
	})
	if err != nil {
		return nil, sqlerr.FromError(err)
	}
	return res, nil
}
