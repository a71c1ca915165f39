package proxy

import (
	"crypto/tls"
	"sort"
	"sync"
	"time"

	"github.com/vtgate-lite/vtgate-lite/planner"
	"github.com/vtgate-lite/vtgate-lite/proxy/wire"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// The proxy's own sessions, as SHOW PROCESSLIST, information_schema.PROCESSLIST and KILL see
// them: the session id is the one sent in the handshake (CONNECTION_ID()). The backends'
// connections are pooled and shared, and are never shown.

// activity is what other sessions may read about one session: its goroutine publishes it
// at every command's start and end (the session's own fields are not safe to read from
// another goroutine).
type activity struct {
	mu      sync.Mutex
	user    string
	db      string
	command byte // 0 = Sleep (between commands)
	since   time.Time
	info    string
}

// busy records the command the session starts; a COM_QUERY's text is kept in cmdSQL for
// the command itself (converted once).
func (s *session) busy(pkt []byte) {
	info := ""
	switch pkt[0] {
	case comQuery:
		s.cmdSQL = string(pkt[1:])
		info = s.cmdSQL
	case comStmtPrepare:
		info = string(pkt[1:])
	case comStmtExecute:
		if len(pkt) >= 5 {
			if st := s.stmts[uint32(pkt[1])|uint32(pkt[2])<<8|uint32(pkt[3])<<16|uint32(pkt[4])<<24]; st != nil {
				info = st.query
			}
		}
	}
	s.publish(pkt[0], info)
}

// idle records that the session waits for its next command.
func (s *session) idle() {
	s.cmdSQL = ""
	s.publish(0, "")
}

func (s *session) publish(cmd byte, info string) {
	now := time.Now()
	a := &s.act
	a.mu.Lock()
	a.command, a.since, a.info = cmd, now, info
	a.user, a.db = s.c.User.Name, s.keyspace
	a.mu.Unlock()
}

func (s *session) userName() string {
	s.act.mu.Lock()
	defer s.act.mu.Unlock()
	return s.act.user
}

var commandNames = map[byte]string{
	0: "Sleep", comQuery: "Query", comInitDB: "Init DB", comFieldList: "Field List", comStmtPrepare: "Prepare",
	comStmtExecute: "Execute", comStmtSendLongData: "Long Data", comStmtClose: "Close stmt", comStmtReset: "Reset stmt",
	comResetConnection: "Reset connection", comChangeUser: "Change user", comSetOption: "Set option",
	comStatistics: "Statistics", comStmtFetch: "Fetch",
}

// processRow describes the session at now.
func (s *session) processRow(now time.Time) planner.ProcessRow {
	s.act.mu.Lock()
	r := planner.ProcessRow{ID: uint64(s.c.ID), User: s.act.user, Host: "localhost", DB: s.act.db,
		Time: int64(now.Sub(s.act.since) / time.Second), Info: s.act.info}
	cmd := s.act.command
	s.act.mu.Unlock()
	if s.c.RemoteAddr != nil && s.c.RemoteAddr.String() != "" {
		r.Host = s.c.RemoteAddr.String()
	}
	r.Command = commandNames[cmd]
	if r.Command == "" {
		r.Command = "Unknown"
	}
	if cmd != 0 {
		s.runMu.Lock()
		running, killed := s.running.active, s.running.killed
		s.runMu.Unlock()
		switch {
		case killed:
			r.State = "killed"
		case running:
			r.State = "executing"
		default:
			r.State = "init"
		}
	}
	return r
}

// visibleSessions lists the sessions s's user may see: all for an admin, else those of
// the same user (MySQL without the PROCESS privilege).
func (s *session) visibleSessions() []*session {
	admin, me := s.c.User.Admin, s.c.User.Name
	s.p.sessMu.Lock()
	all := make([]*session, 0, len(s.p.sessions))
	for _, o := range s.p.sessions {
		all = append(all, o)
	}
	s.p.sessMu.Unlock()
	out := all[:0]
	for _, o := range all {
		if o == s || admin || o.userName() == me {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].c.ID < out[j].c.ID })
	return out
}

// processlist answers SHOW PROCESSLIST and SELECT ... FROM information_schema.PROCESSLIST.
func (s *session) processlist(pl *planner.Plan, more bool) (bool, error) {
	now := time.Now()
	visible := s.visibleSessions()
	rows := make([]planner.ProcessRow, len(visible))
	for i, o := range visible {
		rows[i] = o.processRow(now)
	}
	q := pl.Processlist
	cols := make([]wire.Column, len(q.Columns))
	for i, c := range q.Columns {
		cols[i] = wire.Column{Name: c.Name, Table: "PROCESSLIST"}
		if c.Numeric() {
			cols[i].Type, cols[i].Flags = wire.TypeLongLong, wire.FlagUnsigned|wire.FlagNotNull
		}
	}
	st := s.status()
	if more {
		st |= statusMoreResults
	}
	return false, s.c.WriteResult(cols, q.Result(rows), st, false)
}

func unknownThread(id uint64) error { return sqlerr.New(1094, "HY000", "Unknown thread id: %d", id) }

func notOwner(id uint64) error {
	return sqlerr.New(1095, "HY000", "You are not owner of thread %d", id)
}

// errSelfKilled closes the connection after KILL CONNECTION of the session itself.
var errSelfKilled = sqlerr.New(1927, "70100", "Connection was killed")

// kill runs KILL [QUERY|CONNECTION] id. A non-admin may kill only its own user's sessions.
func (s *session) kill(pl *planner.Plan, more bool) (bool, error) {
	k := pl.Kill
	s.p.sessMu.Lock()
	target := s.p.sessions[uint32(k.ID)]
	s.p.sessMu.Unlock()
	if target == nil || uint64(uint32(k.ID)) != k.ID {
		return true, s.writeErr(unknownThread(k.ID))
	}
	if !s.c.User.Admin && target != s && target.userName() != s.c.User.Name {
		return true, s.writeErr(notOwner(k.ID))
	}
	if target == s {
		if k.Query {
			return true, s.writeErr(sqlerr.Interrupted()) // the KILL itself is the statement killed
		}
		_ = s.writeErr(errSelfKilled)
		return true, errSelfKilled
	}
	if !k.Query {
		// Closed first: the statement interrupted below must not reach a client that is gone.
		_ = target.c.Close()
	}
	if err := target.killStatement(); err != nil {
		return true, s.writeErr(err)
	}
	st := s.status()
	if more {
		st |= statusMoreResults
	}
	return false, s.c.WriteOK(0, 0, st, 0, "")
}

// killStatement stops the statement the session runs on a backend (no-op when none): the
// backend answers it with 1317, which the session relays. The connection stays the
// session's until the kill is done (end waits), so the KILL QUERY never reaches a
// connection another session took meanwhile.
func (s *session) killStatement() error {
	s.runMu.Lock()
	r := &s.running
	if !r.active || r.killed {
		s.runMu.Unlock()
		return nil
	}
	r.killed = true
	done := make(chan struct{})
	r.killDone = done
	bc := r.conn
	s.runMu.Unlock()
	defer close(done)
	return bc.pool.killQuery(bc.id)
}

// sslStatus answers SHOW STATUS LIKE 'Ssl%' from the client's own connection: routed, it
// would describe the proxy's connection to a backend.
func (s *session) sslStatus(pl *planner.Plan, more bool) (bool, error) {
	cipher, version := "", ""
	if cs, ok := s.c.TLSConnectionState(); ok {
		cipher, version = tls.CipherSuiteName(cs.CipherSuite), tlsVersionName(cs.Version)
	}
	return false, s.writeTable([]string{"Variable_name", "Value"}, planner.SSLStatus(pl.Like, cipher, version), more, "")
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return ""
}

// sessionsLocal executes the plans about the proxy's sessions.
func (s *session) sessionsLocal(pl *planner.Plan, more bool) (bool, error) {
	switch pl.Kind {
	case planner.ShowProcesslist:
		return s.processlist(pl, more)
	case planner.Kill:
		return s.kill(pl, more)
	}
	return s.sslStatus(pl, more)
}
