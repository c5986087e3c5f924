package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// Breakdown counts events per group over Loki's instant window
// (to-range, to], so both sources count the same events.
func (c *Client) Breakdown(ctx context.Context, q read.Query) (read.Breakdown, read.Meta, error) {
	return c.breakdown(ctx, q, instantWindow(q.From, q.To))
}

func (c *Client) breakdown(ctx context.Context, q read.Query, w window) (read.Breakdown, read.Meta, error) {
	b, meta, _, err := c.breakdownRaw(ctx, q, w)
	return b, meta, err
}

// breakdownRaw also returns the answer, whose buckets the timeseries path
// counts before any filtering.
func (c *Client) breakdownRaw(ctx context.Context, q read.Query, w window) (read.Breakdown, read.Meta, *searchResponse, error) {
	out := read.Breakdown{Dims: q.GroupBy}
	body, err := c.breakdownBody(q, w, breakdownSizes(q, breakdownBuckets))
	if err != nil {
		return out, read.Meta{}, nil, err
	}
	resp, executed, err := c.search(ctx, body)
	meta := read.Meta{Executed: executed}
	if err != nil {
		return out, meta, nil, err
	}
	b, meta, err := breakdownResult(q, resp, meta)
	return b, meta, resp, err
}

// breakdownResult turns a breakdown answer into groups. Total is the number
// of matching events (hits.total), which for groupBy tag is what Loki's
// separate total query counts.
func breakdownResult(q read.Query, resp *searchResponse, meta read.Meta) (read.Breakdown, read.Meta, error) {
	out := read.Breakdown{Dims: q.GroupBy, Total: float64(resp.Hits.Total.Value)}
	meta.Stats = resp.stats()
	meta.Notices = append(meta.Notices, resp.notices()...)
	if len(q.GroupBy) == 0 {
		if resp.Hits.Total.Value > 0 {
			out.Groups = []read.Group{{Values: []string{}, Count: out.Total, Sum: resp.Aggregations.Sum.value()}}
		}
		return out, meta, nil
	}
	if resp.Aggregations.By == nil {
		if resp.Hits.Total.Value == 0 {
			return out, meta, nil
		}
		return out, meta, read.Downstream(fmt.Errorf("Elasticsearch's answer has no aggregation \"by\""))
	}
	truncated := walkTerms(q, resp.Aggregations.By, func(vals []string, b *termsBucket) {
		out.Groups = append(out.Groups, read.Group{Values: append([]string(nil), vals...), Count: float64(b.DocCount), Sum: b.Sum.value()})
	})
	if truncated {
		meta.Notices = append(meta.Notices, truncatedNotice(breakdownBuckets))
	}
	return out, meta, nil
}

func truncatedNotice(limit int) read.Notice {
	return read.Notice{Severity: read.NoticeWarning, Text: fmt.Sprintf(
		"Only the largest groups are shown (at most %d): narrow the query or group by fewer dimensions", limit)}
}

// walkTerms calls leaf for every innermost bucket with the values of its
// path; the slice is reused, leaf copies it to keep it. It reports whether
// any level left documents out (sum_other_doc_count > 0).
func walkTerms(q read.Query, agg *termsAgg, leaf func(vals []string, b *termsBucket)) bool {
	path := make([]string, len(q.GroupBy))
	truncated := false
	var walk func(a *termsAgg, level int)
	walk = func(a *termsAgg, level int) {
		if a.SumOtherDocCount > 0 {
			truncated = true
		}
		for i := range a.Buckets {
			b := &a.Buckets[i]
			key := string(b.Key)
			// Loki only ever reports well-formed tags (it looks for the
			// taxonomy and for custom tags matching the contract).
			if q.GroupBy[level] == "tag" && !feedback.ValidTag(key) {
				continue
			}
			path[level] = key
			if level == len(q.GroupBy)-1 {
				if b.DocCount > 0 {
					leaf(path, b)
				}
				continue
			}
			if b.By != nil {
				walk(b.By, level+1)
			}
		}
	}
	walk(agg, 0)
	return truncated
}

// Timeseries counts events per group and step. Points are on the grid of
// read.NewGrid for q.Step() and count what Loki's points count; see
// histOffsetMs.
func (c *Client) Timeseries(ctx context.Context, q read.Query) ([]read.Series, map[int64]float64, read.Meta, error) {
	step := q.Step()
	grid := read.NewGrid(q.From, q.To, step)
	var meta read.Meta
	var sizes []int
	perStep := 1
	if len(q.GroupBy) > 0 {
		// The buckets of a grouped histogram are steps × groups, and
		// search.max_buckets refuses the whole search past its limit. The
		// groups in range are counted first (one cheap aggregation), so the
		// terms sizes are exact and the step is raised only when needed.
		b, pm, resp, err := c.breakdownRaw(ctx, q, timeseriesWindow(grid))
		meta.Executed = pm.Executed
		if err != nil {
			return nil, nil, meta, err
		}
		meta.Notices = append(meta.Notices, pm.Notices...)
		if len(b.Groups) == 0 {
			return nil, map[int64]float64{}, meta, nil
		}
		sizes, perStep = levelCounts(resp.Aggregations.By, len(q.GroupBy))
	}
	newStep, newGrid, err := clampStep(q, step, perStep, c.maxBuckets)
	if err != nil {
		return nil, nil, meta, err
	}
	if newStep != step {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeInfo, Text: fmt.Sprintf(
			"The interval was raised from %s to %s so that %d terms buckets per step stay within Elasticsearch's search.max_buckets (%d)",
			step, newStep, perStep-1, c.maxBuckets)})
		grid = newGrid
		// The handler builds the frames on the grid the buckets are on.
		meta.Step = newStep
	}
	body, err := c.timeseriesBody(q, grid, sizes)
	if err != nil {
		return nil, nil, meta, err
	}
	resp, executed, err := c.search(ctx, body)
	meta.Executed = joinExecuted(meta.Executed, executed)
	if err != nil {
		return nil, nil, meta, err
	}
	series, totals, m, err := timeseriesResult(q, grid.Step, resp, meta)
	return series, totals, m, err
}

func joinExecuted(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n\n" + b
}

// levelCounts returns, per dimension, the number of distinct values (the
// terms size that lists them all in any one step) and the most buckets one
// step can hold: the histogram bucket plus one per bucket of the nested
// terms. It counts every bucket Elasticsearch returned, including values
// the results leave out (malformed tags), since they take a place in the
// terms size too.
func levelCounts(agg *termsAgg, dims int) ([]int, int) {
	vals := make([]map[string]bool, dims)
	for l := range vals {
		vals[l] = map[string]bool{}
	}
	perStep := 1
	var walk func(a *termsAgg, level int)
	walk = func(a *termsAgg, level int) {
		for i := range a.Buckets {
			b := &a.Buckets[i]
			vals[level][string(b.Key)] = true
			perStep++
			if b.By != nil && level+1 < dims {
				walk(b.By, level+1)
			}
		}
	}
	if agg != nil {
		walk(agg, 0)
	}
	sizes := make([]int, dims)
	for l := range sizes {
		sizes[l] = max(len(vals[l]), 1)
	}
	return sizes, perStep
}

// clampStep raises the step (to a multiple of the asked one, so points stay
// on multiples of it) until steps × perStep buckets fit maxBuckets.
func clampStep(q read.Query, step time.Duration, perStep, maxBuckets int) (time.Duration, read.Grid, error) {
	grid := read.NewGrid(q.From, q.To, step)
	if grid.N*perStep <= maxBuckets {
		return step, grid, nil
	}
	k := int64((grid.N*perStep + maxBuckets - 1) / maxBuckets)
	for {
		s := time.Duration(k) * step
		g := read.NewGrid(q.From, q.To, s)
		if g.N*perStep <= maxBuckets {
			return s, g, nil
		}
		if s > 2*q.Range() {
			return 0, read.Grid{}, read.Downstream(fmt.Errorf(
				"%d terms buckets per step do not fit Elasticsearch's search.max_buckets (%d) even with one step: group by fewer dimensions or narrow the query", perStep-1, maxBuckets))
		}
		k++
	}
}

// timeseriesResult reads the histogram: each bucket's doc_count is the
// step's total (the share denominator), the nested terms its groups.
func timeseriesResult(q read.Query, step time.Duration, resp *searchResponse, meta read.Meta) ([]read.Series, map[int64]float64, read.Meta, error) {
	meta.Stats = resp.stats()
	meta.Notices = append(meta.Notices, resp.notices()...)
	totals := map[int64]float64{}
	if resp.Hits.Total.Value == 0 {
		// Loki answers a range query without matching events with no
		// series at all, not with a series of zeros.
		return nil, totals, meta, nil
	}
	if resp.Aggregations.Time == nil {
		return nil, nil, meta, read.Downstream(fmt.Errorf("Elasticsearch's answer has no aggregation \"time\""))
	}
	stepMs := step.Milliseconds()
	buckets := resp.Aggregations.Time.Buckets
	if len(q.GroupBy) == 0 {
		s := read.Series{Values: []string{}, Points: make(map[int64]float64, len(buckets))}
		if q.Measure != "" {
			s.Sums = make(map[int64]float64, len(buckets))
		}
		for _, b := range buckets {
			t := pointOf(b.Key, stepMs)
			totals[t] = float64(b.DocCount)
			if b.DocCount > 0 {
				s.Points[t] = float64(b.DocCount)
				if s.Sums != nil {
					s.Sums[t] = b.Sum.value()
				}
			}
		}
		return []read.Series{s}, totals, meta, nil
	}
	index := map[string]int{}
	var series []read.Series
	truncated := false
	for i := range buckets {
		b := &buckets[i]
		t := pointOf(b.Key, stepMs)
		totals[t] = float64(b.DocCount)
		if b.By == nil {
			continue
		}
		if walkTerms(q, b.By, func(vals []string, leaf *termsBucket) {
			k := vals[0]
			if len(vals) > 1 {
				k = strings.Join(vals, "\x00")
			}
			j, ok := index[k]
			if !ok {
				j = len(series)
				index[k] = j
				series = append(series, read.Series{Values: append([]string(nil), vals...), Points: make(map[int64]float64, len(buckets))})
				if q.Measure != "" {
					series[j].Sums = make(map[int64]float64, len(buckets))
				}
			}
			series[j].Points[t] += float64(leaf.DocCount)
			if series[j].Sums != nil {
				series[j].Sums[t] += leaf.Sum.value()
			}
		}) {
			truncated = true
		}
	}
	if truncated {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeWarning, Text: "Some groups of some steps were left out by Elasticsearch's terms size; narrow the query"})
	}
	return series, totals, meta, nil
}

// Feedback lists the newest events of [from, to), sorted as
// read.SortEntries sorts, paging with search_after when the limit is
// larger than a page.
func (c *Client) Feedback(ctx context.Context, q read.Query) ([]read.Entry, read.Meta, error) {
	entries, meta, bad, err := c.list(ctx, q.Limit, func(size int, after []json.RawMessage) (M, error) {
		return c.feedbackBody(q, size, after)
	})
	if err != nil {
		return nil, meta, err
	}
	read.SortEntries(entries)
	c.skippedNotice(&meta, bad)
	if len(entries)+bad >= q.Limit {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeInfo,
			Text: fmt.Sprintf("Showing the newest %d events; there may be more in this time range. Raise the limit (at most %d) or narrow the query.", q.Limit, read.MaxLimit)})
	}
	return entries, meta, nil
}

// Trace returns every event carrying the query's correlation id in Loki's
// log window [from, to), whatever its kind, oldest first, as the Loki
// source does: the drill-down must show the same rows from either source.
// Like Loki's trace it says nothing when the limit cuts the list, so that
// both sources answer the same frames.
func (c *Client) Trace(ctx context.Context, q read.Query) ([]read.Entry, read.Meta, error) {
	entries, meta, bad, err := c.list(ctx, q.Limit, func(size int, after []json.RawMessage) (M, error) {
		return c.traceBody(q, size, after), nil
	})
	if err != nil {
		return nil, meta, err
	}
	// The search already returns this order; sorting again with the Loki
	// source's exact steps keeps the two identical even where
	// Elasticsearch's keyword order and Go's string order could part.
	read.SortEntries(entries)
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	c.skippedNotice(&meta, bad)
	return entries, meta, nil
}

// list pages through one sorted search with search_after until limit hits
// are read or the matches run out. It returns the decoded events and how
// many hits were not events.
func (c *Client) list(ctx context.Context, limit int, body func(size int, after []json.RawMessage) (M, error)) ([]read.Entry, read.Meta, int, error) {
	var meta read.Meta
	var after []json.RawMessage
	entries := make([]read.Entry, 0, min(limit, c.pageSize))
	bad := 0
	for len(entries)+bad < limit {
		size := min(c.pageSize, limit-len(entries)-bad)
		b, err := body(size, after)
		if err != nil {
			return nil, meta, 0, err
		}
		resp, executed, err := c.search(ctx, b)
		meta.Executed = joinExecuted(meta.Executed, executed)
		if err != nil {
			return nil, meta, 0, err
		}
		meta.Stats = resp.stats()
		meta.Notices = append(meta.Notices, resp.notices()...)
		page, skipped := hitsToEntries(resp.Hits.Hits)
		entries = append(entries, page...)
		bad += skipped
		if len(resp.Hits.Hits) < size {
			break
		}
		after = resp.Hits.Hits[len(resp.Hits.Hits)-1].Sort
		if len(after) == 0 {
			return nil, meta, 0, read.Downstream(fmt.Errorf("Elasticsearch returned hits without sort values; cannot page"))
		}
	}
	return entries, meta, bad, nil
}

func (c *Client) skippedNotice(meta *read.Meta, bad int) {
	if bad > 0 {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeWarning,
			Text: fmt.Sprintf("%d document(s) in %s are not feedback events and were skipped", bad, c.index)})
	}
}

// hitsToEntries decodes each _source as an event. A document that is not
// one is skipped and counted, as Loki's path does with foreign lines.
func hitsToEntries(hits []hit) ([]read.Entry, int) {
	out := make([]read.Entry, len(hits))
	n := 0
	for i := range hits {
		// Decoding in place saves copying each event; calling UnmarshalJSON
		// directly skips encoding/json's validation pass, the event parser
		// checks the bytes itself.
		en := &out[n]
		if err := en.Event.UnmarshalJSON(hits[i].Source); err != nil || en.Event.Kind == "" {
			*en = read.Entry{}
			continue
		}
		t, ok := sortTime(hits[i].Sort)
		if !ok {
			t = en.Event.At()
		}
		en.Time = t
		n++
	}
	return out[:n], len(hits) - n
}

// sortTime reads the time field's sort value: an RFC 3339 string with the
// format asked in the sort, or nanoseconds from a cluster that ignored it.
func sortTime(sort []json.RawMessage) (time.Time, bool) {
	if len(sort) == 0 {
		return time.Time{}, false
	}
	v := sort[0]
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, false
		}
		return t.UTC(), true
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n).UTC(), true
}
