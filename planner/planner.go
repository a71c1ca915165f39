package planner

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Kind says what executing a plan means.
type Kind string

const (
	Route           Kind = "Route"         // send Query to one keyspace
	Use             Kind = "Use"           // change the session's keyspace / tablet type
	Set             Kind = "Set"           // session settings (tracked, replayed on pooled connections)
	Begin           Kind = "Begin"         // open a transaction (lazily on each keyspace)
	Commit          Kind = "Commit"        //
	Rollback        Kind = "Rollback"      //
	Savepoint       Kind = "Savepoint"     // SAVEPOINT / ROLLBACK TO / RELEASE: sent to every open transaction and replayed on later ones
	ShowKeyspaces   Kind = "ShowKeyspaces" // SHOW DATABASES / SHOW KEYSPACES
	ShowVSchema     Kind = "ShowVSchemaTables"
	AlterVSchema    Kind = "AlterVSchema"   // admin only
	VExplain        Kind = "VExplain"       // VEXPLAIN PLAN|QUERIES <Inner>
	Unlock          Kind = "UnlockTables"   // UNLOCK TABLES: sent to every reserved connection
	SelectDatabase  Kind = "SelectDatabase" // SELECT DATABASE() answered by the proxy
	SelectVersionCm Kind = "SelectVersionComment"
)

// Session is the part of a client session that planning depends on.
type Session struct {
	Keyspace   string
	TabletType router.TabletType
	// Mode is how the session's server reads statement text (its sql_mode and version).
	Mode Mode
	// Default is the configured default_keyspace: where a session without a keyspace
	// routes ("" = none: statements that need no table run on a connection with no database
	// selected, unqualified tables are 1046). It is fixed for the proxy's lifetime, so plans
	// cached by (text, keyspace, tablet type) stay valid.
	Default string
	// ConnID is the session's proxy id: CONNECTION_ID() is planned as this literal (and such
	// a plan is marked ConnectionID: valid for this session only).
	ConnID uint32
}

// Setting is one tracked session variable and the statement that sets it.
type Setting struct {
	// Name is the tracking key: the variable, or "names" for the character set group.
	Name string `json:"name"`
	// Var is the variable itself (character_set_client for the key "names").
	Var string `json:"var,omitempty"`
	SQL string `json:"sql"`
	// Eval says the value is an expression (a user variable, @@var, a function call): only
	// the session's own connection can compute it. The proxy runs SQL there, reads the
	// result back and tracks it as a literal SET (LiteralSet).
	Eval bool `json:"eval,omitempty"`
}

// Plan is what the proxy does with one statement. It is a value: planning has no side effects.
type Plan struct {
	Kind       Kind              `json:"kind"`
	Stmt       string            `json:"statement_type"`
	Keyspace   string            `json:"keyspace,omitempty"`
	TabletType router.TabletType `json:"-"`
	TabletName string            `json:"tablet_type,omitempty"`
	// Query is the SQL sent to the backend; empty means the client's text unchanged.
	Query string `json:"query,omitempty"`
	// Tables lists the resolved tables as keyspace.table (sorted, unique): the write
	// switch holds statements by these.
	Tables []string `json:"tables,omitempty"`
	// Rules lists the routing rules that decided (for VEXPLAIN).
	Rules []string `json:"rules,omitempty"`
	Write bool     `json:"write,omitempty"`
	// Reserve names why the session must keep this backend connection ("" = it need not).
	Reserve string `json:"reserve,omitempty"`
	// Pulls are the tables a CrossKeyspace plan copies to the anchor keyspace first.
	Pulls []Pull `json:"pulls,omitempty"`
	// LocalInfile marks LOAD DATA LOCAL INFILE (the client must allow local files).
	LocalInfile bool `json:"local_infile,omitempty"`
	// Unparsed marks a statement the parser could not read, sent unchanged to the session
	// keyspace's primary (planUnparsed).
	Unparsed bool `json:"unparsed,omitempty"`

	// Use
	UseType bool `json:"-"` // the USE named a tablet type
	// Set
	Settings   []Setting `json:"settings,omitempty"`
	Autocommit *bool     `json:"autocommit,omitempty"`
	// Begin: the client's START TRANSACTION text, replayed on each keyspace.
	BeginSQL string `json:"begin_sql,omitempty"`
	// AlterVSchema
	VSchemaAdd bool `json:"vschema_add,omitempty"`
	// VExplain
	VExplainMode string `json:"vexplain,omitempty"`
	Inner        *Plan  `json:"inner,omitempty"`
	// SHOW DATABASES LIKE 'x' filter, as a SQL LIKE pattern ("" = all)
	Like string `json:"like,omitempty"`
	// Column names the single column of a result the proxy makes (SELECT DATABASE()).
	Column string `json:"column,omitempty"`
	// NoDatabase: the session has no keyspace (and no default_keyspace is configured), and
	// the statement names no table: it runs on a connection with no database selected, as
	// on the server. Keyspace is then "".
	NoDatabase bool `json:"no_database,omitempty"`
	// DatabaseDDL is create, alter or drop for CREATE/ALTER/DROP DATABASE; KeyspaceDB says
	// the database is Keyspace's own backend database (after a DROP the session that had
	// it selected has no database).
	DatabaseDDL string `json:"database_ddl,omitempty"`
	KeyspaceDB  bool   `json:"keyspace_database,omitempty"`
	// Processlist and Kill: the proxy's own sessions (processlist.go).
	Processlist *ProcesslistPlan `json:"processlist,omitempty"`
	Kill        *KillPlan        `json:"kill_session,omitempty"`
	// ConnectionID: CONNECTION_ID() was replaced by Session.ConnID; never cache the plan.
	ConnectionID bool `json:"connection_id,omitempty"`

	// Deny is the privilege verdict for users without admin (nil: anyone may run it; see
	// privilege.go). It is computed once, with the plan, and cached with it.
	Deny *Denial `json:"deny,omitempty"`
	// Err is what a Failed plan answers to the users Deny lets through.
	Err error `json:"-"`
	// literalVerdict marks a verdict that depends on a literal (PREPARE ... FROM 'text'):
	// the plan must not serve other statements of the same digest.
	literalVerdict bool
}

// Parser is the vitess parser configured the way the proxy uses it.
func Parser() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.30"})
	if err != nil {
		panic(err) // only on an invalid version string, which is a constant
	}
	return p
}

// trackedVars are session variables the proxy replays on any pooled connection the
// session uses. Anything else set by a client reserves a connection for the session.
var trackedVars = map[string]bool{
	"names": true, "charset": true, "character_set_client": true, "character_set_results": true,
	"character_set_connection": true, "collation_connection": true, "sql_mode": true, "time_zone": true,
	"sql_safe_updates": true, "foreign_key_checks": true, "unique_checks": true, "sql_auto_is_null": true,
	"group_concat_max_len": true, "max_execution_time": true, "max_statement_time": true,
	"transaction_isolation": true, "tx_isolation": true, "transaction_read_only": true, "tx_read_only": true,
	"sql_select_limit": true, "wait_timeout": true, "net_read_timeout": true, "net_write_timeout": true,
	"innodb_lock_wait_timeout": true, "lock_wait_timeout": true, "long_query_time": true,
	"div_precision_increment": true, "optimizer_switch": true, "sql_big_selects": true, "sql_notes": true,
	"sql_warnings": true, "sql_quote_show_create": true, "big_tables": true, "default_week_format": true,
	"max_heap_table_size": true, "tmp_table_size": true, "sort_buffer_size": true, "join_buffer_size": true,
	"max_sort_length": true, "lc_time_names": true, "net_buffer_length": true, "interactive_timeout": true,
	"sql_buffer_result": true, "profiling": true, "session_track_schema": true, "session_track_state_change": true,
	"session_track_system_variables": true, "session_track_transaction_info": true, "max_join_size": true,
	"old_passwords": true, "character_set_database": true, "collation_database": true, "sql_log_off": true,
	"timestamp": false, "insert_id": false, "last_insert_id": false, // per-statement state: reserve
}

var systemSchemas = map[string]bool{"information_schema": true, "mysql": true, "performance_schema": true, "sys": true}

var loadDataRE = regexp.MustCompile("(?is)\\bINTO\\s+TABLE\\s+(`[^`]+`|[\\w$]+)(?:\\s*\\.\\s*(`[^`]+`|[\\w$]+))?")
var localRE = regexp.MustCompile(`(?is)^\s*LOAD\s+(?:DATA|XML)\s+(?:LOW_PRIORITY\s+|CONCURRENT\s+)?LOCAL\b`)

// Build plans stmt (parsed from sql) for sess against routing table rt; the plan carries
// its privilege verdict (Plan.Deny).
func Build(stmt sqlparser.Statement, sql string, sess Session, rt *router.Table) (*Plan, error) {
	p, err := buildPlan(stmt, sql, sess, rt)
	return verdict(p, err, stmt, sql)
}

func buildPlan(stmt sqlparser.Statement, sql string, sess Session, rt *router.Table) (*Plan, error) {
	if p, ok, err := planProcess(stmt, sql, sess, rt); ok {
		return p, err
	}
	switch s := stmt.(type) {
	case *sqlparser.Use:
		return planUse(s, rt)
	case *sqlparser.Set:
		return planSet(s, sql, sess, rt)
	case *sqlparser.Begin:
		return &Plan{Kind: Begin, Stmt: "begin", BeginSQL: sqlparser.String(s)}, nil
	case *sqlparser.Commit:
		return &Plan{Kind: Commit, Stmt: "commit"}, nil
	case *sqlparser.Rollback:
		return &Plan{Kind: Rollback, Stmt: "rollback"}, nil
	case *sqlparser.Savepoint, *sqlparser.SRollback, *sqlparser.Release:
		return &Plan{Kind: Savepoint, Stmt: "savepoint", Query: sql}, nil
	case *sqlparser.UnlockTables:
		return &Plan{Kind: Unlock, Stmt: "lock", Query: sql}, nil
	case *sqlparser.AlterVschema:
		return planAlterVSchema(s, rt)
	case *sqlparser.VExplainStmt:
		return planVExplain(s, sess, rt)
	case *sqlparser.Show:
		if p, ok, err := planShow(s, sql, sess, rt); ok {
			return p, err
		}
	case *sqlparser.Select:
		if p := planProxySelect(s); p != nil {
			return p, nil
		}
	case *sqlparser.Load:
		return planLoad(sql, sess, rt)
	case sqlparser.DBDDLStatement:
		return planDatabaseDDL(s, sess, rt)
	}
	return planRoute(stmt, sql, sess, rt)
}

func planUse(s *sqlparser.Use, rt *router.Table) (*Plan, error) {
	name := s.DBName.String()
	ks, typ, hasType := strings.Cut(name, "@")
	p := &Plan{Kind: Use, Stmt: "use", Keyspace: ks, UseType: hasType}
	if hasType {
		tt, err := router.ParseTabletType(typ)
		if err != nil {
			return nil, sqlerr.BadDB(name)
		}
		p.TabletType = tt
	}
	if ks != "" {
		if _, ok := rt.Keyspace(ks); !ok {
			return nil, sqlerr.BadDB(ks)
		}
	}
	p.TabletName = p.TabletType.String()
	return p, nil
}

func planSet(s *sqlparser.Set, sql string, sess Session, rt *router.Table) (*Plan, error) {
	p := &Plan{Kind: Set, Stmt: "set"}
	single := len(s.Exprs) == 1
	for _, e := range s.Exprs {
		name := strings.ToLower(e.Var.Name.String())
		switch e.Var.Scope {
		case sqlparser.VariableScope, sqlparser.NextTxScope, sqlparser.GlobalScope,
			sqlparser.PersistSysScope, sqlparser.PersistOnlySysScope:
			// User variables, next-transaction characteristics and global changes are state
			// the proxy does not track: send the statement on a connection the session keeps.
			return reserveRoute(sql, sess, rt, "SET "+e.Var.Name.String())
		}
		if name == "autocommit" {
			on, err := boolValue(e.Expr)
			if err != nil {
				return nil, sqlerr.New(sqlerr.ERWrongValueForVar, "42000", "Variable 'autocommit' can't be set to the value of '%s'", sqlparser.String(e.Expr))
			}
			p.Autocommit = &on
			continue
		}
		if !trackedVars[name] {
			return reserveRoute(sql, sess, rt, "SET "+name)
		}
		stmt := sql
		if !single {
			stmt = sqlparser.String(&sqlparser.Set{Exprs: sqlparser.SetExprs{e}})
		}
		st := Setting{Name: name, Var: name, SQL: stmt, Eval: !IsLiteral(e.Expr)}
		if charsetGroup[name] {
			st.Name = "names" // these overlap: replayed together, in the order set (proxy)
		}
		if st.Eval && (name == "names" || name == "charset") {
			return reserveRoute(sql, sess, rt, "SET "+name)
		}
		p.Settings = append(p.Settings, st)
	}
	if len(p.Settings) > 0 && p.Autocommit != nil && !single {
		// Keep it simple and exact: a SET mixing autocommit with other variables is split by the proxy.
		p.Settings = nil
		for _, e := range s.Exprs {
			if strings.EqualFold(e.Var.Name.String(), "autocommit") {
				continue
			}
			name := strings.ToLower(e.Var.Name.String())
			st := Setting{Name: name, Var: name, SQL: sqlparser.String(&sqlparser.Set{Exprs: sqlparser.SetExprs{e}}), Eval: !IsLiteral(e.Expr)}
			if charsetGroup[name] {
				st.Name = "names"
			}
			p.Settings = append(p.Settings, st)
		}
	}
	return p, nil
}

func boolValue(e sqlparser.Expr) (bool, error) {
	switch v := strings.ToLower(strings.Trim(sqlparser.String(e), "'`\"")); v {
	case "1", "on", "true":
		return true, nil
	case "0", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean")
}

func reserveRoute(sql string, sess Session, rt *router.Table, why string) (*Plan, error) {
	ks, err := defaultKeyspace(sess, rt)
	if err != nil {
		return nil, err
	}
	return &Plan{Kind: Route, Stmt: "set", Keyspace: ks, NoDatabase: ks == "", TabletType: router.Primary, TabletName: "primary", Reserve: why}, nil
}

func planAlterVSchema(s *sqlparser.AlterVschema, rt *router.Table) (*Plan, error) {
	p := &Plan{Kind: AlterVSchema, Stmt: "admin", Keyspace: s.Table.Qualifier.String()}
	switch s.Action {
	case sqlparser.AddVschemaTableDDLAction:
		p.VSchemaAdd = true
	case sqlparser.DropVschemaTableDDLAction:
	default:
		return nil, sqlerr.Unsupported("ALTER VSCHEMA %s (only ADD TABLE and DROP TABLE on unsharded keyspaces)", s.Action.ToString())
	}
	if p.Keyspace == "" {
		return nil, sqlerr.New(sqlerr.ERNoDB, "3D000", "ALTER VSCHEMA needs a qualified table: keyspace.table")
	}
	if _, ok := rt.Keyspace(p.Keyspace); !ok {
		return nil, sqlerr.BadDB(p.Keyspace)
	}
	p.Tables = []string{p.Keyspace + "." + s.Table.Name.String()}
	return p, nil
}

func planVExplain(s *sqlparser.VExplainStmt, sess Session, rt *router.Table) (*Plan, error) {
	var mode string
	switch s.Type {
	case sqlparser.PlanVExplainType:
		mode = "plan"
	case sqlparser.QueriesVExplainType:
		mode = "queries"
	default:
		return nil, sqlerr.Unsupported("VEXPLAIN %s (use PLAN or QUERIES)", s.Type.ToString())
	}
	inner, err := Build(s.Statement, sqlparser.String(s.Statement), sess, rt)
	if err != nil {
		return nil, err
	}
	if inner.Kind == Route && inner.Query == "" {
		inner.Query = sqlparser.String(s.Statement)
	}
	return &Plan{Kind: VExplain, Stmt: "vexplain", VExplainMode: mode, Inner: inner}, nil
}

// planShow handles the SHOW statements the proxy answers itself; ok=false sends the rest to planRoute.
func planShow(s *sqlparser.Show, sql string, sess Session, rt *router.Table) (*Plan, bool, error) {
	b, isBasic := s.Internal.(*sqlparser.ShowBasic)
	if !isBasic {
		return nil, false, nil
	}
	switch b.Command {
	case sqlparser.Database, sqlparser.Keyspace:
		p := &Plan{Kind: ShowKeyspaces, Stmt: "show"}
		if b.Filter != nil {
			if b.Filter.Filter != nil {
				return nil, true, sqlerr.Unsupported("SHOW DATABASES WHERE (use LIKE)")
			}
			p.Like = b.Filter.Like
		}
		return p, true, nil
	case sqlparser.VschemaTables:
		ks, err := defaultKeyspace(sess, rt)
		if err == nil && ks == "" {
			return nil, true, sqlerr.NoDB()
		}
		return &Plan{Kind: ShowVSchema, Stmt: "show", Keyspace: ks}, true, err
	case sqlparser.Table, sqlparser.TableStatus, sqlparser.OpenTable, sqlparser.Trigger:
		// SHOW [FULL] TABLES [FROM ks]: the keyspace named, or the session's.
		ks := b.DbName.String()
		if ks == "" {
			if ks = sessionKeyspace(sess); ks == "" {
				return nil, true, sqlerr.NoDB()
			}
		}
		k, found := rt.Keyspace(ks)
		if !found {
			return nil, true, sqlerr.BadDB(ks)
		}
		p := &Plan{Kind: Route, Stmt: "show", Keyspace: ks, TabletType: sess.TabletType, TabletName: sess.TabletType.String()}
		if !b.DbName.IsEmpty() && k.Database != ks {
			b.DbName = sqlparser.NewIdentifierCS(k.Database)
			p.Query = formatSQL(s)
		}
		return p, true, nil
	}
	return nil, false, nil
}

// planProxySelect answers SELECT DATABASE() and SELECT @@version_comment in the proxy:
// the backend would name its own schema, not the session's keyspace.
func planProxySelect(s *sqlparser.Select) *Plan {
	if len(s.From) != 1 || len(s.SelectExprs.Exprs) != 1 || s.Where != nil {
		return nil
	}
	if at, ok := s.From[0].(*sqlparser.AliasedTableExpr); !ok || sqlparser.String(at) != "dual" {
		return nil
	}
	ae, ok := s.SelectExprs.Exprs[0].(*sqlparser.AliasedExpr)
	if !ok {
		return nil
	}
	switch e := ae.Expr.(type) {
	case *sqlparser.FuncExpr:
		if n := e.Name.Lowered(); (n == "database" || n == "schema") && len(e.Exprs) == 0 {
			return &Plan{Kind: SelectDatabase, Stmt: "select", Column: columnName(ae, strings.ToUpper(n)+"()")}
		}
	}
	return nil
}

func columnName(ae *sqlparser.AliasedExpr, def string) string {
	if !ae.As.IsEmpty() {
		return ae.As.String()
	}
	return def
}

func planLoad(sql string, sess Session, rt *router.Table) (*Plan, error) {
	m := loadDataRE.FindStringSubmatch(sql)
	if m == nil {
		return nil, sqlerr.New(sqlerr.ERParse, "42000", "You have an error in your SQL syntax: LOAD DATA needs INTO TABLE")
	}
	unq := func(s string) string { return strings.Trim(s, "`") }
	qual, name := "", unq(m[1])
	if m[2] != "" {
		qual, name = unq(m[1]), unq(m[2])
	}
	if sess.TabletType != router.Primary {
		return nil, notAtReplica("LOAD DATA", sess.TabletType)
	}
	t, err := rt.Resolve(qual, name, sessionKeyspace(sess), router.Primary)
	if err != nil {
		return nil, err
	}
	p := &Plan{Kind: Route, Stmt: "insert", Keyspace: t.Keyspace, TabletType: router.Primary, TabletName: "primary",
		Write: true, Tables: []string{t.Keyspace + "." + t.Table}, LocalInfile: localRE.MatchString(sql)}
	if qual != "" {
		k, _ := rt.Keyspace(t.Keyspace)
		if k.Database != qual {
			p.Query = sql[:strings.Index(sql, m[0])] + "INTO TABLE `" + k.Database + "`.`" + t.Table + "`" + sql[strings.Index(sql, m[0])+len(m[0]):]
		}
	}
	return p, nil
}

func notAtReplica(what string, tt router.TabletType) error {
	return sqlerr.New(sqlerr.EROptionPrevents, "HY000",
		"%s is not allowed at tablet type %s: writes go to the primary (USE keyspace@primary)", what, tt)
}

// defaultKeyspace is where a statement that names no table goes: the session's keyspace,
// else the configured default_keyspace, else "" (no database: Plan.NoDatabase).
func defaultKeyspace(sess Session, rt *router.Table) (string, error) {
	ks := sessionKeyspace(sess)
	if ks == "" {
		return "", nil
	}
	if _, ok := rt.Keyspace(ks); !ok {
		return "", sqlerr.BadDB(ks)
	}
	return ks, nil
}

// sessionKeyspace is the keyspace unqualified names resolve in: the session's, else the
// configured default ("" when neither).
func sessionKeyspace(sess Session) string {
	if sess.Keyspace != "" {
		return sess.Keyspace
	}
	return sess.Default
}

// statementType classifies a statement for metrics and for the write/read decision.
func statementType(stmt sqlparser.Statement) (typ string, write bool) {
	switch s := stmt.(type) {
	case *sqlparser.Select:
		return "select", s.Into != nil
	case *sqlparser.Union:
		return "select", false
	case *sqlparser.Insert:
		return "insert", true
	case *sqlparser.Update:
		return "update", true
	case *sqlparser.Delete:
		return "delete", true
	case sqlparser.DDLStatement, *sqlparser.AlterView, *sqlparser.CreateView, *sqlparser.DropView:
		return "ddl", true
	case *sqlparser.Show, *sqlparser.ExplainTab, *sqlparser.ExplainStmt:
		return "show", false
	case *sqlparser.LockTables:
		return "lock", true
	case *sqlparser.CallProc:
		return "call", true
	case *sqlparser.Set:
		return "set", false
	}
	return "other", true
}

type tableRef struct{ qualifier, name string }

// collectTables lists the real table references in stmt (not column qualifiers, not CTEs).
func collectTables(stmt sqlparser.Statement) []tableRef {
	var refs []tableRef
	ctes := map[string]bool{}
	add := func(t sqlparser.TableName) {
		if t.Name.IsEmpty() {
			return
		}
		q := t.Qualifier.String()
		if q == "" && ctes[strings.ToLower(t.Name.String())] {
			return
		}
		if q == "" && strings.EqualFold(t.Name.String(), "dual") {
			return
		}
		refs = append(refs, tableRef{q, t.Name.String()})
	}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n := n.(type) {
		case *sqlparser.CommonTableExpr:
			ctes[strings.ToLower(n.ID.String())] = true
		case *sqlparser.AliasedTableExpr:
			if tn, ok := n.Expr.(sqlparser.TableName); ok {
				add(tn)
			}
		case *sqlparser.CreateTable:
			add(n.Table)
		case *sqlparser.AlterTable:
			add(n.Table)
		case *sqlparser.DropTable:
			for _, t := range n.FromTables {
				add(t)
			}
		case *sqlparser.TruncateTable:
			add(n.Table)
		case *sqlparser.RenameTable:
			for _, p := range n.TablePairs {
				add(p.FromTable)
				add(p.ToTable)
			}
		case *sqlparser.CreateView:
			add(n.ViewName)
		case *sqlparser.AlterView:
			add(n.ViewName)
		case *sqlparser.DropView:
			for _, t := range n.FromTables {
				add(t)
			}
		case *sqlparser.ExplainTab:
			add(n.Table)
		case *sqlparser.ShowCreate:
			add(n.Op)
		case *sqlparser.ShowBasic:
			if !n.Tbl.IsEmpty() {
				t := n.Tbl
				if t.Qualifier.IsEmpty() && !n.DbName.IsEmpty() {
					t.Qualifier = n.DbName
				}
				add(t)
			}
		}
		return true, nil
	}, stmt)
	return refs
}

func planRoute(stmt sqlparser.Statement, sql string, sess Session, rt *router.Table) (*Plan, error) {
	typ, write := statementType(stmt)
	p := &Plan{Kind: Route, Stmt: typ, Write: write}
	tt := sess.TabletType
	if write {
		if tt != router.Primary {
			return nil, notAtReplica(strings.ToUpper(typ), tt)
		}
	}
	p.TabletType, p.TabletName = tt, tt.String()

	var res []resolvedRef
	keyspaces := map[string][]string{}
	for _, ref := range collectTables(stmt) {
		if systemSchemas[strings.ToLower(ref.qualifier)] {
			continue
		}
		t, err := rt.Resolve(ref.qualifier, ref.name, sessionKeyspace(sess), tt)
		if err != nil {
			return nil, err
		}
		res = append(res, resolvedRef{ref, t})
		keyspaces[t.Keyspace] = append(keyspaces[t.Keyspace], t.Table)
		full := t.Keyspace + "." + t.Table
		if !slices.Contains(p.Tables, full) {
			p.Tables = append(p.Tables, full)
		}
		if t.Rule != "" && !slices.Contains(p.Rules, t.Rule) {
			p.Rules = append(p.Rules, t.Rule)
		}
	}
	sort.Strings(p.Tables)
	procQualified := false
	if call, ok := stmt.(*sqlparser.CallProc); ok && len(keyspaces) == 0 {
		// CALL ks.proc(): the keyspace's database holds the procedure.
		if q := call.Name.Qualifier.String(); q != "" {
			if _, isKS := rt.Keyspace(q); !isKS {
				return nil, sqlerr.BadDB(q)
			}
			keyspaces[q], procQualified = nil, true
		}
	}
	switch len(keyspaces) {
	case 0:
		ks, err := defaultKeyspace(sess, rt)
		if err != nil {
			return nil, err
		}
		if ks == "" {
			// No database: the server's answer for a session without one (DATABASE() is
			// NULL there already, nothing to rewrite).
			p.NoDatabase = true
			p.TabletType, p.TabletName = router.Primary, router.Primary.String()
			p.Reserve = reserveReason(stmt)
			return p, nil
		}
		p.Keyspace = ks
	case 1:
		for ks := range keyspaces {
			p.Keyspace = ks
		}
	default:
		return planCross(stmt, res, p, rt)
	}
	p.Reserve = reserveReason(stmt)

	// Rewrite keyspace qualifiers to the target's backend database (only when they differ:
	// the common case sends the client's text unchanged, without re-serializing).
	k, _ := rt.Keyspace(p.Keyspace)
	needs := false
	for _, r := range res {
		if (r.ref.qualifier != "" && r.ref.qualifier != k.Database) || r.ref.name != r.target.Table {
			needs = true
		}
	}
	if !needs {
		needs = hasKeyspaceColumnQualifier(stmt, rt, k.Database) || (procQualified && p.Keyspace != k.Database)
	}
	// DATABASE() names the session's keyspace (NULL without one), as on MySQL; the backend
	// connection would name its own schema: the routed keyspace's database.
	dbFunc := false
	if sess.Keyspace != k.Database && callsDatabase(stmt) {
		needs, dbFunc = true, true
	}
	if needs {
		var dbLit sqlparser.Expr
		if dbFunc {
			dbLit = &sqlparser.NullVal{}
			if sess.Keyspace != "" {
				dbLit = sqlparser.NewStrLiteral(sess.Keyspace)
			}
		}
		p.Query = requalify(stmt, rt, k.Database, dbLit)
	}
	return p, nil
}

// callsDatabase reports whether a DML statement calls DATABASE() or SCHEMA(). DDL is left
// alone: a view or routine body must keep the call, evaluated when it runs.
func callsDatabase(stmt sqlparser.Statement) bool {
	switch stmt.(type) {
	case *sqlparser.Select, *sqlparser.Union, *sqlparser.Insert, *sqlparser.Update, *sqlparser.Delete:
	default:
		return false
	}
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if isDatabaseFunc(n) {
			found = true
		}
		return !found, nil
	}, stmt)
	return found
}

func isDatabaseFunc(n sqlparser.SQLNode) bool {
	f, ok := n.(*sqlparser.FuncExpr)
	if !ok || len(f.Exprs) != 0 || !f.Qualifier.IsEmpty() {
		return false
	}
	name := f.Name.Lowered()
	return name == "database" || name == "schema"
}

// requalify prints stmt with every keyspace qualifier (of tables and of columns) replaced
// by the backend database db, and, when dbLit is not nil, every DATABASE()/SCHEMA() call by
// dbLit.
func requalify(stmt sqlparser.Statement, rt *router.Table, db string, dbLit sqlparser.Expr) string {
	rewritten := sqlparser.Rewrite(sqlparser.Clone(stmt), func(c *sqlparser.Cursor) bool {
		switch n := c.Node().(type) {
		case sqlparser.TableName:
			if !n.Qualifier.IsEmpty() {
				if _, isKS := rt.Keyspace(n.Qualifier.String()); isKS {
					c.Replace(sqlparser.TableName{Name: n.Name, Qualifier: sqlparser.NewIdentifierCS(db)})
				}
			}
		case *sqlparser.AliasedExpr:
			// The column keeps the client's name: "DATABASE()", not the literal.
			if dbLit != nil && n.As.IsEmpty() && isDatabaseFunc(n.Expr) {
				n.As = sqlparser.NewIdentifierCI(sqlparser.String(n.Expr))
			}
		}
		if dbLit != nil && isDatabaseFunc(c.Node()) {
			c.Replace(dbLit)
		}
		return true
	}, nil)
	return formatSQL(rewritten)
}

// formatSQL prints a statement, keeping prepared-statement placeholders as "?" (the
// parser turns them into named arguments, which MySQL would not accept).
func formatSQL(node sqlparser.SQLNode) string {
	buf := sqlparser.NewTrackedBuffer(func(buf *sqlparser.TrackedBuffer, node sqlparser.SQLNode) {
		if _, ok := node.(*sqlparser.Argument); ok {
			buf.WriteString("?")
			return
		}
		node.Format(buf)
	})
	buf.Myprintf("%v", node)
	return buf.String()
}

func hasKeyspaceColumnQualifier(stmt sqlparser.Statement, rt *router.Table, db string) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if c, ok := n.(*sqlparser.ColName); ok {
			if q := c.Qualifier.Qualifier.String(); q != "" && q != db {
				if _, isKS := rt.Keyspace(q); isKS {
					found = true
					return false, nil
				}
			}
		}
		return !found, nil
	}, stmt)
	return found
}

// reserveReason says why stmt leaves state on its connection that later statements of
// the session may depend on ("" when it does not).
func reserveReason(stmt sqlparser.Statement) string {
	switch s := stmt.(type) {
	case *sqlparser.CreateTable:
		if s.Temp {
			return "temporary table"
		}
	case *sqlparser.LockTables:
		return "LOCK TABLES"
	case *sqlparser.PrepareStmt, *sqlparser.ExecuteStmt, *sqlparser.DeallocateStmt:
		return "SQL prepared statement"
	}
	reason := ""
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n := n.(type) {
		case *sqlparser.LockingFunc:
			reason = "GET_LOCK"
		case *sqlparser.Variable:
			if n.Scope == sqlparser.VariableScope {
				reason = "user variable"
			}
		case *sqlparser.FuncExpr:
			switch n.Name.Lowered() {
			case "get_lock", "release_lock", "release_all_locks", "is_used_lock", "is_free_lock":
				reason = "GET_LOCK"
			}
		}
		return reason == "", nil
	}, stmt)
	return reason
}
