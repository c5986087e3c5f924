package plugin

import (
	"context"
	"math"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/frames"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// breakdown answers one numeric-long frame; it is alertable: each row becomes
// an alert instance labelled by its dimensions.
func (d *Datasource) breakdown(ctx context.Context, q query.Query, src Source) backend.DataResponse {
	var (
		b    frames.Breakdown
		meta frames.Meta
		err  error
	)
	switch q.Metric {
	case query.MetricNegativeRate:
		b, meta, err = negativeRateBreakdown(ctx, q, src)
	case query.MetricPer1kRequests:
		b, meta, err = d.per1kBreakdown(ctx, q, src)
	default:
		b, meta, err = src.Breakdown(ctx, q)
	}
	if err != nil {
		return errorResponse(err, meta)
	}
	f := frames.BreakdownFrame(b, q.Metric == query.MetricShare, meta)
	if q.Alerting {
		f = frames.KeepOneNumber(f, metricColumn[q.Metric])
	}
	return backend.DataResponse{Frames: data.Frames{f}}
}

// metricColumn is the column an alert rule evaluates for each metric.
var metricColumn = map[query.Metric]string{
	query.MetricCount:         "count",
	query.MetricShare:         "share",
	query.MetricNegativeRate:  "negative_rate",
	query.MetricPer1kRequests: "per_1k_requests",
}

func nan() float64 { return math.NaN() }
