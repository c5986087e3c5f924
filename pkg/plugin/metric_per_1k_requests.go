package plugin

import (
	"context"
	"regexp"
	"sort"

	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/prom"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// The metrics beyond count and share are computed here, from the sources'
// neutral results, so Loki and Elasticsearch get them alike:
// negative_rate = negative ÷ all feedback of the group;
// per_1k_requests = events ÷ requests of the group's model_version × 1,000,
// requests coming from Prometheus' requestsQuery.

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
func (d *Datasource) per1kBreakdown(ctx context.Context, q query.Query, src read.Reader) (read.Breakdown, read.Meta, error) {
	vi, err := versionIndex(q)
	if err != nil {
		return read.Breakdown{}, read.Meta{}, err
	}
	pc, err := d.promClient()
	if err != nil {
		return read.Breakdown{}, read.Meta{}, err
	}
	q2 := q
	q2.Metric = query.MetricCount
	b, meta, err := src.Breakdown(ctx, q2.Query)
	if err != nil {
		return read.Breakdown{}, meta, err
	}
	reqs, promql, err := pc.Requests(ctx, q.To, promVars(q))
	meta.Executed += "\n" + promql
	if err != nil {
		return read.Breakdown{}, meta, err
	}
	out := read.Breakdown{Dims: q.GroupBy, Total: b.Total, Extra: []string{"requests", "per_1k_requests"}, Units: []string{"", ""}}
	seen := map[string]bool{}
	for _, g := range b.Groups {
		ver := g.Values[vi]
		seen[ver] = true
		r, ok := reqs[ver]
		if !ok {
			r = nan()
		}
		out.Groups = append(out.Groups, read.Group{Values: g.Values, Count: g.Count, Extra: []float64{r, per1k(g.Count, r)}})
	}
	if len(q.GroupBy) == 1 {
		for _, ver := range sortedVersions(reqs) {
			if !seen[ver] && versionAllowed(q, ver) {
				out.Groups = append(out.Groups, read.Group{Values: []string{ver}, Count: 0, Extra: []float64{reqs[ver], per1k(0, reqs[ver])}})
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
func (d *Datasource) per1kSeries(ctx context.Context, q query.Query, src read.Reader) ([]read.Series, read.Meta, error) {
	vi, err := versionIndex(q)
	if err != nil {
		return nil, read.Meta{}, err
	}
	pc, err := d.promClient()
	if err != nil {
		return nil, read.Meta{}, err
	}
	q2 := q
	q2.Metric = query.MetricCount
	series, _, meta, err := src.Timeseries(ctx, q2.Query)
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
	out := make([]read.Series, 0, len(series))
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
		out = append(out, read.Series{Values: s.Values, Points: pts})
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
			out = append(out, read.Series{Values: []string{ver}, Points: pts})
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
