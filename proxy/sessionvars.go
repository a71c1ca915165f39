package proxy

import (
	"context"
	"encoding/binary"
	"strings"

	"github.com/vtgate-lite/vtgate-lite/planner"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Session state that must survive multiplexing: settings assigned from expressions, the
// database a reused connection has selected, and sessions without a database.

// poolFor is the pool a routed plan takes connections from. A plan without a database
// (planner.Plan.NoDatabase) uses connections with no database selected, on the primary of
// the first keyspace the user may use: the server's answer for a session without one.
func (s *session) poolFor(rt *router.Table, pl *planner.Plan, tt router.TabletType) (*pool, error) {
	caps := clientConnCaps(s.c)
	if !pl.NoDatabase {
		return s.p.poolFor(rt, pl.Keyspace, tt, caps, s.acct)
	}
	for _, ks := range rt.KeyspaceNames() {
		if allowed(s.c.User, ks) {
			return s.p.poolOf(rt, ks, router.Primary, caps, s.acct, true)
		}
	}
	return nil, sqlerr.DBAccessDenied(s.c.User.Name, userHost(s.c), "")
}

// reselect makes a connection the session holds current after a CREATE/ALTER/DROP
// DATABASE ran through the proxy (pool.reselect). Only then is it a round trip.
func (s *session) reselect(c *backendConn) error {
	if c.pool == nil || c.pool.dbEpoch == nil || c.dbEpoch == c.pool.dbEpoch.Load() {
		return nil
	}
	return c.pool.reselect(c, s.settingsSQL)
}

// reselect selects the pool's database again on c when a CREATE/ALTER/DROP DATABASE ran
// since c selected it: a database dropped and created again has new defaults
// (@@character_set_database is read when a database is selected), and the connection that
// ran DROP DATABASE has none selected. MariaDB ignores USE of the database already selected,
// so c first selects information_schema, then the database: one round trip to check that it
// exists, one for both USEs. A database that does not exist (now) is left as it is: the
// server's answer to the statements that need it (a session whose database another one
// dropped). Settings that depend on the database selected (character_set_database,
// collation_database) are applied again. An error is a connection not to reuse.
func (p *pool) reselect(c *backendConn, settingsSQL []string) error {
	if p.dbEpoch == nil {
		return nil
	}
	epoch := p.dbEpoch.Load()
	if c.dbEpoch == epoch {
		return nil
	}
	c.dbEpoch = epoch
	db := p.opts.Database
	if db == "" {
		return nil
	}
	n, _, _, err := c.queryValue("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '" + strings.ReplaceAll(db, "'", "''") + "'")
	if err != nil {
		return err
	}
	if string(n) == "0" {
		return nil
	}
	if _, err := c.exec("USE information_schema; USE `" + strings.ReplaceAll(db, "`", "``") + "`"); err != nil {
		c.broken = true // dropped in between: the connection is left in information_schema
		return err
	}
	for _, q := range settingsSQL {
		if strings.Contains(strings.ToLower(q), "_database") {
			if _, err := c.exec(q); err != nil {
				c.broken = true
				return err
			}
		}
	}
	return nil
}

// databaseChanged follows a CREATE/ALTER/DROP DATABASE that succeeded: every pooled
// connection re-selects its database when next used, and a session whose current database
// was dropped has none, as on the server (DATABASE() is NULL; planner.SelectDatabase).
// DROP DATABASE IF EXISTS of a database that was not there only warns and changes nothing.
func (s *session) databaseChanged(pl *planner.Plan, res relayResult) {
	s.p.dbEpoch.Add(1)
	if pl.DatabaseDDL == "drop" && pl.KeyspaceDB && s.keyspace == pl.Keyspace && res.warnings == 0 {
		s.setKeyspace("", s.tabletType)
	}
}

// setConn is the connection a SET runs on first: the one that holds the session's user
// variables (reserved with them: the keyspace a SET @x went to, at primary), else any
// connection the session holds, else a pooled one with the session's settings. held says
// it is not returned to a pool.
func (s *session) setConn(rt *router.Table) (c *backendConn, held bool, err error) {
	sess := s.planSession()
	ks := sess.Keyspace
	if ks == "" {
		ks = sess.Default
	}
	if rc := s.reserved[ks+"@"+router.Primary.String()]; rc != nil {
		return rc, true, s.reselect(rc)
	}
	if hc := s.heldConns(); len(hc) > 0 {
		return hc[0], true, s.reselect(hc[0])
	}
	pl := &planner.Plan{Kind: planner.Route, Keyspace: ks, NoDatabase: ks == "", TabletType: router.Primary}
	if !pl.NoDatabase && !allowed(s.c.User, ks) {
		return nil, false, sqlerr.DBAccessDenied(s.c.User.Name, userHost(s.c), ks)
	}
	pool, err := s.poolFor(rt, pl, router.Primary)
	if err != nil {
		return nil, false, err
	}
	c, err = pool.get(context.Background(), s.settingsKey, s.settingsSQL)
	return c, false, err
}

// applySettings runs the plan's settings on c, in order. A setting assigned from an
// expression (planner.Setting.Eval) is read back from c and returned as the literal SET
// that gives every other connection the same value. On an error after some settings were
// applied, c gets the session's earlier values back (restore).
func (s *session) applySettings(c *backendConn, settings []planner.Setting) ([]planner.Setting, error) {
	out := make([]planner.Setting, len(settings))
	for i, st := range settings {
		if _, err := c.exec(st.SQL); err != nil {
			s.restore(c, settings[:i])
			return nil, err
		}
		if st.Eval {
			v, isNull, numeric, err := c.queryValue("SELECT @@session." + st.Var)
			if err != nil {
				s.restore(c, settings[:i+1])
				return nil, err
			}
			st.SQL = planner.LiteralSet(st.Var, v, isNull, numeric)
			st.Eval = false
		}
		out[i] = st
	}
	return out, nil
}

// restore undoes settings already applied to c: the session's tracked value, or the value
// a new backend connection has. If that fails, c is not reused.
func (s *session) restore(c *backendConn, applied []planner.Setting) {
	for _, st := range applied {
		q, ok := s.settings[st.Name]
		if !ok {
			q = "SET @@session." + st.Var + " = DEFAULT"
			if st.Name == "names" {
				q = "SET NAMES utf8mb4 COLLATE utf8mb4_general_ci" // as dialBackend opens them
			}
		}
		if _, err := c.exec(q); err != nil {
			c.broken = true
			return
		}
	}
}

// trackSettings merges applied (literal) settings into the session's tracked ones. The
// character set group is one key, replayed in the order set: SET NAMES or CHARSET starts
// it afresh, a single variable replaces its own earlier SET.
func (s *session) trackSettings(applied []planner.Setting) (map[string]string, []planner.Setting) {
	next := make(map[string]string, len(s.settings)+len(applied))
	for k, v := range s.settings {
		next[k] = v
	}
	charset := s.charset
	for _, st := range applied {
		if st.Name != "names" {
			next[st.Name] = st.SQL
			continue
		}
		if st.Var == "names" || st.Var == "charset" {
			charset = []planner.Setting{st}
		} else {
			kept := make([]planner.Setting, 0, len(charset)+1)
			for _, c := range charset {
				if c.Var != st.Var {
					kept = append(kept, c)
				}
			}
			charset = append(kept, st)
		}
		sqls := make([]string, len(charset))
		for i, c := range charset {
			sqls[i] = c.SQL
		}
		next["names"] = strings.Join(sqls, "; ")
	}
	return next, charset
}

// queryValue runs a query returning one row of one column and returns its value: the
// text, whether it is NULL, and whether the column is numeric.
func (b *backendConn) queryValue(sql string) (v []byte, isNull, numeric bool, err error) {
	if err := b.command(comQueryPayload(make([]byte, 0, len(sql)+1), sql)); err != nil {
		return nil, false, false, backendError(b.addr(), err)
	}
	pkt, err := b.readPacket()
	if err != nil {
		return nil, false, false, backendError(b.addr(), err)
	}
	switch pkt[0] {
	case pktErr:
		return nil, false, false, parseErrPacket(pkt)
	case pktOK:
		return nil, false, false, sqlerr.Internal("%q returned no result set on %s", sql, b.addr())
	}
	found := false
	for {
		pkt, err := b.readPacket()
		if err != nil {
			return nil, false, false, backendError(b.addr(), err)
		}
		if pkt[0] == pktEOF && len(pkt) < 9 {
			break
		}
		if !found {
			numeric, found = numericColumn(pkt), true
		}
	}
	got := false
	for {
		pkt, err := b.readPacket()
		if err != nil {
			return nil, false, false, backendError(b.addr(), err)
		}
		switch {
		case pkt[0] == pktErr:
			return nil, false, false, parseErrPacket(pkt)
		case pkt[0] == pktEOF && len(pkt) < 9:
			b.status = binary.LittleEndian.Uint16(pkt[3:5])
			if !got {
				return nil, false, false, sqlerr.Internal("%q returned no row on %s", sql, b.addr())
			}
			return v, isNull, numeric, nil
		case !got:
			got = true
			if pkt[0] == pktLocal { // 0xfb: NULL
				isNull = true
				continue
			}
			n, pos := lenencInt(pkt, 0)
			if pos+int(n) > len(pkt) {
				return nil, false, false, sqlerr.Internal("malformed row from %s", b.addr())
			}
			v = append([]byte(nil), pkt[pos:pos+int(n)]...)
		}
	}
}

// numericColumn reports whether a column definition (protocol 41) has a numeric type.
func numericColumn(def []byte) bool {
	pos := 0
	for i := 0; i < 6; i++ { // catalog, schema, table, org_table, name, org_name
		n, p := lenencInt(def, pos)
		pos = p + int(n)
	}
	_, pos = lenencInt(def, pos) // length of the fixed fields (0x0c)
	pos += 2 + 4                 // character set, column length
	if pos >= len(def) {
		return false
	}
	switch def[pos] {
	case 0, 1, 2, 3, 4, 5, 8, 9, 13, 246: // DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, LONGLONG, INT24, YEAR, NEWDECIMAL
		return true
	}
	return false
}
