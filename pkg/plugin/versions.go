package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/stats"
)

// versionRow is one model version's numbers.
type versionRow struct {
	modelID, version string
	firstSeen        time.Time
	feedback, pos    float64
	neg              float64
	tags             []read.Group
	requests         float64
	latency          float64
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
	if q.Baseline != "" {
		found := false
		for _, r := range rows {
			found = found || r.version == q.Baseline
		}
		if !found {
			return errorResponse(&read.FieldError{Field: "baseline", Message: fmt.Sprintf("version %q has no feedback in this time range", q.Baseline)}, meta)
		}
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

func (d *Datasource) versionRows(ctx context.Context, q query.Query, src read.Reader) ([]*versionRow, read.Meta, error) {
	if q.Sentiment != "" || q.Kind != feedback.KindFeedback {
		return nil, read.Meta{}, &read.FieldError{Field: "sentiment", Message: "versions compares all feedback sentiments; remove the sentiment and kind settings"}
	}
	base := q
	base.Metric = query.MetricCount
	base.Tags = nil

	counts := base
	counts.GroupBy = []string{"model_version", "sentiment"}
	b, meta, err := src.Breakdown(ctx, counts.Query)
	if err != nil {
		return nil, meta, err
	}
	executed := []string{meta.Executed}
	rows := map[string]*versionRow{}
	for _, g := range b.Groups {
		r := rows[g.Values[0]]
		if r == nil {
			r = &versionRow{version: g.Values[0], requests: nan(), latency: nan()}
			rows[g.Values[0]] = r
		}
		r.feedback += g.Count
		switch feedback.Sentiment(g.Values[1]) {
		case feedback.Positive:
			r.pos += g.Count
		case feedback.Negative:
			r.neg += g.Count
		}
	}

	// Which model each version belongs to: baselines are per model.
	ids, err := src.ModelIDs(ctx, q.From, q.To)
	if err != nil {
		return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
	}
	for _, id := range ids {
		vers, err := src.ModelVersions(ctx, id, q.From, q.To)
		if err != nil {
			return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
		}
		for _, v := range vers {
			if r := rows[v]; r != nil {
				r.modelID = id
			}
		}
	}

	// First-seen time orders versions (for the default baseline): the first
	// step in which a version has feedback.
	first := base
	first.GroupBy = []string{"model_version"}
	series, _, fmeta, err := src.Timeseries(ctx, first.Query)
	if err != nil {
		return nil, fmeta, err
	}
	executed = append(executed, fmeta.Executed)
	for _, s := range series {
		r := rows[s.Values[0]]
		if r == nil {
			continue
		}
		for ms, v := range s.Points {
			t := time.UnixMilli(ms).UTC()
			if v > 0 && (r.firstSeen.IsZero() || t.Before(r.firstSeen)) {
				r.firstSeen = t
			}
		}
	}

	// Top tags per version, summed over the same steps. An alert rule keeps
	// only the regressed column, so it is spared these queries.
	if !q.Alerting {
		tags := base
		tags.GroupBy = []string{"model_version", "tag"}
		tags.Tags = q.Tags
		ts, _, tmeta, err := src.Timeseries(ctx, tags.Query)
		if err != nil {
			return nil, tmeta, err
		}
		executed = append(executed, tmeta.Executed)
		for _, s := range ts {
			r := rows[s.Values[0]]
			if r == nil {
				continue
			}
			sum := 0.0
			for _, v := range s.Points {
				sum += v
			}
			if sum > 0 {
				r.tags = append(r.tags, read.Group{Values: []string{s.Values[1]}, Count: sum})
			}
		}
	}

	var notices []read.Notice
	if pc, err := d.promClient(); err == nil {
		reqs, promql, err := pc.Requests(ctx, q.To, promVars(q))
		executed = append(executed, promql)
		if err != nil {
			return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
		}
		for v, n := range reqs {
			if r := rows[v]; r != nil {
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
				if r := rows[v]; r != nil {
					r.latency = l
				}
			}
		}
	} else {
		notices = append(notices, read.Notice{Severity: read.NoticeInfo,
			Text: "Prometheus is not configured (prometheus.url): requests and per_1k_requests are empty"})
	}

	out := make([]*versionRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].modelID != out[j].modelID {
			return out[i].modelID < out[j].modelID
		}
		if !out[i].firstSeen.Equal(out[j].firstSeen) {
			return out[i].firstSeen.Before(out[j].firstSeen)
		}
		return out[i].version < out[j].version
	})
	return out, read.Meta{Executed: strings.Join(executed, "\n"), Stats: meta.Stats, Notices: notices}, nil
}

// versionsFrame computes the statistics. Without an explicit baseline a
// version is compared with the previous version of the same model by
// first-seen time; the first version of a model has nothing to compare with.
func versionsFrame(rows []*versionRow, baseline string, withLatency bool, meta read.Meta) *data.Frame {
	n := len(rows)
	col := func() []float64 { return make([]float64, n) }
	modelID, version, verdict, topTags, baseName := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	requests, fb, pos, neg, rate, low, high, per1kReq, delta, pval, regressed, latency :=
		col(), col(), col(), col(), col(), col(), col(), col(), col(), col(), col(), col()
	byVersion := map[string]*versionRow{}
	for _, r := range rows {
		byVersion[r.version] = r
	}
	for i, r := range rows {
		modelID[i], version[i] = r.modelID, r.version
		requests[i], fb[i], pos[i], neg[i], latency[i] = r.requests, r.feedback, r.pos, r.neg, r.latency
		rate[i] = read.Ratio(r.neg, r.feedback)
		low[i], high[i] = stats.Wilson(r.neg, r.feedback)
		per1kReq[i] = per1k(r.feedback, r.requests)
		topTags[i] = formatTopTags(r.tags, 3)

		var b *versionRow
		switch {
		case baseline != "":
			b = byVersion[baseline]
		case i > 0 && rows[i-1].modelID == r.modelID:
			b = rows[i-1]
		}
		switch {
		case b == nil:
			delta[i], pval[i], verdict[i] = nan(), nan(), stats.InsufficientData
		case b == r:
			baseName[i] = b.version
			delta[i], pval[i], verdict[i] = 0, 1, stats.NoChange
		default:
			baseName[i] = b.version
			delta[i], pval[i], verdict[i] = stats.Compare(r.neg, r.feedback, b.neg, b.feedback)
		}
		if verdict[i] == stats.Regressed {
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
