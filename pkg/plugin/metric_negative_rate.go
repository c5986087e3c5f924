package plugin

import (
	"context"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// The metrics beyond count and share are computed here, from the sources'
// neutral results, so Loki and Elasticsearch get them alike:
// negative_rate = negative ÷ all feedback of the group;
// per_1k_requests = events ÷ requests of the group's model_version × 1,000,
// requests coming from Prometheus' requestsQuery.

// withSentiment is q grouped additionally by sentiment, counting feedback of
// every sentiment (the rate's denominator).
func withSentiment(q query.Query) (query.Query, error) {
	if q.Sentiment != "" {
		return q, &query.Error{Field: "sentiment", Message: "negative_rate is computed over all sentiments; remove the sentiment filter"}
	}
	if q.HasGroup("sentiment") {
		return q, &query.Error{Field: "groupBy", Message: "negative_rate already splits by sentiment; remove sentiment from groupBy"}
	}
	if q.Kind != feedback.KindFeedback {
		return q, &query.Error{Field: "kind", Message: "negative_rate applies to kind feedback"}
	}
	q2 := q
	q2.GroupBy = append(append([]string(nil), q.GroupBy...), "sentiment")
	q2.Metric = query.MetricCount
	return q2, nil
}

func groupKey(vals []string) string { return strings.Join(vals, "\x00") }

// negativeRateBreakdown folds the sentiment dimension away into count
// (all feedback), negative and negative_rate.
func negativeRateBreakdown(ctx context.Context, q query.Query, src read.Reader) (read.Breakdown, read.Meta, error) {
	q2, err := withSentiment(q)
	if err != nil {
		return read.Breakdown{}, read.Meta{}, err
	}
	b, meta, err := src.Breakdown(ctx, q2.Query)
	if err != nil {
		return read.Breakdown{}, meta, err
	}
	n := len(q.GroupBy)
	byKey := map[string]*read.Group{}
	var order []string
	for _, g := range b.Groups {
		k := groupKey(g.Values[:n])
		acc, ok := byKey[k]
		if !ok {
			acc = &read.Group{Values: append([]string(nil), g.Values[:n]...), Extra: []float64{0, 0}}
			byKey[k] = acc
			order = append(order, k)
		}
		acc.Count += g.Count
		if g.Values[n] == string(feedback.Negative) {
			acc.Extra[0] += g.Count
		}
	}
	out := read.Breakdown{Dims: q.GroupBy, Extra: []string{"negative", "negative_rate"}, Units: []string{"", "percentunit"}}
	for _, k := range order {
		g := byKey[k]
		g.Extra[1] = read.Ratio(g.Extra[0], g.Count)
		out.Groups = append(out.Groups, *g)
		out.Total += g.Count
	}
	return out, meta, nil
}

// negativeRateSeries turns per-sentiment series into rate series.
func negativeRateSeries(ctx context.Context, q query.Query, src read.Reader) ([]read.Series, read.Meta, error) {
	q2, err := withSentiment(q)
	if err != nil {
		return nil, read.Meta{}, err
	}
	series, _, meta, err := src.Timeseries(ctx, q2.Query)
	if err != nil {
		return nil, meta, err
	}
	n := len(q.GroupBy)
	type acc struct {
		vals     []string
		all, neg map[int64]float64
	}
	byKey := map[string]*acc{}
	var order []string
	for _, s := range series {
		k := groupKey(s.Values[:n])
		a, ok := byKey[k]
		if !ok {
			a = &acc{vals: s.Values[:n], all: map[int64]float64{}, neg: map[int64]float64{}}
			byKey[k] = a
			order = append(order, k)
		}
		for t, v := range s.Points {
			a.all[t] += v
			if s.Values[n] == string(feedback.Negative) {
				a.neg[t] += v
			}
		}
	}
	out := make([]read.Series, 0, len(order))
	for _, k := range order {
		a := byKey[k]
		pts := map[int64]float64{}
		for t, all := range a.all {
			if all > 0 {
				pts[t] = a.neg[t] / all
			}
		}
		out = append(out, read.Series{Values: a.vals, Points: pts})
	}
	return out, meta, nil
}
