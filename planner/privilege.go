package planner

import (
	"errors"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/internal/backendaddr"
	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Every plan carries its privilege verdict (Plan.Deny), computed once when it is built and
// cached with it: executing a statement costs the proxy one branch (Deny != nil && !admin).
// Server-wide statements are for vtgate-lite admins: every client runs on a backend account
// that may do far more than the client was given (the local example's is root), so the
// proxy refuses, for users without admin, what acts on a backend server as a whole, reads or
// writes its files, or touches the state vtgate-lite itself relies on. The codes are those a
// MariaDB/MySQL server gives an account lacking the privilege (docs/errors.md has the table).
//
// Three checks, each conservative (when in doubt, refuse):
//   - the leading keywords of the text (comments skipped, /*! */ and /*M! */ comments read as
//     code), for statements the parser rejects (SHUTDOWN, CHANGE MASTER, GRANT...) or parses
//     without an AST (LOAD DATA, DO, OPTIMIZE);
//   - a walk of the whole AST (every expression position, subqueries, UNION arms, views'
//     bodies): LOAD_FILE(), INTO OUTFILE, mysql./_vt_lite. qualifiers, SET scopes, the
//     writer mark;
//   - executable comments: MariaDB runs /*M! ... */ and /*!NNNNNN ... */ that the parser skips
//     as comments (and its backend connections run multi-statements), so a text holding them
//     is checked again with the comments opened, statement by statement.

// Reason names a class of refused statements: the reason label of
// vtgate_lite_denied_statements_total (a bounded set) and the log's reason.
type Reason uint8

const (
	ReasonGlobalVariable Reason = iota // SET GLOBAL / PERSIST
	ReasonBinlogVariable               // SET sql_log_bin, binlog_format... (any scope)
	ReasonShutdown                     // SHUTDOWN, RESTART
	ReasonReplication                  // CHANGE MASTER, START/STOP SLAVE, PURGE/RESET, BINLOG, SHOW BINLOG EVENTS...
	ReasonFlush                        // FLUSH, RESET QUERY CACHE
	ReasonPlugin                       // INSTALL/UNINSTALL PLUGIN/SONAME
	ReasonAccount                      // CREATE/ALTER/DROP/RENAME USER, CREATE/DROP ROLE
	ReasonGrant                        // GRANT, REVOKE
	ReasonPassword                     // SET PASSWORD
	ReasonFile                         // LOAD_FILE(), INTO OUTFILE/DUMPFILE, LOAD DATA INFILE
	ReasonSystemSchema                 // the mysql schema, SHOW GRANTS
	ReasonSidecarSchema                // the _vt_lite schema
	ReasonWriterMark                   // the user variable @_vt_lite_apply
	ReasonDynamicSQL                   // PREPARE ... FROM @var or from a text that cannot be checked
	ReasonUncheckedCode                // an executable comment whose code cannot be checked
	NumReasons                         // the number of reasons (for arrays indexed by Reason)
)

var reasonNames = [NumReasons]string{"global_variable", "binlog_variable", "shutdown", "replication", "flush",
	"plugin", "account", "grant", "password", "file", "system_schema", "sidecar_schema", "writer_mark",
	"dynamic_sql", "unchecked_code"}

func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// MarshalText names the reason in golden files and logs.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// SidecarSchema is the migration engine's schema on target primaries (migration/sidecar.go).
const SidecarSchema = "_vt_lite"

// writerMark is backendaddr.WriterMark without its '@'.
var writerMark = strings.TrimPrefix(backendaddr.WriterMark, "@")

// binlogVars are session variables that change what reaches the binlog (replicas and
// migration streams read it), the GTIDs of the session's events, or the query log, with the
// privilege MariaDB requires to set them at any scope.
var binlogVars = map[string]string{"sql_log_bin": binlogAdmin, "binlog_format": binlogAdmin,
	"binlog_row_image": binlogAdmin, "binlog_row_metadata": binlogAdmin, "binlog_annotate_row_events": binlogAdmin,
	"binlog_direct_non_transactional_updates": binlogAdmin, "gtid_domain_id": binlogReplay, "gtid_seq_no": binlogReplay,
	"gtid_next": binlogReplay, "server_id": binlogReplay, "pseudo_thread_id": binlogReplay, "sql_log_off": "SUPER"}

const (
	binlogAdmin  = "SUPER, BINLOG ADMIN"
	binlogReplay = "SUPER, BINLOG REPLAY"
)

// Denial is why a user without admin may not run a statement, and the MySQL error it gets.
type Denial struct {
	Reason Reason `json:"reason"`
	Code   uint16 `json:"code"`
	State  string `json:"sqlstate"`
	// Privilege is named by 1227 ("" = vtgate-lite's admin privilege, with What).
	Privilege string `json:"privilege,omitempty"`
	// Command, Database and Table are named by 1142 (table) and 1044 (database).
	Command  string `json:"command,omitempty"`
	Database string `json:"database,omitempty"`
	Table    string `json:"table,omitempty"`
	// What is a short description for the log (never the statement's text: it may hold a password).
	What string `json:"what"`
}

// Error is the error a user gets; host is the client's.
func (d *Denial) Error(user, host string, usingPassword bool) *sqlerr.Error {
	switch d.Code {
	case sqlerr.ERTableAccessDenied:
		return sqlerr.New(d.Code, d.State, "%s command denied to user '%s'@'%s' for table `%s`.`%s`", d.Command, user, host, d.Database, d.Table)
	case sqlerr.ERDBAccessDenied:
		return sqlerr.DBAccessDenied(user, host, d.Database)
	case sqlerr.ERAccessDenied:
		return sqlerr.AccessDenied(user, host, usingPassword)
	}
	if d.Privilege == "" {
		return sqlerr.AdminOnly(d.What)
	}
	return sqlerr.New(sqlerr.ERSpecificAccessDenied, "42000", "Access denied; you need (at least one of) the %s privilege(s) for this operation", d.Privilege)
}

func needPrivilege(r Reason, priv, what string) *Denial {
	return &Denial{Reason: r, Code: sqlerr.ERSpecificAccessDenied, State: "42000", Privilege: priv, What: what}
}

func needAdmin(r Reason, what string) *Denial {
	return &Denial{Reason: r, Code: sqlerr.ERSpecificAccessDenied, State: "42000", What: what}
}

func needFile(what string) *Denial {
	return &Denial{Reason: ReasonFile, Code: sqlerr.ERAccessDenied, State: "28000", What: what}
}

// schemaReason reports whether db is one of the schemas only admins may use.
func schemaReason(db string) (Reason, bool) {
	switch strings.ToLower(db) {
	case "mysql":
		return ReasonSystemSchema, true
	case SidecarSchema:
		return ReasonSidecarSchema, true
	}
	return 0, false
}

func needDB(r Reason, db string) *Denial {
	return &Denial{Reason: r, Code: sqlerr.ERDBAccessDenied, State: "42000", Database: strings.ToLower(db), What: "database " + strings.ToLower(db)}
}

func needTable(r Reason, command, db, table string) *Denial {
	return &Denial{Reason: r, Code: sqlerr.ERTableAccessDenied, State: "42000", Command: command,
		Database: strings.ToLower(db), Table: table, What: command + " on " + strings.ToLower(db) + "." + table}
}

func replication(priv, what string) *Denial { return needPrivilege(ReasonReplication, priv, what) }

// checkParser parses the code of executable comments and of PREPARE texts.
var checkParser = Parser()

// privilege is the verdict for stmt, parsed from sql (nil: any user may run it).
func privilege(stmt sqlparser.Statement, sql string) *Denial {
	if d := checkStatement(stmt, sql); d != nil {
		return d
	}
	if opened, ok := openExecutableComments(sql); ok {
		if d := checkText(opened, ReasonUncheckedCode, "executable comment vtgate-lite cannot check"); d != nil {
			return d
		}
	}
	return checkWithoutBackslashEscapes(sql)
}

// checkWithoutBackslashEscapes checks sql as a server in sql_mode NO_BACKSLASH_ESCAPES reads
// it: a backslash in a quoted string is an ordinary character there, so where the parser read
// a string ('a\'; SET GLOBAL ... -- ') the server may read code, and more statements
// (backend connections run multi-statements). A session may set that mode, and plans are
// cached by text: the verdict covers both readings. Each statement of that reading is checked
// by its leading keywords and its tokens.
func checkWithoutBackslashEscapes(sql string) *Denial {
	if !strings.Contains(sql, "\\") {
		return nil
	}
	return checkEachStatement(lexSQLEscapes(sql, 0, false))
}

// checkEachStatement checks every statement of toks (split at ';') by its leading keywords
// and its tokens.
func checkEachStatement(toks []privToken) *Denial {
	start := 0
	for i := 0; i <= len(toks); i++ {
		if i == len(toks) || punct(toks, i, ";") {
			if d := classifyTokens(toks[start:i]); d != nil {
				return d
			}
			if d := scanTokens(toks[start:i]); d != nil {
				return d
			}
			start = i + 1
		}
	}
	return nil
}

// UnparsedDenial is the verdict for a statement the parser rejects: nil when it is none of
// the refused classes. Each statement the text holds is checked (a version comment the
// server runs may hold a second one: "SELECT 1 /*M!; SET GLOBAL ... */").
func UnparsedDenial(sql string) *Denial {
	if d := privilege(nil, sql); d != nil {
		return d
	}
	return checkEachStatement(lexSQL(sql, 0))
}

// checkText checks every statement of text (executable comments already opened, or a
// PREPARE's text); code it cannot parse is refused with reason.
func checkText(text string, reason Reason, what string) *Denial {
	pieces, err := checkParser.SplitStatementToPieces(text)
	if err != nil {
		return needAdmin(reason, what)
	}
	for _, piece := range pieces {
		stmt, err := checkParser.Parse(piece)
		if errors.Is(err, sqlparser.ErrEmpty) {
			continue
		}
		if d := checkStatement(stmt, piece); d != nil {
			return d
		}
		if err != nil {
			return needAdmin(reason, what)
		}
	}
	return nil
}

// checkStatement checks one statement: its leading keywords, its tokens when the parser
// gave no AST to walk (stmt nil or opaque), and its AST.
func checkStatement(stmt sqlparser.Statement, sql string) *Denial {
	opaque := false
	switch stmt.(type) {
	case nil, *sqlparser.OtherAdmin, *sqlparser.Load, *sqlparser.CommentOnly:
		// DO, REPAIR, OPTIMIZE and LOAD DATA parse to nodes without the statement's parts.
		opaque = true
	}
	// The leading keywords are enough, but for SET and statements without an AST (a long
	// INSERT is not tokenized twice).
	toks := lexSQL(sql, leadingTokens)
	if opaque || word(toks, 0) == "set" {
		toks = lexSQL(sql, 0)
	}
	if d := classifyTokens(toks); d != nil {
		return d
	}
	if opaque {
		return scanTokens(toks)
	}
	return walkPrivilege(stmt)
}

// leadingTokens is how many tokens classifyTokens needs, but for SET.
const leadingTokens = 8

// walkPrivilege visits every node of stmt.
func walkPrivilege(stmt sqlparser.Statement) *Denial {
	var d *Denial
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if d == nil {
			d = nodeDenial(stmt, n)
		}
		return d == nil, nil // the first denial found is kept
	}, stmt)
	return d
}

func nodeDenial(stmt sqlparser.Statement, n sqlparser.SQLNode) *Denial {
	switch n := n.(type) {
	case *sqlparser.FuncExpr:
		if n.Name.Lowered() == "load_file" {
			return needFile("LOAD_FILE()")
		}
		if r, ok := schemaReason(n.Qualifier.String()); ok {
			return needDB(r, n.Qualifier.String())
		}
	case *sqlparser.SelectInto:
		if n.Type != sqlparser.IntoVariables {
			return needFile("SELECT ... INTO OUTFILE/DUMPFILE")
		}
	case sqlparser.TableName:
		if r, ok := schemaReason(n.Qualifier.String()); ok {
			return needTable(r, tableCommand(stmt), n.Qualifier.String(), n.Name.String())
		}
	case *sqlparser.Variable:
		return variableDenial(n)
	case *sqlparser.LockTables: // the walker does not descend into these two
		for _, t := range n.Tables {
			if at, ok := t.Table.(*sqlparser.AliasedTableExpr); ok {
				if d := nodeDenial(stmt, at.Expr); d != nil {
					return d
				}
			}
		}
	case *sqlparser.RenameTable:
		for _, p := range n.TablePairs {
			if d := nodeDenial(stmt, p.FromTable); d != nil {
				return d
			}
			if d := nodeDenial(stmt, p.ToTable); d != nil {
				return d
			}
		}
	case *sqlparser.Use:
		db, _, _ := strings.Cut(n.DBName.String(), "@")
		if r, ok := schemaReason(db); ok {
			return needDB(r, db)
		}
	case *sqlparser.CreateDatabase:
		return dbNameDenial(n.DBName)
	case *sqlparser.AlterDatabase:
		return dbNameDenial(n.DBName)
	case *sqlparser.DropDatabase:
		return dbNameDenial(n.DBName)
	case *sqlparser.ShowBasic:
		return dbNameDenial(n.DbName)
	case *sqlparser.ShowCreate:
		if n.Command == sqlparser.CreateDb {
			if r, ok := schemaReason(n.Op.Name.String()); ok {
				return needDB(r, n.Op.Name.String())
			}
		}
	case *sqlparser.ShowGrants, *sqlparser.ShowCreateUser:
		// The grants of the backend account (with its password hash) or of another account.
		return needDB(ReasonSystemSchema, "mysql")
	case *sqlparser.ShowBinlogEvents:
		return replication("SUPER, BINLOG MONITOR", "SHOW BINLOG EVENTS")
	case *sqlparser.ShowBinaryLogs, *sqlparser.ShowReplicationSourceStatus:
		return replication("SUPER, BINLOG MONITOR", "SHOW BINARY LOGS / MASTER STATUS")
	case *sqlparser.ShowReplicationStatus:
		return replication("SUPER, SLAVE MONITOR", "SHOW SLAVE STATUS")
	case *sqlparser.ShowReplicas:
		return replication("REPLICATION MASTER ADMIN", "SHOW SLAVE HOSTS")
	case *sqlparser.PurgeBinaryLogs:
		return replication("SUPER, BINLOG ADMIN", "PURGE BINARY LOGS")
	case *sqlparser.Flush:
		return needPrivilege(ReasonFlush, "RELOAD", "FLUSH")
	case *sqlparser.SetExpr:
		return setDenial(n.Var)
	case *sqlparser.PrepareStmt:
		// The text is checked like a statement of its own; from a user variable it cannot be.
		lit, ok := n.Statement.(*sqlparser.Literal)
		if !ok || lit.Type != sqlparser.StrVal {
			return needAdmin(ReasonDynamicSQL, "PREPARE from a user variable: vtgate-lite cannot check the statement")
		}
		if d := checkText(lit.Val, ReasonDynamicSQL, "PREPARE of a statement vtgate-lite cannot check"); d != nil {
			return d
		}
		if opened, ok := openExecutableComments(lit.Val); ok {
			return checkText(opened, ReasonUncheckedCode, "executable comment vtgate-lite cannot check")
		}
	}
	return nil
}

func dbNameDenial(db sqlparser.IdentifierCS) *Denial {
	if r, ok := schemaReason(db.String()); ok {
		return needDB(r, db.String())
	}
	return nil
}

// variableDenial refuses the writer mark, read or written, anywhere.
func variableDenial(v *sqlparser.Variable) *Denial {
	if v.Scope == sqlparser.VariableScope && v.Name.Lowered() == writerMark {
		return needAdmin(ReasonWriterMark, "user variable "+backendaddr.WriterMark+" is vtgate-lite's")
	}
	return nil
}

// setDenial refuses a SET of a global or persisted variable, or of a binlog variable.
func setDenial(v *sqlparser.Variable) *Denial {
	if d := variableDenial(v); d != nil {
		return d
	}
	name := v.Name.Lowered()
	switch v.Scope {
	case sqlparser.GlobalScope, sqlparser.PersistSysScope, sqlparser.PersistOnlySysScope:
		return needPrivilege(ReasonGlobalVariable, "SUPER", "SET GLOBAL "+name)
	case sqlparser.VariableScope:
		return nil
	}
	// The parser keeps @@persist.x as a session variable named "persist.x".
	if scope, rest, ok := strings.Cut(name, "."); ok {
		switch scope {
		case "global", "persist", "persist_only":
			return needPrivilege(ReasonGlobalVariable, "SUPER", "SET GLOBAL "+rest)
		case "session", "local":
			name = rest
		}
	}
	if priv, ok := binlogVars[name]; ok {
		return needPrivilege(ReasonBinlogVariable, priv, "SET "+name)
	}
	return nil
}

// tableCommand is the command a 1142 names for stmt's tables.
func tableCommand(stmt sqlparser.Statement) string {
	switch s := stmt.(type) {
	case *sqlparser.Insert:
		return "INSERT"
	case *sqlparser.Update:
		return "UPDATE"
	case *sqlparser.Delete:
		return "DELETE"
	case *sqlparser.CreateTable, *sqlparser.CreateView:
		return "CREATE"
	case *sqlparser.AlterTable, *sqlparser.AlterView, *sqlparser.RenameTable:
		return "ALTER"
	case *sqlparser.DropTable, *sqlparser.DropView, *sqlparser.TruncateTable:
		return "DROP"
	case *sqlparser.LockTables:
		return "LOCK TABLES"
	case *sqlparser.Show:
		if _, ok := s.Internal.(*sqlparser.ShowCreate); ok {
			return "SHOW"
		}
	}
	return "SELECT"
}

// --- tokens ---

// privKind is what the privilege check needs of a token (lexer.go does the lexing).
type privKind uint8

const (
	tWord    privKind = iota // keyword or identifier (quotes removed), lower case
	tString                  // '...' (or "..." without ANSI_QUOTES), as written
	tUserVar                 // @name, lower case, without '@'
	tSysVar                  // @@[scope.]name, lower case, without "@@"
	tPunct                   // one byte
)

type privToken struct {
	kind privKind
	text string
}

// lexSQL splits sql into tokens as the server reads them in the default sql_mode:
// comments are skipped, but the content of every /*! */, /*!NNNNN */, /*M! */ and
// /*M!NNNNNN */ comment is code, whatever its version (more code is the safe side). An
// unterminated quote or comment ends the tokens; so does the max-th token (0: no limit).
func lexSQL(sql string, max int) []privToken { return lexSQLEscapes(sql, max, true) }

// lexSQLEscapes is lexSQL with backslash escapes in strings on or off (NO_BACKSLASH_ESCAPES).
func lexSQLEscapes(sql string, max int, backslash bool) []privToken {
	var mode Mode
	if !backslash {
		mode = ModeNoBackslashEscapes
	}
	l := &lexer{src: sql, mode: mode, allCode: true}
	var toks []privToken
	for max <= 0 || len(toks) < max {
		t, ok := l.next()
		if !ok {
			break
		}
		raw := sql[t.start:t.end]
		switch t.kind {
		case tokWord:
			toks = append(toks, privToken{tWord, strings.ToLower(raw)})
		case tokIdent:
			toks = append(toks, privToken{tWord, strings.ToLower(l.value(t))})
		case tokString:
			toks = append(toks, privToken{tString, raw})
		case tokVariable:
			toks = append(toks, variableToken(raw))
		case tokPunct:
			for i := 0; i < len(raw); i++ { // := or <=> as single bytes
				toks = append(toks, privToken{tPunct, raw[i : i+1]})
			}
		}
	}
	return toks
}

// variableToken is @name / @@scope.name with quotes removed, lower case.
func variableToken(raw string) privToken {
	if strings.HasPrefix(raw, "@@") {
		return privToken{tSysVar, strings.ToLower(strings.ReplaceAll(raw[2:], "`", ""))}
	}
	name := raw[1:]
	if len(name) >= 2 && (name[0] == '\'' || name[0] == '"' || name[0] == '`') && name[len(name)-1] == name[0] {
		name = name[1 : len(name)-1]
	}
	return privToken{tUserVar, strings.ToLower(name)}
}

// execMarker returns the length of an executable comment's opening (/*!, /*M! and the
// version digits after it), 0 when s does not start with one.
func execMarker(s string) int {
	n := 0
	switch {
	case strings.HasPrefix(s, "/*!"):
		n = 3
	case strings.HasPrefix(s, "/*M!"):
		n = 4
	default:
		return 0
	}
	for d := 0; d < 6 && n < len(s) && s[n] >= '0' && s[n] <= '9'; d++ {
		n++
	}
	return n
}

// openExecutableComments returns sql with the markers of its executable comments removed
// (their content kept, as code); ok is false when it has none.
func openExecutableComments(sql string) (string, bool) {
	if !strings.Contains(sql, "/*!") && !strings.Contains(sql, "/*M!") {
		return "", false
	}
	var b strings.Builder
	exec := 0
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			end, ok := skipQuoted(sql, i, c, true)
			if !ok {
				end = len(sql)
			}
			b.WriteString(sql[i:end])
			i = end
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if n := execMarker(sql[i:]); n > 0 {
				exec++
				b.WriteByte(' ')
				i += n
				continue
			}
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				end = len(sql) - i - 4
			}
			b.WriteString(sql[i : i+2+end+2])
			i += 2 + end + 2
		case c == '*' && exec > 0 && strings.HasPrefix(sql[i:], "*/"):
			exec--
			b.WriteByte(' ')
			i += 2
		case c == '#' || (c == '-' && strings.HasPrefix(sql[i:], "--") && (i+2 == len(sql) || sql[i+2] <= ' ')):
			end := strings.IndexByte(sql[i:], '\n')
			if end < 0 {
				end = len(sql) - i - 1
			}
			b.WriteString(sql[i : i+end+1])
			i += end + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), true
}

func word(toks []privToken, i int) string {
	if i < len(toks) && toks[i].kind == tWord {
		return toks[i].text
	}
	return ""
}

// name is the identifier at toks[i]: a word, or a double-quoted name (sql_mode ANSI_QUOTES).
func name(toks []privToken, i int) string {
	if i < len(toks) && toks[i].kind == tString && toks[i].text[0] == '"' {
		return toks[i].text[1 : len(toks[i].text)-1]
	}
	return word(toks, i)
}

func punct(toks []privToken, i int, p string) bool {
	return i < len(toks) && toks[i].kind == tPunct && toks[i].text == p
}

// classifyTokens recognizes the refused statements by their leading keywords.
func classifyTokens(toks []privToken) *Denial {
	for len(toks) > 0 && punct(toks, 0, "(") {
		toks = toks[1:]
	}
	w1, w2 := word(toks, 1), word(toks, 2)
	switch word(toks, 0) {
	case "shutdown", "restart":
		return needPrivilege(ReasonShutdown, "SHUTDOWN", "SHUTDOWN")
	case "change":
		if w1 == "master" || w1 == "replication" {
			return replication("SUPER, REPLICATION SLAVE ADMIN", "CHANGE MASTER")
		}
	case "start", "stop":
		if w1 == "slave" || w1 == "replica" || w1 == "group_replication" || (w1 == "all" && (w2 == "slaves" || w2 == "replicas")) {
			return replication("SUPER, REPLICATION SLAVE ADMIN", strings.ToUpper(word(toks, 0))+" SLAVE")
		}
	case "purge":
		if w1 == "binary" || w1 == "master" {
			return replication("SUPER, BINLOG ADMIN", "PURGE BINARY LOGS")
		}
	case "reset":
		if w1 == "master" || w1 == "slave" || w1 == "replica" || w1 == "binary" {
			return replication("RELOAD", "RESET "+strings.ToUpper(w1))
		}
		return needPrivilege(ReasonFlush, "RELOAD", "RESET")
	case "flush":
		return needPrivilege(ReasonFlush, "RELOAD", "FLUSH")
	case "binlog":
		return replication("SUPER, BINLOG REPLAY", "BINLOG")
	case "install", "uninstall":
		if w1 == "plugin" || w1 == "soname" || w1 == "component" {
			cmd := "INSERT"
			if word(toks, 0) == "uninstall" {
				cmd = "DELETE"
			}
			d := needTable(ReasonPlugin, cmd, "mysql", "plugin")
			d.What = strings.ToUpper(word(toks, 0) + " " + w1)
			return d
		}
	case "create", "alter", "drop", "rename":
		obj := w1
		if w1 == "or" && w2 == "replace" {
			obj = word(toks, 3)
		}
		if obj == "user" || obj == "role" {
			return needPrivilege(ReasonAccount, "CREATE USER", strings.ToUpper(word(toks, 0)+" "+obj))
		}
	case "grant", "revoke":
		return &Denial{Reason: ReasonGrant, Code: sqlerr.ERAccessDenied, State: "28000", What: strings.ToUpper(word(toks, 0))}
	case "set":
		return classifySet(toks)
	case "load":
		if w1 == "data" || w1 == "xml" {
			i := 2
			for word(toks, i) == "low_priority" || word(toks, i) == "concurrent" {
				i++
			}
			if word(toks, i) != "local" {
				return needFile("LOAD " + strings.ToUpper(w1) + " INFILE (server-side file; LOCAL is allowed)")
			}
		}
	case "show":
		switch w1 {
		case "grants":
			return needDB(ReasonSystemSchema, "mysql")
		case "create":
			if w2 == "user" {
				return needDB(ReasonSystemSchema, "mysql")
			}
		case "binlog", "relaylog", "binary", "master":
			return replication("SUPER, BINLOG MONITOR", "SHOW "+strings.ToUpper(w1))
		case "slave", "replica", "all":
			return replication("SUPER, SLAVE MONITOR", "SHOW SLAVE STATUS")
		}
	}
	return nil
}

// classifySet refuses SET statements by their tokens (the parser rejects SET PERSIST, SET
// STATEMENT ... FOR, SET PASSWORD; parsed ones are checked on the AST as well).
func classifySet(toks []privToken) *Denial {
	switch word(toks, 1) {
	case "password":
		d := needDB(ReasonPassword, "mysql")
		d.What = "SET PASSWORD"
		return d
	case "default":
		if word(toks, 2) == "role" {
			return needPrivilege(ReasonAccount, "CREATE USER", "SET DEFAULT ROLE")
		}
	case "global", "persist", "persist_only":
		return needPrivilege(ReasonGlobalVariable, "SUPER", "SET GLOBAL "+word(toks, 2))
	}
	for i, t := range toks {
		switch t.kind {
		case tWord:
			switch t.text {
			case "global", "persist", "persist_only":
				if punct(toks, i-1, ",") {
					return needPrivilege(ReasonGlobalVariable, "SUPER", "SET GLOBAL "+word(toks, i+1))
				}
			case "for":
				if word(toks, 1) == "statement" {
					return classifyTokens(toks[i+1:]) // SET STATEMENT ... FOR <statement>
				}
			default:
				if priv, ok := binlogVars[t.text]; ok && (punct(toks, i+1, "=") || punct(toks, i+1, ":")) {
					return needPrivilege(ReasonBinlogVariable, priv, "SET "+t.text)
				}
			}
		case tSysVar:
			if d := setDenial(&sqlparser.Variable{Scope: sqlparser.SessionScope, Name: sqlparser.NewIdentifierCI(t.text)}); d != nil {
				return d
			}
		case tUserVar:
			if t.text == writerMark {
				return needAdmin(ReasonWriterMark, "user variable "+backendaddr.WriterMark+" is vtgate-lite's")
			}
		}
	}
	return nil
}

// scanTokens checks a statement without an AST, anywhere in its text: LOAD_FILE(, INTO
// OUTFILE/DUMPFILE, the writer mark and mysql./_vt_lite. qualifiers.
func scanTokens(toks []privToken) *Denial {
	for i, t := range toks {
		switch t.kind {
		case tWord:
			switch {
			case t.text == "load_file" && punct(toks, i+1, "("):
				return needFile("LOAD_FILE()")
			case t.text == "into" && (word(toks, i+1) == "outfile" || word(toks, i+1) == "dumpfile"):
				return needFile("SELECT ... INTO OUTFILE/DUMPFILE")
			case punct(toks, i+1, "."):
				if r, ok := schemaReason(t.text); ok {
					return needTable(r, "SELECT", t.text, name(toks, i+2))
				}
			}
		case tString:
			// "mysql".x: a name under sql_mode ANSI_QUOTES.
			if t.text[0] == '"' && punct(toks, i+1, ".") {
				if r, ok := schemaReason(name(toks, i)); ok {
					return needTable(r, "SELECT", name(toks, i), name(toks, i+2))
				}
			}
		case tUserVar:
			if t.text == writerMark {
				return needAdmin(ReasonWriterMark, "user variable "+backendaddr.WriterMark+" is vtgate-lite's")
			}
		}
	}
	return nil
}

// Failed is a plan that answers an error: a statement whose planning failed but that has a
// privilege verdict, so that users without admin get the refusal (USE mysql: 1044, not the
// 1049 an admin gets, mysql not being a keyspace).
const Failed Kind = "Failed"

// verdict adds the privilege verdict of stmt, read from the text sql, to the result of
// building its plan.
func verdict(p *Plan, err error, stmt sqlparser.Statement, sql string) (*Plan, error) {
	d := privilege(stmt, sql)
	if d == nil {
		if p != nil {
			_, p.literalVerdict = stmt.(*sqlparser.PrepareStmt)
		}
		return p, err
	}
	if err != nil {
		typ, _ := statementType(stmt)
		return &Plan{Kind: Failed, Stmt: typ, Deny: d, Err: err}, nil
	}
	p.Deny = d
	_, p.literalVerdict = stmt.(*sqlparser.PrepareStmt)
	return p, nil
}

// BuildUnparsed plans a statement the parser rejects (SHUTDOWN, CHANGE MASTER, GRANT...)
// when it is one of the refused classes: users without admin get the refusal, and admins'
// text goes unchanged to a server of the session's keyspace. ok is false for any other
// text: the client gets the syntax error.
func BuildUnparsed(sql string, sess Session, rt *router.Table) (p *Plan, ok bool) {
	d := UnparsedDenial(sql)
	if d == nil {
		return nil, false
	}
	ks, err := defaultKeyspace(sess, rt)
	if err != nil {
		return &Plan{Kind: Failed, Stmt: "other", Deny: d, Err: err}, true
	}
	return &Plan{Kind: Route, Stmt: "other", Keyspace: ks, TabletType: sess.TabletType, TabletName: sess.TabletType.String(), Deny: d}, true
}

// skipQuotedPlain is skipQuoted without backslash escapes (NO_BACKSLASH_ESCAPES).
func skipQuotedPlain(sql string, i int, q byte) (int, bool) {
	for j := i + 1; j < len(sql); j++ {
		if sql[j] == q {
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}
