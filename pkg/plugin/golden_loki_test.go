package plugin

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// The corpus window of the recorded fixtures.
var (
	winFrom = time.Unix(0, 1795154400000000000).UTC()
	winTo   = time.Unix(0, 1795176000000000000).UTC()
)

func mustQuery(t testing.TB, js string, interval time.Duration) query.Query {
	t.Helper()
	q, err := query.Parse(backend.DataQuery{RefID: "A", JSON: json.RawMessage(js), Interval: interval,
		TimeRange: backend.TimeRange{From: winFrom, To: winTo}}, query.SourceLoki)
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return q
}

func replay(t testing.TB) (*lokitest.Server, *loki.Client) {
	t.Helper()
	srv, err := lokitest.New(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := loki.New(models.Loki{URL: srv.URL, Selector: models.DefaultLokiSelector})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// answer runs q through the query type's handler, as a panel would.
func answer(t *testing.T, c read.Reader, q query.Query) backend.DataResponse {
	t.Helper()
	d := &Datasource{settings: &models.Settings{UID: "fl-uid", Name: "Feedback Loop"}}
	var res backend.DataResponse
	switch q.Type {
	case query.Breakdown:
		res = d.breakdown(context.Background(), q, c)
	case query.Timeseries:
		res = d.timeseries(context.Background(), q, c)
	case query.Feedback:
		res = d.feedback(context.Background(), q, c)
	default:
		t.Fatalf("no answer for %s", q.Type)
	}
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	return res
}

var allTags = `["hallucination","factually_incorrect","formatting_error","latency","bias","offensive","harmful","not_helpful","other","outdated_rates","biased_tone"]`

// goldenCases are queries whose LogQL is exactly a recorded request, so the
// frames come from real Loki answers.
var goldenCases = []struct {
	name     string
	fixture  string
	query    string
	interval time.Duration
}{
	{"breakdown_by_version", "metric_count_by_version_instant", `{"queryType":"breakdown","groupBy":["model_version"]}`, time.Minute},
	{"breakdown_by_version_sentiment_share", "metric_count_by_version_sentiment_instant", `{"queryType":"breakdown","groupBy":["model_version","sentiment"],"metric":"share"}`, time.Minute},
	{"breakdown_by_tag", "metric_count_by_tag_instant", `{"queryType":"breakdown","groupBy":["tag"],"tags":` + allTags + `}`, time.Minute},
	{"breakdown_by_reason_nonempty", "metric_count_by_reason_instant", `{"queryType":"breakdown","groupBy":["reason"],"filters":[{"key":"reason","operator":"!=","value":""}]}`, time.Minute},
	{"breakdown_by_domain", "metric_count_by_domain_instant", `{"queryType":"breakdown","groupBy":["attributes.domain"]}`, time.Minute},
	{"timeseries_by_version_1h", "metric_count_by_version_range", `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour},
	{"timeseries_by_version_sentiment_10m", "metric_count_by_version_sentiment_range", `{"queryType":"timeseries","groupBy":["model_version","sentiment"]}`, 10 * time.Minute},
	{"timeseries_by_version_tag_1h", "metric_count_by_version_tag_range", `{"queryType":"timeseries","groupBy":["model_version","tag"],"tags":` + allTags + `}`, time.Hour},
	{"timeseries_by_reason_1h", "metric_count_by_reason_range", `{"queryType":"timeseries","groupBy":["reason"]}`, time.Hour},
	{"feedback_newest_100", "logs_feedback_backward", `{"queryType":"feedback"}`, time.Minute},
	{"feedback_limit_5", "logs_limit_5", `{"queryType":"feedback","limit":5}`, time.Minute},
	{"feedback_tags_any", "logs_tags_any", `{"queryType":"feedback","tags":["hallucination","bias"]}`, time.Minute},
	{"feedback_search", "logs_comment_search_ci_dotall", `{"queryType":"feedback","search":"refund"}`, time.Minute},
	{"feedback_empty", "logs_empty", `{"queryType":"feedback","filters":[{"key":"model_version","operator":"=","value":"does-not-exist"}]}`, time.Minute},
}

func TestLokiGoldenFrames(t *testing.T) {
	srv, c := replay(t)
	manifest := loadManifest(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			q := mustQuery(t, tc.query, tc.interval)
			res := answer(t, c, q)
			if missed := srv.Missed(); len(missed) > 0 {
				t.Fatalf("requests without a recorded answer (the LogQL or parameters differ from the recording):\n%s", lokitest.Decode(strings.Join(missed, "\n")))
			}
			want := manifest[tc.fixture]
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0] != want {
				t.Fatalf("sent %v\nwant exactly the recorded request %s", reqs, want)
			}
			experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden", "loki"), tc.name, &res, *update)
		})
	}
}

func loadManifest(t testing.TB) map[string]string {
	t.Helper()
	m, err := lokitest.RecordedRequests(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expected.json holds truths computed from events.jsonl in plain Python, no
// LogQL engine: the frames must agree with them, not just with themselves.
type truth struct {
	Type   string `json:"type"`
	Series []struct {
		Metric map[string]string `json:"metric"`
		Value  []float64         `json:"value"`
		Values [][]float64       `json:"values"`
	} `json:"series"`
	Entries []string `json:"timestamps"`
}

func loadTruths(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(lokitest.Dir(), "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLokiFramesAgreeWithCorpusTruths(t *testing.T) {
	_, c := replay(t)
	truths := loadTruths(t)
	for _, tc := range goldenCases {
		raw, ok := truths[tc.fixture]
		if !ok {
			continue
		}
		var tr truth
		if err := json.Unmarshal(raw, &tr); err != nil {
			t.Fatal(err)
		}
		t.Run(tc.name, func(t *testing.T) {
			q := mustQuery(t, tc.query, tc.interval)
			res := answer(t, c, q)
			switch q.Type {
			case query.Breakdown:
				got := breakdownRows(t, res.Frames[0], q.GroupBy)
				if len(got) != len(tr.Series) {
					t.Fatalf("%d rows, truth has %d series: %v", len(got), len(tr.Series), got)
				}
				for _, s := range tr.Series {
					k := seriesKey(q.GroupBy, s.Metric)
					if got[k] != s.Value[1] {
						t.Errorf("%s: count %v, truth %v", k, got[k], s.Value[1])
					}
				}
			case query.Timeseries:
				got := seriesPoints(res.Frames, q.GroupBy)
				if len(got) != len(tr.Series) {
					t.Fatalf("%d series, truth has %d", len(got), len(tr.Series))
				}
				for _, s := range tr.Series {
					k := seriesKey(q.GroupBy, s.Metric)
					pts := got[k]
					nonzero := 0
					for _, v := range pts {
						if v != 0 {
							nonzero++
						}
					}
					if nonzero != len(s.Values) {
						t.Errorf("%s: %d non-zero points, truth has %d", k, nonzero, len(s.Values))
					}
					for _, p := range s.Values {
						if pts[int64(p[0]*1000)] != p[1] {
							t.Errorf("%s at %v: %v, truth %v", k, p[0], pts[int64(p[0]*1000)], p[1])
						}
					}
				}
			case query.Feedback:
				f := res.Frames[0]
				if f.Rows() != len(tr.Entries) {
					t.Fatalf("%d rows, truth has %d entries", f.Rows(), len(tr.Entries))
				}
				for i, ns := range tr.Entries {
					want, _ := strconv.ParseInt(ns, 10, 64)
					if got := f.Fields[0].At(i).(time.Time).UnixNano(); got != want {
						t.Errorf("row %d: timestamp %d, truth %d (newest first)", i, got, want)
					}
				}
			}
		})
	}
}

func seriesKey(dims []string, labels map[string]string) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		fd, _ := storage.LookupField(d, false)
		name := fd.LokiLabel
		if d == "tag" {
			name = "tag"
		}
		parts[i] = labels[name]
	}
	return strings.Join(parts, "|")
}

func breakdownRows(t *testing.T, f *data.Frame, dims []string) map[string]float64 {
	out := map[string]float64{}
	for r := 0; r < f.Rows(); r++ {
		parts := make([]string, len(dims))
		for i := range dims {
			parts[i] = f.Fields[i].At(r).(string)
		}
		out[strings.Join(parts, "|")] = f.Fields[len(dims)].At(r).(float64)
	}
	return out
}

func seriesPoints(fs data.Frames, dims []string) map[string]map[int64]float64 {
	out := map[string]map[int64]float64{}
	for _, f := range fs {
		lbl := f.Fields[1].Labels
		parts := make([]string, len(dims))
		for i, d := range dims {
			parts[i] = lbl[d]
		}
		pts := map[int64]float64{}
		for r := 0; r < f.Rows(); r++ {
			pts[f.Fields[0].At(r).(time.Time).UnixMilli()] = f.Fields[1].At(r).(float64)
		}
		out[strings.Join(parts, "|")] = pts
	}
	return out
}

func TestLokiShareSumsToOneWithoutTags(t *testing.T) {
	_, c := replay(t)
	res := answer(t, c, mustQuery(t, `{"queryType":"breakdown","groupBy":["model_version","sentiment"],"metric":"share"}`, time.Minute))
	f := res.Frames[0]
	share, _ := f.FieldByName("share")
	sum := 0.0
	for i := 0; i < share.Len(); i++ {
		sum += share.At(i).(float64)
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Fatalf("shares sum to %v", sum)
	}
	// 140 feedback events, 32 negative on v2 (README of the corpus).
	for r := 0; r < f.Rows(); r++ {
		if f.Fields[0].At(r) == "2026-11-10.2" && f.Fields[1].At(r) == "negative" {
			if got := f.Fields[2].At(r).(float64); got != 32 {
				t.Fatalf("v2 negative = %v, want 32", got)
			}
			if got := share.At(r).(float64); math.Abs(got-32.0/140) > 1e-12 {
				t.Fatalf("v2 negative share = %v, want 32/140", got)
			}
		}
	}
}
