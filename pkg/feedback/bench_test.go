package feedback

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func benchBody(n int) []byte {
	events := make([]string, n)
	for i := range events {
		events[i] = fmt.Sprintf(`{"kind":"feedback","correlation_id":"4bf92f3577b34da6a3ce929d0e0e%04d","model":{"id":"support-bot","version":"2026-11-01.3"},`+
			`"sentiment":"negative","reason":"hallucination","tags":["hallucination"],"source":"modal","user":{"id":"u-%d","role":"customer","geo":"DE"},`+
			`"attributes":{"domain":"tax"},"comment":"The answer cited a rule that does not exist; please check section %d again."}`, i%10000, i, i)
	}
	return []byte("[" + strings.Join(events, ",") + "]")
}

func BenchmarkDecodeBatch100(b *testing.B) {
	body := benchBody(100)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := DecodeBatch(body); errs != nil {
			b.Fatal(errs)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	events, errs := DecodeBatch(benchBody(1))
	if errs != nil {
		b.Fatal(errs)
	}
	e := &events[0]
	e.FillDefaults(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidTagMatchesItsPattern(t *testing.T) {
	re := regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	for _, tag := range []string{"", "a", "A", "1a", "_a", "a_", "a1_z", "bias", "biased_tone", "a-b", "a b", "é", "a\n",
		strings.Repeat("a", 40), strings.Repeat("a", 41), "a" + strings.Repeat("9", 39), "z{", "a`", "a/", "a:"} {
		if got, want := ValidTag(tag), re.MatchString(tag); got != want {
			t.Errorf("ValidTag(%q) = %v, the pattern says %v", tag, got, want)
		}
	}
}

func TestAppendTimeMatchesLayout(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600)),
		time.Date(0, 2, 29, 12, 30, 5, 123456789, time.FixedZone("y", 5*3600+1800)),
		time.Now(),
	} {
		b, err := appendTime(nil, Time{tm})
		want := `"` + tm.UTC().Format(TimeLayout) + `"`
		if err != nil || string(b) != want {
			t.Errorf("appendTime(%v) = %s, %v; want %s", tm, b, err, want)
		}
	}
}

func TestAppendStringSWAR(t *testing.T) {
	// Every byte that needs a look, at every position of an 8-byte word.
	for _, c := range []string{"\"", "\\", "\x00", "\x1f", "\x7f", "é", "\u2028", "\xff", " ", "~"} {
		for pos := 0; pos < 17; pos++ {
			s := strings.Repeat("a", pos) + c + strings.Repeat("b", 17-pos)
			got, gotOK := appendString(nil, s)
			want, wantOK := appendStringSlow(nil, s)
			if string(got) != string(want) || gotOK != wantOK {
				t.Errorf("appendString(%q) = %q %v, want %q %v", s, got, gotOK, want, wantOK)
			}
		}
	}
}

// appendStringSlow is appendString without the 8-byte fast path.
func appendStringSlow(b []byte, s string) ([]byte, bool) {
	var out []byte
	ok := true
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			ok = false
		}
		var part []byte
		part, _ = appendStringOne(s[i : i+size])
		out = append(out, part...)
		i += size
	}
	return append(append(append(b, '"'), out...), '"'), ok
}

func appendStringOne(s string) ([]byte, bool) {
	b, ok := appendString(nil, s)
	return b[1 : len(b)-1], ok
}
