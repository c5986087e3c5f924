package feedback

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// FieldError is one problem with one event. Index is the event's position in
// the request (0 for a single object and for problems of the request as a
// whole); Field is a path such as "model.version", "tags[2]",
// "context.params.temperature" or "attributes.domain", empty when the problem
// concerns the whole event or request.
type FieldError struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return "event " + strconv.Itoa(e.Index) + ": " + e.Message
	}
	return "event " + strconv.Itoa(e.Index) + ": " + e.Field + ": " + e.Message
}

// tooLargePrefix starts every size-limit message, so that callers can answer
// 413 instead of 400 (docs/collector-api.md) without a second error type.
const tooLargePrefix = "too large: "

// TooLarge reports whether errs contains a size-limit violation (request
// body, event count, event size or a field's size).
func TooLarge(errs []FieldError) bool {
	for _, e := range errs {
		if strings.HasPrefix(e.Message, tooLargePrefix) {
			return true
		}
	}
	return false
}

// Decode decodes one event strictly and checks it against the contract
// (Validate). A missing schema is set to Schema. The Event is returned even
// when there are errors, so that callers can log what they could read, but it
// must not be accepted then.
func Decode(data []byte) (Event, []FieldError) {
	if len(data) > MaxBatchBytes {
		return Event{}, []FieldError{{Message: tooLargePrefix + "event is " + strconv.Itoa(len(data)) + " bytes, the limit is 256 KiB"}}
	}
	v, p := parseJSON(data)
	defer p.release()
	var errs []FieldError
	if len(data) > MaxEventBytes {
		errs = append(errs, FieldError{Message: tooLargePrefix + "event is " + strconv.Itoa(len(data)) + " bytes, the limit is 256 KiB"})
	}
	pre := parseErrors(p, false)
	if v == nil {
		return Event{}, capErrors(append(errs, pre[0]...))
	}
	if v.kind != jObject {
		errs = append(errs, pre[0]...)
		return Event{}, capErrors(append(errs, FieldError{Message: "must be a JSON object, got " + v.kind.String()}))
	}
	e, evErrs := decodeEvent(data, v, pre[0])
	return e, capErrors(append(errs, evErrs...))
}

// DecodeBatch decodes a request body holding one event object or an array of
// them, and reports every problem of every event with its index. Events are
// returned only when there is no problem at all: a request is accepted or
// rejected as a whole.
func DecodeBatch(body []byte) ([]Event, []FieldError) {
	if len(body) > MaxBatchBytes {
		return nil, []FieldError{{Message: tooLargePrefix + "request body is " + strconv.Itoa(len(body)) + " bytes, the limit is 4 MiB"}}
	}
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return nil, []FieldError{{Message: "empty body: expected a JSON object or an array of objects"}}
	}
	v, p := parseJSON(body)
	defer p.release()
	isArray := v != nil && v.kind == jArray
	if v == nil {
		// Whether the body was meant as an array decides whether the first
		// path step is an event index.
		t := bytes.TrimLeft(body, " \t\r\n")
		isArray = len(t) > 0 && t[0] == '['
	}
	pre := parseErrors(p, isArray)
	if v == nil {
		var errs []FieldError
		for _, i := range sortedKeys(pre) {
			errs = append(errs, pre[i]...)
		}
		return nil, capErrors(errs)
	}
	var elems []*jvalue
	switch v.kind {
	case jArray:
		elems = v.elems
	case jObject:
		elems = []*jvalue{v}
	default:
		return nil, []FieldError{{Message: "expected a JSON object or an array of objects, got " + v.kind.String()}}
	}
	var errs []FieldError
	if len(elems) == 0 {
		errs = append(errs, FieldError{Message: "empty array: a request carries at least one event"})
	}
	if len(elems) > MaxBatchEvents {
		errs = append(errs, FieldError{Index: MaxBatchEvents, Message: tooLargePrefix + strconv.Itoa(len(elems)) + " events, the limit is 1000 per request"})
	}
	events := make([]Event, len(elems))
	for i, el := range elems {
		var evErrs []FieldError
		if el.end-el.start > MaxEventBytes {
			evErrs = append(evErrs, FieldError{Message: tooLargePrefix + "event is " + strconv.Itoa(el.end-el.start) + " bytes, the limit is 256 KiB"})
		}
		if el.kind != jObject {
			evErrs = append(evErrs, pre[i]...)
			evErrs = append(evErrs, FieldError{Message: "must be a JSON object, got " + el.kind.String()})
		} else {
			var more []FieldError
			events[i], more = decodeEvent(body, el, pre[i])
			evErrs = append(evErrs, more...)
		}
		for _, fe := range evErrs {
			fe.Index = i
			errs = append(errs, fe)
		}
		if len(errs) > MaxErrors {
			break
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(a, b int) bool { return errs[a].Index < errs[b].Index })
		return nil, capErrors(errs)
	}
	return events, nil
}

func capErrors(errs []FieldError) []FieldError {
	if len(errs) <= MaxErrors {
		return errs
	}
	last := errs[MaxErrors-1].Index
	errs = errs[:MaxErrors-1]
	return append(errs, FieldError{Index: last, Message: "too many errors; the rest were not reported"})
}

// parseErrors turns the parser's problems into FieldErrors grouped by event
// index. With isArray the first path step is the event index.
func parseErrors(p *parser, isArray bool) map[int][]FieldError {
	out := map[int][]FieldError{}
	all := p.errs
	if p.fatal != nil {
		all = append(all[:len(all):len(all)], *p.fatal)
	}
	for _, je := range all {
		idx, path := 0, je.path
		if isArray && len(path) > 0 && path[0].isIdx {
			idx, path = path[0].index, path[1:]
		}
		out[idx] = append(out[idx], FieldError{Index: idx, Field: formatPath(path), Message: je.msg})
	}
	return out
}

func sortedKeys(m map[int][]FieldError) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

// decodeEvent maps a parsed object onto an Event and validates it. pre holds
// the parser's problems for this event; a field that already has a problem
// gets no further (consequential) ones from Validate.
func decodeEvent(data []byte, v *jvalue, pre []FieldError) (Event, []FieldError) {
	d := &decoder{data: data}
	for _, fe := range pre {
		fe.Index = 0
		d.errs = append(d.errs, fe)
		d.bad = append(d.bad, fe.Field)
	}
	e := d.event(v)
	if e.Schema == "" {
		e.Schema = Schema
	}
	for _, fe := range e.Validate() {
		if !d.covered(fe.Field) {
			d.errs = append(d.errs, fe)
		}
	}
	return e, d.errs
}

type decoder struct {
	data []byte
	errs []FieldError
	bad  []string
}

func (d *decoder) fail(field, msg string) {
	d.errs = append(d.errs, FieldError{Field: field, Message: msg})
	d.bad = append(d.bad, field)
}

// covered reports whether field is, or lies under, a field that already
// failed to decode: "model" covers "model.id", "tags[1]" covers nothing else.
func (d *decoder) covered(field string) bool {
	for _, b := range d.bad {
		if field == b {
			return true
		}
		if b != "" && strings.HasPrefix(field, b) {
			if c := field[len(b)]; c == '.' || c == '[' {
				return true
			}
		}
	}
	return false
}

func (d *decoder) wrongType(field string, v *jvalue, want string) {
	d.fail(field, "must be "+want+", got "+v.kind.String())
}

func (d *decoder) str(v *jvalue, field fieldPath) string {
	if v.kind != jString {
		d.wrongType(field.String(), v, "a string")
		return ""
	}
	return v.str
}

// strs keeps a placeholder for a bad element so that later indexes still
// name the right element.
func (d *decoder) strs(v *jvalue, field fieldPath) []string {
	if v.kind != jArray {
		d.wrongType(field.String(), v, "an array of strings")
		return nil
	}
	out := make([]string, len(v.elems))
	for i, el := range v.elems {
		if el.kind != jString {
			d.wrongType(indexPath(field.String(), i), el, "a string")
			continue
		}
		out[i] = el.str
	}
	return out
}

func (d *decoder) float(v *jvalue, field fieldPath) (float64, bool) {
	if v.kind != jNumber {
		d.wrongType(field.String(), v, "a number")
		return 0, false
	}
	f, err := strconv.ParseFloat(v.str, 64)
	if err != nil {
		d.fail(field.String(), "number out of range")
		return 0, false
	}
	return f, true
}

func (d *decoder) integer(v *jvalue, field fieldPath) int {
	if v.kind != jNumber {
		d.wrongType(field.String(), v, "an integer")
		return 0
	}
	n, err := strconv.ParseInt(v.str, 10, 64)
	if err != nil {
		if strings.ContainsAny(v.str, ".eE") {
			d.fail(field.String(), "must be an integer, got "+v.str)
		} else {
			d.fail(field.String(), "number out of range")
		}
		return 0
	}
	if int64(int(n)) != n {
		d.fail(field.String(), "number out of range")
		return 0
	}
	return int(n)
}

func (d *decoder) object(v *jvalue, field string) bool {
	if v.kind != jObject {
		d.wrongType(field, v, "an object")
		return false
	}
	return true
}

func (d *decoder) unknown(field string) { d.fail(field, "unknown field") }

func (d *decoder) event(v *jvalue) Event {
	var e Event
	for _, m := range v.members {
		f := fieldPath{"", m.key}
		val := m.val
		switch m.key {
		case "schema":
			e.Schema = d.str(val, f)
		case "kind":
			e.Kind = Kind(d.str(val, f))
		case "feedback_id":
			e.FeedbackID = d.str(val, f)
		case "correlation_id":
			e.CorrelationID = d.str(val, f)
		case "timestamp":
			if s := d.str(val, f); val.kind == jString {
				t, err := ParseTime(s)
				if err != nil {
					d.fail(f.String(), err.Error())
				} else {
					e.Timestamp = &t
				}
			}
		case "model":
			e.Model = d.model(val, f.String())
		case "sentiment":
			e.Sentiment = Sentiment(d.str(val, f))
		case "score":
			if x, ok := d.float(val, f); ok {
				e.Score = &x
			}
		case "reason":
			e.Reason = d.str(val, f)
		case "tags":
			e.Tags = d.strs(val, f)
		case "severity":
			e.Severity = Severity(d.str(val, f))
		case "comment":
			e.Comment = d.str(val, f)
		case "source":
			e.Source = d.str(val, f)
		case "user":
			e.User = d.user(val, f.String())
		case "attributes":
			e.Attributes = d.attributes(val, f.String())
		case "context":
			e.Context = d.context(val, f.String())
		case "edit":
			e.Edit = d.edit(val, f.String())
		case "verdict":
			e.Verdict = d.str(val, f)
		case "reviewer":
			e.Reviewer = d.str(val, f)
		case "corrected_output":
			e.CorrectedOutput = d.str(val, f)
		case "ticket":
			e.Ticket = d.ticket(val, f.String())
		case "resolution_id":
			e.ResolutionID = d.str(val, f)
		case "fixes":
			e.Fixes = d.fixes(val, f.String())
		case "channel":
			e.Channel = d.str(val, f)
		default:
			d.unknown(f.String())
		}
	}
	return e
}

// member is where one member of a nested object goes: a *string,
// *[]string, *int or *float64 (each type-checked and naming its path in
// errors), or a func for members that need more.
type member struct {
	key    string
	target any
}

// members decodes v's members into their targets; a key without one is an
// unknown field. It reports whether v was an object. The nested objects of
// an event are all flat, so this one walk replaces a hand-written loop per
// struct.
func (d *decoder) members(v *jvalue, field string, targets ...member) bool {
	if !d.object(v, field) {
		return false
	}
next:
	for _, mem := range v.members {
		f := fieldPath{field, mem.key}
		for _, t := range targets {
			if t.key != mem.key {
				continue
			}
			switch p := t.target.(type) {
			case *string:
				*p = d.str(mem.val, f)
			case *[]string:
				*p = d.strs(mem.val, f)
			case *int:
				*p = d.integer(mem.val, f)
			case *float64:
				*p, _ = d.float(mem.val, f)
			case func(*jvalue, fieldPath):
				p(mem.val, f)
			}
			continue next
		}
		d.unknown(f.String())
	}
	return true
}

func (d *decoder) model(v *jvalue, field string) Model {
	var m Model
	d.members(v, field, member{"id", &m.ID}, member{"version", &m.Version},
		member{"released_at", &m.ReleasedAt}, member{"effective_version", &m.EffectiveVersion})
	return m
}

func (d *decoder) user(v *jvalue, field string) *User {
	u := &User{}
	if !d.members(v, field, member{"id", &u.ID}, member{"role", &u.Role}, member{"geo", &u.Geo}) {
		return nil
	}
	return u
}

func (d *decoder) attributes(v *jvalue, field string) map[string]string {
	if !d.object(v, field) {
		return nil
	}
	a := make(map[string]string, len(v.members))
	for _, mem := range v.members {
		if mem.val.kind != jString {
			d.wrongType(joinPath(field, mem.key), mem.val, "a string")
			continue
		}
		a[mem.key] = mem.val.str
	}
	return a
}

func (d *decoder) context(v *jvalue, field string) *Context {
	c := &Context{}
	params := func(val *jvalue, f fieldPath) {
		// Shape and value types are Validate's job, so that hand-built
		// events get the same checks; here only the bytes are kept.
		var buf bytes.Buffer
		if err := json.Compact(&buf, d.data[val.start:val.end]); err != nil {
			d.fail(f.String(), "must be a JSON object")
			return
		}
		c.Params = json.RawMessage(buf.Bytes())
	}
	if !d.members(v, field, member{"system_prompt", &c.SystemPrompt}, member{"input", &c.Input},
		member{"output", &c.Output}, member{"params", params}, member{"prompt_version", &c.PromptVersion}) {
		return nil
	}
	return c
}

func (d *decoder) edit(v *jvalue, field string) *Edit {
	e := &Edit{}
	if !d.members(v, field, member{"original_chars", &e.OriginalChars}, member{"edited_chars", &e.EditedChars},
		member{"similarity", &e.Similarity}) {
		return nil
	}
	return e
}

func (d *decoder) ticket(v *jvalue, field string) *Ticket {
	t := &Ticket{}
	if !d.members(v, field, member{"system", &t.System}, member{"key", &t.Key}, member{"url", &t.URL}) {
		return nil
	}
	return t
}

func (d *decoder) fixes(v *jvalue, field string) *Fixes {
	x := &Fixes{}
	if !d.members(v, field, member{"tags", &x.Tags}, member{"feedback_ids", &x.FeedbackIDs},
		member{"cluster_ids", &x.ClusterIDs}) {
		return nil
	}
	return x
}

// UnmarshalJSON decodes strictly (unknown fields, wrong types, invalid UTF-8
// and duplicate keys are errors) but does not apply the contract rules of
// Validate, so that json.Unmarshal can read stored events that predate a
// tightened rule. Use Decode for ingest.
func (e *Event) UnmarshalJSON(data []byte) error {
	v, p := parseJSON(data)
	defer p.release()
	pre := parseErrors(p, false)
	if v == nil {
		return pre[0][0]
	}
	if v.kind != jObject {
		return FieldError{Message: "must be a JSON object, got " + v.kind.String()}
	}
	d := &decoder{data: data}
	d.errs = append(d.errs, pre[0]...)
	ev := d.event(v)
	if len(d.errs) > 0 {
		return d.errs[0]
	}
	if ev.Schema == "" {
		ev.Schema = Schema
	}
	*e = ev
	return nil
}
