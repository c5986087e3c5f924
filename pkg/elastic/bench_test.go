package elastic_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// The benchmarks put the cost of turning an answer into frames beside the
// cost of merely decoding the same bytes into map/any, the least any
// consumer of the answer pays. scripts/bench-elastic.sh prints the ratio.

// hitsBody is a 5,000-hit feedback answer made of the corpus' feedback
// events with fresh ids and times.
func hitsBody(b *testing.B) []byte {
	b.Helper()
	var fb []elastic.ESDoc
	for _, d := range elastic.LoadEvents(b, lokitest.CorpusPath()) {
		if d.Src["kind"] == "feedback" {
			fb = append(fb, d)
		}
	}
	hits := make([]any, 5000)
	for i := range hits {
		src := map[string]any{}
		for k, v := range fb[i%len(fb)].Src {
			src[k] = v
		}
		ts := elastic.WinTo.Add(-time.Duration(i) * 3 * time.Second).Add(123456789).Format("2006-01-02T15:04:05.000000000Z")
		id := fmt.Sprintf("01M7BENCH%017d", i)
		src["feedback_id"], src["timestamp"] = id, ts
		hits[i] = map[string]any{"_index": "model-feedback-2026.11.20", "_id": id, "_score": nil, "_source": src,
			"sort": []any{ts, id, src["correlation_id"]}}
	}
	body, err := json.Marshal(map[string]any{
		"took": 41, "timed_out": false,
		"_shards": map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0},
		"hits":    map[string]any{"total": map[string]any{"value": 5000, "relation": "gte"}, "max_score": nil, "hits": hits},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// aggBody is a date_histogram of 500 steps with 10 terms each.
func aggBody(b *testing.B, stepMs, firstKey int64) []byte {
	b.Helper()
	buckets := make([]any, 500)
	for i := range buckets {
		terms := make([]any, 10)
		total := 0
		for j := range terms {
			n := 1 + (i*7+j*13)%50
			total += n
			terms[j] = map[string]any{"key": fmt.Sprintf("2026-11-%02d.%d", 1+j, j%3), "doc_count": n}
		}
		k := firstKey + int64(i)*stepMs
		buckets[i] = map[string]any{"key_as_string": fmt.Sprint(k), "key": k, "doc_count": total,
			"by": map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": terms}}
	}
	body, err := json.Marshal(map[string]any{
		"took": 12, "timed_out": false,
		"_shards":      map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0},
		"hits":         map[string]any{"total": map[string]any{"value": 10000, "relation": "eq"}, "max_score": nil, "hits": []any{}},
		"aggregations": map[string]any{"time": map[string]any{"buckets": buckets}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkElasticHits(b *testing.B) {
	body := hitsBody(b)
	links := plugin.Links{DatasourceUID: "uid", DatasourceName: "Feedback Loop", Source: "elasticsearch"}
	b.Run("frames", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := elastic.DecodeHits(body)
			if err != nil {
				b.Fatal(err)
			}
			entries, bad := elastic.HitsToEntries(r.Hits.Hits)
			if bad != 0 || len(entries) != 5000 {
				b.Fatalf("%d entries, %d bad", len(entries), bad)
			}
			read.SortEntries(entries)
			_ = plugin.FeedbackFrame(entries, links, read.Meta{})
		}
	})
	b.Run("decode_any", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkElasticAgg(b *testing.B) {
	step := time.Minute
	from := elastic.WinFrom
	to := from.Add(499 * step)
	grid := read.NewGrid(from, to, step)
	body := aggBody(b, step.Milliseconds(), grid.Start.UnixMilli()-step.Milliseconds()+elastic.HistOffsetMs)
	q := read.Query{GroupBy: []string{"model_version"}, From: from, To: to}
	b.Run("frames", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := elastic.DecodeSearch(body, false)
			if err != nil {
				b.Fatal(err)
			}
			series, totals, meta, err := elastic.TimeseriesResult(q, step, r, read.Meta{})
			if err != nil || len(series) != 10 {
				b.Fatalf("%d series: %v", len(series), err)
			}
			if fs := plugin.TimeseriesFrames(q.GroupBy, series, grid, false, totals, meta); len(fs) != 10 {
				b.Fatalf("%d frames", len(fs))
			}
		}
	})
	b.Run("decode_any", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
