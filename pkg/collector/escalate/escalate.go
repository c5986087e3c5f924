// Package escalate opens a ticket for every feedback event severe enough to
// need a person (docs/index.md: the collector runs the escalation rules), and
// records it as an escalation event with the ticket's key and URL.
//
// The escalator is one more consumer of the spool, run by the delivery loop
// like the Loki and Elasticsearch sinks: it has its own durable cursor, so an
// accepted critical feedback is escalated even if feedbackd crashes right
// after acknowledging it, and the spool is not truncated before it has been
// looked at. Tickets are opened through a webhook (a small JSON contract any
// ticket system can be adapted to), and the escalation event goes back into
// the spool, from where the sinks deliver it like any other event.
package escalate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/webhook"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Name is the escalator's cursor and metric label.
const Name = "escalation"

// Config configures New.
type Config struct {
	// URL is the ticket webhook.
	URL string
	// Token, when set, is sent as a bearer token.
	Token string
	// MinSeverity is the least severity escalated: warning or critical.
	MinSeverity feedback.Severity
	// System names the ticket system in the escalation event (ticket.system).
	System string
	// GrafanaURL, when set, makes the trace link: the trace drill-down
	// dashboard for the feedback's correlation id.
	GrafanaURL string
	Timeout    time.Duration
	// Append makes escalation events durable in the spool.
	Append func(ctx context.Context, lines [][]byte) error
	Now    func() time.Time
}

// Escalator implements sink.Sink.
type Escalator struct {
	cfg  Config
	hook *webhook.Hook
	// opened remembers tickets opened for the batch being delivered, so a
	// retry of that batch does not open them again; it is emptied once the
	// batch is acknowledged. Deliver is never called concurrently.
	opened map[string]opened
	// marks are the bytes an escalated event's line must contain (see
	// Deliver).
	marks [][]byte
}

type opened struct {
	ticket feedback.Ticket
	at     time.Time
}

// New checks cfg and returns the escalator.
func New(cfg Config) (*Escalator, error) {
	hook, err := webhook.New("escalate-url", cfg.URL, cfg.Token, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	switch cfg.MinSeverity {
	case feedback.SeverityWarning, feedback.SeverityCritical:
	default:
		return nil, fmt.Errorf("escalate-severity: want warning or critical, got %q", cfg.MinSeverity)
	}
	if cfg.System == "" || len(cfg.System) > 128 || strings.ContainsFunc(cfg.System, unicode.IsControl) {
		return nil, fmt.Errorf("escalate-system: %q must be a name of 1 to 128 bytes without control characters", cfg.System)
	}
	if cfg.GrafanaURL != "" {
		g, err := url.Parse(cfg.GrafanaURL)
		if err != nil || (g.Scheme != "http" && g.Scheme != "https") || g.Host == "" || g.RawQuery != "" {
			return nil, fmt.Errorf("grafana-url: %q must be an absolute http(s) URL without a query", cfg.GrafanaURL)
		}
		cfg.GrafanaURL = strings.TrimRight(cfg.GrafanaURL, "/")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Append == nil {
		return nil, errors.New("escalate: no spool to append to")
	}
	x := &Escalator{cfg: cfg, hook: hook, opened: map[string]opened{}}
	for _, sev := range []feedback.Severity{feedback.SeverityWarning, feedback.SeverityCritical} {
		if rank(sev) >= rank(cfg.MinSeverity) {
			x.marks = append(x.marks, []byte(`"severity":"`+string(sev)+`"`))
		}
	}
	return x, nil
}

func (x *Escalator) Name() string { return Name }

// Ping does not call the webhook: a ticket system has no harmless request to
// probe it with. A failing webhook shows as feedbackd_delivery_total
// {sink="escalation",outcome="failed"} and as delivery lag.
func (x *Escalator) Ping(ctx context.Context) error { return nil }

// escalates reports whether e is escalated.
func (x *Escalator) escalates(e *feedback.Event) bool {
	if e.Kind != feedback.KindFeedback || e.FeedbackID == "" {
		return false
	}
	return rank(e.Severity) >= rank(x.cfg.MinSeverity)
}

func rank(s feedback.Severity) int {
	switch s {
	case feedback.SeverityWarning:
		return 1
	case feedback.SeverityCritical:
		return 2
	}
	return 0
}

// Deliver opens a ticket for each escalated feedback event of batch and
// spools the escalation events; other events are acknowledged as they are.
// A webhook that refuses an event for its content (4xx other than 408/429)
// dead-letters that event with the webhook's answer; anything else is retried
// with the whole batch, reusing the tickets already opened for it.
func (x *Escalator) Deliver(ctx context.Context, batch []sink.Record) error {
	var lines [][]byte
	var rejected []sink.Rejection
	for _, r := range batch {
		// Every accepted event passes through here, so most are skipped
		// without decoding: spooled lines are feedbackd's compact encoding,
		// in which an escalated event's severity appears exactly as a mark
		// and no string value can contain one (its quotes are escaped).
		// Decode below decides.
		if !slices.ContainsFunc(x.marks, func(m []byte) bool { return bytes.Contains(r.Line, m) }) {
			continue
		}
		e, errs := feedback.Decode(r.Line)
		if len(errs) > 0 {
			rejected = append(rejected, sink.Rejection{Seq: r.Seq, Reason: "spooled line does not decode: " + errs[0].Error()})
			continue
		}
		if !x.escalates(&e) {
			continue
		}
		o, ok := x.opened[e.FeedbackID]
		if !ok {
			t, err := x.open(ctx, &e)
			if refused, ok := webhook.AsRefused(err); ok {
				rejected = append(rejected, sink.Rejection{Seq: r.Seq, Reason: "ticket webhook " + refused.Error()})
				continue
			}
			if err != nil {
				return err
			}
			o = opened{ticket: t, at: x.cfg.Now()}
			x.opened[e.FeedbackID] = o
		}
		line, err := escalation(&e, o)
		if err != nil {
			rejected = append(rejected, sink.Rejection{Seq: r.Seq, Reason: err.Error()})
			continue
		}
		lines = append(lines, line)
	}
	if len(lines) > 0 {
		if err := x.cfg.Append(ctx, lines); err != nil {
			return fmt.Errorf("spooling escalation events: %w", err)
		}
	}
	clear(x.opened)
	return sink.Rejected(rejected)
}

// escalation is the event recording the ticket, as the collector would
// store it had it been posted to /v1/reviews.
func escalation(e *feedback.Event, o opened) ([]byte, error) {
	esc := feedback.Event{
		Kind:          feedback.KindEscalation,
		FeedbackID:    e.FeedbackID,
		CorrelationID: e.CorrelationID,
		Timestamp:     feedback.NewTime(o.at),
		Model:         feedback.Model{ID: e.Model.ID, Version: e.Model.Version},
		Severity:      e.Severity,
		Reason:        e.Reason,
		Tags:          e.Tags,
		Ticket:        &o.ticket,
	}
	esc.FillDefaults(o.at)
	if errs := esc.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("escalation event: %s", errs[0].Error())
	}
	return feedback.Marshal(&esc)
}

// Request is the JSON body posted to the webhook for one escalated event.
type Request struct {
	FeedbackID    string         `json:"feedback_id"`
	CorrelationID string         `json:"correlation_id"`
	Title         string         `json:"title"`
	Severity      string         `json:"severity"`
	Sentiment     string         `json:"sentiment"`
	Reason        string         `json:"reason,omitempty"`
	Tags          []string       `json:"tags"`
	Comment       string         `json:"comment,omitempty"`
	Model         feedback.Model `json:"model"`
	Timestamp     string         `json:"timestamp"`
	TraceURL      string         `json:"trace_url,omitempty"`
}

// Response is what the webhook answers with a 2xx: the ticket's key
// (required) and its URL.
type Response struct {
	Key string `json:"key"`
	URL string `json:"url"`
}

// requestFor is the webhook request for e.
func (x *Escalator) requestFor(e *feedback.Event) Request {
	what := e.Reason
	if what == "" && len(e.Tags) > 0 {
		what = strings.Join(e.Tags, ", ")
	}
	if what == "" {
		what = string(e.Sentiment) + " feedback"
	}
	req := Request{
		FeedbackID: e.FeedbackID, CorrelationID: e.CorrelationID,
		Title:    fmt.Sprintf("[%s] %s on %s %s", e.Severity, what, e.Model.ID, e.Model.Version),
		Severity: string(e.Severity), Sentiment: string(e.Sentiment), Reason: e.Reason,
		Tags: append([]string{}, e.Tags...), Comment: e.Comment,
		Model: feedback.Model{ID: e.Model.ID, Version: e.Model.Version},
	}
	if e.Timestamp != nil {
		req.Timestamp = e.Timestamp.UTC().Format(feedback.TimeLayout)
	}
	if x.cfg.GrafanaURL != "" && e.CorrelationID != "" {
		// The dashboard's range is an hour either side of the feedback, so
		// the interaction and everything said about it are in view.
		q := url.Values{"var-correlation_id": {e.CorrelationID}}
		if e.Timestamp != nil {
			q.Set("from", strconv.FormatInt(e.Timestamp.Add(-time.Hour).UnixMilli(), 10))
			q.Set("to", strconv.FormatInt(e.Timestamp.Add(time.Hour).UnixMilli(), 10))
		}
		req.TraceURL = x.cfg.GrafanaURL + "/d/feedbackloop-trace?" + q.Encode()
	}
	return req
}

// open posts the event to the webhook and returns the ticket it opened.
// Idempotency-Key is the feedback id: a webhook that honours it opens one
// ticket however often feedbackd asks (after a crash between opening the
// ticket and spooling the escalation, it asks again).
func (x *Escalator) open(ctx context.Context, e *feedback.Event) (feedback.Ticket, error) {
	answer, err := x.hook.Post(ctx, e.FeedbackID, x.requestFor(e))
	if _, refused := webhook.AsRefused(err); refused {
		return feedback.Ticket{}, err
	}
	if err != nil {
		return feedback.Ticket{}, fmt.Errorf("ticket webhook: %w", err)
	}
	var r Response
	if err := json.Unmarshal(answer, &r); err != nil || r.Key == "" {
		// A webhook that answers 2xx without a ticket is misconfigured;
		// retrying (and showing the lag) beats dropping the escalation.
		return feedback.Ticket{}, fmt.Errorf(`ticket webhook answered without {"key": …}: %s`, webhook.Snippet(answer))
	}
	return feedback.Ticket{System: x.cfg.System, Key: r.Key, URL: r.URL}, nil
}
