package plugin

import (
	"context"
	"regexp"
	"sort"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/frames"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/prom"
	"github.com/feedbackloop/modelfeedback/pkg/query"
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
func negativeRateBreakdown(ctx context.Context, q query.Query, src Source) (frames.Breakdown, frames.Meta, error) {
	q2, err := withSentiment(q)
	if err != nil {
		return frames.Breakdown{}, frames.Meta{}, err
	}
	b, meta, err := src.Breakdown(ctx, q2)
	if err != nil {
		return frames.Breakdown{}, meta, err
	}
	n := len(q.GroupBy)
	byKey := map[string]*frames.Group{}
	var order []string
	for _, g := range b.Groups {
		k := groupKey(g.Values[:n])
		acc, ok := byKey[k]
		if !ok {
			acc = &frames.Group{Values: append([]string(nil), g.Values[:n]...), Extra: []float64{0, 0}}
			byKey[k] = acc
			order = append(order, k)
		}
		acc.Count += g.Count
		if g.Values[n] == string(feedback.Negative) {
			acc.Extra[0] += g.Count
		}
	}
	out := frames.Breakdown{Dims: q.GroupBy, Extra: []string{"negative", "negative_rate"}, Units: []string{"", "percentunit"}}
	for _, k := range order {
		g := byKey[k]
		g.Extra[1] = frames.Ratio(g.Extra[0], g.Count)
		out.Groups = append(out.Groups, *g)
		out.Total += g.Count
	}
	return out, meta, nil
}

// negativeRateSeries turns per-sentiment series into rate series.
func negativeRateSeries(ctx context.Context, q query.Query, src Source) ([]frames.Series, frames.Meta, error) {
	q2, err := withSentiment(q)
	if err != nil {
		return nil, frames.Meta{}, err
	}
	series, _, meta, err := src.Timeseries(ctx, q2)
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
	out := make([]frames.Series, 0, len(order))
	for _, k := range order {
		a := byKey[k]
		pts := map[int64]float64{}
		for t, all := range a.all {
			if all > 0 {
				pts[t] = a.neg[t] / all
			}
		}
		out = append(out, frames.Series{Values: a.vals, Points: pts})
	}
	return out, meta, nil
}

// promVars restricts $model_id / $model_version to the query's = and =~
// filters on those fields (negative filters cannot be expressed as the one
// regex a template holds; versionAllowed applies every filter afterwards).
func promVars(q query.Query) prom.Vars {
	v := prom.Vars{Range: q.Range(), Interval: q.Interval}
	for _, f := range q.Filters {
		switch {
		case f.Key == "model_id" && f.Operator == query.OpEqual:
			v.ModelIDs = append(v.ModelIDs, f.Value)
		case f.Key == "model_id" && f.Operator == query.OpRegex:
			v.ModelIDPatterns = append(v.ModelIDPatterns, f.Value)
		case f.Key == "model_version" && f.Operator == query.OpEqual:
			v.ModelVersions = append(v.ModelVersions, f.Value)
		case f.Key == "model_version" && f.Operator == query.OpRegex:
			v.ModelVersionPatterns = append(v.ModelVersionPatterns, f.Value)
		}
	}
	return v
}

// versionAllowed applies the query's model_version filters to a version
// known only from Prometheus: its requests must not bring back a version the
// query filtered out (a template need not use $model_version at all).
// Regexes are anchored, as in LogQL and PromQL.
func versionAllowed(q query.Query, version string) bool {
	for _, f := range q.Filters {
		if f.Key != "model_version" {
			continue
		}
		var match bool
		switch f.Operator {
		case query.OpEqual, query.OpNotEqual:
			match = version == f.Value
		default:
			re, err := regexp.Compile("^(?:" + f.Value + ")$")
			match = err == nil && re.MatchString(version)
		}
		if match != (f.Operator == query.OpEqual || f.Operator == query.OpRegex) {
			return false
		}
	}
	return true
}

func versionIndex(q query.Query) (int, error) {
	for i, g := range q.GroupBy {
		if g == "model_version" {
			return i, nil
		}
	}
	return 0, &query.Error{Field: "groupBy", Message: "per_1k_requests joins on model_version: add model_version to groupBy"}
}

// per1kBreakdown joins group counts with requests per model_version.
// Versions with feedback but no requests keep their row (per_1k NaN);
// versions with requests but no feedback get a row with count 0 when
// model_version is the only dimension, so neither side is dropped.
func (d *Datasource) per1kBreakdown(ctx context.Context, q query.Query, src Source) (frames.Breakdown, frames.Meta, error) {
	vi, err := versionIndex(q)
	if err != nil {
		return frames.Breakdown{}, frames.Meta{}, err
	}
	pc, err := d.promClient()
	if err != nil {
		return frames.Breakdown{}, frames.Meta{}, err
	}
	q2 := q
	q2.Metric = query.MetricCount
	b, meta, err := src.Breakdown(ctx, q2)
	if err != nil {
		return frames.Breakdown{}, meta, err
	}
	reqs, promql, err := pc.Requests(ctx, q.To, promVars(q))
	meta.Executed += "\n" + promql
	if err != nil {
		return frames.Breakdown{}, meta, err
	}
	out := frames.Breakdown{Dims: q.GroupBy, Total: b.Total, Extra: []string{"requests", "per_1k_requests"}, Units: []string{"", ""}}
	seen := map[string]bool{}
	for _, g := range b.Groups {
		ver := g.Values[vi]
		seen[ver] = true
		r, ok := reqs[ver]
		if !ok {
			r = nan()
		}
		out.Groups = append(out.Groups, frames.Group{Values: g.Values, Count: g.Count, Extra: []float64{r, per1k(g.Count, r)}})
	}
	if len(q.GroupBy) == 1 {
		for _, ver := range sortedVersions(reqs) {
			if !seen[ver] && versionAllowed(q, ver) {
				out.Groups = append(out.Groups, frames.Group{Values: []string{ver}, Count: 0, Extra: []float64{reqs[ver], per1k(0, reqs[ver])}})
			}
		}
	}
	return out, meta, nil
}

func per1k(count, requests float64) float64 {
	if requests != requests || requests == 0 { // NaN or no traffic
		return nan()
	}
	return count / requests * 1000
}

func sortedVersions(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// per1kSeries joins series with requests per version and step. The request
// template runs with $__range = step on the same grid, so each point divides
// the events of (t-step, t] by the requests of the same window.
func (d *Datasource) per1kSeries(ctx context.Context, q query.Query, src Source) ([]frames.Series, frames.Meta, error) {
	vi, err := versionIndex(q)
	if err != nil {
		return nil, frames.Meta{}, err
	}
	pc, err := d.promClient()
	if err != nil {
		return nil, frames.Meta{}, err
	}
	q2 := q
	q2.Metric = query.MetricCount
	series, _, meta, err := src.Timeseries(ctx, q2)
	if err != nil {
		return nil, meta, err
	}
	g := grid(q, meta)
	times := g.Times()
	reqs, promql, err := pc.RequestSeries(ctx, times[0], times[len(times)-1], g.Step, promVars(q))
	meta.Executed += "\n" + promql
	if err != nil {
		return nil, meta, err
	}
	out := make([]frames.Series, 0, len(series))
	seen := map[string]bool{}
	for _, s := range series {
		ver := s.Values[vi]
		seen[ver] = true
		pts := map[int64]float64{}
		for _, t := range times {
			ms := t.UnixMilli()
			if r, ok := reqs[ver][ms]; ok && r > 0 {
				pts[ms] = s.Points[ms] / r * 1000
			}
		}
		out = append(out, frames.Series{Values: s.Values, Points: pts})
	}
	if len(q.GroupBy) == 1 {
		for ver, rs := range reqs {
			if seen[ver] || !versionAllowed(q, ver) {
				continue
			}
			pts := map[int64]float64{}
			for ms, r := range rs {
				if r > 0 {
					pts[ms] = 0
				}
			}
			out = append(out, frames.Series{Values: []string{ver}, Points: pts})
		}
	}
	return out, meta, nil
}

func (d *Datasource) promClient() (*prom.Client, error) {
	if d.prom == nil {
		if d.promErr != nil {
			return nil, d.promErr
		}
		return nil, &models.SettingError{Setting: "prometheus.url", Message: "Prometheus is not configured: set prometheus.url"}
	}
	return d.prom, nil
}
