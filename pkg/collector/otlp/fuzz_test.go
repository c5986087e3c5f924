package otlp

import (
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

const seedTraces = `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"support-bot"}},` +
	`{"key":"service.version","value":{"stringValue":"v1"}}]},"scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",` +
	`"spanId":"eee19b7ec3c1b174","parentSpanId":"","name":"chat","endTimeUnixNano":"1795154700123456789","attributes":[` +
	`{"key":"gen_ai.request.temperature","value":{"doubleValue":0.2}},{"key":"gen_ai.request.stop_sequences","value":{"arrayValue":{"values":[{"stringValue":"x"}]}}},` +
	`{"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]"}}],` +
	`"events":[{"name":"gen_ai.evaluation.result","attributes":[{"key":"gen_ai.evaluation.score.value","value":{"intValue":"3"}}]}],` +
	`"links":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}]}]}]}]}`

const seedLogs = `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"eventName":"gen_ai.evaluation.result","traceId":"5b8efff798038103d269b633813fc60c",` +
	`"spanId":"eee19b7ec3c1b174","attributes":[{"key":"gen_ai.evaluation.score.label","value":{"stringValue":"hallucination"}}]}]}]}]}`

// FuzzDecode feeds arbitrary bodies to the OTLP decoders and the mapping.
// Whatever decodes must hold ids of OTLP's lengths (the JSON hex rewrite
// must never let a wrong-length id through), survive a protobuf round trip
// unchanged, and map to events that all pass the event contract, each
// refused one with a reason.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(seedTraces), uint8(1), false)
	f.Add([]byte(seedLogs), uint8(1), true)
	if req, err := DecodeTraces([]byte(seedTraces), JSON); err == nil {
		b, _ := proto.Marshal(req)
		f.Add(b, uint8(0), false)
	}
	if req, err := DecodeLogs([]byte(seedLogs), JSON); err == nil {
		b, _ := proto.Marshal(req)
		f.Add(b, uint8(0), true)
	}
	m := DefaultMapping()
	f.Fuzz(func(t *testing.T, body []byte, enc uint8, logs bool) {
		e := Encoding(enc % 2)
		var msg proto.Message
		var res Result
		if logs {
			req, err := DecodeLogs(body, e)
			if err != nil {
				return
			}
			msg, res = req, m.Logs(req)
			if e == JSON {
				for _, rl := range req.GetResourceLogs() {
					for _, sl := range rl.GetScopeLogs() {
						for _, lr := range sl.GetLogRecords() {
							checkID(t, "traceId", lr.GetTraceId(), 16)
							checkID(t, "spanId", lr.GetSpanId(), 8)
						}
					}
				}
			}
		} else {
			req, err := DecodeTraces(body, e)
			if err != nil {
				return
			}
			msg, res = req, m.Traces(req)
			if e == JSON {
				for _, rs := range req.GetResourceSpans() {
					for _, ss := range rs.GetScopeSpans() {
						for _, sp := range ss.GetSpans() {
							checkSpanIDs(t, sp)
						}
					}
				}
			}
		}
		b, err := proto.Marshal(msg)
		if err != nil {
			t.Fatalf("decoded message does not marshal: %v", err)
		}
		back := msg.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(b, back); err != nil || !proto.Equal(msg, back) {
			t.Fatalf("protobuf round trip changed the message: %v", err)
		}
		for _, it := range res.Items {
			if errs := it.Event.Validate(); len(errs) > 0 {
				t.Fatalf("%s: accepted event breaks the contract: %v", it.Where, errs)
			}
		}
		for _, r := range res.Rejected {
			if len(r.Errors) == 0 || r.Where == "" {
				t.Fatalf("rejection without reason: %+v", r)
			}
		}
	})
}

func checkSpanIDs(t *testing.T, sp *tracepb.Span) {
	checkID(t, "traceId", sp.GetTraceId(), 16)
	checkID(t, "spanId", sp.GetSpanId(), 8)
	checkID(t, "parentSpanId", sp.GetParentSpanId(), 8)
	for _, l := range sp.GetLinks() {
		checkID(t, "links.traceId", l.GetTraceId(), 16)
		checkID(t, "links.spanId", l.GetSpanId(), 8)
	}
}

func checkID(t *testing.T, name string, id []byte, n int) {
	t.Helper()
	if len(id) != 0 && len(id) != n {
		t.Fatalf("%s decoded to %d bytes, want %d or none", name, len(id), n)
	}
}
