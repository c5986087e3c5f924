package collector_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/otlp/otlptest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// lokiLines stands in for Loki and keeps every line pushed to it.
type lokiLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *lokiLines) server(t *testing.T) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/ready":
		case r.Method == http.MethodPost && r.URL.Path == "/loki/api/v1/push":
			body, _ := io.ReadAll(r.Body)
			req, err := sinktest.DecodePush(body)
			if err != nil {
				t.Errorf("loki stand-in: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			l.mu.Lock()
			for _, s := range req.Streams {
				for _, e := range s.Entries {
					l.lines = append(l.lines, e.Line)
				}
			}
			l.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Errorf("loki stand-in: unexpected %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
		}
	}))
}

func (l *lokiLines) wait(t *testing.T, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		got := append([]string(nil), l.lines...)
		l.mu.Unlock()
		if len(got) >= n {
			return got
		}
	}
	t.Fatalf("Loki got fewer than %d lines", n)
	return nil
}

// The OpenTelemetry SDK's own exporters, pointed at the real feedbackd
// binary: a GenAI chat span (protobuf and JSON) and an evaluation of it
// reach Loki as an interaction and a feedback event on the span's trace.
func TestOTLPEndToEnd(t *testing.T) {
	loki := &lokiLines{}
	lk := loki.server(t)
	defer lk.Close()
	d := feedbackdtest.Start(t, feedbackdtest.Build(t), "--spool-dir", t.TempDir(), "--loki-url", lk.URL, "--tokens", "otel-secret",
		"--otlp-operations", "chat", "--otlp-positive-score", "4", "--otlp-negative-score", "3")
	res := otlptest.Resource(attribute.String("service.name", "support-bot"), attribute.String("service.version", "2026-11-01.3"))
	start := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

	var traceIDs []string
	for _, enc := range []otlptracehttp.Encoding{otlptracehttp.EncodingProtobuf, otlptracehttp.EncodingJSON} {
		spans := otlptest.NewSpans(res)
		tr := spans.Tracer()
		ctx, agent := tr.Start(context.Background(), "invoke_agent tax", trace.WithTimestamp(start),
			trace.WithAttributes(attribute.String("gen_ai.operation.name", "invoke_agent")))
		_, chat := tr.Start(ctx, "chat gpt-4o", trace.WithTimestamp(start), trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
			attribute.Float64("gen_ai.request.temperature", 0.7), attribute.Int("gen_ai.request.max_tokens", 256),
			attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]`)))
		chat.End(trace.WithTimestamp(start.Add(time.Second)))
		agent.End(trace.WithTimestamp(start.Add(2 * time.Second)))
		if err := spans.Export(context.Background(), d.Base+"/v1/traces", "otel-secret", otlptracehttp.WithEncoding(enc)); err != nil {
			t.Fatalf("export (encoding %d): %v", enc, err)
		}
		traceIDs = append(traceIDs, chat.SpanContext().TraceID().String())
	}

	logs := otlptest.NewLogs(res)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: mustTraceID(t, traceIDs[0]), SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}})
	otlptest.Evaluation(trace.ContextWithSpanContext(context.Background(), sc), logs.Logger(), start.Add(time.Minute),
		attribute.String("gen_ai.evaluation.name", "Helpfulness"), attribute.Int("gen_ai.evaluation.score.value", 2),
		attribute.String("gen_ai.evaluation.explanation", "Greets back but does not offer help."))
	if err := logs.Export(context.Background(), d.Base+"/v1/logs", "otel-secret"); err != nil {
		t.Fatalf("export logs: %v", err)
	}

	lines := loki.wait(t, 3)
	if len(lines) != 3 {
		t.Fatalf("Loki got %d lines: %q", len(lines), lines)
	}
	// Loki streams are per kind, so lines arrive in no fixed order across
	// kinds: find each by kind and correlation id.
	byKey := map[string]string{}
	for _, l := range lines {
		ev, errs := feedback.Decode([]byte(l))
		if len(errs) > 0 {
			t.Fatalf("%v: %s", errs, l)
		}
		byKey[string(ev.Kind)+" "+ev.CorrelationID] = l
	}
	for _, tid := range traceIDs {
		c := &feedback.Context{Input: "Hi", Params: json.RawMessage(`{"max_tokens":256,"model":"gpt-4o","temperature":0.7}`)}
		want := feedback.Event{Schema: feedback.Schema, Kind: feedback.KindInteraction, CorrelationID: tid, Timestamp: feedback.NewTime(start.Add(time.Second)),
			Model:      feedback.Model{ID: "support-bot", Version: "2026-11-01.3", EffectiveVersion: feedback.EffectiveVersion("support-bot", c)},
			Attributes: map[string]string{"gen_ai.operation.name": "chat"}, Context: c}
		assertJSONLine(t, byKey["interaction "+tid], want)
	}
	// The evaluation names only the model; enrichment (docs/enrichment.md)
	// adds the chat span's effective_version and parameters, not its input.
	fb := byKey["feedback "+traceIDs[0]]
	got, _ := feedback.Decode([]byte(fb))
	params := json.RawMessage(`{"max_tokens":256,"model":"gpt-4o","temperature":0.7}`)
	ev := feedback.EffectiveVersion("support-bot", &feedback.Context{Input: "Hi", Params: params})
	assertJSONLine(t, fb, feedback.Event{Schema: feedback.Schema, Kind: feedback.KindFeedback, FeedbackID: got.FeedbackID,
		CorrelationID: traceIDs[0], Timestamp: feedback.NewTime(start.Add(time.Minute)),
		Model:     feedback.Model{ID: "support-bot", Version: "2026-11-01.3", EffectiveVersion: ev},
		Context:   &feedback.Context{Params: params},
		Sentiment: feedback.Negative, Score: func() *float64 { f := 2.0; return &f }(), Severity: feedback.SeverityInfo,
		Comment: "Greets back but does not offer help.", Source: feedback.SourceAPI,
		Attributes: map[string]string{"gen_ai.evaluation.name": "Helpfulness"}})
}

func mustTraceID(t *testing.T, s string) trace.TraceID {
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func assertJSONLine(t *testing.T, got string, want feedback.Event) {
	t.Helper()
	w, err := feedback.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(w) {
		t.Errorf("delivered\n%s\nwant\n%s", got, w)
	}
}
