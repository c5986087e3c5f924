package esbulk

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
)

// BenchmarkDeliver500 is the sink's own cost of one 500-event bulk request
// of corpus events, answered with 500 created items (see the Loki sink's
// benchmark for the command).
func BenchmarkDeliver500(b *testing.B) {
	items := strings.TrimSuffix(strings.Repeat(`{"create":{"_index":"model-feedback-2026.11.20","_id":"x","status":201}},`, 500), ",")
	answer := fmt.Sprintf(`{"took":3,"errors":false,"items":[%s]}`, items)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	s, err := New(Config{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	batch := sinktest.CorpusBatch(b, 500)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Deliver(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}
