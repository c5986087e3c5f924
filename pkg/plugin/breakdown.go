package plugin

import (
	"context"
	"sort"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// breakdown answers one numeric-long frame; it is alertable: each row becomes
// an alert instance labelled by its dimensions.
func (d *Datasource) breakdown(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	var (
		b    read.Breakdown
		meta read.Meta
		err  error
	)
	switch q.Metric {
	case query.MetricNegativeRate:
		b, meta, err = negativeRateBreakdown(ctx, q, src)
	case query.MetricPer1kRequests:
		b, meta, err = d.per1kBreakdown(ctx, q, src)
	case query.MetricEditRate, query.MetricEditSimilarity, query.MetricEditLengthRatio:
		b, meta, err = editBreakdown(ctx, q, src)
	default:
		b, meta, err = src.Breakdown(ctx, q.Query)
	}
	if err != nil {
		return errorResponse(err, meta)
	}
	f := BreakdownFrame(b, q.Metric == query.MetricShare, meta)
	if q.Alerting {
		f = keepOneNumber(f, metricColumn[q.Metric])
	}
	return backend.DataResponse{Frames: data.Frames{f}}
}

// metricColumn is the column an alert rule evaluates for each metric.
var metricColumn = map[query.Metric]string{
	query.MetricCount:           "count",
	query.MetricShare:           "share",
	query.MetricNegativeRate:    "negative_rate",
	query.MetricPer1kRequests:   "per_1k_requests",
	query.MetricEditRate:        "edit_rate",
	query.MetricEditSimilarity:  "edit_similarity",
	query.MetricEditLengthRatio: "edit_length_ratio",
}

// BreakdownFrame is the breakdown query type's frame (also used by the stores' golden tests): it builds the numeric-long frame: one string field per
// dimension, float64 count (and share), sorted by count descending, then by
// the dimension values so equal counts keep a stable order.
func BreakdownFrame(b read.Breakdown, withShare bool, meta read.Meta) *data.Frame {
	groups := append([]read.Group(nil), b.Groups...)
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Count != groups[j].Count {
			return groups[i].Count > groups[j].Count
		}
		return strings.Join(groups[i].Values, "\x00") < strings.Join(groups[j].Values, "\x00")
	})
	fields := make([]*data.Field, 0, len(b.Dims)+2)
	for d, dim := range b.Dims {
		vals := make([]string, len(groups))
		for i, g := range groups {
			vals[i] = g.Values[d]
		}
		fields = append(fields, data.NewField(dim, nil, vals))
	}
	counts := make([]float64, len(groups))
	for i, g := range groups {
		counts[i] = g.Count
	}
	fields = append(fields, data.NewField("count", nil, counts))
	for x, name := range b.Extra {
		vals := make([]float64, len(groups))
		for i, g := range groups {
			vals[i] = g.Extra[x]
		}
		f := data.NewField(name, nil, vals)
		if x < len(b.Units) && b.Units[x] != "" {
			f.Config = &data.FieldConfig{Unit: b.Units[x]}
		}
		fields = append(fields, f)
	}
	if withShare {
		shares := make([]float64, len(groups))
		for i, g := range groups {
			shares[i] = read.Ratio(g.Count, b.Total)
		}
		share := data.NewField("share", nil, shares)
		share.Config = &data.FieldConfig{Unit: "percentunit"}
		fields = append(fields, share)
	}
	f := data.NewFrame("breakdown", fields...)
	setMeta(f, data.FrameTypeNumericLong, data.FrameTypeVersion{0, 1}, meta)
	return f
}
