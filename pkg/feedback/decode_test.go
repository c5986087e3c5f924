package feedback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// wantErr names one expected FieldError: index and field exactly, message by
// substring (messages are for people and may be reworded).
type wantErr struct {
	index int
	field string
	msg   string
}

func checkErrs(t *testing.T, got []FieldError, want []wantErr) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i].Index == want[i].index && got[i].Field == want[i].field && strings.Contains(got[i].Message, want[i].msg)
	}
	if !ok {
		var b strings.Builder
		for _, g := range got {
			fmt.Fprintf(&b, "\n  {%d, %q, %q}", g.Index, g.Field, g.Message)
		}
		t.Errorf("errors:%s\nwant: %+v", b.String(), want)
	}
}

const (
	minFeedback    = `{"kind":"feedback","correlation_id":"c1","model":{"id":"m","version":"v"},"sentiment":"negative"}`
	minInteraction = `{"kind":"interaction","correlation_id":"c1","model":{"id":"m","version":"v"}}`
)

// fb returns a minimal valid feedback event with extra members spliced in.
func fb(extra string) string {
	return strings.TrimSuffix(minFeedback, "}") + "," + extra + "}"
}

func TestDecode(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	tag41 := "a" + strings.Repeat("b", 40)
	tag40 := "a" + strings.Repeat("b", 39)
	var manyAttrs []string
	for i := 0; i < 33; i++ {
		manyAttrs = append(manyAttrs, fmt.Sprintf(`"k%d":"v"`, i))
	}
	deep := strings.Repeat("[", 70) + strings.Repeat("]", 70)

	tests := []struct {
		name string
		in   string
		want []wantErr
	}{
		// Valid events.
		{"minimal feedback", minFeedback, nil},
		{"minimal interaction", minInteraction, nil},
		{"schema explicit", `{"schema":"feedback/v1",` + minFeedback[1:], nil},
		{"review", `{"kind":"review","feedback_id":"f1","verdict":"corrected","reviewer":"rev-a","corrected_output":"x"}`, nil},
		{"escalation", `{"kind":"escalation","feedback_id":"f1","severity":"critical","ticket":{"system":"jira","key":"AIQ-1","url":"https://jira.example.com/browse/AIQ-1"}}`, nil},
		{"resolution", `{"kind":"resolution","resolution_id":"r1","model":{"id":"m","version":"v3"},"fixes":{"tags":["bias"],"feedback_ids":[],"cluster_ids":["cl-1"]}}`, nil},
		{"notification", `{"kind":"notification","feedback_id":"f1","resolution_id":"r1","channel":"email","user":{"id":"u1"}}`, nil},
		{"custom tag and reason", fb(`"reason":"outdated_rates","tags":["outdated_rates","biased_tone"]`), nil},
		{"40-char tag", fb(`"tags":["` + tag40 + `"]`), nil},
		{"offset timestamp", fb(`"timestamp":"2026-11-20T07:00:00+01:00"`), nil},
		{"lower-case t and z", fb(`"timestamp":"2026-11-20t06:00:00.5z"`), nil},
		{"escaped strings", fb(`"comment":"\u00e9\ud83d\ude00\n\"\\\/"`), nil},
		{"comment at the limit", fb(`"comment":"` + strings.Repeat("x", MaxCommentBytes) + `"`), nil},
		{"32 attributes", fb(`"attributes":{` + strings.Join(manyAttrs[:32], ",") + `}`), nil},
		{"params strings and numbers", `{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"},"context":{"params":{"t":0.2,"f":"json","n":-1e3}}}`, nil},
		{"similarity bounds", fb(`"edit":{"original_chars":0,"edited_chars":10,"similarity":1}`), nil},
		{"whitespace around", " \n\t" + minFeedback + "\r\n", nil},

		// Schema and kind.
		{"other schema", `{"schema":"feedback/v2",` + minFeedback[1:], []wantErr{{0, "schema", `must be "feedback/v1"`}}},
		{"kind missing", `{"correlation_id":"c"}`, []wantErr{{0, "kind", "required"}}},
		{"unknown kind", `{"kind":"complaint","correlation_id":"c"}`, []wantErr{{0, "kind", `got "complaint"`}}},
		{"kind wrong type", `{"kind":1}`, []wantErr{{0, "kind", "must be a string, got number"}}},

		// Required fields per kind.
		{"feedback missing all", `{"kind":"feedback"}`, []wantErr{
			{0, "correlation_id", "required"}, {0, "model.id", "required"}, {0, "model.version", "required"}, {0, "sentiment", "required"}}},
		{"interaction missing correlation", `{"kind":"interaction","model":{"id":"m","version":"v"}}`, []wantErr{{0, "correlation_id", "required"}}},
		{"review missing", `{"kind":"review"}`, []wantErr{{0, "feedback_id", "required"}, {0, "verdict", "required"}}},
		{"review bad verdict", `{"kind":"review","feedback_id":"f","verdict":"maybe"}`, []wantErr{{0, "verdict", `got "maybe"`}}},
		{"escalation without ticket", `{"kind":"escalation","feedback_id":"f"}`, []wantErr{{0, "ticket", "required"}}},
		{"escalation empty ticket", `{"kind":"escalation","feedback_id":"f","ticket":{}}`, []wantErr{{0, "ticket.system", "required"}, {0, "ticket.key", "required"}}},
		{"escalation bad url", `{"kind":"escalation","feedback_id":"f","ticket":{"system":"jira","key":"K-1","url":"ftp://x/y"}}`, []wantErr{{0, "ticket.url", "http(s)"}}},
		{"resolution missing", `{"kind":"resolution"}`, []wantErr{
			{0, "model.id", "required"}, {0, "model.version", "required"}, {0, "resolution_id", "required"}, {0, "fixes", "required"}}},
		{"resolution empty fixes", `{"kind":"resolution","resolution_id":"r","model":{"id":"m","version":"v"},"fixes":{"tags":[],"cluster_ids":[]}}`, []wantErr{{0, "fixes", "names nothing"}}},
		{"resolution empty id", `{"kind":"resolution","resolution_id":"r","model":{"id":"m","version":"v"},"fixes":{"feedback_ids":["f1",""],"tags":["Bias"]}}`, []wantErr{
			{0, "fixes.tags[0]", "custom tag"}, {0, "fixes.feedback_ids[1]", "empty"}}},
		{"notification missing", `{"kind":"notification"}`, []wantErr{{0, "feedback_id", "required"}, {0, "resolution_id", "required"}}},

		// Fields on the wrong kind.
		{"verdict on feedback", fb(`"verdict":"confirmed"`), []wantErr{{0, "verdict", "not allowed on kind feedback"}}},
		{"sentiment on interaction", `{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"},"sentiment":"positive","score":1}`, []wantErr{
			{0, "sentiment", "not allowed"}, {0, "score", "not allowed"}}},
		{"ticket on review", `{"kind":"review","feedback_id":"f","verdict":"confirmed","ticket":{"system":"j","key":"k"}}`, []wantErr{{0, "ticket", "not allowed"}}},
		{"channel on feedback", fb(`"channel":"email","resolution_id":"r"`), []wantErr{{0, "resolution_id", "not allowed"}, {0, "channel", "not allowed"}}},

		// Enums.
		{"bad sentiment", `{"kind":"feedback","correlation_id":"c","model":{"id":"m","version":"v"},"sentiment":"good"}`, []wantErr{{0, "sentiment", `got "good"`}}},
		{"bad severity", fb(`"severity":"urgent"`), []wantErr{{0, "severity", `got "urgent"`}}},
		{"bad source", fb(`"source":"email"`), []wantErr{{0, "source", `got "email"`}}},

		// Tags and reason.
		{"tags as string", fb(`"tags":"bias"`), []wantErr{{0, "tags", "must be an array of strings, got string"}}},
		{"invalid tags", fb(`"tags":["Bias","a-b","` + tag41 + `","bias","bias",3,""]`), []wantErr{
			{0, "tags[5]", "must be a string, got number"},
			{0, "tags[0]", `got "Bias"`}, {0, "tags[1]", `got "a-b"`}, {0, "tags[2]", "custom tag"},
			{0, "tags[4]", "duplicate"}, {0, "tags[6]", `got ""`}}},
		{"bad reason", fb(`"reason":"Bias"`), []wantErr{{0, "reason", `got "Bias"`}}},
		{"reason null", fb(`"reason":null`), []wantErr{{0, "reason", "must be a string, got null"}}},

		// Wrong JSON types.
		{"score as string", fb(`"score":"high"`), []wantErr{{0, "score", "must be a number, got string"}}},
		{"score out of range", fb(`"score":1e400`), []wantErr{{0, "score", "out of range"}}},
		{"model as array", `{"kind":"feedback","correlation_id":"c","sentiment":"negative","model":[]}`, []wantErr{{0, "model", "must be an object, got array"}}},
		{"nested junk", fb(`"user":{"id":{"a":[1,2,{"b":null}]}}`), []wantErr{{0, "user.id", "must be a string, got object"}}},
		{"attributes as string", fb(`"attributes":"tax"`), []wantErr{{0, "attributes", "must be an object"}}},
		{"attribute number", fb(`"attributes":{"domain":1,"ok":"x"}`), []wantErr{{0, "attributes.domain", "must be a string, got number"}}},
		{"attribute key with dot", fb(`"attributes":{"a.b":true}`), []wantErr{{0, `attributes["a.b"]`, "got boolean"}}},
		{"33 attributes", fb(`"attributes":{` + strings.Join(manyAttrs, ",") + `}`), []wantErr{{0, "attributes", "too large: 33 keys"}}},
		{"empty attribute key", fb(`"attributes":{"":"x"}`), []wantErr{{0, `attributes[""]`, "empty"}}},
		{"edit types", fb(`"edit":{"original_chars":1.5,"edited_chars":"3","similarity":1.5}`), []wantErr{
			{0, "edit.original_chars", "integer"}, {0, "edit.edited_chars", "got string"}, {0, "edit.similarity", "0..1"}}},
		{"edit negative", fb(`"edit":{"original_chars":-1,"edited_chars":2,"similarity":-0.1}`), []wantErr{
			{0, "edit.original_chars", "negative"}, {0, "edit.similarity", "0..1"}}},
		{"edit on interaction", strings.TrimSuffix(minInteraction, "}") + `,"edit":{"original_chars":1,"edited_chars":1,"similarity":0.5}}`, []wantErr{{0, "edit", "not allowed"}}},
		{"params value types", `{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"},"context":{"params":{"temperature":{"x":1},"a":true,"b":null,"c":[1],"d":1e999}}}`, []wantErr{
			{0, "context.params.temperature", "got object"}, {0, "context.params.a", "got boolean"}, {0, "context.params.b", "got null"},
			{0, "context.params.c", "got array"}, {0, "context.params.d", "out of range"}}},
		{"params not an object", `{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"},"context":{"params":[1]}}`, []wantErr{{0, "context.params", "must be a JSON object"}}},
		{"params duplicate key", `{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"},"context":{"params":{"t":1,"t":2}}}`, []wantErr{{0, "context.params.t", "duplicate key"}}},

		// Unknown fields, at every level.
		{"unknown fields", fb(`"foo":1,"model2":{},"user":{"name":"x"},"context":{"temp":1},"ticket":null`), []wantErr{
			{0, "foo", "unknown field"}, {0, "model2", "unknown field"}, {0, "user.name", "unknown field"},
			{0, "context.temp", "unknown field"}, {0, "ticket", "must be an object, got null"}}},
		{"unknown model field", `{"kind":"feedback","correlation_id":"c","sentiment":"positive","model":{"id":"m","version":"v","vendor":"x"}}`, []wantErr{{0, "model.vendor", "unknown field"}}},

		// Timestamps.
		{"timestamp with space", fb(`"timestamp":"2026-11-20 06:00:00Z"`), []wantErr{{0, "timestamp", "RFC 3339"}}},
		{"timestamp words", fb(`"timestamp":"yesterday"`), []wantErr{{0, "timestamp", "RFC 3339"}}},
		{"timestamp comma fraction", fb(`"timestamp":"2026-11-20T06:00:00,5Z"`), []wantErr{{0, "timestamp", "RFC 3339"}}},
		{"timestamp no zone", fb(`"timestamp":"2026-11-20T06:00:00"`), []wantErr{{0, "timestamp", "RFC 3339"}}},
		{"timestamp 10 fraction digits", fb(`"timestamp":"2026-11-20T06:00:00.0000000001Z"`), []wantErr{{0, "timestamp", "RFC 3339"}}},
		{"timestamp month 13", fb(`"timestamp":"2026-13-20T06:00:00Z"`), []wantErr{{0, "timestamp", "RFC 3339"}}},
		{"timestamp number", fb(`"timestamp":1795154400`), []wantErr{{0, "timestamp", "must be a string, got number"}}},
		{"released_at bad", `{"kind":"feedback","correlation_id":"c","sentiment":"positive","model":{"id":"m","version":"v","released_at":"2026-11-01"}}`, []wantErr{{0, "model.released_at", "RFC 3339"}}},

		{"integer overflow", fb(`"edit":{"original_chars":99999999999999999999,"edited_chars":1e3,"similarity":0.5}`), []wantErr{
			{0, "edit.original_chars", "out of range"}, {0, "edit.edited_chars", "integer"}}},
		{"unknown edit, ticket and fixes fields", `{"kind":"resolution","resolution_id":"r","model":{"id":"m","version":"v"},"fixes":{"tags":["bias"],"ids":[]},"edit":{"chars":1},"ticket":{"id":"x"}}`, []wantErr{
			{0, "fixes.ids", "unknown field"}, {0, "edit.chars", "unknown field"}, {0, "ticket.id", "unknown field"},
			{0, "edit", "not allowed"}, {0, "ticket", "not allowed"}}},
		{"wrong types in sub-objects", fb(`"context":[],"edit":"x","fixes":1,"ticket":true,"user":"u"`), []wantErr{
			{0, "context", "got array"}, {0, "edit", "got string"}, {0, "fixes", "got number"}, {0, "ticket", "got boolean"}, {0, "user", "got string"}}},
		{"long bad value is cut in the message", fb(`"source":"` + strings.Repeat("é", 100) + `"`), []wantErr{{0, "source", "…"}}},
		{"attribute key too long", fb(`"attributes":{"` + strings.Repeat("k", MaxIDBytes+1) + `":"v"}`), []wantErr{{0, `attributes["` + strings.Repeat("k", 64) + `…"]`, "too large"}}},
		{"attribute key with control char", fb(`"attributes":{"a\nb":"v"}`), []wantErr{{0, `attributes["a\nb"]`, "control"}}},

		// Ids.
		{"id with newline", `{"kind":"feedback","correlation_id":"c\n1","sentiment":"positive","model":{"id":"m","version":"v"}}`, []wantErr{{0, "correlation_id", "control"}}},
		{"id too long", `{"kind":"feedback","correlation_id":"c","sentiment":"positive","model":{"id":"` + strings.Repeat("m", MaxIDBytes+1) + `","version":"v"}}`, []wantErr{{0, "model.id", "too large"}}},

		// Sizes: never truncated.
		{"comment over 4 KiB", fb(`"comment":"` + strings.Repeat("é", MaxCommentBytes/2+1) + `"`), []wantErr{{0, "comment", "too large: 4098 bytes"}}},
		{"context field over 64 KiB", `{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"},"context":{"input":"` + strings.Repeat("x", MaxContextFieldBytes+1) + `"}}`, []wantErr{{0, "context.input", "too large"}}},
		{"300 KiB comment", fb(`"comment":"` + big + `"`), []wantErr{{0, "", "too large: event is"}, {0, "comment", "too large"}}},

		// Strict JSON.
		{"duplicate key", `{"kind":"feedback","kind":"review","correlation_id":"c","model":{"id":"m","version":"v"},"sentiment":"positive"}`, []wantErr{{0, "kind", "duplicate key"}}},
		{"invalid UTF-8 in a value", fb("\"comment\":\"bad \xff byte\""), []wantErr{{0, "comment", "invalid UTF-8"}}},
		{"invalid UTF-8 in a key", fb("\"k\xc3\":1"), []wantErr{{0, "[\"k\ufffd\"]", "invalid UTF-8"}, {0, "[\"k\ufffd\"]", "unknown field"}}},
		{"lone surrogate", fb(`"comment":"\ud800x"`), []wantErr{{0, "comment", "invalid UTF-8"}}},
		{"truncated", `{"kind":"feedback","tags":["bias",`, []wantErr{{0, "tags[1]", "unexpected end of input"}}},
		{"missing value", `{"kind":}`, []wantErr{{0, "kind", "where a value was expected"}}},
		{"trailing comma", `{"kind":"feedback",}`, []wantErr{{0, "", "where an object key was expected"}}},
		{"garbage after a value", `{"kind":"feedback" "x":1}`, []wantErr{{0, "kind", "',' or '}'"}}},
		{"garbage after the object", minFeedback + ` {}`, []wantErr{{0, "", "after the end"}}},
		{"raw control character", fb("\"comment\":\"a\tb\""), []wantErr{{0, "comment", "control character"}}},
		{"bad escape", fb(`"comment":"\x41"`), []wantErr{{0, "comment", "invalid escape"}}},
		{"bad unicode escape", fb(`"comment":"\u12G4"`), []wantErr{{0, "comment", `invalid \u escape`}}},
		{"short unicode escape", fb(`"comment":"\u12`), []wantErr{{0, "comment", `invalid \u escape`}}},
		{"lone low surrogate", fb(`"comment":"\udc00"`), []wantErr{{0, "comment", "invalid UTF-8"}}},
		{"high surrogate then non-surrogate", fb(`"comment":"\ud800\u0041"`), []wantErr{{0, "comment", "invalid UTF-8"}}},
		{"minus alone", fb(`"score":-`), []wantErr{{0, "score", "invalid number"}}},
		{"dot without digits", fb(`"score":1.`), []wantErr{{0, "score", "after '.'"}}},
		{"exponent without digits", fb(`"score":1e+`), []wantErr{{0, "score", "exponent"}}},
		{"bad literal", fb(`"score":tru`), []wantErr{{0, "score", "expected true"}}},
		{"unterminated string", `{"kind":"feedb`, []wantErr{{0, "kind", "unterminated string"}}},
		{"unterminated key", `{"kin`, []wantErr{{0, "", "unterminated string"}}},
		{"missing colon", `{"kind" "feedback"}`, []wantErr{{0, "kind", "':' was expected"}}},
		{"unterminated object", `{"kind":"feedback"`, []wantErr{{0, "kind", "end of input in an object"}}},
		{"bad number", fb(`"score":01`), []wantErr{{0, "score", "',' or '}'"}}},
		{"NaN literal", fb(`"score":NaN`), []wantErr{{0, "score", "where a value was expected"}}},
		{"byte order mark", "\xef\xbb\xbf" + minFeedback, []wantErr{{0, "", "where a value was expected"}}},
		{"too deep", fb(`"foo":` + deep), []wantErr{{0, "foo" + strings.Repeat("[0]", 63), "nested deeper than 64"}}},
		{"array instead of object", `[` + minFeedback + `]`, []wantErr{{0, "", "must be a JSON object, got array"}}},
		{"null", `null`, []wantErr{{0, "", "must be a JSON object, got null"}}},
		{"empty", ``, []wantErr{{0, "", "empty input"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, errs := Decode([]byte(tc.in))
			checkErrs(t, errs, tc.want)
			if len(tc.want) == 0 && e.Schema != Schema {
				t.Errorf("schema = %q, want it set to %q", e.Schema, Schema)
			}
			// A single object is also a valid request body, with the same
			// problems at index 0.
			if len(tc.in) > 0 && strings.TrimSpace(tc.in)[0] == '{' {
				_, berrs := DecodeBatch([]byte(tc.in))
				checkErrs(t, berrs, tc.want)
			}
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	valid := minFeedback
	many := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(valid+",", n), ",") + "]"
	}
	tests := []struct {
		name   string
		in     string
		events int
		want   []wantErr
	}{
		{"one object", valid, 1, nil},
		{"array of one", "[" + valid + "]", 1, nil},
		{"array of 1000", many(1000), 1000, nil},
		{"array of 1001", many(1001), 0, []wantErr{{1000, "", "too large: 1001 events"}}},
		{"empty body", "", 0, []wantErr{{0, "", "empty body"}}},
		{"blank body", " \n ", 0, []wantErr{{0, "", "empty body"}}},
		{"null", "null", 0, []wantErr{{0, "", "got null"}}},
		{"number", "42", 0, []wantErr{{0, "", "got number"}}},
		{"string", `"feedback"`, 0, []wantErr{{0, "", "got string"}}},
		{"empty array", "[]", 0, []wantErr{{0, "", "empty array"}}},
		{"array of junk", `[1,null,[],"x"]`, 0, []wantErr{
			{0, "", "got number"}, {1, "", "got null"}, {2, "", "got array"}, {3, "", "got string"}}},
		{"every problem of every event", `[` + valid + `,{"kind":"nope"},{"kind":"feedback","correlation_id":"c","model":{"id":"m","version":"v"},"sentiment":"bad","tags":"x"},` + valid + `]`, 0, []wantErr{
			{1, "kind", `got "nope"`},
			{2, "tags", "must be an array"}, {2, "sentiment", `got "bad"`}}},
		{"parse problems keep their index", "[" + valid + `,{"kind":"feedback","kind":"feedback","correlation_id":"c","model":{"id":"m","version":"v"},"sentiment":"positive","comment":"` + "\xff" + `"}]`, 0, []wantErr{
			{1, "kind", "duplicate key"}, {1, "comment", "invalid UTF-8"}}},
		{"syntax error in the second event", "[" + valid + `,{"kind":"feedback",`, 0, []wantErr{{1, "", "where an object key was expected"}}},
		{"garbage between events", "[" + valid + ` x]`, 0, []wantErr{{0, "", "',' or ']'"}}},
		{"unterminated array", "[" + valid, 0, []wantErr{{0, "", "unexpected end of input in an array"}}},
		{"oversize event in a batch", "[" + valid + "," + fb(`"comment":"`+strings.Repeat("x", MaxEventBytes)+`"`) + "]", 0, []wantErr{
			{1, "", "too large: event is"}, {1, "comment", "too large"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			events, errs := DecodeBatch([]byte(tc.in))
			checkErrs(t, errs, tc.want)
			if len(events) != tc.events {
				t.Errorf("got %d events, want %d", len(events), tc.events)
			}
		})
	}
}

func TestDecodeBatchLimits(t *testing.T) {
	body := bytes.Repeat([]byte(" "), MaxBatchBytes+1)
	_, errs := DecodeBatch(body)
	checkErrs(t, errs, []wantErr{{0, "", "too large: request body"}})
	if !TooLarge(errs) {
		t.Error("TooLarge(body over 4 MiB) = false")
	}

	_, errs = DecodeBatch([]byte("[" + strings.TrimSuffix(strings.Repeat(minFeedback+",", 1001), ",") + "]"))
	if !TooLarge(errs) {
		t.Error("TooLarge(1001 events) = false")
	}
	_, errs = DecodeBatch([]byte(`{"kind":"bogus"}`))
	if TooLarge(errs) {
		t.Error("TooLarge(bad kind) = true")
	}

	// A body full of unknown fields is cut at MaxErrors, so the error
	// response cannot outgrow the request many times over.
	var b strings.Builder
	b.WriteString(`{"kind":"feedback","correlation_id":"c","model":{"id":"m","version":"v"},"sentiment":"positive"`)
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, `,"x%d":1`, i)
	}
	b.WriteString("}")
	_, errs = DecodeBatch([]byte(b.String()))
	if len(errs) != MaxErrors || !strings.Contains(errs[len(errs)-1].Message, "too many errors") {
		t.Errorf("got %d errors, last %v; want %d ending in a too-many note", len(errs), errs[len(errs)-1], MaxErrors)
	}
}

func TestFieldErrorJSON(t *testing.T) {
	fe := FieldError{Index: 3, Field: "tags[2]", Message: "bad"}
	b, err := json.Marshal(fe)
	if err != nil || string(b) != `{"index":3,"field":"tags[2]","message":"bad"}` {
		t.Errorf("json = %s, %v", b, err)
	}
	if fe.Error() != "event 3: tags[2]: bad" {
		t.Errorf("Error() = %q", fe.Error())
	}
	if (FieldError{Message: "empty body"}).Error() != "event 0: empty body" {
		t.Errorf("Error() without field = %q", FieldError{Message: "empty body"}.Error())
	}
}

func TestUnmarshalJSON(t *testing.T) {
	for i, line := range corpusLines(t)[:20] {
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		out, _ := Marshal(&e)
		if !bytes.Equal(out, line) {
			t.Errorf("line %d: json.Unmarshal + Marshal differs", i+1)
		}
	}
	var e Event
	err := json.Unmarshal([]byte(`{"kind":"feedback","tags":"bias"}`), &e)
	var fe FieldError
	if err == nil || !errorsAs(err, &fe) || fe.Field != "tags" {
		t.Errorf("json.Unmarshal(tags string) = %v, want a FieldError for tags", err)
	}
	// Contract rules are Decode's, not UnmarshalJSON's.
	if err := json.Unmarshal([]byte(`{"kind":"feedback"}`), &e); err != nil {
		t.Errorf("json.Unmarshal(feedback without required fields) = %v", err)
	}
}

func errorsAs(err error, fe *FieldError) bool {
	if x, ok := err.(FieldError); ok {
		*fe = x
		return true
	}
	return false
}
