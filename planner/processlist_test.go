package planner

import (
	"strings"
	"testing"
)

// TestProcesslistResult evaluates information_schema.PROCESSLIST queries against a fixed
// set of sessions: filters with MySQL's NULL logic and collation, order, limit, columns.
func TestProcesslistResult(t *testing.T) {
	rows := []ProcessRow{
		{ID: 3, User: "app", Host: "127.0.0.1:5001", DB: "commerce", Command: "Query", Time: 12, State: "executing", Info: "SELECT SLEEP(30)"},
		{ID: 1, User: "admin", Host: "127.0.0.1:5002", Command: "Sleep", Time: 40},
		{ID: 7, User: "App", Host: "127.0.0.1:5003", DB: "customer", Command: "Sleep", Time: 2},
		{ID: 9, User: "ro", Host: "127.0.0.1:5004", DB: "commerce", Command: "Query", Time: 0, State: "init", Info: "SHOW PROCESSLIST " + strings.Repeat("y", 100)},
	}
	cases := []struct{ query, want string }{
		{"select id from information_schema.processlist", "3|1|7|9"},
		{"select id from information_schema.processlist order by id", "1|3|7|9"},
		{"select id from information_schema.processlist order by time desc limit 2", "1|3"},
		{"select id from information_schema.processlist order by id limit 1, 2", "3|7"},
		{"select id from information_schema.processlist where user = 'APP' order by id", "3|7"}, // case-insensitive
		{"select id from information_schema.processlist where user = 'app' and command <> 'Sleep'", "3"},
		{"select id from information_schema.processlist where db is null", "1"},
		{"select id from information_schema.processlist where db <> 'commerce'", "7"}, // NULL is not <> anything
		{"select id from information_schema.processlist where not (db = 'commerce') order by id", "7"},
		{"select id from information_schema.processlist where db <=> null", "1"},
		{"select id from information_schema.processlist where info is not null order by 1 desc", "9|3"},
		{"select id from information_schema.processlist where info like 'select%'", "3"},
		{"select id from information_schema.processlist where info not like '%sleep%'", "9"},
		{"select id from information_schema.processlist where id in (1, 9, 100) or time between 10 and 20 order by id", "1|3|9"},
		{"select id from information_schema.processlist where id not in (1, null)", ""},
		{"select id from information_schema.processlist where id = '7'", "7"},
		{"select id from information_schema.processlist where time >= 12 and time < 40", "3"},
		{"select count(*) from information_schema.processlist where command = 'sleep'", "2"},
		{"select user u, db from information_schema.processlist p where p.id = 1", "admin,NULL"},
		{"select host, state from information_schema.processlist where id = 7", "127.0.0.1:5003,"},
		{"select u from (select 1) x", "-"},
	}
	parser := Parser()
	rt := goldenTable(t)
	for _, c := range cases {
		stmt, err := parser.Parse(c.query)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(stmt, c.query, Session{}, rt)
		if c.want == "-" {
			if err == nil && p.Kind == ShowProcesslist {
				t.Errorf("%s: planned as a processlist query", c.query)
			}
			continue
		}
		if err != nil || p.Kind != ShowProcesslist {
			t.Errorf("%s: %v %v", c.query, p, err)
			continue
		}
		var got []string
		for _, r := range p.Processlist.Result(rows) {
			var vals []string
			for _, v := range r {
				if v == nil {
					vals = append(vals, "NULL")
				} else {
					vals = append(vals, string(v))
				}
			}
			got = append(got, strings.Join(vals, ","))
		}
		if g := strings.Join(got, "|"); g != c.want {
			t.Errorf("%s = %q, want %q", c.query, g, c.want)
		}
	}

	// SHOW PROCESSLIST truncates the statement to 100 characters; FULL does not.
	for _, full := range []bool{false, true} {
		q := "show processlist"
		if full {
			q = "show full processlist"
		}
		stmt, _ := parser.Parse(q)
		p, err := Build(stmt, q, Session{}, rt)
		if err != nil {
			t.Fatal(err)
		}
		info := string(p.Processlist.Result(rows)[3][FieldInfo])
		if want := rows[3].Info; !full && info != want[:100] || full && info != want {
			t.Errorf("%s: info %q", q, info)
		}
	}
}

func TestConnectionID(t *testing.T) {
	parser := Parser()
	rt := goldenTable(t)
	for q, want := range map[string]string{
		"select connection_id()":                          "select 42 as `connection_id()` from dual",
		"SELECT CONNECTION_ID() + 1 AS n FROM product":    "select 42 + 1 as n from product",
		"update corder set customer_id = connection_id()": "update corder set customer_id = 42",
		"select (select connection_id()) from dual":       "select (select 42 as `connection_id()` from dual) as `(select connection_id() from dual)` from dual",
	} {
		stmt, err := parser.Parse(q)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(stmt, q, Session{Keyspace: "commerce", ConnID: 42}, rt)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if p.Query != want || !p.ConnectionID {
			t.Errorf("%s: query %q (connection_id %v), want %q", q, p.Query, p.ConnectionID, want)
		}
	}
	// The session's own processlist row.
	q := "select id, user from information_schema.processlist where id = connection_id()"
	stmt, _ := parser.Parse(q)
	p, err := Build(stmt, q, Session{ConnID: 7}, rt)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Processlist.Result([]ProcessRow{{ID: 3, User: "a"}, {ID: 7, User: "b"}}); len(got) != 1 || string(got[0][1]) != "b" || !p.ConnectionID {
		t.Errorf("%s: %q", q, got)
	}

	// SET of a user variable: routed on a reserved connection with the literal.
	stmt, _ = parser.Parse("set @me = connection_id()")
	p, err = Build(stmt, "set @me = connection_id()", Session{Keyspace: "commerce", ConnID: 42}, rt)
	if err != nil || p.Query != "set @me = 42" || p.Reserve == "" {
		t.Errorf("set @me: %+v %v", p, err)
	}
}

func TestLikeMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"ssl_cipher", "ssl_cipher", true}, {"ssl%", "ssl_version", true}, {"ssl\\_c%", "sslxcipher", false},
		{"ssl\\_c%", "ssl_cipher", true}, {"%", "", true}, {"_", "", false}, {"a%b%c", "axxbyyc", true}, {"a%b%c", "axxbyy", false},
		{"%a%a%a%a%a%a%a%a%b", strings.Repeat("a", 5000), false}, {"a\\%", "a%", true}, {"a\\%", "ab", false}, {"%\\_x", "ab_x", true},
		{"_%_", "ab", true}, {"_%_", "a", false}, {"", "", true}, {"", "a", false}, {"%%", "abc", true},
	} {
		if got := LikeMatch(c.p, c.s, '\\'); got != c.want {
			t.Errorf("LikeMatch(%q, %q) = %v", c.p, c.s, got)
		}
	}
}
