package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	fastjson "github.com/goccy/go-json"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Breakdown counts events per group over the whole range with one instant
// query at the range end. Loki's instant window is (end-range, end].
// Every query that ran is in Meta.Executed, in order: the tag discovery,
// the counts, the measure's sums and the total.
func (c *Client) Breakdown(ctx context.Context, q read.Query) (read.Breakdown, read.Meta, error) {
	b := builder{sel: c.sel, q: q}
	r := q.Range()
	var meta read.Meta
	tags, err := c.groupTags(ctx, b, r, &meta)
	out := read.Breakdown{Dims: q.GroupBy}
	if err != nil {
		return out, meta, err
	}
	if len(tags) == 0 && q.HasGroup("tag") {
		meta.Executed = joinExecuted(meta.Executed, "(no tags in range)")
		return out, meta, nil
	}
	series, err := c.instantSeries(ctx, b.countExpr(r, tags), q.To, &meta, true)
	if err != nil {
		return out, meta, err
	}
	index := make(map[string]int, len(series))
	for _, s := range series {
		vals := groupValues(q, s.Labels)
		index[groupKey(vals)] = len(out.Groups)
		out.Groups = append(out.Groups, read.Group{Values: vals, Count: s.Samples[0].V})
		out.Total += s.Samples[0].V
	}
	if q.Measure != "" {
		sums, err := c.instantSeries(ctx, b.sumExpr(r, tags), q.To, &meta)
		if err != nil {
			return out, meta, err
		}
		for _, s := range sums {
			if i, ok := index[groupKey(groupValues(q, s.Labels))]; ok {
				out.Groups[i].Sum += s.Samples[0].V
			}
		}
	}
	if q.Total && q.HasGroup("tag") {
		ts, err := c.instantSeries(ctx, b.totalExpr(r), q.To, &meta)
		if err != nil {
			return out, meta, err
		}
		out.Total = 0
		for _, s := range ts {
			out.Total += s.Samples[0].V
		}
	}
	return out, meta, nil
}

// instantSeries runs one instant metric query and records it in meta; the
// statistics shown are the main query's (withStats), not a sum of unlike
// queries'.
func (c *Client) instantSeries(ctx context.Context, logql string, t time.Time, meta *read.Meta, withStats ...bool) ([]Series, error) {
	meta.Executed = joinExecuted(meta.Executed, logql)
	resp, err := c.instant(ctx, logql, t)
	if err != nil {
		return nil, err
	}
	if len(withStats) > 0 && withStats[0] {
		meta.Stats = resp.Stats()
	}
	return resp.Metric()
}

// rangeSeries runs one range metric query and records it in meta, as
// instantSeries does.
func (c *Client) rangeSeries(ctx context.Context, logql string, q read.Query, step time.Duration, meta *read.Meta, withStats ...bool) ([]Series, error) {
	meta.Executed = joinExecuted(meta.Executed, logql)
	resp, err := c.rangeMetric(ctx, logql, q.From, q.To, step)
	if err != nil {
		return nil, err
	}
	if len(withStats) > 0 && withStats[0] {
		meta.Stats = resp.Stats()
	}
	return resp.Metric()
}

func joinExecuted(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

func groupKey(vals []string) string { return strings.Join(vals, "\x00") }

// Timeseries counts events per group and step with one range query; the
// count window of each point is its step, so points neither overlap nor
// leave gaps.
func (c *Client) Timeseries(ctx context.Context, q read.Query) ([]read.Series, map[int64]float64, read.Meta, error) {
	b := builder{sel: c.sel, q: q}
	step := q.Step()
	var meta read.Meta
	tags, err := c.groupTags(ctx, b, q.Range(), &meta)
	if err != nil {
		return nil, nil, meta, err
	}
	if len(tags) == 0 && q.HasGroup("tag") {
		meta.Executed = joinExecuted(meta.Executed, "(no tags in range)")
		return nil, nil, meta, nil
	}
	ms, err := c.rangeSeries(ctx, b.countExpr(step, tags), q, step, &meta, true)
	if err != nil {
		return nil, nil, meta, err
	}
	series, totals := toSeries(q, ms)
	if q.Measure != "" {
		sums, err := c.rangeSeries(ctx, b.sumExpr(step, tags), q, step, &meta)
		if err != nil {
			return nil, nil, meta, err
		}
		addSums(q, series, sums)
	}
	if q.Total && q.HasGroup("tag") {
		ts, err := c.rangeSeries(ctx, b.totalExpr(step), q, step, &meta)
		if err != nil {
			return nil, nil, meta, err
		}
		totals = map[int64]float64{}
		for _, s := range ts {
			for _, p := range s.Samples {
				totals[p.T.UnixMilli()] += p.V
			}
		}
	}
	return series, totals, meta, nil
}

// addSums puts the measure's sums onto the series of the same groups.
func addSums(q read.Query, series []read.Series, sums []Series) {
	index := make(map[string]int, len(series))
	for i, s := range series {
		index[groupKey(s.Values)] = i
	}
	for _, s := range sums {
		i, ok := index[groupKey(groupValues(q, s.Labels))]
		if !ok {
			continue
		}
		if series[i].Sums == nil {
			series[i].Sums = make(map[int64]float64, len(s.Samples))
		}
		for _, p := range s.Samples {
			series[i].Sums[p.T.UnixMilli()] += p.V
		}
	}
}

// toSeries keys each series by its group values and sums the points per
// step (the share denominator when no event counts twice).
func toSeries(q read.Query, ms []Series) ([]read.Series, map[int64]float64) {
	series := make([]read.Series, len(ms))
	totals := map[int64]float64{}
	for i, s := range ms {
		series[i] = read.Series{Values: groupValues(q, s.Labels), Points: make(map[int64]float64, len(s.Samples))}
		for _, p := range s.Samples {
			series[i].Points[p.T.UnixMilli()] = p.V
			totals[p.T.UnixMilli()] += p.V
		}
	}
	return series, totals
}

// groupTags decides the per-tag legs: the query's tags when it names some
// (grouping by tag then means "these tags"), otherwise the taxonomy plus
// every custom tag seen in range.
func (c *Client) groupTags(ctx context.Context, b builder, r time.Duration, meta *read.Meta) ([]string, error) {
	if !b.q.HasGroup("tag") {
		return nil, nil
	}
	if len(b.q.Tags) > 0 {
		return b.q.Tags, nil
	}
	seen, err := c.discoverTags(ctx, b, r, meta)
	if err != nil {
		return nil, err
	}
	out := append([]string(nil), feedback.Taxonomy...)
	for _, t := range seen {
		if !feedback.InTaxonomy(t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// discoverTags returns the sorted distinct tags carried by events matching
// the builder's query in the range ending at its end.
func (c *Client) discoverTags(ctx context.Context, b builder, r time.Duration, meta *read.Meta) ([]string, error) {
	series, err := c.instantSeries(ctx, b.tagsDiscoveryExpr(r), b.q.To, meta)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, s := range series {
		var tags []string
		if json.Unmarshal([]byte(s.Labels["tags"]), &tags) != nil {
			continue // not an array: an event outside the contract
		}
		for _, t := range tags {
			if feedback.ValidTag(t) {
				set[t] = true
			}
		}
	}
	return sortedKeys(set), nil
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// groupValues reads the groupBy dimensions from a series' labels.
func groupValues(q read.Query, labels map[string]string) []string {
	vals := make([]string, len(q.GroupBy))
	for i, g := range q.GroupBy {
		if g == "tag" {
			vals[i] = labels["tag"]
			continue
		}
		fd, _ := storage.LookupField(g, false)
		vals[i] = labels[fd.LokiLabel]
	}
	return vals
}

// Feedback lists the newest events matching the query.
func (c *Client) Feedback(ctx context.Context, q read.Query) ([]read.Entry, read.Meta, error) {
	logql := builder{sel: c.sel, q: q}.base(true).String()
	entries, meta, err := c.entries(ctx, logql, q.From, q.To, q.Limit, "backward")
	if err != nil {
		return nil, meta, err
	}
	read.SortEntries(entries)
	if len(entries) >= q.Limit {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeInfo,
			Text: fmt.Sprintf("Showing the newest %d events; there may be more in this time range. Raise the limit (at most %d) or narrow the query.", q.Limit, read.MaxLimit)})
	}
	return entries, meta, nil
}

// entries runs a log query and decodes every line as an event. A line that
// is not an event (something else written under the selector) is skipped
// and counted in a notice rather than failing the panel.
func (c *Client) entries(ctx context.Context, logql string, from, to time.Time, limit int, direction string) ([]read.Entry, read.Meta, error) {
	meta := read.Meta{Executed: logql}
	resp, err := c.logs(ctx, logql, from, to, limit, direction)
	if err != nil {
		return nil, meta, err
	}
	meta.Stats = resp.Stats()
	out, bad, err := toEntries(resp)
	if err != nil {
		return nil, meta, err
	}
	if bad > 0 {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeWarning,
			Text: fmt.Sprintf("%d log line(s) under the selector are not feedback events and were skipped", bad)})
	}
	return out, meta, nil
}

// lenientEvent reads events without feedback.Event's strict decoder: what
// is already stored is shown even when a newer collector added fields.
type lenientEvent feedback.Event

// toEntries decodes every line as an event; bad counts lines that are not.
func toEntries(resp *LogResponse) ([]read.Entry, int, error) {
	lines, err := resp.Streams()
	if err != nil {
		return nil, 0, err
	}
	out := make([]read.Entry, 0, len(lines))
	bad := 0
	for _, l := range lines {
		var e lenientEvent
		if err := fastjson.UnmarshalNoEscape([]byte(l.Line), &e); err != nil || e.Kind == "" {
			bad++
			continue
		}
		out = append(out, read.Entry{Time: l.T, Event: feedback.Event(e)})
	}
	return out, bad, nil
}

// traceExpr finds every event of one correlation id: the line filter lets
// Loki skip most chunks cheaply, the json filter keeps only exact matches
// (the id could appear inside a comment).
func (b builder) traceExpr(id string) string {
	e := expr{selector: b.sel.With()}
	return e.with("|= " + strconv.Quote(id)).with("| json").with("| " + matcher("correlation_id", "=", id)).String()
}

// Trace returns every event carrying the query's correlation id, oldest
// first, whatever its kind.
func (c *Client) Trace(ctx context.Context, q read.Query) ([]read.Entry, read.Meta, error) {
	logql := builder{sel: c.sel, q: q}.traceExpr(q.CorrelationID)
	entries, meta, err := c.entries(ctx, logql, q.From, q.To, q.Limit, "forward")
	if err != nil {
		return nil, meta, err
	}
	read.SortEntries(entries)
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 {
		entries[i], entries[j] = entries[j], entries[i]
	}
	return entries, meta, nil
}

// Logs runs a log query and returns its lines oldest first, undecoded: the
// execution logs of the drill-down are the application's, not events.
func (c *Client) Logs(ctx context.Context, logql string, from, to time.Time, limit int) ([]Line, read.Meta, error) {
	meta := read.Meta{Executed: logql}
	resp, err := c.logs(ctx, logql, from, to, limit, "forward")
	if err != nil {
		return nil, meta, err
	}
	meta.Stats = resp.Stats()
	lines, err := resp.Streams()
	if err != nil {
		return nil, meta, err
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].T.Before(lines[j].T) })
	return lines, meta, nil
}
