package elastic_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// Elasticsearch answers (testdata/es, shaped as in the reference docs for
// 7.17 and 8.x) become the frames the plugin returns; the golden files pin
// every field, value, label and notice. Rewrite them with -update.
func TestResponsesToGoldenFrames(t *testing.T) {
	links := plugin.Links{DatasourceUID: "feedback-uid", DatasourceName: "Feedback Loop", Source: "elasticsearch"}
	for _, tc := range []struct {
		name     string
		query    string
		interval time.Duration
		// answer names the body per request: the histogram of a grouped
		// timeseries comes after its group count.
		answer func(r elastic.Recorded) string
	}{
		{"breakdown_by_version_share", `{"groupBy":["model_version"],"metric":"share"}`, time.Minute,
			func(elastic.Recorded) string { return "es/breakdown_by_version_es8.json" }},
		{"breakdown_by_reason_tag_es7", `{"groupBy":["reason","tag"]}`, time.Minute,
			func(elastic.Recorded) string { return "es/breakdown_by_reason_tag_es7.json" }},
		{"breakdown_total_as_int_numeric_key", `{"groupBy":["attributes.priority"],"metric":"share"}`, time.Minute,
			func(elastic.Recorded) string { return "es/breakdown_total_as_int_numeric_key.json" }},
		{"breakdown_partial_shards", `{"groupBy":["sentiment"]}`, time.Minute,
			func(elastic.Recorded) string { return "es/breakdown_partial_shards.json" }},
		{"breakdown_truncated_timed_out", `{"groupBy":["attributes.user"]}`, time.Minute,
			func(elastic.Recorded) string { return "es/breakdown_sum_other.json" }},
		{"timeseries_by_version", `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour, elastic.HistogramAfterGroups},
		{"timeseries_by_version_share", `{"queryType":"timeseries","groupBy":["model_version"],"metric":"share"}`, time.Hour, elastic.HistogramAfterGroups},
		{"feedback_hits", `{"queryType":"feedback","limit":100}`, time.Minute,
			func(elastic.Recorded) string { return "es/feedback_hits.json" }},
		// The showcase trace as the double answers it, with a document of
		// another writer on the same id (no kind) that must be skipped with
		// a notice; the frame is the trace's rows as a feedback frame, the
		// interaction included (the snapshot frame is built in pkg/plugin).
		{"trace_hits", `{"queryType":"trace","correlationId":"4bf92f3577b34da6a3ce929d0e0e4736"}`, time.Minute,
			func(elastic.Recorded) string { return "es/trace_hits.json" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := elastic.NewFakeES(t, func(r elastic.Recorded) (int, []byte) { return 200, elastic.ReadTestdata(t, tc.answer(r)) })
			c := elastic.NewTestClient(t, es.URL)
			q := elastic.ParseQuery(t, tc.query, tc.interval)
			var dr backend.DataResponse
			switch q.Type {
			case query.Breakdown:
				b, meta, err := c.Breakdown(context.Background(), q.Query)
				if err != nil {
					t.Fatal(err)
				}
				dr.Frames = data.Frames{plugin.BreakdownFrame(b, q.Metric == query.MetricShare, meta)}
			case query.Timeseries:
				series, totals, meta, err := c.Timeseries(context.Background(), q.Query)
				if err != nil {
					t.Fatal(err)
				}
				grid := read.NewGrid(q.From, q.To, q.Step())
				dr.Frames = plugin.TimeseriesFrames(q.GroupBy, series, grid, q.Metric == query.MetricShare, totals, meta)
			case query.Feedback:
				entries, meta, err := c.Feedback(context.Background(), q.Query)
				if err != nil {
					t.Fatal(err)
				}
				dr.Frames = data.Frames{plugin.FeedbackFrame(entries, links, meta)}
			case query.Trace:
				entries, meta, err := c.Trace(context.Background(), q.Query)
				if err != nil {
					t.Fatal(err)
				}
				dr.Frames = data.Frames{plugin.FeedbackFrame(entries, links, meta)}
			default:
				t.Fatalf("no frames for query type %s", q.Type)
			}
			experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden"), tc.name, &dr, *elastic.Update)
		})
	}
}
