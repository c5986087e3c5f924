package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/versions"
)

// versionRow is one model version's numbers: the source-neutral counts
// (pkg/versions) plus the traffic joined from Prometheus.
type versionRow struct {
	*versions.Row
	requests float64
	latency  float64
}

// versions answers one row per model version: sentiment counts, the negative
// rate with its Wilson interval, traffic from Prometheus and a verdict
// against a baseline version. It is a numeric-long frame, so an alert rule
// can fire per version (the regressed column is 1 for a regression).
func (d *Datasource) versions(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	rows, meta, err := d.versionRows(ctx, q, src)
	if err != nil {
		return errorResponse(err, meta)
	}
	if q.Baseline != "" && !versions.HasBaseline(plainRows(rows), q.Baseline) {
		return errorResponse(&read.FieldError{Field: "baseline", Message: fmt.Sprintf("version %q has no feedback in this time range", q.Baseline)}, meta)
	}
	f := versionsFrame(rows, q.Baseline, d.prom != nil && d.prom.HasLatency(), meta)
	if q.Alerting {
		// One instance per version, labelled only by what identifies it
		// (top_tags or the verdict as labels would start a new instance
		// whenever they change); the value says whether it regressed.
		f = keepFields(f, "model_id", "model_version", "regressed")
	}
	return backend.DataResponse{Frames: data.Frames{f}}
}

func plainRows(rows []*versionRow) []*versions.Row {
	out := make([]*versions.Row, len(rows))
	for i, r := range rows {
		out[i] = r.Row
	}
	return out
}

func (d *Datasource) versionRows(ctx context.Context, q query.Query, src read.Reader) ([]*versionRow, read.Meta, error) {
	// An alert rule keeps only the regressed column, so it is spared the
	// per-tag queries.
	vrows, meta, err := versions.Collect(ctx, src, q.Query, versions.Options{Tags: !q.Alerting})
	if err != nil {
		return nil, meta, err
	}
	executed := []string{meta.Executed}
	rows := make([]*versionRow, len(vrows))
	byVersion := map[string]*versionRow{}
	for i, r := range vrows {
		rows[i] = &versionRow{Row: r, requests: nan(), latency: nan()}
		byVersion[r.Version] = rows[i]
	}

	var notices []read.Notice
	if pc, err := d.promClient(); err == nil {
		reqs, promql, err := pc.Requests(ctx, q.To, promVars(q))
		executed = append(executed, promql)
		if err != nil {
			return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
		}
		for v, n := range reqs {
			if r := byVersion[v]; r != nil {
				r.requests = n
			}
		}
		if pc.HasLatency() {
			lat, promql, err := pc.Latency(ctx, q.To, promVars(q))
			executed = append(executed, promql)
			if err != nil {
				return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
			}
			for v, l := range lat {
				if r := byVersion[v]; r != nil {
					r.latency = l
				}
			}
		}
	} else {
		notices = append(notices, read.Notice{Severity: read.NoticeInfo,
			Text: "Prometheus is not configured (prometheus.url): requests and per_1k_requests are empty"})
	}
	return rows, read.Meta{Executed: strings.Join(executed, "\n"), Stats: meta.Stats, Notices: notices}, nil
}

// versionsFrame lays out the judgements of pkg/versions (baseline choice and
// verdict live there, shared with feedbackctl gate) with Prometheus traffic.
func versionsFrame(rows []*versionRow, baseline string, withLatency bool, meta read.Meta) *data.Frame {
	n := len(rows)
	col := func() []float64 { return make([]float64, n) }
	modelID, version, verdict, topTags, baseName := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	requests, fb, pos, neg, rate, low, high, per1kReq, delta, pval, regressed, latency :=
		col(), col(), col(), col(), col(), col(), col(), col(), col(), col(), col(), col()
	judged := versions.Judge(plainRows(rows), baseline)
	for i, r := range rows {
		j := judged[i]
		modelID[i], version[i] = r.ModelID, r.Version
		requests[i], fb[i], pos[i], neg[i], latency[i] = r.requests, r.Feedback, r.Positive, r.Negative, r.latency
		rate[i], low[i], high[i] = j.Rate, j.Low, j.High
		per1kReq[i] = per1k(r.Feedback, r.requests)
		topTags[i] = formatTopTags(r.Tags, 3)
		baseName[i], delta[i], pval[i], verdict[i] = j.Baseline, j.Delta, j.P, j.Verdict
		if j.Regressed() {
			regressed[i] = 1
		}
	}
	versionField := data.NewField("model_version", nil, version)
	versionField.Config = &data.FieldConfig{Links: []data.DataLink{{
		Title: "Feedback for this version",
		URL:   "/d/feedbackloop-overview?var-model_version=${__value.raw}&${__url_time_range}",
	}}}
	unit := func(f *data.Field, u string) *data.Field { f.Config = &data.FieldConfig{Unit: u}; return f }
	fields := []*data.Field{
		data.NewField("model_id", nil, modelID),
		versionField,
		data.NewField("requests", nil, requests),
	}
	fields = append(fields,
		data.NewField("feedback", nil, fb),
		data.NewField("positive", nil, pos),
		data.NewField("negative", nil, neg),
		unit(data.NewField("negative_rate", nil, rate), "percentunit"),
		unit(data.NewField("negative_rate_low", nil, low), "percentunit"),
		unit(data.NewField("negative_rate_high", nil, high), "percentunit"),
	)
	fields = append(fields, data.NewField("per_1k_requests", nil, per1kReq))
	if withLatency {
		fields = append(fields, unit(data.NewField("latency_p95", nil, latency), "s"))
	}
	fields = append(fields,
		data.NewField("baseline", nil, baseName),
		unit(data.NewField("delta_vs_baseline", nil, delta), "percentunit"),
		data.NewField("p_value", nil, pval),
		data.NewField("verdict", nil, verdict),
		data.NewField("regressed", nil, regressed),
		data.NewField("top_tags", nil, topTags),
	)
	f := data.NewFrame("versions", fields...)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeNumericLong, TypeVersion: data.FrameTypeVersion{0, 1},
		ExecutedQueryString: meta.Executed, Stats: statsOf(meta), Notices: noticesOf(meta)}
	return f
}

func formatTopTags(tags []read.Group, n int) string {
	sort.SliceStable(tags, func(i, j int) bool {
		if tags[i].Count != tags[j].Count {
			return tags[i].Count > tags[j].Count
		}
		return tags[i].Values[0] < tags[j].Values[0]
	})
	parts := []string{}
	for i, t := range tags {
		if i == n {
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%g)", t.Values[0], t.Count))
	}
	return strings.Join(parts, ", ")
}
