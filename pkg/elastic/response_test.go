package elastic

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/feedbackloop/modelfeedback/pkg/frames"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// Elasticsearch answers (testdata/es, shaped as in the reference docs for
// 7.17 and 8.x) become the frames the plugin returns; the golden files pin
// every field, value, label and notice. Rewrite them with -update.
func TestResponsesToGoldenFrames(t *testing.T) {
	links := frames.Links{DatasourceUID: "feedback-uid", DatasourceName: "Feedback Loop", Source: "elasticsearch"}
	for _, tc := range []struct {
		name     string
		query    string
		interval time.Duration
		// answer names the body per request: the histogram of a grouped
		// timeseries comes after its group count.
		answer func(r recorded) string
	}{
		{"breakdown_by_version_share", `{"groupBy":["model_version"],"metric":"share"}`, time.Minute,
			func(recorded) string { return "es/breakdown_by_version_es8.json" }},
		{"breakdown_by_reason_tag_es7", `{"groupBy":["reason","tag"]}`, time.Minute,
			func(recorded) string { return "es/breakdown_by_reason_tag_es7.json" }},
		{"breakdown_total_as_int_numeric_key", `{"groupBy":["attributes.priority"],"metric":"share"}`, time.Minute,
			func(recorded) string { return "es/breakdown_total_as_int_numeric_key.json" }},
		{"breakdown_partial_shards", `{"groupBy":["sentiment"]}`, time.Minute,
			func(recorded) string { return "es/breakdown_partial_shards.json" }},
		{"breakdown_truncated_timed_out", `{"groupBy":["attributes.user"]}`, time.Minute,
			func(recorded) string { return "es/breakdown_sum_other.json" }},
		{"timeseries_by_version", `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour, histogramAfterGroups},
		{"timeseries_by_version_share", `{"queryType":"timeseries","groupBy":["model_version"],"metric":"share"}`, time.Hour, histogramAfterGroups},
		{"feedback_hits", `{"queryType":"feedback","limit":100}`, time.Minute,
			func(recorded) string { return "es/feedback_hits.json" }},
		// The showcase trace as the double answers it, with a document of
		// another writer on the same id (no kind) that must be skipped with
		// a notice; the frame is the trace's rows as a feedback frame, the
		// interaction included (the snapshot frame is built in pkg/plugin).
		{"trace_hits", `{"queryType":"trace","correlationId":"4bf92f3577b34da6a3ce929d0e0e4736"}`, time.Minute,
			func(recorded) string { return "es/trace_hits.json" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES(t, func(r recorded) (int, []byte) { return 200, readTestdata(t, tc.answer(r)) })
			c := newTestClient(t, es.URL)
			q := parseQuery(t, tc.query, tc.interval)
			var dr backend.DataResponse
			switch q.Type {
			case query.Breakdown:
				b, meta, err := c.Breakdown(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				dr.Frames = data.Frames{frames.BreakdownFrame(b, q.Metric == query.MetricShare, meta)}
			case query.Timeseries:
				series, totals, meta, err := c.Timeseries(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				grid := frames.NewGrid(q.From, q.To, q.Step())
				dr.Frames = frames.TimeseriesFrames(q.GroupBy, series, grid, q.Metric == query.MetricShare, totals, meta)
			case query.Feedback:
				entries, meta, err := c.Feedback(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				dr.Frames = data.Frames{frames.FeedbackFrame(entries, links, meta)}
			case query.Trace:
				entries, meta, err := c.Trace(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				dr.Frames = data.Frames{frames.FeedbackFrame(entries, links, meta)}
			default:
				t.Fatalf("no frames for query type %s", q.Type)
			}
			experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden"), tc.name, &dr, *update)
		})
	}
}

func histogramAfterGroups(r recorded) string {
	if strings.Contains(string(r.Body), "date_histogram") {
		return "es/timeseries_by_version.json"
	}
	return "es/timeseries_groups.json"
}

// hits.total is an object since 7.0 and a bare number with
// rest_total_hits_as_int; both must read the same.
func TestHitsTotalShapes(t *testing.T) {
	for body, want := range map[string]int64{
		`{"hits":{"total":{"value":140,"relation":"eq"}}}`:    140,
		`{"hits":{"total":{"value":10000,"relation":"gte"}}}`: 10000,
		`{"hits":{"total":140}}`:                              140,
		`{"hits":{"total":null}}`:                             0,
		`{"hits":{}}`:                                         0,
	} {
		var r searchResponse
		if err := jsonUnmarshal(body, &r); err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if r.Hits.Total.Value != want {
			t.Errorf("%s: total %d, want %d", body, r.Hits.Total.Value, want)
		}
	}
}

// An empty range gives no series, as Loki answers an empty matrix, and no
// second request when there is no group to histogram.
func TestTimeseriesWithoutData(t *testing.T) {
	es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
	c := newTestClient(t, es.URL)
	for _, js := range []string{`{"queryType":"timeseries","groupBy":["model_version"]}`, `{"queryType":"timeseries"}`} {
		series, totals, _, err := c.Timeseries(context.Background(), parseQuery(t, js, time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(series) != 0 || len(totals) != 0 {
			t.Errorf("%s: %d series, %d totals, want none", js, len(series), len(totals))
		}
	}
	if n := len(es.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (one each)", n)
	}
}

// A histogram that would exceed search.max_buckets gets a larger step (a
// multiple of the asked one) and a notice, instead of a refused search.
func TestTimeseriesStepClamp(t *testing.T) {
	es := newFakeES(t, func(r recorded) (int, []byte) { return 200, readTestdata(t, histogramAfterGroups(r)) })
	c := newTestClient(t, es.URL)
	c.maxBuckets = 12 // 7 hourly steps × (1 + 2 groups) = 21 buckets do not fit
	q := parseQuery(t, `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour)
	_, _, meta, err := c.Timeseries(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	hist := es.requests()[1].Body
	if !strings.Contains(string(hist), `"fixed_interval":"7200000ms"`) {
		t.Errorf("step not raised to 2h: %s", hist)
	}
	if len(meta.Notices) != 1 || !strings.Contains(meta.Notices[0].Text, "raised from 1h0m0s to 2h0m0s") {
		t.Errorf("notices %+v", meta.Notices)
	}
	if meta.Step != 2*time.Hour {
		t.Errorf("meta.Step %s, want 2h: the frames must be built on the raised step", meta.Step)
	}
	c.maxBuckets = 2
	if _, _, _, err := c.Timeseries(context.Background(), q); err == nil || !backend.IsDownstreamError(err) {
		t.Errorf("err %v, want a downstream error when even one step cannot hold the groups", err)
	}
}
