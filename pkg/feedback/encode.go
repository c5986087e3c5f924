package feedback

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Marshal writes e as one compact JSON line, the form stored in Loki and
// Elasticsearch. The output matches the corpus writer (Python json.dumps with
// ensure_ascii=False and compact separators) byte for byte: fields in the
// corpus order, non-ASCII and HTML characters raw, only '"', '\' and control
// characters escaped. Identical events therefore give identical lines, which
// is how Loki drops a redelivered line. An empty Schema is written as Schema.
func Marshal(e *Event) ([]byte, error) {
	if e == nil {
		return nil, errorString("feedback: Marshal of a nil event")
	}
	b, err := AppendMarshal(make([]byte, 0, sizeHint(e)), e)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// sizeHint is about what Marshal writes, so that the line is built without
// regrowing: the fixed fields of a completed event take some 450 bytes.
func sizeHint(e *Event) int {
	n := 512 + len(e.Comment) + len(e.CorrectedOutput)
	if c := e.Context; c != nil {
		n += len(c.SystemPrompt) + len(c.Input) + len(c.Output) + len(c.Params)
	}
	return n
}

// AppendMarshal appends Marshal's line to dst, so that many lines can share
// one buffer. On error dst is returned unchanged (up to its length).
func AppendMarshal(dst []byte, e *Event) ([]byte, error) {
	if e == nil {
		return dst, errorString("feedback: Marshal of a nil event")
	}
	dst = slices.Grow(dst, sizeHint(e))
	mark := len(dst)
	w := &objWriter{b: dst}
	w.open()
	schema := e.Schema
	if schema == "" {
		schema = Schema
	}
	w.str("schema", schema)
	w.str("kind", string(e.Kind))
	// A resolution's own id leads it, as feedback_id leads the other kinds;
	// on a notification resolution_id is a reference and sits with channel.
	if e.Kind == KindResolution {
		w.str("resolution_id", e.ResolutionID)
	}
	w.str("feedback_id", e.FeedbackID)
	w.str("correlation_id", e.CorrelationID)
	if e.Timestamp != nil {
		w.key("timestamp")
		var err error
		if w.b, err = appendTime(w.b, *e.Timestamp); err != nil {
			w.setErr("timestamp", err.Error())
		}
	}
	if e.Model != (Model{}) {
		w.key("model")
		w.open()
		w.str("id", e.Model.ID)
		w.str("version", e.Model.Version)
		w.str("released_at", e.Model.ReleasedAt)
		w.str("effective_version", e.Model.EffectiveVersion)
		w.close()
	}
	w.str("sentiment", string(e.Sentiment))
	if e.Score != nil {
		w.key("score")
		w.float("score", *e.Score)
	}
	w.str("reason", e.Reason)
	w.strs("tags", e.Tags)
	w.str("severity", string(e.Severity))
	w.str("verdict", e.Verdict)
	w.str("reviewer", e.Reviewer)
	w.str("corrected_output", e.CorrectedOutput)
	if t := e.Ticket; t != nil {
		w.key("ticket")
		w.open()
		w.str("system", t.System)
		w.str("key", t.Key)
		w.str("url", t.URL)
		w.close()
	}
	if f := e.Fixes; f != nil {
		w.key("fixes")
		w.open()
		w.strs("tags", f.Tags)
		w.strs("feedback_ids", f.FeedbackIDs)
		w.strs("cluster_ids", f.ClusterIDs)
		w.close()
	}
	w.str("comment", e.Comment)
	w.str("source", e.Source)
	if e.Kind != KindResolution {
		w.str("resolution_id", e.ResolutionID)
	}
	w.str("channel", e.Channel)
	if u := e.User; u != nil {
		w.key("user")
		w.open()
		w.str("id", u.ID)
		w.str("role", u.Role)
		w.str("geo", u.Geo)
		w.close()
	}
	if e.Attributes != nil {
		w.key("attributes")
		w.open()
		var kb [8]string
		for _, k := range sortedAttrKeys(kb[:0], e.Attributes) {
			w.anyKey(k)
			w.strValue("attributes."+k, e.Attributes[k])
		}
		w.close()
	}
	if c := e.Context; c != nil {
		w.key("context")
		w.open()
		w.str("system_prompt", c.SystemPrompt)
		w.str("input", c.Input)
		w.str("output", c.Output)
		if len(c.Params) > 0 {
			w.key("params")
			var buf bytes.Buffer
			if err := json.Compact(&buf, c.Params); err != nil {
				w.setErr("context.params", "invalid JSON")
			}
			w.b = append(w.b, buf.Bytes()...)
		}
		w.str("prompt_version", c.PromptVersion)
		w.close()
	}
	if ed := e.Edit; ed != nil {
		w.key("edit")
		w.open()
		w.key("original_chars")
		w.b = strconv.AppendInt(w.b, int64(ed.OriginalChars), 10)
		w.key("edited_chars")
		w.b = strconv.AppendInt(w.b, int64(ed.EditedChars), 10)
		w.key("similarity")
		w.float("edit.similarity", ed.Similarity)
		w.close()
	}
	w.close()
	if w.err != nil {
		return w.b[:mark], w.err
	}
	return w.b, nil
}

// MarshalJSON makes encoding/json write the same fields in the same order as
// Marshal (encoding/json then escapes HTML characters, which is still equal
// JSON).
func (e Event) MarshalJSON() ([]byte, error) { return Marshal(&e) }

// attrFirst is the corpus's key order for the attributes it always writes
// (domain first, then the optional channel and jurisdiction). A Go map has no
// order, so Marshal puts these first and the remaining keys sorted after them;
// that keeps the corpus lines byte-identical and every other line stable.
var attrFirst = []string{"domain", "channel", "jurisdiction"}

// sortedAttrKeys appends to dst, so that callers can keep the usual handful
// of keys on the stack.
func sortedAttrKeys(dst []string, a map[string]string) []string {
	keys := dst
	for _, k := range attrFirst {
		if _, ok := a[k]; ok {
			keys = append(keys, k)
		}
	}
	n := len(keys)
	for k := range a {
		if !oneOf(k, attrFirst) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys[n:])
	return keys
}

type objWriter struct {
	b     []byte
	first bool
	err   error
}

func (w *objWriter) open() {
	w.b = append(w.b, '{')
	w.first = true
}

func (w *objWriter) close() {
	w.b = append(w.b, '}')
	w.first = false
}

// key writes one of Marshal's own member names, which need no escaping.
func (w *objWriter) key(k string) {
	b := w.b
	if !w.first {
		b = append(b, ',')
	}
	w.first = false
	b = append(b, '"')
	b = append(b, k...)
	w.b = append(b, '"', ':')
}

// anyKey writes a member name that comes from the event (an attribute key).
func (w *objWriter) anyKey(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b, _ = appendString(w.b, k)
	w.b = append(w.b, ':')
}

func (w *objWriter) setErr(field, msg string) {
	if w.err == nil {
		w.err = errorString("feedback: cannot marshal " + field + ": " + msg)
	}
}

// str writes a string member, omitted when empty (absent and empty are the
// same in an Event).
func (w *objWriter) str(k, v string) {
	if v == "" {
		return
	}
	w.key(k)
	w.strValue(k, v)
}

func (w *objWriter) strValue(field, v string) {
	var ok bool
	if w.b, ok = appendString(w.b, v); !ok {
		w.setErr(field, "invalid UTF-8")
	}
}

// strs writes a list member: nil is omitted, empty is written as [].
func (w *objWriter) strs(k string, v []string) {
	if v == nil {
		return
	}
	w.key(k)
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.strValue(k, s)
	}
	w.b = append(w.b, ']')
}

// float formats like encoding/json, which prints the corpus's integral
// scores as 1 and -1 and its similarities as 0.65.
func (w *objWriter) float(field string, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		w.setErr(field, "not a finite number")
		w.b = append(w.b, '0')
		return
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as encoding/json does.
		n := len(w.b)
		if n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

// appendString writes s as a JSON string escaping only what JSON requires.
// encoding/json is not used because even with SetEscapeHTML(false) it
// escapes U+2028 and U+2029, which the corpus writer leaves raw. It reports
// false (and writes U+FFFD) on invalid UTF-8.
func appendString(b []byte, s string) ([]byte, bool) {
	ok := true
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none of them needs a look: most text
		// is plain ASCII, and this loop is most of what Marshal costs.
		for i+8 <= len(s) && plain8(load64(s[i:i+8])) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\ufffd"...)
				ok = false
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), ok
}

// load64 compiles to one load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// plain8 reports whether none of the eight bytes in x is a control
// character, '"', '\\' or outside ASCII (the usual SWAR byte tests: a byte
// below n makes x-n*lsb borrow into its top bit).
func plain8(x uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	ctl := (x - 0x20*lsb) &^ x
	quote := x ^ ('"' * lsb)
	bslash := x ^ ('\\' * lsb)
	return (x|ctl|(quote-lsb)&^quote|(bslash-lsb)&^bslash)&msb == 0
}
