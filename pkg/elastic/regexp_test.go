package elastic

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// luceneSubsetToGo reads the Lucene patterns luceneRegexp emits (escaped
// literals, classes, ., groups, | and quantifiers) with Lucene's meaning: a
// backslash takes the next character literally and . matches anything. It
// lets the test check that a translated pattern selects the same strings
// as Loki's RE2 matcher, not just that it looks as expected.
func luceneSubsetToGo(p string) (*regexp.Regexp, error) {
	rs := []rune(p)
	var b strings.Builder
	lit := func(r rune) string { return fmt.Sprintf(`\x{%x}`, r) }
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\\':
			i++
			b.WriteString(lit(rs[i]))
		case r == '.':
			b.WriteString(`(?s:.)`)
		case r == '[':
			b.WriteByte('[')
			i++
			if rs[i] == '^' {
				b.WriteByte('^')
				i++
			}
			for ; rs[i] != ']'; i++ {
				switch rs[i] {
				case '\\':
					i++
					b.WriteString(lit(rs[i]))
				case '-':
					b.WriteByte('-')
				default:
					b.WriteString(lit(rs[i]))
				}
			}
			b.WriteByte(']')
		case strings.ContainsRune("()|*+?{},", r) || r >= '0' && r <= '9':
			b.WriteRune(r)
		case isAlnum(r):
			b.WriteRune(r)
		default:
			return nil, fmt.Errorf("unescaped %q in %q: Lucene may read it as an operator", r, p)
		}
	}
	return regexp.Compile(`^(?:` + b.String() + `)$`)
}

func TestLuceneRegexp(t *testing.T) {
	probes := []string{"", "a", "b", "ab", "hall", "hallucination", "HALLUCINATION", "x\nhall", "a\nb", "a.b",
		"refund", "ReFuNd", "k", "K", "\u212a", "12", "1a", "xx", "xxx", "xxxx", "abc", `a"b@c#d~e&f<g>h`,
		"billing", "bilTing", "tax", "ta", "café", "CAFÉ", "[x]", `a\b`}
	for _, tc := range []struct{ re2, lucene string }{
		{`hall.*`, `hall(.)*`},
		{`(?i)refund`, `[Rr][Ee][Ff][Uu][Nn][Dd]`},
		{`(?i)k`, `[Kk` + "\u212a" + `]`},
		{`a|b`, `[a-b]`},
		{`\d+`, `([0-9])+`},
		{`^abc$`, `abc`},
		{`a.b`, `a.b`},
		{`(?-s)a.b`, "a[^\\\n]b"},
		{`x{2,3}`, `xx(x)?`},
		{`a"b@c#d~e&f<g>h`, `a\"b\@c\#d\~e\&f\<g\>h`},
		{`ta.*|bi(l+)ing`, `(ta(.)*|bi((l)+)ing)`},
		{`(?i)café`, `[Cc][Aa][Ff][Éé]`},
		{`\[x\]`, `\[x\]`},
		{`a\\b`, `a\\b`},
		{``, `()`},
	} {
		got, err := luceneRegexp(tc.re2)
		if err != nil {
			t.Errorf("%q: %v", tc.re2, err)
			continue
		}
		if got != tc.lucene {
			t.Errorf("%q → %q, want %q", tc.re2, got, tc.lucene)
		}
		lre, err := luceneSubsetToGo(got)
		if err != nil {
			t.Errorf("%q → %q: %v", tc.re2, got, err)
			continue
		}
		loki := regexp.MustCompile(`^(?s:` + tc.re2 + `)$`)
		for _, p := range probes {
			if a, b := loki.MatchString(p), lre.MatchString(p); a != b {
				t.Errorf("%q on %q: Loki %v, Elasticsearch %v (%q)", tc.re2, p, a, b, got)
			}
		}
	}
	for _, bad := range []string{`a\bb`, `a^b`, `a$b`, `[^\x00-\x{10FFFF}]`} {
		if got, err := luceneRegexp(bad); err == nil {
			t.Errorf("%q → %q, want an error", bad, got)
		}
	}
}

func TestMatchesEmpty(t *testing.T) {
	for re, want := range map[string]bool{``: true, `.*`: true, `a?`: true, `a|`: true, `a`: false, `.+`: false, `(?i)x*`: true} {
		if got := matchesEmpty(re); got != want {
			t.Errorf("matchesEmpty(%q) = %v", re, got)
		}
	}
}

func TestWildcardEscape(t *testing.T) {
	if got, want := wildcardEscape(`a*b?c\d"e`), `a\*b\?c\\d"e`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
