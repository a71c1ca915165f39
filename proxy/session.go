package proxy

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/planner"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// session is one client connection's state: its keyspace and tablet type, tracked
// settings, transaction, reserved connections and prepared statements.
type session struct {
	p    *Proxy
	c    *wire.Conn
	acct account // the backend account of the session's statements (its user's)

	keyspace   string
	tabletType router.TabletType

	settings    map[string]string // tracked variable -> SET statement (client's text)
	settingsKey string
	settingsSQL []string
	// charset are the character set group's SETs in the order set (NAMES first when set):
	// settings["names"] replays them all (sessionvars.go).
	charset []planner.Setting

	autocommit bool
	explicitTx bool
	beginSQL   string
	savepoints []string
	txConns    map[string]*backendConn // keyspace -> connection inside the transaction
	txWrites   map[string]bool
	reserved   map[string]*backendConn // keyspace/tablet type -> connection kept for session state

	stmts      map[uint32]*clientStmt
	nextStmtID uint32

	// queryLog records backend queries for VEXPLAIN QUERIES (nil when not recording).
	queryLog *[]loggedQuery

	// running is the statement in flight, for timeouts and client-gone detection.
	runMu   sync.Mutex
	running runningQuery
	// admitted are the tables of the statement in flight and txTables those the open
	// transaction touched: a traffic switch drains both (guarded by runMu).
	admitted []string
	txTables map[string]bool

	scratch []byte // reused to build backend command packets

	txLost string // keyspace whose transaction connection was lost ("" when none)

	xaID  string // the open two-phase transaction's gtrid ("" when none)
	xaSeq int

	sqlMode sessionMode // how the session's server reads statement text (sqlmode.go)
	act     activity    // what SHOW PROCESSLIST shows (processlist.go)
	cmdSQL  string      // the COM_QUERY text being run (set by busy)
}

type runningQuery struct {
	active   bool
	start    time.Time
	conn     *backendConn
	noWatch  bool
	watching chan struct{}
	killed   bool
	killDone chan struct{} // closed when a KILL QUERY of this statement has been sent
}

type loggedQuery struct {
	keyspace, tabletType, addr, sql string
}

type clientStmt struct {
	id         uint32
	query      string
	params     uint16
	columns    uint16
	paramTypes []byte // 2 bytes per parameter, from the last execute that sent them
	longData   map[uint16][]byte
	local      bool // answered by the proxy (BEGIN, COMMIT, SET...)
}

func newSession(p *Proxy, c *wire.Conn) *session {
	return &session{p: p, c: c, acct: userAccount(c.User), autocommit: true, settings: map[string]string{},
		txConns: map[string]*backendConn{}, txWrites: map[string]bool{}, reserved: map[string]*backendConn{},
		stmts: map[uint32]*clientStmt{}}
}

func (s *session) inTx() bool { return s.explicitTx || !s.autocommit }

func (s *session) status() uint16 {
	var st uint16
	if s.autocommit {
		st |= statusAutocommit
	}
	if s.inTx() && (s.explicitTx || len(s.txConns) > 0) {
		st |= statusInTrans
	}
	return st | s.modeStatus()
}

func (s *session) close() {
	for ks, c := range s.txConns {
		c.pool.discard(c) // a client that leaves mid-transaction: the server rolls back on close
		delete(s.txConns, ks)
	}
	for k, c := range s.reserved {
		c.pool.discard(c)
		delete(s.reserved, k)
	}
	if s.explicitTx {
		s.explicitTx = false
		s.p.metrics.openTx.Dec()
	}
}

// command dispatches one client command packet.
func (s *session) command(pkt []byte) error {
	switch pkt[0] {
	case comQuery:
		return s.query(s.cmdSQL, pkt)
	case comInitDB:
		if err := s.use(string(pkt[1:])); err != nil {
			return s.writeErr(err)
		}
		return s.c.WriteOK(0, 0, s.status(), 0, "")
	case comFieldList:
		return s.fieldList(pkt)
	case comStmtPrepare:
		return s.prepare(string(pkt[1:]))
	case comStmtExecute:
		return s.execute(pkt)
	case comStmtSendLongData:
		s.longData(pkt)
		return nil // no response, by protocol
	case comStmtClose:
		if len(pkt) >= 5 {
			delete(s.stmts, binary.LittleEndian.Uint32(pkt[1:5]))
		}
		return nil // no response
	case comStmtReset:
		if len(pkt) >= 5 {
			if st := s.stmts[binary.LittleEndian.Uint32(pkt[1:5])]; st != nil {
				st.longData = nil
				return s.c.WriteOK(0, 0, s.status(), 0, "")
			}
		}
		return s.writeErr(sqlerr.New(sqlerr.ERUnknownStmtHandler, "HY000", "Unknown prepared statement handler given to mysqld_stmt_reset"))
	case comResetConnection:
		s.reset()
		return s.c.WriteOK(0, 0, s.status(), 0, "")
	case comChangeUser:
		if err := s.c.ChangeUser(pkt); err != nil {
			_ = s.writeErr(err)
			return err // the identity is unchanged, but the client expects a fresh session: close
		}
		s.reset() // a new user starts a new session: transactions rolled back, state dropped
		s.setKeyspace("", router.Primary)
		if s.c.DB != "" {
			if err := s.use(s.c.DB); err != nil {
				return s.writeErr(err)
			}
		}
		return s.c.WriteOK(0, 0, s.status(), 0, "")
	case comSetOption:
		if len(pkt) >= 3 {
			on := binary.LittleEndian.Uint16(pkt[1:3]) == 0
			if on {
				s.c.Capabilities |= clientMultiStatements
			} else {
				s.c.Capabilities &^= clientMultiStatements
			}
		}
		return s.c.WriteEOF(s.status(), 0)
	case comStatistics:
		return s.c.WritePacket([]byte(fmt.Sprintf("Uptime: 0  Threads: %d  vtgate-lite", s.p.server.ConnCount())))
	case comStmtFetch:
		return s.writeErr(sqlerr.Unsupported("cursors (COM_STMT_FETCH)"))
	}
	return s.writeErr(sqlerr.New(sqlerr.ERUnknownCom, "08S01", "Unknown command %d", pkt[0]))
}

const clientMultiStatements = 1 << 16
const clientLocalFiles = 1 << 7

func (s *session) writeErr(err error) error {
	e := sqlerr.FromError(err)
	s.p.metrics.errorCode(e.Code)
	return s.c.WriteErr(e)
}

func (s *session) reset() {
	s.close()
	s.explicitTx, s.autocommit = false, true
	s.settings, s.settingsKey, s.settingsSQL, s.charset = map[string]string{}, "", nil, nil
	s.savepoints = nil
	s.txLost = ""
	s.stmts = map[uint32]*clientStmt{}
	s.sqlMode = sessionMode{}
	_ = s.initCollation() // known already: the lookup is cached from the handshake
}

// use switches the session's keyspace ("ks" or "ks@type").
func (s *session) use(db string) error {
	rt := s.p.cfg.Routing.Load()
	pl, err := planner.Build(&sqlparser.Use{DBName: sqlparser.NewIdentifierCS(db)}, "", planner.Session{}, rt)
	if err != nil {
		return err
	}
	if err := s.check(pl); err != nil {
		return err
	}
	if pl.Keyspace != "" && !allowed(s.c.User, pl.Keyspace) {
		return sqlerr.DBAccessDenied(s.c.User.Name, userHost(s.c), pl.Keyspace)
	}
	tt := router.Primary
	if pl.UseType || pl.Keyspace == "" {
		tt = pl.TabletType
	}
	s.setKeyspace(pl.Keyspace, tt)
	s.sqlMode.ready = false // another keyspace's server: its default mode and version
	return nil
}

// setKeyspace changes the session's keyspace (its current database: "" = none) and tablet
// type: USE, COM_INIT_DB, COM_CHANGE_USER and a DROP DATABASE of the current one all pass
// here. Session state tracking of the current schema (CLIENT_SESSION_TRACK,
// SESSION_TRACK_SCHEMA) hooks in here: report a changed s.keyspace to clients that asked.
func (s *session) setKeyspace(ks string, tt router.TabletType) {
	s.keyspace, s.tabletType = ks, tt
}

// planSession is what planning a statement of this session depends on.
func (s *session) planSession() planner.Session {
	return planner.Session{Keyspace: s.keyspace, TabletType: s.tabletType, Mode: s.parseMode(), Default: s.p.cfg.DefaultKeyspace, ConnID: s.c.ID}
}

// query handles COM_QUERY, splitting multi-statements when the client allows them.
func (s *session) query(sql string, pkt []byte) error {
	if s.c.Capabilities&clientMultiStatements != 0 && strings.IndexByte(sql, ';') >= 0 {
		if pieces := planner.SplitStatements(sql, s.parseMode()); len(pieces) > 1 {
			for i, piece := range pieces {
				more := i < len(pieces)-1
				failed, err := s.statement(piece, nil, more)
				if err != nil || failed {
					return err
				}
			}
			return nil
		}
	}
	_, err := s.statement(sql, pkt, false)
	return err
}

// statement runs one statement; raw is the client's COM_QUERY packet when it can be
// forwarded unchanged. failed reports an error sent to the client (a multi-statement stops).
func (s *session) statement(sql string, raw []byte, more bool) (failed bool, err error) {
	if s.p.cfg.Admin != nil && maybeAdmin(sql) {
		if cmd, ok, perr := s.p.cfg.Admin.Parse(sql); ok {
			return s.admin(sql, cmd, perr, more)
		}
	}
	start := time.Now()
	rt := s.p.cfg.Routing.Load()
	e, err := s.p.plan(sql, s.planSession(), rt)
	if err != nil {
		return true, s.writeErr(err)
	}
	if err := s.check(e.plan); err != nil {
		return true, s.writeErr(err)
	}
	pl := e.plan
	if pl.Unparsed {
		s.p.unparsedSent.Inc()
	}
	if pl.Kind == planner.Route || pl.Kind == planner.CrossKeyspace {
		if e, rt, err = s.admit(e, sql, rt); err != nil {
			return true, s.writeErr(err)
		}
		defer s.leave()
		pl = e.plan
	}
	if pl.Kind == planner.CrossKeyspace {
		failed, err = s.cross(rt, pl, more)
	} else if pl.Kind == planner.Route {
		if pl.Query != "" {
			raw = nil
		}
		failed, err = s.route(rt, pl, sql, raw, more)
		s.afterRoute(pl, sql)
	} else {
		failed, err = s.local(rt, pl, sql, more)
	}
	e.queries.Inc()
	e.latency.Observe(time.Since(start).Seconds())
	return failed, err
}

// admit registers a routed statement's tables as in flight. While a traffic switch holds
// one of them, the statement waits (not registered, so the switch's drain does not wait
// for it) and is planned again once the hold ends. A session whose open transaction
// already touched a held table goes on: it is one of the transactions being drained.
func (s *session) admit(e *cachedPlan, sql string, rt *router.Table) (*cachedPlan, *router.Table, error) {
	for {
		tables := e.plan.Tables
		s.runMu.Lock()
		s.admitted = tables
		draining := s.txTouches(tables) || s.txTouchesHeld()
		s.runMu.Unlock()
		if len(tables) == 0 || !s.p.gate.active() || draining || !s.p.gate.covers(tables) {
			return e, rt, nil
		}
		// Not leave(): a held statement must not register its tables with the open
		// transaction, or the drain would wait for a transaction that waits for the hold.
		s.runMu.Lock()
		s.admitted = nil
		s.runMu.Unlock()
		if _, err := s.p.gate.wait(context.Background(), tables); err != nil {
			return nil, nil, err
		}
		rt = s.p.cfg.Routing.Load()
		var err error
		if e, err = s.p.plan(sql, s.planSession(), rt); err != nil {
			return nil, nil, err
		}
	}
}

// leave ends the in-flight registration; tables a transaction touched stay registered
// until it ends.
func (s *session) leave() {
	s.runMu.Lock()
	if s.inTx() && len(s.admitted) > 0 {
		if s.txTables == nil {
			s.txTables = map[string]bool{}
		}
		for _, t := range s.admitted {
			s.txTables[t] = true
		}
	}
	s.admitted = nil
	s.runMu.Unlock()
}

// txTouches reports whether the open transaction touched one of tables (runMu held).
func (s *session) txTouches(tables []string) bool {
	for _, t := range tables {
		if s.txTables[t] {
			return true
		}
	}
	return false
}

// txTouchesHeld reports whether the open transaction touched a table a switch holds now: its
// statements on the other held tables go on too, or the drain would wait for a transaction
// that waits for the hold (runMu held).
func (s *session) txTouchesHeld() bool {
	if len(s.txTables) == 0 || !s.p.gate.active() {
		return false
	}
	tables := make([]string, 0, len(s.txTables))
	for t := range s.txTables {
		tables = append(tables, t)
	}
	return s.p.gate.covers(tables)
}

// blocks reports whether this session has a statement or transaction on one of tables.
func (s *session) blocks(tables []string) (bool, string) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	for _, t := range tables {
		if s.txTables[t] {
			return true, "open transaction on " + t
		}
		for _, a := range s.admitted {
			if a == t {
				return true, "statement running on " + t
			}
		}
	}
	return false, ""
}

func maybeAdmin(sql string) bool {
	t := strings.TrimLeft(sql, " \t\r\n(")
	if len(t) < 5 {
		return false
	}
	switch t[0] | 0x20 {
	case 'm', 'v':
		return strings.EqualFold(t[:5], "migra") || strings.EqualFold(t[:5], "vdiff")
	case 's':
		u := strings.ToLower(t[:min(len(t), 20)])
		return strings.HasPrefix(u, "show migration") || strings.HasPrefix(u, "show vdiff") || strings.HasPrefix(u, "show vtgates")
	}
	return false
}

func (s *session) admin(sql string, cmd any, perr error, more bool) (bool, error) {
	if perr != nil {
		return true, s.writeErr(perr)
	}
	if !s.c.User.Admin {
		return true, s.writeErr(sqlerr.AdminOnly(strings.Fields(sql)[0]))
	}
	res, err := s.p.cfg.Admin.Exec(context.Background(), cmd)
	if err != nil {
		return true, s.writeErr(err)
	}
	return false, s.writeTable(res.Columns, res.Rows, more, res.Info)
}

// writeTable sends a proxy-made result (string columns).
func (s *session) writeTable(cols []string, rows [][]string, more bool, info string) error {
	st := s.status()
	if more {
		st |= statusMoreResults
	}
	if len(cols) == 0 {
		return s.c.WriteOK(0, 0, st, 0, info)
	}
	wc := make([]wire.Column, len(cols))
	for i, c := range cols {
		wc[i] = wire.Column{Name: c}
	}
	wr := make([][][]byte, len(rows))
	for i, r := range rows {
		wr[i] = make([][]byte, len(r))
		for j, v := range r {
			wr[i][j] = []byte(v)
		}
	}
	return s.c.WriteResult(wc, wr, st, false)
}

// conn finds the backend connection for a routed plan: the session's reserved one, its
// transaction's one, or a pooled one. pooled says the caller returns it to the pool.
func (s *session) conn(rt *router.Table, pl *planner.Plan) (c *backendConn, pooled bool, err error) {
	if !pl.NoDatabase && !allowed(s.c.User, pl.Keyspace) {
		return nil, false, sqlerr.DBAccessDenied(s.c.User.Name, userHost(s.c), pl.Keyspace)
	}
	var rkey string
	if len(s.reserved) > 0 || pl.Reserve != "" {
		rkey = pl.Keyspace + "@" + pl.TabletType.String()
	}
	// With autocommit=0 the server starts a transaction at the first statement that uses
	// one, not at a SET: SET TRANSACTION right after COMMIT must not find one open (1568).
	// After an explicit BEGIN it is open already, as on the server.
	startsTx := s.inTx() && pl.TabletType == router.Primary && (s.explicitTx || pl.Stmt != "set")
	if rc := s.reserved[rkey]; rc != nil {
		if err := s.reselect(rc); err != nil {
			return nil, false, err
		}
		if startsTx && s.txConns[pl.Keyspace] == nil {
			if err := s.beginOn(rc, pl); err != nil {
				return nil, false, err
			}
			s.txConns[pl.Keyspace] = rc
		}
		return rc, false, nil
	}
	if s.inTx() && s.txLost != "" {
		return nil, false, txLostError(s.txLost)
	}
	if tc := s.txConns[pl.Keyspace]; tc != nil && s.inTx() && pl.TabletType == router.Primary && !startsTx {
		// A SET inside an implicit transaction already open: on its connection.
		if pl.Reserve != "" {
			s.reserved[rkey] = tc
		}
		return tc, false, s.reselect(tc)
	}
	if startsTx {
		// Checked before reusing a connection: a keyspace first only read from must not
		// take writes once another keyspace has.
		if pl.Write && s.p.cfg.TransactionMode == "single" {
			for ks, w := range s.txWrites {
				if w && ks != pl.Keyspace {
					return nil, false, sqlerr.New(sqlerr.ERCantDoThisInTrx, "25000",
						"transaction_mode=single: this transaction already wrote in keyspace %s and cannot write in keyspace %s", ks, pl.Keyspace)
				}
			}
		}
		if tc := s.txConns[pl.Keyspace]; tc != nil {
			if err := s.reselect(tc); err != nil {
				return nil, false, err
			}
			if pl.Reserve != "" {
				s.reserved[rkey] = tc // it keeps the state after the transaction too
			}
			return tc, false, nil
		}
		pool, err := s.poolFor(rt, pl, router.Primary)
		if err != nil {
			return nil, false, err
		}
		tc, err := pool.get(context.Background(), s.settingsKey, s.settingsSQL)
		if err != nil {
			return nil, false, err
		}
		if err := s.beginOn(tc, pl); err != nil {
			pool.discard(tc)
			return nil, false, err
		}
		s.txConns[pl.Keyspace] = tc
		if pl.Reserve != "" {
			s.reserved[rkey] = tc
		}
		return tc, false, nil
	}
	pool, err := s.poolFor(rt, pl, pl.TabletType)
	if err != nil {
		return nil, false, err
	}
	pc, err := pool.get(context.Background(), s.settingsKey, s.settingsSQL)
	if err != nil {
		return nil, false, err
	}
	if pl.Reserve != "" {
		s.reserved[rkey] = pc
		return pc, false, nil
	}
	return pc, true, nil
}

// beginOn starts the session's transaction on c for the statement planned as pl. When pl
// reads and nothing else has to run first, the BEGIN is not a round trip of its own: it
// rides in front of the statement (backendConn.pending). If it failed there, the read has
// run outside any transaction, harmlessly, and command closes the connection.
func (s *session) beginOn(c *backendConn, pl *planner.Plan) error {
	ks := pl.Keyspace
	begin := s.beginSQL
	if begin == "" {
		begin = "begin"
	}
	if !pl.Write && pl.Reserve == "" && len(s.savepoints) == 0 && s.p.cfg.TransactionMode != "twopc" {
		c.pending = begin
		return nil
	}
	if s.p.cfg.TransactionMode == "twopc" {
		if s.xaID == "" {
			s.xaSeq++
			s.xaID = fmt.Sprintf("%s%s-%d-%d", xaPrefix, processTag, s.c.ID, s.xaSeq)
		}
		begin = "XA START " + xid(s.xaID, ks)
	}
	if _, err := c.exec(begin); err != nil {
		return err
	}
	for _, sp := range s.savepoints {
		if _, err := c.exec(sp); err != nil {
			return err
		}
	}
	return nil
}

// route sends a statement to its keyspace and relays the answer.
func (s *session) route(rt *router.Table, pl *planner.Plan, sql string, raw []byte, more bool) (bool, error) {
	if pl.LocalInfile && s.c.Capabilities&clientLocalFiles == 0 {
		return true, s.writeErr(sqlerr.New(1148, "42000", "The used command is not allowed with this MariaDB version (the client did not enable LOCAL INFILE)"))
	}
	for attempt := 0; ; attempt++ {
		bc, pooled, err := s.conn(rt, pl)
		if err != nil {
			// A replica that cannot be reached leaves the rotation at once; the read goes
			// to another server of its type (the health check brings it back).
			var de *dialError
			if errors.As(err, &de) && pl.TabletType != router.Primary && attempt < 3 {
				s.p.health.markDown(de.addr, err)
				continue
			}
			return true, s.writeErr(err)
		}
		failed, res, err := s.send(pl, bc, pooled, sql, raw, more)
		if err == nil {
			return failed, nil
		}
		if res.started {
			// The backend went away mid-response: the client's protocol state is unknown.
			return true, err
		}
		// Nothing reached the client: it stays usable. A connection that died in the pool
		// (backend restarted, idle timeout) is the usual cause: a read is retried on a
		// fresh connection (a replica's death also takes it out of rotation); a write is not
		// retried (it may have run) and gets a clean error.
		if pooled && !pl.Write && attempt < 3 && bc.broken {
			if pl.TabletType != router.Primary {
				s.p.health.markDown(bc.pool.addr, err)
			}
			continue
		}
		return true, s.writeErr(err)
	}
}

// send forwards one statement on bc and relays the answer; err is a network failure.
func (s *session) send(pl *planner.Plan, bc *backendConn, pooled bool, sql string, raw []byte, more bool) (bool, relayResult, error) {
	q := sql
	if pl.Query != "" {
		q = pl.Query
	}
	if s.queryLog != nil {
		*s.queryLog = append(*s.queryLog, loggedQuery{pl.Keyspace, pl.TabletType.String(), bc.pool.addr, q})
	}
	if raw == nil {
		s.scratch = comQueryPayload(s.scratch, q)
		raw = s.scratch
	}
	s.begin(bc, pl.LocalInfile)
	if err := bc.command(raw); err != nil {
		s.end()
		s.drop(pl, bc, pooled)
		return true, relayResult{}, backendError(bc.pool.addr, err)
	}
	if pl.Write && s.inTx() {
		s.txWrites[pl.Keyspace] = true
	}
	res, err := relay(s.c, bc, relayFlags{more: more, setStatus: true, sessStatus: s.statusAfter(bc), localFiles: s.c.Capabilities&clientLocalFiles != 0})
	killed := s.end()
	if err != nil {
		s.drop(pl, bc, pooled)
		if killed && !res.started {
			return true, res, sqlerr.Interrupted()
		}
		return true, res, err
	}
	if bc.status&statusInTrans == 0 && s.txConns[pl.Keyspace] == bc && !s.inTx() {
		delete(s.txConns, pl.Keyspace)
	}
	if pl.DatabaseDDL != "" && res.err == nil {
		s.databaseChanged(pl, res)
	}
	if pooled {
		bc.pool.put(bc)
	}
	return res.err != nil, res, nil
}

// statusAfter predicts the session status bits for the final packet: the relay patches
// them in before the response is written.
func (s *session) statusAfter(bc *backendConn) uint16 {
	st := uint16(0)
	if s.autocommit {
		st |= statusAutocommit
	}
	if s.inTx() {
		st |= statusInTrans
	}
	return st
}

// drop forgets a connection that failed. A transaction that loses its connection is
// gone on the server: the session remembers, so the transaction's later statements and
// its COMMIT fail instead of silently running in a new transaction.
func (s *session) drop(pl *planner.Plan, bc *backendConn, pooled bool) {
	for ks, c := range s.txConns {
		if c == bc {
			delete(s.txConns, ks)
			s.txLost = ks
		}
	}
	for k, c := range s.reserved {
		if c == bc {
			delete(s.reserved, k)
		}
	}
	bc.pool.discard(bc)
}

func (s *session) begin(bc *backendConn, noWatch bool) {
	s.runMu.Lock()
	s.running = runningQuery{active: true, start: time.Now(), conn: bc, noWatch: noWatch}
	s.runMu.Unlock()
}

// end marks the running statement finished; it reports whether it was killed.
func (s *session) end() bool {
	s.runMu.Lock()
	r := s.running
	s.running = runningQuery{}
	s.runMu.Unlock()
	if r.watching != nil {
		close(r.watching)
	}
	if r.killDone != nil {
		<-r.killDone // the connection must not go back to a pool before the KILL reached it
	}
	return r.killed
}

// watch is called by the reaper: it kills a statement past the timeout, and starts
// watching for the client's disconnect once a statement runs longer than a second.
func (s *session) watch(now time.Time, timeout time.Duration) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	r := &s.running
	if !r.active || r.killed {
		return
	}
	age := now.Sub(r.start)
	if timeout > 0 && age > timeout {
		r.killed = true
		go r.conn.pool.killQuery(r.conn.id)
		return
	}
	if age > time.Second && r.watching == nil && !r.noWatch {
		stop := make(chan struct{})
		r.watching = stop
		bc := r.conn
		go func() {
			if s.c.WaitClientGone(stop) {
				s.runMu.Lock()
				if s.running.conn == bc {
					s.running.killed = true
				}
				s.runMu.Unlock()
				_ = bc.pool.killQuery(bc.id)
			}
		}()
	}
}

// local executes plans the proxy answers itself.
func (s *session) local(rt *router.Table, pl *planner.Plan, sql string, more bool) (bool, error) {
	ok := func() (bool, error) {
		st := s.status()
		if more {
			st |= statusMoreResults
		}
		return false, s.c.WriteOK(0, 0, st, 0, "")
	}
	fail := func(err error) (bool, error) { return true, s.writeErr(err) }
	switch pl.Kind {
	case planner.Use:
		if err := s.use(pl.Keyspace + map[bool]string{true: "@" + pl.TabletName}[pl.UseType]); err != nil {
			return fail(err)
		}
		return ok()
	case planner.Set:
		if err := s.set(rt, pl); err != nil {
			return fail(err)
		}
		return ok()
	case planner.Begin:
		if s.inTx() && (len(s.txConns) > 0 || s.txLost != "") {
			if err := s.finish("commit"); err != nil { // MySQL commits an open transaction on BEGIN
				return fail(err)
			}
		}
		if !s.explicitTx {
			s.p.metrics.openTx.Inc()
		}
		s.explicitTx, s.beginSQL, s.savepoints = true, pl.BeginSQL, nil
		return ok()
	case planner.Commit, planner.Rollback:
		err := s.finish(strings.ToLower(string(pl.Kind)))
		if err != nil {
			return fail(err)
		}
		return ok()
	case planner.Savepoint:
		for _, c := range s.txConns {
			if _, err := c.exec(sql); err != nil {
				return fail(err)
			}
		}
		if s.inTx() {
			s.savepoints = append(s.savepoints, sql)
		}
		return ok()
	case planner.Unlock:
		for _, c := range s.reserved {
			if _, err := c.exec(sql); err != nil {
				return fail(err)
			}
		}
		return ok()
	case planner.ShowKeyspaces:
		var rows [][]string
		for _, n := range s.p.keyspaceNames(s.c.User, rt) {
			if pl.Like == "" || likeMatch(pl.Like, n) {
				rows = append(rows, []string{n})
			}
		}
		return false, s.writeTable([]string{"Database"}, rows, more, "")
	case planner.ShowVSchema:
		var rows [][]string
		for _, t := range rt.VSchemaTables(pl.Keyspace) {
			rows = append(rows, []string{t})
		}
		return false, s.writeTable([]string{"Tables"}, rows, more, "")
	case planner.SelectDatabase:
		cols := []wire.Column{{Name: pl.Column}}
		var v []byte
		if s.keyspace != "" {
			v = []byte(s.keyspace)
		}
		st := s.status()
		if more {
			st |= statusMoreResults
		}
		return false, s.c.WriteResult(cols, [][][]byte{{v}}, st, false)
	case planner.AlterVSchema:
		if !s.c.User.Admin {
			return fail(sqlerr.AdminOnly("ALTER VSCHEMA"))
		}
		table := pl.Tables[0][len(pl.Keyspace)+1:]
		rt, err := s.p.cfg.Routing.Update(func(sc *router.Schema) error {
			if pl.VSchemaAdd {
				sc.AddTable(pl.Keyspace, table)
			} else {
				if vs := sc.VSchema[pl.Keyspace]; vs == nil || vs.Tables[table] == nil {
					return sqlerr.New(sqlerr.ERNoSuchTable, "42S02", "table %s not found in the VSchema of keyspace %s", table, pl.Keyspace)
				}
				sc.DropTable(pl.Keyspace, table)
			}
			return nil
		})
		if err == nil && s.p.cfg.AwaitRouting != nil {
			err = s.p.cfg.AwaitRouting(context.Background(), rt)
		}
		if err != nil {
			return fail(err)
		}
		return ok()
	case planner.VExplain:
		return s.vexplain(rt, pl, more)
	case planner.ShowProcesslist, planner.Kill, planner.ShowSSLStatus:
		return s.sessionsLocal(pl, more)
	}
	return fail(sqlerr.Internal("unhandled plan kind %s", pl.Kind))
}

// finish commits or rolls back every keyspace's transaction, in keyspace-name order.
func txLostError(ks string) error {
	return sqlerr.New(2013, "HY000", "Lost connection to keyspace %s during the transaction: it was rolled back; ROLLBACK and retry", ks)
}

func (s *session) finish(verb string) error {
	if lost := s.txLost; lost != "" {
		s.txLost = ""
		if verb == "commit" {
			s.finishQuiet("rollback")
			return txLostError(lost)
		}
	}
	return s.finishQuiet(verb)
}

func (s *session) finishQuiet(verb string) error {
	if s.explicitTx {
		s.p.metrics.openTx.Dec()
	}
	s.explicitTx, s.beginSQL, s.savepoints = false, "", nil
	clear(s.txWrites)
	s.runMu.Lock()
	s.txTables = nil
	s.runMu.Unlock()
	names := sortedKeyspaces(s.txConns)
	var first error
	if s.xaID != "" {
		if verb == "commit" {
			first = s.commitTwoPC(names)
			if first != nil {
				for _, c := range s.txConns {
					c.broken = true // branch state unknown: never reuse
				}
			}
		} else {
			s.rollbackTwoPC(names)
		}
		s.xaID = ""
	}
	for _, ks := range names {
		c := s.txConns[ks]
		delete(s.txConns, ks)
		var err error
		if c.broken {
			err = first
		} else if first == nil && (s.p.cfg.TransactionMode != "twopc") {
			_, err = c.exec(verb)
		}
		if err != nil && first == nil {
			first = err
		}
		if s.isReserved(c) {
			continue
		}
		if err != nil {
			c.pool.discard(c)
		} else {
			c.pool.put(c)
		}
	}
	return first
}

func (s *session) isReserved(c *backendConn) bool {
	for _, r := range s.reserved {
		if r == c {
			return true
		}
	}
	return false
}

// set applies tracked settings: run first on one backend connection (the one holding the
// session's user variables when there is one: setConn), which validates them and computes
// values assigned from expressions; then remembered as literal SETs and replayed on every
// connection the session takes from a pool.
func (s *session) set(rt *router.Table, pl *planner.Plan) error {
	if len(pl.Settings) > 0 {
		c, held, err := s.setConn(rt)
		if err != nil {
			return err
		}
		applied, err := s.applySettings(c, pl.Settings)
		if err != nil {
			if !held {
				c.pool.discard(c) // its settings are now unknown
			}
			return err
		}
		s.settleSQLMode(c, applied)
		next, charset := s.trackSettings(applied)
		key, sqls := settingsKey(next)
		if !held {
			c.settings = key
			c.pool.put(c)
		}
		// Connections already held by the session get the new settings too.
		for _, h := range s.heldConns() {
			if h != c {
				for _, st := range applied {
					if _, err := h.exec(st.SQL); err != nil {
						return err
					}
				}
			}
			h.settings = key
		}
		s.settings, s.settingsKey, s.settingsSQL, s.charset = next, key, sqls, charset
	}
	if pl.Autocommit != nil {
		on := *pl.Autocommit
		if on && !s.autocommit && !s.explicitTx && len(s.txConns) > 0 {
			// SET autocommit=1 commits the implicit transaction, as on MySQL.
			if err := s.finish("commit"); err != nil {
				return err
			}
		}
		s.autocommit = on
	}
	return nil
}

// settingsKey orders settings by name: the key that buckets pooled connections, and the
// statements that produce it.
func settingsKey(settings map[string]string) (string, []string) {
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	sqls := make([]string, len(names))
	for i, n := range names {
		sqls[i] = settings[n]
	}
	return strings.Join(sqls, ";\x00"), sqls
}

// defaultCollation is the collation backend connections are opened with (utf8mb4_general_ci).
const defaultCollation = 45

// initCollation makes the client's handshake collation a tracked setting, so every backend
// connection the session uses speaks the client's character set.
func (s *session) initCollation() error {
	id := s.c.Collation
	if id == 0 || id == defaultCollation {
		return nil
	}
	stmt, err := s.p.collationSQL(id)
	if err != nil || stmt == "" {
		return err // unknown to the backend: it would fall back to its default too
	}
	s.settings["names"] = stmt
	s.charset = []planner.Setting{{Name: "names", Var: "names", SQL: stmt}}
	s.settingsKey, s.settingsSQL = settingsKey(s.settings)
	return nil
}

func (s *session) heldConns() []*backendConn {
	seen := map[*backendConn]bool{}
	var out []*backendConn
	for _, c := range s.txConns {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for _, c := range s.reserved {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// vexplain shows a plan (PLAN) or runs the statement and lists its backend queries (QUERIES).
func (s *session) vexplain(rt *router.Table, pl *planner.Plan, more bool) (bool, error) {
	inner := pl.Inner
	if pl.VExplainMode == "plan" {
		rows := [][]string{}
		if inner.Kind == planner.CrossKeyspace {
			for _, pull := range inner.Pulls {
				k, _ := rt.Keyspace(pull.Keyspace)
				rows = append(rows, []string{"Pull " + pull.Table, pull.Keyspace, inner.TabletType.String(), strings.Join(serversOf(k, inner.TabletType), ","), pull.Query, ""})
			}
			k, _ := rt.Keyspace(inner.Keyspace)
			rows = append(rows, []string{"Route (pulled tables as temporary tables)", inner.Keyspace, inner.TabletType.String(), strings.Join(serversOf(k, inner.TabletType), ","), inner.Query, strings.Join(inner.Rules, ",")})
		} else if inner.Kind == planner.Route && inner.NoDatabase {
			rows = append(rows, []string{"Route (no database selected)", "", inner.TabletType.String(), "", inner.Query, ""})
		} else if inner.Kind == planner.Route {
			k, _ := rt.Keyspace(inner.Keyspace)
			servers := []string{k.Primary}
			if inner.TabletType != router.Primary {
				servers = k.Servers(inner.TabletType)
			}
			op := "Route"
			if inner.Unparsed {
				op = "Route (unparsed: sent unchanged)"
			}
			rows = append(rows, []string{op, inner.Keyspace, inner.TabletType.String(), strings.Join(servers, ","), inner.Query, strings.Join(inner.Rules, ",")})
		} else {
			b, _ := json.Marshal(inner)
			rows = append(rows, []string{string(inner.Kind), inner.Keyspace, "", "", string(b), ""})
		}
		return false, s.writeTable([]string{"operator", "keyspace", "tablet_type", "servers", "query", "routing_rules"}, rows, more, "")
	}
	if inner.Kind != planner.Route && inner.Kind != planner.CrossKeyspace {
		return true, s.writeErr(sqlerr.Unsupported("VEXPLAIN QUERIES of a %s statement", inner.Kind))
	}
	// Run the statement with a discarding client writer is not possible on the wire;
	// run it through a private relay that drops the result.
	var log []loggedQuery
	s.queryLog = &log
	err := s.runDiscard(rt, inner)
	s.queryLog = nil
	if err != nil {
		return true, s.writeErr(err)
	}
	rows := make([][]string, len(log))
	for i, q := range log {
		rows[i] = []string{itoa(uint64(i)), q.keyspace, q.tabletType, q.addr, q.sql}
	}
	return false, s.writeTable([]string{"#", "keyspace", "tablet_type", "server", "query"}, rows, more, "")
}

// runDiscard executes a routed plan and reads its response without sending it to the
// client (VEXPLAIN QUERIES).
func (s *session) runDiscard(rt *router.Table, pl *planner.Plan) error {
	if pl.Kind == planner.CrossKeyspace {
		anchor := &planner.Plan{Kind: planner.Route, Keyspace: pl.Keyspace, TabletType: pl.TabletType}
		ac, pooled, err := s.conn(rt, anchor)
		if err != nil {
			return err
		}
		k, _ := rt.Keyspace(pl.Keyspace)
		for _, pull := range pl.Pulls {
			if err = s.pull(rt, pl, pull, ac, k.Database); err != nil {
				break
			}
		}
		if err == nil {
			*s.queryLog = append(*s.queryLog, loggedQuery{pl.Keyspace, pl.TabletType.String(), ac.pool.addr, pl.Query})
			_, err = ac.exec(pl.Query)
		}
		for _, pull := range pl.Pulls {
			if _, derr := ac.exec("DROP TEMPORARY TABLE IF EXISTS `" + k.Database + "`.`" + pull.Table + "`"); derr != nil {
				ac.broken = true
			}
		}
		if pooled {
			ac.pool.put(ac)
		}
		return err
	}
	bc, pooled, err := s.conn(rt, pl)
	if err != nil {
		return err
	}
	*s.queryLog = append(*s.queryLog, loggedQuery{pl.Keyspace, pl.TabletType.String(), bc.pool.addr, pl.Query})
	_, err = bc.exec(pl.Query)
	if pooled {
		bc.pool.put(bc)
	}
	return err
}

// fieldList answers COM_FIELD_LIST (the mariadb client's tab completion) from the table's keyspace.
func (s *session) fieldList(pkt []byte) error {
	body := pkt[1:]
	i := 0
	for i < len(body) && body[i] != 0 {
		i++
	}
	table := string(body[:i])
	rt := s.p.cfg.Routing.Load()
	ks := s.keyspace
	if ks == "" {
		ks = s.p.cfg.DefaultKeyspace
	}
	t, err := rt.Resolve("", table, ks, s.tabletType)
	if err != nil {
		return s.writeErr(err)
	}
	pl := &planner.Plan{Kind: planner.Route, Keyspace: t.Keyspace, TabletType: s.tabletType}
	bc, pooled, err := s.conn(rt, pl)
	if err != nil {
		return s.writeErr(err)
	}
	out := append([]byte{comFieldList}, t.Table...)
	out = append(out, body[i:]...)
	if err := bc.command(out); err != nil {
		s.drop(pl, bc, pooled)
		return s.writeErr(backendError(bc.pool.addr, err))
	}
	if err := relayFieldList(s.c, bc); err != nil {
		s.drop(pl, bc, pooled)
		return err
	}
	if pooled {
		bc.pool.put(bc)
	}
	return nil
}

func serversOf(k *router.Keyspace, tt router.TabletType) []string {
	if tt == router.Primary {
		return []string{k.Primary}
	}
	return k.Servers(tt)
}

func likeMatch(pattern, s string) bool {
	// SQL LIKE: % any run, _ one character; path.Match does the rest after translation.
	var b strings.Builder
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		case '*', '?', '[', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	ok, _ := path.Match(b.String(), s)
	return ok
}
