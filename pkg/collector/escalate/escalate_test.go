package escalate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// ticketSystem is a ticket system stand-in: it records each request and answers
// with the next status of script (201 with a ticket once script runs out).
type ticketSystem struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
	script   []int
}

func (w *ticketSystem) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	n := len(w.requests)
	w.requests = append(w.requests, r)
	w.bodies = append(w.bodies, string(b))
	status := http.StatusCreated
	if len(w.script) > 0 {
		status, w.script = w.script[0], w.script[1:]
	}
	w.mu.Unlock()
	switch {
	case status == http.StatusCreated:
		var req target.Issue
		_ = json.Unmarshal(b, &req)
		rw.WriteHeader(status)
		_, _ = io.WriteString(rw, `{"key":"OPS-`+string(rune('1'+n))+`","url":"https://tickets.example.com/OPS-`+string(rune('1'+n))+`"}`)
	case status == http.StatusOK:
		_, _ = io.WriteString(rw, `{"ok":true}`) // a 2xx without a ticket
	default:
		http.Error(rw, "field summary is required", status)
	}
}

func (w *ticketSystem) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.requests)
}

var at = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func line(t *testing.T, js string) sink.Record {
	t.Helper()
	e, errs := feedback.Decode([]byte(js))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	e.FillDefaults(at)
	b, err := feedback.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	return sink.Record{Line: b}
}

const (
	harmful  = `{"kind":"feedback","feedback_id":"01JD0000000000000000000001","correlation_id":"4bf92f3577b34da6a3ce929d0e0e4736","timestamp":"2026-11-25T09:30:00Z","model":{"id":"support-bot","version":"2026-11-01.3"},"sentiment":"negative","reason":"harmful","tags":["harmful"],"comment":"It told me to mix bleach and ammonia."}`
	halluc   = `{"kind":"feedback","feedback_id":"01JD0000000000000000000002","correlation_id":"c-2","timestamp":"2026-11-25T09:31:00Z","model":{"id":"support-bot","version":"2026-11-01.3"},"sentiment":"negative","tags":["hallucination"]}`
	positive = `{"kind":"feedback","feedback_id":"01JD0000000000000000000003","correlation_id":"c-3","model":{"id":"support-bot","version":"2026-11-01.3"},"sentiment":"positive"}`
	offend   = `{"kind":"feedback","feedback_id":"01JD0000000000000000000004","correlation_id":"c-4","timestamp":"2026-11-25T09:32:00Z","model":{"id":"support-bot","version":"2026-11-01.3"},"sentiment":"negative","tags":["offensive"]}`
	interact = `{"kind":"interaction","correlation_id":"c-5","model":{"id":"support-bot","version":"2026-11-01.3"}}`
)

type spooled struct {
	mu    sync.Mutex
	lines []string
	err   error
}

func (s *spooled) append(ctx context.Context, lines [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for _, l := range lines {
		s.lines = append(s.lines, string(l))
	}
	return nil
}

// legacy builds the escalator of the --escalate-url options.
func legacy(t *testing.T, o Options, sp *spooled) (*Escalator, error) {
	t.Helper()
	cfg, ok, err := Build(nil, o)
	if err != nil {
		return nil, err
	}
	if !ok {
		t.Fatal("escalate-url set but no escalation built")
	}
	cfg.Append, cfg.Now = sp.append, func() time.Time { return at }
	return New(cfg)
}

func newEscalator(t *testing.T, wh *ticketSystem, severity feedback.Severity, sp *spooled) *Escalator {
	t.Helper()
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)
	x, err := legacy(t, Options{URL: srv.URL + "/hooks/tickets", Token: "s3cret", MinSeverity: string(severity), System: "jira",
		GrafanaURL: "https://grafana.example.com/"}, sp)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// Only feedback at or above the severity is escalated: one request per such
// event, with the exact body and headers, and one escalation event spooled.
func TestEscalatesCriticalFeedbackOnly(t *testing.T) {
	wh, sp := &ticketSystem{}, &spooled{}
	x := newEscalator(t, wh, feedback.SeverityCritical, sp)
	if err := x.Deliver(context.Background(), []sink.Record{line(t, harmful), line(t, halluc), line(t, positive), line(t, interact)}); err != nil {
		t.Fatal(err)
	}
	if wh.count() != 1 {
		t.Fatalf("%d webhook requests, want 1 (only the harmful feedback is critical)", wh.count())
	}
	r := wh.requests[0]
	if r.Method != http.MethodPost || r.URL.Path != "/hooks/tickets" || r.Header.Get("Authorization") != "Bearer s3cret" ||
		r.Header.Get("Idempotency-Key") != "01JD0000000000000000000001" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", r.Method, r.URL, r.Header)
	}
	wantBody := `{"feedback_id":"01JD0000000000000000000001","correlation_id":"4bf92f3577b34da6a3ce929d0e0e4736",` +
		`"title":"[critical] harmful on support-bot 2026-11-01.3","severity":"critical","sentiment":"negative","reason":"harmful",` +
		`"tags":["harmful"],"comment":"It told me to mix bleach and ammonia.","model":{"id":"support-bot","version":"2026-11-01.3"},` +
		`"timestamp":"2026-11-25T09:30:00.000000000Z",` +
		`"trace_url":"https://grafana.example.com/d/feedbackloop-trace?from=1795595400000\u0026to=1795602600000\u0026var-correlation_id=4bf92f3577b34da6a3ce929d0e0e4736"}`
	if wh.bodies[0] != wantBody {
		t.Errorf("body\n got %s\nwant %s", wh.bodies[0], wantBody)
	}
	wantLine := `{"schema":"feedback/v1","kind":"escalation","feedback_id":"01JD0000000000000000000001","correlation_id":"4bf92f3577b34da6a3ce929d0e0e4736",` +
		`"timestamp":"2026-11-25T10:00:00.000000000Z","model":{"id":"support-bot","version":"2026-11-01.3"},"reason":"harmful","tags":["harmful"],` +
		`"severity":"critical","ticket":{"system":"jira","key":"OPS-1","url":"https://tickets.example.com/OPS-1"}}`
	if len(sp.lines) != 1 || sp.lines[0] != wantLine {
		t.Fatalf("spooled\n got %q\nwant %q", sp.lines, wantLine)
	}
	if e, errs := feedback.Decode([]byte(sp.lines[0])); len(errs) > 0 || e.Validate() != nil {
		t.Errorf("the escalation event does not validate: %v %v", errs, e.Validate())
	}
}

func TestWarningSeverityAlsoEscalatesHallucinations(t *testing.T) {
	wh, sp := &ticketSystem{}, &spooled{}
	x := newEscalator(t, wh, feedback.SeverityWarning, sp)
	if err := x.Deliver(context.Background(), []sink.Record{line(t, harmful), line(t, halluc), line(t, positive)}); err != nil {
		t.Fatal(err)
	}
	if wh.count() != 2 || len(sp.lines) != 2 || !strings.Contains(sp.lines[1], `"feedback_id":"01JD0000000000000000000002"`) {
		t.Fatalf("%d requests, spooled %q", wh.count(), sp.lines)
	}
}

// A webhook that fails mid-batch gets the batch again, but a ticket already
// opened for it is not opened twice, and its escalation event is identical.
func TestRetryDoesNotOpenATicketTwice(t *testing.T) {
	wh, sp := &ticketSystem{script: []int{http.StatusCreated, http.StatusBadGateway}}, &spooled{}
	x := newEscalator(t, wh, feedback.SeverityCritical, sp)
	batch := []sink.Record{line(t, harmful), line(t, offend)}
	err := x.Deliver(context.Background(), batch)
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err = %v, want the 502", err)
	}
	if len(sp.lines) != 0 {
		t.Fatalf("spooled %q before the batch completed", sp.lines)
	}
	if err := x.Deliver(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if wh.count() != 3 {
		t.Fatalf("%d webhook requests, want 3 (harmful once, offensive twice)", wh.count())
	}
	for i, want := range []string{"01JD0000000000000000000001", "01JD0000000000000000000004", "01JD0000000000000000000004"} {
		if got := wh.requests[i].Header.Get("Idempotency-Key"); got != want {
			t.Errorf("request %d for %s, want %s", i, got, want)
		}
	}
	if len(sp.lines) != 2 || !strings.Contains(sp.lines[0], `"key":"OPS-1"`) || !strings.Contains(sp.lines[1], `"key":"OPS-3"`) {
		t.Fatalf("spooled %q", sp.lines)
	}
}

// A refusal for the event's content dead-letters that event only; the rest
// of the batch is escalated.
func TestRefusedEventIsRejectedWithTheReason(t *testing.T) {
	wh, sp := &ticketSystem{script: []int{http.StatusUnprocessableEntity}}, &spooled{}
	x := newEscalator(t, wh, feedback.SeverityCritical, sp)
	r1, r2 := line(t, harmful), line(t, offend)
	r1.Seq, r2.Seq = 7, 8
	err := x.Deliver(context.Background(), []sink.Record{r1, r2})
	rej, ok := sink.AsRejected(err)
	if !ok || len(rej.Rejections) != 1 || rej.Rejections[0].Seq != 7 || rej.Rejections[0].Reason != "default: no ticket: webhook: ticket refused (HTTP 422): field summary is required" {
		t.Fatalf("err = %v", err)
	}
	if len(sp.lines) != 1 || !strings.Contains(sp.lines[0], `"feedback_id":"01JD0000000000000000000004"`) {
		t.Fatalf("spooled %q", sp.lines)
	}
}

// 2xx without a ticket key, a 429 and an unreachable webhook are retried,
// never dropped; so is a full spool.
func TestTransientFailuresAreRetried(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		wh, sp := &ticketSystem{script: []int{status}}, &spooled{}
		x := newEscalator(t, wh, feedback.SeverityCritical, sp)
		err := x.Deliver(context.Background(), []sink.Record{line(t, harmful)})
		if _, rejected := sink.AsRejected(err); err == nil || rejected {
			t.Errorf("status %d: err = %v, want a retryable error", status, err)
		}
	}
	sp := &spooled{err: errors.New("spool is full")}
	x := newEscalator(t, &ticketSystem{}, feedback.SeverityCritical, sp)
	if err := x.Deliver(context.Background(), []sink.Record{line(t, harmful)}); err == nil || !strings.Contains(err.Error(), "spool is full") {
		t.Errorf("err = %v", err)
	}
	x, err := legacy(t, Options{URL: "http://127.0.0.1:1/none", MinSeverity: "critical", System: "jira", Timeout: time.Second}, sp)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Deliver(context.Background(), []sink.Record{line(t, harmful)}); err == nil {
		t.Error("an unreachable webhook must be an error")
	}
}

func TestConfigErrorsNameTheOption(t *testing.T) {
	ok := Options{URL: "https://t.example.com/hook", MinSeverity: "critical", System: "jira"}
	for _, c := range []struct {
		mutate func(*Options)
		want   string
	}{
		{func(c *Options) { c.URL = "tickets.example.com" }, "escalate-url"},
		{func(c *Options) { c.URL = "https://user:pw@t.example.com/" }, "escalate-url"},
		{func(c *Options) { c.MinSeverity = "info" }, "escalate-severity"},
		{func(c *Options) { c.System = strings.Repeat("x", 129) }, "escalate-system"},
		{func(c *Options) { c.GrafanaURL = "grafana:3000" }, "grafana-url"},
	} {
		o := ok
		c.mutate(&o)
		if _, err := legacy(t, o, &spooled{}); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("err = %v, want one naming %s", err, c.want)
		}
	}
	if _, err := legacy(t, ok, &spooled{}); err != nil {
		t.Fatal(err)
	}
}

// The byte pre-filter only skips work: a comment quoting a severity does not
// escalate, and the critical event beside it still does.
func TestCommentQuotingASeverityIsNotEscalated(t *testing.T) {
	wh, sp := &ticketSystem{}, &spooled{}
	x := newEscalator(t, wh, feedback.SeverityCritical, sp)
	quoting := `{"kind":"feedback","feedback_id":"01JD0000000000000000000005","correlation_id":"c-6","model":{"id":"support-bot","version":"2026-11-01.3"},` +
		`"sentiment":"positive","comment":"the log said \"severity\":\"critical\" but all is fine"}`
	if err := x.Deliver(context.Background(), []sink.Record{line(t, quoting), line(t, harmful)}); err != nil {
		t.Fatal(err)
	}
	if wh.count() != 1 || len(sp.lines) != 1 || !strings.Contains(sp.lines[0], `"feedback_id":"01JD0000000000000000000001"`) {
		t.Fatalf("%d tickets, spooled %q", wh.count(), sp.lines)
	}
}
