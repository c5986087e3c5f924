package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/feedbackloop/modelfeedback/pkg/collector/otlp/otlptest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

var (
	spanStart = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	spanEnd   = time.Date(2026, 11, 20, 6, 0, 1, 250000000, time.UTC)
	evalAt    = time.Date(2026, 11, 20, 6, 5, 0, 123456789, time.UTC)
)

func supportBot() []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("service.name", "support-bot"), attribute.String("service.version", "2026-11-01.3"),
		attribute.String("deployment.environment.name", "prod")}
}

// chatSpan records one GenAI chat span as the OpenTelemetry GenAI
// instrumentations write it (content capture on), and returns its context.
func chatSpan(tr trace.Tracer) trace.SpanContext {
	_, sp := tr.Start(context.Background(), "chat gpt-4o", trace.WithTimestamp(spanStart), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("gen_ai.operation.name", "chat"),
			attribute.String("gen_ai.provider.name", "openai"),
			attribute.String("gen_ai.request.model", "gpt-4o"),
			attribute.Float64("gen_ai.request.temperature", 0.2),
			attribute.Float64("gen_ai.request.top_p", 1.0),
			attribute.Int("gen_ai.request.max_tokens", 512),
			attribute.StringSlice("gen_ai.request.stop_sequences", []string{"\n\n"}),
			attribute.String("gen_ai.response.model", "gpt-4o-2024-08-06"),
			attribute.Int("gen_ai.usage.input_tokens", 42),
			attribute.String("gen_ai.system_instructions", `[{"type":"text","content":"You are a tax assistant."}]`),
			attribute.String("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Can I deduct my home office?"}]}]`),
			attribute.String("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"text","content":"Yes, if you use it only for work."}],"finish_reason":"stop"}]`),
		))
	sp.End(trace.WithTimestamp(spanEnd))
	return sp.SpanContext()
}

// wantInteraction is the snapshot chatSpan must become.
func wantInteraction(traceID string) feedback.Event {
	c := &feedback.Context{SystemPrompt: "You are a tax assistant.", Input: "Can I deduct my home office?",
		Output: "Yes, if you use it only for work.",
		Params: json.RawMessage(`{"max_tokens":512,"model":"gpt-4o","stop_sequences":"[\"\\n\\n\"]","temperature":0.2,"top_p":1.0}`)}
	return feedback.Event{Schema: feedback.Schema, Kind: feedback.KindInteraction, CorrelationID: traceID, Timestamp: feedback.NewTime(spanEnd),
		Model: feedback.Model{ID: "support-bot", Version: "2026-11-01.3", EffectiveVersion: feedback.EffectiveVersion("support-bot", c)},
		Attributes: map[string]string{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
			"gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": "42"},
		Context: c}
}

func (e *env) spooled() [][]byte {
	e.t.Helper()
	entries, err := e.spool.Read(1, 100, 8<<20)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([][]byte, len(entries))
	for i, en := range entries {
		out[i] = en.Line
	}
	return out
}

// assertLine compares a spooled line with the line want marshals to.
func assertLine(t *testing.T, got []byte, want feedback.Event) {
	t.Helper()
	w, err := feedback.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, w) {
		t.Errorf("spooled\n%s\nwant\n%s", got, w)
	}
}

func TestOTLPTracesFromTheSDK(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []otlptracehttp.Option
	}{
		{"protobuf", nil},
		{"protobuf gzip", []otlptracehttp.Option{otlptracehttp.WithCompression(otlptracehttp.GzipCompression)}},
		{"json", []otlptracehttp.Option{otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON)}},
		{"json gzip", []otlptracehttp.Option{otlptracehttp.WithEncoding(otlptracehttp.EncodingJSON), otlptracehttp.WithCompression(otlptracehttp.GzipCompression)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0, nil)
			srv := httptest.NewServer(e.h)
			defer srv.Close()
			spans := otlptest.NewSpans(otlptest.Resource(supportBot()...))
			tr := spans.Tracer()
			sc := chatSpan(tr)
			_, plain := tr.Start(context.Background(), "GET /healthz")
			plain.End()
			if err := spans.Export(context.Background(), srv.URL+"/v1/traces", serverToken, c.opts...); err != nil {
				t.Fatalf("export: %v", err)
			}
			lines := e.spooled()
			if len(lines) != 1 {
				t.Fatalf("spooled %d lines, want 1: %q", len(lines), lines)
			}
			assertLine(t, lines[0], wantInteraction(sc.TraceID().String()))
			if n := testutil.ToFloat64(e.metrics.OTLPSkipped.WithLabelValues("traces", "no_gen_ai")); n != 1 {
				t.Errorf("skipped spans counted %v, want 1", n)
			}
			if n := testutil.ToFloat64(e.metrics.Events.WithLabelValues("support-bot", "2026-11-01.3", "interaction", "", "")); n != 1 {
				t.Errorf("interactions counted %v, want 1", n)
			}
		})
	}
}

func TestOTLPEvaluationsFromTheSDK(t *testing.T) {
	e := newEnv(t, 0, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	spans := otlptest.NewSpans(otlptest.Resource(supportBot()...))
	sc := chatSpan(spans.Tracer())
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	logs := otlptest.NewLogs(otlptest.Resource(supportBot()...))
	lg := logs.Logger()
	otlptest.Evaluation(ctx, lg, evalAt, attribute.String("gen_ai.evaluation.name", "Groundedness"),
		attribute.Float64("gen_ai.evaluation.score.value", 0.2), attribute.String("gen_ai.evaluation.score.label", "hallucination"),
		attribute.String("gen_ai.evaluation.explanation", "Cites a tax rule that does not exist."))
	otlptest.Evaluation(ctx, lg, evalAt, attribute.String("gen_ai.evaluation.name", "Relevance"),
		attribute.Int("gen_ai.evaluation.score.value", 4), attribute.String("gen_ai.evaluation.score.label", "Relevant"))
	// Without a span context there is nothing to correlate with.
	otlptest.Evaluation(context.Background(), lg, evalAt, attribute.String("gen_ai.evaluation.name", "Relevance"),
		attribute.Float64("gen_ai.evaluation.score.value", 0.9))
	// An ordinary log line is skipped.
	lg.Emit(ctx, plainRecord("user asked a question"))

	err := logs.Export(context.Background(), srv.URL+"/v1/logs", serverToken)
	// The SDK reports a partial success as an error naming what was refused.
	if err == nil || !strings.Contains(err.Error(), "(1 logs rejected)") ||
		!strings.Contains(err.Error(), "resourceLogs[0].scopeLogs[0].logRecords[2] (gen_ai.evaluation.result): correlation_id: required: the record has no trace id") {
		t.Fatalf("export error %v, want the partial success naming logRecords[2] and correlation_id", err)
	}
	lines := e.spooled()
	if len(lines) != 2 {
		t.Fatalf("spooled %d lines, want 2: %q", len(lines), lines)
	}
	tid := sc.TraceID().String()
	for i, want := range []feedback.Event{
		{Kind: feedback.KindFeedback, Sentiment: feedback.Negative, Score: ptr(0.2), Reason: "hallucination", Tags: []string{"hallucination"},
			Severity: feedback.SeverityWarning, Comment: "Cites a tax rule that does not exist.",
			Attributes: map[string]string{"gen_ai.evaluation.name": "Groundedness", "gen_ai.evaluation.score.label": "hallucination"}},
		{Kind: feedback.KindFeedback, Sentiment: feedback.Positive, Score: ptr(4), Severity: feedback.SeverityInfo,
			Attributes: map[string]string{"gen_ai.evaluation.name": "Relevance", "gen_ai.evaluation.score.label": "Relevant"}},
	} {
		got, errs := feedback.Decode(lines[i])
		if len(errs) > 0 || len(got.FeedbackID) != 26 {
			t.Fatalf("line %d: %v, feedback_id %q", i, errs, got.FeedbackID)
		}
		want.Schema, want.FeedbackID, want.CorrelationID, want.Timestamp, want.Source = feedback.Schema, got.FeedbackID, tid, feedback.NewTime(evalAt), feedback.SourceAPI
		want.Model = feedback.Model{ID: "support-bot", Version: "2026-11-01.3"}
		assertLine(t, lines[i], want)
	}
	if n := testutil.ToFloat64(e.metrics.OTLPSkipped.WithLabelValues("logs", "no_gen_ai")); n != 1 {
		t.Errorf("skipped records counted %v, want 1", n)
	}
	if n := testutil.ToFloat64(e.metrics.OTLPRejected.WithLabelValues("logs")); n != 1 {
		t.Errorf("refused records counted %v, want 1", n)
	}
}

func ptr(f float64) *float64 { return &f }

// A span that breaks the event contract is refused alone, with a message
// naming the span and the field; the others of the request are kept.
func TestOTLPPartialSuccessNamesSpanAndField(t *testing.T) {
	e := newEnv(t, 0, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	good := otlptest.NewSpans(otlptest.Resource(supportBot()...))
	chatSpan(good.Tracer())
	if err := good.Export(context.Background(), srv.URL+"/v1/traces", serverToken); err != nil {
		t.Fatal(err)
	}
	// No service.version: model.version has no source.
	bad := otlptest.NewSpans(otlptest.Resource(attribute.String("service.name", "support-bot")))
	chatSpan(bad.Tracer())
	_, sp := bad.Tracer().Start(context.Background(), "chat", trace.WithAttributes(attribute.String("gen_ai.operation.name", "chat"),
		attribute.Float64("gen_ai.request.temperature", math.NaN())))
	sp.End()
	err := bad.Export(context.Background(), srv.URL+"/v1/traces", serverToken)
	want := `traces export: OTLP partial success: 2 refused: resourceSpans[0].scopeSpans[0].spans[0] (span "chat gpt-4o"): model.version: required on kind interaction; ` +
		`resourceSpans[0].scopeSpans[0].spans[1] (span "chat"): context.params.temperature: must be a finite number; model.version: required on kind interaction (2 spans rejected)`
	if err == nil || err.Error() != want {
		t.Fatalf("export error\n%v\nwant\n%s", err, want)
	}
	if n := len(e.spooled()); n != 1 {
		t.Fatalf("spooled %d, want only the first request's span", n)
	}
}

func TestOTLPJSONHexIDs(t *testing.T) {
	e := newEnv(t, 0, nil)
	// Hand-built OTLP JSON as the spec writes it: hex ids (here upper case,
	// which the spec allows), enums as integers, 64-bit integers as strings.
	body := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"support-bot"}},` +
		`{"key":"service.version","value":{"stringValue":"v7"}}]},"scopeLogs":[{"scope":{"name":"judge"},"logRecords":[` +
		`{"timeUnixNano":"1795154700123456789","severityNumber":9,"eventName":"gen_ai.evaluation.result",` +
		`"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",` +
		`"attributes":[{"key":"gen_ai.evaluation.name","value":{"stringValue":"Correctness"}},` +
		`{"key":"gen_ai.evaluation.score.value","value":{"doubleValue":0.1}},{"key":"gen_ai.evaluation.score.label","value":{"stringValue":"fail"}}],` +
		`"futureField":{"ignored":true}}]}]}]}`
	r := httptest.NewRequest(http.MethodPost, "/v1/logs", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+serverToken)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{}" {
		t.Fatalf("%d %s %q", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	lines := e.spooled()
	if len(lines) != 1 {
		t.Fatalf("spooled %d", len(lines))
	}
	got, _ := feedback.Decode(lines[0])
	assertLine(t, lines[0], feedback.Event{Schema: feedback.Schema, Kind: feedback.KindFeedback, FeedbackID: got.FeedbackID,
		CorrelationID: "5b8efff798038103d269b633813fc60c", Timestamp: feedback.NewTime(time.Unix(0, 1795154700123456789)),
		Model: feedback.Model{ID: "support-bot", Version: "v7"}, Sentiment: feedback.Negative, Score: ptr(0.1), Tags: []string{"fail"},
		Severity: feedback.SeverityInfo, Source: feedback.SourceAPI,
		Attributes: map[string]string{"gen_ai.evaluation.name": "Correctness", "gen_ai.evaluation.score.label": "fail"}})
}

func otlpPost(e *env, path, token, contentType, encoding string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	r.Header.Set("Content-Type", contentType)
	if encoding != "" {
		r.Header.Set("Content-Encoding", encoding)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// status reads the google.rpc.Status of an OTLP failure in the encoding the
// request used.
func status(t *testing.T, w *httptest.ResponseRecorder) *statuspb.Status {
	t.Helper()
	st := &statuspb.Status{}
	var err error
	switch w.Header().Get("Content-Type") {
	case "application/x-protobuf":
		err = proto.Unmarshal(w.Body.Bytes(), st)
	case "application/json":
		err = protojson.Unmarshal(w.Body.Bytes(), st)
	default:
		t.Fatalf("Content-Type %q", w.Header().Get("Content-Type"))
	}
	if err != nil || st.Message == "" {
		t.Fatalf("not a Status: %v %q", err, w.Body)
	}
	return st
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func TestOTLPMalformedIsRefusedAndNothingWritten(t *testing.T) {
	const pb, js = "application/x-protobuf", "application/json"
	validJSON := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat",` +
		`"attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}}]}]}]}]}`
	for _, c := range []struct {
		name, path, ctype, enc string
		body                   []byte
		code                   int
		msg                    string
	}{
		{"protobuf junk", "/v1/traces", pb, "", []byte("\xff\xff\xff\xff"), 400, "not an OTLP protobuf message"},
		{"json junk", "/v1/logs", js, "", []byte(`{"resourceLogs":[`), 400, "not an OTLP JSON message"},
		{"json wrong type", "/v1/traces", js, "", []byte(`{"resourceSpans":{"a":1}}`), 400, "not an OTLP JSON message"},
		// protojson's own form (base64) is not OTLP JSON: it would decode to
		// the wrong id if let through.
		{"base64 trace id", "/v1/traces", js, "", []byte(strings.Replace(validJSON, "5b8efff798038103d269b633813fc60c", "W47/95gDgQPSabYzgT/GDA==", 1)), 400,
			"resourceSpans[0].scopeSpans[0].spans[0].traceId: want 32 hex digits (OTLP JSON encodes ids in hex)"},
		{"short span id", "/v1/traces", js, "", []byte(strings.Replace(validJSON, "eee19b7ec3c1b174", "eee1", 1)), 400,
			"resourceSpans[0].scopeSpans[0].spans[0].spanId: want 16 hex digits"},
		{"id not a string", "/v1/traces", js, "", []byte(strings.Replace(validJSON, `"eee19b7ec3c1b174"`, "12", 1)), 400,
			"spans[0].spanId: want a hex string, got a number"},
		{"not utf-8", "/v1/traces", js, "", []byte("{\"resourceSpans\":[],\"x\":\"\xff\"}"), 400, "not valid UTF-8"},
		{"gzip claimed", "/v1/traces", pb, "gzip", []byte("plain"), 400, "Content-Encoding gzip"},
		{"gzip cut short", "/v1/traces", js, "gzip", gz([]byte(validJSON))[:20], 400, "reading the request body"},
		{"unknown encoding", "/v1/traces", pb, "br", []byte{}, 415, `Content-Encoding "br" is not supported`},
		{"unknown media type", "/v1/traces", "text/plain", "", []byte(validJSON), 415, `Content-Type "text/plain" is not supported`},
		{"over 4 MiB decompressed", "/v1/traces", js, "gzip", gz(bytes.Repeat([]byte(" "), feedback.MaxBatchBytes+1)), 413, "over the limit of 4 MiB once decompressed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0, nil)
			w := otlpPost(e, c.path, serverToken, c.ctype, c.enc, c.body)
			if w.Code != c.code {
				t.Fatalf("%d, want %d: %q", w.Code, c.code, w.Body)
			}
			if st := status(t, w); !strings.Contains(st.Message, c.msg) {
				t.Errorf("message %q, want mention of %q", st.Message, c.msg)
			}
			e.assertNothingSpooled()
		})
	}
}

func TestOTLPAuth(t *testing.T) {
	e := newEnv(t, 0, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	spans := otlptest.NewSpans(otlptest.Resource(supportBot()...))
	chatSpan(spans.Tracer())
	for _, tok := range []string{"", "wrong"} {
		err := spans.Export(context.Background(), srv.URL+"/v1/traces", tok)
		if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
			t.Errorf("token %q: export error %v, want 401", tok, err)
		}
	}
	// A widget token is public: it may not write snapshots, from any origin.
	r := httptest.NewRequest(http.MethodPost, "/v1/logs", strings.NewReader("{}"))
	r.Header.Set("Authorization", "Bearer "+browserToken)
	r.Header.Set("Origin", allowed)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden || !strings.Contains(status(t, w).Message, "browser tokens") {
		t.Errorf("browser token: %d %s", w.Code, w.Body)
	}
	e.assertNothingSpooled()
	if err := spans.Export(context.Background(), srv.URL+"/v1/traces", serverToken); err != nil {
		t.Fatalf("server token: %v", err)
	}
}

// A request that makes more events than one ingest request may hold is
// refused whole, naming the limit.
func TestOTLPEventLimit(t *testing.T) {
	e := newEnv(t, 0, nil)
	req := &collogspb.ExportLogsServiceRequest{}
	body := `{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"m"}},{"key":"service.version","value":{"stringValue":"v"}}]},"scopeLogs":[{"logRecords":[`
	for i := 0; i < feedback.MaxBatchEvents+1; i++ {
		if i > 0 {
			body += ","
		}
		body += `{"eventName":"gen_ai.evaluation.result","traceId":"5b8efff798038103d269b633813fc60c","attributes":[{"key":"gen_ai.evaluation.score.value","value":{"doubleValue":1}}]}`
	}
	body += "]}]}]}"
	if err := protojson.Unmarshal([]byte(strings.ReplaceAll(body, "5b8efff798038103d269b633813fc60c", "W47/95gDgQPSabYzgT/GDA==")), req); err != nil {
		t.Fatal(err)
	}
	pb, _ := proto.Marshal(req)
	w := otlpPost(e, "/v1/logs", serverToken, "application/x-protobuf", "", pb)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(status(t, w).Message, "makes 1001 events, the limit is 1000") {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	e.assertNothingSpooled()
}

func plainRecord(body string) otellog.Record {
	var r otellog.Record
	r.SetBody(attribute.StringValue(body))
	r.SetTimestamp(evalAt)
	return r
}
