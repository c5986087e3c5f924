// Package notify closes the loop (docs/collector-api.md): when a resolution declares that
// a model version fixes something, the users who reported it are told, and
// each notice is recorded as a notification event.
//
// Like the escalator, the notifier is a consumer of the spool with its own
// cursor, run by the delivery loop: a resolution accepted by the API is acted
// on even if feedbackd crashes right after acknowledging it. The reports are
// read back from where the sinks put them (Elasticsearch or Loki) with the
// data source's own query code, so "which feedback does this resolution fix"
// means the same here as in a Grafana panel.
package notify

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/cluster"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/webhook"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// Name is the notifier's cursor and metric label.
const Name = "notification"

// Reader finds feedback events, newest first in read.SortEntries order;
// the Loki and Elasticsearch read clients are Readers.
type Reader interface {
	Feedback(ctx context.Context, q read.Query) ([]read.Entry, read.Meta, error)
}

// Config configures New.
type Config struct {
	// URL is the notification webhook (the service that reaches users).
	URL   string
	Token string
	// Channel is the notification events' channel, e.g. email or in_app.
	Channel string
	// Lookback is how far before a resolution reports are looked for.
	Lookback time.Duration
	Timeout  time.Duration
	Reader   Reader
	Append   func(ctx context.Context, lines [][]byte) error
	Now      func() time.Time
	Logger   *slog.Logger
}

// Notifier implements sink.Sink.
type Notifier struct {
	cfg  Config
	hook *webhook.Hook
	// sent remembers the notices of the batch being delivered, so a retry
	// neither notifies a user twice nor changes the notification events.
	// Deliver is never called concurrently.
	sent map[string]time.Time
}

// New checks cfg and returns the notifier.
func New(cfg Config) (*Notifier, error) {
	hook, err := webhook.New("notify-url", cfg.URL, cfg.Token, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if cfg.Channel == "" || len(cfg.Channel) > 128 || strings.ContainsFunc(cfg.Channel, func(r rune) bool { return r < ' ' }) {
		return nil, fmt.Errorf("notify-channel: %q must be a name of 1 to 128 bytes without control characters", cfg.Channel)
	}
	if cfg.Lookback <= 0 {
		return nil, fmt.Errorf("notify-lookback: must be positive, got %s", cfg.Lookback)
	}
	if cfg.Reader == nil || cfg.Append == nil {
		return nil, fmt.Errorf("notify-url: close-the-loop needs loki-url or elasticsearch-url, to find the reports")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Notifier{cfg: cfg, hook: hook, sent: map[string]time.Time{}}, nil
}

func (n *Notifier) Name() string { return Name }

// Ping does not call the webhook (there is no harmless request to probe it
// with); the reader is the sink the reports are delivered to, pinged as such.
func (n *Notifier) Ping(ctx context.Context) error { return nil }

var resolutionMark = []byte(`"kind":"resolution"`)

// Notice is the JSON body posted to the webhook: one per user and
// resolution, listing every report of that user the resolution fixes.
type Notice struct {
	UserID       string         `json:"user_id"`
	ResolutionID string         `json:"resolution_id"`
	Model        feedback.Model `json:"model"`
	Message      string         `json:"message"`
	Channel      string         `json:"channel"`
	Reports      []Report       `json:"reports"`
}

// Report is one feedback event a notice is about.
type Report struct {
	FeedbackID    string   `json:"feedback_id"`
	CorrelationID string   `json:"correlation_id"`
	ModelVersion  string   `json:"model_version"`
	Timestamp     string   `json:"timestamp"`
	Reason        string   `json:"reason,omitempty"`
	Tags          []string `json:"tags"`
	Comment       string   `json:"comment,omitempty"`
}

// Deliver acts on the resolutions of batch; other events are acknowledged as
// they are. A reader or webhook failure retries the whole batch (notices
// already sent for it are not sent again); a webhook that refuses one user's
// notice (4xx other than 408/429) skips that user, logged, and the rest go on.
func (n *Notifier) Deliver(ctx context.Context, batch []sink.Record) error {
	var lines [][]byte
	var rejected []sink.Rejection
	for _, r := range batch {
		// Every accepted event passes through here; only resolutions are
		// decoded. Spooled lines are feedbackd's compact encoding, in which
		// a resolution's kind appears exactly so (Decode below decides).
		if !bytes.Contains(r.Line, resolutionMark) {
			continue
		}
		res, errs := feedback.Decode(r.Line)
		if len(errs) > 0 {
			rejected = append(rejected, sink.Rejection{Seq: r.Seq, Reason: "spooled line does not decode: " + errs[0].Error()})
			continue
		}
		if res.Kind != feedback.KindResolution || res.Fixes == nil || res.Timestamp == nil {
			continue
		}
		reports, err := n.Reports(ctx, &res)
		if err != nil {
			return fmt.Errorf("finding the reports resolution %s fixes: %w", res.ResolutionID, err)
		}
		for _, user := range sortedUsers(reports) {
			key := res.ResolutionID + ":" + user
			at, done := n.sent[key]
			if !done {
				_, err := n.hook.Post(ctx, key, n.notice(&res, user, reports[user]))
				if refused, ok := webhook.AsRefused(err); ok {
					n.cfg.Logger.Warn("notification webhook refused a notice; the user is not notified",
						"resolution_id", res.ResolutionID, "user_id", user, "err", refused.Error())
					continue
				}
				if err != nil {
					return fmt.Errorf("notification webhook: %w", err)
				}
				at = n.cfg.Now()
				n.sent[key] = at
			}
			for _, e := range reports[user] {
				line, err := n.notification(&res, e, at)
				if err != nil {
					return err
				}
				lines = append(lines, line)
			}
		}
	}
	if len(lines) > 0 {
		if err := n.cfg.Append(ctx, lines); err != nil {
			return fmt.Errorf("spooling notification events: %w", err)
		}
	}
	clear(n.sent)
	return sink.Rejected(rejected)
}

// Reports finds, by user id, the negative feedback on res's model that res
// fixes: reported within the lookback before res, on another version than the
// fixed one, by a known user, and carrying one of res.fixes.tags, or named in
// res.fixes.feedback_ids, or in one of the comment clusters res.fixes.cluster_ids
// (clustered as the data source's clusters query does).
func (n *Notifier) Reports(ctx context.Context, res *feedback.Event) (map[string][]*feedback.Event, error) {
	to := res.Timestamp.Time
	from := to.Add(-n.cfg.Lookback)
	byModel := read.Filter{Key: "model_id", Operator: read.OpEqual, Value: res.Model.ID}
	found := map[string]*feedback.Event{}
	add := func(entries []read.Entry, keep func(*feedback.Event) bool) {
		for i := range entries {
			e := &entries[i].Event
			if keep == nil || keep(e) {
				found[e.FeedbackID] = e
			}
		}
	}
	run := func(tags []string, filters ...read.Filter) ([]read.Entry, error) {
		q := read.Query{Kind: feedback.KindFeedback, Sentiment: feedback.Negative, Tags: tags,
			Filters: append([]read.Filter{byModel}, filters...), Limit: read.MaxLimit, From: from, To: to}
		if err := q.Validate(); err != nil {
			return nil, err
		}
		entries, _, err := n.cfg.Reader.Feedback(ctx, q)
		if err == nil && len(entries) >= read.MaxLimit {
			n.cfg.Logger.Warn("more reports than one query returns; only the newest are notified",
				"resolution_id", res.ResolutionID, "limit", read.MaxLimit)
		}
		return entries, err
	}
	f := res.Fixes
	if len(f.Tags) > 0 {
		entries, err := run(f.Tags)
		if err != nil {
			return nil, err
		}
		add(entries, nil)
	}
	if len(f.FeedbackIDs) > 0 {
		alts := make([]string, len(f.FeedbackIDs))
		for i, id := range f.FeedbackIDs {
			alts[i] = regexp.QuoteMeta(id)
		}
		entries, err := run(nil, read.Filter{Key: "feedback_id", Operator: read.OpRegex, Value: strings.Join(alts, "|")})
		if err != nil {
			return nil, err
		}
		add(entries, nil)
	}
	if len(f.ClusterIDs) > 0 {
		entries, err := run(nil)
		if err != nil {
			return nil, err
		}
		texts, events := cluster.Comments(entries)
		want := map[string]bool{}
		for _, id := range f.ClusterIDs {
			want[id] = true
		}
		cs, _ := cluster.Group(texts, cluster.Options{})
		for _, c := range cs {
			if want[c.ID] {
				for _, m := range c.Members {
					found[events[m].FeedbackID] = events[m]
				}
			}
		}
	}
	byUser := map[string][]*feedback.Event{}
	for _, e := range found {
		if e.User == nil || e.User.ID == "" || e.Model.Version == res.Model.Version || e.Timestamp == nil || !e.Timestamp.Before(to) {
			continue
		}
		byUser[e.User.ID] = append(byUser[e.User.ID], e)
	}
	for _, es := range byUser {
		sort.Slice(es, func(i, j int) bool {
			if !es[i].Timestamp.Equal(es[j].Timestamp.Time) {
				return es[i].Timestamp.Before(es[j].Timestamp.Time)
			}
			return es[i].FeedbackID < es[j].FeedbackID
		})
	}
	return byUser, nil
}

func sortedUsers(m map[string][]*feedback.Event) []string {
	out := make([]string, 0, len(m))
	for u := range m {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

func (n *Notifier) notice(res *feedback.Event, user string, reports []*feedback.Event) Notice {
	what := map[string]bool{}
	for _, t := range res.Fixes.Tags {
		what[strings.ReplaceAll(t, "_", " ")] = true
	}
	out := Notice{UserID: user, ResolutionID: res.ResolutionID, Channel: n.cfg.Channel,
		Model: feedback.Model{ID: res.Model.ID, Version: res.Model.Version}}
	for _, e := range reports {
		r := Report{FeedbackID: e.FeedbackID, CorrelationID: e.CorrelationID, ModelVersion: e.Model.Version,
			Timestamp: e.Timestamp.UTC().Format(feedback.TimeLayout), Reason: e.Reason, Tags: append([]string{}, e.Tags...), Comment: e.Comment}
		out.Reports = append(out.Reports, r)
	}
	problem := "the problem you reported"
	if len(reports) > 1 {
		problem = fmt.Sprintf("the %d problems you reported", len(reports))
	}
	out.Message = fmt.Sprintf("Thank you for your feedback: %s version %s fixes %s.", res.Model.ID, res.Model.Version, problem)
	return out
}

// notification is the event recording that e's reporter was told about res.
func (n *Notifier) notification(res, e *feedback.Event, at time.Time) ([]byte, error) {
	ev := feedback.Event{
		Kind:          feedback.KindNotification,
		FeedbackID:    e.FeedbackID,
		CorrelationID: e.CorrelationID,
		Timestamp:     feedback.NewTime(at),
		Model:         feedback.Model{ID: e.Model.ID, Version: e.Model.Version},
		ResolutionID:  res.ResolutionID,
		Channel:       n.cfg.Channel,
		User:          &feedback.User{ID: e.User.ID},
	}
	ev.FillDefaults(at)
	if errs := ev.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("notification event: %s", errs[0].Error())
	}
	return feedback.Marshal(&ev)
}
