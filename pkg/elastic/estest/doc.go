package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// doc is one indexed event.
type doc struct {
	index string
	id    string
	src   map[string]any // decoded with json.Number, for field values
	// keys are the top-level members in their original order with their raw
	// values: Elasticsearch keeps _source as sent, and source filtering
	// keeps the order, so a hit's _source must not be re-encoded from a map
	// (that would sort keys, e.g. inside context.params).
	keys []member
	ns   int64 // timestamp, nanoseconds
}

type member struct {
	name string
	raw  json.RawMessage
}

func newDoc(line []byte) (*doc, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var src map[string]any
	if err := dec.Decode(&src); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	keys, err := members(line)
	if err != nil {
		return nil, err
	}
	ts, _ := src["timestamp"].(string)
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, fmt.Errorf("timestamp %q: %w", ts, err)
	}
	return &doc{index: dailyIndex(t), id: documentID(src, line), src: src, keys: keys, ns: t.UnixNano()}, nil
}

// members splits a JSON object into its top-level members, in order.
func members(line []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		out = append(out, member{name: t.(string), raw: raw})
	}
	return out, nil
}

// lookupPath walks a dotted path through objects.
func (d *doc) lookupPath(path string) any {
	var cur any = d.src
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (d *doc) has(path string) bool { return d.lookupPath(path) != nil }

// attributeKeys are the dynamically mapped fields the document brings.
func (d *doc) attributeKeys(prefix string) []string {
	if prefix == "" {
		return nil
	}
	m, ok := d.lookupPath(strings.TrimSuffix(prefix, ".")).(map[string]any)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		if _, obj := v.(map[string]any); !obj && v != nil {
			out = append(out, prefix+k)
		}
	}
	return out
}

// terms are the indexed values of a keyword field: one per array element,
// numbers and booleans as their text (keyword coerces them), none for an
// absent field, null or an empty array, and none longer than ignore_above
// (such values are kept in _source only).
func (d *doc) terms(f *field) []string {
	var raw []any
	switch v := d.lookupPath(f.source).(type) {
	case nil:
		return nil
	case []any:
		raw = v
	default:
		raw = []any{v}
	}
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case bool:
			s = fmt.Sprint(x)
		default:
			continue
		}
		if f.ignoreAbove > 0 && utf8.RuneCountInString(s) > f.ignoreAbove {
			continue
		}
		out = append(out, s)
	}
	return out
}

// dateNanos is the value of a date or date_nanos field.
func (d *doc) dateNanos(f *field) (int64, bool) {
	if f.source == "timestamp" {
		return d.ns, true
	}
	s, ok := d.lookupPath(f.source).(string)
	if !ok {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	return t.UnixNano(), true
}

// source is _source with only the included top-level members, in their
// original order; nil includes means all.
func (d *doc) source(includes map[string]bool) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, m := range d.keys {
		if includes != nil && !includes[m.name] {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.name)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.raw)
		n++
	}
	b.WriteByte('}')
	return b.Bytes()
}

// number is the value of a numeric field (long, double).
func (d *doc) number(path string) (float64, bool) {
	n, ok := d.lookupPath(path).(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}
