package planner

import (
	"strconv"
	"strings"
)

// Mode is what of a session's sql_mode changes how MariaDB reads a statement's text, and
// the backend's version (which decides the /*!NNNNN ... */ comments it executes). It is a
// small integer so that it can be part of a plan cache key at no cost.
//
// The vitess parser reads text one way only: backslash escapes in strings, "..." as a string,
// || as OR. A statement read differently by the session's server is rewritten into that form
// for the parser (Normalize) while the backend receives the client's text; where no
// rewrite is exact (|| as concatenation, an unknown or foreign mode) it is not parsed and
// goes through the unparsed-statement fallback (planUnparsed).
type Mode uint32

const (
	ModeANSIQuotes         Mode = 1 << iota // "..." is an identifier
	ModeNoBackslashEscapes                  // '\' in a string is itself
	ModePipesAsConcat                       // || is concatenation
	ModeUnknown                             // the session's sql_mode is not known: read nothing that depends on it
	ModeForeign                             // ORACLE: another grammar; never parsed

	modeFlags Mode = 0xff
)

// WithVersion returns m for a backend of version v (MariaDB's number: 10.11.6 is 101106).
func (m Mode) WithVersion(v uint32) Mode { return m&modeFlags | Mode(v)<<8 }

// Version is the backend version m was made for (0 = unknown: /*!NNNNN comments with a
// version are not parsed).
func (m Mode) Version() uint32 { return uint32(m >> 8) }

// Flags is m without its version.
func (m Mode) Flags() Mode { return m & modeFlags }

// VersionNumber converts a server version string ("10.11.6-MariaDB-log") to MariaDB's number.
func VersionNumber(v string) uint32 {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 3 {
		return 0
	}
	num := func(s string) int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		x, _ := strconv.Atoi(s[:n])
		return x
	}
	return uint32(num(parts[0])*10000 + num(parts[1])*100 + num(parts[2]))
}

// ParseSQLMode reads a value of @@sql_mode as the server reports it (a comma-separated list;
// combination modes are expanded by the server, and are expanded here too for a value
// taken from a SET statement).
func ParseSQLMode(v string) Mode {
	var m Mode
	for _, f := range strings.Split(v, ",") {
		switch strings.ToUpper(strings.TrimSpace(f)) {
		case "ANSI_QUOTES":
			m |= ModeANSIQuotes
		case "NO_BACKSLASH_ESCAPES":
			m |= ModeNoBackslashEscapes
		case "PIPES_AS_CONCAT":
			m |= ModePipesAsConcat
		case "ANSI", "DB2", "MAXDB", "MSSQL", "POSTGRESQL":
			m |= ModeANSIQuotes | ModePipesAsConcat
		case "ORACLE":
			m |= ModeANSIQuotes | ModePipesAsConcat | ModeForeign
		}
	}
	return m
}

type tokKind uint8

const (
	tokWord      tokKind = iota // keyword, bare identifier or number
	tokIdent                    // `...`, or "..." under ANSI_QUOTES
	tokString                   // '...', or "..." without ANSI_QUOTES
	tokVariable                 // @x, @'x', @@x, @@session.x
	tokPunct                    // one character, or || := <=> ...
	tokComment                  // -- ..., # ..., /* ... */, a /*!NNNNN ... */ the server skips
	tokCodeOpen                 // the opening of an executed /*! ... */ or /*M! ... */ (its content is code)
	tokCodeClose                // the */ closing it
)

// token is one lexical unit: src[start:end]. quote is the delimiter of a quoted token.
type token struct {
	kind       tokKind
	start, end int
	quote      byte
}

// lexer splits statement text the way MariaDB's lexer does for the modes it is given.
type lexer struct {
	src  string
	mode Mode
	// allCode lexes every /*! and /*M! comment's content as code whatever its version
	// (the table scan: more names is safe).
	allCode bool
	// recover continues after an unterminated quote or comment by reading what follows the
	// opening character as code, instead of stopping.
	recover bool

	pos    int
	inCode bool // inside an executed /*! ... */
	// bad is set by an unterminated quote or comment.
	bad bool
}

func (l *lexer) ansiQuotes() bool { return l.mode&ModeANSIQuotes != 0 }
func (l *lexer) backslashes() bool {
	return l.mode&ModeNoBackslashEscapes == 0
}

// next returns the next token; ok is false at the end (or at an unterminated construct
// without recover).
func (l *lexer) next() (token, bool) {
	src := l.src
	for l.pos < len(src) && isSpace(src[l.pos]) {
		l.pos++
	}
	if l.pos >= len(src) {
		return token{}, false
	}
	i := l.pos
	c := src[i]
	switch {
	case c == '#' || c == '-' && i+1 < len(src) && src[i+1] == '-' && (i+2 >= len(src) || src[i+2] <= ' '):
		j := strings.IndexByte(src[i:], '\n')
		if j < 0 {
			l.pos = len(src)
		} else {
			l.pos = i + j + 1
		}
		return token{kind: tokComment, start: i, end: l.pos}, true
	case c == '*' && l.inCode && i+1 < len(src) && src[i+1] == '/':
		l.inCode = false
		l.pos = i + 2
		return token{kind: tokCodeClose, start: i, end: l.pos}, true
	case c == '/' && i+1 < len(src) && src[i+1] == '*':
		return l.comment(i)
	case c == '\'' || c == '"' || c == '`':
		return l.quoted(i, c)
	case c == '@':
		return l.variable(i), true
	case wordByte(c):
		j := i
		for j < len(src) && wordByte(src[j]) {
			j++
		}
		l.pos = j
		return token{kind: tokWord, start: i, end: j}, true
	}
	n := 1
	if i+1 < len(src) {
		switch src[i : i+2] {
		case "||", ":=", "<=", ">=", "<>", "!=", "&&", "<<", ">>":
			n = 2
			if src[i:i+2] == "<=" && i+2 < len(src) && src[i+2] == '>' {
				n = 3
			}
		}
	}
	l.pos = i + n
	return token{kind: tokPunct, start: i, end: l.pos}, true
}

// comment reads a /* ... */ comment starting at i: an executed version comment opens code.
func (l *lexer) comment(i int) (token, bool) {
	src := l.src
	j := i + 2
	code := false
	if j < len(src) && src[j] == '!' {
		code, j = true, j+1
	} else if j+1 < len(src) && src[j] == 'M' && src[j+1] == '!' {
		code, j = true, j+2
	}
	if code && !l.inCode {
		d := j
		for d < len(src) && d-j < 6 && src[d] >= '0' && src[d] <= '9' {
			d++
		}
		digits := d - j
		executed := true
		switch {
		case digits == 5 || digits == 6:
			v, _ := strconv.Atoi(src[j:d])
			executed = l.mode.Version() != 0 && uint32(v) <= l.mode.Version()
		default:
			d = j // fewer digits: they are content
		}
		if executed || l.allCode {
			l.inCode = true
			l.pos = d
			return token{kind: tokCodeOpen, start: i, end: d}, true
		}
	}
	end := strings.Index(src[i+2:], "*/")
	if end < 0 {
		return l.unterminated(i)
	}
	l.pos = i + 2 + end + 2
	return token{kind: tokComment, start: i, end: l.pos}, true
}

// quoted reads a quoted token starting at src[i] == q.
func (l *lexer) quoted(i int, q byte) (token, bool) {
	kind := tokString
	if q == '`' || q == '"' && l.ansiQuotes() {
		kind = tokIdent
	}
	escapes := kind == tokString && l.backslashes()
	src := l.src
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			if escapes {
				j++
			}
		case q:
			if j+1 < len(src) && src[j+1] == q {
				j++
				continue
			}
			l.pos = j + 1
			return token{kind: kind, start: i, end: j + 1, quote: q}, true
		}
	}
	return l.unterminated(i)
}

func (l *lexer) unterminated(i int) (token, bool) {
	l.bad = true
	if !l.recover {
		l.pos = len(l.src)
		return token{}, false
	}
	l.pos = i + 1
	return token{kind: tokPunct, start: i, end: i + 1}, true
}

// variable reads @name, @'name', @@name, @@scope.name.
func (l *lexer) variable(i int) token {
	src := l.src
	j := i + 1
	if j < len(src) && src[j] == '@' {
		j++
	}
	for {
		if j < len(src) && (src[j] == '\'' || src[j] == '"' || src[j] == '`') {
			save := l.pos
			if t, ok := l.quoted(j, src[j]); ok && t.kind != tokPunct {
				j = t.end
			} else {
				l.pos = save
				l.bad = false
				j++
			}
		} else {
			for j < len(src) && wordByte(src[j]) {
				j++
			}
		}
		// @@session.sql_mode: the scope and the name are one token.
		if j+1 < len(src) && src[j] == '.' && src[i+1] == '@' && wordByte(src[j+1]) {
			j++
			continue
		}
		break
	}
	l.pos = j
	return token{kind: tokVariable, start: i, end: j}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// value returns what a quoted token stands for (quotes removed, doubled quotes and, in
// strings read with escapes, backslash escapes decoded); a word's text unchanged.
func (l *lexer) value(t token) string {
	s := l.src[t.start:t.end]
	if t.kind != tokIdent && t.kind != tokString {
		return s
	}
	body := s[1 : len(s)-1]
	q := string(t.quote)
	escapes := t.kind == tokString && l.backslashes()
	if !escapes {
		return strings.ReplaceAll(body, q+q, q)
	}
	if strings.IndexByte(body, '\\') < 0 {
		return strings.ReplaceAll(body, q+q, q)
	}
	return unescape(body, t.quote)
}

// unescape decodes a string body read with backslash escapes (MySQL's rules: \% and \_
// keep their backslash).
func unescape(body string, q byte) string {
	var b strings.Builder
	for j := 0; j < len(body); j++ {
		c := body[j]
		switch {
		case c == '\\' && j+1 < len(body):
			j++
			switch e := body[j]; e {
			case '0':
				b.WriteByte(0)
			case 'b':
				b.WriteByte('\b')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'Z':
				b.WriteByte(26)
			case '%', '_':
				b.WriteByte('\\')
				b.WriteByte(e)
			default:
				b.WriteByte(e)
			}
		case c == q && j+1 < len(body) && body[j+1] == q:
			b.WriteByte(q)
			j++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Normalize returns sql written the way the vitess parser reads it as the session's server
// reads sql under mode: "identifiers" of ANSI_QUOTES as `identifiers`, strings of
// NO_BACKSLASH_ESCAPES with their backslashes doubled, the content of executed version
// comments inlined and the others removed. ok is false when no such text exists (|| under
// PIPES_AS_CONCAT, a text that depends on an unknown mode, a foreign mode, an unterminated
// quote or comment): the statement must not be parsed.
func Normalize(sql string, mode Mode) (string, bool) {
	if mode&ModeForeign != 0 {
		return "", false
	}
	if mode.Flags() == 0 && !strings.Contains(sql, "/*") {
		return sql, true // nothing to rewrite (the common case: no scan)
	}
	l := &lexer{src: sql, mode: mode}
	unknown := mode&ModeUnknown != 0
	var b strings.Builder
	b.Grow(len(sql) + 8)
	last := 0
	flush := func(t token) { b.WriteString(sql[last:t.start]); last = t.end }
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		s := sql[t.start:t.end]
		switch t.kind {
		case tokPunct:
			if s == "||" && (mode&(ModePipesAsConcat|ModeUnknown) != 0) {
				return "", false
			}
		case tokCodeOpen, tokCodeClose:
			flush(t)
			b.WriteByte(' ')
		case tokComment:
			if strings.HasPrefix(s, "/*!") || strings.HasPrefix(s, "/*M!") {
				flush(t) // not executed by the server: not read by the parser either
				b.WriteByte(' ')
			}
		case tokIdent:
			if unknown && t.quote == '"' {
				return "", false
			}
			if t.quote == '"' {
				flush(t)
				b.WriteByte('`')
				b.WriteString(strings.ReplaceAll(l.value(t), "`", "``"))
				b.WriteByte('`')
			}
		case tokString:
			if unknown && (t.quote == '"' || strings.IndexByte(s, '\\') >= 0) {
				return "", false
			}
			if !l.backslashes() && strings.IndexByte(s, '\\') >= 0 {
				flush(t)
				b.WriteString(strings.ReplaceAll(s, `\`, `\\`))
			}
		}
	}
	if l.bad || l.inCode {
		return "", false
	}
	if last == 0 {
		return sql, true
	}
	b.WriteString(sql[last:])
	return b.String(), true
}

// ForMode returns q, a text printed by the vitess parser (strings with backslash escapes),
// written so that a server in mode reads the same: under NO_BACKSLASH_ESCAPES each string's
// escapes are decoded into the characters themselves.
func ForMode(q string, mode Mode) string {
	if mode&ModeNoBackslashEscapes == 0 || strings.IndexByte(q, '\\') < 0 {
		return q
	}
	l := &lexer{src: q}
	var b strings.Builder
	last := 0
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		if t.kind != tokString || strings.IndexByte(q[t.start:t.end], '\\') < 0 {
			continue
		}
		b.WriteString(q[last:t.start])
		last = t.end
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(l.value(t), "'", "''"))
		b.WriteByte('\'')
	}
	b.WriteString(q[last:])
	return b.String()
}

// SplitStatements splits a multi-statement text at its top-level semicolons, as MariaDB
// reads it under mode: not inside quotes or comments, and not inside a compound statement
// (BEGIN ... END, IF ... END IF, a CASE, loops: a stored program's body). Pieces holding
// only comments are dropped; each piece is trimmed.
func SplitStatements(sql string, mode Mode) []string {
	l := &lexer{src: sql, mode: mode, allCode: true}
	var out []string
	start := 0
	depth := 0
	atStart := true // the next word begins a statement
	var prev token
	code := false // the current piece has a token that is not a comment
	push := func(end int) {
		if code {
			out = append(out, strings.TrimSpace(sql[start:end]))
		}
		code = false
	}
	for {
		t, ok := l.next()
		if !ok {
			break
		}
		if t.kind == tokComment || t.kind == tokCodeOpen || t.kind == tokCodeClose {
			continue
		}
		s := sql[t.start:t.end]
		wasStart := atStart
		atStart = false
		code = true
		switch t.kind {
		case tokPunct:
			switch s {
			case ";":
				if depth <= 0 {
					depth = 0
					push(t.start)
					start = t.end
				}
				atStart = true
			case ":":
				atStart = true // a label
			}
		case tokWord:
			w := strings.ToUpper(s)
			switch w {
			case "CASE":
				depth++
			case "END":
				depth--
				// END IF / END LOOP ...: the word closes the same block.
				save, saveCode := l.pos, l.inCode
				if n, ok := l.next(); ok && n.kind == tokWord {
					switch strings.ToUpper(sql[n.start:n.end]) {
					case "IF", "LOOP", "WHILE", "REPEAT", "FOR", "CASE":
						t = n
						break
					default:
						l.pos, l.inCode = save, saveCode
					}
				} else {
					l.pos, l.inCode = save, saveCode
				}
			case "BEGIN":
				// A stored program's body (after its header, not at a statement start) or
				// BEGIN NOT ATOMIC; not BEGIN [WORK] (a transaction), not XA BEGIN.
				if !(prev.kind == tokWord && strings.EqualFold(sql[prev.start:prev.end], "XA")) && beginsBlock(l) {
					depth++
				}
			case "IF", "LOOP", "WHILE", "REPEAT", "FOR":
				if wasStart {
					depth++
				}
			case "DO", "THEN", "ELSE":
				atStart = true
			case "ATOMIC":
				// BEGIN NOT ATOMIC: its first statement starts here (FOR ... DO at the start
				// of the block is a loop, not a word of another statement).
				if depth > 0 && prev.kind == tokWord && strings.EqualFold(sql[prev.start:prev.end], "NOT") {
					atStart = true
				}
			}
			if w == "LOOP" || w == "REPEAT" {
				if wasStart || prev.kind == tokPunct && sql[prev.start:prev.end] == ":" {
					atStart = true
				}
			}
			if w == "BEGIN" && depth > 0 {
				atStart = true
			}
		}
		prev = t
	}
	push(len(sql))
	return out
}

// beginsBlock reports whether the BEGIN just read opens a compound statement (BEGIN NOT
// ATOMIC, or a stored program's BEGIN followed by statements) rather than a transaction
// (BEGIN; BEGIN WORK).
func beginsBlock(l *lexer) bool {
	save, saveCode := l.pos, l.inCode
	defer func() { l.pos, l.inCode = save, saveCode }()
	for {
		n, ok := l.next()
		if !ok {
			return false
		}
		if n.kind == tokComment || n.kind == tokCodeOpen || n.kind == tokCodeClose {
			continue
		}
		s := l.src[n.start:n.end]
		return !(s == ";" || strings.EqualFold(s, "WORK"))
	}
}
