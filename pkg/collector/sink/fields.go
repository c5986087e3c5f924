package sink

import (
	"bytes"
	"fmt"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// Fields are the few values of a spooled event that the sinks route by:
// the stream labels (Loki), the index and _id (Elasticsearch), the time.
type Fields struct {
	Kind, Timestamp, Sentiment              string
	ModelID, ModelVersion                   string
	FeedbackID, CorrelationID, ResolutionID string
}

// ReadFields checks that line is one JSON object and reads Fields from its
// top level (and "model") in a single pass, for the destination name that
// prefixes the errors. A field that is absent or null reads as "".
// Duplicate keys and nulls behave as with encoding/json: the last value
// wins, and null leaves what an earlier key set. The strings share line's
// memory (see View), unless they hold escapes.
//
// Why not encoding/json: decoding into a struct scans the whole event
// twice (validation, then decoding, skipping every nested value the struct
// does not hold), and the event's snapshot of prompt and output is most of
// its bytes. Delivery parses every event once per sink, so that decode was
// the largest cost of delivering at all (docs/operations.md, "Delivery").
// gjson validates without allocating and skips values it is not asked for.
// Keys match exactly, as the stores' queries match them (encoding/json
// would also take "Kind" for "kind"); otherwise ReadFields agrees with
// encoding/json on every corpus event (fields_test.go).
func ReadFields(name string, line []byte) (Fields, error) {
	var f Fields
	trimmed := bytes.TrimLeft(line, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' || !gjson.ValidBytes(line) {
		return f, fmt.Errorf("%s: event is not a JSON object", name)
	}
	return readFields(name, line)
}

// View is b as a string without a copy, for reading a Record's Line during
// Deliver: the delivery loop never changes a Line (spool.Entry), and a
// string made of it must not outlive the batch. Delivery reads every event
// once or twice per sink; copying each line just to look at it was a
// third of the allocations of delivering.
func View(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func readFields(name string, line []byte) (Fields, error) {
	var f Fields
	var err error
	doc := View(line)
	str := func(key string, raw string, dst *string) {
		switch {
		case len(raw) >= 2 && raw[0] == '"' && strings.IndexByte(raw, '\\') < 0:
			*dst = raw[1 : len(raw)-1]
		case len(raw) >= 2 && raw[0] == '"':
			*dst = gjson.Parse(raw).Str
		case raw == "null":
		default:
			if err == nil {
				err = fmt.Errorf("%s: event field %s is not a string", name, key)
			}
		}
	}
	members(doc, func(k, v string) bool {
		switch k {
		case "kind":
			str("kind", v, &f.Kind)
		case "timestamp":
			str("timestamp", v, &f.Timestamp)
		case "sentiment":
			str("sentiment", v, &f.Sentiment)
		case "feedback_id":
			str("feedback_id", v, &f.FeedbackID)
		case "correlation_id":
			str("correlation_id", v, &f.CorrelationID)
		case "resolution_id":
			str("resolution_id", v, &f.ResolutionID)
		case "model":
			switch {
			case v == "null":
			case len(v) > 0 && v[0] == '{':
				members(v, func(mk, mv string) bool {
					switch mk {
					case "id":
						str("model.id", mv, &f.ModelID)
					case "version":
						str("model.version", mv, &f.ModelVersion)
					}
					return true
				})
			default:
				err = fmt.Errorf("%s: event field model is not an object", name)
			}
		}
		return err == nil
	})
	return f, err
}

// members calls f with each key (unescaped) and raw value of the JSON
// object b until f returns false. On input that is not an object it stops
// where it cannot go on, without reading past b.
//
// Why not gjson's ForEach: it makes a Result of every value, scanning each
// string byte by byte, and most of an event's bytes are strings (prompt,
// output, comment) that no sink routes by; skipping a string here is a
// memchr for its closing quote.
func members(b string, f func(key, value string) bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return // '}' or malformed
		}
		end := skipString(b, i)
		if end < 0 {
			return
		}
		key := b[i+1 : end-1]
		if strings.IndexByte(key, '\\') >= 0 {
			key = gjson.Parse(b[i:end]).Str
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipSpace(b, i+1)
		vend := skipValue(b, i)
		if vend < 0 {
			return
		}
		if !f(key, b[i:vend]) {
			return
		}
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i++
	}
}

func skipSpace(b string, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"'),
// or -1 when it does not end.
func skipString(b string, i int) int {
	i++
	for {
		j := strings.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		q := i + j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// skipValue returns the index after the value starting at b[i], or -1.
func skipValue(b string, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		j := i
	literal:
		for ; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				break literal
			}
		}
		if j == i {
			return -1
		}
		return j
	}
}
