package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// esStandIn answers what feedbackd's Elasticsearch sink calls, as
// Elasticsearch 8 documents it: GET / (with the X-Elastic-Product header the
// official client checks), PUT /_index_template/<name> and POST /_bulk of
// create actions (201, or 409 for an _id the index holds). Anything else is
// answered 400 and failed in the test.
type esStandIn struct {
	t    *testing.T
	mu   sync.Mutex
	docs []map[string]any
	ids  map[string]bool
	more chan struct{}
}

func newESStandIn(t *testing.T) (*esStandIn, string) {
	s := &esStandIn{t: t, ids: map[string]bool{}, more: make(chan struct{})}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *esStandIn) refuse(w http.ResponseWriter, r *http.Request, why string) {
	s.t.Errorf("Elasticsearch stand-in: %s %s: %s", r.Method, r.URL, why)
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"error":{"type":"standin_refused","reason":%q},"status":400}`, why)
}

func (s *esStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		io.WriteString(w, `{"name":"standin","version":{"number":"8.15.0"},"tagline":"You Know, for Search"}`)
	case r.Method == http.MethodPut && regexp.MustCompile(`^/_index_template/[a-z0-9-]+$`).MatchString(r.URL.Path):
		var tpl map[string]json.RawMessage
		if json.Unmarshal(body, &tpl) != nil || tpl["index_patterns"] == nil {
			s.refuse(w, r, "not an index template")
			return
		}
		io.WriteString(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		if r.Header.Get("Content-Type") != "application/x-ndjson" || !bytes.HasSuffix(body, []byte("\n")) {
			s.refuse(w, r, "bulk body must be NDJSON ending in a newline")
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 8<<20)
		var items []string
		s.mu.Lock()
		defer s.mu.Unlock()
		for sc.Scan() {
			var action map[string]map[string]string
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil || len(action) != 1 || len(action["create"]) != 2 || action["create"]["_id"] == "" || action["create"]["_index"] == "" {
				s.refuse(w, r, "not a create action with _index and _id: "+sc.Text())
				return
			}
			meta := action["create"]
			var doc map[string]any
			if !sc.Scan() || json.Unmarshal(sc.Bytes(), &doc) != nil {
				s.refuse(w, r, "action without a JSON source")
				return
			}
			key := meta["_index"] + "/" + meta["_id"]
			status := 201
			if s.ids[key] {
				status = 409
			} else {
				s.ids[key] = true
				s.docs = append(s.docs, doc)
			}
			items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":%d}}`, meta["_index"], meta["_id"], status))
		}
		close(s.more)
		s.more = make(chan struct{})
		fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
	default:
		s.refuse(w, r, "not implemented")
	}
}

// waitFor returns the stored documents whose key field is value, once there
// are n (or what there is after 30 s, for the test to compare).
func (s *esStandIn) waitFor(key, value string, n int) []map[string]any {
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		var got []map[string]any
		for _, d := range s.docs {
			if v, _ := d[key].(string); v == value {
				got = append(got, d)
			}
		}
		more := s.more
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-more:
		case <-deadline:
			return got
		}
	}
}

type daemon struct {
	*feedbackdtest.Daemon
	es *esStandIn
}

// TestAgainstFeedbackd runs the client against one real feedbackd process
// delivering to an Elasticsearch stand-in, and compares what was stored.
func TestAgainstFeedbackd(t *testing.T) {
	d := startFeedbackd(t)
	t.Run("FeedbackAndInteractionArriveWithExactFields", func(t *testing.T) { testFeedbackAndInteractionArriveWithExactFields(t, d) })
	t.Run("BatchesOfBatchSizeAndCloseDeliversEverything", func(t *testing.T) { testBatchesOfBatchSizeAndCloseDeliversEverything(t, d) })
	t.Run("RefusalNamesIndexAndFieldAndTheRestIsDelivered", func(t *testing.T) { testRefusalNamesIndexAndFieldAndTheRestIsDelivered(t, d) })
	t.Run("WrongTokenIsNotRetried", func(t *testing.T) { testWrongTokenIsNotRetried(t, d) })
	t.Run("RecordUsesTheTraceIDAndSendsTheSnapshot", func(t *testing.T) { testRecordUsesTheTraceIDAndSendsTheSnapshot(t, d) })
}

func startFeedbackd(t *testing.T) *daemon {
	t.Helper()
	es, esURL := newESStandIn(t)
	d := feedbackdtest.Start(t, feedbackdtest.Build(t), "--spool-dir", filepath.Join(t.TempDir(), "spool"),
		"--elasticsearch-url", esURL, "--tokens", "server-token")
	return &daemon{d, es}
}

// requests is feedbackd_ingest_requests_total by code.
func (d *daemon) requests(t *testing.T) map[string]int {
	t.Helper()
	resp, err := http.Get(d.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^feedbackd_ingest_requests_total\{code="(\d+)"\} (\d+)$`).FindAllStringSubmatch(string(text), -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	return out
}

func (d *daemon) docs(t *testing.T, key, value string, n int) []map[string]any {
	t.Helper()
	got := d.es.waitFor(key, value, n)
	if len(got) != n {
		t.Fatalf("%d documents with %s=%s in Elasticsearch, want %d:\n%v\nfeedbackd log:\n%s", len(got), key, value, n, got, d.Log)
	}
	return got
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Logger == nil {
		// The tests assert the failures; the log would only repeat them.
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Model == (feedback.Model{}) {
		cfg.Model = feedback.Model{ID: "support-bot", Version: "2026-11-01.3"}
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustTime(t *testing.T, s string) *feedback.Time {
	v, err := feedback.ParseTime(s)
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

func diff(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

func testFeedbackAndInteractionArriveWithExactFields(t *testing.T, d *daemon) {
	before := d.requests(t)
	ctx := context.Background()
	c := newClient(t, Config{Endpoint: d.Base, Token: "server-token"})
	cid := NewCorrelationID()
	params := json.RawMessage(`{"temperature":0.2,"top_p":1.0,"max_tokens":512}`)
	got, err := c.Interaction(ctx, feedback.Event{
		CorrelationID: cid,
		Timestamp:     mustTime(t, "2026-11-20T06:00:00.000000001Z"),
		Model:         feedback.Model{ReleasedAt: "2026-11-01T00:00:00Z"},
		User:          &feedback.User{ID: "u-42"},
		Attributes:    map[string]string{"domain": "tax"},
		Context: &feedback.Context{SystemPrompt: "You are a tax assistant.", Input: "Can I deduct my home office?",
			Output: "Yes, always, in full.", Params: params, PromptVersion: "tax-v7"},
	})
	if err != nil || got != cid {
		t.Fatalf("Interaction = %q, %v", got, err)
	}
	score := -1.0
	fid, err := c.Feedback(ctx, feedback.Event{
		CorrelationID: cid, Timestamp: mustTime(t, "2026-11-20T06:00:05Z"),
		Sentiment: feedback.Negative, Score: &score, Reason: "hallucination", Tags: []string{"factually_incorrect"},
		Comment: "Not in full, and not always.", Source: feedback.SourceModal,
		User:       &feedback.User{ID: "u-42", Role: "customer", Geo: "DE"},
		Attributes: map[string]string{"domain": "tax", "channel": "web"},
		Edit:       &feedback.Edit{OriginalChars: 21, EditedChars: 40, Similarity: 0.25},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`).MatchString(fid) {
		t.Errorf("feedback_id %q is not a ULID", fid)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	for _, doc := range d.docs(t, "correlation_id", cid, 2) {
		docs[doc["kind"].(string)] = doc
	}
	// The client sends the interaction first and waits for its 202, so
	// feedbackd's enrichment (docs/enrichment.md) copies its release time,
	// effective version, prompt version and parameters onto the feedback.
	ev := feedback.EffectiveVersion("support-bot", &feedback.Context{SystemPrompt: "You are a tax assistant.", Params: params})
	diff(t, "feedback", docs["feedback"], asJSON(t, map[string]any{
		"schema": "feedback/v1", "kind": "feedback", "feedback_id": fid, "correlation_id": cid,
		"timestamp": "2026-11-20T06:00:05.000000000Z",
		"model":     map[string]any{"id": "support-bot", "version": "2026-11-01.3", "released_at": "2026-11-01T00:00:00Z", "effective_version": ev},
		"context":   map[string]any{"params": params, "prompt_version": "tax-v7"},
		"sentiment": "negative", "score": -1, "reason": "hallucination", "tags": []string{"hallucination", "factually_incorrect"},
		"severity": "warning", "comment": "Not in full, and not always.", "source": "modal",
		"user":       map[string]any{"id": "u-42", "role": "customer", "geo": "DE"},
		"attributes": map[string]any{"domain": "tax", "channel": "web"},
		"edit":       map[string]any{"original_chars": 21, "edited_chars": 40, "similarity": 0.25},
	}))
	diff(t, "interaction", docs["interaction"], asJSON(t, map[string]any{
		"schema": "feedback/v1", "kind": "interaction", "correlation_id": cid,
		"timestamp": "2026-11-20T06:00:00.000000001Z",
		"model": map[string]any{"id": "support-bot", "version": "2026-11-01.3", "released_at": "2026-11-01T00:00:00Z",
			"effective_version": feedback.EffectiveVersion("support-bot", &feedback.Context{SystemPrompt: "You are a tax assistant.", Params: params})},
		"user":       map[string]any{"id": "u-42"},
		"attributes": map[string]any{"domain": "tax"},
		"context": map[string]any{"system_prompt": "You are a tax assistant.", "input": "Can I deduct my home office?",
			"output": "Yes, always, in full.", "params": params, "prompt_version": "tax-v7"},
	}))
	diff(t, "requests", since(before, d.requests(t)), map[string]int{"202": 2})
}

func since(before, now map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range now {
		if v-before[k] != 0 {
			out[k] = v - before[k]
		}
	}
	return out
}

func testBatchesOfBatchSizeAndCloseDeliversEverything(t *testing.T, d *daemon) {
	before := d.requests(t)
	ctx := context.Background()
	// MaxDelay is far away: only the batch size and Close send.
	c := newClient(t, Config{Endpoint: d.Base, Token: "server-token", MaxDelay: time.Hour})
	cid := NewCorrelationID()
	want := map[string]bool{}
	for range 250 {
		id, err := c.Feedback(ctx, feedback.Event{CorrelationID: cid, Sentiment: feedback.Neutral})
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, doc := range d.docs(t, "correlation_id", cid, 250) {
		got[doc["feedback_id"].(string)] = true
	}
	diff(t, "delivered feedback ids", got, want)
	diff(t, "requests", since(before, d.requests(t)), map[string]int{"202": 3})
	if s := c.Stats(); s.Requests != 3 || s.Delivered != 250 {
		t.Errorf("stats %+v", s)
	}
	if _, err := c.Feedback(ctx, feedback.Event{CorrelationID: cid, Sentiment: feedback.Neutral}); !errors.Is(err, ErrClosed) {
		t.Errorf("Feedback after Close: %v, want ErrClosed", err)
	}
}

// A comment within 4 KiB that redaction makes longer: only feedbackd can
// know, and it refuses the event (413: a size limit) naming index and field;
// the others of the batch are delivered.
func testRefusalNamesIndexAndFieldAndTheRestIsDelivered(t *testing.T, d *daemon) {
	before := d.requests(t)
	ctx := context.Background()
	c := newClient(t, Config{Endpoint: d.Base, Token: "server-token", MaxDelay: time.Hour})
	cid := NewCorrelationID()
	good1, _ := c.Feedback(ctx, feedback.Event{CorrelationID: cid, Sentiment: feedback.Positive})
	bad, err := c.Feedback(ctx, feedback.Event{CorrelationID: cid, Sentiment: feedback.Negative, Comment: strings.Repeat("a@b.co ", 500)})
	if err != nil {
		t.Fatal(err)
	}
	good2, _ := c.Feedback(ctx, feedback.Event{CorrelationID: cid, Sentiment: feedback.Positive})
	err = c.Flush(ctx)
	var rej *RejectedError
	if !errors.As(err, &rej) {
		t.Fatalf("Flush: %v, want a RejectedError", err)
	}
	if rej.Status != 413 || len(rej.Events) != 1 || rej.Events[0].FeedbackID != bad {
		t.Errorf("refused %d events with %d, want only %s with 413", len(rej.Events), rej.Status, bad)
	}
	diff(t, "details", rej.Details, []feedback.FieldError{{Index: 1, Field: "comment", Message: "too large: 8500 bytes, the limit is 4 KiB (after redaction)"}})
	if !strings.Contains(err.Error(), "event 1: comment: too large") {
		t.Errorf("message %q does not name index and field", err)
	}
	got := map[string]bool{}
	for _, doc := range d.docs(t, "correlation_id", cid, 2) {
		got[doc["feedback_id"].(string)] = true
	}
	diff(t, "delivered", got, map[string]bool{good1: true, good2: true})
	diff(t, "requests", since(before, d.requests(t)), map[string]int{"413": 1, "202": 1})
}

func testWrongTokenIsNotRetried(t *testing.T, d *daemon) {
	before := d.requests(t)
	c := newClient(t, Config{Endpoint: d.Base, Token: "wrong"})
	if _, err := c.Feedback(context.Background(), feedback.Event{CorrelationID: "c", Sentiment: feedback.Positive}); err != nil {
		t.Fatal(err)
	}
	var rej *RejectedError
	if err := c.Flush(context.Background()); !errors.As(err, &rej) || rej.Status != 401 || rej.Message != "missing or invalid bearer token" {
		t.Fatalf("Flush: %v", err)
	}
	diff(t, "requests", since(before, d.requests(t)), map[string]int{"401": 1})
}

// Record inside a span of the real OpenTelemetry SDK: the correlation id is
// its trace id, and the snapshot arrives under it.
func testRecordUsesTheTraceIDAndSendsTheSnapshot(t *testing.T, d *daemon) {
	c := newClient(t, Config{Endpoint: d.Base, Token: "server-token"})
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "answer")
	defer span.End()
	params := map[string]any{"temperature": 0, "model": "gpt-x"}
	cid, err := c.Record(ctx, Snapshot{
		SystemPrompt: "Answer in one sentence.", Input: "What is the VAT rate?", Params: params, PromptVersion: "p3",
		Model: feedback.Model{ReleasedAt: "2026-11-01T00:00:00Z"},
	}, func(ctx context.Context, s *Snapshot) error {
		s.Output = "19 %."
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := span.SpanContext().TraceID().String(); cid != want {
		t.Fatalf("correlation id %s, want the trace id %s", cid, want)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	doc := d.docs(t, "correlation_id", cid, 1)[0]
	if _, ok := doc["timestamp"].(string); !ok {
		t.Errorf("no timestamp in %v", doc)
	}
	delete(doc, "timestamp")
	raw := json.RawMessage(`{"model":"gpt-x","temperature":0}`)
	diff(t, "interaction", doc, asJSON(t, map[string]any{
		"schema": "feedback/v1", "kind": "interaction", "correlation_id": cid,
		"model": map[string]any{"id": "support-bot", "version": "2026-11-01.3", "released_at": "2026-11-01T00:00:00Z",
			"effective_version": feedback.EffectiveVersion("support-bot", &feedback.Context{SystemPrompt: "Answer in one sentence.", Params: raw})},
		"context": map[string]any{"system_prompt": "Answer in one sentence.", "input": "What is the VAT rate?", "output": "19 %.",
			"params": params, "prompt_version": "p3"},
	}))

	// A failed call records nothing.
	boom := errors.New("model unavailable")
	cid2, err := c.Record(context.Background(), Snapshot{Input: "x"}, func(context.Context, *Snapshot) error { return boom })
	if !errors.Is(err, boom) || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(cid2) {
		t.Errorf("Record of a failed call = %q, %v", cid2, err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Queued != 1 {
		t.Errorf("queued %d events, want only the first snapshot", s.Queued)
	}
}
