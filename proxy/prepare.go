package proxy

import (
	"encoding/binary"
	"strings"

	"github.com/vtgate-lite/vtgate-lite/planner"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Prepared statements are relayed in the binary protocol: a client statement id maps to
// a query text, and each backend connection prepares that text once (lazily, on first
// use) and keeps its own statement id. COM_STMT_EXECUTE is rewritten with the backend id
// and ALWAYS carries the parameter types, so re-execution without rebinding (which
// libmariadb clients such as sysbench do) reaches the backend with correct values on
// whichever pooled connection runs it. Long data is buffered in the proxy and sent to
// the backend connection right before the execute.

const maxStmtsPerConn = 256

func (s *session) prepare(query string) error {
	rt := s.p.cfg.Routing.Load()
	e, err := s.p.plan(query, s.planSession(), rt)
	if err != nil {
		return s.writeErr(err)
	}
	if err := s.check(e.plan); err != nil {
		return s.writeErr(err)
	}
	pl := e.plan
	if pl.Kind == planner.CrossKeyspace {
		return s.writeErr(sqlerr.New(sqlerr.ERNotSupportedYet, "42000", "unsupported cross-keyspace query: prepared statements (use the text protocol)"))
	}
	if pl.Kind != planner.Route {
		return s.prepareLocal(query, pl)
	}
	bc, pooled, err := s.conn(rt, pl)
	if err != nil {
		return s.writeErr(err)
	}
	q := query
	if pl.Query != "" {
		q = pl.Query
	}
	resp, err := bc.prepareStmt(q)
	if pooled {
		defer bc.pool.put(bc)
	}
	if err != nil {
		s.drop(pl, bc, pooled)
		pooled = false
		return s.writeErr(err)
	}
	if resp.err != nil {
		return s.writeErr(resp.err)
	}
	s.nextStmtID++
	st := &clientStmt{id: s.nextStmtID, query: query, params: resp.stmt.params, columns: resp.stmt.columns}
	s.stmts[st.id] = st
	ok := resp.fields[0]
	binary.LittleEndian.PutUint32(ok[1:5], st.id)
	for _, f := range resp.fields {
		if err := s.c.WritePacket(f); err != nil {
			return err
		}
	}
	return nil
}

// prepareLocal prepares a statement the proxy answers itself (BEGIN, COMMIT, SET, USE...:
// sysbench and many drivers prepare these). It has no parameters and answers OK.
func (s *session) prepareLocal(query string, pl *planner.Plan) error {
	switch pl.Kind {
	case planner.Begin, planner.Commit, planner.Rollback, planner.Savepoint, planner.Use, planner.Set, planner.Unlock:
	default:
		return s.writeErr(sqlerr.Unsupported("preparing a %s statement (use the text protocol)", pl.Kind))
	}
	if strings.Contains(query, "?") {
		return s.writeErr(sqlerr.Unsupported("parameters in a prepared %s statement", pl.Kind))
	}
	s.nextStmtID++
	st := &clientStmt{id: s.nextStmtID, query: query, local: true}
	s.stmts[st.id] = st
	ok := []byte{pktOK, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(ok[1:5], st.id)
	return s.c.WritePacket(ok)
}

// prepareStmt prepares q on this connection (or reuses it) and returns the response.
func (b *backendConn) prepareStmt(q string) (prepareResponse, error) {
	if err := b.command(append([]byte{comStmtPrepare}, q...)); err != nil {
		return prepareResponse{}, backendError(b.addr(), err)
	}
	resp, err := readPrepare(b)
	if err != nil || resp.err != nil {
		return resp, err
	}
	if old := b.stmts[q]; old != nil {
		b.closeStmt(old.id)
	} else {
		b.stmtOrder = append(b.stmtOrder, q)
	}
	st := resp.stmt
	b.stmts[q] = &st
	if len(b.stmtOrder) > maxStmtsPerConn {
		oldest := b.stmtOrder[0]
		b.stmtOrder = b.stmtOrder[1:]
		if o := b.stmts[oldest]; o != nil {
			b.closeStmt(o.id)
			delete(b.stmts, oldest)
		}
	}
	return resp, nil
}

func (b *backendConn) closeStmt(id uint32) {
	var p [5]byte
	p[0] = comStmtClose
	binary.LittleEndian.PutUint32(p[1:], id)
	_ = b.command(p[:]) // no response by protocol
}

func (s *session) longData(pkt []byte) {
	if len(pkt) < 7 {
		return
	}
	st := s.stmts[binary.LittleEndian.Uint32(pkt[1:5])]
	if st == nil {
		return // no response is allowed; the execute will fail on the unknown id
	}
	param := binary.LittleEndian.Uint16(pkt[5:7])
	if st.longData == nil {
		st.longData = map[uint16][]byte{}
	}
	st.longData[param] = append(st.longData[param], pkt[7:]...)
}

func (s *session) execute(pkt []byte) error {
	if len(pkt) < 10 {
		return s.writeErr(sqlerr.New(sqlerr.ERMalformedPacket, "HY000", "Malformed communication packet (COM_STMT_EXECUTE)"))
	}
	st := s.stmts[binary.LittleEndian.Uint32(pkt[1:5])]
	if st == nil {
		return s.writeErr(sqlerr.New(sqlerr.ERUnknownStmtHandler, "HY000", "Unknown prepared statement handler (%d) given to mysqld_stmt_execute", binary.LittleEndian.Uint32(pkt[1:5])))
	}
	// Layout after the 10-byte header: null bitmap, new-params-bound flag, types, values.
	var nullmap, values []byte
	if st.params > 0 {
		n := (int(st.params) + 7) / 8
		if len(pkt) < 10+n+1 {
			return s.writeErr(sqlerr.New(sqlerr.ERMalformedPacket, "HY000", "Malformed communication packet (COM_STMT_EXECUTE)"))
		}
		nullmap = pkt[10 : 10+n]
		pos := 10 + n
		bound := pkt[pos]
		pos++
		if bound == 1 {
			if len(pkt) < pos+2*int(st.params) {
				return s.writeErr(sqlerr.New(sqlerr.ERMalformedPacket, "HY000", "Malformed communication packet (COM_STMT_EXECUTE)"))
			}
			st.paramTypes = append(st.paramTypes[:0], pkt[pos:pos+2*int(st.params)]...)
			pos += 2 * int(st.params)
		} else if st.paramTypes == nil {
			return s.writeErr(sqlerr.New(sqlerr.ERWrongArguments, "HY000", "Incorrect arguments to mysqld_stmt_execute: parameter types were never sent"))
		}
		values = pkt[pos:]
	}
	rt := s.p.cfg.Routing.Load()
	sess := s.planSession()
	e, err := s.p.plan(st.query, sess, rt)
	if err != nil {
		return s.writeErr(err)
	}
	if err := s.check(e.plan); err != nil {
		return s.writeErr(err)
	}
	if st.local || e.plan.Kind != planner.Route {
		_, err := s.local(rt, e.plan, st.query, false)
		e.queries.Inc()
		return err
	}
	if e, rt, err = s.admit(e, st.query, rt); err != nil {
		return s.writeErr(err)
	}
	defer s.leave()
	pl := e.plan
	start := timeNow()
	if pl.Unparsed {
		s.p.unparsedSent.Inc()
	}
	failed, err := s.executeOn(rt, pl, st, nullmap, values)
	_ = failed
	s.afterRoute(pl, st.query)
	e.queries.Inc()
	e.latency.Observe(timeNow().Sub(start).Seconds())
	st.longData = nil
	return err
}

func (s *session) executeOn(rt *router.Table, pl *planner.Plan, st *clientStmt, nullmap, values []byte) (bool, error) {
	bc, pooled, err := s.conn(rt, pl)
	if err != nil {
		return true, s.writeErr(err)
	}
	q := st.query
	if pl.Query != "" {
		q = pl.Query
	}
	bs := bc.stmts[q]
	if bs == nil {
		resp, err := bc.prepareStmt(q)
		if err != nil {
			s.drop(pl, bc, pooled)
			return true, s.writeErr(err)
		}
		if resp.err != nil {
			if pooled {
				bc.pool.put(bc)
			}
			return true, s.writeErr(resp.err)
		}
		bs = bc.stmts[q]
	}
	if s.queryLog != nil {
		*s.queryLog = append(*s.queryLog, loggedQuery{pl.Keyspace, pl.TabletType.String(), bc.pool.addr, q})
	}
	for param, data := range st.longData {
		p := make([]byte, 7, 7+len(data))
		p[0] = comStmtSendLongData
		binary.LittleEndian.PutUint32(p[1:5], bs.id)
		binary.LittleEndian.PutUint16(p[5:7], param)
		if err := bc.command(append(p, data...)); err != nil {
			s.drop(pl, bc, pooled)
			return true, s.writeErr(backendError(bc.pool.addr, err))
		}
	}
	out := s.scratch[:0]
	out = append(out, comStmtExecute, 0, 0, 0, 0, 0, 1, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[1:5], bs.id)
	if st.params > 0 {
		out = append(out, nullmap...)
		out = append(out, 1)
		out = append(out, st.paramTypes...)
		out = append(out, values...)
	}
	s.scratch = out
	s.begin(bc, false)
	if err := bc.command(out); err != nil {
		s.end()
		s.drop(pl, bc, pooled)
		return true, s.writeErr(backendError(bc.pool.addr, err))
	}
	if pl.Write && s.inTx() {
		s.txWrites[pl.Keyspace] = true
	}
	res, err := relay(s.c, bc, relayFlags{setStatus: true, sessStatus: s.statusAfter(bc)})
	killed := s.end()
	if err != nil {
		s.drop(pl, bc, pooled)
		if killed {
			return true, s.writeErr(sqlerr.Interrupted())
		}
		return true, err
	}
	if pl.DatabaseDDL != "" && res.err == nil {
		s.databaseChanged(pl, res)
	}
	if pooled {
		bc.pool.put(bc)
	}
	return res.err != nil, nil
}
