package proxy

import (
	"encoding/binary"
	"errors"
	"regexp"
	"strings"

	"github.com/vtgate-lite/vtgate-lite/planner"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Cross-keyspace execution (planner.CrossKeyspace): on one connection of the anchor
// keyspace, each pulled table becomes a temporary table of the same name (temporary tables
// shadow permanent ones, and are neither replicated nor binlogged in ROW format), filled
// from its own keyspace in bounded batches; then the anchor runs the client's statement
// and its response is relayed; then the temporary tables are dropped. Memory is bounded by
// one insert batch; max_rows_in_memory bounds how many rows one statement may pull.

const crossBatchBytes = 256 << 10

func (s *session) cross(rt *router.Table, pl *planner.Plan, more bool) (bool, error) {
	anchorPlan := &planner.Plan{Kind: planner.Route, Keyspace: pl.Keyspace, TabletType: pl.TabletType, Write: pl.Write}
	ac, pooled, err := s.conn(rt, anchorPlan)
	if err != nil {
		return true, s.writeErr(err)
	}
	k, _ := rt.Keyspace(pl.Keyspace)
	var created []string
	cleanup := func() {
		for _, t := range created {
			if _, err := ac.exec("DROP TEMPORARY TABLE IF EXISTS `" + k.Database + "`.`" + t + "`"); err != nil {
				ac.broken = true
			}
		}
		if pooled {
			ac.pool.put(ac)
		} else if ac.broken {
			s.drop(anchorPlan, ac, false)
		}
	}
	for _, pull := range pl.Pulls {
		created = append(created, pull.Table)
		if err := s.pull(rt, pl, pull, ac, k.Database); err != nil {
			cleanup()
			return true, s.writeErr(err)
		}
	}
	if s.queryLog != nil {
		*s.queryLog = append(*s.queryLog, loggedQuery{pl.Keyspace, pl.TabletType.String(), ac.pool.addr, pl.Query})
	}
	s.scratch = comQueryPayload(s.scratch, pl.Query)
	s.begin(ac, false)
	if err := ac.command(s.scratch); err != nil {
		s.end()
		cleanup()
		return true, s.writeErr(backendError(ac.pool.addr, err))
	}
	if pl.Write && s.inTx() {
		s.txWrites[pl.Keyspace] = true
	}
	res, err := relay(s.c, ac, relayFlags{more: more, setStatus: true, sessStatus: s.statusAfter(ac)})
	s.end()
	if err != nil {
		ac.broken = true
		cleanup()
		return true, err
	}
	cleanup()
	return res.err != nil, nil
}

// tableBody returns the column/index definition of a pulled table, for a temporary copy:
// SHOW CREATE TABLE without the name and foreign keys, cached per routing-table version.
// A table without BLOB/TEXT columns gets ENGINE=MEMORY: creating an InnoDB temporary table
// costs more than the whole pull of a thousand rows.
func (p *Proxy) tableBody(rt *router.Table, sc *backendConn, pull planner.Pull) (string, error) {
	key := ddlKey{rt.Version, pull.Keyspace, pull.Table}
	p.ddlMu.Lock()
	body, ok := p.ddls[key]
	p.ddlMu.Unlock()
	if ok {
		return body, nil
	}
	sk, _ := rt.Keyspace(pull.Keyspace)
	var ddl string
	err := sc.query("SHOW CREATE TABLE `"+sk.Database+"`.`"+pull.Table+"`", 1, func(_ []colInfo, row [][]byte) error {
		ddl = string(row[1])
		return nil
	})
	if err != nil {
		return "", err
	}
	i := strings.Index(ddl, "(")
	if !strings.HasPrefix(ddl, "CREATE TABLE") || i < 0 {
		return "", sqlerr.New(sqlerr.ERNotSupportedYet, "42000", "unsupported cross-keyspace query: %s.%s is not a base table", pull.Keyspace, pull.Table)
	}
	body = fkLine.ReplaceAllString(ddl[i:], "")
	if !blobCol.MatchString(body) {
		body = engineRE.ReplaceAllString(body, "ENGINE=MEMORY")
	}
	p.ddlMu.Lock()
	if p.ddls == nil || len(p.ddls) > 1000 {
		p.ddls = map[ddlKey]string{}
	}
	p.ddls[key] = body
	p.ddlMu.Unlock()
	return body, nil
}

func isTableFull(err error) bool {
	var e *sqlerr.Error
	return errors.As(err, &e) && e.Code == 1114
}

type ddlKey struct {
	version         uint64
	keyspace, table string
}

var (
	blobCol  = regexp.MustCompile(`(?i)\b(tiny|medium|long)?(blob|text)\b|\bjson\b|\bgeometry\b`)
	engineRE = regexp.MustCompile(`ENGINE=\w+`)
)

var fkLine = regexp.MustCompile(`(?m),\s*\n\s*CONSTRAINT [^\n]*FOREIGN KEY[^\n]*`)

// pull copies one table's rows (as the plan's query selects them) into a temporary table
// on the anchor connection ac.
func (s *session) pull(rt *router.Table, pl *planner.Plan, pull planner.Pull, ac *backendConn, anchorDB string) error {
	src := &planner.Plan{Kind: planner.Route, Keyspace: pull.Keyspace, TabletType: pl.TabletType}
	sc, pooled, err := s.conn(rt, src)
	if err != nil {
		return err
	}
	defer func() {
		if pooled {
			sc.pool.put(sc)
		}
	}()
	body, err := s.p.tableBody(rt, sc, pull)
	if err != nil {
		return err
	}
	ddl := "CREATE TEMPORARY TABLE `" + anchorDB + "`.`" + pull.Table + "` " + body
	if _, err := ac.exec(ddl); err != nil {
		return err
	}
	if s.queryLog != nil {
		*s.queryLog = append(*s.queryLog, loggedQuery{pull.Keyspace, pl.TabletType.String(), sc.pool.addr, pull.Query})
	}
	prefix := "INSERT INTO `" + anchorDB + "`.`" + pull.Table + "` VALUES "
	var batch []byte
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := ac.exec(string(batch))
		if isTableFull(err) {
			// The MEMORY copy outgrew max_heap_table_size: move it to InnoDB and go on.
			// MEMORY is not transactional: the rows before the full point are in. The retry
			// skips them (they are identical: the source table has a key).
			if _, err = ac.exec("ALTER TABLE `" + anchorDB + "`.`" + pull.Table + "` ENGINE=InnoDB"); err == nil {
				_, err = ac.exec("INSERT IGNORE" + string(batch[len("INSERT"):]))
			}
		}
		batch = batch[:0]
		return err
	}
	limit := s.p.cfg.MaxRowsInMemory
	rows := 0
	// Rows stream from the source connection while batches are sent on the anchor
	// connection (two sockets): memory holds one batch.
	err = sc.query(pull.Query, limit, func(cols []colInfo, row [][]byte) error {
		rows++
		if len(batch) == 0 {
			batch = append(batch, prefix...)
		} else {
			batch = append(batch, ',')
		}
		batch = appendRow(batch, cols, row)
		if len(batch) >= crossBatchBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// appendRow renders one text-protocol row as a VALUES tuple.
func appendRow(b []byte, cols []colInfo, row [][]byte) []byte {
	b = append(b, '(')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		if v == nil {
			b = append(b, "NULL"...)
			continue
		}
		if cols[i].charset == 63 {
			b = append(b, "_binary"...)
		}
		b = append(b, '\'')
		for _, c := range v {
			switch c {
			case 0:
				b = append(b, '\\', '0')
			case '\'':
				b = append(b, '\\', '\'')
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case 0x1a:
				b = append(b, '\\', 'Z')
			default:
				b = append(b, c)
			}
		}
		b = append(b, '\'')
	}
	return append(b, ')')
}

type colInfo struct {
	name    string
	charset uint16
	typ     byte
}

// query runs sql and calls fn for each row of its (single) text result set; more than
// maxRows rows (when > 0) is an error naming the limit.
func (b *backendConn) query(sql string, maxRows int, fn func([]colInfo, [][]byte) error) error {
	if err := b.command(comQueryPayload(make([]byte, 0, len(sql)+1), sql)); err != nil {
		return backendError(b.addr(), err)
	}
	pkt, err := b.readPacket()
	if err != nil {
		return backendError(b.addr(), err)
	}
	switch pkt[0] {
	case pktErr:
		return parseErrPacket(pkt)
	case pktOK:
		return nil
	}
	n, _ := lenencInt(pkt, 0)
	cols := make([]colInfo, n)
	for i := range cols {
		p, err := b.readPacket()
		if err != nil {
			return backendError(b.addr(), err)
		}
		cols[i] = parseColumnDef(p, b.extMeta)
	}
	if _, err := b.readPacket(); err != nil { // EOF after the columns
		return backendError(b.addr(), err)
	}
	rows := 0
	var cbErr error
	row := make([][]byte, n)
	for {
		p, err := b.readPacket()
		if err != nil {
			return backendError(b.addr(), err)
		}
		if p[0] == pktErr {
			return parseErrPacket(p)
		}
		if p[0] == pktEOF && len(p) < 9 {
			b.status = binary.LittleEndian.Uint16(p[3:5])
			return cbErr
		}
		if cbErr != nil {
			continue // drain the rest so the connection stays usable
		}
		rows++
		if maxRows > 0 && rows > maxRows {
			cbErr = sqlerr.New(sqlerr.ERTooManyRows, "HY000",
				"cross-keyspace query: more than %d rows to move between keyspaces (max_rows_in_memory); add a filter", maxRows)
			continue
		}
		pos := 0
		for i := range row {
			if p[pos] == 0xfb {
				row[i] = nil
				pos++
				continue
			}
			l, np := lenencInt(p, pos)
			row[i] = p[np : np+int(l)]
			pos = np + int(l)
		}
		cbErr = fn(cols, row)
	}
}

// parseColumnDef reads the name, character set and type of a column definition packet;
// extMeta says the connection negotiated MariaDB extended metadata (an extended type
// info string follows org_name).
func parseColumnDef(p []byte, extMeta bool) colInfo {
	pos := 0
	var name []byte
	fields := 6 // catalog, schema, table, org_table, name, org_name
	if extMeta {
		fields++
	}
	for i := 0; i < fields && pos < len(p); i++ {
		l, np := lenencInt(p, pos)
		if i == 4 && np+int(l) <= len(p) {
			name = p[np : np+int(l)]
		}
		pos = np + int(l)
	}
	pos++ // length of the fixed fields (0x0c)
	var c colInfo
	c.name = string(name)
	if pos+7 <= len(p) {
		c.charset = binary.LittleEndian.Uint16(p[pos:])
		c.typ = p[pos+6]
	}
	return c
}
