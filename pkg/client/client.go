// Package client sends feedback and interaction snapshots to feedbackd from Go
// services (docs/go-client.md). Events are pkg/feedback's, validated by its
// rules before they are queued; a background sender batches them, retries
// network errors, 429 and 5xx answers with backoff (honouring Retry-After),
// and reports refusals with feedbackd's field errors.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Version is sent in the User-Agent.
const Version = "0.1.0"

// Config configures a Client. Only Endpoint is required.
type Config struct {
	// Endpoint is feedbackd's base URL, e.g. http://127.0.0.1:8787.
	Endpoint string
	// Token is a server token of feedbackd (--tokens); empty sends none.
	Token string
	// Model is used for events whose model id and version are empty.
	Model feedback.Model
	// BatchSize is the most events per request (default 100, at most 1000).
	BatchSize int
	// MaxDelay is how long the first queued event waits for a batch to
	// fill before it is sent (default 1 s).
	MaxDelay time.Duration
	// QueueSize bounds the events waiting to be sent (default 10,000). When
	// it is reached, new events are refused with ErrQueueFull: nothing
	// queued is dropped, and the caller decides what the refusal means.
	QueueSize int
	// Timeout bounds one HTTP request (default 10 s).
	Timeout time.Duration
	Retry   Retry
	// HTTPClient sends the requests (default: a client with Timeout).
	HTTPClient *http.Client
	// OnError is called from the sender with each *RejectedError and
	// *UndeliveredError, as they happen; Flush and Close return them too.
	OnError func(error)
	// Logger receives retries and failures (default slog.Default()).
	Logger *slog.Logger
}

// Retry says how a request is retried after a network error, HTTP 429 or a
// 5xx. Other answers (400, 401, 403, 413, ...) are never retried. Retry n
// (from 0) waits the server's Retry-After when sent (at most MaxRetryAfter),
// else a random time between half and all of
// min(MaxBackoff, InitialBackoff·2ⁿ).
type Retry struct {
	MaxAttempts    int           // per request, including the first (default 10)
	InitialBackoff time.Duration // default 500 ms
	MaxBackoff     time.Duration // default 30 s
	MaxRetryAfter  time.Duration // default 5 min
}

func (r Retry) backoff(n int, rnd float64) time.Duration {
	d := r.InitialBackoff << min(n, 30)
	if d > r.MaxBackoff || d <= 0 {
		d = r.MaxBackoff
	}
	return d/2 + time.Duration(rnd*float64(d/2))
}

// Stats counts what a Client did.
type Stats struct {
	Queued, Delivered, Refused, Undelivered, QueueFull, Requests, Retries int
}

var (
	// ErrQueueFull refuses an event while QueueSize events wait.
	ErrQueueFull = errors.New("feedbackloop client: send queue is full; feedbackd is slow or unreachable")
	// ErrClosed refuses an event after Close.
	ErrClosed = errors.New("feedbackloop client: closed")
)

// Endpoints maps each kind to its write endpoint.
var Endpoints = map[feedback.Kind]string{
	feedback.KindFeedback:     "/v1/feedback",
	feedback.KindInteraction:  "/v1/interactions",
	feedback.KindReview:       "/v1/reviews",
	feedback.KindEscalation:   "/v1/reviews",
	feedback.KindResolution:   "/v1/resolutions",
	feedback.KindNotification: "/v1/resolutions",
}

type pending struct {
	seq    uint64
	path   string
	event  feedback.Event
	body   []byte
	queued time.Time
}

// Client queues events and sends them from one goroutine. It is safe for
// concurrent use. Close it to deliver what is queued.
type Client struct {
	cfg  Config
	base string
	http *http.Client
	log  *slog.Logger

	// Test hooks: how the sender waits and draws jitter.
	sleep  func(ctx context.Context, d time.Duration) bool
	random func() float64

	mu       sync.Mutex
	queue    []pending
	seq      uint64
	done     uint64        // every event up to this seq is delivered or failed
	progress chan struct{} // closed and replaced whenever done advances
	flushTo  uint64
	closing  bool
	closeCtx context.Context // Close's context: retries stop when it ends
	errs     []error
	stats    Stats

	wake       chan struct{}
	interrupt  chan struct{} // closed by Close: cuts the current backoff short once
	senderDone chan struct{}
}

// New checks cfg, fills in the defaults and starts the sender.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("feedbackloop client: Endpoint must be an http(s) URL such as http://127.0.0.1:8787, got %q", cfg.Endpoint)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 100
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > feedback.MaxBatchEvents {
		return nil, fmt.Errorf("feedbackloop client: BatchSize must be within 1..%d, got %d", feedback.MaxBatchEvents, cfg.BatchSize)
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10_000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	r := &cfg.Retry
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 10
	}
	if r.InitialBackoff <= 0 {
		r.InitialBackoff = 500 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 30 * time.Second
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = 5 * time.Minute
	}
	c := &Client{
		cfg:        cfg,
		base:       strings.TrimRight(cfg.Endpoint, "/"),
		http:       cfg.HTTPClient,
		log:        cfg.Logger,
		random:     rand.Float64,
		progress:   make(chan struct{}),
		wake:       make(chan struct{}, 1),
		interrupt:  make(chan struct{}),
		senderDone: make(chan struct{}),
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: cfg.Timeout}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.sleep = c.backoffSleep
	go c.run()
	return c, nil
}

// Feedback queues a feedback event and returns its feedback_id. The kind is
// set; a missing feedback_id (a ULID, so that retries store the event once),
// timestamp and model are filled in, and a reason missing from tags is added
// to them, as the widget does.
func (c *Client) Feedback(ctx context.Context, ev feedback.Event) (string, error) {
	ev.Kind = feedback.KindFeedback
	if ev.Reason != "" && !ev.HasTag(ev.Reason) {
		ev.Tags = append([]string{ev.Reason}, ev.Tags...)
	}
	if ev.Tags == nil {
		ev.Tags = []string{}
	}
	if ev.Source == "" {
		ev.Source = feedback.SourceAPI
	}
	if err := c.enqueue(ctx, &ev); err != nil {
		return "", err
	}
	return ev.FeedbackID, nil
}

// Interaction queues the snapshot of one model call and returns its
// correlation_id: the one given, else CorrelationID(ctx).
func (c *Client) Interaction(ctx context.Context, ev feedback.Event) (string, error) {
	ev.Kind = feedback.KindInteraction
	if ev.CorrelationID == "" {
		ev.CorrelationID = CorrelationID(ctx)
	}
	if err := c.enqueue(ctx, &ev); err != nil {
		return "", err
	}
	return ev.CorrelationID, nil
}

// Send queues an event of any kind for its endpoint and returns its
// idempotency key when the client knows it (feedback_id, correlation_id of
// interactions, resolution_id).
func (c *Client) Send(ctx context.Context, ev feedback.Event) (string, error) {
	if err := c.enqueue(ctx, &ev); err != nil {
		return "", err
	}
	switch ev.Kind {
	case feedback.KindInteraction:
		return ev.CorrelationID, nil
	case feedback.KindResolution:
		return ev.ResolutionID, nil
	}
	return ev.FeedbackID, nil
}

// InvalidEventError is an event refused before it was queued, with the
// fields at fault (Index is always 0).
type InvalidEventError struct{ Errors []feedback.FieldError }

func (e *InvalidEventError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		if fe.Field == "" {
			msgs[i] = fe.Message
		} else {
			msgs[i] = fe.Field + ": " + fe.Message
		}
	}
	return "feedbackloop client: invalid event: " + strings.Join(msgs, "; ")
}

func (c *Client) enqueue(ctx context.Context, ev *feedback.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ev.Schema == "" {
		ev.Schema = feedback.Schema
	}
	if ev.Timestamp == nil {
		ev.Timestamp = feedback.NewTime(time.Now())
	}
	if ev.Kind == feedback.KindFeedback && ev.FeedbackID == "" {
		ev.FeedbackID = feedback.NewULID(ev.Timestamp.Time)
	}
	if ev.Kind == feedback.KindFeedback || ev.Kind == feedback.KindInteraction || ev.Kind == feedback.KindResolution {
		if ev.Model.ID == "" {
			ev.Model.ID = c.cfg.Model.ID
		}
		if ev.Model.Version == "" {
			ev.Model.Version = c.cfg.Model.Version
		}
		if ev.Model.ReleasedAt == "" {
			ev.Model.ReleasedAt = c.cfg.Model.ReleasedAt
		}
	}
	if errs := ev.Validate(); len(errs) > 0 {
		return &InvalidEventError{errs}
	}
	path, ok := Endpoints[ev.Kind]
	if !ok {
		return &InvalidEventError{[]feedback.FieldError{{Field: "kind", Message: "no endpoint for kind " + strconv.Quote(string(ev.Kind))}}}
	}
	body, err := feedback.Marshal(ev)
	if err != nil {
		return &InvalidEventError{[]feedback.FieldError{{Message: err.Error()}}}
	}
	if len(body) > feedback.MaxEventBytes {
		return &InvalidEventError{[]feedback.FieldError{{Message: "too large: event is " + strconv.Itoa(len(body)) + " bytes, the limit is 256 KiB"}}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return ErrClosed
	}
	if len(c.queue) >= c.cfg.QueueSize {
		c.stats.QueueFull++
		return ErrQueueFull
	}
	c.seq++
	c.queue = append(c.queue, pending{seq: c.seq, path: path, event: *ev, body: body, queued: time.Now()})
	c.stats.Queued++
	if len(c.queue) == 1 || len(c.queue) >= c.cfg.BatchSize {
		c.notify()
	}
	return nil
}

func (c *Client) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Flush sends everything queued so far and waits until it is delivered or
// has failed, or ctx ends. It returns a *DeliveryError for the failures since
// the previous Flush or Close.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.seq
	if target > c.flushTo {
		c.flushTo = target
	}
	c.notify()
	for c.done < target {
		ch := c.progress
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("feedbackloop client: flush: %w", ctx.Err())
		}
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	return c.takeErrors()
}

// Close delivers everything queued and stops the sender. Retries stop when
// ctx ends (give it a deadline); what is undelivered then is reported as an
// *UndeliveredError. It returns a *DeliveryError like Flush. Events queued
// after Close are refused with ErrClosed.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.closeCtx = ctx
		close(c.interrupt)
		c.notify()
	}
	c.mu.Unlock()
	select {
	case <-c.senderDone:
	case <-ctx.Done():
		// The sender notices ctx too; wait for it to let go of the
		// request in flight, at most one request timeout.
		select {
		case <-c.senderDone:
		case <-time.After(c.cfg.Timeout):
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 {
		c.fail(&UndeliveredError{Events: events(c.queue), Reason: "Close: " + ctx.Err().Error()})
		c.queue = nil
		c.advance(c.seq)
	}
	return c.takeErrors()
}

// Stats returns the counters so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

func (c *Client) takeErrors() error {
	if len(c.errs) == 0 {
		return nil
	}
	errs := c.errs
	c.errs = nil
	return &DeliveryError{Errors: errs}
}

func (c *Client) advance(seq uint64) {
	c.done = seq
	close(c.progress)
	c.progress = make(chan struct{})
}

// fail records a failure; called with mu held.
func (c *Client) fail(err error) {
	var rej *RejectedError
	var und *UndeliveredError
	switch {
	case errors.As(err, &rej):
		c.stats.Refused += len(rej.Events)
	case errors.As(err, &und):
		c.stats.Undelivered += len(und.Events)
	}
	// Bounded: a client nobody flushes must not grow without limit.
	if len(c.errs) < 1000 {
		c.errs = append(c.errs, err)
	}
	c.log.Error("feedbackloop client: delivery failed", "err", err)
	if c.cfg.OnError != nil {
		c.mu.Unlock()
		c.cfg.OnError(err)
		c.mu.Lock()
	}
}

func events(ps []pending) []feedback.Event {
	out := make([]feedback.Event, len(ps))
	for i, p := range ps {
		out[i] = p.event
	}
	return out
}

// take waits for the next batch; nil once closed and drained.
func (c *Client) take() []pending {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if len(c.queue) == 0 {
			if c.closing {
				return nil
			}
			c.mu.Unlock()
			<-c.wake
			c.mu.Lock()
			continue
		}
		head := c.queue[0]
		ready := len(c.queue) >= c.cfg.BatchSize || c.closing || head.seq <= c.flushTo
		wait := time.Until(head.queued.Add(c.cfg.MaxDelay))
		if ready || wait <= 0 {
			break
		}
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-c.wake:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
	}
	n, size := 0, 2
	for n < len(c.queue) && n < c.cfg.BatchSize {
		l := len(c.queue[n].body) + 1
		if n > 0 && size+l > feedback.MaxBatchBytes {
			break
		}
		size += l
		n++
	}
	batch := append([]pending(nil), c.queue[:n]...)
	c.queue = append(c.queue[:0:0], c.queue[n:]...)
	return batch
}

func (c *Client) run() {
	defer close(c.senderDone)
	for {
		batch := c.take()
		if batch == nil {
			return
		}
		var order []string
		groups := map[string][]pending{}
		for _, p := range batch {
			if _, ok := groups[p.path]; !ok {
				order = append(order, p.path)
			}
			groups[p.path] = append(groups[p.path], p)
		}
		for _, path := range order {
			c.deliver(path, groups[path])
		}
		c.mu.Lock()
		c.advance(batch[len(batch)-1].seq)
		c.mu.Unlock()
	}
}

// deliver sends items to path until each is delivered or has failed.
func (c *Client) deliver(path string, items []pending) {
	work := [][]pending{items}
	for len(work) > 0 {
		items := work[len(work)-1]
		work = work[:len(work)-1]
		ref, ok := c.postWithRetries(path, items)
		if !ok {
			continue // undeliverable, reported
		}
		if ref == nil {
			c.mu.Lock()
			c.stats.Delivered += len(items)
			c.mu.Unlock()
			continue
		}
		byIndex := map[int][]feedback.FieldError{}
		inRange := len(ref.details) > 0
		for _, d := range ref.details {
			if d.Index < 0 || d.Index >= len(items) {
				inRange = false
			}
			byIndex[d.Index] = append(byIndex[d.Index], d)
		}
		switch {
		case inRange:
			// feedbackd writes nothing of a refused request; the events it
			// did not name are sent again on their own.
			var rest []pending
			c.mu.Lock()
			for i, p := range items {
				if d, bad := byIndex[i]; bad {
					c.fail(&RejectedError{Status: ref.status, Message: ref.message, Details: d, Events: []feedback.Event{p.event}})
				} else {
					rest = append(rest, p)
				}
			}
			c.mu.Unlock()
			if len(rest) > 0 {
				work = append(work, rest)
			}
		case ref.status == http.StatusRequestEntityTooLarge && len(items) > 1:
			half := len(items) / 2
			work = append(work, items[half:], items[:half])
		default:
			c.mu.Lock()
			c.fail(&RejectedError{Status: ref.status, Message: ref.message, Details: ref.details, Events: events(items)})
			c.mu.Unlock()
		}
	}
}

type refusal struct {
	status  int
	message string
	details []feedback.FieldError
}

type retryable struct {
	reason     string
	status     int
	retryAfter time.Duration // -1: none sent
}

// postWithRetries returns (nil, true) when feedbackd accepted the batch,
// (refusal, true) for a permanent refusal, and (nil, false) when retries ran
// out (reported here).
func (c *Client) postWithRetries(path string, items []pending) (*refusal, bool) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i, p := range items {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(p.body)
	}
	body.WriteByte(']')
	for retries := 0; ; retries++ {
		ref, r := c.post(path, body.Bytes())
		if r == nil {
			return ref, true
		}
		wait := c.cfg.Retry.backoff(retries, c.random())
		if r.retryAfter >= 0 {
			wait = min(r.retryAfter, c.cfg.Retry.MaxRetryAfter)
		}
		c.mu.Lock()
		closeCtx := c.closeCtx
		c.mu.Unlock()
		giveUp := ""
		if retries+1 >= c.cfg.Retry.MaxAttempts {
			giveUp = fmt.Sprintf("gave up after %d attempts; last: %s", retries+1, r.reason)
		} else if closeCtx != nil {
			if dl, ok := closeCtx.Deadline(); closeCtx.Err() != nil || ok && time.Now().Add(wait).After(dl) {
				giveUp = "Close: context ends before the next retry; last: " + r.reason
			}
		}
		if giveUp == "" {
			c.mu.Lock()
			c.stats.Retries++
			c.mu.Unlock()
			c.log.Warn("feedbackloop client: retrying", "reason", r.reason, "in", wait)
			if c.sleep(closeCtx, wait) {
				continue
			}
			giveUp = "Close: context ended while waiting to retry; last: " + r.reason
		}
		c.mu.Lock()
		c.fail(&UndeliveredError{Events: events(items), Reason: giveUp, Status: r.status})
		c.mu.Unlock()
		return nil, false
	}
}

// backoffSleep waits d; Close cuts it short once (false only when Close's
// context ends).
func (c *Client) backoffSleep(closeCtx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var done <-chan struct{}
	interrupt := c.interrupt
	if closeCtx != nil {
		done, interrupt = closeCtx.Done(), nil
	}
	select {
	case <-t.C:
		return true
	case <-interrupt:
		return true
	case <-done:
		return false
	}
}

func (c *Client) post(path string, body []byte) (*refusal, *retryable) {
	c.mu.Lock()
	c.stats.Requests++
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return &refusal{message: err.Error()}, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "feedbackloop-go/"+Version)
	if c.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Refused or reset connections, timeouts, truncated answers: the
		// request may or may not have arrived, and a repeat is harmless
		// because every event carries its idempotency key.
		return nil, &retryable{reason: "POST " + path + ": " + err.Error(), retryAfter: -1}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode/100 == 2 {
		return nil, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		var ne net.Error
		if errors.As(err, &ne) {
			return nil, &retryable{reason: "POST " + path + ": " + err.Error(), retryAfter: -1}
		}
	}
	msg, details := parseError(data)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return nil, &retryable{
			reason:     fmt.Sprintf("POST %s: HTTP %d: %s", path, resp.StatusCode, msg),
			status:     resp.StatusCode,
			retryAfter: retryAfter(resp.Header.Get("Retry-After")),
		}
	}
	return &refusal{status: resp.StatusCode, message: msg, details: details}, nil
}

func parseError(data []byte) (string, []feedback.FieldError) {
	var doc struct {
		Error   string                `json:"error"`
		Details []feedback.FieldError `json:"details"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Error == "" {
		s := strings.TrimSpace(strings.ToValidUTF8(string(data), "\uFFFD"))
		if len(s) > 500 {
			s = s[:500]
		}
		if s == "" {
			s = "(no body)"
		}
		return s, nil
	}
	return doc.Error, doc.Details
}

// retryAfter reads delta-seconds or an HTTP-date; -1 when absent or bad.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return -1
	}
	return max(0, time.Until(t))
}
