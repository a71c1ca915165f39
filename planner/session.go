package planner

import (
	"encoding/hex"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// charsetGroup are the variables SET NAMES / SET CHARSET set together: tracked under one
// key ("names") and replayed in the order the session set them.
var charsetGroup = map[string]bool{
	"names": true, "charset": true, "character_set_client": true, "character_set_results": true,
	"character_set_connection": true, "collation_connection": true,
}

// IsLiteral reports whether a SET value means the same on every connection: a literal,
// NULL, DEFAULT, a keyword-like name (ON, utf8mb4) or a signed number. Anything else (a
// user variable, @@var, a function call, arithmetic) depends on the connection that
// evaluates it.
func IsLiteral(e sqlparser.Expr) bool {
	switch v := e.(type) {
	case *sqlparser.Literal, *sqlparser.NullVal, sqlparser.BoolVal, *sqlparser.Default:
		return true
	case *sqlparser.ColName:
		return v.Qualifier.IsEmpty()
	case *sqlparser.UnaryExpr:
		if v.Operator == sqlparser.UMinusOp || v.Operator == sqlparser.UPlusOp {
			_, lit := v.Expr.(*sqlparser.Literal)
			return lit
		}
	}
	return false
}

// LiteralSet is the statement that gives variable name the value a connection read back
// (SELECT @@session.name): numbers unquoted (integer variables refuse strings), strings
// quoted, a value with a backslash or a quote as a hex string (whatever the sql_mode says
// about escapes), NULL as NULL.
func LiteralSet(name string, value []byte, isNull, numeric bool) string {
	var v string
	switch {
	case isNull:
		v = "NULL"
	case numeric:
		v = string(value)
	case strings.ContainsAny(string(value), `\'`):
		v = "X'" + hex.EncodeToString(value) + "'"
	default:
		v = "'" + string(value) + "'"
	}
	return "SET @@session." + name + " = " + v
}

// planDatabaseDDL plans CREATE/ALTER/DROP DATABASE. A name that is a keyspace means that
// keyspace's backend database, on its primary (the name rewritten when they differ); any
// other name goes where a statement without tables goes.
func planDatabaseDDL(s sqlparser.DBDDLStatement, sess Session, rt *router.Table) (*Plan, error) {
	p := &Plan{Kind: Route, Stmt: "ddl", Write: true, TabletType: router.Primary, TabletName: "primary"}
	switch s.(type) {
	case *sqlparser.CreateDatabase:
		p.DatabaseDDL = "create"
	case *sqlparser.AlterDatabase:
		p.DatabaseDDL = "alter"
	default:
		p.DatabaseDDL = "drop"
	}
	if sess.TabletType != router.Primary {
		return nil, notAtReplica(strings.ToUpper(p.DatabaseDDL)+" DATABASE", sess.TabletType)
	}
	name := s.GetDatabaseName()
	if name == "" { // ALTER DATABASE without a name: the current one
		if name = sessionKeyspace(sess); name == "" {
			return nil, sqlerr.NoDB()
		}
		k, ok := rt.Keyspace(name)
		if !ok {
			return nil, sqlerr.BadDB(name)
		}
		p.Keyspace, p.KeyspaceDB = k.Name, true
		return p, nil
	}
	if k, ok := rt.Keyspace(name); ok {
		p.Keyspace, p.KeyspaceDB = name, true
		if k.Database != name {
			c := sqlparser.Clone(sqlparser.Statement(s))
			renameDatabase(c, k.Database)
			p.Query = formatSQL(c)
		}
		return p, nil
	}
	ks, err := defaultKeyspace(sess, rt)
	if err != nil {
		return nil, err
	}
	if ks == "" {
		p.NoDatabase = true
		return p, nil
	}
	p.Keyspace = ks
	k, _ := rt.Keyspace(ks)
	p.KeyspaceDB = k.Database == name // the keyspace's database named by its own name
	return p, nil
}

func renameDatabase(s sqlparser.Statement, db string) {
	id := sqlparser.NewIdentifierCS(db)
	switch d := s.(type) {
	case *sqlparser.CreateDatabase:
		d.DBName = id
	case *sqlparser.AlterDatabase:
		d.DBName = id
	case *sqlparser.DropDatabase:
		d.DBName = id
	}
}
