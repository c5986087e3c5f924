package otlp

import (
	"encoding/base64"
	"strings"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

func kv(k string, v any) *commonpb.KeyValue {
	var av *commonpb.AnyValue
	switch x := v.(type) {
	case string:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: x}}
	case float64:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: x}}
	case int:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(x)}}
	case bool:
		av = &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: x}}
	case *commonpb.AnyValue:
		av = x
	}
	return &commonpb.KeyValue{Key: k, Value: av}
}

var traceID = []byte{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c}

func request(res []*commonpb.KeyValue, spans ...*tracepb.Span) *coltracepb.ExportTraceServiceRequest {
	for _, s := range spans {
		if s.TraceId == nil {
			s.TraceId = traceID
		}
	}
	return &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource:   &resourcepb.Resource{Attributes: res},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}}
}

var bot = []*commonpb.KeyValue{kv("service.name", "support-bot"), kv("service.version", "v1")}

func one(t *testing.T, m Mapping, req *coltracepb.ExportTraceServiceRequest) feedback.Event {
	t.Helper()
	r := m.Traces(req)
	if len(r.Items) != 1 || len(r.Rejected) != 0 {
		t.Fatalf("items %d, rejected %+v", len(r.Items), r.Rejected)
	}
	return r.Items[0].Event
}

// protojson alone would read a hex trace id as base64 without complaint and
// make a 24-byte id: the reason for the rewrite.
func TestHexIDsAreNotBase64(t *testing.T) {
	body := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c"}]}]}]}`
	var naive coltracepb.ExportTraceServiceRequest
	if err := protojson.Unmarshal([]byte(body), &naive); err != nil {
		t.Fatal(err)
	}
	if n := len(naive.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId); n != 24 {
		t.Fatalf("protojson gave %d bytes; the premise of the rewrite changed", n)
	}
	req, err := DecodeTraces([]byte(body), JSON)
	if err != nil {
		t.Fatal(err)
	}
	if got := IDHex(req.ResourceSpans[0].ScopeSpans[0].Spans[0].TraceId); got != "5b8efff798038103d269b633813fc60c" {
		t.Fatalf("trace id %q", got)
	}
	if base64.StdEncoding.EncodeToString(traceID) != "W47/95gDgQPSabYzgT/GDA==" {
		t.Fatal("fixture")
	}
}

func TestContentForms(t *testing.T) {
	ev := func(name string, attrs ...*commonpb.KeyValue) *tracepb.Span_Event {
		return &tracepb.Span_Event{Name: name, Attributes: attrs}
	}
	for _, c := range []struct {
		name                  string
		span                  *tracepb.Span
		system, input, output string
	}{
		{"attributes, plain text", &tracepb.Span{Attributes: []*commonpb.KeyValue{
			kv("gen_ai.system_instructions", `[{"type":"text","content":"Be brief."},{"type":"text","content":"Be kind."}]`),
			kv("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]`),
			kv("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"text","content":"Hello"}],"finish_reason":"stop"}]`)}},
			"Be brief.\nBe kind.", "Hi", "Hello"},
		{"conversation and tool call kept as JSON", &tracepb.Span{Attributes: []*commonpb.KeyValue{
			kv("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Hi"}]},{"role":"user","parts":[{"type":"text","content":"?"}]}]`),
			kv("gen_ai.output.messages", `[{"role":"assistant","parts":[{"type":"tool_call","id":"1","name":"f"}]}]`)}},
			"", `[{"role":"user","parts":[{"type":"text","content":"Hi"}]},{"role":"user","parts":[{"type":"text","content":"?"}]}]`,
			`[{"role":"assistant","parts":[{"type":"tool_call","id":"1","name":"f"}]}]`},
		{"operation details event", &tracepb.Span{Attributes: []*commonpb.KeyValue{kv("gen_ai.operation.name", "chat")},
			Events: []*tracepb.Span_Event{ev(eventDetails, kv("gen_ai.input.messages", `[{"role":"user","parts":[{"type":"text","content":"Q"}]}]`))}},
			"", "Q", ""},
		{"older message events", &tracepb.Span{Attributes: []*commonpb.KeyValue{kv("gen_ai.system", "openai")},
			Events: []*tracepb.Span_Event{ev("gen_ai.system.message", kv("content", "S")), ev("gen_ai.user.message", kv("content", "first")),
				ev("gen_ai.user.message", kv("content", "second")),
				ev("gen_ai.choice", kv("message", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
					Values: []*commonpb.KeyValue{kv("role", "assistant"), kv("content", "A")}}}}))}},
			"S", "second", "A"},
		{"prompt and completion events", &tracepb.Span{Attributes: []*commonpb.KeyValue{kv("gen_ai.system", "openai")},
			Events: []*tracepb.Span_Event{ev("gen_ai.content.prompt", kv("gen_ai.prompt", "P")), ev("gen_ai.content.completion", kv("gen_ai.completion", "C"))}},
			"", "P", "C"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := one(t, DefaultMapping(), request(bot, c.span))
			var got [3]string
			if e.Context != nil {
				got = [3]string{e.Context.SystemPrompt, e.Context.Input, e.Context.Output}
			}
			if want := [3]string{c.system, c.input, c.output}; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestSpanSelectionAndOptions(t *testing.T) {
	spans := []*tracepb.Span{
		{Name: "GET /", Attributes: []*commonpb.KeyValue{kv("http.method", "GET")}},
		{Name: "embeddings", Attributes: []*commonpb.KeyValue{kv("gen_ai.operation.name", "embeddings")}},
		{Name: "chat", Attributes: []*commonpb.KeyValue{kv("gen_ai.operation.name", "chat"), kv("app.model", "tax-bot"),
			kv("llm.prompt_template.version", "p-3"), kv("app.param.seed", 7), kv("app.param.json", true)}},
	}
	m := DefaultMapping()
	m.Operations = []string{"chat"}
	m.ModelIDAttributes = []string{"app.model", "service.name"}
	m.PromptVersionAttributes = []string{"llm.prompt_template.version"}
	m.ParamPrefixes = []string{"app.param."}
	r := m.Traces(request(bot, spans...))
	if r.Skipped["no_gen_ai"] != 1 || r.Skipped["operation"] != 1 || len(r.Items) != 1 {
		t.Fatalf("skipped %v, items %d", r.Skipped, len(r.Items))
	}
	e := r.Items[0].Event
	if e.Model.ID != "tax-bot" || e.Model.Version != "v1" || e.Context.PromptVersion != "p-3" || string(e.Context.Params) != `{"json":"true","seed":7}` {
		t.Errorf("model %+v, context %+v params %s", e.Model, e.Context, e.Context.Params)
	}
}

func TestEvaluationSentiment(t *testing.T) {
	m := DefaultMapping()
	for _, c := range []struct {
		attrs  []*commonpb.KeyValue
		want   feedback.Sentiment
		reason string
		tags   []string
	}{
		{[]*commonpb.KeyValue{kv(attrEvaluationScore, 0.9)}, feedback.Positive, "", nil},
		{[]*commonpb.KeyValue{kv(attrEvaluationScore, 0.5)}, feedback.Positive, "", nil},
		{[]*commonpb.KeyValue{kv(attrEvaluationScore, 0.49)}, feedback.Negative, "", nil},
		{[]*commonpb.KeyValue{kv(attrEvaluationScore, 0.9), kv(attrEvaluationLabel, "FAIL")}, feedback.Negative, "", nil},
		{[]*commonpb.KeyValue{kv(attrEvaluationScore, 0.1), kv(attrEvaluationLabel, "pass")}, feedback.Positive, "", []string{"pass"}},
		{[]*commonpb.KeyValue{kv(attrEvaluationLabel, "bias")}, feedback.Negative, "bias", []string{"bias"}},
		{[]*commonpb.KeyValue{kv(attrEvaluationLabel, "meh")}, feedback.Neutral, "", []string{"meh"}},
		{nil, feedback.Neutral, "", nil},
	} {
		sp := &tracepb.Span{Attributes: []*commonpb.KeyValue{kv("http.method", "GET")},
			Events: []*tracepb.Span_Event{{Name: EvaluationEvent, Attributes: c.attrs}}}
		e := one(t, m, request(bot, sp))
		if e.Kind != feedback.KindFeedback || e.Sentiment != c.want || e.Reason != c.reason || strings.Join(e.Tags, ",") != strings.Join(c.tags, ",") {
			t.Errorf("%v: %s %s reason %q tags %q", c.attrs, e.Kind, e.Sentiment, e.Reason, e.Tags)
		}
	}
	// A 1..5 scale with a neutral band.
	m.PositiveScore, m.NegativeScore = 4, 3
	for score, want := range map[int]feedback.Sentiment{5: feedback.Positive, 4: feedback.Positive, 3: feedback.Neutral, 2: feedback.Negative} {
		sp := &tracepb.Span{Events: []*tracepb.Span_Event{{Name: EvaluationEvent, Attributes: []*commonpb.KeyValue{kv(attrEvaluationScore, score)}}}}
		if e := one(t, m, request(bot, sp)); e.Sentiment != want {
			t.Errorf("score %d: %s, want %s", score, e.Sentiment, want)
		}
	}
}

func TestRefusalsNameTheField(t *testing.T) {
	long := strings.Repeat("x", feedback.MaxCommentBytes+1)
	r := DefaultMapping().Traces(request(bot,
		&tracepb.Span{Name: "short id", TraceId: []byte{1, 2, 3}, Attributes: []*commonpb.KeyValue{kv("gen_ai.operation.name", "chat")}},
		&tracepb.Span{Name: "zero id", TraceId: make([]byte, 16), Attributes: []*commonpb.KeyValue{kv("gen_ai.operation.name", "chat")}},
		&tracepb.Span{Name: "judge", Events: []*tracepb.Span_Event{{Name: EvaluationEvent, Attributes: []*commonpb.KeyValue{
			kv(attrEvaluationScore, "high"), kv(attrEvaluationExplain, long)}}}},
	))
	var got []string
	for _, rj := range r.Rejected {
		got = append(got, rj.Message())
	}
	want := []string{
		`resourceSpans[0].scopeSpans[0].spans[0] (span "short id"): correlation_id: the trace id is 3 bytes, OTLP trace ids are 16`,
		`resourceSpans[0].scopeSpans[0].spans[1] (span "zero id"): correlation_id: required: the record has no trace id (emit it inside the model call's span context)`,
		`resourceSpans[0].scopeSpans[0].spans[2].events[0] (gen_ai.evaluation.result): score: gen_ai.evaluation.score.value must be a number; comment: too large: 4097 bytes, the limit is 4 KiB`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
