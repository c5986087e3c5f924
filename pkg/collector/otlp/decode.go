// Package otlp reads OTLP/HTTP export requests (traces and logs, protobuf or
// JSON) and maps OpenTelemetry GenAI telemetry onto Feedback Loop events:
// GenAI spans become interaction snapshots, gen_ai.evaluation.result records
// become feedback. The mapping is documented in docs/otel.md.
package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Encoding is the wire format of a request (and of its answer).
type Encoding int

const (
	Protobuf Encoding = iota
	JSON
)

// ContentType is the media type OTLP/HTTP uses for e.
func (e Encoding) ContentType() string {
	if e == JSON {
		return "application/json"
	}
	return "application/x-protobuf"
}

// DecodeTraces reads an ExportTraceServiceRequest.
func DecodeTraces(body []byte, enc Encoding) (*coltracepb.ExportTraceServiceRequest, error) {
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := decode(body, enc, req); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeLogs reads an ExportLogsServiceRequest.
func DecodeLogs(body []byte, enc Encoding) (*collogspb.ExportLogsServiceRequest, error) {
	req := &collogspb.ExportLogsServiceRequest{}
	if err := decode(body, enc, req); err != nil {
		return nil, err
	}
	return req, nil
}

func decode(body []byte, enc Encoding, m proto.Message) error {
	if enc == Protobuf {
		if err := proto.Unmarshal(body, m); err != nil {
			return fmt.Errorf("not an OTLP protobuf message: %w", err)
		}
		return nil
	}
	fixed, err := hexIDsToBase64(body)
	if err != nil {
		return err
	}
	// OTLP: receivers MUST ignore unknown fields (newer senders add some).
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(fixed, m); err != nil {
		return fmt.Errorf("not an OTLP JSON message: %w", err)
	}
	return nil
}

// idFields are the OTLP JSON members that hold trace and span ids, in both
// spellings protojson accepts, with their length in bytes. OTLP JSON writes
// them as hex (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding)
// where the protobuf JSON mapping that protojson implements expects base64
// for bytes fields. A 32-digit hex trace id is also valid base64, so handing
// it to protojson as is would not fail but silently yield a wrong 24-byte id.
// In the trace and logs messages these names occur only on Span, Span.Link
// and LogRecord (attribute keys are values, never member names), so every
// member so named is an id.
var idFields = map[string]int{
	"traceId": 16, "trace_id": 16,
	"spanId": 8, "span_id": 8,
	"parentSpanId": 8, "parent_span_id": 8,
}

// hexIDsToBase64 rewrites the hex ids of an OTLP JSON body into the base64
// protojson reads. The rest of the document is carried over token for token
// (numbers as written, so 64-bit nanosecond timestamps keep every digit).
// This small rewrite stands in for the OpenTelemetry Collector's pdata JSON
// codec, which would bring the Collector's module graph for one conversion.
func hexIDsToBase64(body []byte) ([]byte, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("not an OTLP JSON message: the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not an OTLP JSON message: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("not an OTLP JSON message: data after the top-level value")
	}
	if err := rewriteIDs(doc, ""); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

func rewriteIDs(v any, path string) error {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := joinPath(path, k)
			if n, ok := idFields[k]; ok {
				s, isStr := val.(string)
				if !isStr {
					if val == nil {
						continue
					}
					return fmt.Errorf("%s: want a hex string, got %s", p, jsonKind(val))
				}
				b, err := hex.DecodeString(s)
				if err != nil || (len(b) != n && len(b) != 0) {
					return fmt.Errorf("%s: want %d hex digits (OTLP JSON encodes ids in hex), got %s", p, 2*n, strconv.Quote(cut(s)))
				}
				x[k] = base64.StdEncoding.EncodeToString(b)
				continue
			}
			if err := rewriteIDs(val, p); err != nil {
				return err
			}
		}
	case []any:
		for i, val := range x {
			if err := rewriteIDs(val, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(base, key string) string {
	if base == "" {
		return key
	}
	return base + "." + key
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "a " + fmt.Sprintf("%T", v)
}

// cut shortens a value echoed in a message.
func cut(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// IDHex is the lower-case hex form of a trace or span id, empty for an
// absent or all-zero (invalid) id.
func IDHex(id []byte) string {
	if len(id) == 0 || bytes.Count(id, []byte{0}) == len(id) {
		return ""
	}
	return strings.ToLower(hex.EncodeToString(id))
}
