package planner

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// The proxy's own sessions: SHOW [FULL] PROCESSLIST, SELECT ... FROM
// information_schema.PROCESSLIST, KILL and CONNECTION_ID() describe and act on vtgate-lite's
// client sessions, never on the backends' connections (the backend would list the pooled
// connections of every client, and the migration engine's binlog streams).
const (
	ShowProcesslist Kind = "ShowProcesslist" // list the proxy's sessions (Plan.Processlist)
	Kill            Kind = "Kill"            // KILL [QUERY|CONNECTION] on a proxy session (Plan.Kill)
	ShowSSLStatus   Kind = "ShowSslStatus"   // SHOW [SESSION] STATUS LIKE 'Ssl%': the client's own TLS session
)

// KillPlan is a KILL statement's target.
type KillPlan struct {
	ID    uint64 `json:"id"`
	Query bool   `json:"query,omitempty"` // KILL QUERY: stop the running statement, keep the session
}

// Processlist columns, in information_schema.PROCESSLIST order (ProcessColumn.Field).
const (
	FieldID = iota
	FieldUser
	FieldHost
	FieldDB
	FieldCommand
	FieldTime
	FieldState
	FieldInfo
	FieldCount = -1 // COUNT(*)
)

var processFields = []string{"ID", "USER", "HOST", "DB", "COMMAND", "TIME", "STATE", "INFO"}
var showFields = []string{"Id", "User", "Host", "db", "Command", "Time", "State", "Info"}

// showInfoLen is how much of a statement SHOW PROCESSLIST (without FULL) shows, in characters.
const showInfoLen = 100

// ProcessRow is one proxy session, as the proxy sees it when the statement runs. Empty DB and
// Info are NULL.
type ProcessRow struct {
	ID      uint64
	User    string
	Host    string
	DB      string
	Command string
	Time    int64
	State   string
	Info    string
}

// ProcessColumn is one column of a processlist result.
type ProcessColumn struct {
	Name  string `json:"name"`
	Field int    `json:"field"` // Field* constant
}

// Numeric reports whether the column holds numbers (ID, TIME, COUNT(*)).
func (c ProcessColumn) Numeric() bool {
	return c.Field == FieldID || c.Field == FieldTime || c.Field == FieldCount
}

// ProcessOrder is one ORDER BY key.
type ProcessOrder struct {
	Field int  `json:"field"`
	Desc  bool `json:"desc,omitempty"`
}

// ProcesslistPlan is what a processlist statement shows: which columns, which rows, in
// which order. The proxy gathers the sessions the user may see; Result does the rest.
type ProcesslistPlan struct {
	Full    bool            `json:"full,omitempty"` // INFO is not truncated (SHOW FULL, information_schema)
	Columns []ProcessColumn `json:"columns"`
	Where   string          `json:"where,omitempty"` // for the golden files; where is what runs
	OrderBy []ProcessOrder  `json:"order_by,omitempty"`
	Limit   int64           `json:"limit,omitempty"` // -1 = none
	Offset  int64           `json:"offset,omitempty"`
	where   pexpr
}

// planProcess plans the statements about the proxy's own sessions: SHOW PROCESSLIST, the
// information_schema.PROCESSLIST table, KILL, SHOW STATUS LIKE 'Ssl%', and statements that call
// CONNECTION_ID() (planned with the session's id in its place). ok=false leaves stmt to Build.
func planProcess(stmt sqlparser.Statement, sql string, sess Session, rt *router.Table) (*Plan, bool, error) {
	switch s := stmt.(type) {
	case *sqlparser.Kill:
		return &Plan{Kind: Kill, Stmt: "kill", Kill: &KillPlan{ID: s.ProcesslistID, Query: s.Type == sqlparser.QueryType}}, true, nil
	case *sqlparser.Show:
		b, ok := s.Internal.(*sqlparser.ShowBasic)
		if !ok {
			return nil, false, nil
		}
		switch b.Command {
		case sqlparser.ProcessList:
			cols := make([]ProcessColumn, len(showFields))
			for i, n := range showFields {
				cols[i] = ProcessColumn{Name: n, Field: i}
			}
			return &Plan{Kind: ShowProcesslist, Stmt: "show", Processlist: &ProcesslistPlan{Full: b.Full, Columns: cols, Limit: -1}}, true, nil
		case sqlparser.StatusSession:
			if b.Filter != nil && b.Filter.Filter == nil && sslPattern(b.Filter.Like) {
				return &Plan{Kind: ShowSSLStatus, Stmt: "show", Like: b.Filter.Like}, true, nil
			}
		}
		return nil, false, nil
	}
	if sel, ok := stmt.(*sqlparser.Select); ok && readsProcesslist(sel) {
		p, err := planProcesslistSelect(sel, sess.ConnID)
		return p, true, err
	}
	if t := processlistRef(stmt); t != "" {
		return nil, true, sqlerr.Unsupported("%s in this statement: vtgate-lite answers only SELECT columns FROM "+
			"information_schema.PROCESSLIST [WHERE ...] [ORDER BY ...] [LIMIT ...] and SHOW [FULL] PROCESSLIST, with its own sessions; "+
			"the backends' threads are not shown through vtgate-lite", t)
	}
	if cid, ok := withConnectionID(stmt, sess.ConnID); ok {
		q := formatSQL(cid)
		p, err := Build(cid, q, sess, rt)
		if err != nil {
			return nil, true, err
		}
		p.ConnectionID = true
		if (p.Kind == Route || p.Kind == CrossKeyspace) && p.Query == "" {
			p.Query = q // the client's text still has CONNECTION_ID(): send the rewritten one
		}
		return p, true, nil
	}
	return nil, false, nil
}

// sslPattern reports whether a LIKE pattern can only match Ssl_* names: those describe the
// client's own connection, which only the proxy knows.
func sslPattern(like string) bool {
	return len(like) >= 3 && strings.EqualFold(like[:3], "ssl")
}

// SSLStatus returns the Ssl_* status rows matching like for a client connection: its cipher
// and protocol version ("" on a plain connection, as on MySQL).
func SSLStatus(like, cipher, version string) [][]string {
	var out [][]string
	for _, r := range [][]string{{"Ssl_cipher", cipher}, {"Ssl_version", version}} {
		if LikeMatch(strings.ToLower(like), strings.ToLower(r[0]), '\\') {
			out = append(out, r)
		}
	}
	return out
}

// processlistTables are the tables that list a server's threads.
var processlistTables = map[string]bool{
	"information_schema.processlist": true, "performance_schema.threads": true, "performance_schema.processlist": true,
	"sys.processlist": true, "sys.x$processlist": true, "sys.session": true, "sys.x$session": true,
}

func tableKey(t sqlparser.TableName) string {
	return strings.ToLower(t.Qualifier.String() + "." + t.Name.String())
}

// processlistRef names the first thread-listing table stmt reads ("" when none).
func processlistRef(stmt sqlparser.Statement) string {
	found := ""
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		if tn, ok := n.(sqlparser.TableName); ok && processlistTables[tableKey(tn)] {
			found = tn.Qualifier.String() + "." + tn.Name.String()
		}
		return found == "", nil
	}, stmt)
	return found
}

// readsProcesslist reports a SELECT whose only table is information_schema.PROCESSLIST.
func readsProcesslist(s *sqlparser.Select) bool {
	if len(s.From) != 1 {
		return false
	}
	at, ok := s.From[0].(*sqlparser.AliasedTableExpr)
	if !ok {
		return false
	}
	tn, ok := at.Expr.(sqlparser.TableName)
	return ok && tableKey(tn) == "information_schema.processlist"
}

func processUnsupported(what string) error {
	return sqlerr.Unsupported("%s on information_schema.PROCESSLIST (vtgate-lite evaluates columns, COUNT(*), WHERE with comparisons, "+
		"LIKE, IN, BETWEEN, IS NULL, AND/OR/NOT, ORDER BY columns and LIMIT)", what)
}

// planProcesslistSelect compiles a SELECT on information_schema.PROCESSLIST. What it cannot
// evaluate exactly it refuses, rather than answer differently from MySQL.
func planProcesslistSelect(s *sqlparser.Select, connID uint32) (*Plan, error) {
	switch {
	case s.With != nil:
		return nil, processUnsupported("WITH")
	case s.Distinct:
		return nil, processUnsupported("DISTINCT")
	case s.GroupBy != nil || s.Having != nil:
		return nil, processUnsupported("GROUP BY / HAVING")
	case s.Into != nil:
		return nil, processUnsupported("INTO")
	case len(s.Windows) > 0:
		return nil, processUnsupported("WINDOW")
	}
	at := s.From[0].(*sqlparser.AliasedTableExpr)
	alias := strings.ToLower(at.As.String())
	c := &processCompiler{alias: alias, connID: connID}
	q := &ProcesslistPlan{Full: true, Limit: -1}
	count := false
	for _, se := range s.SelectExprs.Exprs {
		switch e := se.(type) {
		case *sqlparser.StarExpr:
			if !e.TableName.IsEmpty() && !c.qualifierOK(e.TableName) {
				return nil, sqlerr.New(1051, "42S02", "Unknown table '%s'", sqlparser.String(e.TableName))
			}
			for i, n := range processFields {
				q.Columns = append(q.Columns, ProcessColumn{Name: n, Field: i})
			}
		case *sqlparser.AliasedExpr:
			if _, ok := e.Expr.(*sqlparser.CountStar); ok {
				count = true
				q.Columns = append(q.Columns, ProcessColumn{Name: columnName(e, "COUNT(*)"), Field: FieldCount})
				continue
			}
			col, ok := e.Expr.(*sqlparser.ColName)
			if !ok {
				return nil, processUnsupported("the expression " + sqlparser.String(e.Expr))
			}
			f, err := c.field(col)
			if err != nil {
				return nil, err
			}
			q.Columns = append(q.Columns, ProcessColumn{Name: columnName(e, processFields[f]), Field: f})
		default:
			return nil, processUnsupported(sqlparser.String(se))
		}
	}
	if count && len(q.Columns) > 1 {
		return nil, processUnsupported("COUNT(*) with other columns")
	}
	if s.Where != nil {
		w, err := c.compile(s.Where.Expr)
		if err != nil {
			return nil, err
		}
		q.where, q.Where = w, sqlparser.String(s.Where.Expr)
	}
	for _, o := range s.OrderBy {
		f, err := c.orderField(o.Expr, q.Columns)
		if err != nil {
			return nil, err
		}
		q.OrderBy = append(q.OrderBy, ProcessOrder{Field: f, Desc: o.Direction == sqlparser.DescOrder})
	}
	if s.Limit != nil {
		var err error
		if q.Limit, err = limitValue(s.Limit.Rowcount); err != nil {
			return nil, err
		}
		if s.Limit.Offset != nil {
			if q.Offset, err = limitValue(s.Limit.Offset); err != nil {
				return nil, err
			}
		}
	}
	return &Plan{Kind: ShowProcesslist, Stmt: "select", Processlist: q, ConnectionID: c.usedConnID}, nil
}

func limitValue(e sqlparser.Expr) (int64, error) {
	l, ok := e.(*sqlparser.Literal)
	if !ok || l.Type != sqlparser.IntVal {
		return 0, processUnsupported("LIMIT " + sqlparser.String(e))
	}
	n, err := strconv.ParseInt(l.Val, 10, 64)
	if err != nil {
		return 0, processUnsupported("LIMIT " + l.Val)
	}
	return n, nil
}

// Result applies the plan to the sessions the user may see: filter, order, limit, columns.
// Values are text (nil = NULL).
func (q *ProcesslistPlan) Result(sessions []ProcessRow) [][][]byte {
	rows := make([]*ProcessRow, 0, len(sessions))
	for i := range sessions {
		if q.where == nil || q.where.eval(&sessions[i]).isTrue() {
			rows = append(rows, &sessions[i])
		}
	}
	if len(q.OrderBy) > 0 {
		sort.SliceStable(rows, func(i, j int) bool {
			for _, o := range q.OrderBy {
				c := compareVals(fieldVal(rows[i], o.Field), fieldVal(rows[j], o.Field))
				if c != 0 {
					return (c < 0) != o.Desc
				}
			}
			return false
		})
	}
	if len(q.Columns) == 1 && q.Columns[0].Field == FieldCount {
		return [][][]byte{{[]byte(strconv.Itoa(len(rows)))}}
	}
	if q.Offset > 0 {
		rows = rows[min(int(q.Offset), len(rows)):]
	}
	if q.Limit >= 0 && int(q.Limit) < len(rows) {
		rows = rows[:q.Limit]
	}
	out := make([][][]byte, len(rows))
	for i, r := range rows {
		out[i] = make([][]byte, len(q.Columns))
		for j, c := range q.Columns {
			v := fieldVal(r, c.Field)
			switch {
			case v.null:
			case c.Field == FieldInfo && !q.Full:
				out[i][j] = []byte(truncateChars(v.s, showInfoLen))
			default:
				out[i][j] = []byte(v.text())
			}
		}
	}
	return out
}

func truncateChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// --- WHERE evaluation ---

// val is a SQL value: a number, a string or NULL.
type val struct {
	s    string
	n    float64
	num  bool
	null bool
}

func (v val) text() string {
	if v.num {
		return strconv.FormatFloat(v.n, 'f', -1, 64)
	}
	return v.s
}

func (v val) isTrue() bool { return !v.null && v.number() != 0 }

// number converts as MySQL does: the leading numeric part of a string, 0 when none.
func (v val) number() float64 {
	if v.num {
		return v.n
	}
	s := strings.TrimSpace(v.s)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.' || s[end] == 'e' || s[end] == 'E' ||
		(s[end] == '-' || s[end] == '+') && (end == 0 || s[end-1] == 'e' || s[end-1] == 'E')) {
		end++
	}
	for ; end > 0; end-- {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return f
		}
	}
	return 0
}

var nullVal = val{null: true}

func boolVal(b bool) val {
	if b {
		return val{n: 1, num: true}
	}
	return val{n: 0, num: true}
}

func fieldVal(r *ProcessRow, f int) val {
	switch f {
	case FieldID:
		return val{n: float64(r.ID), num: true}
	case FieldUser:
		return val{s: r.User}
	case FieldHost:
		return val{s: r.Host}
	case FieldDB:
		if r.DB == "" {
			return nullVal
		}
		return val{s: r.DB}
	case FieldCommand:
		return val{s: r.Command}
	case FieldTime:
		return val{n: float64(r.Time), num: true}
	case FieldState:
		return val{s: r.State}
	case FieldInfo:
		if r.Info == "" {
			return nullVal
		}
		return val{s: r.Info}
	}
	return nullVal
}

// compareVals orders two values: NULL first, numbers when either side is a number, else
// strings case-insensitively (information_schema's utf8 general collation).
func compareVals(a, b val) int {
	switch {
	case a.null && b.null:
		return 0
	case a.null:
		return -1
	case b.null:
		return 1
	case a.num || b.num:
		x, y := a.number(), b.number()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(strings.ToLower(a.s), strings.ToLower(b.s))
}

type pexpr interface{ eval(r *ProcessRow) val }

type pfield int
type pconst val
type pnot struct{ e pexpr }
type pand struct{ l, r pexpr }
type por struct{ l, r pexpr }
type pcmp struct {
	op   sqlparser.ComparisonExprOperator
	l, r pexpr
}
type pin struct {
	l    pexpr
	list []pexpr
	not  bool
}
type plike struct {
	l, pattern pexpr
	escape     byte
	not        bool
}
type pbetween struct {
	l, from, to pexpr
	not         bool
}
type pisnull struct {
	l   pexpr
	not bool
}

func (f pfield) eval(r *ProcessRow) val { return fieldVal(r, int(f)) }
func (c pconst) eval(*ProcessRow) val   { return val(c) }
func (n pnot) eval(r *ProcessRow) val {
	v := n.e.eval(r)
	if v.null {
		return v
	}
	return boolVal(!v.isTrue())
}
func (a pand) eval(r *ProcessRow) val {
	l, rv := a.l.eval(r), a.r.eval(r)
	if !l.null && !l.isTrue() || !rv.null && !rv.isTrue() {
		return boolVal(false)
	}
	if l.null || rv.null {
		return nullVal
	}
	return boolVal(true)
}
func (o por) eval(r *ProcessRow) val {
	l, rv := o.l.eval(r), o.r.eval(r)
	if l.isTrue() || rv.isTrue() {
		return boolVal(true)
	}
	if l.null || rv.null {
		return nullVal
	}
	return boolVal(false)
}
func (c pcmp) eval(r *ProcessRow) val {
	l, rv := c.l.eval(r), c.r.eval(r)
	if c.op == sqlparser.NullSafeEqualOp {
		return boolVal(l.null == rv.null && (l.null || compareVals(l, rv) == 0))
	}
	if l.null || rv.null {
		return nullVal
	}
	d := compareVals(l, rv)
	switch c.op {
	case sqlparser.EqualOp:
		return boolVal(d == 0)
	case sqlparser.NotEqualOp:
		return boolVal(d != 0)
	case sqlparser.LessThanOp:
		return boolVal(d < 0)
	case sqlparser.LessEqualOp:
		return boolVal(d <= 0)
	case sqlparser.GreaterThanOp:
		return boolVal(d > 0)
	case sqlparser.GreaterEqualOp:
		return boolVal(d >= 0)
	}
	return nullVal
}
func (in pin) eval(r *ProcessRow) val {
	l := in.l.eval(r)
	if l.null {
		return nullVal
	}
	sawNull := false
	for _, e := range in.list {
		v := e.eval(r)
		if v.null {
			sawNull = true
			continue
		}
		if compareVals(l, v) == 0 {
			return boolVal(!in.not)
		}
	}
	if sawNull {
		return nullVal
	}
	return boolVal(in.not)
}
func (lk plike) eval(r *ProcessRow) val {
	l, p := lk.l.eval(r), lk.pattern.eval(r)
	if l.null || p.null {
		return nullVal
	}
	return boolVal(LikeMatch(strings.ToLower(p.text()), strings.ToLower(l.text()), lk.escape) != lk.not)
}
func (b pbetween) eval(r *ProcessRow) val {
	l, f, t := b.l.eval(r), b.from.eval(r), b.to.eval(r)
	if l.null || f.null || t.null {
		return nullVal
	}
	in := compareVals(l, f) >= 0 && compareVals(l, t) <= 0
	return boolVal(in != b.not)
}
func (i pisnull) eval(r *ProcessRow) val { return boolVal(i.l.eval(r).null != i.not) }

// processCompiler turns the supported expressions into pexpr values.
type processCompiler struct {
	alias      string
	connID     uint32 // CONNECTION_ID(): WHERE ID = CONNECTION_ID() is the session's own row
	usedConnID bool
}

func (c *processCompiler) qualifierOK(t sqlparser.TableName) bool {
	q, n := strings.ToLower(t.Qualifier.String()), strings.ToLower(t.Name.String())
	if c.alias != "" {
		return q == "" && n == c.alias
	}
	return n == "processlist" && (q == "" || q == "information_schema")
}

func (c *processCompiler) field(col *sqlparser.ColName) (int, error) {
	if !col.Qualifier.IsEmpty() && !c.qualifierOK(col.Qualifier) {
		return 0, sqlerr.New(1054, "42S22", "Unknown column '%s' in 'field list'", sqlparser.String(col))
	}
	name := strings.ToUpper(col.Name.String())
	for i, f := range processFields {
		if f == name {
			return i, nil
		}
	}
	return 0, sqlerr.New(1054, "42S22", "Unknown column '%s' in 'field list' (vtgate-lite's information_schema.PROCESSLIST has %s)",
		col.Name.String(), strings.Join(processFields, ", "))
}

func (c *processCompiler) orderField(e sqlparser.Expr, cols []ProcessColumn) (int, error) {
	switch x := e.(type) {
	case *sqlparser.ColName:
		if x.Qualifier.IsEmpty() {
			for _, col := range cols {
				if strings.EqualFold(col.Name, x.Name.String()) && col.Field != FieldCount {
					return col.Field, nil
				}
			}
		}
		return c.field(x)
	case *sqlparser.Literal:
		if x.Type == sqlparser.IntVal {
			if n, err := strconv.Atoi(x.Val); err == nil && n >= 1 && n <= len(cols) && cols[n-1].Field != FieldCount {
				return cols[n-1].Field, nil
			}
			return 0, sqlerr.New(1054, "42S22", "Unknown column '%s' in 'order clause'", x.Val)
		}
	}
	return 0, processUnsupported("ORDER BY " + sqlparser.String(e))
}

func (c *processCompiler) compile(e sqlparser.Expr) (pexpr, error) {
	switch x := e.(type) {
	case *sqlparser.ColName:
		f, err := c.field(x)
		return pfield(f), err
	case *sqlparser.Literal:
		switch x.Type {
		case sqlparser.StrVal:
			return pconst{s: x.Val}, nil
		case sqlparser.IntVal, sqlparser.DecimalVal, sqlparser.FloatVal:
			f, err := strconv.ParseFloat(x.Val, 64)
			if err != nil {
				return nil, processUnsupported("the number " + x.Val)
			}
			return pconst{n: f, num: true}, nil
		}
	case *sqlparser.NullVal:
		return pconst(nullVal), nil
	case sqlparser.BoolVal:
		return pconst(boolVal(bool(x))), nil
	case *sqlparser.NotExpr:
		in, err := c.compile(x.Expr)
		return pnot{in}, err
	case *sqlparser.AndExpr:
		l, r, err := c.pair(x.Left, x.Right)
		return pand{l, r}, err
	case *sqlparser.OrExpr:
		l, r, err := c.pair(x.Left, x.Right)
		return por{l, r}, err
	case *sqlparser.IsExpr:
		l, err := c.compile(x.Left)
		switch x.Right {
		case sqlparser.IsNullOp:
			return pisnull{l: l}, err
		case sqlparser.IsNotNullOp:
			return pisnull{l: l, not: true}, err
		}
	case *sqlparser.BetweenExpr:
		l, err := c.compile(x.Left)
		if err != nil {
			return nil, err
		}
		f, t, err := c.pair(x.From, x.To)
		return pbetween{l: l, from: f, to: t, not: !x.IsBetween}, err
	case *sqlparser.ComparisonExpr:
		return c.comparison(x)
	case *sqlparser.FuncExpr:
		if isConnectionIDFunc(x) {
			c.usedConnID = true
			return pconst{n: float64(c.connID), num: true}, nil
		}
	}
	return nil, processUnsupported("the expression " + sqlparser.String(e))
}

func (c *processCompiler) pair(a, b sqlparser.Expr) (pexpr, pexpr, error) {
	l, err := c.compile(a)
	if err != nil {
		return nil, nil, err
	}
	r, err := c.compile(b)
	return l, r, err
}

func (c *processCompiler) comparison(x *sqlparser.ComparisonExpr) (pexpr, error) {
	if x.Modifier != sqlparser.Missing {
		return nil, processUnsupported("ANY/ALL")
	}
	l, err := c.compile(x.Left)
	if err != nil {
		return nil, err
	}
	switch x.Operator {
	case sqlparser.InOp, sqlparser.NotInOp:
		tuple, ok := x.Right.(sqlparser.ValTuple)
		if !ok {
			return nil, processUnsupported("IN " + sqlparser.String(x.Right))
		}
		in := pin{l: l, not: x.Operator == sqlparser.NotInOp}
		for _, e := range tuple {
			v, err := c.compile(e)
			if err != nil {
				return nil, err
			}
			in.list = append(in.list, v)
		}
		return in, nil
	case sqlparser.LikeOp, sqlparser.NotLikeOp:
		p, err := c.compile(x.Right)
		if err != nil {
			return nil, err
		}
		esc := byte('\\')
		if x.Escape != nil {
			lit, ok := x.Escape.(*sqlparser.Literal)
			if !ok || lit.Type != sqlparser.StrVal || len(lit.Val) != 1 {
				return nil, processUnsupported("ESCAPE " + sqlparser.String(x.Escape))
			}
			esc = lit.Val[0]
		}
		return plike{l: l, pattern: p, escape: esc, not: x.Operator == sqlparser.NotLikeOp}, nil
	case sqlparser.EqualOp, sqlparser.NotEqualOp, sqlparser.LessThanOp, sqlparser.LessEqualOp,
		sqlparser.GreaterThanOp, sqlparser.GreaterEqualOp, sqlparser.NullSafeEqualOp:
		r, err := c.compile(x.Right)
		return pcmp{op: x.Operator, l: l, r: r}, err
	}
	return nil, processUnsupported(x.Operator.ToString())
}

// LikeMatch matches s against a SQL LIKE pattern (% any run, _ one character, esc quotes the
// next character). Case is compared as given: lower both sides for a case-insensitive match.
// A % that fails to extend moves the match on by one character (no recursion): O(len(s) *
// len(pattern)) whatever the pattern.
func LikeMatch(pattern, s string, esc byte) bool {
	p, str := []rune(pattern), []rune(s)
	i, j := 0, 0
	star, mark := -1, 0
	for j < len(str) {
		if i < len(p) {
			switch {
			case p[i] == '%':
				star, mark = i, j
				i++
				continue
			case p[i] == rune(esc) && i+1 < len(p):
				if p[i+1] == str[j] {
					i, j = i+2, j+1
					continue
				}
			case p[i] == '_' || p[i] == str[j]:
				i, j = i+1, j+1
				continue
			}
		}
		if star < 0 {
			return false
		}
		i, mark = star+1, mark+1
		j = mark
	}
	for i < len(p) && p[i] == '%' {
		i++
	}
	return i == len(p)
}

// --- CONNECTION_ID() ---

// withConnectionID returns a copy of stmt with every CONNECTION_ID() call replaced by id, the
// session's proxy id (ok=false when stmt calls none). Only statements that evaluate it at once:
// a view, routine or trigger body (DDL) keeps the call, evaluated when it runs.
func withConnectionID(stmt sqlparser.Statement, id uint32) (sqlparser.Statement, bool) {
	switch stmt.(type) {
	case *sqlparser.Select, *sqlparser.Union, *sqlparser.Insert, *sqlparser.Update, *sqlparser.Delete,
		*sqlparser.Set, *sqlparser.CallProc:
	default:
		return nil, false
	}
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		found = found || isConnectionIDFunc(n)
		return !found, nil
	}, stmt)
	if !found {
		return nil, false
	}
	lit := sqlparser.NewIntLiteral(strconv.FormatUint(uint64(id), 10))
	out := sqlparser.Rewrite(sqlparser.Clone(stmt), func(c *sqlparser.Cursor) bool {
		if ae, ok := c.Node().(*sqlparser.AliasedExpr); ok && ae.As.IsEmpty() && containsConnectionID(ae.Expr) {
			ae.As = sqlparser.NewIdentifierCI(sqlparser.String(ae.Expr)) // the column keeps the client's name
		}
		if isConnectionIDFunc(c.Node()) {
			c.Replace(lit)
		}
		return true
	}, nil)
	return out.(sqlparser.Statement), true
}

func containsConnectionID(e sqlparser.Expr) bool {
	found := false
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		found = found || isConnectionIDFunc(n)
		return !found, nil
	}, e)
	return found
}

func isConnectionIDFunc(n sqlparser.SQLNode) bool {
	f, ok := n.(*sqlparser.FuncExpr)
	return ok && len(f.Exprs) == 0 && f.Qualifier.IsEmpty() && f.Name.Lowered() == "connection_id"
}
