package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// versionsAnswers are the three answers a Loki holding 300,000 feedback
// events over 24 h gives the versions plan: computed here from generated
// events exactly as Loki aggregates them (counts per model, version and
// sentiment; first-seen per model, version and released_at; counts per
// version and tags array).
type versionsAnswers struct {
	counts, releases, tags []byte
}

func vector(series []map[string]string, values []float64, t time.Time) []byte {
	type sample struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	res := make([]sample, len(series))
	for i := range series {
		res[i] = sample{series[i], [2]any{float64(t.Unix()), strconv.FormatFloat(values[i], 'f', -1, 64)}}
	}
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": res,
		"stats": map[string]any{"summary": map[string]float64{"execTime": 0.3}}}})
	return b
}

func genVersionsAnswers(n int, end time.Time) versionsAnswers {
	rng := rand.New(rand.NewSource(20261120))
	type mv struct{ model, version, released string }
	var vers []mv
	for m, model := range []string{"support-bot", "tax-assistant", "writing-assistant"} {
		for v := 0; v < 4; v++ {
			rel := ""
			if v%2 == 0 {
				rel = time.Date(2026, 11, 1+5*v+m, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
			}
			vers = append(vers, mv{model, fmt.Sprintf("2026-11-%02d.%d", 1+5*v+m, v+1), rel})
		}
	}
	sentiments := []string{"positive", "negative", "neutral"}
	type ck struct {
		v int
		s string
	}
	type tk struct {
		v    int
		tags string
	}
	counts, first, tagCounts := map[ck]float64{}, map[int]int64{}, map[tk]float64{}
	start := end.Add(-24 * time.Hour)
	for i := 0; i < n; i++ {
		v := rng.Intn(len(vers))
		ts := start.Add(time.Duration(rng.Int63n(int64(24 * time.Hour)))).UnixMilli()
		counts[ck{v, sentiments[rng.Intn(3)]}]++
		if f, ok := first[v]; !ok || ts < f {
			first[v] = ts
		}
		k := rng.Intn(4)
		tags := make([]string, 0, k)
		for j := 0; j < k; j++ {
			tags = append(tags, feedback.Taxonomy[rng.Intn(len(feedback.Taxonomy))])
		}
		if len(tags) > 0 {
			raw, _ := json.Marshal(tags)
			tagCounts[tk{v, string(raw)}]++
		}
	}
	var a versionsAnswers
	var ls []map[string]string
	var vs []float64
	for k, c := range counts {
		ls = append(ls, map[string]string{"model_id": vers[k.v].model, "model_version": vers[k.v].version, "sentiment": k.s})
		vs = append(vs, c)
	}
	a.counts = vector(ls, vs, end)
	ls, vs = nil, nil
	for v, f := range first {
		ls = append(ls, map[string]string{"model_id": vers[v].model, "model_version": vers[v].version, "released_at": vers[v].released})
		vs = append(vs, float64(f))
	}
	a.releases = vector(ls, vs, end)
	ls, vs = nil, nil
	keys := make([]tk, 0, len(tagCounts))
	for k := range tagCounts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].v < keys[j].v || keys[i].v == keys[j].v && keys[i].tags < keys[j].tags
	})
	for _, k := range keys {
		ls = append(ls, map[string]string{"model_version": vers[k.v].version, "tags": k.tags})
		vs = append(vs, tagCounts[k])
	}
	a.tags = vector(ls, vs, end)
	return a
}

// versionsLoki answers exactly the versions plan's three query shapes and
// refuses anything else.
func versionsLoki(b *testing.B, a versionsAnswers, requests *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		q := r.URL.Query().Get("query")
		var body []byte
		switch {
		case r.URL.Path != "/loki/api/v1/query":
		case strings.HasPrefix(q, "sum by (model_id, model_version, sentiment) (count_over_time("):
			body = a.counts
		case strings.HasPrefix(q, "min_over_time("):
			body = a.releases
		case strings.HasPrefix(q, "sum by (model_version, tags) (count_over_time("):
			body = a.tags
		}
		if body == nil {
			http.Error(w, "versions benchmark: unexpected request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkLokiVersions300k is the versions query type end to end over HTTP
// for 300,000 events in 24 h (scripts/bench.sh prints it beside
// BenchmarkLokiVersionsDecodeOnly300k): its three requests and the frame.
func BenchmarkLokiVersions300k(b *testing.B) {
	end := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	a := genVersionsAnswers(300000, end)
	var requests atomic.Int64
	srv := versionsLoki(b, a, &requests)
	c, err := loki.New(models.Loki{URL: srv.URL, Selector: models.DefaultLokiSelector})
	if err != nil {
		b.Fatal(err)
	}
	d := &Datasource{settings: &models.Settings{UID: "fl-uid", Name: "Feedback Loop"}}
	q, err := query.Parse(backend.DataQuery{RefID: "A", JSON: json.RawMessage(`{"queryType":"versions"}`), Interval: time.Minute,
		TimeRange: backend.TimeRange{From: end.Add(-24 * time.Hour), To: end}}, query.SourceLoki)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := d.versions(context.Background(), q, c)
		if res.Error != nil || res.Frames[0].Rows() != 12 {
			b.Fatalf("versions: %v", res.Error)
		}
	}
	b.StopTimer()
	if got := requests.Load(); got != int64(3*b.N) {
		b.Fatalf("%d requests for %d runs, want 3 each", got, b.N)
	}
}

// BenchmarkLokiVersionsDecodeOnly300k decodes the same three answers with
// encoding/json, and nothing else: the floor the plugin is measured
// against.
func BenchmarkLokiVersionsDecodeOnly300k(b *testing.B) {
	a := genVersionsAnswers(300000, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	var v struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, body := range [][]byte{a.counts, a.releases, a.tags} {
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	}
}
