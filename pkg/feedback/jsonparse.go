package feedback

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A small strict JSON parser. encoding/json cannot do what the contract needs:
// it silently keeps the last of duplicate keys, replaces invalid UTF-8 and lone
// surrogates with U+FFFD, and its errors carry a byte offset but no field path.
// This parser keeps going after such problems (recording them with the path)
// so that one request gets every problem at once, and stops only where the
// syntax makes the rest unreadable.

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "boolean"
	case jNumber:
		return "number"
	case jString:
		return "string"
	case jArray:
		return "array"
	default:
		return "object"
	}
}

type jvalue struct {
	kind       jkind
	start, end int    // byte span in the input
	str        string // string: decoded value; number: the literal; bool: "true"/"false"
	elems      []*jvalue
	members    []jmember
}

type jmember struct {
	key string
	val *jvalue
}

// seg is one step of a path: an object key or an array index.
type seg struct {
	key   string
	index int
	isIdx bool
}

type jerror struct {
	path []seg
	msg  string
}

// maxDepth is far above any legal event (depth 3, or a little more inside
// context.params) and far below what would let nested junk exhaust the stack.
const maxDepth = 64

type parser struct {
	data  []byte
	pos   int
	depth int
	path  []seg
	errs  []jerror // recoverable problems
	fatal *jerror
}

func (p *parser) recoverable(msg string) {
	p.errs = append(p.errs, jerror{path: append([]seg(nil), p.path...), msg: msg})
}

func (p *parser) fail(msg string) {
	if p.fatal == nil {
		p.fatal = &jerror{path: append([]seg(nil), p.path...), msg: "invalid JSON at byte " + strconv.Itoa(p.pos) + ": " + msg}
	}
}

// parseJSON parses one complete JSON text. On a fatal error the returned
// value is nil and p.fatal says where.
func parseJSON(data []byte) (*jvalue, *parser) {
	p := &parser{data: data}
	p.skipSpace()
	if p.pos >= len(p.data) {
		p.fail("empty input")
		return nil, p
	}
	v := p.value()
	if p.fatal != nil {
		return nil, p
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		p.fail("unexpected " + p.describe() + " after the end of the JSON value")
		return nil, p
	}
	return v, p
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	c := p.data[p.pos]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

func (p *parser) value() *jvalue {
	if p.pos >= len(p.data) {
		p.fail("unexpected end of input")
		return nil
	}
	start := p.pos
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, bad, ok := p.stringLit()
		if !ok {
			return nil
		}
		if bad {
			p.recoverable("invalid UTF-8")
		}
		return &jvalue{kind: jString, start: start, end: p.pos, str: s}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return p.literal("true", jBool)
	case c == 'f':
		return p.literal("false", jBool)
	case c == 'n':
		return p.literal("null", jNull)
	default:
		p.fail("unexpected " + p.describe() + " where a value was expected")
		return nil
	}
}

func (p *parser) literal(word string, k jkind) *jvalue {
	if !strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+len(word))]), word) {
		p.fail("invalid literal, expected " + word)
		return nil
	}
	v := &jvalue{kind: k, start: p.pos, end: p.pos + len(word), str: word}
	p.pos += len(word)
	return v
}

func (p *parser) enter() bool {
	p.depth++
	if p.depth > maxDepth {
		p.fail("nested deeper than " + strconv.Itoa(maxDepth) + " levels")
		return false
	}
	return true
}

func (p *parser) object() *jvalue {
	v := &jvalue{kind: jObject, start: p.pos}
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // {
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		v.end = p.pos
		return v
	}
	var seen map[string]struct{}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			p.fail("unexpected " + p.describe() + " where an object key was expected")
			return nil
		}
		key, bad, ok := p.stringLit()
		if !ok {
			return nil
		}
		p.path = append(p.path, seg{key: key})
		if bad {
			p.recoverable("invalid UTF-8")
		}
		if len(v.members) >= 8 && seen == nil {
			// Linear search is cheaper for the handful of keys an event has;
			// a map keeps hostile objects with many keys from going quadratic.
			seen = make(map[string]struct{}, 16)
			for _, m := range v.members {
				seen[m.key] = struct{}{}
			}
		}
		dup := false
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			for _, m := range v.members {
				if m.key == key {
					dup = true
					break
				}
			}
		}
		if dup {
			p.recoverable("duplicate key")
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			p.fail("unexpected " + p.describe() + " where ':' was expected")
			return nil
		}
		p.pos++
		p.skipSpace()
		val := p.value()
		if val == nil {
			return nil
		}
		if !dup {
			v.members = append(v.members, jmember{key: key, val: val})
		}
		// The path still names this member, so garbage after a value is
		// reported at the field it follows.
		p.skipSpace()
		if p.pos >= len(p.data) {
			p.fail("unexpected end of input in an object")
			return nil
		}
		p.path = p.path[:len(p.path)-1]
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			v.end = p.pos
			return v
		default:
			p.path = append(p.path, seg{key: key})
			p.fail("unexpected " + p.describe() + " where ',' or '}' was expected")
			return nil
		}
	}
}

func (p *parser) array() *jvalue {
	v := &jvalue{kind: jArray, start: p.pos}
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		v.end = p.pos
		return v
	}
	for i := 0; ; i++ {
		p.skipSpace()
		p.path = append(p.path, seg{index: i, isIdx: true})
		el := p.value()
		if el == nil {
			return nil
		}
		v.elems = append(v.elems, el)
		p.skipSpace()
		if p.pos >= len(p.data) {
			p.fail("unexpected end of input in an array")
			return nil
		}
		p.path = p.path[:len(p.path)-1]
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			v.end = p.pos
			return v
		default:
			p.path = append(p.path, seg{index: i, isIdx: true})
			p.fail("unexpected " + p.describe() + " where ',' or ']' was expected")
			return nil
		}
	}
}

func (p *parser) number() *jvalue {
	start := p.pos
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		digits()
	default:
		p.pos = i
		p.fail("invalid number")
		return nil
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			p.fail("invalid number: digits expected after '.'")
			return nil
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			p.fail("invalid number: digits expected in the exponent")
			return nil
		}
	}
	p.pos = i
	return &jvalue{kind: jNumber, start: start, end: i, str: string(d[start:i])}
}

// stringLit reads a string literal at p.pos. Invalid UTF-8 and lone
// surrogates are recoverable (replaced by U+FFFD and reported as bad, for the
// caller to record once the path names the string); a raw control character
// or a bad escape is fatal, as is an unterminated string.
func (p *parser) stringLit() (s string, bad, ok bool) {
	d := p.data
	i := p.pos + 1
	// Fast path: plain ASCII without escapes, the common case.
	j := i
	for j < len(d) {
		c := d[j]
		if c == '"' {
			p.pos = j + 1
			return string(d[i:j]), false, true
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
		j++
	}
	var b strings.Builder
	b.Write(d[i:j])
	badUTF8 := false
	i = j
	for {
		if i >= len(d) {
			p.pos = i
			p.fail("unterminated string")
			return "", false, false
		}
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return b.String(), badUTF8, true
		case c < 0x20:
			p.pos = i
			p.fail("control character in a string (must be escaped)")
			return "", false, false
		case c == '\\':
			if i+1 >= len(d) {
				p.pos = i
				p.fail("unterminated string")
				return "", false, false
			}
			switch e := d[i+1]; e {
			case '"', '\\', '/':
				b.WriteByte(e)
				i += 2
			case 'b':
				b.WriteByte('\b')
				i += 2
			case 'f':
				b.WriteByte('\f')
				i += 2
			case 'n':
				b.WriteByte('\n')
				i += 2
			case 'r':
				b.WriteByte('\r')
				i += 2
			case 't':
				b.WriteByte('\t')
				i += 2
			case 'u':
				r, ok := hex4(d, i+2)
				if !ok {
					p.pos = i
					p.fail(`invalid \u escape`)
					return "", false, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					r2, ok2 := rune(0), false
					if r < 0xdc00 && i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
						r2, ok2 = hex4(d, i+2)
					}
					if ok2 {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							b.WriteRune(dec)
							i += 6
							break
						}
					}
					badUTF8 = true
					b.WriteRune(utf8.RuneError)
					break
				}
				b.WriteRune(r)
			default:
				p.pos = i
				p.fail("invalid escape sequence")
				return "", false, false
			}
		case c < 0x80:
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				badUTF8 = true
			}
			b.WriteRune(r)
			i += size
		}
	}
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// formatPath renders a path the way FieldError.Field names fields:
// model.version, tags[2], context.params.temperature. A key that would make
// the path ambiguous or unreadable is quoted: attributes["a.b"].
func formatPath(path []seg) string {
	var b strings.Builder
	for i, s := range path {
		switch {
		case s.isIdx:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		case plainKey(s.key):
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		default:
			k := s.key
			if len(k) > 64 {
				// Echoing a 300 KiB key back would multiply the response size.
				k = k[:64] + "…"
			}
			b.WriteByte('[')
			b.WriteString(strconv.Quote(k))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func plainKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= 0x20 || c >= 0x7f || c == '.' || c == '[' || c == ']' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func joinPath(base, key string) string {
	if base == "" {
		return formatPath([]seg{{key: key}})
	}
	return base + formatPath([]seg{{key: "x"}, {key: key}})[1:]
}

func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}
