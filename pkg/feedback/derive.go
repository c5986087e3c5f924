package feedback

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// EffectiveVersion is the hash of (system prompt, params, model id) that
// tells apart two executions of the same model.version with a different
// prompt or parameters. It is the corpus generator's algorithm exactly:
//
//	"ev-" + sha256(json.dumps([system_prompt, params, model_id],
//	                          sort_keys=True, separators=(",", ":")))[:12]
//
// with Python's defaults otherwise (ASCII-only output, Python number
// formatting). Params are read the way Python's json.loads reads them: a
// number without fraction or exponent is an int and keeps its digits, any
// other is a float and is printed with repr (so 1.0 stays "1.0", 1e2 becomes
// "100.0"). Absent params count as {}. It returns "" without a context or
// when params is not valid JSON.
func EffectiveVersion(modelID string, c *Context) string {
	if c == nil {
		return ""
	}
	b := make([]byte, 0, 256)
	b = append(b, '[')
	b = appendPyString(b, c.SystemPrompt)
	b = append(b, ',')
	if len(c.Params) == 0 {
		b = append(b, '{', '}')
	} else {
		v, p := parseJSON(c.Params)
		defer p.release()
		if v == nil {
			return ""
		}
		b = appendPy(b, v)
	}
	b = append(b, ',')
	b = appendPyString(b, modelID)
	b = append(b, ']')
	sum := sha256.Sum256(b)
	return "ev-" + hex.EncodeToString(sum[:])[:12]
}

func appendPy(b []byte, v *jvalue) []byte {
	switch v.kind {
	case jNull:
		return append(b, "null"...)
	case jBool:
		return append(b, v.str...)
	case jString:
		return appendPyString(b, v.str)
	case jNumber:
		return appendPyNumber(b, v.str)
	case jArray:
		b = append(b, '[')
		for i, el := range v.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPy(b, el)
		}
		return append(b, ']')
	default:
		// Python's dict keeps the last of duplicate keys; the parser keeps
		// the first, but an event with duplicates is rejected anyway.
		ms := append([]jmember(nil), v.members...)
		// Go compares strings bytewise; UTF-8 byte order is code point
		// order, which is what Python's sort_keys uses.
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].key < ms[j].key })
		b = append(b, '{')
		for i, m := range ms {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPyString(b, m.key)
			b = append(b, ':')
			b = appendPy(b, m.val)
		}
		return append(b, '}')
	}
}

func appendPyNumber(b []byte, lit string) []byte {
	if !strings.ContainsAny(lit, ".eE") {
		if lit == "-0" {
			return append(b, '0')
		}
		return append(b, lit...)
	}
	f, _ := strconv.ParseFloat(lit, 64)
	return appendPyFloat(b, f)
}

// appendPyFloat prints f like Python's float.__repr__: the shortest digits
// that round-trip, fixed notation for exponents -4..15 (with ".0" when
// integral), otherwise d.ddde±XX.
func appendPyFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	if s[0] == '-' {
		b = append(b, '-')
		s = s[1:]
	}
	ePos := strings.IndexByte(s, 'e')
	digits := strings.Replace(s[:ePos], ".", "", 1)
	exp, _ := strconv.Atoi(s[ePos+1:])
	if exp < -4 || exp >= 16 {
		b = append(b, digits[0])
		if len(digits) > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if exp < 0 {
			b = append(b, '-')
			exp = -exp
		} else {
			b = append(b, '+')
		}
		if exp < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, int64(exp), 10)
	}
	point := exp + 1 // digits before the decimal point
	switch {
	case point <= 0:
		b = append(b, '0', '.')
		b = append(b, strings.Repeat("0", -point)...)
		return append(b, digits...)
	case point >= len(digits):
		b = append(b, digits...)
		b = append(b, strings.Repeat("0", point-len(digits))...)
		return append(b, '.', '0')
	default:
		b = append(b, digits[:point]...)
		b = append(b, '.')
		return append(b, digits[point:]...)
	}
}

// appendPyString writes s as Python's json.dumps does with ensure_ascii=True:
// everything outside printable ASCII (DEL included) as a lower-case \uXXXX
// escape, astral characters as surrogate pairs.
func appendPyString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	u4 := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hexd[r>>12&0xf], hexd[r>>8&0xf], hexd[r>>4&0xf], hexd[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r >= 0x20 && r < 0x7f:
			b = append(b, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = u4(u4(b, r1), r2)
		default:
			b = u4(b, r)
		}
	}
	return append(b, '"')
}

// severityWarningTags are the reasons that make negative feedback a warning
// in the corpus generator: the quality failures a regression shows up as.
var severityWarningTags = []string{"hallucination", "bias", "factually_incorrect"}

// DeriveSeverity is the severity the collector sets when an event has none,
// the corpus generator's rule: offensive or harmful (as reason or tag) →
// critical; negative sentiment with hallucination, bias or
// factually_incorrect → warning; anything else → info. Custom tags never
// raise the severity ("biased_tone" is not "bias").
func DeriveSeverity(e *Event) Severity {
	has := func(tags ...string) bool {
		for _, t := range tags {
			if e.Reason == t || e.HasTag(t) {
				return true
			}
		}
		return false
	}
	switch {
	case has("offensive", "harmful"):
		return SeverityCritical
	case e.Sentiment == Negative && has(severityWarningTags...):
		return SeverityWarning
	default:
		return SeverityInfo
	}
}

// FillDefaults sets what the collector fills in when absent (docs/event.md):
// schema, timestamp (now), feedback_id on feedback (a new ULID), severity on
// feedback (DeriveSeverity) and model.effective_version when a context is
// present. Fields already set are kept.
func (e *Event) FillDefaults(now time.Time) {
	if e.Schema == "" {
		e.Schema = Schema
	}
	if e.Timestamp == nil {
		e.Timestamp = NewTime(now)
	}
	if e.Kind == KindFeedback {
		if e.FeedbackID == "" {
			e.FeedbackID = NewULID(e.Timestamp.Time)
		}
		if e.Severity == "" {
			e.Severity = DeriveSeverity(e)
		}
	}
	if e.Context != nil && e.Model.EffectiveVersion == "" && e.Model.ID != "" {
		e.Model.EffectiveVersion = EffectiveVersion(e.Model.ID, e.Context)
	}
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewULID returns a ULID for t (48-bit milliseconds, 80 random bits, Crockford
// base32), the id form of the corpus's feedback_id: it sorts by time as text.
func NewULID(t time.Time) string {
	var rnd [10]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	ms := uint64(t.UnixMilli()) & (1<<48 - 1)
	hi := uint64(binary.BigEndian.Uint16(rnd[0:2]))
	lo := binary.BigEndian.Uint64(rnd[2:10])
	var out [26]byte
	for i := 9; i >= 0; i-- {
		out[i] = crockford[ms&31]
		ms >>= 5
	}
	// 80 random bits as 16 characters: hi:lo is a 16+64-bit number.
	for i := 25; i >= 10; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | (hi&31)<<59
		hi >>= 5
	}
	return string(out[:])
}

// Query field names (docs/queries.md) that FieldValue understands, besides
// "attributes.<key>".
var QueryFields = []string{"model_id", "model_version", "sentiment", "reason", "severity", "source",
	"user_role", "user_geo", "user_id", "correlation_id", "feedback_id", "kind"}

// KnownField reports whether field is a query field name FieldValue answers.
func KnownField(field string) bool {
	if k, ok := strings.CutPrefix(field, "attributes."); ok {
		return k != ""
	}
	return oneOf(field, QueryFields)
}

// FieldValue returns the value of a query field (docs/queries.md filters and
// groupBy) on this event. ok is false when the field is unknown or the event
// has no value for it; filters decide what absence means.
func (e *Event) FieldValue(field string) (string, bool) {
	var v string
	switch field {
	case "model_id":
		v = e.Model.ID
	case "model_version":
		v = e.Model.Version
	case "sentiment":
		v = string(e.Sentiment)
	case "reason":
		v = e.Reason
	case "severity":
		v = string(e.Severity)
	case "source":
		v = e.Source
	case "user_role", "user_geo", "user_id":
		if e.User == nil {
			return "", false
		}
		switch field {
		case "user_role":
			v = e.User.Role
		case "user_geo":
			v = e.User.Geo
		default:
			v = e.User.ID
		}
	case "correlation_id":
		v = e.CorrelationID
	case "feedback_id":
		v = e.FeedbackID
	case "kind":
		v = string(e.Kind)
	default:
		k, ok := strings.CutPrefix(field, "attributes.")
		if !ok || k == "" {
			return "", false
		}
		v, ok = e.Attributes[k]
		return v, ok
	}
	return v, v != ""
}
