package otlp

import (
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	collogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Names from the OpenTelemetry GenAI semantic conventions.
const (
	EvaluationEvent       = "gen_ai.evaluation.result"
	attrEvaluationScore   = "gen_ai.evaluation.score.value"
	attrEvaluationLabel   = "gen_ai.evaluation.score.label"
	attrEvaluationExplain = "gen_ai.evaluation.explanation"
	attrOperation         = "gen_ai.operation.name"
	attrSystemInstr       = "gen_ai.system_instructions"
	attrInputMessages     = "gen_ai.input.messages"
	attrOutputMessages    = "gen_ai.output.messages"
	eventDetails          = "gen_ai.client.inference.operation.details"
	genAIPrefix           = "gen_ai."
)

// Defaults of the mapping options (docs/otel.md has the table).
var (
	DefaultModelIDAttributes      = []string{"service.name"}
	DefaultModelVersionAttributes = []string{"service.version"}
	DefaultParamPrefixes          = []string{"gen_ai.request."}
	DefaultAttributes             = []string{"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system",
		"gen_ai.response.model", "gen_ai.response.id", "gen_ai.conversation.id", "gen_ai.agent.name",
		"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
		"gen_ai.evaluation.name", "gen_ai.evaluation.score.label"}
	DefaultPositiveLabels = []string{"pass", "passed", "correct", "relevant", "good", "positive", "yes", "true"}
	DefaultNegativeLabels = []string{"fail", "failed", "incorrect", "not_relevant", "irrelevant", "bad", "negative", "no", "false"}
)

// Default score thresholds: evaluator scores on the common 0..1 scale split
// at the midpoint.
const (
	DefaultPositiveScore = 0.5
	DefaultNegativeScore = 0.5
)

// Mapping says how OTLP attributes become event fields. Attribute names are
// looked up on the span (log record, span event) first, then on the resource.
type Mapping struct {
	ModelIDAttributes       []string // first present → model.id
	ModelVersionAttributes  []string // first present → model.version
	ReleasedAtAttributes    []string // first present → model.released_at
	PromptVersionAttributes []string // first present → context.prompt_version
	// ParamPrefixes: span attributes starting with one of them go to
	// context.params under the rest of their name.
	ParamPrefixes []string
	// Attributes are copied into the event's attributes under their own name.
	Attributes []string
	// Operations, when not empty, restricts interactions to spans whose
	// gen_ai.operation.name is one of them.
	Operations []string
	// An evaluation label in PositiveLabels or NegativeLabels (compared
	// case-insensitively) decides the sentiment; else the score does:
	// score >= PositiveScore → positive, score < NegativeScore → negative,
	// otherwise neutral.
	PositiveLabels []string
	NegativeLabels []string
	PositiveScore  float64
	NegativeScore  float64
}

// DefaultMapping is the mapping with every default.
func DefaultMapping() Mapping {
	return Mapping{ModelIDAttributes: DefaultModelIDAttributes, ModelVersionAttributes: DefaultModelVersionAttributes,
		ParamPrefixes: DefaultParamPrefixes, Attributes: DefaultAttributes,
		PositiveLabels: DefaultPositiveLabels, NegativeLabels: DefaultNegativeLabels,
		PositiveScore: DefaultPositiveScore, NegativeScore: DefaultNegativeScore}
}

// Item is one event made from one span, span event or log record, with
// where it came from for messages.
type Item struct {
	Event feedback.Event
	Where string
}

// Rejection is an item whose event breaks the event contract.
type Rejection struct {
	Where  string
	Errors []feedback.FieldError
}

// Message names the item and the fields.
func (r Rejection) Message() string {
	parts := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		if e.Field == "" {
			parts[i] = e.Message
		} else {
			parts[i] = e.Field + ": " + e.Message
		}
	}
	return r.Where + ": " + strings.Join(parts, "; ")
}

// Result is what a request maps to: the valid events, the refused ones and
// how many records were skipped because they carry no GenAI data. Items and
// Rejected count the records the sender's partial-success answer is about.
type Result struct {
	Items    []Item
	Rejected []Rejection
	// Skipped counts by reason: no_gen_ai (a span without gen_ai.*
	// attributes, a log record not named gen_ai.evaluation.result) or
	// operation (a GenAI span outside Mapping.Operations).
	Skipped map[string]int
}

func (r *Result) skip(reason string) {
	if r.Skipped == nil {
		r.Skipped = map[string]int{}
	}
	r.Skipped[reason]++
}

// add validates e and files it as an item or a rejection.
func (r *Result) add(e feedback.Event, where string, pre []feedback.FieldError) {
	errs := pre
	for _, fe := range e.Validate() {
		// A field the mapping already explained (a missing trace id) is
		// not reported a second time as merely missing.
		dup := false
		for _, p := range pre {
			dup = dup || p.Field == fe.Field
		}
		if !dup {
			errs = append(errs, fe)
		}
	}
	if len(errs) > 0 {
		r.Rejected = append(r.Rejected, Rejection{Where: where, Errors: errs})
		return
	}
	r.Items = append(r.Items, Item{Event: e, Where: where})
}

// attrs is one lookup scope: the record's own attributes, then its
// resource's.
type attrs struct {
	own      []*commonpb.KeyValue
	resource []*commonpb.KeyValue
}

func find(kvs []*commonpb.KeyValue, name string) *commonpb.AnyValue {
	for _, kv := range kvs {
		if kv.GetKey() == name && kv.GetValue() != nil && kv.GetValue().GetValue() != nil {
			return kv.GetValue()
		}
	}
	return nil
}

func (a attrs) get(name string) *commonpb.AnyValue {
	if v := find(a.own, name); v != nil {
		return v
	}
	return find(a.resource, name)
}

func (a attrs) first(names []string) string {
	for _, n := range names {
		if v := a.get(n); v != nil {
			if s := text(v); s != "" {
				return s
			}
		}
	}
	return ""
}

// Traces maps a trace export request.
func (m Mapping) Traces(req *coltracepb.ExportTraceServiceRequest) Result {
	var r Result
	for i, rs := range req.GetResourceSpans() {
		res := rs.GetResource().GetAttributes()
		for j, ss := range rs.GetScopeSpans() {
			for k, sp := range ss.GetSpans() {
				where := "resourceSpans[" + strconv.Itoa(i) + "].scopeSpans[" + strconv.Itoa(j) + "].spans[" + strconv.Itoa(k) + "]"
				a := attrs{own: sp.GetAttributes(), resource: res}
				for n, ev := range sp.GetEvents() {
					if ev.GetName() == EvaluationEvent {
						ea := attrs{own: append(append([]*commonpb.KeyValue(nil), ev.GetAttributes()...), sp.GetAttributes()...), resource: res}
						e, pre := m.evaluation(ea, sp.GetTraceId(), ev.GetTimeUnixNano())
						r.add(e, where+".events["+strconv.Itoa(n)+"] ("+EvaluationEvent+")", pre)
					}
				}
				if !hasGenAI(sp.GetAttributes()) {
					r.skip("no_gen_ai")
					continue
				}
				if len(m.Operations) > 0 && !contains(m.Operations, text(find(sp.GetAttributes(), attrOperation))) {
					r.skip("operation")
					continue
				}
				e, pre := m.interaction(sp, a)
				r.add(e, where+" (span "+strconv.Quote(cut(sp.GetName()))+")", pre)
			}
		}
	}
	return r
}

// Logs maps a logs export request.
func (m Mapping) Logs(req *collogspb.ExportLogsServiceRequest) Result {
	var r Result
	for i, rl := range req.GetResourceLogs() {
		res := rl.GetResource().GetAttributes()
		for j, sl := range rl.GetScopeLogs() {
			for k, lr := range sl.GetLogRecords() {
				name := lr.GetEventName()
				if name == "" {
					name = text(find(lr.GetAttributes(), "event.name"))
				}
				if name != EvaluationEvent {
					r.skip("no_gen_ai")
					continue
				}
				ts := lr.GetTimeUnixNano()
				if ts == 0 {
					ts = lr.GetObservedTimeUnixNano()
				}
				e, pre := m.evaluation(attrs{own: lr.GetAttributes(), resource: res}, lr.GetTraceId(), ts)
				r.add(e, "resourceLogs["+strconv.Itoa(i)+"].scopeLogs["+strconv.Itoa(j)+"].logRecords["+strconv.Itoa(k)+"] ("+EvaluationEvent+")", pre)
			}
		}
	}
	return r
}

func hasGenAI(kvs []*commonpb.KeyValue) bool {
	for _, kv := range kvs {
		if strings.HasPrefix(kv.GetKey(), genAIPrefix) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// correlation is the trace id as correlation_id, or the problem with it.
func correlation(id []byte, pre []feedback.FieldError) (string, []feedback.FieldError) {
	switch {
	case len(id) == 0 || IDHex(id) == "":
		return "", append(pre, feedback.FieldError{Field: "correlation_id",
			Message: "required: the record has no trace id (emit it inside the model call's span context)"})
	case len(id) != 16:
		return "", append(pre, feedback.FieldError{Field: "correlation_id",
			Message: "the trace id is " + strconv.Itoa(len(id)) + " bytes, OTLP trace ids are 16"})
	}
	return IDHex(id), pre
}

func timestamp(nanos uint64, pre []feedback.FieldError) (*feedback.Time, []feedback.FieldError) {
	switch {
	case nanos == 0:
		return nil, pre // the collector sets the receive time
	case nanos > math.MaxInt64:
		return nil, append(pre, feedback.FieldError{Field: "timestamp", Message: "the record's time is out of range"})
	}
	return feedback.NewTime(time.Unix(0, int64(nanos))), pre
}

func (m Mapping) model(a attrs) feedback.Model {
	return feedback.Model{ID: a.first(m.ModelIDAttributes), Version: a.first(m.ModelVersionAttributes),
		ReleasedAt: a.first(m.ReleasedAtAttributes)}
}

func (m Mapping) attributes(a attrs) map[string]string {
	var out map[string]string
	for _, n := range m.Attributes {
		if v := a.get(n); v != nil {
			if out == nil {
				out = map[string]string{}
			}
			out[n] = text(v)
		}
	}
	return out
}

func (m Mapping) interaction(sp *tracepb.Span, a attrs) (feedback.Event, []feedback.FieldError) {
	var pre []feedback.FieldError
	e := feedback.Event{Kind: feedback.KindInteraction, Model: m.model(a), Attributes: m.attributes(a)}
	e.CorrelationID, pre = correlation(sp.GetTraceId(), pre)
	end := sp.GetEndTimeUnixNano()
	if end == 0 {
		end = sp.GetStartTimeUnixNano()
	}
	e.Timestamp, pre = timestamp(end, pre)
	c := &feedback.Context{PromptVersion: a.first(m.PromptVersionAttributes)}
	c.SystemPrompt, c.Input, c.Output = content(sp)
	var perr []feedback.FieldError
	c.Params, perr = m.params(sp.GetAttributes())
	pre = append(pre, perr...)
	if c.SystemPrompt != "" || c.Input != "" || c.Output != "" || c.PromptVersion != "" || c.Params != nil {
		e.Context = c
	}
	return e, pre
}

// params collects the span attributes under ParamPrefixes into a JSON
// object with sorted keys, so the same parameters always hash to the same
// effective_version.
func (m Mapping) params(kvs []*commonpb.KeyValue) (json.RawMessage, []feedback.FieldError) {
	vals := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		for _, p := range m.ParamPrefixes {
			if name, ok := strings.CutPrefix(kv.GetKey(), p); ok && name != "" && kv.GetValue().GetValue() != nil {
				if _, dup := vals[name]; !dup {
					vals[name] = kv.GetValue()
				}
				break
			}
		}
	}
	if len(vals) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []feedback.FieldError
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		b = append(b, kb...)
		b = append(b, ':')
		switch v := vals[k].GetValue().(type) {
		case *commonpb.AnyValue_IntValue:
			b = strconv.AppendInt(b, v.IntValue, 10)
		case *commonpb.AnyValue_DoubleValue:
			f := v.DoubleValue
			if math.IsNaN(f) || math.IsInf(f, 0) {
				errs = append(errs, feedback.FieldError{Field: "context.params." + k, Message: "must be a finite number"})
				b = append(b, '0')
				continue
			}
			b = appendDouble(b, f)
		default:
			// Strings as they are; booleans, arrays and maps as their text
			// (params hold numbers or strings).
			sb, _ := json.Marshal(text(vals[k]))
			b = append(b, sb...)
		}
	}
	return append(b, '}'), errs
}

// appendDouble keeps a double recognisable as one: 1.0 stays 1.0, as a
// client that sends the snapshot itself writes it.
func appendDouble(b []byte, f float64) []byte {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return append(b, s...)
}

func (m Mapping) evaluation(a attrs, traceID []byte, nanos uint64) (feedback.Event, []feedback.FieldError) {
	var pre []feedback.FieldError
	e := feedback.Event{Kind: feedback.KindFeedback, Source: feedback.SourceAPI, Model: m.model(a), Attributes: m.attributes(a)}
	e.CorrelationID, pre = correlation(traceID, pre)
	e.Timestamp, pre = timestamp(nanos, pre)
	var score *float64
	switch v := a.get(attrEvaluationScore).GetValue().(type) {
	case *commonpb.AnyValue_DoubleValue:
		f := v.DoubleValue
		score = &f
	case *commonpb.AnyValue_IntValue:
		f := float64(v.IntValue)
		score = &f
	case nil:
	default:
		pre = append(pre, feedback.FieldError{Field: "score", Message: attrEvaluationScore + " must be a number"})
	}
	e.Score = score
	label := text(a.get(attrEvaluationLabel))
	if feedback.ValidTag(label) {
		e.Tags = []string{label}
		if feedback.InTaxonomy(label) {
			e.Reason = label
		}
	}
	e.Sentiment = m.sentiment(label, score)
	e.Comment = text(a.get(attrEvaluationExplain))
	if u := text(a.get("user.id")); u != "" {
		e.User = &feedback.User{ID: u}
	}
	return e, pre
}

func (m Mapping) sentiment(label string, score *float64) feedback.Sentiment {
	l := strings.ToLower(label)
	switch {
	case l != "" && contains(m.PositiveLabels, l):
		return feedback.Positive
	case l != "" && contains(m.NegativeLabels, l):
		return feedback.Negative
	case score != nil && *score >= m.PositiveScore:
		return feedback.Positive
	case score != nil && *score < m.NegativeScore:
		return feedback.Negative
	case score == nil && feedback.InTaxonomy(label):
		// Every taxonomy tag names a failure.
		return feedback.Negative
	}
	return feedback.Neutral
}

// text renders an attribute value as a string: strings as they are, numbers
// and booleans in their usual form, arrays and maps as JSON.
func text(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case nil:
		return ""
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	}
	b, err := json.Marshal(plain(v))
	if err != nil {
		return ""
	}
	return string(b)
}

// plain turns an AnyValue into what encoding/json writes naturally.
func plain(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		if math.IsNaN(x.DoubleValue) || math.IsInf(x.DoubleValue, 0) {
			return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
		}
		return x.DoubleValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue // base64, as OTLP JSON writes bytes
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, len(x.ArrayValue.GetValues()))
		for i, e := range x.ArrayValue.GetValues() {
			out[i] = plain(e)
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		out := map[string]any{}
		for _, kv := range x.KvlistValue.GetValues() {
			out[kv.GetKey()] = plain(kv.GetValue())
		}
		return out
	}
	return nil
}
