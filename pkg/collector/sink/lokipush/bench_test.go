package lokipush

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
)

// BenchmarkDeliver500 is the sink's own cost of one 500-event push of
// corpus events (the destination only reads the body): Spans, as the
// concurrent delivery loop asks for it, then Deliver. Per-event figures:
// go test -run xxx -bench Deliver500 -benchmem ./pkg/collector/sink/...
func BenchmarkDeliver500(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s, err := New(Config{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	batch := sinktest.CorpusBatch(b, 500)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := s.Prepare(batch)
		p.(sink.Spanned).Spans()
		if err := p.Send(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}
