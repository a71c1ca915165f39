package planner

import (
	"reflect"
	"strings"
	"testing"
)

const v1011 = 101106

func TestParseSQLMode(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Mode
	}{
		{"", 0},
		{"STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION", 0},
		{"ANSI_QUOTES", ModeANSIQuotes},
		{"no_backslash_escapes", ModeNoBackslashEscapes},
		{"REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ONLY_FULL_GROUP_BY,ANSI", ModeANSIQuotes | ModePipesAsConcat},
		{"ANSI", ModeANSIQuotes | ModePipesAsConcat},
		{"ORACLE", ModeANSIQuotes | ModePipesAsConcat | ModeForeign},
		{" ANSI_QUOTES , NO_BACKSLASH_ESCAPES", ModeANSIQuotes | ModeNoBackslashEscapes},
	} {
		if got := ParseSQLMode(c.in); got != c.want {
			t.Errorf("ParseSQLMode(%q) = %b, want %b", c.in, got, c.want)
		}
	}
	m := ModeANSIQuotes.WithVersion(VersionNumber("10.11.6-MariaDB-log"))
	if m.Version() != 101106 || m.Flags() != ModeANSIQuotes {
		t.Errorf("WithVersion: %d %b", m.Version(), m.Flags())
	}
	if VersionNumber("8.0.30") != 80030 || VersionNumber("garbage") != 0 {
		t.Error("VersionNumber")
	}
}

func TestNormalize(t *testing.T) {
	ansi := ModeANSIQuotes.WithVersion(v1011)
	nbe := ModeNoBackslashEscapes.WithVersion(v1011)
	def := Mode(0).WithVersion(v1011)
	for _, c := range []struct {
		name string
		sql  string
		mode Mode
		want string // "!" = not parseable
	}{
		{"default mode: unchanged", `select "a\"b", 'c\'d' from t`, def, `select "a\"b", 'c\'d' from t`},
		{"ansi: double quotes are an identifier", `select "sku" from product`, ansi, "select `sku` from product"},
		{"ansi: doubled double quote and backquote inside", `select "a""b` + "`" + `c" from t`, ansi, "select `a\"b``c` from t"},
		{"ansi: single quoted stays a string", `select 'x"y' from t`, ansi, `select 'x"y' from t`},
		{"ansi: backslash in an identifier is itself", `select "a\" from t`, ansi, "select `a\\` from t"},
		{"nbe: backslash doubled", `select 'C:\path', 'it''s'`, nbe, `select 'C:\\path', 'it''s'`},
		{"nbe: string ending in a backslash", `select 'a\', 'b'`, nbe, `select 'a\\', 'b'`},
		{"nbe: double quoted string too", `select "a\b"`, nbe, `select "a\\b"`},
		{"nbe and ansi", `select "x\" from t where a = 'y\'`, nbe | ansi, "select `x\\` from t where a = 'y\\\\'"},
		{"no escapes in a backquoted identifier", "select `a\\` from t", nbe, "select `a\\` from t"},
		{"default mode without comments: not scanned (the parser reports the error)", `select 'a\'`, def, `select 'a\'`},
		{"unterminated in a scanned text", `select 'a\' /* */`, def, "!"},
		{"executed version comment inlined", `/*!100000 SELECT 1 */`, def, `  SELECT 1  `},
		{"mariadb comment inlined", `select 1 /*M!100000 , 2 */`, def, `select 1   , 2  `},
		{"5-digit version", `/*!40101 SET NAMES utf8 */`, def, `  SET NAMES utf8  `},
		{"later version removed", `select 1 /*!999999 , 2 */`, def, `select 1  `},
		{"no version: always executed", `select 1 /*! , 2 */`, def, `select 1   , 2  `},
		{"unknown server version: versioned not executed", `select 1 /*!100000 , 2 */`, 0, `select 1  `},
		{"plain comment kept", `select /* "x" */ 1`, ansi, `select /* "x" */ 1`},
		{"comment markers inside strings", `select '/*!1 x */'`, def, `select '/*!1 x */'`},
		{"-- comment", "select 1 -- \"x\n", ansi, "select 1 -- \"x\n"},
		{"pipes as concat: not parsed", `select a || b from t`, (ModePipesAsConcat | ModeANSIQuotes).WithVersion(v1011), "!"},
		{"pipes without the mode", `select a || b from t`, def, `select a || b from t`},
		{"unknown mode: plain text parses", `select a from t where b = 'x'`, ModeUnknown, `select a from t where b = 'x'`},
		{"unknown mode: double quote", `select "a"`, ModeUnknown, "!"},
		{"unknown mode: backslash", `select 'a\n'`, ModeUnknown, "!"},
		{"foreign", `select 1`, ModeForeign, "!"},
		{"unterminated comment", `select 1 /* x`, def, "!"},
		{"unterminated version comment", `select 1 /*!100000 , 2`, def, "!"},
	} {
		got, ok := Normalize(c.sql, c.mode)
		if !ok {
			got = "!"
		}
		if got != c.want {
			t.Errorf("%s: Normalize(%q) = %q, want %q", c.name, c.sql, got, c.want)
		}
	}
}

// TestNormalizeParses: a normalized text reads, in the vitess parser, as the server reads the
// original: the literal values and identifiers come out the same.
func TestNormalizeParses(t *testing.T) {
	p := Parser()
	for _, c := range []struct {
		sql, want string
		mode      Mode
	}{
		{`select 'C:\path', 'it''s'`, `select 'C:\\path', 'it\'s' from dual`, ModeNoBackslashEscapes},
		{`select "sku" from product where "a""b" = 'x'`, "select sku from product where `a\"b` = 'x'", ModeANSIQuotes},
		{`/*!100000 select 1 */`, `select 1 from dual`, 0},
	} {
		n, ok := Normalize(c.sql, c.mode.WithVersion(v1011))
		if !ok {
			t.Fatalf("%q: not normalized", c.sql)
		}
		stmt, err := p.Parse(n)
		if err != nil {
			t.Fatalf("%q -> %q: %v", c.sql, n, err)
		}
		if got := formatSQL(stmt); got != c.want {
			t.Errorf("%q: parsed as %q, want %q", c.sql, got, c.want)
		}
	}
}

func TestForMode(t *testing.T) {
	nbe := ModeNoBackslashEscapes
	for _, c := range []struct {
		in, want string
		mode     Mode
	}{
		{`select 'a\\b', 'it\'s', 'x\%'`, `select 'a\b', 'it''s', 'x\%'`, nbe},
		{"select 'l1\\nl2'", "select 'l1\nl2'", nbe},
		{`select 'a\\b'`, `select 'a\\b'`, 0},
		{"select `a\\b` from t", "select `a\\b` from t", nbe},
		{`select 1`, `select 1`, nbe},
	} {
		if got := ForMode(c.in, c.mode); got != c.want {
			t.Errorf("ForMode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	for _, c := range []struct {
		name string
		sql  string
		mode Mode
		want []string
	}{
		{"two", "select 1; select 2", 0, []string{"select 1", "select 2"}},
		{"trailing semicolon and comment", "select 1; -- done\n", 0, []string{"select 1"}},
		{"semicolon in string and comment", "select ';'; select /* ; */ 2; select `;`", 0, []string{"select ';'", "select /* ; */ 2", "select `;`"}},
		{"backslash quote", `select 'a\';b'; select 2`, 0, []string{`select 'a\';b'`, "select 2"}},
		{"nbe: backslash ends the string", `select 'a\'; select 2`, ModeNoBackslashEscapes, []string{`select 'a\'`, "select 2"}},
		{"procedure body", "CREATE PROCEDURE p() BEGIN SIGNAL SQLSTATE '45001' SET MESSAGE_TEXT = \"an error\", MYSQL_ERRNO = 45001; END; CALL p()",
			0, []string{"CREATE PROCEDURE p() BEGIN SIGNAL SQLSTATE '45001' SET MESSAGE_TEXT = \"an error\", MYSQL_ERRNO = 45001; END", "CALL p()"}},
		{"nested blocks", "create procedure q() begin declare i int default 0; lbl: loop set i = i + 1; if i > 3 then leave lbl; end if; end loop lbl; " +
			"case i when 4 then select 1; else select 2; end case; select case when i = 1 then 'a' else 'b' end; end; select 3",
			0, []string{"create procedure q() begin declare i int default 0; lbl: loop set i = i + 1; if i > 3 then leave lbl; end if; end loop lbl; " +
				"case i when 4 then select 1; else select 2; end case; select case when i = 1 then 'a' else 'b' end; end", "select 3"}},
		{"top-level FOR", "FOR i IN 1..3 DO SELECT i; END FOR; SELECT 4", 0, []string{"FOR i IN 1..3 DO SELECT i; END FOR", "SELECT 4"}},
		{"begin transaction is not a block", "begin; select 1; commit", 0, []string{"begin", "select 1", "commit"}},
		{"begin work", "BEGIN WORK; select 1", 0, []string{"BEGIN WORK", "select 1"}},
		{"begin not atomic", "BEGIN NOT ATOMIC SELECT 1; SELECT 2; END; SELECT 3", 0, []string{"BEGIN NOT ATOMIC SELECT 1; SELECT 2; END", "SELECT 3"}},
		{"begin not atomic with a loop first", "BEGIN NOT ATOMIC FOR r IN (SELECT 1) DO SELECT r.x; END FOR; END; SELECT 3", 0, []string{"BEGIN NOT ATOMIC FOR r IN (SELECT 1) DO SELECT r.x; END FOR; END", "SELECT 3"}},
		{"begin not atomic with IF first", "BEGIN NOT ATOMIC IF 1 THEN SELECT 1; END IF; END; SELECT 3", 0, []string{"BEGIN NOT ATOMIC IF 1 THEN SELECT 1; END IF; END", "SELECT 3"}},
		{"select for update", "select * from t for update; select 2", 0, []string{"select * from t for update", "select 2"}},
		{"trigger", "create trigger tr before insert on t for each row begin set new.a = 1; end; select 1", 0,
			[]string{"create trigger tr before insert on t for each row begin set new.a = 1; end", "select 1"}},
		{"if function", "select if(a, 1, 2) from t; select 2", 0, []string{"select if(a, 1, 2) from t", "select 2"}},
	} {
		if got := SplitStatements(c.sql, c.mode); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: SplitStatements(%q) =\n %q\nwant\n %q", c.name, c.sql, got, c.want)
		}
	}
}

func TestScanNames(t *testing.T) {
	names := func(sc scanResult) string {
		var out []string
		for _, n := range sc.names {
			if n.qualifier != "" {
				out = append(out, n.qualifier+"."+n.name)
			} else {
				out = append(out, n.name)
			}
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		name string
		sql  string
		mode Mode
		want string
	}{
		{"reserved words skipped", "CHECK TABLE product", 0, "product"},
		{"qualified pair, both alone", "ANALYZE TABLE commerce.product", 0, "commerce commerce.product product"},
		{"spaces around the dot", "select * from a . b", 0, "a a.b b"},
		{"reserved word after a dot is a name", "select t.select from t", 0, "t t.select select"},
		{"backquoted", "create or replace table `my``t` (a int)", 0, "my`t a"},
		{"double quoted: string or identifier, taken either way", `select "customer"`, 0, "customer"},
		{"string content is code", `EXECUTE IMMEDIATE 'SELECT * FROM customer'`, 0, "EXECUTE IMMEDIATE customer"},
		{"comments skipped", "select 1 /* customer */ -- corder\n# moved\n", 0, ""},
		{"version comments are code, executed or not", "select 1 /*!999999 from moved */ /*M!100000 , corder */", 0, "moved corder"},
		{"variables are not names", "select @customer, @@session.sql_mode, @`corder`", 0, ""},
		{"numbers are not names", "select 1, 2.5 from t", 0, "t"},
		{"hidden by a backslash without escapes", `select 'a\' from moved -- '`, 0, "a moved"},
		{"unterminated quote: the rest is code", "select 'abc from customer", 0, "abc customer"},
		{"procedure body", `CREATE PROCEDURE p() BEGIN SIGNAL SQLSTATE '45001' SET MESSAGE_TEXT = "an error", MYSQL_ERRNO = 45001; END`, 0,
			"p BEGIN MESSAGE_TEXT an error an error MYSQL_ERRNO END"}, // "an error" whole, then its words
	} {
		if got := names(scanStatement(c.sql, c.mode)); got != c.want {
			t.Errorf("%s: scan(%q) = %q, want %q", c.name, c.sql, got, c.want)
		}
	}
	sc := scanStatement("EXECUTE IMMEDIATE @q", 0)
	if !sc.dynamic || sc.first != "EXECUTE" || sc.second != "IMMEDIATE" {
		t.Errorf("dynamic: %+v", sc)
	}
	if sc := scanStatement("PREPARE s FROM CONCAT('a', 'b')", 0); !sc.dynamic {
		t.Error("PREPARE FROM an expression is dynamic")
	}
	if sc := scanStatement("PREPARE s FROM 'select 1'", 0); sc.dynamic {
		t.Error("PREPARE FROM a literal is not dynamic")
	}
	if sc := scanStatement("LOCK TABLE product WRITE", 0); sc.reserve != "LOCK TABLES" {
		t.Errorf("LOCK reserve = %q", sc.reserve)
	}
	if sc := scanStatement("SET STATEMENT max_statement_time=10 FOR SELECT 1", 0); sc.reserve != "" {
		t.Errorf("SET STATEMENT reserve = %q", sc.reserve)
	}
	if sc := scanStatement("SET timestamp = 1", 0); sc.reserve != "SET" {
		t.Errorf("SET reserve = %q", sc.reserve)
	}
}

// TestParserPanicFallsBack: text on which the vitess parser panics (SHOW GRANTS FOR u@'%')
// is planned as unparsed text for the session keyspace, not a panic that closes the
// client's connection.
func TestParserPanicFallsBack(t *testing.T) {
	rt := goldenTable(t)
	for _, q := range []string{"SHOW GRANTS FOR compat_u@'%'", "SHOW GRANTS FOR compat_role"} {
		sess := Session{Keyspace: "commerce", Mode: Mode(0).WithVersion(101106)}
		p, err := PlanSQL(Parser(), q, sess, rt)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if p.Keyspace != "commerce" {
			t.Fatalf("%s: keyspace %q, want the session's", q, p.Keyspace)
		}
	}
}
