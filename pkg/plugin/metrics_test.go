package plugin_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
	"github.com/feedbackloop/modelfeedback/pkg/prom/promtest"
	"github.com/feedbackloop/modelfeedback/pkg/stats"
)

// Request counters loaded into a real Prometheus: linear counters sampled
// every 15 s from 05:00 to 13:00 on the corpus day, so the requests in any
// window are exactly rate × seconds, computed here from the samples alone.
// tax-assistant has feedback but no request metric; 2026-11-24.4 has
// requests but no feedback: both must show, not vanish.
var requestRates = map[string]float64{
	"2026-11-01.1": 0.5,
	"2026-11-10.2": 1,
	"2026-11-18.3": 0.25,
	"2026-11-24.4": 0.125,
}

var (
	promOnce   sync.Once
	promServer *promtest.Server
	promSeries map[string]promtest.Series
)

func startProm(t *testing.T) (*promtest.Server, map[string]promtest.Series) {
	promOnce.Do(func() {
		promSeries = map[string]promtest.Series{}
		var all []promtest.Series
		for v, rate := range requestRates {
			s := promtest.Counter("llm_requests_total", map[string]string{"model_id": "support-bot", "model_version": v},
				winFrom.Add(-time.Hour), winTo.Add(time.Hour), 15*time.Second, rate)
			promSeries[v] = s
			all = append(all, s)
		}
		promServer = promtest.Start(&onceT{t}, all)
	})
	if promServer == nil {
		t.Fatal("prometheus did not start")
	}
	return promServer, promSeries
}

// onceT keeps the server alive beyond the first test that starts it: the
// process is killed when the test binary exits (Cleanup of the first test
// would stop it for the others).
type onceT struct{ *testing.T }

func (o *onceT) Cleanup(f func()) { sharedCleanups = append(sharedCleanups, f) }
func (o *onceT) TempDir() string {
	d, err := os.MkdirTemp("", "promtest")
	if err != nil {
		o.Fatal(err)
	}
	sharedCleanups = append(sharedCleanups, func() { _ = os.RemoveAll(d) })
	return d
}

var sharedCleanups []func()

func requestsIn(s promtest.Series, from, to time.Time) float64 {
	return s.ValueAt(to) - s.ValueAt(from)
}

// truthCounts reads expected.json (computed from events.jsonl in plain
// Python) for an instant fixture: label values joined by "|" → value.
func truthCounts(t *testing.T, fixture string, labels ...string) map[string]float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(lokitest.Dir(), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var truth struct {
		Series []struct {
			Metric map[string]string `json:"metric"`
			Value  []float64         `json:"value"`
			Values [][]float64       `json:"values"`
		} `json:"series"`
	}
	if err := json.Unmarshal(all[fixture], &truth); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, s := range truth.Series {
		parts := make([]string, len(labels))
		for i, l := range labels {
			parts[i] = s.Metric[l]
		}
		if s.Value != nil {
			out[strings.Join(parts, "|")] = s.Value[1]
		}
		for _, p := range s.Values {
			out[strings.Join(append(parts, time.Unix(int64(p[0]), 0).UTC().Format("15:04")), "|")] = p[1]
		}
	}
	return out
}

func newDS(t *testing.T, jsonData string) *plugin.Datasource {
	t.Helper()
	settingsVersion++
	inst, err := plugin.NewDatasource(context.Background(), backend.DataSourceInstanceSettings{
		UID: "fl-uid", Name: "Feedback Loop", JSONData: json.RawMessage(jsonData), Updated: time.Unix(settingsVersion, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*plugin.Datasource)
}

func run(t *testing.T, ds *plugin.Datasource, js string, interval time.Duration) backend.DataResponse {
	t.Helper()
	q := target("A", js, interval)
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{q}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Responses["A"]
}

func column(t *testing.T, f *data.Frame, name string) *data.Field {
	t.Helper()
	fd, idx := f.FieldByName(name)
	if idx < 0 {
		t.Fatalf("frame %q has no field %q", f.Name, name)
	}
	return fd
}

func rowsBy(t *testing.T, f *data.Frame, key string) map[string]int {
	out := map[string]int{}
	k := column(t, f, key)
	for i := 0; i < f.Rows(); i++ {
		out[k.At(i).(string)] = i
	}
	return out
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func TestPer1kRequestsBreakdownJoinsRealPrometheus(t *testing.T) {
	srv := replayServer(t)
	prom, series := startProm(t)
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"},"prometheus":{"url":"`+prom.URL+`"}}`)
	res := run(t, ds, `{"queryType":"breakdown","groupBy":["model_version"],"metric":"per_1k_requests"}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	if !strings.Contains(f.Meta.ExecutedQueryString, "sum by (model_version) (increase(llm_requests_total[6h]))") {
		t.Errorf("executed query does not show the PromQL: %s", f.Meta.ExecutedQueryString)
	}
	feedback := truthCounts(t, "metric_count_by_version_instant", "model_version")
	rows := rowsBy(t, f, "model_version")
	for _, v := range []string{"2026-11-01.1", "2026-11-10.2", "2026-11-18.3", "2026-11-05.1", "2026-11-24.4"} {
		i, ok := rows[v]
		if !ok {
			t.Errorf("version %s missing: versions with feedback but no requests, or requests but no feedback, must show", v)
			continue
		}
		wantReq := math.NaN()
		if s, ok := series[v]; ok {
			wantReq = requestsIn(s, winFrom, winTo)
		}
		wantPer1k := math.NaN()
		if !math.IsNaN(wantReq) {
			wantPer1k = feedback[v] / wantReq * 1000
		}
		gotCount := column(t, f, "count").At(i).(float64)
		gotReq := column(t, f, "requests").At(i).(float64)
		gotPer1k := column(t, f, "per_1k_requests").At(i).(float64)
		if gotCount != feedback[v] || !near(gotReq, wantReq) || !near(gotPer1k, wantPer1k) {
			t.Errorf("%s: count %v requests %v per_1k %v; want %v %v %v", v, gotCount, gotReq, gotPer1k, feedback[v], wantReq, wantPer1k)
		}
	}
}

func TestPer1kRequestsSeriesOnAlignedSteps(t *testing.T) {
	srv := replayServer(t)
	prom, series := startProm(t)
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"},"prometheus":{"url":"`+prom.URL+`"}}`)
	res := run(t, ds, `{"queryType":"timeseries","groupBy":["model_version"],"metric":"per_1k_requests"}`, time.Hour)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	counts := truthCounts(t, "metric_count_by_version_range", "model_version")
	seen := map[string]bool{}
	for _, f := range res.Frames {
		v := f.Fields[1].Labels["model_version"]
		seen[v] = true
		for i := 0; i < f.Rows(); i++ {
			ts := f.Fields[0].At(i).(time.Time)
			got := f.Fields[1].At(i).(float64)
			want := math.NaN()
			if s, ok := series[v]; ok {
				// Feedback of (t-1h, t] over requests of the same hour.
				want = counts[v+"|"+ts.Format("15:04")] / requestsIn(s, ts.Add(-time.Hour), ts) * 1000
			}
			if !near(got, want) {
				t.Errorf("%s at %s: %v, want %v", v, ts.Format("15:04"), got, want)
			}
		}
	}
	for _, v := range []string{"2026-11-05.1", "2026-11-24.4", "2026-11-10.2"} {
		if !seen[v] {
			t.Errorf("series for %s missing", v)
		}
	}
}

func TestNegativeRateFromBothSentimentCounts(t *testing.T) {
	srv := replayServer(t)
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"}}`)
	res := run(t, ds, `{"queryType":"breakdown","groupBy":["model_version"],"metric":"negative_rate"}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	truth := truthCounts(t, "metric_count_by_version_sentiment_instant", "model_version", "sentiment")
	rows := rowsBy(t, f, "model_version")
	for _, v := range []string{"2026-11-01.1", "2026-11-10.2", "2026-11-18.3", "2026-11-05.1"} {
		all := truth[v+"|positive"] + truth[v+"|negative"] + truth[v+"|neutral"]
		i := rows[v]
		if got := column(t, f, "negative_rate").At(i).(float64); !near(got, truth[v+"|negative"]/all) {
			t.Errorf("%s negative_rate %v, want %v", v, got, truth[v+"|negative"]/all)
		}
		if got := column(t, f, "count").At(i).(float64); got != all {
			t.Errorf("%s count %v, want %v", v, got, all)
		}
	}
	// v2, the regressed version of the corpus: 32 of 50.
	if got := column(t, f, "negative_rate").At(rows["2026-11-10.2"]).(float64); got != 0.64 {
		t.Errorf("v2 negative rate %v, want 0.64", got)
	}
	// The same as an alertable series: steps without feedback are gaps.
	series := run(t, ds, `{"queryType":"timeseries","groupBy":["model_version"],"metric":"negative_rate"}`, 10*time.Minute)
	if series.Error != nil {
		t.Fatal(series.Error)
	}
	if len(series.Frames) != 4 || series.Frames[0].Meta.Type != data.FrameTypeTimeSeriesMulti {
		t.Fatalf("%d frames", len(series.Frames))
	}
}

func TestVersionsVerdictsAndStatistics(t *testing.T) {
	srv := replayServer(t)
	prom, series := startProm(t)
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"},"prometheus":{"url":"`+prom.URL+`"}}`)
	res := run(t, ds, `{"queryType":"versions","tags":`+allTagsJSON+`}`, time.Hour)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if missed := srv.Missed(); len(missed) > 0 {
		t.Fatalf("unrecorded Loki requests:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
	}
	f := res.Frames[0]
	if f.Meta.Type != data.FrameTypeNumericLong {
		t.Fatalf("versions frame type %v, want numeric-long (alertable)", f.Meta.Type)
	}
	truth := truthCounts(t, "metric_count_by_version_sentiment_instant", "model_version", "sentiment")
	rows := rowsBy(t, f, "model_version")
	if len(rows) != 4 {
		t.Fatalf("%d versions: %v", len(rows), rows)
	}
	for v, i := range rows {
		neg := truth[v+"|negative"]
		all := truth[v+"|positive"] + neg + truth[v+"|neutral"]
		low, high := stats.Wilson(neg, all)
		checks := map[string]float64{
			"feedback": all, "negative": neg, "positive": truth[v+"|positive"],
			"negative_rate": neg / all, "negative_rate_low": low, "negative_rate_high": high,
		}
		if s, ok := series[v]; ok {
			req := requestsIn(s, winFrom, winTo)
			checks["requests"] = req
			checks["per_1k_requests"] = all / req * 1000
		} else {
			checks["requests"] = math.NaN()
		}
		for name, want := range checks {
			if got := column(t, f, name).At(i).(float64); !near(got, want) {
				t.Errorf("%s %s = %v, want %v", v, name, got, want)
			}
		}
		// Every version of the corpus has fewer than 30 feedback events.
		if got := column(t, f, "verdict").At(i).(string); got != stats.InsufficientData {
			t.Errorf("%s verdict %q, want insufficient_data (below the minimum sample of %d)", v, got, stats.MinSample)
		}
	}
	mid := column(t, f, "model_id")
	for v, i := range rows {
		want := "support-bot"
		if v == "2026-11-05.1" {
			want = "tax-assistant"
		}
		if mid.At(i) != want {
			t.Errorf("%s model_id %v", v, mid.At(i))
		}
	}
	// Baselines: the previous version of the same model by first-seen time;
	// tax-assistant's only version has none.
	base := column(t, f, "baseline")
	if got := base.At(rows["2026-11-18.3"]); got != "2026-11-10.2" {
		t.Errorf("v3 baseline %v, want v2", got)
	}
	if got := base.At(rows["2026-11-05.1"]); got != "" {
		t.Errorf("tax-assistant baseline %v, want none", got)
	}
	if tags := column(t, f, "top_tags").At(rows["2026-11-10.2"]).(string); !strings.HasPrefix(tags, "hallucination") && !strings.HasPrefix(tags, "factually_incorrect") {
		t.Errorf("v2 top tags %q", tags)
	}
	// p-value of v3 against v2 is the two-proportion test of their counts.
	_, wantP := stats.TwoProportion(truth["2026-11-18.3|negative"], 23, truth["2026-11-10.2|negative"], 50)
	if got := column(t, f, "p_value").At(rows["2026-11-18.3"]).(float64); !near(got, wantP) {
		t.Errorf("v3 p_value %v, want %v", got, wantP)
	}
}

func TestMetricErrorsNameTheSetting(t *testing.T) {
	srv := replayServer(t)
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"}}`)
	res := run(t, ds, `{"queryType":"breakdown","groupBy":["model_version"],"metric":"per_1k_requests"}`, time.Minute)
	if res.Error == nil || !strings.Contains(res.Error.Error(), "prometheus.url") || res.ErrorSource != backend.ErrorSourceDownstream {
		t.Fatalf("got %v (%s)", res.Error, res.ErrorSource)
	}
	res = run(t, ds, `{"queryType":"breakdown","groupBy":["sentiment"],"metric":"per_1k_requests"}`, time.Minute)
	if res.Error == nil || !strings.Contains(res.Error.Error(), "add model_version to groupBy") {
		t.Fatalf("got %v", res.Error)
	}
	res = run(t, ds, `{"queryType":"breakdown","sentiment":"negative","metric":"negative_rate"}`, time.Minute)
	if res.Error == nil || !strings.Contains(res.Error.Error(), "remove the sentiment filter") {
		t.Fatalf("got %v", res.Error)
	}
}

// The execution logs are the application's own: trace.executionLogsQuery
// with the correlation id put inside its string literal.
func TestTraceExecutionLogs(t *testing.T) {
	trace, err := os.ReadFile(filepath.Join(lokitest.Dir(), "logs_correlation_trace.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(q, `{service_name="model-feedback"}`) {
			_, _ = w.Write(trace)
			return
		}
		gotQuery = q
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"streams","result":[{"stream":{"app":"chatbot"},"values":[["1795162620250000000","b: answered"],["1795162620150000000","a: request 4bf92f3577b34da6a3ce929d0e0e4736"]]}],"stats":{}}}`))
	}))
	defer srv.Close()
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"},"trace":{"executionLogsQuery":"{app=\"chatbot\"} |= \"${correlation_id}\""}}`)
	res := run(t, ds, `{"queryType":"trace","correlationId":"4bf92f3577b34da6a3ce929d0e0e4736"}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if gotQuery != `{app="chatbot"} |= "4bf92f3577b34da6a3ce929d0e0e4736"` {
		t.Fatalf("execution logs query %q", gotQuery)
	}
	logs := res.Frames[2]
	if logs.Name != "logs" || logs.Rows() != 2 || logs.Fields[1].At(0) != "a: request 4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("logs frame %v rows %d", logs.Name, logs.Rows())
	}
	// An id that could break out of the literal is refused before any query.
	bad := run(t, ds, `{"queryType":"trace","correlationId":"x\" |= \"y"}`, time.Minute)
	if bad.Error == nil || !strings.Contains(bad.Error.Error(), "correlationId") {
		t.Fatalf("hostile id: %v", bad.Error)
	}
}

// Grafana's alert evaluation (header FromAlert) needs one numeric column per
// table: breakdowns keep the metric's column, versions keep regressed.
func TestAlertEvaluationGetsOneNumberPerRow(t *testing.T) {
	srv := replayServer(t)
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"}}`)
	ask := func(js string, interval time.Duration) *data.Frame {
		t.Helper()
		resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{
			Queries: []backend.DataQuery{target("A", js, interval)}, Headers: map[string]string{"FromAlert": "true"}})
		if err != nil {
			t.Fatal(err)
		}
		if res := resp.Responses["A"]; res.Error != nil {
			t.Fatal(res.Error)
		}
		return resp.Responses["A"].Frames[0]
	}
	names := func(f *data.Frame) string {
		var n []string
		for _, fd := range f.Fields {
			n = append(n, fd.Name)
		}
		return strings.Join(n, ",")
	}
	if got := names(ask(`{"queryType":"breakdown","groupBy":["model_version"],"metric":"negative_rate"}`, time.Minute)); got != "model_version,negative_rate" {
		t.Errorf("negative_rate for alerting: %s", got)
	}
	if got := names(ask(`{"queryType":"breakdown","groupBy":["model_version","sentiment"],"metric":"share"}`, time.Minute)); got != "model_version,sentiment,share" {
		t.Errorf("share for alerting: %s", got)
	}
	srv.Reset()
	if got := names(ask(`{"queryType":"versions","tags":`+allTagsJSON+`}`, time.Hour)); got != "model_id,model_version,regressed" {
		t.Errorf("versions for alerting: %s", got)
	}
	// The verdict needs no top tags: the per-tag query is not sent.
	for _, r := range srv.Requests() {
		if strings.Contains(r, "label_replace") || strings.Contains(lokitest.Decode(r), `json tags="tags"`) {
			t.Errorf("versions for alerting ran the per-tag query: %s", lokitest.Decode(r))
		}
	}
	// A panel still gets every column.
	if got := names(run(t, ds, `{"queryType":"breakdown","groupBy":["model_version"],"metric":"negative_rate"}`, time.Minute).Frames[0]); got != "model_version,count,negative,negative_rate" {
		t.Errorf("panel: %s", got)
	}
}

// latencyQuery adds a latency_p95 column per version. Any PromQL giving one
// value per model_version will do for the test: the request rate per second
// stands in, whose value is known from the counters.
func TestVersionsLatencyColumn(t *testing.T) {
	srv := replayServer(t)
	prom, _ := startProm(t)
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"},"prometheus":{"url":"`+prom.URL+`",`+
		`"latencyQuery":"sum by (model_version) (rate(llm_requests_total{model_version=~\"$model_version\"}[$__range]))"}}`)
	res := run(t, ds, `{"queryType":"versions","tags":`+allTagsJSON+`}`, time.Hour)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	rows := rowsBy(t, f, "model_version")
	lat := column(t, f, "latency_p95")
	for v, i := range rows {
		want, ok := requestRates[v]
		if !ok {
			want = math.NaN() // tax-assistant has no metric
		}
		if got := lat.At(i).(float64); !near(got, want) {
			t.Errorf("%s latency_p95 %v, want %v", v, got, want)
		}
	}
	if !strings.Contains(f.Meta.ExecutedQueryString, `rate(llm_requests_total{model_version=~".+"}[6h])`) {
		t.Errorf("latency PromQL not shown: %s", f.Meta.ExecutedQueryString)
	}
}

// A version filter must hold on the Prometheus side too: requests of a
// version the query filtered out do not bring it back as a row or series.
// (The default requestsQuery does not use $model_version at all.)
func TestPer1kRespectsVersionFilters(t *testing.T) {
	prom, _ := startProm(t)
	// Loki answers nothing: only Prometheus could add rows.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		kind := "vector"
		if r.URL.Path == "/loki/api/v1/query_range" {
			kind = "matrix"
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"` + kind + `","result":[],"stats":{}}}`))
	}))
	defer srv.Close()
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"},"prometheus":{"url":"`+prom.URL+`"}}`)
	cases := map[string][]string{
		`[{"key":"model_version","operator":"=~","value":"2026-11-(10|24)\\..*"}]`: {"2026-11-10.2", "2026-11-24.4"},
		`[{"key":"model_version","operator":"!=","value":"2026-11-24.4"}]`:         {"2026-11-01.1", "2026-11-10.2", "2026-11-18.3"},
		`[{"key":"model_version","operator":"=","value":"2026-11-18.3"}]`:          {"2026-11-18.3"},
	}
	for filters, want := range cases {
		res := run(t, ds, `{"queryType":"breakdown","groupBy":["model_version"],"metric":"per_1k_requests","filters":`+filters+`}`, time.Minute)
		if res.Error != nil {
			t.Fatal(res.Error)
		}
		var got []string
		for v := range rowsBy(t, res.Frames[0], "model_version") {
			got = append(got, v)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("filters %s: rows %v, want %v", filters, got, want)
		}
		series := run(t, ds, `{"queryType":"timeseries","groupBy":["model_version"],"metric":"per_1k_requests","filters":`+filters+`}`, time.Hour)
		if series.Error != nil {
			t.Fatal(series.Error)
		}
		if len(series.Frames) != len(want) {
			t.Errorf("filters %s: %d series, want %d", filters, len(series.Frames), len(want))
		}
	}
}
