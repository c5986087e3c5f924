package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// answer is one scripted reply of ingestStandIn; drop closes the connection
// without answering.
type answer struct {
	status int
	header map[string]string
	body   string
	drop   bool
}

// ingestStandIn plays feedbackd's write endpoints for answers the real one
// cannot be made to give on demand (429, 503, dropped connections). A
// request that is not what feedbackd documents (POST of a JSON array of
// events to the endpoint of their kind, bearer token, JSON content type)
// fails the test. Without a scripted answer left it answers 202.
type ingestStandIn struct {
	t      *testing.T
	mu     sync.Mutex
	script []answer
	bodies [][]byte
	paths  []string
	hold   chan struct{} // non-nil: answers wait until it is closed
	got    chan struct{}
}

func newIngestStandIn(t *testing.T, script ...answer) (*ingestStandIn, string) {
	s := &ingestStandIn{t: t, script: script, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *ingestStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var events []feedback.Event
	switch {
	case r.Method != http.MethodPost:
		s.t.Errorf("stand-in: %s %s", r.Method, r.URL)
	case r.Header.Get("Authorization") != "Bearer t0ken" || r.Header.Get("Content-Type") != "application/json":
		s.t.Errorf("stand-in: headers %v", r.Header)
	case json.Unmarshal(body, &events) != nil || len(events) == 0:
		s.t.Errorf("stand-in: body is not a non-empty JSON array: %s", body)
	}
	for i, e := range events {
		if Endpoints[e.Kind] != r.URL.Path {
			s.t.Errorf("stand-in: event %d of kind %q sent to %s", i, e.Kind, r.URL.Path)
		}
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, body)
	s.paths = append(s.paths, r.URL.Path)
	var a *answer
	if len(s.script) > 0 {
		a = &s.script[0]
		s.script = s.script[1:]
	}
	hold := s.hold
	s.mu.Unlock()
	s.got <- struct{}{}
	if hold != nil {
		<-hold
	}
	switch {
	case a == nil:
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"accepted":1,"ids":[]}`)
	case a.drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		for k, v := range a.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}
}

func (s *ingestStandIn) requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// scripted is a client whose backoff waits are recorded instead of slept,
// with jitter 0.5.
func scripted(t *testing.T, url string, cfg Config) (*Client, *[]time.Duration) {
	cfg.Endpoint, cfg.Token = url, "t0ken"
	cfg.Model = feedback.Model{ID: "m", Version: "1"}
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.MaxDelay == 0 {
		cfg.MaxDelay = time.Hour
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sleeps []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		sleeps = append(sleeps, d)
		return true
	}
	c.random = func() float64 { return 0.5 }
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c, &sleeps
}

func ids(t *testing.T, body []byte) []string {
	var evs []feedback.Event
	if err := json.Unmarshal(body, &evs); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.FeedbackID
	}
	return out
}

func TestRetriesHonourRetryAfterThenBackOff(t *testing.T) {
	s, url := newIngestStandIn(t,
		answer{status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"error":"spool is full: the sinks are behind; retry later"}`},
		answer{status: 503, header: map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, body: `{"error":"shutting down; retry later"}`},
		answer{drop: true},
		answer{status: 502, body: "bad gateway"},
	)
	c, sleeps := scripted(t, url, Config{})
	ctx := context.Background()
	fid, _ := c.Feedback(ctx, feedback.Event{CorrelationID: "c1", Sentiment: feedback.Negative, Reason: "latency"})
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Retry-After as sent (an HTTP-date in the past: at once), then backoff
	// of 3/4 of min(30 s, 500 ms·2ⁿ) with jitter 0.5.
	diff(t, "waits", *sleeps, []time.Duration{7 * time.Second, 0, 1500 * time.Millisecond, 3 * time.Second})
	reqs := s.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	for _, b := range reqs[1:] {
		if string(b) != string(reqs[0]) {
			t.Errorf("a retry sent other bytes:\n%s\n%s", b, reqs[0])
		}
	}
	diff(t, "ids", ids(t, reqs[0]), []string{fid})
	if st := c.Stats(); st.Retries != 4 || st.Delivered != 1 || st.Requests != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	s, url := newIngestStandIn(t, answer{status: 503, body: `{"error":"spool not writable"}`}, answer{status: 503, body: `{"error":"spool not writable"}`}, answer{status: 503, body: `{"error":"spool not writable"}`})
	c, sleeps := scripted(t, url, Config{Retry: Retry{MaxAttempts: 3}})
	c.Feedback(context.Background(), feedback.Event{CorrelationID: "c1", Sentiment: feedback.Positive})
	err := c.Flush(context.Background())
	var und *UndeliveredError
	if !errors.As(err, &und) || und.Status != 503 || len(und.Events) != 1 || !strings.Contains(und.Reason, "gave up after 3 attempts") {
		t.Fatalf("Flush: %v", err)
	}
	diff(t, "waits", *sleeps, []time.Duration{375 * time.Millisecond, 750 * time.Millisecond})
	if n := len(s.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
}

func TestCloseStopsRetryingAtItsDeadline(t *testing.T) {
	s, url := newIngestStandIn(t, answer{status: 503, header: map[string]string{"Retry-After": "120"}, body: `{"error":"shutting down; retry later"}`})
	c, sleeps := scripted(t, url, Config{})
	c.Feedback(context.Background(), feedback.Event{CorrelationID: "c1", Sentiment: feedback.Positive})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Close(ctx)
	var und *UndeliveredError
	if !errors.As(err, &und) || !strings.Contains(und.Reason, "Close: context ends before the next retry") {
		t.Fatalf("Close: %v", err)
	}
	if len(*sleeps) != 0 || len(s.requests()) != 1 {
		t.Errorf("waited %v, sent %d requests; want no wait and 1", *sleeps, len(s.requests()))
	}
}

func TestPermanentAnswersAreNotRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		msg    string
	}{{400, "invalid request: body is not JSON"}, {401, "missing or invalid bearer token"}, {403, "browser tokens may only write feedback (POST /v1/feedback)"}, {413, "request body is over the limit of 4 MiB"}} {
		s, url := newIngestStandIn(t, answer{status: tc.status, header: map[string]string{"Retry-After": "1"}, body: `{"error":"` + tc.msg + `"}`})
		var reported []error
		c, sleeps := scripted(t, url, Config{OnError: func(err error) { reported = append(reported, err) }})
		c.Interaction(context.Background(), feedback.Event{CorrelationID: "c1", Context: &feedback.Context{Output: "o"}})
		err := c.Flush(context.Background())
		var rej *RejectedError
		if !errors.As(err, &rej) || rej.Status != tc.status || rej.Message != tc.msg || len(rej.Details) != 0 || rej.Events[0].CorrelationID != "c1" {
			t.Errorf("%d: Flush: %v", tc.status, err)
		}
		if len(s.requests()) != 1 || len(*sleeps) != 0 || len(reported) != 1 || reported[0] != rej {
			t.Errorf("%d: %d requests, waits %v, reported %v", tc.status, len(s.requests()), *sleeps, reported)
		}
	}
}

func TestDetailsAreMappedToTheEventsAndTheRestResent(t *testing.T) {
	s, url := newIngestStandIn(t, answer{status: 400, body: `{"error":"invalid request: event 0: ...","details":[` +
		`{"index":0,"field":"model.released_at","message":"must be an RFC 3339 timestamp"},` +
		`{"index":2,"field":"tags[1]","message":"duplicate tag \"bias\""},` +
		`{"index":2,"field":"comment","message":"too large: 5000 bytes, the limit is 4 KiB"}]}`})
	c, _ := scripted(t, url, Config{})
	var sent []string
	for range 4 {
		id, _ := c.Feedback(context.Background(), feedback.Event{CorrelationID: "c", Sentiment: feedback.Negative})
		sent = append(sent, id)
	}
	err := c.Flush(context.Background())
	var de *DeliveryError
	if !errors.As(err, &de) || len(de.Errors) != 2 {
		t.Fatalf("Flush: %v", err)
	}
	e0, e2 := de.Errors[0].(*RejectedError), de.Errors[1].(*RejectedError)
	if e0.Events[0].FeedbackID != sent[0] || e2.Events[0].FeedbackID != sent[2] {
		t.Errorf("refused %s and %s, want %s and %s", e0.Events[0].FeedbackID, e2.Events[0].FeedbackID, sent[0], sent[2])
	}
	if want := `feedbackd refused 1 event(s) with HTTP 400: event 2: tags[1]: duplicate tag "bias"; event 2: comment: too large: 5000 bytes, the limit is 4 KiB`; e2.Error() != want {
		t.Errorf("message\n%s\nwant\n%s", e2, want)
	}
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	diff(t, "resent", ids(t, reqs[1]), []string{sent[1], sent[3]})
}

func TestTooLargeWithoutDetailsSplitsTheBatch(t *testing.T) {
	s, url := newIngestStandIn(t, answer{status: 413, body: `{"error":"request body is over the limit of 4 MiB"}`})
	c, _ := scripted(t, url, Config{})
	var sent []string
	for range 3 {
		id, _ := c.Feedback(context.Background(), feedback.Event{CorrelationID: "c", Sentiment: feedback.Positive})
		sent = append(sent, id)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, b := range s.requests() {
		got = append(got, ids(t, b))
	}
	diff(t, "requests", got, [][]string{sent, sent[:1], sent[1:]})
}

func TestFullQueueRefusesNewEventsAndKeepsTheQueuedOnes(t *testing.T) {
	s, url := newIngestStandIn(t)
	s.hold = make(chan struct{})
	c, _ := scripted(t, url, Config{BatchSize: 1, QueueSize: 2})
	ctx := context.Background()
	ev := feedback.Event{CorrelationID: "c", Sentiment: feedback.Positive}
	first, _ := c.Feedback(ctx, ev)
	<-s.got // the sender is busy with the first event
	second, _ := c.Feedback(ctx, ev)
	third, _ := c.Feedback(ctx, ev)
	if _, err := c.Feedback(ctx, ev); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("fourth Feedback: %v, want ErrQueueFull", err)
	}
	close(s.hold)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range s.requests() {
		got = append(got, ids(t, b)...)
	}
	diff(t, "sent", got, []string{first, second, third})
	if st := c.Stats(); st.QueueFull != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestEachKindGoesToItsEndpoint(t *testing.T) {
	s, url := newIngestStandIn(t)
	c, _ := scripted(t, url, Config{})
	ctx := context.Background()
	c.Interaction(ctx, feedback.Event{CorrelationID: "c1"})
	c.Feedback(ctx, feedback.Event{CorrelationID: "c1", Sentiment: feedback.Positive})
	c.Send(ctx, feedback.Event{Kind: feedback.KindReview, FeedbackID: "f1", Verdict: feedback.VerdictConfirmed})
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	diff(t, "paths", s.paths, []string{"/v1/interactions", "/v1/feedback", "/v1/reviews"})
}

func TestInvalidEventsNameTheField(t *testing.T) {
	c, _ := scripted(t, "http://127.0.0.1:9", Config{})
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		send  func() error
		field string
	}{
		{"sentiment", func() error {
			_, err := c.Feedback(ctx, feedback.Event{CorrelationID: "c", Sentiment: "bad"})
			return err
		}, "sentiment"},
		{"tag", func() error {
			_, err := c.Feedback(ctx, feedback.Event{CorrelationID: "c", Sentiment: feedback.Positive, Tags: []string{"Not A Tag"}})
			return err
		}, "tags[0]"},
		{"correlation", func() error { _, err := c.Feedback(ctx, feedback.Event{Sentiment: feedback.Positive}); return err }, "correlation_id"},
		{"params", func() error {
			_, err := c.Record(ctx, Snapshot{Params: map[string]any{"t": []int{1}}}, func(context.Context, *Snapshot) error { return nil })
			return err
		}, "context.params.t"},
	} {
		var inv *InvalidEventError
		if err := tc.send(); !errors.As(err, &inv) || inv.Errors[0].Field != tc.field {
			t.Errorf("%s: %v, want an InvalidEventError naming %s", tc.name, err, tc.field)
		}
	}
	if st := c.Stats(); st.Queued != 0 {
		t.Errorf("queued %d invalid events", st.Queued)
	}
	if _, err := New(Config{Endpoint: "127.0.0.1:8787"}); err == nil {
		t.Error("New took an endpoint without a scheme")
	}
}
