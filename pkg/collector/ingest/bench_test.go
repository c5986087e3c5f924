package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/enrich"
	"github.com/feedbackloop/modelfeedback/pkg/collector/metrics"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
)

type nopAppender struct{}

func (nopAppender) Append(context.Context, [][]byte) (uint64, error) { return 1, nil }

func benchEvent(i int) string {
	return fmt.Sprintf(`{"kind":"feedback","correlation_id":"4bf92f3577b34da6a3ce929d0e0e%04d","model":{"id":"support-bot","version":"2026-11-01.3"},`+
		`"sentiment":"negative","reason":"hallucination","tags":["hallucination"],"source":"modal","user":{"id":"u-%d","role":"customer","geo":"DE"},`+
		`"attributes":{"domain":"tax"},"comment":"The answer cited a rule that does not exist; please check section %d again."}`, i%10000, i, i)
}

// benchHandler measures the handler's CPU per request without the network
// and without fsync: what is left is what feedbackd itself adds.
func benchHandler(b *testing.B, n int) {
	events := make([]string, n)
	for i := range events {
		events[i] = benchEvent(i)
	}
	body := []byte("[" + strings.Join(events, ",") + "]")
	h := New(Options{Spool: nopAppender{}, Redact: true, Metrics: metrics.New(false), Logger: slog.New(slog.DiscardHandler)})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/feedback", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

func BenchmarkHandlerBatch100(b *testing.B) { benchHandler(b, 100) }
func BenchmarkHandlerSingle(b *testing.B)   { benchHandler(b, 1) }

func TestAppendAcceptedMatchesEncoder(t *testing.T) {
	for _, ids := range [][]string{
		{"01JD6Q1W2X3Y4Z5A6B7C8D9E0F"},
		{"a", "b<c>&d", `q"uote`, `back\slash`, "ümlaut", "line\u2028sep", "del\x7f", "bad\xff", "tab\there", ""},
	} {
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusAccepted, AcceptedResponse{Accepted: len(ids), IDs: ids})
		if got, want := string(appendAccepted(nil, ids)), rec.Body.String(); got != want {
			t.Errorf("appendAccepted(%q)\n got %s\nwant %s", ids, got, want)
		}
	}
}

// BenchmarkHandlerBatch100Enriched is BenchmarkHandlerBatch100 with every
// feedback event found in the enrichment index (10,000 interactions): the
// added cost is one bbolt read transaction per request and one lookup and
// copy per event.
func BenchmarkHandlerBatch100Enriched(b *testing.B) {
	dir := b.TempDir()
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	var lines [][]byte
	for i := 0; i < 10000; i++ {
		lines = append(lines, []byte(fmt.Sprintf(`{"schema":"feedback/v1","kind":"interaction","correlation_id":"4bf92f3577b34da6a3ce929d0e0e%04d",`+
			`"timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"support-bot","version":"2026-11-01.3","released_at":"2026-11-01T09:00:00Z","effective_version":"ev-0123456789ab"},`+
			`"context":{"input":"q","output":"a","params":{"temperature":0.7,"verbosity":"high"},"prompt_version":"support-v3"}}`, i)))
	}
	if _, err := sp.Append(context.Background(), lines); err != nil {
		b.Fatal(err)
	}
	idx, err := enrich.Open(enrich.Options{Path: filepath.Join(dir, "enrich.db"), Source: sp, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer idx.Close()
	if err := idx.CatchUp(context.Background()); err != nil {
		b.Fatal(err)
	}
	events := make([]string, 100)
	for i := range events {
		events[i] = benchEvent(i)
	}
	body := []byte("[" + strings.Join(events, ",") + "]")
	h := New(Options{Spool: nopAppender{}, Redact: true, Metrics: metrics.New(false), Logger: slog.New(slog.DiscardHandler), Enrich: idx})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/feedback", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusAccepted {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
