package estest

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxRegexLength is index.max_regex_length's default.
const maxRegexLength = 1000

// luceneRegexp compiles a Lucene regular expression with flags NONE to an
// equivalent Go one, following the grammar of Lucene's RegExp class:
//
//	union  ::= concat ( '|' union )?
//	concat ::= repeat concat?            (until ')' or '|')
//	repeat ::= class ( '?' | '*' | '+' | '{' n (',' m?)? '}' )*
//	class  ::= '[' '^'? ( char ( '-' char )? )+ ']' | simple
//	simple ::= '.' | '"' chars '"' | '(' ')' | '(' union ')' | char
//	char   ::= '\' any | any
//
// With NONE, @ & ~ # < > are ordinary characters. The whole value must
// match and . matches any character, newlines included. Lucene's \d \s \w
// shorthands are refused: pkg/elastic never sends them and the double does
// not implement them.
func luceneRegexp(p string) (*regexp.Regexp, error) {
	if n := utf8.RuneCountInString(p); n > maxRegexLength {
		return nil, badRequest("illegal_argument_exception", "The length of regex [%d] used in the Regexp Query request has exceeded the allowed maximum of [%d]. This maximum can be set by changing the [index.max_regex_length] index level setting.", n, maxRegexLength)
	}
	l := &lucene{src: []rune(p)}
	var out string
	if len(l.src) == 0 {
		out = ""
	} else {
		var err error
		if out, err = l.union(); err != nil {
			return nil, err
		}
		if l.pos < len(l.src) {
			return nil, l.fail("end-of-string expected")
		}
	}
	re, err := regexp.Compile(`^(?:` + out + `)$`)
	if err != nil {
		return nil, unsupported("the regexp %q: %v", p, err)
	}
	return re, nil
}

type lucene struct {
	src []rune
	pos int
}

func (l *lucene) fail(msg string) error {
	return badRequest("illegal_argument_exception", "%s at position %d in regexp %q", msg, l.pos, string(l.src))
}

func (l *lucene) more() bool { return l.pos < len(l.src) }

func (l *lucene) peek(set string) bool { return l.more() && strings.ContainsRune(set, l.src[l.pos]) }

func (l *lucene) match(r rune) bool {
	if l.more() && l.src[l.pos] == r {
		l.pos++
		return true
	}
	return false
}

func lit(r rune) string { return fmt.Sprintf(`\x{%x}`, r) }

func (l *lucene) union() (string, error) {
	e, err := l.concat()
	if err != nil {
		return "", err
	}
	if l.match('|') {
		rest, err := l.union()
		if err != nil {
			return "", err
		}
		return "(?:" + e + "|" + rest + ")", nil
	}
	return e, nil
}

func (l *lucene) concat() (string, error) {
	var b strings.Builder
	for {
		e, err := l.repeat()
		if err != nil {
			return "", err
		}
		b.WriteString(e)
		if !l.more() || l.peek(")|") {
			return b.String(), nil
		}
	}
}

func (l *lucene) repeat() (string, error) {
	e, err := l.class()
	if err != nil {
		return "", err
	}
	for l.peek("?*+{") {
		switch c := l.src[l.pos]; c {
		case '?', '*', '+':
			l.pos++
			e = "(?:" + e + ")" + string(c)
		case '{':
			l.pos++
			n, ok := l.digits()
			if !ok {
				return "", l.fail("integer expected")
			}
			q := fmt.Sprintf("{%d}", n)
			if l.match(',') {
				if m, ok := l.digits(); ok {
					q = fmt.Sprintf("{%d,%d}", n, m)
				} else {
					q = fmt.Sprintf("{%d,}", n)
				}
			}
			if !l.match('}') {
				return "", l.fail("expected '}'")
			}
			e = "(?:" + e + ")" + q
		}
	}
	return e, nil
}

func (l *lucene) digits() (int, bool) {
	start := l.pos
	n := 0
	for l.more() && l.src[l.pos] >= '0' && l.src[l.pos] <= '9' {
		n = n*10 + int(l.src[l.pos]-'0')
		l.pos++
	}
	return n, l.pos > start
}

func (l *lucene) class() (string, error) {
	if !l.match('[') {
		return l.simple()
	}
	var b strings.Builder
	b.WriteByte('[')
	if l.match('^') {
		b.WriteByte('^')
	}
	first := true
	for first || l.more() && !l.peek("]") {
		first = false
		lo, err := l.char()
		if err != nil {
			return "", err
		}
		b.WriteString(lit(lo))
		if l.match('-') {
			hi, err := l.char()
			if err != nil {
				return "", err
			}
			if hi < lo {
				return "", l.fail("invalid range")
			}
			b.WriteString("-" + lit(hi))
		}
	}
	if !l.match(']') {
		return "", l.fail("expected ']'")
	}
	b.WriteByte(']')
	return b.String(), nil
}

func (l *lucene) simple() (string, error) {
	switch {
	case l.match('.'):
		return `(?s:.)`, nil
	case l.match('"'):
		var b strings.Builder
		for l.more() && l.src[l.pos] != '"' {
			b.WriteString(lit(l.src[l.pos]))
			l.pos++
		}
		if !l.match('"') {
			return "", l.fail("expected '\"'")
		}
		return "(?:" + b.String() + ")", nil
	case l.match('('):
		if l.match(')') {
			return "(?:)", nil
		}
		e, err := l.union()
		if err != nil {
			return "", err
		}
		if !l.match(')') {
			return "", l.fail("expected ')'")
		}
		return "(?:" + e + ")", nil
	}
	r, err := l.char()
	if err != nil {
		return "", err
	}
	return lit(r), nil
}

func (l *lucene) char() (rune, error) {
	if l.match('\\') {
		if l.peek("dDsSwW") {
			return 0, unsupported("the regexp shorthand \\%c", l.src[l.pos])
		}
	}
	if !l.more() {
		return 0, l.fail("unexpected end-of-string")
	}
	r := l.src[l.pos]
	l.pos++
	return r, nil
}
