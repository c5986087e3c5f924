package plugin

import (
	"context"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/frames"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// timeseries answers timeseries-multi frames on a step grid; no series means
// no frames, which alert rules read as NoData.
func (d *Datasource) timeseries(ctx context.Context, q query.Query, src Source) backend.DataResponse {
	switch q.Metric {
	case query.MetricNegativeRate:
		series, meta, err := negativeRateSeries(ctx, q, src)
		if err != nil {
			return errorResponse(err, meta)
		}
		return backend.DataResponse{Frames: frames.RateFrames(q.GroupBy, series, grid(q, meta), "percentunit", meta)}
	case query.MetricPer1kRequests:
		series, meta, err := d.per1kSeries(ctx, q, src)
		if err != nil {
			return errorResponse(err, meta)
		}
		return backend.DataResponse{Frames: frames.RateFrames(q.GroupBy, series, grid(q, meta), "", meta)}
	}
	series, totals, meta, err := src.Timeseries(ctx, q)
	if err != nil {
		return errorResponse(err, meta)
	}
	return backend.DataResponse{Frames: frames.TimeseriesFrames(q.GroupBy, series, grid(q, meta), q.Metric == query.MetricShare, totals, meta)}
}

// grid is the step grid the source answered on.
func grid(q query.Query, meta frames.Meta) frames.Grid {
	return frames.NewGrid(q.From, q.To, meta.StepOr(q.Step()))
}
