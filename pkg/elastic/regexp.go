package elastic

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
)

// Loki evaluates =~ and !~ with Prometheus matchers: RE2, anchored at both
// ends, with `.` matching a newline (the pattern is wrapped as ^(?s:re)$).
// Elasticsearch's regexp query is Lucene syntax: also anchored, `.` also
// matches anything, but it has no \d \w \b, no (?i) flags, no ^ $ anchors,
// and gives meaning to characters that are literal in RE2 (" is a string
// quote, and with the optional operators @ & ~ < > # too). Sending the
// user's text as is would make the same filter select other events on the
// two sources. So the RE2 value is parsed and re-emitted as an equivalent
// Lucene pattern in which every literal is escaped; RE2 constructs without a
// Lucene equivalent are refused with a message rather than approximated.

// luceneRegexp translates an RE2 pattern (as Loki reads it) to a Lucene
// regexp that matches exactly the same whole strings.
func luceneRegexp(re2 string) (string, error) {
	re, err := syntax.Parse(re2, syntax.Perl|syntax.DotNL)
	if err != nil {
		return "", fmt.Errorf("invalid regular expression: %w", err)
	}
	re = re.Simplify()
	re = stripOuterAnchors(re)
	var b strings.Builder
	if err := emitLucene(&b, re); err != nil {
		return "", err
	}
	return b.String(), nil
}

// stripOuterAnchors drops ^ and $ at the very start and end: both engines
// anchor the whole pattern already, so there they are no-ops. Anywhere else
// they would need a look-around Lucene does not have.
func stripOuterAnchors(re *syntax.Regexp) *syntax.Regexp {
	isBegin := func(r *syntax.Regexp) bool { return r.Op == syntax.OpBeginText || r.Op == syntax.OpBeginLine }
	isEnd := func(r *syntax.Regexp) bool { return r.Op == syntax.OpEndText || r.Op == syntax.OpEndLine }
	if isBegin(re) || isEnd(re) {
		return &syntax.Regexp{Op: syntax.OpEmptyMatch}
	}
	if re.Op != syntax.OpConcat {
		return re
	}
	subs := re.Sub
	for len(subs) > 0 && isBegin(subs[0]) {
		subs = subs[1:]
	}
	for len(subs) > 0 && isEnd(subs[len(subs)-1]) {
		subs = subs[:len(subs)-1]
	}
	cp := *re
	cp.Sub = subs
	if len(subs) == 0 {
		return &syntax.Regexp{Op: syntax.OpEmptyMatch}
	}
	return &cp
}

func emitLucene(b *strings.Builder, re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpEmptyMatch:
		b.WriteString("()")
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				writeFolded(b, r)
			} else {
				writeEscaped(b, r)
			}
		}
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return fmt.Errorf("the regular expression contains a character class that matches nothing")
		}
		if len(re.Rune) == 2 && re.Rune[0] == 0 && re.Rune[1] == unicode.MaxRune {
			b.WriteByte('.')
			return nil
		}
		b.WriteByte('[')
		for i := 0; i < len(re.Rune); i += 2 {
			writeEscaped(b, re.Rune[i])
			if re.Rune[i+1] != re.Rune[i] {
				b.WriteByte('-')
				writeEscaped(b, re.Rune[i+1])
			}
		}
		b.WriteByte(']')
	case syntax.OpAnyChar:
		b.WriteByte('.')
	case syntax.OpAnyCharNotNL:
		b.WriteString("[^")
		writeEscaped(b, '\n')
		b.WriteByte(']')
	case syntax.OpCapture:
		b.WriteByte('(')
		if err := emitLucene(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteByte(')')
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		b.WriteByte('(')
		if err := emitLucene(b, re.Sub[0]); err != nil {
			return err
		}
		b.WriteByte(')')
		switch re.Op {
		case syntax.OpStar:
			b.WriteByte('*')
		case syntax.OpPlus:
			b.WriteByte('+')
		case syntax.OpQuest:
			b.WriteByte('?')
		default:
			switch {
			case re.Max == -1:
				fmt.Fprintf(b, "{%d,}", re.Min)
			case re.Min == re.Max:
				fmt.Fprintf(b, "{%d}", re.Min)
			default:
				fmt.Fprintf(b, "{%d,%d}", re.Min, re.Max)
			}
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if err := emitLucene(b, s); err != nil {
				return err
			}
		}
	case syntax.OpAlternate:
		b.WriteByte('(')
		for i, s := range re.Sub {
			if i > 0 {
				b.WriteByte('|')
			}
			if err := emitLucene(b, s); err != nil {
				return err
			}
		}
		b.WriteByte(')')
	case syntax.OpNoMatch:
		return fmt.Errorf("the regular expression matches nothing")
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return fmt.Errorf("^ and $ are only supported at the start and end of the regular expression on Elasticsearch (the pattern always matches the whole value)")
	case syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return fmt.Errorf(`\b and \B are not supported on Elasticsearch`)
	default:
		return fmt.Errorf("regular expression construct %v is not supported on Elasticsearch", re.Op)
	}
	return nil
}

// writeEscaped writes one character so that Lucene reads it literally.
// Lucene's backslash takes the next character as is (\n is the letter n),
// so a newline is written as a backslash followed by a real newline.
func writeEscaped(b *strings.Builder, r rune) {
	if r <= unicode.MaxASCII && !isAlnum(r) {
		b.WriteByte('\\')
	}
	b.WriteRune(r)
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// writeFolded writes the case-fold orbit of r as a class, the way RE2's
// (?i) matches it (k also matches the Kelvin sign).
func writeFolded(b *strings.Builder, r rune) {
	orbit := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		orbit = append(orbit, f)
	}
	if len(orbit) == 1 {
		writeEscaped(b, r)
		return
	}
	b.WriteByte('[')
	for _, o := range orbit {
		writeEscaped(b, o)
	}
	b.WriteByte(']')
}

// matchesEmpty reports whether Loki's matcher for re selects a value that
// is empty or absent: `| reason=~".*"` keeps events without a reason (the
// parsed label is ""), while an Elasticsearch regexp never matches a
// document that lacks the field.
func matchesEmpty(re2 string) bool {
	m, err := regexp.Compile("^(?s:" + re2 + ")$")
	return err == nil && m.MatchString("")
}

// wildcardEscape escapes Lucene wildcard metacharacters so that the search
// text is matched literally.
func wildcardEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '*' || r == '?' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
