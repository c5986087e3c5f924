package plugin

import (
	"context"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/frames"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// breakdown answers one numeric-long frame; it is alertable: each row becomes
// an alert instance labelled by its dimensions.
func (d *Datasource) breakdown(ctx context.Context, q query.Query, src Source) backend.DataResponse {
	if err := countMetricOnly(q); err != nil {
		return errorResponse(err, frames.Meta{})
	}
	b, meta, err := src.Breakdown(ctx, q)
	if err != nil {
		return errorResponse(err, meta)
	}
	return backend.DataResponse{Frames: data.Frames{frames.BreakdownFrame(b, q.Metric == query.MetricShare, meta)}}
}

// countMetricOnly: negative_rate and per_1k_requests need the Prometheus
// join, which this version does not have yet; say so rather than return
// counts under a misleading name.
func countMetricOnly(q query.Query) error {
	if q.Metric == query.MetricCount || q.Metric == query.MetricShare {
		return nil
	}
	return &query.Error{Field: "metric", Message: "\"" + string(q.Metric) + "\" needs the Prometheus join, which is not available in this version; use count or share"}
}
