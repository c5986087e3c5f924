// Package demo is feedback-demo: a simulated chatbot (support-bot in three
// versions) and writing assistant (writing-assistant, whose users edit its
// drafts) that produce what a real LLM application instrumented for
// Feedback Loop produces: Prometheus metrics per model version on its own
// /metrics, an interaction snapshot per request and user feedback posted to
// feedbackd, and its own execution logs in Loki. It gives the dev stack's
// dashboards and alert rules something true to show.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// AppLabel is the app label of the demo's execution-log streams in Loki;
// the provisioned trace.executionLogsQuery selects it.
const AppLabel = "feedback-demo"

// Config says where to send what, how fast and for how long.
type Config struct {
	// FeedbackdURL is feedbackd's base URL, e.g. http://feedbackd:8787.
	FeedbackdURL string
	// Token is sent as a bearer token when set (feedbackd --tokens).
	Token string
	// LokiURL receives the application's execution logs when set; the data
	// source's trace.executionLogsQuery finds them by correlation id.
	LokiURL string
	Seed    uint64
	// Rate is interactions per second; 0 sends as fast as feedbackd accepts.
	Rate float64
	// Count and Duration bound the run (0: unbounded); the first reached
	// ends it.
	Count    int
	Duration time.Duration
	// BatchSize is the most events per request to feedbackd.
	BatchSize int
	// FlushInterval bounds how long an event waits in a partial batch.
	FlushInterval time.Duration
	// ResolveAfter, when positive, posts one resolution after that many
	// interactions: v3 fixes what v2 broke (Resolution), so feedbackd's
	// close-the-loop rule notifies the users who reported it.
	ResolveAfter int
	Metrics      *Metrics
	HTTPClient   *http.Client
	Log          *slog.Logger
}

// Stats is what a run produced and feedbackd accepted.
type Stats struct {
	Interactions int
	Feedback     int
	Follow       int // reviews
	Resolutions  int
	Accepted     int // events feedbackd answered 202 for
	// ByVersion counts feedback per version and sentiment as sent.
	ByVersion map[string]map[feedback.Sentiment]int
}

// Metrics are the model-serving metrics the data source's requestsQuery
// and latencyQuery read (provisioning/datasources/datasources.yml).
type Metrics struct {
	Requests *prometheus.CounterVec
	Duration *prometheus.HistogramVec
	Tokens   *prometheus.CounterVec
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_requests_total", Help: "Requests answered by the model.",
		}, []string{"model_id", "model_version"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "llm_request_duration_seconds", Help: "Time the model took to answer.",
			Buckets: []float64{0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13},
		}, []string{"model_id", "model_version"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llm_tokens_total", Help: "Tokens processed by the model, by direction.",
		}, []string{"model_id", "model_version", "direction"}),
	}
	reg.MustRegister(m.Requests, m.Duration, m.Tokens)
	return m
}

func (m *Metrics) observe(in Interaction) {
	if m == nil {
		return
	}
	id, v := in.Event.Model.ID, in.Version.Name
	m.Requests.WithLabelValues(id, v).Inc()
	m.Duration.WithLabelValues(id, v).Observe(in.Latency)
	m.Tokens.WithLabelValues(id, v, "input").Add(float64(in.TokensIn))
	m.Tokens.WithLabelValues(id, v, "output").Add(float64(in.TokensOut))
}

// ErrRejected is a refusal that retrying cannot fix (bad token, an event the
// contract refuses): the demo stops instead of hammering feedbackd.
var ErrRejected = errors.New("feedbackd rejected the request")

// Run simulates traffic until ctx ends or Count/Duration is reached, then
// sends what is pending and returns.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if cfg.FeedbackdURL == "" {
		return Stats{}, errors.New("no feedbackd URL")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	r := &runner{cfg: cfg, sim: newSimulator(cfg.Seed), stats: Stats{ByVersion: map[string]map[feedback.Sentiment]int{}}}
	start := time.Now()
	lastFlush := start
	for cfg.Count <= 0 || r.stats.Interactions < cfg.Count {
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(r.stats.Interactions) / cfg.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				// Flush while idle, so a slow rate still shows up promptly.
				if r.pending() > 0 && time.Since(lastFlush)+wait > cfg.FlushInterval {
					if err := r.flush(ctx); err != nil && !r.cutShort(ctx, err) {
						return r.stats, err
					}
					lastFlush = time.Now()
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Until(due)):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		r.add(r.sim.next())
		if r.stats.Interactions == cfg.ResolveAfter {
			r.resolutions = append(r.resolutions, Resolution(cfg.Seed, time.Now()))
			r.stats.Resolutions++
		}
		if r.full() || time.Since(lastFlush) >= cfg.FlushInterval {
			if err := r.flush(ctx); err != nil && !r.cutShort(ctx, err) {
				return r.stats, err
			}
			lastFlush = time.Now()
		}
	}
	// What was simulated is sent even when the run was cut short, with a
	// fresh deadline: the caller's context may be the one that ended.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.flush(fctx); err != nil {
		return r.stats, err
	}
	cfg.Log.Info("demo finished", "interactions", r.stats.Interactions, "feedback", r.stats.Feedback,
		"reviews", r.stats.Follow, "resolutions", r.stats.Resolutions, "accepted", r.stats.Accepted)
	return r.stats, nil
}

type runner struct {
	cfg          Config
	sim          *simulator
	stats        Stats
	interactions []feedback.Event
	feedback     []feedback.Event
	follow       []feedback.Event
	resolutions  []feedback.Event
	logs         []logLine
}

type logLine struct {
	model   string
	version string
	at      time.Time
	line    string
}

// cutShort reports whether err only means the run's end interrupted a
// request; what is unsent then goes out in the final flush.
func (r *runner) cutShort(ctx context.Context, err error) bool {
	return ctx.Err() != nil && !errors.Is(err, ErrRejected)
}

func (r *runner) add(in Interaction) {
	r.stats.Interactions++
	r.cfg.Metrics.observe(in)
	r.interactions = append(r.interactions, in.Event)
	now := time.Now()
	for i, l := range in.LogLines {
		// Distinct nanoseconds keep the lines of one request in order in Loki.
		r.logs = append(r.logs, logLine{model: in.Event.Model.ID, version: in.Version.Name, at: now.Add(time.Duration(i)), line: l})
	}
	if in.Feedback != nil {
		r.stats.Feedback++
		byS := r.stats.ByVersion[in.Version.Name]
		if byS == nil {
			byS = map[feedback.Sentiment]int{}
			r.stats.ByVersion[in.Version.Name] = byS
		}
		byS[in.Feedback.Sentiment]++
		r.feedback = append(r.feedback, *in.Feedback)
	}
	r.stats.Follow += len(in.Follow)
	r.follow = append(r.follow, in.Follow...)
}

func (r *runner) pending() int {
	return len(r.interactions) + len(r.feedback) + len(r.follow) + len(r.resolutions)
}

func (r *runner) full() bool {
	n := r.cfg.BatchSize
	return len(r.interactions) >= n || len(r.feedback) >= n || len(r.follow) >= n
}

// flush sends snapshots before the feedback that refers to them and
// feedback before its reviews, so every stored event finds what it is about.
func (r *runner) flush(ctx context.Context) error {
	for _, b := range []struct {
		path   string
		events *[]feedback.Event
	}{{"/v1/interactions", &r.interactions}, {"/v1/feedback", &r.feedback}, {"/v1/reviews", &r.follow}, {"/v1/resolutions", &r.resolutions}} {
		for len(*b.events) > 0 {
			n := min(len(*b.events), r.cfg.BatchSize)
			accepted, err := r.post(ctx, b.path, (*b.events)[:n])
			if err != nil {
				return err
			}
			r.stats.Accepted += accepted
			*b.events = (*b.events)[n:]
		}
	}
	if r.cfg.LokiURL != "" && len(r.logs) > 0 {
		// The application's logs are best effort, as a real app's are: a
		// Loki hiccup must not stop the traffic.
		if err := r.pushLogs(ctx); err != nil {
			r.cfg.Log.Warn("execution logs not sent", "error", err)
		}
	}
	r.logs = r.logs[:0]
	return nil
}

// post sends one batch, retrying what feedbackd asks to retry (429, 503,
// connection refused while it starts) until ctx ends.
func (r *runner) post(ctx context.Context, path string, events []feedback.Event) (int, error) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := range events {
		if i > 0 {
			body.WriteByte(',')
		}
		line, err := feedback.Marshal(&events[i])
		if err != nil {
			return 0, fmt.Errorf("encode %s event: %w", events[i].Kind, err)
		}
		body.Write(line)
	}
	body.WriteByte(']')
	url := strings.TrimRight(r.cfg.FeedbackdURL, "/") + path
	backoff := 200 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body.Bytes()))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		if r.cfg.Token != "" {
			req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
		}
		wait := backoff
		resp, err := r.cfg.HTTPClient.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusAccepted:
				var ack struct {
					Accepted int `json:"accepted"`
				}
				if err := json.Unmarshal(msg, &ack); err != nil {
					return 0, fmt.Errorf("POST %s: unreadable answer %q: %w", path, msg, err)
				}
				return ack.Accepted, nil
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = time.Duration(s) * time.Second
				}
				r.cfg.Log.Warn("feedbackd asks to retry", "path", path, "status", resp.StatusCode, "retry_in", wait)
			default:
				return 0, fmt.Errorf("%w: POST %s: HTTP %d: %s", ErrRejected, path, resp.StatusCode, bytes.TrimSpace(msg))
			}
		} else {
			r.cfg.Log.Warn("feedbackd unreachable, retrying", "path", path, "error", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("POST %s: %w", path, ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// pushLogs writes the execution logs with Loki's JSON push API, one stream
// per model and version under app=AppLabel.
func (r *runner) pushLogs(ctx context.Context) error {
	type stream struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	}
	byVersion := map[[2]string]*stream{}
	var order [][2]string
	for _, l := range r.logs {
		k := [2]string{l.model, l.version}
		s := byVersion[k]
		if s == nil {
			s = &stream{Stream: map[string]string{"app": AppLabel, "model_id": l.model, "model_version": l.version}}
			byVersion[k] = s
			order = append(order, k)
		}
		s.Values = append(s.Values, [2]string{strconv.FormatInt(l.at.UnixNano(), 10), l.line})
	}
	var push struct {
		Streams []*stream `json:"streams"`
	}
	for _, v := range order {
		push.Streams = append(push.Streams, byVersion[v])
	}
	body, err := json.Marshal(push)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.cfg.LokiURL, "/")+"/loki/api/v1/push", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("loki push: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
