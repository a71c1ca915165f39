package planner

import "strings"

// Digest returns sql with its literal values replaced by '?': single-quoted strings, and
// numbers written as digits only (an unquoted word made of digits; "1.5" becomes "?.?", the
// same for every decimal of that shape). Everything else (keywords, identifiers, backquoted and
// double-quoted names, operators, variables, spacing, case) is kept byte for byte.
//
// Two statements with the same digest have the same tables, functions, clauses and variables:
// everything a Route plan is made of, since planning never looks at a literal's value. The
// proxy reuses a Route plan that sends the client's own text (Query empty) for every statement
// with the same digest: clients that inline their parameters (the text protocol: most ORMs,
// database/sql with interpolateParams, sysbench --db-ps-mode=disable) are parsed once per
// statement shape instead of once per execution.
//
// ok is false when the text is not one plain statement that can be scanned safely: comments
// (they may hold executable /*! ... */ code or optimizer hints), a ';', a '?' placeholder, an
// unterminated quote, or a backslash outside a string.
func Digest(sql string) (digest string, ok bool) { return DigestMode(sql, 0) }

// DigestMode is Digest for a session whose server reads text under mode: with
// NO_BACKSLASH_ESCAPES a backslash in a string is itself; "..." is kept byte for byte either
// way (a string or, with ANSI_QUOTES, an identifier). A mode that is unknown or foreign has no
// digest.
func DigestMode(sql string, mode Mode) (digest string, ok bool) {
	if mode&(ModeUnknown|ModeForeign) != 0 {
		return "", false
	}
	escapes := mode&ModeNoBackslashEscapes == 0
	var b strings.Builder
	b.Grow(len(sql))
	changed := false
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			end, ok := skipQuoted(sql, i, '\'', escapes)
			if !ok {
				return "", false
			}
			b.WriteByte('?')
			changed = true
			i = end
		case c == '"' || c == '`':
			end, ok := skipQuoted(sql, i, c, escapes && !(c == '"' && mode&ModeANSIQuotes != 0))
			if !ok {
				return "", false
			}
			b.WriteString(sql[i:end])
			i = end
		case c == ';' || c == '?' || c == '#' || c == '\\':
			return "", false
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			return "", false
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			return "", false
		case wordByte(c):
			j := i
			digits := true
			for j < len(sql) && wordByte(sql[j]) {
				if sql[j] < '0' || sql[j] > '9' {
					digits = false
				}
				j++
			}
			if digits {
				b.WriteByte('?')
				changed = true
			} else {
				b.WriteString(sql[i:j])
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	if !changed {
		return "", false // no literal: the text itself is the cache key
	}
	return b.String(), true
}

// DigestReusable reports whether p may serve every statement with the same digest: a Route
// that sends the client's own text (its literals included) and depends on nothing else.
func DigestReusable(p *Plan) bool {
	return p.Kind == Route && p.Query == "" && !p.LocalInfile && !p.Unparsed && !p.literalVerdict
}

// wordByte reports a byte of an unquoted word: a keyword, an identifier (MySQL allows '$' and
// any non-ASCII character in them, and a leading digit) or a number.
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$' || c >= 0x80
}

// skipQuoted returns the index after the quoted run starting at sql[i] (a doubled quote
// stands for itself; with escapes, a backslash escapes the next byte inside '...' and "...",
// never in `...`).
func skipQuoted(sql string, i int, q byte, escapes bool) (int, bool) {
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			if escapes && q != '`' {
				j++
			}
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1, true
		}
	}
	return 0, false
}
