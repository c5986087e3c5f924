package plugin

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// timeseries answers timeseries-multi frames on a step grid; no series means
// no frames, which alert rules read as NoData.
func (d *Datasource) timeseries(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	switch q.Metric {
	case query.MetricNegativeRate:
		series, meta, err := negativeRateSeries(ctx, q, src)
		if err != nil {
			return errorResponse(err, meta)
		}
		return backend.DataResponse{Frames: RateFrames(q.GroupBy, series, grid(q, meta), "percentunit", meta)}
	case query.MetricPer1kRequests:
		series, meta, err := d.per1kSeries(ctx, q, src)
		if err != nil {
			return errorResponse(err, meta)
		}
		return backend.DataResponse{Frames: RateFrames(q.GroupBy, series, grid(q, meta), "", meta)}
	case query.MetricEditRate, query.MetricEditSimilarity, query.MetricEditLengthRatio:
		series, meta, err := editSeries(ctx, q, src)
		if err != nil {
			return errorResponse(err, meta)
		}
		unit := ""
		if q.Metric == query.MetricEditRate {
			unit = "percentunit"
		}
		return backend.DataResponse{Frames: RateFrames(q.GroupBy, series, grid(q, meta), unit, meta)}
	}
	series, totals, meta, err := src.Timeseries(ctx, q.Query)
	if err != nil {
		return errorResponse(err, meta)
	}
	return backend.DataResponse{Frames: TimeseriesFrames(q.GroupBy, series, grid(q, meta), q.Metric == query.MetricShare, totals, meta)}
}

// grid is the step grid the source answered on.
func grid(q query.Query, meta read.Meta) read.Grid {
	return read.NewGrid(q.From, q.To, meta.StepOr(q.Step()))
}

// TimeseriesFrames builds one timeseries-multi frame per series, each on the
// full grid with missing steps as 0 (no event in a step is a count of 0).
// With share, each point is divided by totals at the same step. Series are
// ordered by their values; no series gives no frames.
func TimeseriesFrames(dims []string, series []read.Series, grid read.Grid, share bool, totals map[int64]float64, meta read.Meta) []*data.Frame {
	value := func(s read.Series, ms int64) float64 { return s.Points[ms] }
	unit := ""
	if share {
		value = func(s read.Series, ms int64) float64 { return read.Ratio(s.Points[ms], totals[ms]) }
		unit = "percentunit"
	}
	return seriesFrames(dims, series, grid, value, unit, meta)
}

// RateFrames is TimeseriesFrames for values that are already ratios: a step
// without a value is NaN (a gap), not 0, because no feedback is not a rate
// of zero.
func RateFrames(dims []string, series []read.Series, grid read.Grid, unit string, meta read.Meta) []*data.Frame {
	return seriesFrames(dims, series, grid, func(s read.Series, ms int64) float64 {
		if v, ok := s.Points[ms]; ok {
			return v
		}
		return nan()
	}, unit, meta)
}

func seriesFrames(dims []string, series []read.Series, grid read.Grid, value func(read.Series, int64) float64, unit string, meta read.Meta) []*data.Frame {
	series = append([]read.Series(nil), series...)
	sort.SliceStable(series, func(i, j int) bool {
		return strings.Join(series[i].Values, "\x00") < strings.Join(series[j].Values, "\x00")
	})
	times := grid.Times()
	out := make([]*data.Frame, 0, len(series))
	for _, s := range series {
		vals := make([]float64, len(times))
		for i, t := range times {
			vals[i] = value(s, t.UnixMilli())
		}
		labels := data.Labels{}
		for d, dim := range dims {
			labels[dim] = s.Values[d]
		}
		v := data.NewField("value", labels, vals)
		if unit != "" {
			v.Config = &data.FieldConfig{Unit: unit}
		}
		f := data.NewFrame("", data.NewField("time", nil, append([]time.Time(nil), times...)), v)
		setMeta(f, data.FrameTypeTimeSeriesMulti, data.FrameTypeVersion{0, 1}, meta)
		out = append(out, f)
	}
	return out
}
