package plugin

import (
	"context"
	"fmt"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// The edit metrics (docs/queries.md) read implicit feedback, the answers
// users rewrote (feedback with source edit):
// edit_rate = edit feedback ÷ interactions of the group;
// edit_similarity = mean edit.similarity;
// edit_length_ratio = mean edit.edited_chars ÷ edit.original_chars.
// The means are sums over counts from the sources (read.Query.Measure), so
// Loki and Elasticsearch agree and no per-series average is averaged again.

func isEditMetric(m query.Metric) bool {
	return m == query.MetricEditRate || m == query.MetricEditSimilarity || m == query.MetricEditLengthRatio
}

func editMeasure(m query.Metric) read.Measure {
	if m == query.MetricEditLengthRatio {
		return read.MeasureEditLengthRatio
	}
	return read.MeasureEditSimilarity
}

// feedbackOnly are fields an interaction does not carry, so an edit rate
// cannot be split or filtered by them.
var feedbackOnly = map[string]bool{"sentiment": true, "reason": true, "tag": true, "severity": true, "source": true, "feedback_id": true}

// checkEdit refuses the settings an edit metric cannot honour, naming the
// field.
func checkEdit(q query.Query) error {
	if q.Kind != feedback.KindFeedback {
		return &query.Error{Field: "kind", Message: fmt.Sprintf("%s reads edit feedback; remove the kind setting", q.Metric)}
	}
	if q.Metric != query.MetricEditRate {
		return nil
	}
	// The rate's denominator is interactions: only what they carry can
	// select or split it.
	if q.Sentiment != "" {
		return &query.Error{Field: "sentiment", Message: "edit_rate divides by interactions, which have no sentiment; remove it"}
	}
	if len(q.Tags) > 0 {
		return &query.Error{Field: "tags", Message: "edit_rate divides by interactions, which have no tags; remove them"}
	}
	if q.Search != "" {
		return &query.Error{Field: "search", Message: "edit_rate divides by interactions, which have no comment; remove the search"}
	}
	for i, g := range q.GroupBy {
		if feedbackOnly[g] {
			return &query.Error{Field: fmt.Sprintf("groupBy[%d]", i), Message: fmt.Sprintf("edit_rate divides by interactions, which have no %s", g)}
		}
	}
	for i, f := range q.Filters {
		if feedbackOnly[f.Key] {
			return &query.Error{Field: fmt.Sprintf("filters[%d].key", i), Message: fmt.Sprintf("edit_rate divides by interactions, which have no %s", f.Key)}
		}
	}
	return nil
}

// editRateQueries are the numerator (edit feedback) and the denominator
// (interactions) of edit_rate.
func editRateQueries(q query.Query) (edits, interactions read.Query) {
	edits = q.Query
	edits.Total = false
	edits.Filters = append(append([]read.Filter(nil), q.Filters...), read.Filter{Key: "source", Operator: read.OpEqual, Value: string(feedback.SourceEdit)})
	interactions = q.Query
	interactions.Total = false
	interactions.Kind = feedback.KindInteraction
	return edits, interactions
}

func joinMeta(a, b read.Meta) read.Meta {
	a.Executed = joinLines(a.Executed, b.Executed)
	a.Notices = append(a.Notices, b.Notices...)
	if len(a.Stats) == 0 {
		a.Stats = b.Stats
	}
	return a
}

func joinLines(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n" + b
}

// editBreakdown answers the edit metrics: count (edit feedback with the
// value), the metric and, for edit_rate, the interactions.
func editBreakdown(ctx context.Context, q query.Query, src read.Reader) (read.Breakdown, read.Meta, error) {
	if err := checkEdit(q); err != nil {
		return read.Breakdown{}, read.Meta{}, err
	}
	if q.Metric != query.MetricEditRate {
		q2 := q.Query
		q2.Total = false
		q2.Measure = editMeasure(q.Metric)
		b, meta, err := src.Breakdown(ctx, q2)
		if err != nil {
			return read.Breakdown{}, meta, err
		}
		out := read.Breakdown{Dims: q.GroupBy, Total: b.Total, Extra: []string{string(q.Metric)}, Units: []string{""}}
		for _, g := range b.Groups {
			out.Groups = append(out.Groups, read.Group{Values: g.Values, Count: g.Count, Extra: []float64{read.Ratio(g.Sum, g.Count)}})
		}
		return out, meta, nil
	}
	eq, iq := editRateQueries(q)
	eb, meta, err := src.Breakdown(ctx, eq)
	if err != nil {
		return read.Breakdown{}, meta, err
	}
	ib, imeta, err := src.Breakdown(ctx, iq)
	meta = joinMeta(meta, imeta)
	if err != nil {
		return read.Breakdown{}, meta, err
	}
	out := read.Breakdown{Dims: q.GroupBy, Extra: []string{"interactions", "edit_rate"}, Units: []string{"", "percentunit"}}
	index := map[string]int{}
	for _, g := range eb.Groups {
		index[groupKey(g.Values)] = len(out.Groups)
		out.Groups = append(out.Groups, read.Group{Values: g.Values, Count: g.Count, Extra: []float64{0, 0}})
		out.Total += g.Count
	}
	// A group with interactions and no edits has a rate of 0; one with
	// edits of interactions outside the range has none (NaN).
	for _, g := range ib.Groups {
		i, ok := index[groupKey(g.Values)]
		if !ok {
			i = len(out.Groups)
			out.Groups = append(out.Groups, read.Group{Values: g.Values, Extra: []float64{0, 0}})
		}
		out.Groups[i].Extra[0] = g.Count
	}
	for i := range out.Groups {
		out.Groups[i].Extra[1] = read.Ratio(out.Groups[i].Count, out.Groups[i].Extra[0])
	}
	return out, meta, nil
}

// editSeries answers the edit metrics per step; a step without edits (or,
// for edit_rate, without interactions) has no value.
func editSeries(ctx context.Context, q query.Query, src read.Reader) ([]read.Series, read.Meta, error) {
	if err := checkEdit(q); err != nil {
		return nil, read.Meta{}, err
	}
	if q.Metric != query.MetricEditRate {
		q2 := q.Query
		q2.Total = false
		q2.Measure = editMeasure(q.Metric)
		series, _, meta, err := src.Timeseries(ctx, q2)
		if err != nil {
			return nil, meta, err
		}
		out := make([]read.Series, 0, len(series))
		for _, s := range series {
			pts := map[int64]float64{}
			for t, n := range s.Points {
				if n > 0 {
					pts[t] = s.Sums[t] / n
				}
			}
			out = append(out, read.Series{Values: s.Values, Points: pts})
		}
		return out, meta, nil
	}
	eq, iq := editRateQueries(q)
	es, _, meta, err := src.Timeseries(ctx, eq)
	if err != nil {
		return nil, meta, err
	}
	is, _, imeta, err := src.Timeseries(ctx, iq)
	meta = joinMeta(meta, imeta)
	if err != nil {
		return nil, meta, err
	}
	edits := map[string]read.Series{}
	for _, s := range es {
		edits[groupKey(s.Values)] = s
	}
	out := make([]read.Series, 0, len(is))
	for _, s := range is {
		e := edits[groupKey(s.Values)]
		pts := map[int64]float64{}
		for t, n := range s.Points {
			if n > 0 {
				pts[t] = e.Points[t] / n
			}
		}
		out = append(out, read.Series{Values: s.Values, Points: pts})
	}
	return out, meta, nil
}
