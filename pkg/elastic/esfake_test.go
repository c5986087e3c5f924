package elastic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// evaluator is a test double of Elasticsearch over an in-memory index: it
// applies, to documents, the DSL semantics this package relies on, as the
// reference documents them, and nothing more. Anything it does not know
// is an error, so a change in the DSL cannot silently pass through a
// lenient double. It exists so that the parity test can compare the
// Elasticsearch path with recorded Loki answers over the same events.
type evaluator struct {
	timeField string
	docs      []esDoc
}

type esDoc struct {
	id  string
	src map[string]any
	ns  int64 // time field, nanoseconds
}

func loadEvents(t testing.TB, path string) []esDoc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []esDoc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var src map[string]any
		if err := dec.Decode(&src); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339Nano, src["timestamp"].(string))
		if err != nil {
			t.Fatal(err)
		}
		// _id is feedback_id, or correlation_id for interactions (DESIGN §3).
		id, _ := src["feedback_id"].(string)
		if id == "" {
			id, _ = src["correlation_id"].(string)
		}
		docs = append(docs, esDoc{id: id, src: src, ns: ts.UnixNano()})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}

// values are the indexed keyword values of a dotted field: an array gives
// one value per element, an absent field or an empty array none.
func (d esDoc) values(field string) []string {
	var cur any = d.src
	for _, p := range strings.Split(field, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	switch v := cur.(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case json.Number:
		return []string{v.String()}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func obj(v any, what string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want an object, got %T", what, v)
	}
	return m, nil
}

// single reads {"name": value} objects such as {"term": {...}}.
func single(m map[string]any, what string) (string, any, error) {
	if len(m) != 1 {
		return "", nil, fmt.Errorf("%s: want one key, got %v", what, m)
	}
	for k, v := range m {
		return k, v, nil
	}
	return "", nil, nil
}

func (e *evaluator) match(d esDoc, q any) (bool, error) {
	m, err := obj(q, "query")
	if err != nil {
		return false, err
	}
	typ, body, err := single(m, "query")
	if err != nil {
		return false, err
	}
	switch typ {
	case "bool":
		b, err := obj(body, "bool")
		if err != nil {
			return false, err
		}
		should := 0
		minShould := 0
		for k, v := range b {
			switch k {
			case "filter", "must_not", "should":
				list, ok := v.([]any)
				if !ok {
					return false, fmt.Errorf("bool.%s: want an array", k)
				}
				for _, c := range list {
					ok, err := e.match(d, c)
					if err != nil {
						return false, err
					}
					switch {
					case k == "filter" && !ok, k == "must_not" && ok:
						return false, nil
					case k == "should" && ok:
						should++
					}
				}
			case "minimum_should_match":
				n, err := strconv.Atoi(fmt.Sprint(v))
				if err != nil {
					return false, err
				}
				minShould = n
			default:
				return false, fmt.Errorf("bool.%s is not supported by the double", k)
			}
		}
		if _, has := b["should"]; has && minShould == 0 {
			minShould = 1
		}
		return should >= minShould, nil
	case "term":
		tb, _ := obj(body, "term")
		field, want, err := single(tb, "term")
		if err != nil {
			return false, err
		}
		for _, v := range d.values(field) {
			if v == want {
				return true, nil
			}
		}
		return false, nil
	case "terms":
		tb, _ := obj(body, "terms")
		field, list, err := single(tb, "terms")
		if err != nil {
			return false, err
		}
		for _, v := range d.values(field) {
			for _, w := range list.([]any) {
				if v == w {
					return true, nil
				}
			}
		}
		return false, nil
	case "exists":
		eb, _ := obj(body, "exists")
		return len(d.values(eb["field"].(string))) > 0, nil
	case "range":
		rb, _ := obj(body, "range")
		field, spec, err := single(rb, "range")
		if err != nil {
			return false, err
		}
		if field != e.timeField {
			return false, fmt.Errorf("range on %s is not supported by the double", field)
		}
		s, _ := obj(spec, "range spec")
		if s["format"] != nanosFormat {
			return false, fmt.Errorf("range format %v is not supported by the double", s["format"])
		}
		for op, v := range s {
			if op == "format" {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, v.(string))
			if err != nil {
				return false, err
			}
			b := t.UnixNano()
			ok := map[string]bool{"gt": d.ns > b, "gte": d.ns >= b, "lt": d.ns < b, "lte": d.ns <= b}
			r, known := ok[op]
			if !known {
				return false, fmt.Errorf("range op %s", op)
			}
			if !r {
				return false, nil
			}
		}
		return true, nil
	case "wildcard":
		wb, _ := obj(body, "wildcard")
		field, spec, err := single(wb, "wildcard")
		if err != nil {
			return false, err
		}
		sp, _ := obj(spec, "wildcard spec")
		re, err := wildcardRegexp(sp["value"].(string), sp["case_insensitive"] == true)
		if err != nil {
			return false, err
		}
		for _, v := range d.keywordValues(field) {
			if re.MatchString(v) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("query %q is not supported by the double", typ)
}

// keywordValues resolves the template's keyword sub-field comment.keyword
// (ignore_above 4096 characters: longer values are not indexed).
func (d esDoc) keywordValues(field string) []string {
	if field != "comment.keyword" {
		return d.values(field)
	}
	var out []string
	for _, v := range d.values("comment") {
		if utf8.RuneCountInString(v) <= 4096 {
			out = append(out, v)
		}
	}
	return out
}

// wildcardRegexp reads a Lucene wildcard pattern: * any sequence (newlines
// included), ? one character, \ escapes the next; case_insensitive
// compares characters case-insensitively.
func wildcardRegexp(p string, ci bool) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^(?s")
	if ci {
		b.WriteString("i")
	}
	b.WriteString(")")
	rs := []rune(p)
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// search answers one _search body like Elasticsearch 8.x.
func (e *evaluator) search(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		return nil, err
	}
	var matched []esDoc
	for _, d := range e.docs {
		ok, err := e.match(d, body["query"])
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, d)
		}
	}
	resp := map[string]any{
		"took": 1, "timed_out": false,
		"_shards": map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0},
	}
	hits := map[string]any{"max_score": nil}
	for k, v := range body {
		switch k {
		case "query", "size", "sort", "_source", "search_after", "aggs":
		case "track_total_hits":
			if v == true {
				hits["total"] = map[string]any{"value": len(matched), "relation": "eq"}
			}
		default:
			return nil, fmt.Errorf("search key %q is not supported by the double", k)
		}
	}
	list, err := e.hits(matched, body)
	if err != nil {
		return nil, err
	}
	hits["hits"] = list
	resp["hits"] = hits
	if aggs, ok := body["aggs"]; ok {
		out, err := e.aggs(matched, aggs)
		if err != nil {
			return nil, err
		}
		resp["aggregations"] = out
	}
	return json.Marshal(resp)
}

func (e *evaluator) aggs(docs []esDoc, spec any) (map[string]any, error) {
	m, err := obj(spec, "aggs")
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for name, a := range m {
		am, _ := obj(a, "agg")
		var sub any
		var typ string
		var params map[string]any
		for k, v := range am {
			if k == "aggs" {
				sub = v
				continue
			}
			if typ != "" {
				return nil, fmt.Errorf("agg %s has two types", name)
			}
			typ = k
			params, _ = obj(v, k)
		}
		var res map[string]any
		switch typ {
		case "terms":
			res, err = e.terms(docs, params, sub)
		case "date_histogram":
			res, err = e.histogram(docs, params, sub)
		default:
			err = fmt.Errorf("aggregation %q is not supported by the double", typ)
		}
		if err != nil {
			return nil, err
		}
		out[name] = res
	}
	return out, nil
}

func intOf(v any) (int64, error) { return strconv.ParseInt(fmt.Sprint(v), 10, 64) }

// terms: one bucket per value (a multi-valued field puts a document in
// several), documents without the field under "missing" when given,
// include as an exact list, ordered by count desc then key asc (or by key
// when asked), cut to size.
func (e *evaluator) terms(docs []esDoc, p map[string]any, sub any) (map[string]any, error) {
	field := p["field"].(string)
	size, err := intOf(p["size"])
	if err != nil {
		return nil, err
	}
	var include map[string]bool
	byKey := false
	for k, v := range p {
		switch k {
		case "field", "size", "missing":
		case "include":
			include = map[string]bool{}
			for _, s := range v.([]any) {
				include[s.(string)] = true
			}
		case "order":
			if fmt.Sprint(v) != "map[_key:asc]" {
				return nil, fmt.Errorf("terms order %v is not supported by the double", v)
			}
			byKey = true
		default:
			return nil, fmt.Errorf("terms.%s is not supported by the double", k)
		}
	}
	groups := map[string][]esDoc{}
	for _, d := range docs {
		vals := d.values(field)
		if len(vals) == 0 {
			if miss, ok := p["missing"]; ok {
				vals = []string{miss.(string)}
			}
		}
		seen := map[string]bool{}
		for _, v := range vals {
			if seen[v] || include != nil && !include[v] {
				continue
			}
			seen[v] = true
			groups[v] = append(groups[v], d)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if !byKey && len(groups[keys[i]]) != len(groups[keys[j]]) {
			return len(groups[keys[i]]) > len(groups[keys[j]])
		}
		return keys[i] < keys[j]
	})
	other := 0
	if int64(len(keys)) > size {
		for _, k := range keys[size:] {
			other += len(groups[k])
		}
		keys = keys[:size]
	}
	buckets := make([]any, 0, len(keys))
	for _, k := range keys {
		b := map[string]any{"key": k, "doc_count": len(groups[k])}
		if sub != nil {
			s, err := e.aggs(groups[k], sub)
			if err != nil {
				return nil, err
			}
			for n, v := range s {
				b[n] = v
			}
		}
		buckets = append(buckets, b)
	}
	return map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}, nil
}

// date_histogram with a fixed interval: histograms work on milliseconds
// (a date_nanos value is floored), key = floor((ms-offset)/interval) *
// interval + offset; with min_doc_count 0 every bucket from the first to
// the last key, widened to extended_bounds, is returned.
func (e *evaluator) histogram(docs []esDoc, p map[string]any, sub any) (map[string]any, error) {
	for k := range p {
		switch k {
		case "field", "fixed_interval", "offset", "min_doc_count", "extended_bounds", "format":
		default:
			return nil, fmt.Errorf("date_histogram.%s is not supported by the double", k)
		}
	}
	if p["field"] != e.timeField || p["format"] != "epoch_millis" || fmt.Sprint(p["min_doc_count"]) != "0" {
		return nil, fmt.Errorf("date_histogram %v is not supported by the double", p)
	}
	interval, err := strconv.ParseInt(strings.TrimSuffix(p["fixed_interval"].(string), "ms"), 10, 64)
	if err != nil {
		return nil, err
	}
	offset, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(p["offset"].(string), "+"), "ms"), 10, 64)
	if err != nil {
		return nil, err
	}
	floorDiv := func(a, b int64) int64 { return int64(math.Floor(float64(a) / float64(b))) }
	keyOf := func(ms int64) int64 { return floorDiv(ms-offset, interval)*interval + offset }
	byKey := map[int64][]esDoc{}
	for _, d := range docs {
		k := keyOf(floorDiv(d.ns, 1e6))
		byKey[k] = append(byKey[k], d)
	}
	eb, _ := obj(p["extended_bounds"], "extended_bounds")
	lo, _ := intOf(eb["min"])
	hi, _ := intOf(eb["max"])
	lo, hi = keyOf(lo), keyOf(hi)
	for k := range byKey {
		lo, hi = min(lo, k), max(hi, k)
	}
	var buckets []any
	for k := lo; k <= hi; k += interval {
		b := map[string]any{"key_as_string": strconv.FormatInt(k, 10), "key": k, "doc_count": len(byKey[k])}
		if sub != nil {
			s, err := e.aggs(byKey[k], sub)
			if err != nil {
				return nil, err
			}
			for n, v := range s {
				b[n] = v
			}
		}
		buckets = append(buckets, b)
	}
	return map[string]any{"buckets": buckets}, nil
}

// hits sorts by the sort spec (time field as formatted nanoseconds, keyword
// fields with missing first or last), skips to after search_after, cuts to
// size and filters _source to the included top-level keys.
func (e *evaluator) hits(docs []esDoc, body map[string]any) ([]any, error) {
	size := int64(10)
	if s, ok := body["size"]; ok {
		var err error
		if size, err = intOf(s); err != nil {
			return nil, err
		}
	}
	if size == 0 {
		return []any{}, nil
	}
	type key struct {
		field   string
		desc    bool
		missing string
	}
	var keys []key
	if s, ok := body["sort"]; ok {
		for _, item := range s.([]any) {
			m, _ := obj(item, "sort")
			field, spec, _ := single(m, "sort")
			sp, _ := obj(spec, "sort spec")
			k := key{field: field, desc: sp["order"] == "desc", missing: "_last"}
			if v, ok := sp["missing"]; ok {
				k.missing = v.(string)
			}
			if field == e.timeField && sp["format"] != nanosFormat {
				return nil, fmt.Errorf("time sort without the nanos format is not supported by the double")
			}
			keys = append(keys, k)
		}
	}
	sortValues := func(d esDoc) []any {
		out := make([]any, len(keys))
		for i, k := range keys {
			if k.field == e.timeField {
				out[i] = time.Unix(0, d.ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
				continue
			}
			if v := d.values(k.field); len(v) > 0 {
				out[i] = v[0]
			}
		}
		return out
	}
	// compare orders two sort tuples; nil (missing) goes first or last.
	compare := func(a, b []any) int {
		for i, k := range keys {
			x, y := a[i], b[i]
			var c int
			switch {
			case x == nil && y == nil:
				c = 0
			case x == nil || y == nil:
				// missing _first/_last holds whatever the order.
				if (x == nil) == (k.missing == "_first") {
					return -1
				}
				return 1
			default:
				c = strings.Compare(x.(string), y.(string))
			}
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
	sorted := append([]esDoc(nil), docs...)
	sort.SliceStable(sorted, func(i, j int) bool { return compare(sortValues(sorted[i]), sortValues(sorted[j])) < 0 })
	if after, ok := body["search_after"]; ok {
		a := after.([]any)
		for len(sorted) > 0 && compare(sortValues(sorted[0]), a) <= 0 {
			sorted = sorted[1:]
		}
	}
	if int64(len(sorted)) > size {
		sorted = sorted[:size]
	}
	var include map[string]bool
	if s, ok := body["_source"]; ok {
		m, _ := obj(s, "_source")
		include = map[string]bool{}
		for _, f := range m["includes"].([]any) {
			include[f.(string)] = true
		}
	}
	out := make([]any, 0, len(sorted))
	for _, d := range sorted {
		src := map[string]any{}
		for k, v := range d.src {
			if include == nil || include[k] {
				src[k] = v
			}
		}
		h := map[string]any{"_index": "model-feedback-" + time.Unix(0, d.ns).UTC().Format("2006.01.02"), "_id": d.id, "_score": nil, "_source": src}
		if len(keys) > 0 {
			h["sort"] = sortValues(d)
		}
		out = append(out, h)
	}
	return out, nil
}

// newEvaluatorServer serves _search from the evaluator over the events of
// testdata/loki/events.jsonl.
func newEvaluatorServer(t *testing.T) (*fakeES, *evaluator) {
	t.Helper()
	ev := &evaluator{timeField: "timestamp", docs: loadEvents(t, filepath.Join("testdata", "loki", "events.jsonl"))}
	es := newFakeES(t, func(r recorded) (int, []byte) {
		if r.Method != "POST" || r.URL() != searchURL {
			t.Errorf("unexpected request %s %s", r.Method, r.URL())
			return 404, []byte(`{}`)
		}
		out, err := ev.search(r.Body)
		if err != nil {
			t.Errorf("the double cannot answer %s: %v", r.Body, err)
			return 500, []byte(`{"error":{"type":"test_double","reason":` + strconv.Quote(err.Error()) + `},"status":500}`)
		}
		return 200, out
	})
	return es, ev
}
