package feedback

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestMarshalFieldOrder(t *testing.T) {
	ts := NewTime(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"feedback with everything", Event{
			Kind: KindFeedback, FeedbackID: "f1", CorrelationID: "c1", Timestamp: ts,
			Model: Model{ID: "m", Version: "v"}, Sentiment: Negative, Score: ptr(-1.0), Reason: "bias",
			Tags: []string{"bias"}, Severity: SeverityWarning, Comment: "x", Source: SourceEdit,
			User:       &User{ID: "u", Role: "r", Geo: "DE"},
			Attributes: map[string]string{"zeta": "1", "jurisdiction": "DE", "alpha": "2", "domain": "tax", "channel": "web"},
			Edit:       &Edit{OriginalChars: 10, EditedChars: 0, Similarity: 0.5},
		}, `{"schema":"feedback/v1","kind":"feedback","feedback_id":"f1","correlation_id":"c1","timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"m","version":"v"},"sentiment":"negative","score":-1,"reason":"bias","tags":["bias"],"severity":"warning","comment":"x","source":"edit","user":{"id":"u","role":"r","geo":"DE"},"attributes":{"domain":"tax","channel":"web","jurisdiction":"DE","alpha":"2","zeta":"1"},"edit":{"original_chars":10,"edited_chars":0,"similarity":0.5}}`},
		{"interaction", Event{
			Schema: Schema, Kind: KindInteraction, CorrelationID: "c",
			Model:   Model{ID: "m", Version: "v", ReleasedAt: "2026-11-01T09:00:00Z", EffectiveVersion: "ev-1"},
			Context: &Context{SystemPrompt: "s", Input: "i", Output: "o", Params: json.RawMessage(`{ "top_p" : 1.0 }`), PromptVersion: "p"},
		}, `{"schema":"feedback/v1","kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v","released_at":"2026-11-01T09:00:00Z","effective_version":"ev-1"},"context":{"system_prompt":"s","input":"i","output":"o","params":{"top_p":1.0},"prompt_version":"p"}}`},
		{"resolution leads with its id", Event{
			Kind: KindResolution, ResolutionID: "r1", Model: Model{ID: "m", Version: "v3"},
			Fixes: &Fixes{Tags: []string{"bias"}, FeedbackIDs: []string{}, ClusterIDs: []string{"cl"}}, Comment: "c",
		}, `{"schema":"feedback/v1","kind":"resolution","resolution_id":"r1","model":{"id":"m","version":"v3"},"fixes":{"tags":["bias"],"feedback_ids":[],"cluster_ids":["cl"]},"comment":"c"}`},
		{"notification", Event{
			Kind: KindNotification, FeedbackID: "f", ResolutionID: "r1", Channel: "email", User: &User{ID: "u"},
		}, `{"schema":"feedback/v1","kind":"notification","feedback_id":"f","resolution_id":"r1","channel":"email","user":{"id":"u"}}`},
		{"review", Event{Kind: KindReview, FeedbackID: "f", Verdict: VerdictCorrected, Reviewer: "rev", CorrectedOutput: "ok"},
			`{"schema":"feedback/v1","kind":"review","feedback_id":"f","verdict":"corrected","reviewer":"rev","corrected_output":"ok"}`},
		{"escalation", Event{Kind: KindEscalation, FeedbackID: "f", Severity: SeverityCritical, Ticket: &Ticket{System: "jira", Key: "K-1"}},
			`{"schema":"feedback/v1","kind":"escalation","feedback_id":"f","severity":"critical","ticket":{"system":"jira","key":"K-1"}}`},
		{"nil vs empty", Event{Kind: KindFeedback, Tags: []string{}, Attributes: map[string]string{}, User: &User{}},
			`{"schema":"feedback/v1","kind":"feedback","tags":[],"user":{},"attributes":{}}`},
		{"escaping like the corpus writer", Event{Kind: KindFeedback, Comment: "<a>&\u2028\x7f\x01\b\f\n\r\t\"\\/é😀"},
			"{\"schema\":\"feedback/v1\",\"kind\":\"feedback\",\"comment\":\"<a>&\u2028\x7f\\u0001\\b\\f\\n\\r\\t\\\"\\\\/é😀\"}"},
		{"float formats", Event{Kind: KindFeedback, Score: ptr(1e21), Edit: &Edit{Similarity: 1e-7}},
			`{"schema":"feedback/v1","kind":"feedback","score":1e+21,"edit":{"original_chars":0,"edited_chars":0,"similarity":1e-7}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Marshal(&tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Marshal\n got %s\nwant %s", got, tc.want)
			}
			// encoding/json goes through MarshalJSON and only differs by
			// escaping HTML characters.
			std, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if json.Unmarshal(std, &a) != nil || json.Unmarshal(got, &b) != nil || !jsonEqual(a, b) {
				t.Errorf("json.Marshal = %s", std)
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"NaN score", Event{Kind: KindFeedback, Score: ptr(math.NaN())}, "score"},
		{"infinite similarity", Event{Kind: KindFeedback, Edit: &Edit{Similarity: math.Inf(1)}}, "edit.similarity"},
		{"invalid UTF-8", Event{Kind: KindFeedback, Comment: "a\xffb"}, "comment"},
		{"invalid UTF-8 in an attribute", Event{Kind: KindFeedback, Attributes: map[string]string{"k": "\xff"}}, "attributes.k"},
		{"invalid params", Event{Kind: KindInteraction, Context: &Context{Params: json.RawMessage(`{"a":`)}}, "context.params"},
		{"year 10000", Event{Kind: KindFeedback, Timestamp: NewTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}, "timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Marshal(&tc.ev)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Marshal error = %v, want one naming %s", err, tc.want)
			}
		})
	}
	if _, err := Marshal(nil); err == nil {
		t.Error("Marshal(nil) succeeded")
	}
}

func TestValidateHandBuilt(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want []wantErr
	}{
		{"ok", Event{Kind: KindFeedback, CorrelationID: "c", Model: Model{ID: "m", Version: "v"}, Sentiment: Positive}, nil},
		{"NaN score", Event{Kind: KindFeedback, CorrelationID: "c", Model: Model{ID: "m", Version: "v"}, Sentiment: Positive, Score: ptr(math.NaN())},
			[]wantErr{{0, "score", "finite"}}},
		{"NaN similarity", Event{Kind: KindFeedback, CorrelationID: "c", Model: Model{ID: "m", Version: "v"}, Sentiment: Positive, Edit: &Edit{Similarity: math.NaN()}},
			[]wantErr{{0, "edit.similarity", "0..1"}}},
		{"invalid UTF-8", Event{Kind: KindFeedback, CorrelationID: "c\xff", Model: Model{ID: "m", Version: "v"}, Sentiment: Positive, Comment: "\xff"},
			[]wantErr{{0, "correlation_id", "UTF-8"}, {0, "comment", "UTF-8"}}},
		{"bad params", Event{Kind: KindInteraction, CorrelationID: "c", Model: Model{ID: "m", Version: "v"}, Context: &Context{Params: json.RawMessage(`nope`)}},
			[]wantErr{{0, "context.params", "JSON object"}}},
		{"year out of range", Event{Kind: KindFeedback, CorrelationID: "c", Model: Model{ID: "m", Version: "v"}, Sentiment: Positive, Timestamp: NewTime(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC))},
			[]wantErr{{0, "timestamp", "year"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkErrs(t, tc.ev.Validate(), tc.want)
		})
	}
	var nilEvent *Event
	checkErrs(t, nilEvent.Validate(), []wantErr{{0, "", "no event"}})
}

func TestTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2026-11-20T06:00:00Z", "2026-11-20T06:00:00.000000000Z"},
		{"2026-11-20T06:00:00.5Z", "2026-11-20T06:00:00.500000000Z"},
		{"2026-11-20T06:00:00.123456789Z", "2026-11-20T06:00:00.123456789Z"},
		{"2026-11-20T07:30:00.000000001+01:30", "2026-11-20T06:00:00.000000001Z"},
		{"2026-11-19T23:00:00-07:00", "2026-11-20T06:00:00.000000000Z"},
	}
	for _, tc := range tests {
		var tm Time
		if err := json.Unmarshal([]byte(`"`+tc.in+`"`), &tm); err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		b, err := json.Marshal(tm)
		if err != nil || string(b) != `"`+tc.want+`"` {
			t.Errorf("%s: marshal = %s, %v; want %q", tc.in, b, err, tc.want)
		}
		if tm.String() != tc.want {
			t.Errorf("%s: String() = %s", tc.in, tm.String())
		}
	}
	txt, err := NewTime(time.Date(2026, 11, 20, 6, 0, 0, 0, time.FixedZone("x", 3600))).MarshalText()
	if err != nil || string(txt) != "2026-11-20T05:00:00.000000000Z" {
		t.Errorf("MarshalText = %s, %v", txt, err)
	}
	var back Time
	if err := back.UnmarshalText(txt); err != nil || back.String() != string(txt) {
		t.Errorf("UnmarshalText = %v, %v", back, err)
	}
	for _, bad := range []string{`"2026-11-20"`, `"2026-11-20T06:00:00+0100"`, `1795154400`, `"2026-02-30T00:00:00Z"`, `null`} {
		var tm Time
		if err := json.Unmarshal([]byte(bad), &tm); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}

func TestValidTag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"hallucination", true}, {"not_helpful", true}, {"outdated_rates", true}, {"biased_tone", true},
		{"a", true}, {"a" + strings.Repeat("0", 39), true}, {"x9_", true},
		{"", false}, {"Bias", false}, {"a-b", false}, {"a" + strings.Repeat("0", 40), false},
		{"9lives", false}, {"_x", false}, {"bias ", false}, {"a.b", false}, {"é", false}, {"bias\n", false},
	}
	for _, tc := range tests {
		if got := ValidTag(tc.tag); got != tc.ok {
			t.Errorf("ValidTag(%q) = %v, want %v", tc.tag, got, tc.ok)
		}
	}
	for _, tag := range Taxonomy {
		if !ValidTag(tag) || !InTaxonomy(tag) {
			t.Errorf("taxonomy tag %q not valid", tag)
		}
	}
	if InTaxonomy("biased_tone") {
		t.Error("InTaxonomy(biased_tone)")
	}
}

func TestEffectiveVersion(t *testing.T) {
	// Expected values computed with the generator's own expression in
	// Python 3: "ev-" + sha256(json.dumps([system_prompt, json.loads(params),
	// model_id], sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
	tests := []struct {
		name, model, prompt, params, want string
	}{
		{"non-ASCII prompt, 1.0 kept", "m", "Sÿstem ü — 日本 😀 \u2028 \x7f \x01 \"q\" \\ /",
			`{"temperature":0.2,"top_p":1.0,"max_tokens":512}`, "ev-b0abdb234e84"},
		{"Python number formats", "support-bot", "p",
			`{"z":1e16,"a":1e-5,"b":0.0001,"c":123456789012345678.0,"d":-0.0,"e":-0,"f":1E2,"g":"ü\u00e9\ud83d\ude00","h":12345678901234567890,"i":1.5e300,"j":9999999999999998.0,"k":0.1,"l":1e15}`,
			"ev-64a8ee8dde76"},
		{"empty", "tax-assistant", "", `{}`, "ev-1fbf8068f4ac"},
		{"nested values and control escapes", "m", "a\b\f\r\x1f", `{"n":null,"t":true,"f":false,"a":[1,2.5,"x",{"z":1,"b":[]}],"o":{}}`, "ev-7c78052eff9b"},
		{"absent params count as {}", "tax-assistant", "", ``, "ev-1fbf8068f4ac"},
		{"keys sorted by code point", "x", "p", `{"B":1,"a":2,"é":3,"Z":4}`, "ev-dc6b10806af4"},
		{"whitespace does not matter", "x", "p", "{ \"a\" : 2 ,\n\"B\":1, \"Z\":4,\"é\":3}", "ev-dc6b10806af4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Context{SystemPrompt: tc.prompt}
			if tc.params != "" {
				c.Params = json.RawMessage(tc.params)
			}
			if got := EffectiveVersion(tc.model, c); got != tc.want {
				t.Errorf("EffectiveVersion = %s, want %s", got, tc.want)
			}
		})
	}
	if got := EffectiveVersion("m", nil); got != "" {
		t.Errorf("EffectiveVersion(nil context) = %q", got)
	}
	if got := EffectiveVersion("m", &Context{Params: json.RawMessage(`{`)}); got != "" {
		t.Errorf("EffectiveVersion(broken params) = %q", got)
	}
}

func TestPyFloat(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {0.1, "0.1"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
		{1e-4, "0.0001"}, {1e-5, "1e-05"}, {1.5e300, "1.5e+300"}, {-2.5e-7, "-2.5e-07"}, {123.456, "123.456"},
		{math.Inf(1), "Infinity"}, {math.Inf(-1), "-Infinity"}, {math.NaN(), "NaN"},
	}
	for _, tc := range tests {
		if got := string(appendPyFloat(nil, tc.f)); got != tc.want {
			t.Errorf("appendPyFloat(%v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestDeriveSeverity(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want Severity
	}{
		{"offensive tag", Event{Sentiment: Negative, Tags: []string{"latency", "offensive"}}, SeverityCritical},
		{"harmful reason", Event{Sentiment: Negative, Reason: "harmful"}, SeverityCritical},
		{"harmful even when positive", Event{Sentiment: Positive, Tags: []string{"harmful"}}, SeverityCritical},
		{"negative hallucination", Event{Sentiment: Negative, Tags: []string{"hallucination"}}, SeverityWarning},
		{"negative bias reason", Event{Sentiment: Negative, Reason: "bias"}, SeverityWarning},
		{"negative factually_incorrect", Event{Sentiment: Negative, Tags: []string{"other", "factually_incorrect"}}, SeverityWarning},
		{"neutral bias", Event{Sentiment: Neutral, Tags: []string{"bias"}}, SeverityInfo},
		{"negative latency", Event{Sentiment: Negative, Reason: "latency", Tags: []string{"latency"}}, SeverityInfo},
		{"custom tag is not bias", Event{Sentiment: Negative, Tags: []string{"biased_tone"}}, SeverityInfo},
		{"plain thumbs-down", Event{Sentiment: Negative}, SeverityInfo},
	}
	for _, tc := range tests {
		if got := DeriveSeverity(&tc.ev); got != tc.want {
			t.Errorf("%s: DeriveSeverity = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	e := Event{
		Kind: KindFeedback, FeedbackID: "f", CorrelationID: "c", Model: Model{ID: "m", Version: "v"},
		Sentiment: Negative, Reason: "bias", Severity: SeverityWarning, Source: SourceModal,
		User: &User{ID: "u", Role: "customer", Geo: "DE"}, Attributes: map[string]string{"domain": "tax", "empty": ""},
	}
	tests := []struct {
		field, want string
		ok          bool
	}{
		{"model_id", "m", true}, {"model_version", "v", true}, {"sentiment", "negative", true}, {"reason", "bias", true},
		{"severity", "warning", true}, {"source", "modal", true}, {"user_role", "customer", true}, {"user_geo", "DE", true},
		{"user_id", "u", true}, {"correlation_id", "c", true}, {"feedback_id", "f", true}, {"kind", "feedback", true},
		{"attributes.domain", "tax", true}, {"attributes.empty", "", true}, {"attributes.channel", "", false},
		{"attributes.", "", false}, {"tag", "", false}, {"comment", "", false}, {"", "", false},
	}
	for _, tc := range tests {
		got, ok := e.FieldValue(tc.field)
		if got != tc.want || ok != tc.ok {
			t.Errorf("FieldValue(%q) = %q, %v; want %q, %v", tc.field, got, ok, tc.want, tc.ok)
		}
		if tc.ok && !KnownField(tc.field) {
			t.Errorf("KnownField(%q) = false", tc.field)
		}
	}
	bare := Event{Kind: KindInteraction}
	if v, ok := bare.FieldValue("user_id"); ok || v != "" {
		t.Errorf("FieldValue(user_id) without user = %q, %v", v, ok)
	}
	if v, ok := bare.FieldValue("reason"); ok || v != "" {
		t.Errorf("FieldValue(reason) when absent = %q, %v", v, ok)
	}
}

func TestFillDefaults(t *testing.T) {
	now := time.Date(2026, 11, 20, 6, 1, 35, 123456789, time.UTC)
	e := Event{
		Kind: KindFeedback, CorrelationID: "c", Model: Model{ID: "support-bot", Version: "2026-11-01.1"},
		Sentiment: Negative, Tags: []string{"harmful"},
		Context: &Context{
			SystemPrompt: "You are Acme's support assistant. Answer only from the knowledge base. If you are unsure, say that you don't know.",
			Params:       json.RawMessage(`{"temperature":0.2,"top_p":0.9,"max_tokens":512}`),
		},
	}
	e.FillDefaults(now)
	if e.Schema != Schema || e.Timestamp == nil || !e.Timestamp.Equal(now) || e.Severity != SeverityCritical {
		t.Errorf("FillDefaults: %+v", e)
	}
	if len(e.FeedbackID) != 26 || e.FeedbackID[:10] != "01M7VRQHMK" {
		t.Errorf("FeedbackID = %q, want a ULID with the corpus's time prefix 01M7VRQHMK", e.FeedbackID)
	}
	if e.Model.EffectiveVersion != "ev-e6f26d3a1800" {
		t.Errorf("EffectiveVersion = %q, want the corpus's v1 value", e.Model.EffectiveVersion)
	}
	// Set values are kept.
	keep := Event{Kind: KindFeedback, FeedbackID: "mine", Severity: SeverityInfo, Tags: []string{"harmful"}, Timestamp: NewTime(now.Add(time.Hour))}
	keep.FillDefaults(now)
	if keep.FeedbackID != "mine" || keep.Severity != SeverityInfo || !keep.Timestamp.Equal(now.Add(time.Hour)) {
		t.Errorf("FillDefaults overwrote: %+v", keep)
	}
	// Only feedback gets an id and a severity.
	in := Event{Kind: KindInteraction}
	in.FillDefaults(now)
	if in.FeedbackID != "" || in.Severity != "" {
		t.Errorf("interaction got %q / %q", in.FeedbackID, in.Severity)
	}
}

func TestNewULID(t *testing.T) {
	now := time.Now()
	a, b := NewULID(now), NewULID(now)
	if a == b {
		t.Error("two ULIDs are equal")
	}
	for _, id := range []string{a, b} {
		if len(id) != 26 || strings.Trim(id, crockford) != "" {
			t.Errorf("bad ULID %q", id)
		}
	}
	if a[:10] != b[:10] {
		t.Errorf("same millisecond, different time part: %s %s", a, b)
	}
}
