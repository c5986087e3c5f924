// Package escalate opens a ticket for every feedback event severe enough to
// need a person (docs/index.md: the collector runs the escalation rules), and
// records it as an escalation event with the ticket's key and URL.
//
// The escalator is one more consumer of the spool, run by the delivery loop
// like the Loki and Elasticsearch sinks: it has its own durable cursor, so an
// accepted critical feedback is escalated even if feedbackd crashes right
// after acknowledging it, and the spool is not truncated before it has been
// looked at. Routes (routes.go) choose, per feedback, one ticket target
// (Jira, Linear, GitHub or the generic webhook, see target/…) and any chat
// announcers (Slack). Every tracker looks the feedback's ticket up before
// creating one, so a retry or a crash never opens a second ticket; the
// escalation event goes back into the spool, from where the sinks deliver it
// like any other event.
package escalate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Name is the escalator's cursor and metric label.
const Name = "escalation"

// Config configures New.
type Config struct {
	// MinSeverity is the least severity escalated: warning or critical.
	MinSeverity feedback.Severity
	// GrafanaURL, when set, makes the trace link: the trace drill-down
	// dashboard for the feedback's correlation id.
	GrafanaURL string
	// Trackers and Announcers are the targets by name.
	Trackers   map[string]target.Tracker
	Announcers map[string]target.Announcer
	// Routes are tried in order; the first that matches decides. Default
	// (may be nil) takes what no route matches.
	Routes  []Route
	Default *Route
	// Append makes escalation events durable in the spool.
	Append func(ctx context.Context, lines [][]byte) error
	Now    func() time.Time
}

// Escalator implements sink.Sink.
type Escalator struct {
	cfg Config
	// opened and announced remember what was done for the batch being
	// delivered, so a retry of that batch neither asks the trackers again
	// nor repeats a chat message; they are emptied once the batch is
	// acknowledged. Deliver is never called concurrently.
	opened    map[string]opened
	announced map[string]bool
	// marks are the bytes an escalated event's line must contain (see
	// Deliver).
	marks [][]byte

	outcomes *prometheus.CounterVec

	mu sync.Mutex
	// misconfigured holds, per target, the last refusal that only a change
	// of configuration can fix; /readyz reports it until the target works.
	misconfigured map[string]string
}

type opened struct {
	ticket feedback.Ticket
	at     time.Time
}

// Outcomes counted in feedbackd_escalation_total{target,outcome}.
const (
	OutcomeTicket    = "ticket"    // a ticket found or opened
	OutcomeAnnounced = "announced" // a chat message sent
)

// New checks cfg and returns the escalator.
func New(cfg Config) (*Escalator, error) {
	switch cfg.MinSeverity {
	case feedback.SeverityWarning, feedback.SeverityCritical:
	default:
		return nil, fmt.Errorf("escalate-severity: want warning or critical, got %q", cfg.MinSeverity)
	}
	if cfg.GrafanaURL != "" {
		g, err := url.Parse(cfg.GrafanaURL)
		if err != nil || (g.Scheme != "http" && g.Scheme != "https") || g.Host == "" || g.RawQuery != "" {
			return nil, fmt.Errorf("grafana-url: %q must be an absolute http(s) URL without a query", cfg.GrafanaURL)
		}
		cfg.GrafanaURL = strings.TrimRight(cfg.GrafanaURL, "/")
	}
	routes := append([]Route(nil), cfg.Routes...)
	if cfg.Default != nil {
		routes = append(routes, *cfg.Default)
	}
	if len(routes) == 0 {
		return nil, errors.New("escalation: no route and no default: nothing would be escalated")
	}
	for _, r := range routes {
		if _, ok := cfg.Trackers[r.Tracker]; !ok {
			return nil, fmt.Errorf("%s.targets: no ticket target %q", r.Name, r.Tracker)
		}
		for _, a := range r.Announcers {
			if _, ok := cfg.Announcers[a]; !ok {
				return nil, fmt.Errorf("%s.targets: no announcer %q", r.Name, a)
			}
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Append == nil {
		return nil, errors.New("escalate: no spool to append to")
	}
	x := &Escalator{cfg: cfg, opened: map[string]opened{}, announced: map[string]bool{}, misconfigured: map[string]string{},
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedbackd_escalation_total",
			Help: "Escalation requests per target by outcome: ticket (found or opened), announced, or the class of a failure: auth, not_found, invalid (dead-lettered), retry.",
		}, []string{"target", "outcome"})}
	for _, sev := range []feedback.Severity{feedback.SeverityWarning, feedback.SeverityCritical} {
		if rank(sev) >= rank(cfg.MinSeverity) {
			x.marks = append(x.marks, []byte(`"severity":"`+string(sev)+`"`))
		}
	}
	return x, nil
}

func (x *Escalator) Name() string { return Name }

// Collectors are the escalator's series, for the metrics registry.
func (x *Escalator) Collectors() []prometheus.Collector { return []prometheus.Collector{x.outcomes} }

// Ping does not call the targets: a ticket system has no harmless request to
// probe it with. It reports the targets that refused their configuration
// (credentials, project, team, repository, channel) since they last worked;
// other failures show as feedbackd_escalation_total and as delivery lag.
func (x *Escalator) Ping(ctx context.Context) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.misconfigured) == 0 {
		return nil
	}
	names := make([]string, 0, len(x.misconfigured))
	for n := range x.misconfigured {
		names = append(names, n)
	}
	sort.Strings(names)
	msgs := make([]string, len(names))
	for i, n := range names {
		msgs[i] = x.misconfigured[n]
	}
	return fmt.Errorf("misconfigured escalation target(s) %s: %s", strings.Join(names, ", "), strings.Join(msgs, "; "))
}

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

// route is the first route matching e, the default, or nil.
func (x *Escalator) route(e *feedback.Event) *Route {
	for i := range x.cfg.Routes {
		if x.cfg.Routes[i].Matches(e) {
			return &x.cfg.Routes[i]
		}
	}
	return x.cfg.Default
}

// failed records a target's failure and reports whether it is permanent.
func (x *Escalator) failed(name string, err error) (*target.Error, bool) {
	te, ok := target.AsError(err)
	if !ok {
		x.outcomes.WithLabelValues(name, "retry").Inc()
		return nil, false
	}
	x.outcomes.WithLabelValues(name, te.Class.String()).Inc()
	if te.Class == target.Auth || te.Class == target.NotFound {
		x.mu.Lock()
		x.misconfigured[name] = te.Error()
		x.mu.Unlock()
	}
	return te, te.Permanent()
}

func (x *Escalator) worked(name, outcome string) {
	x.outcomes.WithLabelValues(name, outcome).Inc()
	x.mu.Lock()
	delete(x.misconfigured, name)
	x.mu.Unlock()
}

// Deliver opens (or finds) a ticket for each escalated feedback event of
// batch, announces it, and spools the escalation events; other events are
// acknowledged as they are. A target's permanent refusal (credentials,
// project not found, the ticket's content) dead-letters that event with the
// target's answer; anything else is retried with the whole batch, reusing
// what was already done for it.
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
		rt := x.route(&e)
		if rt == nil {
			continue
		}
		is := x.issueFor(&e)
		memo := e.FeedbackID + "\x00" + rt.Tracker
		o, ok := x.opened[memo]
		if !ok {
			t, err := x.cfg.Trackers[rt.Tracker].Open(ctx, &is)
			if err != nil {
				if _, permanent := x.failed(rt.Tracker, err); permanent {
					rejected = append(rejected, sink.Rejection{Seq: r.Seq, Reason: fmt.Sprintf("%s: no ticket: %v", rt.Name, err)})
					continue
				}
				return fmt.Errorf("%s: %w", rt.Name, err)
			}
			x.worked(rt.Tracker, OutcomeTicket)
			o = opened{ticket: t, at: x.cfg.Now()}
			x.opened[memo] = o
		}
		var refusals []string
		for _, name := range rt.Announcers {
			memo := e.FeedbackID + "\x00" + name
			if x.announced[memo] {
				continue
			}
			if err := x.cfg.Announcers[name].Announce(ctx, &is, o.ticket); err != nil {
				if _, permanent := x.failed(name, err); permanent {
					refusals = append(refusals, err.Error())
					x.announced[memo] = true
					continue
				}
				return fmt.Errorf("%s: %w", rt.Name, err)
			}
			x.worked(name, OutcomeAnnounced)
			x.announced[memo] = true
		}
		line, err := escalation(&e, o)
		if err != nil {
			rejected = append(rejected, sink.Rejection{Seq: r.Seq, Reason: err.Error()})
			continue
		}
		lines = append(lines, line)
		if len(refusals) > 0 {
			// The ticket exists and is recorded; the dead letter keeps what
			// could not be announced.
			rejected = append(rejected, sink.Rejection{Seq: r.Seq, Reason: fmt.Sprintf("%s: ticket %s opened, not announced: %s", rt.Name, o.ticket.Key, strings.Join(refusals, "; "))})
		}
	}
	if len(lines) > 0 {
		if err := x.cfg.Append(ctx, lines); err != nil {
			return fmt.Errorf("spooling escalation events: %w", err)
		}
	}
	clear(x.opened)
	clear(x.announced)
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

// issueFor is what the ticket for e says.
func (x *Escalator) issueFor(e *feedback.Event) target.Issue {
	what := e.Reason
	if what == "" && len(e.Tags) > 0 {
		what = strings.Join(e.Tags, ", ")
	}
	if what == "" {
		what = string(e.Sentiment) + " feedback"
	}
	is := target.Issue{
		FeedbackID: e.FeedbackID, CorrelationID: e.CorrelationID,
		Title:    fmt.Sprintf("[%s] %s on %s %s", e.Severity, what, e.Model.ID, e.Model.Version),
		Severity: string(e.Severity), Sentiment: string(e.Sentiment), Reason: e.Reason,
		Tags: append([]string{}, e.Tags...), Comment: e.Comment,
		Model: feedback.Model{ID: e.Model.ID, Version: e.Model.Version},
	}
	if e.Timestamp != nil {
		is.Timestamp = e.Timestamp.UTC().Format(feedback.TimeLayout)
	}
	if x.cfg.GrafanaURL != "" && e.CorrelationID != "" {
		// The dashboard's range is an hour either side of the feedback, so
		// the interaction and everything said about it are in view.
		q := url.Values{"var-correlation_id": {e.CorrelationID}}
		if e.Timestamp != nil {
			q.Set("from", strconv.FormatInt(e.Timestamp.Add(-time.Hour).UnixMilli(), 10))
			q.Set("to", strconv.FormatInt(e.Timestamp.Add(time.Hour).UnixMilli(), 10))
		}
		is.TraceURL = x.cfg.GrafanaURL + "/d/feedbackloop-trace?" + q.Encode()
	}
	return is
}
