package planner

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// CrossKeyspace runs a statement whose tables live in several keyspaces: the tables of
// the other keyspaces are pulled (filtered where that is safe) into temporary tables of
// the same name on one connection of the anchor keyspace, and the anchor's server runs
// the statement itself. MySQL evaluates every construct (joins, subqueries, GROUP BY,
// UNION, ORDER BY/LIMIT), so results, column names and types are exactly those of one
// server holding all the tables; the response is relayed like any route's.
const CrossKeyspace Kind = "CrossKeyspace"

// Pull is one table copied into a temporary table on the anchor connection.
type Pull struct {
	Keyspace string `json:"keyspace"`
	Table    string `json:"table"`
	// Query selects the rows to copy, in the source keyspace's database.
	Query string `json:"query"`
}

type resolvedRef struct {
	ref    tableRef
	target router.Target
}

// planCross builds a CrossKeyspace plan or says which construct it cannot run.
func planCross(stmt sqlparser.Statement, res []resolvedRef, p *Plan, rt *router.Table) (*Plan, error) {
	switch s := stmt.(type) {
	case *sqlparser.Select:
		if s.Lock != sqlparser.NoLock {
			return nil, unsupportedCross("locking reads (FOR UPDATE / LOCK IN SHARE MODE)")
		}
		if s.Into != nil {
			return nil, unsupportedCross("SELECT ... INTO")
		}
	case *sqlparser.Union:
	case *sqlparser.Insert:
		if _, ok := s.Rows.(sqlparser.TableStatement); !ok {
			return nil, unsupportedCross("INSERT with VALUES")
		}
	default:
		typ, _ := statementType(stmt)
		return nil, unsupportedCross(strings.ToUpper(typ) + " statements")
	}

	// The anchor: the insert's target, else the keyspace with the most references,
	// preferring to pull tables that have filters (they are usually the smaller side).
	filters := pushdownFilters(stmt, res)
	anchor := ""
	if ins, ok := stmt.(*sqlparser.Insert); ok {
		tn, _ := ins.Table.Expr.(sqlparser.TableName)
		for _, r := range res {
			if r.ref.name == tn.Name.String() && r.ref.qualifier == tn.Qualifier.String() {
				anchor = r.target.Keyspace
			}
		}
	} else {
		score := map[string]int{}
		for _, r := range res {
			score[r.target.Keyspace] += 2
			if _, filtered := filters[r.target.Keyspace+"."+r.target.Table]; filtered {
				score[r.target.Keyspace]--
			}
		}
		for _, ks := range slices.Sorted(mapKeys(score)) {
			if anchor == "" || score[ks] > score[anchor] {
				anchor = ks
			}
		}
	}
	k, _ := rt.Keyspace(anchor)

	seen := map[string]string{} // table name -> keyspace.table pulled
	for _, r := range res {
		if r.target.Keyspace == anchor {
			if prev, ok := seen[strings.ToLower(r.target.Table)]; ok && prev != anchor+"."+r.target.Table {
				return nil, unsupportedCross(fmt.Sprintf("two tables named %s in keyspaces %s and %s", r.target.Table, prev, anchor))
			}
			seen[strings.ToLower(r.target.Table)] = anchor + "." + r.target.Table
			continue
		}
		full := r.target.Keyspace + "." + r.target.Table
		if prev, ok := seen[strings.ToLower(r.target.Table)]; ok {
			if prev != full {
				return nil, unsupportedCross(fmt.Sprintf("two tables named %s (%s and %s)", r.target.Table, prev, full))
			}
			continue
		}
		seen[strings.ToLower(r.target.Table)] = full
		src, _ := rt.Keyspace(r.target.Keyspace)
		q := "select * from `" + src.Database + "`.`" + r.target.Table + "`"
		if f, ok := filters[full]; ok {
			q += " as `" + f.alias + "` where " + f.where
		}
		p.Pulls = append(p.Pulls, Pull{Keyspace: r.target.Keyspace, Table: r.target.Table, Query: q})
	}
	sort.Slice(p.Pulls, func(i, j int) bool { return p.Pulls[i].Table < p.Pulls[j].Table })

	p.Kind = CrossKeyspace
	p.Keyspace = anchor
	if p.Write && p.TabletType != router.Primary {
		return nil, notAtReplica("INSERT", p.TabletType)
	}
	// Every keyspace qualifier now names the anchor's database, where the pulled tables are.
	p.Query = requalify(stmt, rt, k.Database, nil)
	return p, nil
}

func unsupportedCross(construct string) error {
	return sqlerr.New(sqlerr.ERNotSupportedYet, "42000", "unsupported cross-keyspace query: %s", construct)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// pushdownFilters returns, per pulled table (keyspace.table), a SELECT that fetches only
// the rows the statement can use: the top-level WHERE conjuncts that reference that table
// alone. It is only done where it cannot change the result: a plain SELECT without outer
// joins, the table referenced exactly once, the conjunct free of subqueries, variables,
// parameters and non-deterministic functions. The full WHERE still runs on the anchor.
type filter struct{ alias, where string }

func pushdownFilters(stmt sqlparser.Statement, res []resolvedRef) map[string]filter {
	out := map[string]filter{}
	sel, ok := stmt.(*sqlparser.Select)
	if !ok || sel.Where == nil {
		return out
	}
	outer := false
	refs := map[string]int{}
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n := n.(type) {
		case *sqlparser.JoinTableExpr:
			if n.Join != sqlparser.NormalJoinType && n.Join != sqlparser.StraightJoinType && n.Join != sqlparser.NaturalJoinType {
				outer = true
			}
		case *sqlparser.AliasedTableExpr:
			if tn, ok := n.Expr.(sqlparser.TableName); ok {
				refs[strings.ToLower(tn.Name.String())]++
			}
		}
		return true, nil
	}, stmt)
	if outer {
		return out
	}
	// Aliases of the tables in the top-level FROM.
	aliases := map[string]sqlparser.TableName{}
	for _, te := range sel.From {
		collectFromAliases(te, aliases)
	}
	conjuncts := splitAnd(sel.Where.Expr, nil)
	for _, r := range res {
		if refs[strings.ToLower(r.target.Table)] != 1 {
			continue
		}
		var alias string
		for a, tn := range aliases {
			if strings.EqualFold(tn.Name.String(), r.ref.name) && tn.Qualifier.String() == r.ref.qualifier {
				alias = a
			}
		}
		if alias == "" {
			continue
		}
		var keep []string
		for _, c := range conjuncts {
			if onlyTable(c, alias) {
				keep = append(keep, sqlparser.String(c))
			}
		}
		if len(keep) == 0 {
			continue
		}
		out[r.target.Keyspace+"."+r.target.Table] = filter{alias, strings.Join(keep, " and ")}
	}
	return out
}

func collectFromAliases(te sqlparser.TableExpr, out map[string]sqlparser.TableName) {
	switch t := te.(type) {
	case *sqlparser.AliasedTableExpr:
		if tn, ok := t.Expr.(sqlparser.TableName); ok {
			a := tn.Name.String()
			if !t.As.IsEmpty() {
				a = t.As.String()
			}
			out[a] = tn
		}
	case *sqlparser.JoinTableExpr:
		collectFromAliases(t.LeftExpr, out)
		collectFromAliases(t.RightExpr, out)
	case *sqlparser.ParenTableExpr:
		for _, e := range t.Exprs {
			collectFromAliases(e, out)
		}
	}
}

func splitAnd(e sqlparser.Expr, acc []sqlparser.Expr) []sqlparser.Expr {
	if a, ok := e.(*sqlparser.AndExpr); ok {
		return splitAnd(a.Right, splitAnd(a.Left, acc))
	}
	return append(acc, e)
}

var nondeterministic = map[string]bool{"rand": true, "uuid": true, "uuid_short": true, "sysdate": true, "sleep": true,
	"get_lock": true, "release_lock": true, "last_insert_id": true, "found_rows": true, "row_count": true, "connection_id": true}

// onlyTable reports whether every column in e is qualified by alias and e is safe to evaluate early.
func onlyTable(e sqlparser.Expr, alias string) bool {
	ok, cols := true, 0
	_ = sqlparser.Walk(func(n sqlparser.SQLNode) (bool, error) {
		switch n := n.(type) {
		case *sqlparser.ColName:
			cols++
			if n.Qualifier.Name.String() != alias || !n.Qualifier.Qualifier.IsEmpty() {
				ok = false
			}
		case *sqlparser.Subquery, *sqlparser.Variable, *sqlparser.Argument, *sqlparser.ExistsExpr:
			ok = false
		case *sqlparser.FuncExpr:
			if nondeterministic[n.Name.Lowered()] {
				ok = false
			}
		}
		return ok, nil
	}, e)
	return ok && cols > 0
}
