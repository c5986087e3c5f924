// Package lokipush delivers spooled events to Loki's push API with
// acknowledgement.
//
// loki-client-go's Client is deliberately not used: after its retries it drops
// a batch without telling the caller, which would break the collector's
// "no acknowledged event is ever lost" promise (docs/collector-api.md). Only the push
// protobuf types are reused; delivery, retries and rejections are decided by
// the collector's delivery loop from what Deliver returns.
package lokipush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Name is the sink's name in logs and in feedbackd_delivery_total{sink}.
const Name = "loki"

const (
	// DefaultTimeout bounds one HTTP request when Config.Timeout is zero; it
	// matches Promtail's default so a slow Loki looks the same to operators.
	DefaultTimeout = 10 * time.Second

	pushPath  = "/loki/api/v1/push"
	readyPath = "/ready"

	// maxLabelValueBytes is Loki's default max_label_value_length. A longer
	// value makes Loki refuse the whole stream, so such an event is rejected
	// here, by itself, instead of costing a round trip.
	maxLabelValueBytes = 2048

	// maxReasonBytes caps how much of Loki's error body becomes a rejection
	// reason or error message; Loki quotes labels in its messages, never
	// lines, so the useful part is short.
	maxReasonBytes = 2048
)

// Config configures a Loki sink.
type Config struct {
	// URL is Loki's base URL (e.g. http://loki:3100), optionally with a path
	// prefix when Loki sits behind a gateway; the push and ready paths are
	// appended to it.
	URL string
	// Tenant is sent as X-Scope-OrgID when set (multi-tenant Loki).
	Tenant string
	// Username and Password select HTTP basic auth; BearerToken selects
	// bearer auth. At most one of the two may be configured.
	Username, Password string
	BearerToken        string
	// Timeout bounds each HTTP request, including reading the response.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient is used for all requests when set (TLS, proxies). Its own
	// Timeout, if any, applies in addition to Timeout.
	HTTPClient *http.Client
}

// Sink pushes batches to Loki. It is safe for concurrent use.
type Sink struct {
	pushURL  string
	readyURL string
	cfg      Config
	timeout  time.Duration
	client   *http.Client
}

var (
	_ sink.Concurrent = (*Sink)(nil)
	_ sink.Ordered    = (*Sink)(nil)
	_ sink.Preparer   = (*Sink)(nil)
)

// orderWindow bounds how far apart in time the entries of one stream may be
// across the batches in flight at once. Loki accepts out-of-order writes
// (unordered_writes, the default since Loki 2.4) for a stream as far back as
// "time_of_most_recent_line - (max_chunk_age/2)", max_chunk_age being 2h by
// default, and answers an older entry with 400 "entry too far behind"
// (Grafana Loki docs, Configure: "Accept out-of-order writes",
// https://grafana.com/docs/loki/latest/configure/#accept-out-of-order-writes).
// Half of that default hour leaves room for an ingester configured with a
// shorter max_chunk_age and for clock skew between the entries; the cost of
// a smaller window is only that batches whose timestamps are that far apart
// go one after the other, as they did before delivery was concurrent.
const orderWindow = 30 * time.Minute

// New validates cfg and returns a Sink. It does not contact Loki; use Ping.
func New(cfg Config) (*Sink, error) {
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("loki: timeout must not be negative, got %s", cfg.Timeout)
	}
	if cfg.BearerToken != "" && (cfg.Username != "" || cfg.Password != "") {
		return nil, errors.New("loki: configure either basic auth (username/password) or a bearer token, not both")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("loki: a password is set but no username")
	}
	if strings.ContainsFunc(cfg.Tenant, unicode.IsControl) || strings.Contains(cfg.Tenant, "|") {
		// A control character would make every request fail in net/http, and
		// "|" is Loki's multi-tenant query separator, which push does not take.
		return nil, fmt.Errorf("loki: invalid tenant %q", cfg.Tenant)
	}
	s := &Sink{
		pushURL:  base + pushPath,
		readyURL: base + readyPath,
		cfg:      cfg,
		timeout:  cfg.Timeout,
		client:   cfg.HTTPClient,
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// net/http keeps 2 idle connections per host by default; with
		// several pushes in flight the others would be closed after each
		// request and dialled anew.
		t.MaxIdleConnsPerHost = sink.MaxIdleConnsPerHost
		s.client = &http.Client{Transport: t}
	}
	return s, nil
}

func parseBaseURL(raw string) (string, error) {
	u, err := sink.ParseBaseURL("loki", raw, "username/password or token")
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(u.Path, pushPath) {
		// A common copy-paste from Promtail configs; appending the push path
		// again would 404 on every delivery.
		return "", fmt.Errorf("loki: URL %q must be Loki's base URL, without %s", u.Redacted(), pushPath)
	}
	return u.String(), nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return Name }

// DeliversConcurrently implements sink.Concurrent: pushes share nothing but
// the HTTP client.
func (s *Sink) DeliversConcurrently() {}

// OrderWindow implements sink.Ordered.
func (s *Sink) OrderWindow() time.Duration { return orderWindow }

// The delivery loop takes an Ordered sink's spans from its prepared batches.
var _ sink.Spanned = (*prepared)(nil)

// Spans implements sink.Spanned with the streams the push holds.
func (p *prepared) Spans() map[string]sink.Span {
	spans := map[string]sink.Span{}
	for _, e := range p.entries {
		sp, ok := spans[e.labels]
		if !ok {
			sp = sink.Span{Oldest: e.ts, Newest: e.ts}
		}
		if e.ts.Before(sp.Oldest) {
			sp.Oldest = e.ts
		}
		if e.ts.After(sp.Newest) {
			sp.Newest = e.ts
		}
		spans[e.labels] = sp
	}
	return spans
}

// entry is one record ready to push.
type entry struct {
	seq    uint64
	labels string
	ts     time.Time
	line   string
}

// Deliver pushes batch to Loki. It returns nil only when Loki acknowledged
// every record, a *sink.RejectedError listing the records Loki (or this sink)
// refused permanently when all others were acknowledged, and any other error
// when the batch must be retried as a whole. Retrying is harmless because
// Loki treats an entry with the same stream, timestamp and line as a
// duplicate.
func (s *Sink) Deliver(ctx context.Context, batch []sink.Record) error {
	return s.Prepare(batch).Send(ctx)
}

// Prepare implements sink.Preparer: the entries and the encoded push.
func (s *Sink) Prepare(batch []sink.Record) sink.Prepared {
	p := &prepared{s: s}
	labels := labelCache{}
	p.entries, p.rejections = sink.Split(batch, func(rec sink.Record) (entry, error) { return prepare(rec, labels) })
	if len(p.entries) > 0 {
		p.body, p.err = encode(p.entries)
	}
	return p
}

// prepared is a batch ready to push: body encodes all of entries.
type prepared struct {
	s          *Sink
	entries    []entry
	rejections []sink.Rejection
	body       []byte
	err        error
}

func (p *prepared) Send(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	rejections := p.rejections
	if len(p.entries) > 0 {
		refused, err := p.s.pushIsolating(ctx, p.entries, p.body)
		if err != nil {
			return err
		}
		rejections = append(slices.Clip(rejections), refused...)
	}
	return sink.Rejected(rejections)
}

func prepare(rec sink.Record, labels labelCache) (entry, error) {
	ev, err := sink.ReadFields("loki", rec.Line)
	if err != nil {
		return entry{}, err
	}
	ts, err := sink.EventTime("loki", ev.Timestamp)
	if err != nil {
		return entry{}, err
	}
	if ev.Kind == "" {
		return entry{}, errors.New("loki: event has no kind")
	}
	key, err := labels.of(ev)
	if err != nil {
		return entry{}, err
	}
	// The entry lives no longer than its batch, whose lines nobody
	// changes, so it may share the record's line.
	return entry{seq: rec.Seq, labels: key, ts: ts, line: sink.View(rec.Line)}, nil
}

// labelCache renders each distinct label set of a batch once: a batch has
// a handful of streams and hundreds of records.
type labelCache map[[4]string]string

func (c labelCache) of(ev sink.Fields) (string, error) {
	k := [4]string{ev.Kind, ev.ModelID, ev.ModelVersion, ev.Sentiment}
	if s, ok := c[k]; ok {
		return s, nil
	}
	s, err := streamLabels(ev)
	if err == nil {
		c[k] = s
	}
	return s, err
}

// streamLabels renders the event's stream labels (storage.StreamLabels) as
// a selector string, so one label set always maps to one string (and one
// stream).
func streamLabels(ev sink.Fields) (string, error) {
	pairs := storage.StreamLabels(ev.Kind, ev.ModelID, ev.ModelVersion, ev.Sentiment)
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range pairs {
		if !utf8.ValidString(p.Value) {
			return "", fmt.Errorf("loki: label %s is not valid UTF-8", p.Name)
		}
		if len(p.Value) > maxLabelValueBytes {
			return "", fmt.Errorf("loki: label %s is %d bytes long, over Loki's limit of %d", p.Name, len(p.Value), maxLabelValueBytes)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(p.Value))
	}
	b.WriteByte('}')
	return b.String(), nil
}

// pushIsolating pushes entries, bisecting when Loki refuses the push for its
// content: Loki stores every valid entry of a push and drops only the invalid
// ones, but answers with one status for the whole request. An entry too far
// behind its stream (see orderWindow) is such a refusal, 400, and so ends in
// the dead-letter file with Loki's reason, like any other refused entry.
// body is the encoding of all of entries, which Isolate sends first.
func (s *Sink) pushIsolating(ctx context.Context, entries []entry, body []byte) ([]sink.Rejection, error) {
	return sink.Isolate(ctx, entries, func(e entry) uint64 { return e.seq },
		func(ctx context.Context, es []entry) ([]sink.Rejection, string, error) {
			b := body
			if len(es) != len(entries) {
				var err error
				if b, err = encode(es); err != nil {
					return nil, "", err
				}
			}
			reason, err := s.push(ctx, b)
			return nil, reason, err
		})
}

// encode is the push body for entries: a snappy block around the protobuf.
func encode(entries []entry) ([]byte, error) {
	raw, err := buildRequest(entries).Marshal()
	if err != nil {
		return nil, fmt.Errorf("loki: encode push request: %w", err)
	}
	return snappy.Encode(nil, raw), nil
}

// buildRequest groups entries into streams keyed by their label string, with
// entries in time order, and streams in label order so that the same batch
// always encodes to the same bytes.
func buildRequest(entries []entry) *push.PushRequest {
	byLabels := map[string][]entry{}
	for _, e := range entries {
		byLabels[e.labels] = append(byLabels[e.labels], e)
	}
	keys := make([]string, 0, len(byLabels))
	for k := range byLabels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	req := &push.PushRequest{Streams: make([]push.Stream, 0, len(keys))}
	for _, k := range keys {
		es := byLabels[k]
		slices.SortStableFunc(es, func(a, b entry) int { return a.ts.Compare(b.ts) })
		st := push.Stream{Labels: k, Entries: make([]push.Entry, len(es))}
		for i, e := range es {
			st.Entries[i] = push.Entry{Timestamp: e.ts, Line: e.line}
		}
		req.Streams = append(req.Streams, st)
	}
	return req
}

// push sends one push request. It returns a non-empty reason when Loki
// refused the content permanently, and an error when the outcome is unknown
// or temporary.
func (s *Sink) push(ctx context.Context, body []byte) (reason string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.pushURL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("loki: build push request: %w", err)
	}
	// Loki's protobuf push body is always snappy block-encoded; it must not
	// be announced as a Content-Encoding.
	req.Header.Set("Content-Type", "application/x-protobuf")
	s.authorize(req)

	status, text, err := s.do(req, "push")
	if err != nil {
		return "", err
	}
	switch {
	case status >= 200 && status < 300:
		return "", nil
	case isContentRejection(status):
		return fmt.Sprintf("loki: HTTP %d: %s", status, text), nil
	default:
		return "", statusError("push", status, text)
	}
}

// isContentRejection reports whether a status means "this data will never be
// accepted". Auth and addressing problems (401/403/404/405/407) are the
// operator's to fix, not the events' fault, so they are retried rather than
// dead-lettered; 408/409/429 are temporary by the sink contract.
func isContentRejection(status int) bool {
	if status < 400 || status >= 500 {
		return false
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusMethodNotAllowed, http.StatusProxyAuthRequired,
		http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return true
}

func statusError(op string, status int, text string) error {
	var hint string
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusProxyAuthRequired:
		hint = " (check the Loki credentials and tenant)"
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		hint = " (check the Loki URL)"
	}
	if text == "" {
		return fmt.Errorf("loki %s: HTTP %d%s", op, status, hint)
	}
	return fmt.Errorf("loki %s: HTTP %d%s: %s", op, status, hint, text)
}

func (s *Sink) authorize(req *http.Request) {
	req.Header.Set("User-Agent", "feedbackd")
	if s.cfg.Tenant != "" {
		req.Header.Set("X-Scope-OrgID", s.cfg.Tenant)
	}
	switch {
	case s.cfg.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+s.cfg.BearerToken)
	case s.cfg.Username != "":
		req.SetBasicAuth(s.cfg.Username, s.cfg.Password)
	}
}

// do performs req and returns the status and a trimmed, bounded body. The
// whole exchange, body included, runs under req's context so Timeout also
// covers a server that stalls mid-response.
func (s *Sink) do(req *http.Request, op string) (int, string, error) {
	res, err := s.client.Do(req)
	if err != nil {
		return 0, "", transportError(req.Context(), op, s.timeout, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxReasonBytes+1))
	if err != nil {
		return 0, "", transportError(req.Context(), op, s.timeout, err)
	}
	// Drain a little more so the connection can be reused; an oversized
	// error body is not worth reading to the end.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, clip(data), nil
}

func transportError(ctx context.Context, op string, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("loki %s: no answer within %s: %w", op, timeout, err)
	}
	return fmt.Errorf("loki %s: %w", op, err)
}

func clip(data []byte) string {
	truncated := len(data) > maxReasonBytes
	if truncated {
		data = data[:maxReasonBytes]
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(data), "\uFFFD"))
	if truncated {
		text += " …"
	}
	return text
}

// Ping checks that Loki is ready to take writes (GET /ready answers 2xx).
func (s *Sink) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.readyURL, nil)
	if err != nil {
		return fmt.Errorf("loki: build ready request: %w", err)
	}
	s.authorize(req)
	status, text, err := s.do(req, "ready")
	if err != nil {
		return err
	}
	if status < 200 || status >= 300 {
		return statusError("ready", status, text)
	}
	return nil
}
