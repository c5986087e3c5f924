package elastic

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// M is one JSON object of the query DSL. The DSL is only ever built as Go
// values and encoded by encoding/json, so a value from a panel is always a
// JSON string and can never change the structure of the query.
type M = map[string]any

// nanosFormat reads and writes RFC 3339 with nanoseconds, for date and
// date_nanos fields alike, so range bounds keep Loki's nanosecond precision.
const nanosFormat = "strict_date_optional_time_nanos"

func nanos(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// window is the time range of one search: each end inclusive or not, to
// reproduce the window Loki uses for the same query type.
type window struct {
	from, to     time.Time
	fromOp, toOp string // gt|gte, lt|lte
}

// instantWindow is Loki's instant-query window (to-range, to].
func instantWindow(from, to time.Time) window { return window{from, to, "gt", "lte"} }

// logWindow is Loki's log-query window [from, to).
func logWindow(from, to time.Time) window { return window{from, to, "gte", "lt"} }

func (c *Client) rangeClause(w window) M {
	return M{"range": M{c.timeField: M{w.fromOp: nanos(w.from), w.toOp: nanos(w.to), "format": nanosFormat}}}
}

func term(field, value string) M { return M{"term": M{field: value}} }

// absent matches documents without the field. Loki's `| json` gives such an
// event the empty value, so wherever Loki compares with "" Elasticsearch
// must also accept the document that lacks the field.
func absent(field string) M {
	return M{"bool": M{"must_not": []any{M{"exists": M{"field": field}}}}}
}

func anyOf(clauses ...any) M {
	return M{"bool": M{"should": clauses, "minimum_should_match": 1}}
}

// tagsField is where the tags array is indexed (keyword, multi-valued).
var tagsField = func() string { f, _ := storage.LookupField("tag", true); return f.JSONPath }()

// filter is the bool query every search of q shares: the window, kind,
// sentiment, "carries any of q.Tags", the filters and the comment search.
func (c *Client) filter(q read.Query, w window) (M, error) {
	filter := []any{c.rangeClause(w), term("kind", string(q.Kind))}
	var mustNot []any
	if q.Sentiment != "" {
		filter = append(filter, term("sentiment", string(q.Sentiment)))
	}
	if len(q.Tags) > 0 {
		// terms is ANY: a document matches when one of its tags is listed.
		filter = append(filter, M{"terms": M{tagsField: append([]string(nil), q.Tags...)}})
	}
	for i, f := range q.Filters {
		clause, negate, err := filterClause(f)
		if err != nil {
			return nil, &read.FieldError{Field: fmt.Sprintf("filters[%d].value", i), Message: err.Error()}
		}
		if negate {
			mustNot = append(mustNot, clause)
		} else {
			filter = append(filter, clause)
		}
	}
	switch q.Measure {
	case read.MeasureEditSimilarity:
		filter = append(filter, M{"exists": M{"field": "edit.similarity"}})
	case read.MeasureEditLengthRatio:
		// As in Loki: both counts present and a non-zero original
		// (original_chars is never negative, feedback.Validate).
		filter = append(filter, M{"exists": M{"field": "edit.edited_chars"}},
			M{"range": M{"edit.original_chars": M{"gt": 0}}})
	}
	if q.Search != "" {
		// Loki matches (?is).*x.*: a case-insensitive substring anywhere in
		// the comment, across newlines. A wildcard on the untokenised
		// keyword sub-field is exactly that (its * spans newlines, and
		// comments fit its ignore_above of 4096). match_phrase on the text
		// field is not: it matches whole tokens, so "fund" would miss
		// "refund" and punctuation would be ignored.
		filter = append(filter, M{"wildcard": M{"comment.keyword": M{
			"value": "*" + wildcardEscape(q.Search) + "*", "case_insensitive": true,
		}}})
	}
	b := M{"filter": filter}
	if len(mustNot) > 0 {
		b["must_not"] = mustNot
	}
	return M{"bool": b}, nil
}

// filterClause renders the positive form of one filter; negate says it goes
// under must_not (!=, !~), which, as in Loki, also keeps documents that lack
// the field.
func filterClause(f read.Filter) (M, bool, error) {
	fd, err := storage.LookupField(f.Key, true)
	if err != nil {
		return nil, false, err
	}
	path := fd.JSONPath
	tags := fd.Name == "tag"
	negate := f.Operator == read.OpNotEqual || f.Operator == read.OpNotRegex
	switch f.Operator {
	case read.OpEqual, read.OpNotEqual:
		if f.Value == "" && !tags {
			return anyOf(term(path, ""), absent(path)), negate, nil
		}
		// For tags, "tag = x" means "carries x", which is what a term
		// query on a multi-valued field does; an event without tags has no
		// empty tag, as in Loki.
		return term(path, f.Value), negate, nil
	case read.OpRegex, read.OpNotRegex:
		pattern, err := luceneRegexp(f.Value)
		if err != nil {
			return nil, false, err
		}
		// flags NONE keeps Lucene's optional operators (@ & ~ < > #) off;
		// every such character is escaped anyway.
		rx := M{"regexp": M{path: M{"value": pattern, "flags": "NONE"}}}
		if !tags && matchesEmpty(f.Value) {
			return anyOf(rx, absent(path)), negate, nil
		}
		return rx, negate, nil
	}
	return nil, false, fmt.Errorf("unknown operator %q", f.Operator)
}

// lengthRatioScript is edit_length_ratio per document. It needs a script:
// a mean of ratios is not a ratio of sums. Both fields are longs, hence the
// cast (integer division would truncate).
const lengthRatioScript = "doc['edit.edited_chars'].value / (double) doc['edit.original_chars'].value"

// measureAggs is the sub-aggregation "sum" adding up the query's measure
// in each bucket, or nil without one.
func measureAggs(m read.Measure) M {
	switch m {
	case read.MeasureEditSimilarity:
		return M{"sum": M{"sum": M{"field": "edit.similarity"}}}
	case read.MeasureEditLengthRatio:
		return M{"sum": M{"sum": M{"script": M{"lang": "painless", "source": lengthRatioScript}}}}
	}
	return nil
}

// termsChain nests one terms aggregation per groupBy dimension, each named
// "by". Dimensions other than tag get missing "" because Loki counts an
// event without the parsed field under the empty value; tag gets no missing
// bucket because Loki counts an untagged event under no tag, and with query
// tags it lists only those tags, as Loki's per-tag legs do.
func termsChain(q read.Query, sizes []int) M {
	var agg M
	for i := len(q.GroupBy) - 1; i >= 0; i-- {
		fd, _ := storage.LookupField(q.GroupBy[i], false) // validated by query.Parse
		t := M{"field": fd.JSONPath, "size": sizes[i]}
		if fd.Name != "tag" {
			t["missing"] = ""
		} else if len(q.Tags) > 0 {
			t["include"] = append([]string(nil), q.Tags...)
		}
		level := M{"terms": t}
		if agg != nil {
			level["aggs"] = M{"by": agg}
		} else if sum := measureAggs(q.Measure); sum != nil {
			level["aggs"] = sum
		}
		agg = level
	}
	return agg
}

// breakdownSizes spreads a bucket budget over the dimensions so that the
// product of the sizes (the most leaf groups possible) stays within it. A
// tag level restricted to the query's tags needs exactly that many.
func breakdownSizes(q read.Query, budget int) []int {
	sizes := make([]int, len(q.GroupBy))
	free := 0
	for i, g := range q.GroupBy {
		if g == "tag" && len(q.Tags) > 0 {
			sizes[i] = len(q.Tags)
			budget /= len(q.Tags)
		} else {
			free++
		}
	}
	if free == 0 {
		return sizes
	}
	s := nthRoot(max(budget, 1), free)
	for i := range sizes {
		if sizes[i] == 0 {
			sizes[i] = s
		}
	}
	return sizes
}

// nthRoot is the largest s with s^n <= x (at least 1).
func nthRoot(x, n int) int {
	s := int(math.Pow(float64(x), 1/float64(n)))
	pow := func(b int) float64 { return math.Pow(float64(b), float64(n)) }
	for pow(s+1) <= float64(x) {
		s++
	}
	for s > 1 && pow(s) > float64(x) {
		s--
	}
	return max(s, 1)
}

// breakdownBody counts events per group over Loki's instant window.
func (c *Client) breakdownBody(q read.Query, w window, sizes []int) (M, error) {
	f, err := c.filter(q, w)
	if err != nil {
		return nil, err
	}
	body := M{"size": 0, "track_total_hits": true, "query": f}
	if len(q.GroupBy) > 0 {
		body["aggs"] = M{"by": termsChain(q, sizes)}
	} else if sum := measureAggs(q.Measure); sum != nil {
		body["aggs"] = sum
	}
	return body, nil
}

// histogram keys: Loki's point at t counts (t-step, t], a date_histogram
// bucket keyed k counts [k, k+step). Shifting the buckets by +1ms makes a
// bucket [t-step+1ms, t+1ms), which at the millisecond resolution of
// histograms is Loki's (t-step, t]; its key k is then reported at
// k-1ms+step. With offset 0 an event exactly on a step boundary (common
// with second-precision clients, and the corpus' 12:00:00 event) would land
// one step later than in Loki.
const histOffsetMs = 1

// pointOf maps a histogram key to the timestamp of the Loki point counting
// the same events.
func pointOf(key, stepMs int64) int64 { return key - histOffsetMs + stepMs }

// timeseriesWindow covers exactly the events counted by the grid's points.
func timeseriesWindow(g read.Grid) window {
	first := g.Start
	last := g.Start.Add(time.Duration(g.N-1) * g.Step)
	return window{first.Add(-g.Step), last, "gt", "lte"}
}

func (c *Client) timeseriesBody(q read.Query, g read.Grid, sizes []int) (M, error) {
	f, err := c.filter(q, timeseriesWindow(g))
	if err != nil {
		return nil, err
	}
	stepMs := g.Step.Milliseconds()
	firstKey := g.Start.UnixMilli() - stepMs + histOffsetMs
	lastKey := firstKey + int64(g.N-1)*stepMs
	hist := M{"date_histogram": M{
		"field":          c.timeField,
		"fixed_interval": fmt.Sprintf("%dms", stepMs),
		"offset":         fmt.Sprintf("+%dms", histOffsetMs),
		"min_doc_count":  0,
		// Empty steps are filled, so every grid point has a bucket and the
		// share denominator is known for each.
		"extended_bounds": M{"min": firstKey, "max": lastKey},
		"format":          "epoch_millis",
	}}
	if len(q.GroupBy) > 0 {
		hist["aggs"] = M{"by": termsChain(q, sizes)}
	} else if sum := measureAggs(q.Measure); sum != nil {
		hist["aggs"] = sum
	}
	return M{"size": 0, "track_total_hits": true, "query": f, "aggs": M{"time": hist}}, nil
}

// eventFields are the top-level keys of an event. _source is limited to
// them because feedback.Event decodes strictly: a field added by an ingest
// pipeline or a data stream (@timestamp) would otherwise make every
// document unreadable.
var eventFields = func() []string {
	t := reflect.TypeOf(feedback.Event{})
	out := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}()

// feedbackBody lists the newest events of Loki's log window [from, to).
// The sort is read.SortEntries': newest first, then by kind, feedback_id
// and correlation_id ascending (kind is fixed by the query), with a missing
// id first as the empty string sorts first in Go.
func (c *Client) feedbackBody(q read.Query, size int, after []json.RawMessage) (M, error) {
	f, err := c.filter(q, logWindow(q.From, q.To))
	if err != nil {
		return nil, err
	}
	body := M{
		"size":             size,
		"track_total_hits": false,
		"query":            f,
		"sort": []any{
			M{c.timeField: M{"order": "desc", "format": nanosFormat, "numeric_type": "date_nanos"}},
			M{"feedback_id": M{"order": "asc", "missing": "_first", "unmapped_type": "keyword"}},
			M{"correlation_id": M{"order": "asc", "missing": "_first", "unmapped_type": "keyword"}},
		},
		"_source": M{"includes": eventFields},
	}
	if after != nil {
		body["search_after"] = after
	}
	return body, nil
}

// traceBody lists the events of one correlation id in Loki's log window
// [from, to), of every kind and whatever the query's filters, as Loki's
// trace does. The sort is the Loki trace's order, SortEntries reversed:
// oldest first, then kind and feedback_id descending with a missing id last
// (it sorts first ascending). The hits of a trace all share the
// correlation id, so the feedback list's last tie-breaker is left out;
// (time, kind, feedback_id) still tells every event apart, as search_after
// needs: an interaction (no feedback_id) is unique per correlation id.
func (c *Client) traceBody(q read.Query, size int, after []json.RawMessage) M {
	body := M{
		"size":             size,
		"track_total_hits": false,
		"query": M{"bool": M{"filter": []any{
			c.rangeClause(logWindow(q.From, q.To)),
			term("correlation_id", q.CorrelationID),
		}}},
		"sort": []any{
			M{c.timeField: M{"order": "asc", "format": nanosFormat, "numeric_type": "date_nanos"}},
			M{"kind": M{"order": "desc", "missing": "_last", "unmapped_type": "keyword"}},
			M{"feedback_id": M{"order": "desc", "missing": "_last", "unmapped_type": "keyword"}},
		},
		"_source": M{"includes": eventFields},
	}
	if after != nil {
		body["search_after"] = after
	}
	return body
}

// valuesBody lists the distinct values of one keyword field in [from, to].
func (c *Client) valuesBody(field string, from, to time.Time, filters ...any) M {
	f := append([]any{c.rangeClause(window{from, to, "gte", "lte"})}, filters...)
	return M{
		"size": 0, "track_total_hits": false,
		"query": M{"bool": M{"filter": f}},
		"aggs":  M{"by": M{"terms": M{"field": field, "size": resourceSize, "order": M{"_key": "asc"}}}},
	}
}
