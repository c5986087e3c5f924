package feedback

import (
	"strconv"
	"strings"
	"sync"
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

// A decoded event is a few dozen values; allocating each value, member list
// and string on its own made parsing cost more in the allocator and the GC
// than in scanning. The parser therefore hands out values and member/element
// lists from chunks that are pooled between parses (the tree never outlives
// the caller of parseJSON: see release), and strings without escapes are
// substrings of one copy of the input (a copy, not an alias: callers may
// reuse their buffer, and decoded events keep those strings).
const (
	minChunk = 16
	maxChunk = 4096
	// maxPooled bounds what one pooled parser keeps of each kind, so that a
	// single 4 MiB request does not pin megabytes of scratch space.
	maxPooled = 8192
)

var parserPool = sync.Pool{New: func() any { return new(parser) }}

type parser struct {
	data  []byte
	src   string // data as a string, for substrings that need no allocation
	pos   int
	depth int
	path  []seg
	errs  []jerror // recoverable problems
	fatal *jerror

	vals     slab[jvalue]
	mems     slab[jmember]
	ptrs     slab[*jvalue]
	memStack []jmember // members of the objects being parsed, innermost last
	elStack  []*jvalue // elements of the arrays being parsed, innermost last
}

// slab hands out parts of reusable chunks.
type slab[T any] struct {
	chunks [][]T
	i      int // chunks before i had no room left for an earlier request
}

// take returns n zero elements with capacity n, so that appending to the
// result can never overwrite a neighbour.
func (s *slab[T]) take(n, hint int) []T {
	for ; s.i < len(s.chunks); s.i++ {
		if c := s.chunks[s.i]; cap(c)-len(c) >= n {
			s.chunks[s.i] = c[:len(c)+n]
			return c[len(c) : len(c)+n : len(c)+n]
		}
	}
	c := make([]T, n, max(n, min(max(hint, minChunk), maxChunk)))
	s.chunks = append(s.chunks, c)
	return c[:n:n]
}

func (s *slab[T]) reset() {
	kept, total := s.chunks[:0], 0
	for _, c := range s.chunks {
		clear(c)
		if total+cap(c) <= maxPooled {
			kept = append(kept, c[:0])
			total += cap(c)
		}
	}
	clear(s.chunks[len(kept):])
	s.chunks, s.i = kept, 0
}

// remaining guesses how many values are left to parse: about one per 24
// bytes of typical event JSON. A wrong guess costs only another chunk.
func (p *parser) remaining() int { return (len(p.data) - p.pos) / 24 }

func (p *parser) newValue(k jkind, start int) *jvalue {
	v := &p.vals.take(1, p.remaining())[0]
	v.kind, v.start = k, start
	return v
}

// release hands p's scratch space back for the next parse. Nothing parsed by
// p (values, errors) may be used afterwards; strings taken from values may.
func (p *parser) release() {
	// Cleared so that a pooled parser does not keep the last input alive.
	p.vals.reset()
	p.mems.reset()
	p.ptrs.reset()
	clear(p.memStack)
	clear(p.elStack)
	clear(p.path[:cap(p.path)])
	*p = parser{
		vals:     p.vals,
		mems:     p.mems,
		ptrs:     p.ptrs,
		memStack: reuse(p.memStack),
		elStack:  reuse(p.elStack),
		path:     reuse(p.path),
	}
	parserPool.Put(p)
}

func reuse[T any](s []T) []T {
	if cap(s) > maxPooled {
		return nil
	}
	return s[:0]
}

// keepMembers moves the members above base off the stack into a list of
// exactly that length (nil when empty, as an append-built list would be).
func (p *parser) keepMembers(base int) []jmember {
	n := len(p.memStack) - base
	if n == 0 {
		return nil
	}
	out := p.mems.take(n, p.remaining())
	copy(out, p.memStack[base:])
	clear(p.memStack[base:])
	p.memStack = p.memStack[:base]
	return out
}

func (p *parser) keepElems(base int) []*jvalue {
	n := len(p.elStack) - base
	if n == 0 {
		return nil
	}
	out := p.ptrs.take(n, p.remaining()/8)
	copy(out, p.elStack[base:])
	clear(p.elStack[base:])
	p.elStack = p.elStack[:base]
	return out
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

func (p *parser) recoverable(msg string) {
	p.errs = append(p.errs, jerror{path: append([]seg(nil), p.path...), msg: msg})
}

func (p *parser) fail(msg string) {
	if p.fatal == nil {
		p.fatal = &jerror{path: append([]seg(nil), p.path...), msg: "invalid JSON at byte " + strconv.Itoa(p.pos) + ": " + msg}
	}
}

// parseJSON parses one complete JSON text. On a fatal error the returned
// value is nil and p.fatal says where. The caller calls p.release once done
// with the value and p's errors.
func parseJSON(data []byte) (*jvalue, *parser) {
	p := parserPool.Get().(*parser)
	p.data, p.src = data, string(data)
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
		v := p.newValue(jString, start)
		v.end, v.str = p.pos, s
		return v
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
	if !strings.HasPrefix(p.src[p.pos:], word) {
		p.fail("invalid literal, expected " + word)
		return nil
	}
	v := p.newValue(k, p.pos)
	v.end, v.str = p.pos+len(word), word
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
	v := p.newValue(jObject, p.pos)
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
	base := len(p.memStack)
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
		members := p.memStack[base:]
		if len(members) >= 32 && seen == nil {
			// Linear search is cheaper for the two dozen keys an event can
			// have; a map keeps hostile objects with many keys from going
			// quadratic.
			seen = make(map[string]struct{}, 16)
			for _, m := range members {
				seen[m.key] = struct{}{}
			}
		}
		dup := false
		if seen != nil {
			_, dup = seen[key]
			seen[key] = struct{}{}
		} else {
			for _, m := range members {
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
			p.memStack = append(p.memStack, jmember{key: key, val: val})
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
			v.members = p.keepMembers(base)
			return v
		default:
			p.path = append(p.path, seg{key: key})
			p.fail("unexpected " + p.describe() + " where ',' or '}' was expected")
			return nil
		}
	}
}

func (p *parser) array() *jvalue {
	v := p.newValue(jArray, p.pos)
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
	base := len(p.elStack)
	for i := 0; ; i++ {
		p.skipSpace()
		p.path = append(p.path, seg{index: i, isIdx: true})
		el := p.value()
		if el == nil {
			return nil
		}
		p.elStack = append(p.elStack, el)
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
			v.elems = p.keepElems(base)
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
	v := p.newValue(jNumber, start)
	v.end, v.str = i, p.src[start:i]
	return v
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
			return p.src[i:j], false, true
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
		if plainKey(key) {
			return key
		}
		return formatPath([]seg{{key: key}})
	}
	if plainKey(key) {
		return base + "." + key
	}
	return base + formatPath([]seg{{key: "x"}, {key: key}})[1:]
}

// fieldPath names a member for error messages. It is rendered only when a
// problem is reported: building every member's path up front was a large
// share of decoding an event that has no problem at all.
type fieldPath struct{ base, key string }

func (f fieldPath) String() string { return joinPath(f.base, f.key) }

func indexPath(base string, i int) string {
	return base + "[" + strconv.Itoa(i) + "]"
}
