package migration

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/vtgate-lite/vtgate-lite/router"
)

// copyCycleBudget bounds one copy cycle: after it the cycle ends, the next one snapshots again
// and fast-forwards the target, so the binlog backlog and the snapshot's age stay bounded.
var copyCycleBudget = 10 * time.Minute

// maxStatementBytes keeps multi-row statements well below max_allowed_packet.
const maxStatementBytes = 4 << 20

// snapshot starts a consistent-snapshot transaction on c and returns its exact binlog position.
func snapshot(ctx context.Context, c *conn, ks *router.Keyspace, flavor string) (string, error) {
	if _, err := c.exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
		return "", err
	}
	if flavor == mysql8 {
		// MySQL has no binlog_snapshot_*: hold a global read lock for the instant it takes to
		// open the snapshot and read gtid_executed.
		lk, err := dial(ctx, ks, c.addr, false)
		if err != nil {
			return "", err
		}
		defer lk.close()
		if _, err := lk.exec("FLUSH TABLES WITH READ LOCK"); err != nil {
			return "", err
		}
		defer lk.Execute("UNLOCK TABLES")
		if _, err := c.exec("START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return "", err
		}
		r, err := lk.exec("SELECT @@GLOBAL.gtid_executed")
		if err != nil {
			return "", err
		}
		pos, _ := r.GetString(0, 0)
		return strings.ReplaceAll(pos, "\n", ""), nil
	}
	if _, err := c.exec("START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return "", err
	}
	r, err := c.exec("SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return "", err
	}
	var file, off string
	for i := range r.RowNumber() {
		k, _ := r.GetString(i, 0)
		v, _ := r.GetString(i, 1)
		switch strings.ToLower(k) {
		case "binlog_snapshot_file":
			file = v
		case "binlog_snapshot_position":
			off = v
		}
	}
	if file == "" || off == "" {
		return "", fmt.Errorf("%s: binlog_snapshot_file/position unavailable (is the binary log on?)", c.addr)
	}
	r, err = c.exec(fmt.Sprintf("SELECT BINLOG_GTID_POS(%s, %s)", quote(file), off))
	if err != nil {
		return "", err
	}
	pos, _ := r.GetString(0, 0)
	return pos, nil
}

// snapshotTables opens a consistent snapshot on every connection in conns and returns one
// position valid for the moved tables in all of them. One connection: snapshot (no lock on
// MariaDB). Several: the moved tables are read-locked (FLUSH TABLES ... WITH READ LOCK waits
// for transactions writing them and blocks new writes), the snapshots start, the position is
// read, the lock is released: the moved tables are frozen in between, so every snapshot shows
// them at that position (other tables may move on; their events do not concern us).
func snapshotTables(ctx context.Context, conns []*conn, ks *router.Keyspace, tables []string, flavor string) (string, error) {
	if len(conns) == 1 {
		return snapshot(ctx, conns[0], ks, flavor)
	}
	lk, err := dial(ctx, ks, conns[0].addr, false)
	if err != nil {
		return "", err
	}
	defer lk.close()
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = ident(ks.Database) + "." + ident(t)
	}
	if _, err := lk.exec("SET SESSION lock_wait_timeout=10"); err != nil {
		return "", err
	}
	if _, err := lk.exec("FLUSH TABLES " + strings.Join(names, ", ") + " WITH READ LOCK"); err != nil {
		return "", err
	}
	defer lk.Execute("UNLOCK TABLES")
	for _, c := range conns {
		if _, err := c.exec("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			return "", err
		}
		if _, err := c.exec("START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return "", err
		}
	}
	q := "SELECT @@GLOBAL.gtid_binlog_pos"
	if flavor == mysql8 {
		q = "SELECT @@GLOBAL.gtid_executed"
	}
	r, err := lk.exec(q)
	if err != nil {
		return "", err
	}
	pos, _ := r.GetString(0, 0)
	return strings.ReplaceAll(pos, "\n", ""), nil
}

const (
	mariadb = "mariadb"
	mysql8  = "mysql"
)

func detectFlavor(c *conn) (string, error) {
	r, err := c.exec("SELECT VERSION()")
	if err != nil {
		return "", err
	}
	v, _ := r.GetString(0, 0)
	if strings.Contains(strings.ToLower(v), "mariadb") {
		return mariadb, nil
	}
	return mysql8, nil
}

// copyBatch is rows read from the snapshot, rendered, with the key of the last one.
type copyBatch struct {
	rows   [][]string
	lastpk []string
	done   bool
	err    error
}

// copyTable copies cs.Table from the snapshot on snap into the target until the table is done
// or deadline passes. Every batch commits with its copy_state row. It returns whether the table
// is done.
func (r *runner) copyTable(ctx context.Context, snap, tconn *conn, srcDB, tgtDB string, ti *tableInfo, cs *copyState, deadline time.Time, lagCheck func() error, writers int) (bool, error) {
	batchRows := r.e.cfg.CopyBatchRows
	reads := make(chan copyBatch, 1) // one batch in flight while the previous one is written
	rctx, cancel := context.WithCancel(ctx)
	readerDone := make(chan struct{})
	// The reader uses snap: it must have stopped before the caller closes or reuses it.
	defer func() { cancel(); <-readerDone }()
	send := func(b copyBatch) bool {
		select {
		case reads <- b:
			return true
		case <-rctx.Done():
			return false
		}
	}
	go func() {
		defer close(readerDone)
		defer close(reads)
		lastpk := cs.LastPK
		start, copied := time.Now(), int64(0)
		for {
			if err := lagCheck(); err != nil {
				send(copyBatch{err: err})
				return
			}
			if cap := r.e.cfg.CopyRowsPerSecond; cap > 0 {
				want := time.Duration(float64(copied) / float64(cap) * float64(time.Second))
				if d := want - time.Since(start); d > 0 {
					select {
					case <-time.After(d):
					case <-rctx.Done():
						return
					}
				}
			}
			q := "SELECT " + ti.columnList() + " FROM " + ident(srcDB) + "." + ident(ti.Name)
			if lastpk != nil {
				q += " WHERE " + ti.keyAfter(lastpk)
			}
			q += fmt.Sprintf(" ORDER BY %s LIMIT %d", ti.keyList(), batchRows)
			res, err := snap.exec(q)
			if err != nil {
				send(copyBatch{err: err})
				return
			}
			b := copyBatch{rows: make([][]string, 0, res.RowNumber())}
			for _, vals := range res.Values {
				row := make([]string, len(vals))
				for j := range vals {
					row[j] = fieldLiteral(ti.Columns[j], &vals[j])
				}
				b.rows = append(b.rows, row)
			}
			res.Close()
			b.done = len(b.rows) < batchRows
			if len(b.rows) > 0 {
				last := b.rows[len(b.rows)-1]
				b.lastpk = make([]string, len(ti.Key))
				for i, k := range ti.Key {
					b.lastpk[i] = last[k]
				}
				lastpk = b.lastpk
			}
			copied += int64(len(b.rows))
			if !send(b) {
				return
			}
			if b.done || time.Now().After(deadline) {
				return
			}
		}
	}()
	cols := make([]string, len(ti.Columns))
	for i, c := range ti.Columns {
		cols[i] = c.Name
	}
	suffix := onDupSuffix(cols)
	head := "INSERT INTO " + ident(tgtDB) + "." + ident(ti.Name) + " (" + ti.columnList() + ") VALUES "
	insert := func(c *conn, rows [][]string) error {
		var sb strings.Builder
		flush := func() error {
			if sb.Len() == 0 {
				return nil
			}
			sb.WriteString(suffix)
			_, err := c.exec(sb.String())
			sb.Reset()
			return err
		}
		for _, row := range rows {
			if sb.Len() == 0 {
				sb.Grow(min(maxStatementBytes+maxStatementBytes/4, rowsBytes(rows)+len(head)+len(suffix)))
				sb.WriteString(head)
			} else {
				sb.WriteByte(',')
			}
			sb.WriteByte('(')
			for j, v := range row {
				if j > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(v)
			}
			sb.WriteByte(')')
			if sb.Len() > maxStatementBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	}
	// Helper connections write the lower parts of a batch in parallel, each in its own
	// transaction; the top part is written on tconn in the same transaction as the copy_state
	// row, after the helpers committed. A crash in between leaves committed rows above lastpk:
	// they equal the source at the stored position, so the invariant (target rows = source rows
	// at pos) holds and the re-copy overwrites them with the same or newer images.
	var helpers []*conn
	defer func() {
		for _, h := range helpers {
			h.close()
		}
	}()
	for b := range reads {
		if b.err != nil {
			return false, b.err
		}
		parts := 1
		if len(b.rows) >= 2*minParallelRows {
			parts = min(writers, len(b.rows)/minParallelRows)
		}
		for len(helpers) < parts-1 {
			h, err := dial(ctx, r.tgtKS, r.tgtKS.Primary, true)
			if err != nil {
				return false, err
			}
			helpers = append(helpers, h)
		}
		size := (len(b.rows) + parts - 1) / parts
		errs := make(chan error, parts)
		for i := 0; i < parts-1; i++ {
			chunk := b.rows[i*size : (i+1)*size]
			h := helpers[i]
			go func() {
				var err error
				for attempt := 0; attempt < 3; attempt++ {
					if err = insert(h, chunk); err == nil || !isLockConflict(err) {
						break
					}
				}
				errs <- err
			}()
		}
		if _, err := tconn.exec("BEGIN"); err != nil {
			return false, err
		}
		err := insert(tconn, b.rows[(parts-1)*size:])
		for i := 0; i < parts-1; i++ {
			if herr := <-errs; herr != nil && err == nil {
				err = herr
			}
		}
		if err != nil {
			return false, err
		}
		if _, err := tconn.exec(updateCopyStateSQL(r.ref, ti.Name, b.lastpk, int64(len(b.rows)), b.done)); err != nil {
			return false, err
		}
		if _, err := tconn.exec("COMMIT"); err != nil {
			return false, err
		}
		r.copied(ti.Name, int64(len(b.rows)), cs, b.lastpk, b.done)
		if b.done {
			return true, nil
		}
	}
	return false, ctx.Err()
}

const minParallelRows = 1000

// rowsBytes is the statement size rows need (values, separators, parentheses).
func rowsBytes(rows [][]string) int {
	n := 0
	for _, row := range rows {
		n += 3 + len(row)
		for _, v := range row {
			n += len(v)
		}
	}
	return n
}

func isLockConflict(err error) bool {
	var me *mysql.MyError
	return errors.As(err, &me) && (me.Code == 1213 || me.Code == 1205)
}

var secondaryKeyRE = regexp.MustCompile("(?i)^\\s*(UNIQUE |FULLTEXT |SPATIAL )?(KEY|INDEX) ")

// splitSecondaryKeys removes secondary index definitions from a CREATE TABLE statement (except
// keep, the unique key used as row identity) and returns them as ALTER TABLE clauses.
func splitSecondaryKeys(create, keep string) (string, []string) {
	lines := strings.Split(create, "\n")
	var out, keys []string
	for _, l := range lines {
		if secondaryKeyRE.MatchString(l) && (keep == "" || !strings.Contains(l, "`"+keep+"`")) {
			def := strings.TrimSuffix(strings.TrimSpace(l), ",")
			keys = append(keys, "ADD "+def)
			continue
		}
		out = append(out, l)
	}
	// Fix a trailing comma left before the closing parenthesis.
	for i := len(out) - 1; i > 0; i-- {
		if strings.HasPrefix(strings.TrimSpace(out[i]), ")") {
			out[i-1] = strings.TrimSuffix(out[i-1], ",")
			break
		}
	}
	return strings.Join(out, "\n"), keys
}

// buildDeferredKeys adds the secondary keys removed at creation; IF NOT EXISTS makes a retry
// after a crash harmless.
func buildDeferredKeys(tconn *conn, ref WorkflowRef, tgtDB, table string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	adds := make([]string, len(keys))
	for i, k := range keys {
		adds[i] = addIfNotExists(k)
	}
	if _, err := tconn.exec("ALTER TABLE " + ident(tgtDB) + "." + ident(table) + " " + strings.Join(adds, ", ")); err != nil {
		return err
	}
	_, err := tconn.exec("UPDATE " + sidecarDB + ".copy_state SET deferred_keys=''" + csWhere(ref, table))
	return err
}

var addKeyRE = regexp.MustCompile("(?i)^ADD (UNIQUE |FULLTEXT |SPATIAL )?(KEY|INDEX) ")

func addIfNotExists(def string) string {
	return addKeyRE.ReplaceAllStringFunc(def, func(m string) string { return strings.TrimSuffix(m, " ") + " IF NOT EXISTS " })
}
