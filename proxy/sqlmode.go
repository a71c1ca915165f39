package proxy

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/vtgate-lite/vtgate-lite/planner"
	"github.com/vtgate-lite/vtgate-lite/router"
)

// The session's sql_mode decides how its server reads statement text (planner.Mode): the
// proxy parses as the server would. A session starts with the global default of its
// keyspace's primary (read once per server, below); a SET of sql_mode the proxy tracks is
// followed by asking the connection that ran it for @@session.sql_mode, so a value the proxy
// cannot evaluate (CONCAT(@@sql_mode, ',ANSI_QUOTES'), DEFAULT, a number) is known exactly.
// A change the proxy cannot follow (a SET it sends on a reserved connection, an unparsed
// statement that mentions sql_mode) makes the mode unknown: statements that would read
// differently under another mode then go through the unparsed-statement fallback.

// serverModes caches each primary's global sql_mode and version.
type serverModes struct {
	mu sync.Mutex
	m  map[string]modeEntry // primary address -> mode
}

type modeEntry struct {
	mode    planner.Mode
	expires time.Time // zero: for good (a failed read is retried after a while)
}

// backendMode returns the global default mode of keyspace ks's primary (the first keyspace
// when ks is ""), reading it once per server.
func (p *Proxy) backendMode(rt *router.Table, ks string) planner.Mode {
	if ks == "" {
		names := rt.KeyspaceNames()
		if len(names) == 0 {
			return planner.ModeUnknown
		}
		ks = names[0]
	}
	k, ok := rt.Keyspace(ks)
	if !ok {
		return planner.ModeUnknown
	}
	sm := &p.modes
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if e, ok := sm.m[k.Primary]; ok && (e.expires.IsZero() || time.Now().Before(e.expires)) {
		return e.mode
	}
	mode, err := p.readServerMode(k)
	e := modeEntry{mode: mode}
	if err != nil {
		e = modeEntry{mode: planner.ModeUnknown, expires: time.Now().Add(5 * time.Second)}
	}
	if sm.m == nil {
		sm.m = map[string]modeEntry{}
	}
	sm.m[k.Primary] = e
	return e.mode
}

func (p *Proxy) readServerMode(k *router.Keyspace) (planner.Mode, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := client.ConnectWithContext(ctx, k.Primary, k.User, k.Password, "", 3*time.Second, p.backendTLSOption(k.Primary))
	if err != nil {
		return 0, connectError(k.Primary, err)
	}
	defer c.Close()
	r, err := c.Execute("SELECT @@GLOBAL.sql_mode, @@version")
	if err != nil {
		return 0, backendError(k.Primary, err)
	}
	defer r.Close()
	mode, _ := r.GetString(0, 0)
	version, _ := r.GetString(0, 1)
	return planner.ParseSQLMode(mode).WithVersion(planner.VersionNumber(version)), nil
}

// sessionMode is what the session knows of its sql_mode.
type sessionMode struct {
	ready bool         // mode is computed for the current keyspace
	mode  planner.Mode // flags and version
	set   bool         // the session set sql_mode: flags are its own, not the server's default
	flags planner.Mode
}

// parseMode returns how the session's server reads text (cheap once computed: the hot path).
func (s *session) parseMode() planner.Mode {
	if s.sqlMode.ready {
		return s.sqlMode.mode
	}
	def := s.p.backendMode(s.p.cfg.Routing.Load(), s.keyspace)
	if s.sqlMode.set {
		def = s.sqlMode.flags.WithVersion(def.Version())
	}
	s.sqlMode.mode, s.sqlMode.ready = def, true
	return def
}

const (
	statusNoBackslashEscapes = 0x0200 // SERVER_STATUS_NO_BACKSLASH_ESCAPES
	statusANSIQuotes         = 0x8000 // MariaDB's SERVER_STATUS_ANSI_QUOTES
)

// modeStatus is the status bits a server sets in every OK and EOF for the session's
// sql_mode (SERVER_STATUS_NO_BACKSLASH_ESCAPES, MariaDB's SERVER_STATUS_ANSI_QUOTES), for
// the answers the proxy writes itself: a client library escapes strings by the first
// (mysql_real_escape_string). 0 while the mode is not known, or not yet read (no I/O here).
func (s *session) modeStatus() uint16 {
	m := s.sqlMode.flags
	if s.sqlMode.ready {
		m = s.sqlMode.mode
	} else if !s.sqlMode.set {
		return 0
	}
	var st uint16
	if m&planner.ModeUnknown != 0 {
		return 0
	}
	if m&planner.ModeNoBackslashEscapes != 0 {
		st |= statusNoBackslashEscapes
	}
	if m&planner.ModeANSIQuotes != 0 {
		st |= statusANSIQuotes
	}
	return st
}

// modeSet records the session's own sql_mode (planner.ModeUnknown when it cannot be known).
func (s *session) modeSet(flags planner.Mode) {
	s.sqlMode = sessionMode{set: true, flags: flags.Flags()}
}

// readSessionMode asks c, which has just run the session's SET of sql_mode, for the result.
// It returns a SET of that value as a literal ("" when it could not be read).
func (s *session) readSessionMode(c *backendConn) string {
	mode, lit := planner.ModeUnknown, ""
	_ = c.query("SELECT @@SESSION.sql_mode", 1, func(_ []colInfo, row [][]byte) error {
		if len(row) == 1 && row[0] != nil {
			v := string(row[0])
			mode = planner.ParseSQLMode(v)
			if strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_,") == "" { // mode names only: safe to quote
				lit = "SET SESSION sql_mode = '" + v + "'"
			}
		}
		return nil
	})
	s.modeSet(mode)
	return lit
}

// afterRoute notes a change of sql_mode the proxy sent without tracking it: a SET on a
// connection the session keeps, an unparsed statement. The mode is then unknown.
func (s *session) afterRoute(pl *planner.Plan, sql string) {
	if f := strings.Fields(sql); len(f) > 1 && strings.EqualFold(f[0], "SET") && strings.EqualFold(f[1], "STATEMENT") {
		return // SET STATEMENT ... FOR: that statement only
	}
	if (pl.Unparsed || pl.Stmt == "set") && containsFold(sql, "sql_mode") {
		s.modeSet(planner.ModeUnknown)
	}
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}

// settleSQLMode reads sql_mode back from c after a SET of it ran there: the session parses
// by the mode the server computed, and the tracked setting becomes that literal, so that
// CONCAT(@@sql_mode, ...) gives every pooled connection the session's value.
func (s *session) settleSQLMode(c *backendConn, applied []planner.Setting) {
	for i := range applied {
		if applied[i].Name != "sql_mode" {
			continue
		}
		if lit := s.readSessionMode(c); lit != "" {
			applied[i].SQL = lit
		}
		return
	}
}
