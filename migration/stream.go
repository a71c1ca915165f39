package migration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/vtgate-lite/vtgate-lite/internal/backendaddr"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// Batching of source transactions into target transactions: a target commit happens at a
// source transaction boundary when no more events are buffered, or when these are exceeded.
const (
	maxBatchRows  = 5000
	maxBatchDelay = 250 * time.Millisecond
	idleFlush     = time.Second
)

var serverIDSeq atomic.Uint32

// syncRequest is VDIFF's "stop the stream, snapshot the source at P, run the target exactly
// to P, snapshot the target": at a transaction boundary the stream commits and calls Snapshot
// with its source address (P is then at or after everything applied), streams on until its
// position is exactly P, commits, calls Fn with nothing uncommitted, and carries on.
type syncRequest struct {
	Snapshot func(addr string) (string, error)
	Fn       func() error
	Reply    chan error
	pos      string
}

// pendingDDL is a DDL statement met by the stream and not yet applied or skipped.
type pendingDDL struct {
	Stmt     string
	Schema   string
	PosAfter string
	TS       int64
}

// op is the last change of a batch to one row, rendered as SQL literals.
type op struct {
	delete bool
	cols   []string // column names (upsert)
	vals   []string // literals (upsert)
	key    []string // key literals
}

// tableBatch holds, per key, only the last change of the current batch: applying is
// state-setting, so the final image (or absence) of each key is all the target needs.
type tableBatch struct {
	ti    *tableInfo
	final map[string]*op
	order []string
}

// follower applies the source binlog to the target: it keeps the position and the rows it
// describes in one target transaction, committed at source transaction boundaries.
type follower struct {
	r       *runner
	tconn   *conn
	srcKS   *router.Keyspace
	tgtDB   string
	flavor  string
	tables  map[string]*tableInfo // source table info, lower-case name
	tgtCols map[string]map[string]bool

	pos         mysql.GTIDSet // position after the last event applied (maybe uncommitted)
	committed   string
	lastTS      int64 // source timestamp of the last transaction applied
	inTxn       bool  // a target transaction is open
	atBoundary  bool
	pendingRows int
	firstDirty  time.Time
	batches     map[string]*tableBatch
	batchOrder  []string
	batchKeys   int
	events      int64
	txns        int64
}

func (r *runner) newFollower(tconn *conn, srcKS *router.Keyspace, tgtDB, flavor, pos string) (*follower, error) {
	gs, err := mysql.ParseGTIDSet(flavor, pos)
	if err != nil {
		return nil, fmt.Errorf("bad stream position %q: %w", pos, err)
	}
	return &follower{r: r, tconn: tconn, srcKS: srcKS, tgtDB: tgtDB, flavor: flavor,
		tables: map[string]*tableInfo{}, tgtCols: map[string]map[string]bool{}, batches: map[string]*tableBatch{},
		pos: gs, committed: pos, atBoundary: true}, nil
}

func gtidContains(flavor, have, want string) bool {
	h, err1 := mysql.ParseGTIDSet(flavor, have)
	w, err2 := mysql.ParseGTIDSet(flavor, want)
	if err1 != nil || err2 != nil {
		return false
	}
	return h.Contain(w)
}

// run streams from f.pos on srcAddr. It returns (nil, nil) when stopAt is reached (stopAt ""
// means never), an EvDDL when a DDL on a moved table arrives (everything before it committed,
// r.ddl set), or an error.
func (f *follower) run(ctx context.Context, srcAddr, stopAt string) (Event, error) {
	if stopAt != "" && gtidContains(f.flavor, f.committed, stopAt) {
		return nil, nil
	}
	host, port, err := backendaddr.HostPort(srcAddr)
	if err != nil {
		return nil, err
	}
	id := f.r.e.cfg.ServerIDBase + serverIDSeq.Add(1)
	user, password := f.srcKS.Admin()
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: id, Flavor: f.flavor, Host: host, Port: port,
		User: user, Password: password,
		HeartbeatPeriod: time.Second, ReadTimeout: 5 * time.Second,
		DisableRetrySync: true, TimestampStringLocation: time.UTC,
		Logger:    f.r.e.quietLog,
		TLSConfig: backendaddr.TLS(f.r.e.cfg.BackendTLS, srcAddr),
	})
	defer syncer.Close()
	streamer, err := syncer.StartSyncGTID(f.pos.Clone())
	if err != nil {
		return nil, &connError{addr: srcAddr, err: err}
	}
	type item struct {
		ev  *replication.BinlogEvent
		err error
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan item, 1024)
	go func() {
		for {
			ev, err := streamer.GetEvent(sctx)
			select {
			case ch <- item{ev, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer f.rollback()
	ticker := time.NewTicker(idleFlush)
	defer ticker.Stop()
	var sync *syncRequest
	// serve advances a VDIFF request; call it only at a transaction boundary.
	serve := func() error {
		if sync == nil {
			return nil
		}
		if sync.pos == "" {
			if err := f.commit(); err != nil {
				return err
			}
			p, err := sync.Snapshot(srcAddr)
			if err == nil && !gtidContains(f.flavor, p, f.committed) {
				err = fmt.Errorf("source snapshot position %s is behind the stream position %s", p, f.committed)
			}
			if err != nil {
				sync.Reply <- err
				sync = nil
				return nil
			}
			sync.pos = p
		}
		if gtidContains(f.flavor, f.pos.String(), sync.pos) {
			if err := f.commit(); err != nil {
				return err
			}
			sync.Reply <- sync.Fn()
			sync = nil
		}
		return nil
	}
	f.r.setStreamAddr(srcAddr)
	for {
		var it item
		select {
		case it = <-ch:
		default:
			// Nothing buffered: the batch ends here.
			if f.atBoundary {
				if err := f.commit(); err != nil {
					return nil, err
				}
				f.r.setLag(0, f.lastTS)
				if stopAt != "" && gtidContains(f.flavor, f.pos.String(), stopAt) {
					if err := f.flushPos(); err != nil {
						return nil, err
					}
					return nil, nil
				}
				if err := serve(); err != nil {
					return nil, err
				}
			}
			select {
			case it = <-ch:
			case <-ticker.C:
				if f.atBoundary && !f.inTxn && f.pos.String() != f.committed {
					if err := f.flushPos(); err != nil {
						return nil, err
					}
				}
				continue
			case req := <-f.r.syncCh:
				if sync != nil {
					req.Reply <- errors.New("another VDIFF is synchronizing")
					continue
				}
				sync = req
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if it.err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &connError{addr: srcAddr, err: fmt.Errorf("binlog stream: %w", it.err)}
		}
		ev, err := f.handle(it.ev)
		if err != nil || ev != nil {
			return ev, err
		}
		if f.atBoundary {
			if stopAt != "" && gtidContains(f.flavor, f.pos.String(), stopAt) {
				// Persist exactly stopAt, even when no moved table changed on the way.
				if err := f.flushPos(); err != nil {
					return nil, err
				}
				return nil, nil
			}
			if err := serve(); err != nil {
				return nil, err
			}
			if f.pendingRows >= maxBatchRows || (!f.firstDirty.IsZero() && time.Since(f.firstDirty) > maxBatchDelay) {
				if err := f.commit(); err != nil {
					return nil, err
				}
				if ts := f.lastTS; ts > 0 {
					f.r.setLag(max(0, time.Since(time.Unix(ts, 0)).Seconds()), ts)
				}
			}
		}
	}
}

// handle applies one event. It returns an EvDDL for a DDL on a moved table.
func (f *follower) handle(be *replication.BinlogEvent) (Event, error) {
	switch ev := be.Event.(type) {
	case *replication.TransactionPayloadEvent:
		// MySQL binlog_transaction_compression: the transaction's events are inside.
		for _, inner := range ev.Events {
			if out, err := f.handle(inner); err != nil || out != nil {
				return out, err
			}
		}
	case *replication.MariadbGTIDEvent, *replication.GTIDEvent:
		f.atBoundary = false
	case *replication.RowsEvent:
		f.atBoundary = false
		if string(ev.Table.Schema) != f.srcKS.Database {
			return nil, nil
		}
		ti, ok := f.r.moved[strings.ToLower(string(ev.Table.Table))]
		if !ok {
			return nil, nil
		}
		return nil, f.rows(ti, ev)
	case *replication.XIDEvent:
		f.boundary(ev.GSet, be.Header.Timestamp)
	case *replication.QueryEvent:
		q := strings.TrimSpace(string(ev.Query))
		switch strings.ToUpper(q) {
		case "BEGIN":
			f.atBoundary = false
			return nil, nil
		case "COMMIT":
			f.boundary(ev.GSet, be.Header.Timestamp)
			return nil, nil
		}
		if tables := ddlTables(q, string(ev.Schema)); tables != nil {
			for _, t := range tables {
				if t.db == f.srcKS.Database {
					if _, ok := f.r.moved[strings.ToLower(t.name)]; ok {
						// Commit everything before the DDL, then let the state machine decide.
						if err := f.commit(); err != nil {
							return nil, err
						}
						after := f.committed
						if ev.GSet != nil {
							after = ev.GSet.String()
						}
						f.r.ddl = &pendingDDL{Stmt: q, Schema: string(ev.Schema), PosAfter: after, TS: int64(be.Header.Timestamp)}
						return EvDDL{Stmt: q}, nil
					}
				}
			}
		}
		f.boundary(ev.GSet, be.Header.Timestamp)
	}
	return nil, nil
}

func (f *follower) boundary(gs mysql.GTIDSet, ts uint32) {
	f.atBoundary = true
	if gs != nil {
		f.pos = gs.Clone()
	}
	if ts > 0 {
		f.lastTS = int64(ts)
	}
	f.txns++
}

func (f *follower) rows(ti *tableInfo, ev *replication.RowsEvent) error {
	names := ev.Table.ColumnNameString()
	if len(names) == 0 && len(ev.Rows) > 0 {
		if len(ti.allNames) != len(ev.Rows[0]) {
			return fmt.Errorf("table %s: binlog row has %d columns, schema has %d (enable binlog_row_metadata=FULL)", ti.Name, len(ev.Rows[0]), len(ti.allNames))
		}
		names = ti.allNames
	}
	tcols, err := f.targetColumns(ti.Name)
	if err != nil {
		return err
	}
	apply := func(n string) bool { return tcols[strings.ToLower(n)] && !ti.generated[strings.ToLower(n)] }
	keyIdx := make([]int, len(ti.Key))
	for i, k := range ti.Key {
		keyIdx[i] = -1
		for j, n := range names {
			if strings.EqualFold(n, ti.Columns[k].Name) {
				keyIdx[i] = j
			}
		}
		if keyIdx[i] < 0 {
			return fmt.Errorf("table %s: key column %s missing from binlog row", ti.Name, ti.Columns[k].Name)
		}
	}
	cols := make([]*column, len(names))
	var outCols []string
	for j, n := range names {
		cols[j] = ti.col(n)
		if apply(n) {
			outCols = append(outCols, n)
		}
	}
	render := func(row []any) []string {
		vals := make([]string, 0, len(outCols))
		for j, n := range names {
			if apply(n) && j < len(row) {
				vals = append(vals, valueLiteral(cols[j], row[j]))
			}
		}
		return vals
	}
	key := func(row []any) []string {
		k := make([]string, len(keyIdx))
		for i, j := range keyIdx {
			k[i] = valueLiteral(cols[j], row[j])
		}
		return k
	}
	tb := f.batches[strings.ToLower(ti.Name)]
	if tb == nil {
		tb = &tableBatch{ti: ti, final: map[string]*op{}}
		f.batches[strings.ToLower(ti.Name)] = tb
		f.batchOrder = append(f.batchOrder, strings.ToLower(ti.Name))
	}
	add := func(o *op) {
		k := strings.Join(o.key, "\x00")
		if _, ok := tb.final[k]; !ok {
			tb.order = append(tb.order, k)
			f.batchKeys++
		}
		tb.final[k] = o
		f.pendingRows++
		f.events++
		if f.firstDirty.IsZero() {
			f.firstDirty = time.Now()
		}
	}
	switch ev.Type() {
	case replication.EnumRowsEventTypeInsert:
		for _, row := range ev.Rows {
			add(&op{cols: outCols, vals: render(row), key: key(row)})
		}
	case replication.EnumRowsEventTypeDelete:
		for _, row := range ev.Rows {
			add(&op{delete: true, key: key(row)})
		}
	case replication.EnumRowsEventTypeUpdate:
		for i := 0; i+1 < len(ev.Rows); i += 2 {
			before, after := key(ev.Rows[i]), key(ev.Rows[i+1])
			if !slicesEqual(before, after) {
				add(&op{delete: true, key: before})
			}
			add(&op{cols: outCols, vals: render(ev.Rows[i+1]), key: after})
		}
	}
	if f.batchKeys >= maxBatchKeys {
		// Bounded memory inside one huge source transaction: apply now, commit at its end.
		return f.flushOps()
	}
	return nil
}

// maxBatchKeys bounds the keys held before they are sent (the target transaction stays open).
const maxBatchKeys = 5000

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (f *follower) targetColumns(table string) (map[string]bool, error) {
	if m, ok := f.tgtCols[strings.ToLower(table)]; ok {
		return m, nil
	}
	r, err := f.tconn.exec(fmt.Sprintf("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", quote(f.tgtDB), quote(table)))
	if err != nil {
		return nil, err
	}
	m := map[string]bool{}
	for i := range r.RowNumber() {
		n, _ := r.GetString(i, 0)
		m[strings.ToLower(n)] = true
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("target table %s.%s does not exist", f.tgtDB, table)
	}
	f.tgtCols[strings.ToLower(table)] = m
	return m, nil
}

func (f *follower) begin() error {
	if f.inTxn {
		return nil
	}
	if _, err := f.tconn.exec("BEGIN"); err != nil {
		return err
	}
	f.inTxn, f.firstDirty = true, time.Now()
	return nil
}

// flushOps sends the batch: per table, one multi-row DELETE of the keys whose final state is
// "absent" (of every touched key when the table has other unique keys, so that no final image
// can collide with a stale one), then multi-row upserts of the final images.
func (f *follower) flushOps() error {
	if f.batchKeys == 0 {
		return nil
	}
	if err := f.begin(); err != nil {
		return err
	}
	for _, name := range f.batchOrder {
		tb := f.batches[name]
		var dels, ups []*op
		for _, k := range tb.order {
			o := tb.final[k]
			if o.delete || tb.ti.OtherUnique {
				dels = append(dels, o)
			}
			if !o.delete {
				ups = append(ups, o)
			}
		}
		for i := 0; i < len(dels); i += 500 {
			if _, err := f.tconn.exec(deleteSQL(f.tgtDB, tb.ti, dels[i:min(len(dels), i+500)])); err != nil {
				return err
			}
		}
		for i := 0; i < len(ups); {
			j := i + 1
			size := 0
			for j < len(ups) && j-i < 1000 && size < maxStatementBytes && slicesEqual(ups[j].cols, ups[i].cols) {
				for _, v := range ups[j].vals {
					size += len(v)
				}
				j++
			}
			if _, err := f.tconn.exec(upsertSQL(f.tgtDB, tb.ti.Name, ups[i].cols, ups[i:j])); err != nil {
				return err
			}
			i = j
		}
	}
	clear(f.batches)
	f.batchOrder = f.batchOrder[:0]
	f.batchKeys = 0
	return nil
}

func upsertSQL(db, table string, cols []string, ops []*op) string {
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(ident(db) + "." + ident(table) + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(ident(c))
	}
	b.WriteString(") VALUES ")
	for i, o := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		b.WriteString(strings.Join(o.vals, ","))
		b.WriteByte(')')
	}
	b.WriteString(onDupSuffix(cols))
	return b.String()
}

func onDupSuffix(cols []string) string {
	var b strings.Builder
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(ident(c) + "=VALUES(" + ident(c) + ")")
	}
	return b.String()
}

func deleteSQL(db string, ti *tableInfo, ops []*op) string {
	var b strings.Builder
	b.WriteString("DELETE FROM " + ident(db) + "." + ident(ti.Name) + " WHERE ")
	if len(ti.Key) == 1 {
		c := ti.Columns[ti.Key[0]]
		b.WriteString(ident(c.Name) + " IN (")
		for i, o := range ops {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(keyLiteral(c, o.key[0]))
		}
		b.WriteString(")")
		return b.String()
	}
	for i, o := range ops {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('(')
		for k, ki := range ti.Key {
			if k > 0 {
				b.WriteString(" AND ")
			}
			c := ti.Columns[ki]
			b.WriteString(ident(c.Name) + "=" + keyLiteral(c, o.key[k]))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// commit makes everything applied so far durable together with the position.
func (f *follower) commit() error {
	if err := f.flushOps(); err != nil {
		return err
	}
	if !f.inTxn {
		return nil
	}
	pos := f.pos.String()
	if _, err := f.tconn.exec(updatePosSQL(f.r.ref, pos, f.lastTS)); err != nil {
		return err
	}
	if _, err := f.tconn.exec("COMMIT"); err != nil {
		return err
	}
	f.inTxn = false
	f.committed = pos
	f.r.applied(f.events, f.txns, pos)
	f.events, f.txns, f.pendingRows = 0, 0, 0
	f.firstDirty = time.Time{}
	return nil
}

// flushPos commits and records the position even when only events that touched no moved
// table advanced it.
func (f *follower) flushPos() error {
	if !f.inTxn && f.batchKeys == 0 && f.pos.String() == f.committed {
		return nil
	}
	if err := f.begin(); err != nil {
		return err
	}
	return f.commit()
}

func (f *follower) rollback() {
	if f.inTxn {
		f.tconn.Execute("ROLLBACK")
		f.inTxn = false
	}
	clear(f.batches)
	f.batchOrder = f.batchOrder[:0]
	f.batchKeys = 0
}

// ddlTable is a table a DDL statement touches.
type ddlTable struct{ db, name string }

// ddlTables returns the tables a DDL statement changes (nil when q is not DDL). It is a small
// scanner rather than a full parser so that MariaDB-only syntax never makes us miss a DDL.
func ddlTables(q, defaultDB string) []ddlTable {
	toks := ddlTokens(q)
	if len(toks) == 0 {
		return nil
	}
	up := func(i int) string {
		if i < len(toks) {
			return strings.ToUpper(toks[i])
		}
		return ""
	}
	name := func(i int) (ddlTable, int) {
		if i >= len(toks) {
			return ddlTable{}, i
		}
		if i+2 < len(toks) && toks[i+1] == "." {
			return ddlTable{unq(toks[i]), unq(toks[i+2])}, i + 3
		}
		return ddlTable{defaultDB, unq(toks[i])}, i + 1
	}
	var out []ddlTable
	i := 1
	switch up(0) {
	case "ALTER", "OPTIMIZE", "REPAIR":
		for i < len(toks) && up(i) != "TABLE" {
			i++
		}
		if i >= len(toks) {
			return nil
		}
		t, _ := name(i + 1)
		return append(out, t)
	case "TRUNCATE":
		if up(1) == "TABLE" {
			i = 2
		}
		t, _ := name(i)
		return append(out, t)
	case "DROP", "RENAME", "CREATE":
		isIndex := false
		for i < len(toks) && up(i) != "TABLE" && up(i) != "TABLES" {
			if up(i) == "INDEX" {
				isIndex = true
				break
			}
			if up(i) == "VIEW" || up(i) == "DATABASE" || up(i) == "SCHEMA" || up(i) == "TRIGGER" || up(i) == "PROCEDURE" || up(i) == "FUNCTION" || up(i) == "USER" || up(i) == "EVENT" {
				return nil
			}
			i++
		}
		if isIndex {
			for i < len(toks) && up(i) != "ON" {
				i++
			}
			t, _ := name(i + 1)
			return append(out, t)
		}
		if i >= len(toks) {
			return nil
		}
		i++
		if up(i) == "IF" {
			i += 2
			if up(i) == "EXISTS" {
				i++
			}
		}
		for i < len(toks) {
			var t ddlTable
			t, i = name(i)
			out = append(out, t)
			if up(0) == "CREATE" {
				break
			}
			if up(i) == "TO" {
				i++
				continue
			}
			if i < len(toks) && toks[i] == "," {
				i++
				continue
			}
			break
		}
		return out
	}
	return nil
}

func unq(s string) string { return strings.Trim(s, "`") }

func ddlTokens(q string) []string {
	var out []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case c == '#' || (c == '-' && i+2 < len(q) && q[i+1] == '-' && q[i+2] == ' '):
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				return out
			}
			i += end
		case c == '`':
			end := strings.IndexByte(q[i+1:], '`')
			if end < 0 {
				return append(out, q[i:])
			}
			out = append(out, q[i:i+end+2])
			i += end + 2
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, "''")
			i = j + 1
		case isIdentChar(c):
			j := i
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			out = append(out, q[i:j])
			i = j
		default:
			out = append(out, string(c))
			i++
		}
		if len(out) > 64 {
			return out
		}
	}
	return out
}

// rewriteQualifier replaces the database qualifier from with to in a statement (`from`.t and
// from.t), leaving strings and comments alone: ON DDL EXEC runs the source's DDL on the target,
// whose database may have another name.
func rewriteQualifier(q, from, to string) string {
	if from == to {
		return q
	}
	var b strings.Builder
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				if q[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(q))
			b.WriteString(q[i:j])
			i = j
		case c == '`':
			end := strings.IndexByte(q[i+1:], '`')
			if end < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			tok := q[i : i+end+2]
			i += end + 2
			if tok[1:len(tok)-1] == from && i < len(q) && q[i] == '.' {
				tok = ident(to)
			}
			b.WriteString(tok)
		case isIdentChar(c):
			j := i
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			tok := q[i:j]
			if tok == from && j < len(q) && q[j] == '.' && (i == 0 || q[i-1] != '.') {
				tok = ident(to)
			}
			b.WriteString(tok)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}
