package migration

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vtgate-lite/vtgate-lite/router"
	"github.com/vtgate-lite/vtgate-lite/sqlerr"
)

// Command is one parsed admin statement.
type Command interface{ command() }

// OnDDL says what a workflow does when the source changes a moved table's schema.
type OnDDL string

const (
	DDLStop   OnDDL = "STOP"
	DDLIgnore OnDDL = "IGNORE"
	DDLExec   OnDDL = "EXEC"
)

// MigrateTables is MIGRATE TABLES t1, t2 FROM src TO dst [...].
type MigrateTables struct {
	Tables             []string
	Source, Target     string
	Workflow           string // "" means <source>2<target>
	OnDDL              OnDDL
	DeferSecondaryKeys bool
	CopyFrom           router.TabletType
	CopyFromSet        bool // COPY FROM was given; otherwise prefer replica, rdonly, primary
}

// WorkflowRef names a workflow: <target keyspace>.<workflow>.
type WorkflowRef struct{ Keyspace, Workflow string }

func (w WorkflowRef) String() string { return w.Keyspace + "." + w.Workflow }

type (
	ShowMigrations struct{}
	ShowMigration  struct{ Ref WorkflowRef }
	MigrateStop    struct{ Ref WorkflowRef }
	MigrateStart   struct{ Ref WorkflowRef }
	MigrateCancel  struct {
		Ref      WorkflowRef
		KeepData bool
	}
	VDiff     struct{ Ref WorkflowRef }
	ShowVDiff struct {
		Ref WorkflowRef
		ID  int64 // 0 = last
	}
	// MigrateReads switches (or with Reverse, switches back) reads of the given tablet types.
	MigrateReads struct {
		Ref         WorkflowRef
		TabletTypes []router.TabletType
		Reverse     bool
	}
)

func (MigrateTables) command()  {}
func (ShowMigrations) command() {}
func (ShowMigration) command()  {}
func (MigrateStop) command()    {}
func (MigrateStart) command()   {}
func (MigrateCancel) command()  {}
func (VDiff) command()          {}
func (ShowVDiff) command()      {}
func (MigrateReads) command()   {}

// ParseAdmin recognizes our admin statements. ok=false means "not ours".
// A malformed statement of ours gives ok=true and a 1064 *sqlerr.Error naming what was expected.
func ParseAdmin(sql string) (cmd Command, ok bool, err error) {
	toks, terr := tokenize(sql)
	if len(toks) == 0 {
		return nil, false, nil
	}
	first := strings.ToUpper(toks[0].s)
	if toks[0].quoted {
		return nil, false, nil
	}
	switch first {
	case "MIGRATE", "VDIFF":
	case "SHOW":
		if len(toks) < 2 || toks[1].quoted {
			return nil, false, nil
		}
		switch strings.ToUpper(toks[1].s) {
		case "MIGRATIONS", "MIGRATION", "VDIFF":
		default:
			return nil, false, nil
		}
	default:
		return nil, false, nil
	}
	if terr != nil {
		return nil, true, syntaxErr("%v", terr)
	}
	p := &parser{toks: toks}
	cmd, err = p.statement()
	if err != nil {
		return nil, true, err
	}
	return cmd, true, nil
}

func syntaxErr(format string, args ...any) *sqlerr.Error {
	return sqlerr.New(sqlerr.ERParse, "42000", "You have an error in your SQL syntax; %s", fmt.Sprintf(format, args...))
}

type token struct {
	s      string
	quoted bool // `ident`
	punct  bool // , . ;
}

func tokenize(sql string) ([]token, error) {
	var out []token
	i := 0
	for i < len(sql) {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ',' || c == '.' || c == ';':
			out = append(out, token{s: string(c), punct: true})
			i++
		case c == '`':
			j := i + 1
			var b strings.Builder
			for {
				if j >= len(sql) {
					return out, fmt.Errorf("unterminated quoted identifier")
				}
				if sql[j] == '`' {
					if j+1 < len(sql) && sql[j+1] == '`' {
						b.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(sql[j])
				j++
			}
			out = append(out, token{s: b.String(), quoted: true})
			i = j + 1
		case isIdentChar(c):
			j := i
			for j < len(sql) && isIdentChar(sql[j]) {
				j++
			}
			out = append(out, token{s: sql[i:j]})
			i = j
		default:
			return out, fmt.Errorf("unexpected character %q", c)
		}
	}
	return out, nil
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

// keyword consumes kw if it is next.
func (p *parser) keyword(kw string) bool {
	t, ok := p.peek()
	if ok && !t.quoted && !t.punct && strings.EqualFold(t.s, kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) near() string {
	if t, ok := p.peek(); ok {
		return fmt.Sprintf("near '%s'", t.s)
	}
	return "at end of statement"
}

func (p *parser) expect(kw, what string) error {
	if !p.keyword(kw) {
		return syntaxErr("expected %s %s", what, p.near())
	}
	return nil
}

func (p *parser) punct(c string) bool {
	t, ok := p.peek()
	if ok && t.punct && t.s == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) ident(what string) (string, error) {
	t, ok := p.peek()
	if !ok || t.punct || t.s == "" {
		return "", syntaxErr("expected %s %s", what, p.near())
	}
	p.i++
	return t.s, nil
}

func (p *parser) ref() (WorkflowRef, error) {
	ks, err := p.ident("<keyspace>.<workflow>")
	if err != nil {
		return WorkflowRef{}, err
	}
	if !p.punct(".") {
		return WorkflowRef{}, syntaxErr("expected <keyspace>.<workflow> %s", p.near())
	}
	wf, err := p.ident("<keyspace>.<workflow>")
	if err != nil {
		return WorkflowRef{}, err
	}
	return WorkflowRef{ks, wf}, nil
}

func (p *parser) end() error {
	p.punct(";")
	if _, ok := p.peek(); ok {
		return syntaxErr("unexpected input %s", p.near())
	}
	return nil
}

func (p *parser) statement() (Command, error) {
	switch {
	case p.keyword("SHOW"):
		switch {
		case p.keyword("MIGRATIONS"):
			return ShowMigrations{}, p.end()
		case p.keyword("MIGRATION"):
			r, err := p.ref()
			if err != nil {
				return nil, err
			}
			return ShowMigration{r}, p.end()
		case p.keyword("VDIFF"):
			r, err := p.ref()
			if err != nil {
				return nil, err
			}
			c := ShowVDiff{Ref: r}
			if !p.keyword("LAST") {
				if t, ok := p.peek(); ok && !t.punct {
					id, err := strconv.ParseInt(t.s, 10, 64)
					if err != nil || id <= 0 {
						return nil, syntaxErr("expected LAST or a vdiff id %s", p.near())
					}
					p.i++
					c.ID = id
				}
			}
			return c, p.end()
		}
	case p.keyword("VDIFF"):
		r, err := p.ref()
		if err != nil {
			return nil, err
		}
		return VDiff{r}, p.end()
	case p.keyword("MIGRATE"):
		switch {
		case p.keyword("TABLES"), p.keyword("TABLE"):
			return p.migrateTables()
		case p.keyword("STOP"):
			r, err := p.ref()
			if err != nil {
				return nil, err
			}
			return MigrateStop{r}, p.end()
		case p.keyword("START"):
			r, err := p.ref()
			if err != nil {
				return nil, err
			}
			return MigrateStart{r}, p.end()
		case p.keyword("CANCEL"):
			r, err := p.ref()
			if err != nil {
				return nil, err
			}
			c := MigrateCancel{Ref: r}
			if p.keyword("KEEP") {
				if err := p.expect("DATA", "DATA after KEEP"); err != nil {
					return nil, err
				}
				c.KeepData = true
			}
			return c, p.end()
		case p.keyword("READS"):
			return p.migrateReads(false)
		case p.keyword("WRITES"):
			return p.writesCommand(false) // switch.go
		case p.keyword("COMPLETE"):
			return p.migrateComplete() // switch.go
		case p.keyword("REVERSE"):
			if p.keyword("WRITES") {
				return p.writesCommand(true)
			}
			if err := p.expect("READS", "READS or WRITES after MIGRATE REVERSE"); err != nil {
				return nil, err
			}
			return p.migrateReads(true)
		}
		return nil, syntaxErr("expected TABLES, STOP, START, CANCEL, READS, WRITES, REVERSE READS, REVERSE WRITES or COMPLETE after MIGRATE %s", p.near())
	}
	return nil, syntaxErr("expected MIGRATIONS, MIGRATION or VDIFF %s", p.near())
}

func (p *parser) migrateReads(reverse bool) (Command, error) {
	r, err := p.ref()
	if err != nil {
		return nil, err
	}
	c := MigrateReads{Ref: r, Reverse: reverse}
	if p.keyword("TABLET_TYPE") || p.keyword("TABLET_TYPES") {
		for {
			s, err := p.ident("a tablet type (replica or rdonly)")
			if err != nil {
				return nil, err
			}
			tt, terr := router.ParseTabletType(s)
			if terr != nil || tt == router.Primary {
				return nil, syntaxErr("expected replica or rdonly, got '%s'", s)
			}
			c.TabletTypes = append(c.TabletTypes, tt)
			if !p.punct(",") {
				break
			}
		}
	} else {
		c.TabletTypes = []router.TabletType{router.Replica, router.Rdonly}
	}
	return c, p.end()
}

func (p *parser) migrateTables() (Command, error) {
	c := MigrateTables{OnDDL: DDLStop}
	for {
		t, err := p.ident("a table name")
		if err != nil {
			return nil, err
		}
		c.Tables = append(c.Tables, t)
		if !p.punct(",") {
			break
		}
	}
	if err := p.expect("FROM", "FROM <source keyspace>"); err != nil {
		return nil, err
	}
	var err error
	if c.Source, err = p.ident("the source keyspace"); err != nil {
		return nil, err
	}
	if err := p.expect("TO", "TO <target keyspace>"); err != nil {
		return nil, err
	}
	if c.Target, err = p.ident("the target keyspace"); err != nil {
		return nil, err
	}
	for {
		switch {
		case p.keyword("WORKFLOW"):
			if c.Workflow, err = p.ident("a workflow name"); err != nil {
				return nil, err
			}
		case p.keyword("ON"):
			if err := p.expect("DDL", "DDL after ON"); err != nil {
				return nil, err
			}
			switch {
			case p.keyword("STOP"):
				c.OnDDL = DDLStop
			case p.keyword("IGNORE"):
				c.OnDDL = DDLIgnore
			case p.keyword("EXEC"):
				c.OnDDL = DDLExec
			default:
				return nil, syntaxErr("expected STOP, IGNORE or EXEC after ON DDL %s", p.near())
			}
		case p.keyword("DEFER"):
			if err := p.expect("SECONDARY", "SECONDARY KEYS after DEFER"); err != nil {
				return nil, err
			}
			if err := p.expect("KEYS", "KEYS after DEFER SECONDARY"); err != nil {
				return nil, err
			}
			c.DeferSecondaryKeys = true
		case p.keyword("COPY"):
			if err := p.expect("FROM", "FROM after COPY"); err != nil {
				return nil, err
			}
			s, err := p.ident("PRIMARY, REPLICA or RDONLY")
			if err != nil {
				return nil, err
			}
			tt, terr := router.ParseTabletType(s)
			if terr != nil {
				return nil, syntaxErr("expected PRIMARY, REPLICA or RDONLY after COPY FROM, got '%s'", s)
			}
			c.CopyFrom, c.CopyFromSet = tt, true
		default:
			if err := p.end(); err != nil {
				return nil, syntaxErr("expected WORKFLOW, ON DDL, DEFER SECONDARY KEYS or COPY FROM %s", p.near())
			}
			if c.Workflow == "" {
				c.Workflow = c.Source + "2" + c.Target
			}
			return c, nil
		}
	}
}
