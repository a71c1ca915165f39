package planner

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// PlanSQL plans sql for sess: parsed as the session's server reads it (sess.Mode, see
// Normalize), or, when the parser cannot read it or may not read it exactly, by
// planUnparsed. An empty statement returns sqlparser.ErrEmpty.
func PlanSQL(p *sqlparser.Parser, sql string, sess Session, rt *router.Table) (*Plan, error) {
	var perr error
	// checked is the text the privilege check reads: the statement as the server reads it
	// (the parser's text: version comments resolved, quotes as the mode says), or, when it
	// cannot be known, the client's text with every version comment taken as code.
	checked := sql
	if text, ok := Normalize(sql, sess.Mode); ok {
		checked = text
		stmt, err := safeParse(p, text)
		if err == nil {
			pl, err := buildPlan(stmt, sql, sess, rt)
			if pl, err = verdict(pl, err, stmt, text); err != nil {
				return nil, err
			}
			return forMode(pl, sql, sess.Mode), nil
		}
		if errors.Is(err, sqlparser.ErrEmpty) {
			return nil, err
		}
		perr = err
	} else {
		perr = errors.New(notReadable(sql, sess.Mode))
	}
	pl, err := planUnparsed(p, sql, perr, sess, rt)
	return withUnparsedPrivilege(pl, err, checked, sess, rt)
}

// withUnparsedPrivilege gives a statement the parser could not read its privilege verdict
// from its tokens (privilege.go): SHUTDOWN, GRANT, CHANGE MASTER, LOAD_FILE anywhere, the
// mysql schema... are refused to users without admin even when the fallback would send
// them, and get the refusal rather than the fallback's error (a syntax or routing error
// stays what admins get: a Failed plan).
func withUnparsedPrivilege(pl *Plan, err error, checked string, sess Session, rt *router.Table) (*Plan, error) {
	d := UnparsedDenial(checked)
	if d == nil {
		return pl, err
	}
	if err == nil {
		pl.Deny = d
		return pl, nil
	}
	if sess.Keyspace == "" {
		if up, ok := BuildUnparsed(checked, sess, rt); ok {
			return up, nil // an admin's server-wide statement without a session keyspace
		}
	}
	return &Plan{Kind: Failed, Stmt: "other", Deny: d, Err: err}, nil
}

// safeParse is p.Parse that turns a panic of the parser into a parse error: the vitess
// parser panics on some valid MariaDB text (SHOW GRANTS FOR u@'%' slices an empty host),
// which then goes through planUnparsed like any other text it cannot read, instead of
// closing the client's connection.
func safeParse(p *sqlparser.Parser, text string) (stmt sqlparser.Statement, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmt, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	return p.Parse(text)
}

// notReadable says why Normalize refused sql.
func notReadable(sql string, mode Mode) string {
	switch {
	case mode&ModeForeign != 0:
		return "sql_mode ORACLE is not understood by vtgate-lite's parser"
	case mode&ModeUnknown != 0:
		return "the session's sql_mode is unknown, and the statement reads differently under ANSI_QUOTES, NO_BACKSLASH_ESCAPES or PIPES_AS_CONCAT"
	case mode&ModePipesAsConcat != 0 && strings.Contains(sql, "||"):
		return "|| under sql_mode PIPES_AS_CONCAT is not understood by vtgate-lite's parser"
	}
	return "syntax error: unterminated quoted string or comment"
}

// forMode writes the texts the planner printed (vitess prints strings with backslash
// escapes) for a server in mode. Texts that are the client's own are already right.
func forMode(p *Plan, sql string, mode Mode) *Plan {
	if mode&ModeNoBackslashEscapes == 0 || p == nil {
		return p
	}
	p.Query = ForMode(p.Query, mode)
	for i := range p.Pulls {
		p.Pulls[i].Query = ForMode(p.Pulls[i].Query, mode)
	}
	for i := range p.Settings {
		if p.Settings[i].SQL != sql {
			p.Settings[i].SQL = ForMode(p.Settings[i].SQL, mode)
		}
	}
	forMode(p.Inner, sql, mode)
	return p
}

// SyntaxError is the client's error for a statement the parser refused.
func SyntaxError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "syntax error"); i >= 0 {
		msg = msg[i:]
	}
	return sqlerr.New(sqlerr.ERParse, "42000", "You have an error in your SQL syntax; %s", strings.TrimSpace(msg))
}

// planUnparsed plans a statement the parser could not read: it goes unchanged to the
// session keyspace's primary unless one of the identifiers that could name a table in it
// (scanNames) names a table that routing sends elsewhere; then, or when in doubt, it is
// refused, naming the table. A statement outside the grammar is not refused for that alone:
// the server answers it, with its own error if it rejects it too.
func planUnparsed(parser *sqlparser.Parser, sql string, perr error, sess Session, rt *router.Table) (*Plan, error) {
	sc := scanStatement(sql, sess.Mode)
	if sc.first == "VEXPLAIN" {
		return planUnparsedVExplain(parser, sql, sc, perr, sess, rt)
	}
	if sess.Keyspace == "" {
		return nil, SyntaxError(perr)
	}
	k, ok := rt.Keyspace(sess.Keyspace)
	if !ok {
		return nil, sqlerr.BadDB(sess.Keyspace)
	}
	if why := controlStatement(sc); why != "" {
		return nil, refuse(why, perr)
	}
	p := &Plan{Kind: Route, Stmt: "unparsed", Keyspace: sess.Keyspace, TabletType: router.Primary,
		TabletName: router.Primary.String(), Write: true, Unparsed: true, Reserve: sc.reserve}
	known := map[string]bool{}
	for _, t := range rt.VSchemaTables(sess.Keyspace) {
		known[strings.ToLower(t)] = true
	}
	// Qualified names first: their reasons are the more precise.
	names := slices.Clone(sc.names)
	sort.SliceStable(names, func(i, j int) bool { return names[i].qualifier != "" && names[j].qualifier == "" })
	for _, n := range names {
		table, rule, err := checkName(n, sess.Keyspace, k, rt)
		if err != nil {
			return nil, refuse(err.Error(), perr)
		}
		if table != "" && (rule != "" || known[strings.ToLower(table)]) {
			if full := sess.Keyspace + "." + table; !slices.Contains(p.Tables, full) {
				p.Tables = append(p.Tables, full)
			}
			if rule != "" && !slices.Contains(p.Rules, rule) {
				p.Rules = append(p.Rules, rule)
			}
		}
	}
	if sc.dynamic {
		if from, to := routedAway(rt, sess.Keyspace); from != "" {
			return nil, refuse("it runs SQL built from an expression, which could name table "+from+", routed to "+to+" (routing rule "+from+")", perr)
		}
	}
	sort.Strings(p.Tables)
	sort.Strings(p.Rules)
	return p, nil
}

// IsRefusal reports whether err is planUnparsed refusing a statement (for the metrics).
func IsRefusal(err error) bool {
	var e *sqlerr.Error
	return errors.As(err, &e) && strings.HasPrefix(e.Message, refusalPrefix)
}

const refusalPrefix = "vtgate-lite: cannot route statement: "

func refuse(why string, perr error) error {
	return sqlerr.New(sqlerr.ERUnknown, "HY000", "%s%s, and the statement could not be parsed: %s", refusalPrefix, why, perr.Error())
}

// planUnparsedVExplain shows the fallback plan of VEXPLAIN PLAN|QUERIES <statement>.
func planUnparsedVExplain(parser *sqlparser.Parser, sql string, sc scanResult, perr error, sess Session, rt *router.Table) (*Plan, error) {
	mode := strings.ToLower(sc.second)
	if mode != "plan" && mode != "queries" {
		return nil, SyntaxError(perr)
	}
	inner := strings.TrimSpace(sql[sc.afterSecond:])
	p, err := PlanSQL(parser, inner, sess, rt)
	if err != nil {
		return nil, err
	}
	if p.Kind == Route && p.Query == "" {
		p.Query = inner
	}
	return &Plan{Kind: VExplain, Stmt: "vexplain", VExplainMode: mode, Inner: p}, nil
}

// checkName decides whether the identifier n may be sent unchanged to keyspace ks (k): it
// returns the table it would name there and the routing rule that says so, or why not.
func checkName(n nameRef, ks string, k *router.Keyspace, rt *router.Table) (table, rule string, err error) {
	if n.qualifier != "" && systemSchemas[strings.ToLower(n.qualifier)] {
		return "", "", nil
	}
	from := n.name
	if n.qualifier != "" {
		from = n.qualifier + "." + n.name
	}
	// Rules are matched whatever the case (the server's table names may not be): a rule
	// for ks.t also counts for an unqualified t in keyspace ks.
	forms := []string{from}
	if n.qualifier == "" {
		forms = append(forms, ks+"."+n.name)
	}
	for _, f := range forms {
		if key, to := ruleFor(rt, f); key != "" {
			tks, tbl, _ := strings.Cut(to, ".")
			if tks != ks || !strings.EqualFold(tbl, n.name) {
				return "", "", errors.New("table " + from + " is routed to " + to + " (routing rule " + key + ")")
			}
			if n.qualifier != "" && n.qualifier != k.Database {
				return "", "", errors.New(qualifierWhy(n, ks, k))
			}
			return n.name, key, nil
		}
	}
	if n.qualifier == "" {
		t, rerr := rt.Resolve("", n.name, ks, router.Primary)
		switch {
		case rerr != nil:
			return "", "", errors.New("table " + n.name + ": " + sqlerr.FromError(rerr).Message)
		case t.Keyspace != ks:
			return "", "", errors.New("table " + n.name + " is in keyspace " + t.Keyspace + " (its VSchema)")
		}
		return n.name, "", nil
	}
	if _, isKS := rt.Keyspace(n.qualifier); isKS {
		if n.qualifier != ks {
			return "", "", errors.New("table " + from + " is in keyspace " + n.qualifier)
		}
		if n.qualifier != k.Database {
			return "", "", errors.New(qualifierWhy(n, ks, k))
		}
		return n.name, "", nil
	}
	for name, other := range rt.Keyspaces() {
		if name != ks && strings.EqualFold(other.Database, n.qualifier) && !strings.EqualFold(n.qualifier, k.Database) {
			return "", "", errors.New("table " + from + " is in the database of keyspace " + name)
		}
	}
	// Not a keyspace: a table, an alias or another schema of the session keyspace's server.
	return "", "", nil
}

func qualifierWhy(n nameRef, ks string, k *router.Keyspace) string {
	return "table " + n.qualifier + "." + n.name + " is qualified by keyspace " + ks +
		", whose database on its server is " + k.Database + " (an unparsed statement is sent unchanged)"
}

// ruleFor finds the routing rule for from (primary: rules without a tablet type), ignoring case.
func ruleFor(rt *router.Table, from string) (key, to string) {
	rules := rt.Rules()
	if to, ok := rules[from]; ok {
		return from, to
	}
	for k, v := range rules {
		if !strings.Contains(k, "@") && strings.EqualFold(k, from) {
			return k, v
		}
	}
	return "", ""
}

// routedAway returns a rule that sends a table away from keyspace ks ("" when none does).
func routedAway(rt *router.Table, ks string) (from, to string) {
	rules := rt.Rules()
	keys := make([]string, 0, len(rules))
	for k := range rules {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.Contains(k, "@") {
			continue
		}
		if tks, _, _ := strings.Cut(rules[k], "."); tks != ks {
			return k, rules[k]
		}
	}
	return "", ""
}

// controlStatement says why an unparsed statement must not be sent as is: transaction and
// session control the proxy has to follow ("" when the statement is not one).
func controlStatement(sc scanResult) string {
	switch sc.first {
	case "START", "COMMIT", "ROLLBACK", "XA", "SAVEPOINT", "RELEASE", "USE", "UNLOCK":
		return "an unparsed " + sc.first + " statement would change transaction or session state that vtgate-lite tracks"
	case "BEGIN":
		if sc.second != "NOT" {
			return "an unparsed BEGIN statement would change transaction state that vtgate-lite tracks"
		}
	case "SET":
		if sc.setsAutocommit {
			return "an unparsed SET of autocommit or of the transaction would change state that vtgate-lite tracks"
		}
	}
	return ""
}

// nameRef is an identifier in an unparsed statement that could name a table.
type nameRef struct{ qualifier, name string }

// scanResult is what the table scan found in a statement.
type scanResult struct {
	names         []nameRef
	first, second string // the first two words, upper case
	afterSecond   int    // offset after the second word
	// dynamic: EXECUTE IMMEDIATE or PREPARE ... FROM an expression (not a string literal).
	dynamic bool
	// sqlMode: the statement mentions sql_mode (it may change it).
	sqlMode        bool
	setsAutocommit bool
	reserve        string
}

// scanStatement lists every identifier of sql that could name a table: bare words (but the
// reserved words that can only be keywords there), `quoted` and "double-quoted" ones (a
// string or an identifier depending on the mode: both are taken), qualified a.b pairs, and
// the same inside string literals (EXECUTE IMMEDIATE 'SELECT ...' runs them) and inside
// every /*! */ comment, executed or not. A text with backslashes is lexed with and without
// NO_BACKSLASH_ESCAPES (SET STATEMENT sql_mode=... FOR may change it). Only more names than
// the server reads can come out: a name too many may refuse a statement, none may be missed.
func scanStatement(sql string, mode Mode) scanResult {
	var sc scanResult
	seen := map[nameRef]bool{}
	modes := []Mode{mode}
	if strings.IndexByte(sql, '\\') >= 0 {
		modes = append(modes, mode^ModeNoBackslashEscapes)
	}
	for i, m := range modes {
		scanText(sql, m, &sc, seen, i == 0, 0)
	}
	return sc
}

func scanText(sql string, mode Mode, sc *scanResult, seen map[nameRef]bool, top bool, depth int) {
	l := &lexer{src: sql, mode: mode, allCode: true, recover: true}
	var toks []token
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		if t.kind != tokComment && t.kind != tokCodeOpen && t.kind != tokCodeClose {
			toks = append(toks, t)
		}
	}
	add := func(q, n string) {
		r := nameRef{q, n}
		if n != "" && !seen[r] {
			seen[r] = true
			sc.names = append(sc.names, r)
		}
	}
	text := func(t token) string { return sql[t.start:t.end] }
	isDot := func(i int) bool { return i >= 0 && i < len(toks) && toks[i].kind == tokPunct && text(toks[i]) == "." }
	// name returns the identifier token i stands for (ok=false: not an identifier).
	name := func(i int, afterDot bool) (string, bool) {
		if i < 0 || i >= len(toks) {
			return "", false
		}
		t := toks[i]
		switch {
		case t.kind == tokIdent, t.kind == tokString && t.quote == '"':
			return l.value(t), true
		case t.kind == tokWord:
			w := text(t)
			if allDigits(w) || !afterDot && !isDot(i+1) && reservedWords[strings.ToUpper(w)] {
				return "", false
			}
			return w, true
		}
		return "", false
	}
	words := 0
	for i, t := range toks {
		s := text(t)
		if top && t.kind == tokWord && words < 2 {
			if words == 0 {
				sc.first = strings.ToUpper(s)
			} else {
				sc.second = strings.ToUpper(s)
				sc.afterSecond = t.end
			}
			words++
		} else if top && words < 2 && !(t.kind == tokPunct && s == "(") {
			words = 2 // the statement does not start with two words
		}
		if strings.Contains(strings.ToLower(s), "sql_mode") {
			sc.sqlMode = true
		}
		switch t.kind {
		case tokString:
			if depth < 2 {
				scanText(l.value(t), mode, sc, seen, false, depth+1)
			}
		case tokVariable:
			if !strings.HasPrefix(s, "@@") && sc.reserve == "" {
				sc.reserve = "user variable"
			}
		case tokWord:
			switch u := strings.ToUpper(s); u {
			case "IMMEDIATE":
				if i+1 < len(toks) && toks[i+1].kind != tokString {
					sc.dynamic = true
				}
			case "PREPARE":
				if i+3 < len(toks) && strings.EqualFold(text(toks[i+2]), "FROM") && toks[i+3].kind != tokString {
					sc.dynamic = true
				}
				sc.reserve = "SQL prepared statement"
			case "EXECUTE", "DEALLOCATE":
				sc.reserve = "SQL prepared statement"
			case "TEMPORARY":
				sc.reserve = "temporary table"
			case "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS", "IS_USED_LOCK", "IS_FREE_LOCK":
				sc.reserve = "GET_LOCK"
			case "AUTOCOMMIT", "TRANSACTION":
				sc.setsAutocommit = true
			}
		}
		if q, ok := name(i, isDot(i-1)); ok {
			add("", q) // b of a.b is taken alone too (a may be an alias)
			if isDot(i + 1) {
				if n, ok := name(i+2, true); ok {
					add(q, n)
				}
			}
		}
	}
	if !top {
		return
	}
	switch {
	case sc.first == "LOCK":
		sc.reserve = "LOCK TABLES"
	case sc.first == "SET" && sc.second != "STATEMENT":
		sc.reserve = "SET"
	case sc.first == "HANDLER":
		sc.reserve = "HANDLER"
	}
	if sc.first != "SET" {
		sc.setsAutocommit = false
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// reservedWords are MariaDB reserved words that are never a table name where they stand
// bare (not after or before a '.': t.select is a column). Only words certainly reserved
// are listed (TestReservedWordsAreReserved checks each on a real server): a word left out
// only makes a name too many.
var reservedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`ADD ALL ALTER ANALYZE AND AS ASC BEFORE BETWEEN BIGINT BINARY BLOB BOTH BY CALL
		CASCADE CASE CHANGE CHAR CHARACTER CHECK COLLATE COLUMN CONDITION CONSTRAINT CONTINUE CONVERT CREATE CROSS
		CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATABASES DECIMAL DECLARE DEFAULT
		DELAYED DELETE DESC DESCRIBE DETERMINISTIC DISTINCT DISTINCTROW DIV DOUBLE DROP DUAL EACH ELSE ELSEIF ENCLOSED
		ESCAPED EXISTS EXIT EXPLAIN FALSE FETCH FLOAT FOR FORCE FOREIGN FROM FULLTEXT GRANT GROUP HAVING IF IGNORE IN
		INDEX INFILE INNER INOUT INSERT INT INTEGER INTERVAL INTO IS ITERATE JOIN KEY KEYS KILL LEADING LEAVE LEFT LIKE
		LIMIT LINES LOAD LOCALTIME LOCALTIMESTAMP LOCK LONGBLOB LONGTEXT LOOP MATCH MEDIUMBLOB MEDIUMINT MEDIUMTEXT MOD
		NATURAL NOT NULL NUMERIC ON OPTIMIZE OR ORDER OUT OUTER OUTFILE PRECISION PRIMARY PROCEDURE PURGE RANGE
		READ REAL REFERENCES REGEXP RELEASE RENAME REPEAT REPLACE REQUIRE RESIGNAL RESTRICT RETURN REVOKE RIGHT RLIKE
		SCHEMAS SELECT SEPARATOR SET SHOW SIGNAL SMALLINT SPATIAL SQL SQLEXCEPTION SQLSTATE SQLWARNING
		STARTING STRAIGHT_JOIN TABLE TERMINATED THEN TINYBLOB TINYINT TINYTEXT TO TRAILING TRIGGER TRUE UNDO UNION
		UNIQUE UNLOCK UNSIGNED UPDATE USAGE USE USING UTC_DATE UTC_TIME UTC_TIMESTAMP VALUES VARBINARY VARCHAR VARYING
		WHEN WHERE WHILE WITH WRITE XOR ZEROFILL`) {
		m[w] = true
	}
	return m
}()
