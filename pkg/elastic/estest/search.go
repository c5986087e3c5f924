package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// nanosFormat is the only date format the double reads and writes: the one
// pkg/elastic asks for everywhere, so that nanoseconds survive.
const nanosFormat = "strict_date_optional_time_nanos"

const (
	// maxResultWindow is index.max_result_window's default.
	maxResultWindow = 10000
	// maxBuckets is search.max_buckets' default on 8.x.
	maxBuckets = 65536
)

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Elasticsearch does not escape < > & in strings; neither does the
	// double, so _source stays byte for byte what was indexed.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("parsing_exception", "request body is not JSON: %v", err)
	}
	if dec.More() {
		return nil, badRequest("parsing_exception", "request body has content after the JSON object")
	}
	return v, nil
}

func object(v any, what string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, unsupported("%s as %T (want an object)", what, v)
	}
	return m, nil
}

// single reads {"name": value}, as a query or a field clause is written.
func single(v any, what string) (string, any, error) {
	m, err := object(v, what)
	if err != nil {
		return "", nil, err
	}
	if len(m) != 1 {
		return "", nil, unsupported("%s with %d keys (want exactly one)", what, len(m))
	}
	for k, x := range m {
		return k, x, nil
	}
	return "", nil, nil
}

func onlyKeys(m map[string]any, what string, allowed ...string) error {
	for k := range m {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return unsupported("%s.%s", what, k)
		}
	}
	return nil
}

func str(v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", unsupported("%s as %T (want a string)", what, v)
	}
	return s, nil
}

func integer(v any, what string) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, unsupported("%s as %T (want an integer)", what, v)
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, unsupported("%s = %s (want an integer)", what, n)
	}
	return i, nil
}

func boolean(v any, what string) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, unsupported("%s as %T (want a boolean)", what, v)
	}
	return b, nil
}

// matcher is a compiled query. Queries are compiled before any document is
// looked at, so a clause the double does not implement is refused even
// when no document would reach it.
type matcher func(d *doc) bool

type searchCtx struct {
	s       *Server
	indices []string
}

// keyword resolves a field that a term-level query or a terms aggregation
// reads. nil, nil is an unmapped field, which matches nothing.
func (c *searchCtx) keyword(name, what string) (*field, error) {
	f := c.s.lookup(name, c.indices)
	if f == nil {
		return nil, nil
	}
	if f.typ != "keyword" {
		return nil, unsupported("%s on the %s field %s (only keyword fields)", what, f.typ, name)
	}
	if !f.indexed {
		return nil, badRequest("query_shard_exception", "failed to create query: Cannot search on field [%s] since it is not indexed.", name)
	}
	return f, nil
}

func (c *searchCtx) date(name, what string) (*field, error) {
	f := c.s.lookup(name, c.indices)
	if f == nil || (f.typ != "date" && f.typ != "date_nanos") {
		return nil, unsupported("%s on %s, which is not a date field", what, name)
	}
	return f, nil
}

func anyTerm(f *field, pred func(string) bool) matcher {
	if f == nil {
		return func(*doc) bool { return false }
	}
	return func(d *doc) bool {
		for _, v := range d.terms(f) {
			if pred(v) {
				return true
			}
		}
		return false
	}
}

func (c *searchCtx) compile(q any) (matcher, error) {
	typ, body, err := single(q, "query")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "bool":
		return c.compileBool(body)
	case "term":
		name, v, err := single(body, "term")
		if err != nil {
			return nil, err
		}
		want, err := str(v, "term."+name)
		if err != nil {
			return nil, err
		}
		f, err := c.keyword(name, "term")
		if err != nil {
			return nil, err
		}
		return anyTerm(f, func(s string) bool { return s == want }), nil
	case "terms":
		name, v, err := single(body, "terms")
		if err != nil {
			return nil, err
		}
		list, ok := v.([]any)
		if !ok {
			return nil, unsupported("terms.%s as %T (want an array of strings)", name, v)
		}
		set := map[string]bool{}
		for _, x := range list {
			s, err := str(x, "terms."+name+"[]")
			if err != nil {
				return nil, err
			}
			set[s] = true
		}
		f, err := c.keyword(name, "terms")
		if err != nil {
			return nil, err
		}
		return anyTerm(f, func(s string) bool { return set[s] }), nil
	case "exists":
		m, err := object(body, "exists")
		if err != nil {
			return nil, err
		}
		if err := onlyKeys(m, "exists", "field"); err != nil {
			return nil, err
		}
		name, err := str(m["field"], "exists.field")
		if err != nil {
			return nil, err
		}
		if strings.Contains(name, "*") {
			return nil, unsupported("exists on a field pattern")
		}
		f := c.s.lookup(name, c.indices)
		switch {
		case f == nil:
			return func(*doc) bool { return false }, nil
		case f.typ == "keyword":
			return func(d *doc) bool { return len(d.terms(f)) > 0 }, nil
		case f.typ == "date" || f.typ == "date_nanos":
			return func(d *doc) bool { _, ok := d.dateNanos(f); return ok }, nil
		case f.typ == "long" || f.typ == "double":
			return func(d *doc) bool { _, ok := d.number(f.source); return ok }, nil
		}
		return nil, unsupported("exists on the %s field %s", f.typ, name)
	case "range":
		return c.compileRange(body)
	case "wildcard":
		name, spec, err := single(body, "wildcard")
		if err != nil {
			return nil, err
		}
		m, err := object(spec, "wildcard."+name)
		if err != nil {
			return nil, err
		}
		if err := onlyKeys(m, "wildcard."+name, "value", "case_insensitive"); err != nil {
			return nil, err
		}
		p, err := str(m["value"], "wildcard.value")
		if err != nil {
			return nil, err
		}
		ci := false
		if v, ok := m["case_insensitive"]; ok {
			if ci, err = boolean(v, "wildcard.case_insensitive"); err != nil {
				return nil, err
			}
		}
		re, err := wildcardRegexp(p, ci)
		if err != nil {
			return nil, err
		}
		f, err := c.keyword(name, "wildcard")
		if err != nil {
			return nil, err
		}
		return anyTerm(f, re.MatchString), nil
	case "regexp":
		name, spec, err := single(body, "regexp")
		if err != nil {
			return nil, err
		}
		m, err := object(spec, "regexp."+name)
		if err != nil {
			return nil, err
		}
		if err := onlyKeys(m, "regexp."+name, "value", "flags"); err != nil {
			return nil, err
		}
		if m["flags"] != "NONE" {
			return nil, unsupported("regexp flags %v (only NONE: the optional operators are not implemented)", m["flags"])
		}
		p, err := str(m["value"], "regexp.value")
		if err != nil {
			return nil, err
		}
		re, err := luceneRegexp(p)
		if err != nil {
			return nil, err
		}
		f, err := c.keyword(name, "regexp")
		if err != nil {
			return nil, err
		}
		return anyTerm(f, re.MatchString), nil
	}
	return nil, unsupported("the %q query", typ)
}

func (c *searchCtx) compileBool(body any) (matcher, error) {
	m, err := object(body, "bool")
	if err != nil {
		return nil, err
	}
	if err := onlyKeys(m, "bool", "filter", "must_not", "should", "minimum_should_match"); err != nil {
		return nil, err
	}
	list := func(k string) ([]matcher, error) {
		v, ok := m[k]
		if !ok {
			return nil, nil
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, unsupported("bool.%s as %T (want an array)", k, v)
		}
		out := make([]matcher, 0, len(arr))
		for _, q := range arr {
			mq, err := c.compile(q)
			if err != nil {
				return nil, err
			}
			out = append(out, mq)
		}
		return out, nil
	}
	filter, err := list("filter")
	if err != nil {
		return nil, err
	}
	mustNot, err := list("must_not")
	if err != nil {
		return nil, err
	}
	should, err := list("should")
	if err != nil {
		return nil, err
	}
	// Elasticsearch's default: with a filter (or must) clause, should
	// clauses are optional; without, one must match.
	minShould := int64(0)
	if len(should) > 0 && len(filter) == 0 {
		minShould = 1
	}
	if v, ok := m["minimum_should_match"]; ok {
		if minShould, err = integer(v, "bool.minimum_should_match"); err != nil {
			return nil, err
		}
	}
	return func(d *doc) bool {
		for _, f := range filter {
			if !f(d) {
				return false
			}
		}
		for _, f := range mustNot {
			if f(d) {
				return false
			}
		}
		n := int64(0)
		for _, f := range should {
			if f(d) {
				n++
			}
		}
		return n >= minShould
	}, nil
}

func (c *searchCtx) compileRange(body any) (matcher, error) {
	name, spec, err := single(body, "range")
	if err != nil {
		return nil, err
	}
	m, err := object(spec, "range."+name)
	if err != nil {
		return nil, err
	}
	if err := onlyKeys(m, "range."+name, "gt", "gte", "lt", "lte", "format"); err != nil {
		return nil, err
	}
	if f := c.s.lookup(name, c.indices); f != nil && (f.typ == "long" || f.typ == "double") {
		return numericRange(f, m)
	}
	if m["format"] != nanosFormat {
		return nil, unsupported("range format %v (only %s)", m["format"], nanosFormat)
	}
	f, err := c.date(name, "range")
	if err != nil {
		return nil, err
	}
	type bound struct {
		op string
		ns int64
	}
	var bounds []bound
	for _, op := range []string{"gt", "gte", "lt", "lte"} {
		v, ok := m[op]
		if !ok {
			continue
		}
		s, err := str(v, "range."+op)
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, unsupported("range.%s %q (only RFC 3339 date-times)", op, s)
		}
		bounds = append(bounds, bound{op, t.UnixNano()})
	}
	return func(d *doc) bool {
		ns, ok := d.dateNanos(f)
		if !ok {
			return false
		}
		for _, b := range bounds {
			switch {
			case b.op == "gt" && !(ns > b.ns), b.op == "gte" && !(ns >= b.ns),
				b.op == "lt" && !(ns < b.ns), b.op == "lte" && !(ns <= b.ns):
				return false
			}
		}
		return true
	}, nil
}

// numericRange is a range on a long or double field with number bounds.
func numericRange(f *field, m map[string]any) (matcher, error) {
	if _, ok := m["format"]; ok {
		return nil, unsupported("range.%s with a format on a %s field", f.name, f.typ)
	}
	bounds := map[string]float64{}
	for _, op := range []string{"gt", "gte", "lt", "lte"} {
		v, ok := m[op]
		if !ok {
			continue
		}
		n, ok := v.(json.Number)
		if !ok {
			return nil, unsupported("range.%s.%s as %T (only numbers)", f.name, op, v)
		}
		x, err := n.Float64()
		if err != nil {
			return nil, err
		}
		bounds[op] = x
	}
	return func(d *doc) bool {
		v, ok := d.number(f.source)
		if !ok {
			return false
		}
		for op, b := range bounds {
			switch {
			case op == "gt" && !(v > b), op == "gte" && !(v >= b), op == "lt" && !(v < b), op == "lte" && !(v <= b):
				return false
			}
		}
		return true
	}, nil
}

// wildcardRegexp reads a Lucene wildcard pattern: * any sequence (newlines
// included), ? one character, \ takes the next character literally;
// case_insensitive compares case-insensitively.
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
			if i+1 == len(rs) {
				return nil, badRequest("illegal_argument_exception", "wildcard pattern %q ends with an escape", p)
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// search answers one _search over the given indices like Elasticsearch 8.x.
func (s *Server) search(indices []string, raw []byte) ([]byte, error) {
	c := &searchCtx{s: s, indices: indices}
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	body, err := object(v, "the search body")
	if err != nil {
		return nil, err
	}
	if err := onlyKeys(body, "search", "query", "size", "track_total_hits", "sort", "search_after", "_source", "aggs"); err != nil {
		return nil, err
	}
	match := func(*doc) bool { return true }
	if q, ok := body["query"]; ok {
		if match, err = c.compile(q); err != nil {
			return nil, err
		}
	}
	size := int64(10)
	if v, ok := body["size"]; ok {
		if size, err = integer(v, "size"); err != nil {
			return nil, err
		}
		if size < 0 {
			return nil, badRequest("illegal_argument_exception", "[size] parameter cannot be negative, found [%d]", size)
		}
		if size > maxResultWindow {
			return nil, badRequest("illegal_argument_exception", "Result window is too large, from + size must be less than or equal to: [%d] but was [%d].", maxResultWindow, size)
		}
	}
	hitsSpec, err := c.compileHits(body)
	if err != nil {
		return nil, err
	}
	var aggs []*aggSpec
	if v, ok := body["aggs"]; ok {
		if aggs, err = c.compileAggs(v); err != nil {
			return nil, err
		}
	}
	var matched []*doc
	for _, idx := range indices {
		for _, d := range s.indices[idx] {
			if match(d) {
				matched = append(matched, d)
			}
		}
	}
	hits := map[string]any{"max_score": nil}
	switch v := body["track_total_hits"]; v {
	case nil:
		// The default counts exactly up to 10,000, then says "at least".
		if len(matched) > maxResultWindow {
			hits["total"] = map[string]any{"value": maxResultWindow, "relation": "gte"}
		} else {
			hits["total"] = map[string]any{"value": len(matched), "relation": "eq"}
		}
	case true:
		hits["total"] = map[string]any{"value": len(matched), "relation": "eq"}
	case false:
	default:
		return nil, unsupported("track_total_hits %v (only true or false)", v)
	}
	if hits["hits"], err = hitsSpec.run(matched, size); err != nil {
		return nil, err
	}
	resp := map[string]any{
		"took": 1, "timed_out": false,
		"_shards": map[string]any{"total": len(indices), "successful": len(indices), "skipped": 0, "failed": 0},
		"hits":    hits,
	}
	if aggs != nil {
		n := 0
		resp["aggregations"] = runAggs(aggs, matched, &n)
		if n > maxBuckets {
			return nil, &esError{status: http.StatusBadRequest, typ: "too_many_buckets_exception",
				reason:     fmt.Sprintf("Trying to create too many buckets. Must be less than or equal to: [%d] but this number of buckets was exceeded. This limit can be set by changing the [search.max_buckets] cluster level setting.", maxBuckets),
				maxBuckets: maxBuckets}
		}
	}
	return marshal(resp)
}

// sortKey is one level of a sort.
type sortKey struct {
	f      *field // nil: unmapped with unmapped_type keyword (always missing)
	date   bool
	desc   bool
	first  bool // missing _first
	asDate bool
}

type hitsSpec struct {
	keys     []sortKey
	after    []any
	includes map[string]bool
}

func (c *searchCtx) compileHits(body map[string]any) (*hitsSpec, error) {
	h := &hitsSpec{}
	if v, ok := body["sort"]; ok {
		list, ok := v.([]any)
		if !ok {
			return nil, unsupported("sort as %T (want an array of {field: options})", v)
		}
		for _, item := range list {
			name, spec, err := single(item, "sort[]")
			if err != nil {
				return nil, err
			}
			opts, err := object(spec, "sort."+name)
			if err != nil {
				return nil, err
			}
			k := sortKey{}
			switch opts["order"] {
			case "asc":
			case "desc":
				k.desc = true
			default:
				return nil, unsupported("sort.%s.order %v (only asc or desc)", name, opts["order"])
			}
			f := c.s.lookup(name, c.indices)
			if f != nil && (f.typ == "date" || f.typ == "date_nanos") {
				if err := onlyKeys(opts, "sort."+name, "order", "format", "numeric_type"); err != nil {
					return nil, err
				}
				if opts["format"] != nanosFormat {
					return nil, unsupported("sort.%s.format %v (only %s)", name, opts["format"], nanosFormat)
				}
				if nt, ok := opts["numeric_type"]; ok && nt != "date_nanos" {
					return nil, unsupported("sort.%s.numeric_type %v (only date_nanos)", name, nt)
				}
				k.f, k.date = f, true
				h.keys = append(h.keys, k)
				continue
			}
			if err := onlyKeys(opts, "sort."+name, "order", "missing", "unmapped_type"); err != nil {
				return nil, err
			}
			switch opts["missing"] {
			case nil, "_last":
			case "_first":
				k.first = true
			default:
				return nil, unsupported("sort.%s.missing %v (only _first or _last)", name, opts["missing"])
			}
			switch {
			case f == nil && opts["unmapped_type"] == nil:
				return nil, badRequest("query_shard_exception", "No mapping found for [%s] in order to sort on", name)
			case f == nil && opts["unmapped_type"] != "keyword":
				return nil, unsupported("sort.%s.unmapped_type %v (only keyword)", name, opts["unmapped_type"])
			case f != nil && f.typ != "keyword":
				return nil, unsupported("sorting on the %s field %s", f.typ, name)
			}
			k.f = f
			h.keys = append(h.keys, k)
		}
	}
	if v, ok := body["search_after"]; ok {
		list, ok := v.([]any)
		if !ok || len(list) != len(h.keys) {
			return nil, badRequest("illegal_argument_exception", "search_after has %d value(s) but sort has %d", len(list), len(h.keys))
		}
		for i, x := range list {
			k := h.keys[i]
			switch {
			case k.date:
				s, err := str(x, "search_after[]")
				if err != nil {
					return nil, err
				}
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return nil, unsupported("search_after date %q (only the sort's own format)", s)
				}
				h.after = append(h.after, t.UnixNano())
			case x == nil:
				h.after = append(h.after, nil)
			default:
				s, err := str(x, "search_after[]")
				if err != nil {
					return nil, err
				}
				h.after = append(h.after, s)
			}
		}
	}
	if v, ok := body["_source"]; ok {
		m, err := object(v, "_source")
		if err != nil {
			return nil, err
		}
		if err := onlyKeys(m, "_source", "includes"); err != nil {
			return nil, err
		}
		list, ok := m["includes"].([]any)
		if !ok {
			return nil, unsupported("_source.includes as %T (want an array)", m["includes"])
		}
		h.includes = map[string]bool{}
		for _, x := range list {
			name, err := str(x, "_source.includes[]")
			if err != nil {
				return nil, err
			}
			if strings.ContainsAny(name, "*.") {
				return nil, unsupported("_source.includes %q (only top-level names)", name)
			}
			h.includes[name] = true
		}
	}
	return h, nil
}

// values are a document's sort values: nanoseconds for a date, the
// smallest (asc) or largest (desc) term for a keyword, nil when missing.
func (h *hitsSpec) values(d *doc) []any {
	out := make([]any, len(h.keys))
	for i, k := range h.keys {
		if k.date {
			if ns, ok := d.dateNanos(k.f); ok {
				out[i] = ns
			}
			continue
		}
		if k.f == nil {
			continue
		}
		terms := d.terms(k.f)
		if len(terms) == 0 {
			continue
		}
		best := terms[0]
		for _, t := range terms[1:] {
			if (t < best) != k.desc && t != best {
				best = t
			}
		}
		out[i] = best
	}
	return out
}

func (h *hitsSpec) compare(a, b []any) int {
	for i, k := range h.keys {
		x, y := a[i], b[i]
		switch {
		case x == nil && y == nil:
			continue
		case x == nil || y == nil:
			// missing _first/_last holds whatever the order.
			if (x == nil) == k.first {
				return -1
			}
			return 1
		}
		var c int
		if k.date {
			xn, yn := x.(int64), y.(int64)
			switch {
			case xn < yn:
				c = -1
			case xn > yn:
				c = 1
			}
		} else {
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

func (h *hitsSpec) run(docs []*doc, size int64) ([]any, error) {
	if size == 0 {
		return []any{}, nil
	}
	if len(h.keys) == 0 && h.after != nil {
		return nil, badRequest("illegal_argument_exception", "search_after requires a sort")
	}
	type entry struct {
		d    *doc
		vals []any
	}
	list := make([]entry, len(docs))
	for i, d := range docs {
		list[i] = entry{d, h.values(d)}
	}
	// Ties keep index order, as Elasticsearch's final tie-break (shard and
	// document order) does on one node.
	sort.SliceStable(list, func(i, j int) bool { return h.compare(list[i].vals, list[j].vals) < 0 })
	if h.after != nil {
		for len(list) > 0 && h.compare(list[0].vals, h.after) <= 0 {
			list = list[1:]
		}
	}
	if int64(len(list)) > size {
		list = list[:size]
	}
	out := make([]any, 0, len(list))
	for _, e := range list {
		hit := map[string]any{"_index": e.d.index, "_id": e.d.id, "_source": e.d.source(h.includes)}
		if len(h.keys) > 0 {
			hit["_score"] = nil
			sv := make([]any, len(e.vals))
			for i, v := range e.vals {
				if ns, ok := v.(int64); ok {
					sv[i] = time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
				} else {
					sv[i] = v
				}
			}
			hit["sort"] = sv
		} else {
			hit["_score"] = 0.0
		}
		out = append(out, hit)
	}
	return out, nil
}

// aggSpec is one compiled aggregation.
type aggSpec struct {
	name string
	// terms
	terms   *field
	size    int64
	missing *string
	include map[string]bool
	byKey   bool
	// date_histogram
	hist             *field
	interval, offset int64
	boundsLo         *int64
	boundsHi         *int64
	// sum and min (metric aggregations, no sub-aggregations)
	metric      string
	metricField *field
	script      bool
	sub         []*aggSpec
}

func (c *searchCtx) compileAggs(v any) ([]*aggSpec, error) {
	m, err := object(v, "aggs")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*aggSpec
	for _, name := range names {
		am, err := object(m[name], "aggs."+name)
		if err != nil {
			return nil, err
		}
		a := &aggSpec{name: name}
		typ := ""
		for k, x := range am {
			if k == "aggs" {
				if a.sub, err = c.compileAggs(x); err != nil {
					return nil, err
				}
				continue
			}
			if typ != "" {
				return nil, unsupported("aggregation %s with two types (%s, %s)", name, typ, k)
			}
			typ = k
			params, err := object(x, "aggs."+name+"."+k)
			if err != nil {
				return nil, err
			}
			switch k {
			case "terms":
				err = c.compileTerms(a, params)
			case "date_histogram":
				err = c.compileHistogram(a, params)
			case "sum", "min":
				err = c.compileMetric(a, k, params)
			default:
				err = unsupported("the %q aggregation", k)
			}
			if err != nil {
				return nil, err
			}
		}
		if typ == "" {
			return nil, unsupported("aggregation %s without a type", name)
		}
		if a.metric != "" && a.sub != nil {
			return nil, badRequest("aggregation_initialization_exception", "Aggregator [%s] of type [%s] cannot accept sub-aggregations", name, a.metric)
		}
		out = append(out, a)
	}
	return out, nil
}

func (c *searchCtx) compileTerms(a *aggSpec, p map[string]any) error {
	if err := onlyKeys(p, "terms", "field", "size", "missing", "include", "order"); err != nil {
		return err
	}
	name, err := str(p["field"], "terms.field")
	if err != nil {
		return err
	}
	if a.terms, err = c.keyword(name, "a terms aggregation"); err != nil {
		return err
	}
	a.size = 10
	if v, ok := p["size"]; ok {
		if a.size, err = integer(v, "terms.size"); err != nil {
			return err
		}
		if a.size < 1 {
			return badRequest("illegal_argument_exception", "[size] must be greater than 0. Found [%d] in [%s]", a.size, a.name)
		}
	}
	if v, ok := p["missing"]; ok {
		s, err := str(v, "terms.missing")
		if err != nil {
			return err
		}
		a.missing = &s
	}
	if v, ok := p["include"]; ok {
		list, ok := v.([]any)
		if !ok {
			return unsupported("terms.include as %T (only an array of exact values)", v)
		}
		a.include = map[string]bool{}
		for _, x := range list {
			s, err := str(x, "terms.include[]")
			if err != nil {
				return err
			}
			a.include[s] = true
		}
	}
	if v, ok := p["order"]; ok {
		o, err := object(v, "terms.order")
		if err != nil {
			return err
		}
		if len(o) != 1 || o["_key"] != "asc" {
			return unsupported("terms.order %v (only {\"_key\":\"asc\"} besides the default)", v)
		}
		a.byKey = true
	}
	return nil
}

func (c *searchCtx) compileHistogram(a *aggSpec, p map[string]any) error {
	if err := onlyKeys(p, "date_histogram", "field", "fixed_interval", "offset", "min_doc_count", "extended_bounds", "format"); err != nil {
		return err
	}
	name, err := str(p["field"], "date_histogram.field")
	if err != nil {
		return err
	}
	if a.hist, err = c.date(name, "a date_histogram"); err != nil {
		return err
	}
	if p["format"] != "epoch_millis" {
		return unsupported("date_histogram.format %v (only epoch_millis)", p["format"])
	}
	if v, ok := p["min_doc_count"]; !ok || fmt.Sprint(v) != "0" {
		return unsupported("date_histogram.min_doc_count %v (only 0)", v)
	}
	iv, err := str(p["fixed_interval"], "date_histogram.fixed_interval")
	if err != nil {
		return err
	}
	if a.interval, err = strconv.ParseInt(strings.TrimSuffix(iv, "ms"), 10, 64); err != nil || !strings.HasSuffix(iv, "ms") || a.interval <= 0 {
		return unsupported("date_histogram.fixed_interval %q (only <n>ms)", iv)
	}
	if v, ok := p["offset"]; ok {
		off, err := str(v, "date_histogram.offset")
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(off, "+"), "ms"), 10, 64)
		if err != nil || !strings.HasSuffix(off, "ms") {
			return unsupported("date_histogram.offset %q (only +<n>ms or -<n>ms)", off)
		}
		a.offset = n
	}
	if v, ok := p["extended_bounds"]; ok {
		eb, err := object(v, "date_histogram.extended_bounds")
		if err != nil {
			return err
		}
		if err := onlyKeys(eb, "extended_bounds", "min", "max"); err != nil {
			return err
		}
		lo, err := integer(eb["min"], "extended_bounds.min")
		if err != nil {
			return err
		}
		hi, err := integer(eb["max"], "extended_bounds.max")
		if err != nil {
			return err
		}
		a.boundsLo, a.boundsHi = &lo, &hi
	}
	return nil
}

// LengthRatioScript is the one script the double runs: the edit length
// ratio of a document (pkg/elastic's sum of edit_length_ratio). Any other
// script is refused, as the double cannot run Painless.
const LengthRatioScript = "doc['edit.edited_chars'].value / (double) doc['edit.original_chars'].value"

// compileMetric reads sum {field} | sum {script} | min {field}: numeric
// fields, and for min also date fields (whose value is epoch milliseconds,
// as Elasticsearch aggregates date_nanos at millisecond resolution).
func (c *searchCtx) compileMetric(a *aggSpec, typ string, p map[string]any) error {
	a.metric = typ
	if sc, ok := p["script"]; ok && typ == "sum" {
		if err := onlyKeys(p, typ, "script"); err != nil {
			return err
		}
		m, err := object(sc, "sum.script")
		if err != nil {
			return err
		}
		if err := onlyKeys(m, "sum.script", "lang", "source"); err != nil {
			return err
		}
		if m["lang"] != "painless" || m["source"] != LengthRatioScript {
			return unsupported("the script %v (only the edit length ratio)", m["source"])
		}
		a.script = true
		for _, n := range []string{"edit.edited_chars", "edit.original_chars"} {
			if f := c.s.lookup(n, c.indices); f == nil || f.typ != "long" {
				return unsupported("the edit length ratio script without %s mapped as long", n)
			}
		}
		return nil
	}
	if err := onlyKeys(p, typ, "field"); err != nil {
		return err
	}
	name, err := str(p["field"], typ+".field")
	if err != nil {
		return err
	}
	f := c.s.lookup(name, c.indices)
	if f == nil {
		return unsupported("%s on the unmapped field %s", typ, name)
	}
	switch {
	case f.typ == "long" || f.typ == "double":
	case typ == "min" && (f.typ == "date" || f.typ == "date_nanos"):
	default:
		return badRequest("illegal_argument_exception", "Field [%s] of type [%s] is not supported for aggregation [%s]", name, f.typ, typ)
	}
	a.metricField = f
	return nil
}

// runMetric: sum is 0 over no documents, min is null.
func (a *aggSpec) runMetric(docs []*doc) map[string]any {
	sum, min, have := 0.0, 0.0, false
	for _, d := range docs {
		var v float64
		var ok bool
		switch {
		case a.script:
			e, ok1 := d.number("edit.edited_chars")
			o, ok2 := d.number("edit.original_chars")
			v, ok = e/o, ok1 && ok2
		case a.metricField.typ == "date" || a.metricField.typ == "date_nanos":
			var ns int64
			ns, ok = d.dateNanos(a.metricField)
			v = float64(ns / 1e6)
		default:
			v, ok = d.number(a.metricField.source)
		}
		if !ok {
			continue
		}
		sum += v
		if !have || v < min {
			min = v
		}
		have = true
	}
	if a.metric == "sum" {
		return map[string]any{"value": sum}
	}
	if !have {
		return map[string]any{"value": nil}
	}
	return map[string]any{"value": min}
}

// runAggs counts the buckets it creates in n: search.max_buckets limits
// the buckets of the whole answer.
func runAggs(aggs []*aggSpec, docs []*doc, n *int) map[string]any {
	out := make(map[string]any, len(aggs))
	for _, a := range aggs {
		if *n > maxBuckets {
			break
		}
		if a.metric != "" {
			out[a.name] = a.runMetric(docs)
		} else if a.hist != nil {
			out[a.name] = a.runHistogram(docs, n)
		} else {
			out[a.name] = a.runTerms(docs, n)
		}
	}
	return out
}

// runTerms: one bucket per value (a multi-valued field puts a document in
// several), documents without the field under missing when given, include
// as an exact list, ordered by count desc then key asc (or by key when
// asked), cut to size; sum_other_doc_count counts what was cut.
func (a *aggSpec) runTerms(docs []*doc, n *int) map[string]any {
	groups := map[string][]*doc{}
	for _, d := range docs {
		var vals []string
		if a.terms != nil {
			vals = d.terms(a.terms)
		}
		if len(vals) == 0 && a.missing != nil {
			vals = []string{*a.missing}
		}
		seen := map[string]bool{}
		for _, v := range vals {
			if seen[v] || a.include != nil && !a.include[v] {
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
		if !a.byKey && len(groups[keys[i]]) != len(groups[keys[j]]) {
			return len(groups[keys[i]]) > len(groups[keys[j]])
		}
		return keys[i] < keys[j]
	})
	other := 0
	if int64(len(keys)) > a.size {
		for _, k := range keys[a.size:] {
			other += len(groups[k])
		}
		keys = keys[:a.size]
	}
	buckets := make([]any, 0, len(keys))
	*n += len(keys)
	for _, k := range keys {
		b := map[string]any{"key": k, "doc_count": len(groups[k])}
		for name, v := range runAggs(a.sub, groups[k], n) {
			b[name] = v
		}
		buckets = append(buckets, b)
	}
	return map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}
}

// runHistogram: a fixed interval on milliseconds (a date_nanos value is
// floored to its millisecond), key = floor((ms-offset)/interval)*interval +
// offset; with min_doc_count 0 every bucket from the first to the last key,
// widened to extended_bounds, is returned.
func (a *aggSpec) runHistogram(docs []*doc, n *int) map[string]any {
	floorDiv := func(x, y int64) int64 { return int64(math.Floor(float64(x) / float64(y))) }
	keyOf := func(ms int64) int64 { return floorDiv(ms-a.offset, a.interval)*a.interval + a.offset }
	byKey := map[int64][]*doc{}
	var lo, hi int64
	have := false
	for _, d := range docs {
		ns, ok := d.dateNanos(a.hist)
		if !ok {
			continue
		}
		k := keyOf(floorDiv(ns, 1e6))
		byKey[k] = append(byKey[k], d)
		if !have || k < lo {
			lo = k
		}
		if !have || k > hi {
			hi = k
		}
		have = true
	}
	if a.boundsLo != nil {
		blo, bhi := keyOf(*a.boundsLo), keyOf(*a.boundsHi)
		if !have || blo < lo {
			lo = blo
		}
		if !have || bhi > hi {
			hi = bhi
		}
		have = true
	}
	buckets := []any{}
	if have {
		*n += int((hi-lo)/a.interval) + 1
	}
	for k := lo; have && k <= hi && *n <= maxBuckets; k += a.interval {
		b := map[string]any{"key_as_string": strconv.FormatInt(k, 10), "key": k, "doc_count": len(byKey[k])}
		for name, v := range runAggs(a.sub, byKey[k], n) {
			b[name] = v
		}
		buckets = append(buckets, b)
	}
	return map[string]any{"buckets": buckets}
}
