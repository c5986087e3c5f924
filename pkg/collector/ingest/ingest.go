// Package ingest is feedbackd's HTTP API (docs/collector-api.md): the write
// endpoints, the OTLP/HTTP receiver (docs/otel.md), authentication, CORS, and
// the health, readiness and metrics endpoints.
package ingest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedbackloop/modelfeedback/pkg/collector/enrich"
	"github.com/feedbackloop/modelfeedback/pkg/collector/metrics"
	"github.com/feedbackloop/modelfeedback/pkg/collector/otlp"
	"github.com/feedbackloop/modelfeedback/pkg/collector/redact"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Appender is the durable log; Append returns only once lines are fsynced.
type Appender interface {
	Append(ctx context.Context, lines [][]byte) (uint64, error)
}

// frameAppender is implemented by *spool.Spool: lines are then marshalled
// straight into their spool frames instead of being copied there.
type frameAppender interface {
	AppendFrames(ctx context.Context, frames [][]byte) (uint64, error)
}

// bufPool recycles request bodies and line buffers, which are dead once the
// request is decoded (decoded strings are copies) or spooled; allocating and
// zeroing them per request cost more than the parse of a small request.
var bufPool sync.Pool

// maxPooledBuf keeps a rare huge request from pinning its buffer.
const maxPooledBuf = 1 << 20

func getBuf(n int) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, n)
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledBuf {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// Options configures the handler.
type Options struct {
	Spool Appender
	// Tokens may write every kind; BrowserTokens only feedback, only from
	// CORSOrigins. With neither configured, no authentication is required.
	Tokens        []string
	BrowserTokens []string
	CORSOrigins   []string
	// Redact replaces personal data in comment; RedactContext also in the
	// context texts and corrected_output.
	Redact        bool
	RedactContext bool
	Metrics       *metrics.Metrics
	// Ready answers /readyz: ok and a JSON-able report.
	Ready func(ctx context.Context) (bool, any)
	// RetryAfter is sent with 429 and 503; 0 means 5 s.
	RetryAfter time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
	// OTLP maps OTLP/HTTP traces and logs onto events; nil means
	// otlp.DefaultMapping.
	OTLP *otlp.Mapping
	// Enrich copies interaction attributes onto feedback
	// (docs/enrichment.md); nil: no enrichment.
	Enrich Enricher
}

// Enricher is the interaction index (*enrich.Index).
type Enricher interface {
	Enrich(events []feedback.Event) ([]enrich.Change, error)
	Revert(e *feedback.Event, ch enrich.Change)
	WaitApplied(ctx context.Context, seq uint64) error
}

// indexWait bounds how long an interaction's answer waits for the index to
// apply it; past it the 202 goes out anyway (the event is durable) and the
// delay is logged.
const indexWait = 10 * time.Second

// awaitIndex holds the answer to a request with interactions until the
// index has applied them (spool entries first..first+n-1), so feedback sent
// after the 202 is enriched.
func (h *handler) awaitIndex(ctx context.Context, events []feedback.Event, first uint64, n int) {
	if h.opts.Enrich == nil || n == 0 {
		return
	}
	has := false
	for i := range events {
		has = has || events[i].Kind == feedback.KindInteraction
	}
	if !has {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, indexWait)
	defer cancel()
	if err := h.opts.Enrich.WaitApplied(ctx, first+uint64(n)-1); err != nil {
		h.opts.Logger.Warn("interactions acknowledged before the enrichment index applied them; feedback sent right after them may stay unenriched", "err", err)
	}
}

// Endpoint is one write endpoint and the kinds it takes. Escalations and
// notifications have no endpoint of their own: an escalation is part of the
// review workflow, a notification part of closing the loop on a resolution.
type Endpoint struct {
	Path  string
	Kinds []feedback.Kind
}

// Endpoints are the write endpoints of docs/collector-api.md.
var Endpoints = []Endpoint{
	{"/v1/feedback", []feedback.Kind{feedback.KindFeedback}},
	{"/v1/interactions", []feedback.Kind{feedback.KindInteraction}},
	{"/v1/reviews", []feedback.Kind{feedback.KindReview, feedback.KindEscalation}},
	{"/v1/resolutions", []feedback.Kind{feedback.KindResolution, feedback.KindNotification}},
}

type handler struct {
	opts    Options
	auth    bool
	origins map[string]bool
	anyOrig bool
	codes   [500]atomic.Pointer[prometheus.Counter] // by status code - 100
}

// New returns the complete HTTP API.
func New(opts Options) http.Handler {
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(false)
	}
	if opts.OTLP == nil {
		m := otlp.DefaultMapping()
		opts.OTLP = &m
	}
	h := &handler{opts: opts, auth: len(opts.Tokens)+len(opts.BrowserTokens) > 0, origins: map[string]bool{}}
	for _, o := range opts.CORSOrigins {
		if o == "*" {
			h.anyOrig = true
		}
		h.origins[strings.TrimRight(o, "/")] = true
	}
	mux := http.NewServeMux()
	for _, ep := range Endpoints {
		ep := ep
		mux.Handle("POST "+ep.Path, h.counted(func(w http.ResponseWriter, r *http.Request) { h.write(w, r, ep) }))
		mux.Handle("OPTIONS "+ep.Path, h.counted(h.preflight))
	}
	for path, sig := range h.otlpSignals() {
		sig := sig
		mux.Handle("POST "+path, h.counted(func(w http.ResponseWriter, r *http.Request) { h.otlpWrite(w, r, sig) }))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", h.ready)
	mux.Handle("GET /metrics", opts.Metrics.Handler())
	return mux
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (h *handler) counted(f http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		f(rec, r)
		h.requests(rec.code).Inc()
	})
}

// requests returns the request counter for code. Every request counts once,
// and resolving the series by label (formatting the code, hashing it, a
// locked map lookup) cost more than the increment; a status code has only a
// few hundred possible values, so each is resolved once.
func (h *handler) requests(code int) prometheus.Counter {
	if code < 100 || code >= 100+len(h.codes) {
		return h.opts.Metrics.IngestRequests.WithLabelValues(strconv.Itoa(code))
	}
	slot := &h.codes[code-100]
	if c := slot.Load(); c != nil {
		return *c
	}
	c := h.opts.Metrics.IngestRequests.WithLabelValues(strconv.Itoa(code))
	slot.Store(&c)
	return c
}

// ErrorResponse is the body of every 4xx/5xx answer of the write endpoints.
type ErrorResponse struct {
	Error   string                `json:"error"`
	Details []feedback.FieldError `json:"details,omitempty"`
}

// AcceptedResponse is the 202 body: ids in request order, each the event's
// idempotency key (feedback_id; correlation_id for interactions;
// resolution_id for resolutions).
type AcceptedResponse struct {
	Accepted int      `json:"accepted"`
	IDs      []string `json:"ids"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *handler) fail(w http.ResponseWriter, code int, msg string, details []feedback.FieldError) {
	writeJSON(w, code, ErrorResponse{Error: msg, Details: details})
}

func (h *handler) originAllowed(origin string) bool {
	return origin != "" && (h.anyOrig || h.origins[strings.TrimRight(origin, "/")])
}

func (h *handler) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	w.Header().Add("Vary", "Origin")
	if !h.originAllowed(origin) {
		h.fail(w, http.StatusForbidden, "origin not allowed", nil)
		return
	}
	if m := r.Header.Get("Access-Control-Request-Method"); m != "" && m != http.MethodPost {
		h.fail(w, http.StatusForbidden, "only POST is allowed", nil)
		return
	}
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", origin)
	hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	hd.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

type role int

const (
	roleNone role = iota
	roleServer
	roleBrowser
)

func (h *handler) authenticate(r *http.Request) role {
	if !h.auth {
		return roleServer
	}
	a := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(a) <= len(prefix) || !strings.EqualFold(a[:len(prefix)], prefix) {
		return roleNone
	}
	tok := []byte(strings.TrimSpace(a[len(prefix):]))
	// Compare against every token so timing does not reveal which list (or
	// how far into it) a token matched.
	got := roleNone
	for _, t := range h.opts.Tokens {
		if subtle.ConstantTimeCompare(tok, []byte(t)) == 1 {
			got = roleServer
		}
	}
	for _, t := range h.opts.BrowserTokens {
		if subtle.ConstantTimeCompare(tok, []byte(t)) == 1 && got == roleNone {
			got = roleBrowser
		}
	}
	return got
}

func (h *handler) write(w http.ResponseWriter, r *http.Request, ep Endpoint) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		w.Header().Add("Vary", "Origin")
		if h.originAllowed(origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
	}
	rl := h.authenticate(r)
	switch rl {
	case roleNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="feedbackd"`)
		h.fail(w, http.StatusUnauthorized, "missing or invalid bearer token", nil)
		return
	case roleBrowser:
		if !h.originAllowed(origin) {
			h.fail(w, http.StatusForbidden, "browser tokens are accepted only from an allowed origin (cors-origins)", nil)
			return
		}
		if ep.Path != "/v1/feedback" {
			h.fail(w, http.StatusForbidden, "browser tokens may only write feedback (POST /v1/feedback)", nil)
			return
		}
	}
	if r.ContentLength > feedback.MaxBatchBytes {
		h.fail(w, http.StatusRequestEntityTooLarge, "request body is "+strconv.FormatInt(r.ContentLength, 10)+" bytes, the limit is 4 MiB", nil)
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, feedback.MaxBatchBytes), r.ContentLength)
	defer putBuf(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, http.StatusRequestEntityTooLarge, "request body is over the limit of 4 MiB", nil)
			return
		}
		h.fail(w, http.StatusBadRequest, "reading the request body: "+err.Error(), nil)
		return
	}
	events, ferrs := feedback.DecodeBatch(body)
	if len(ferrs) > 0 {
		code := http.StatusBadRequest
		if feedback.TooLarge(ferrs) {
			code = http.StatusRequestEntityTooLarge
		}
		h.fail(w, code, "invalid request: "+ferrs[0].Error(), ferrs)
		return
	}
	if d := kindErrors(events, ep, rl); len(d) > 0 {
		code := http.StatusBadRequest
		if rl == roleBrowser {
			code = http.StatusForbidden
		}
		h.fail(w, code, d[0].Error(), d)
		return
	}
	fa, framed := h.opts.Spool.(frameAppender)
	hdr := 0
	if framed {
		hdr = spool.FrameHeaderLen
	}
	buf, lines, ids, d := h.prepare(events, len(body), hdr)
	defer putBuf(buf)
	if len(d) > 0 {
		code := http.StatusBadRequest
		if feedback.TooLarge(d) {
			code = http.StatusRequestEntityTooLarge
		}
		h.fail(w, code, "invalid request: "+d[0].Error(), d)
		return
	}
	var seq uint64
	if framed {
		seq, err = fa.AppendFrames(r.Context(), lines)
	} else {
		seq, err = h.opts.Spool.Append(r.Context(), lines)
	}
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(h.opts.RetryAfter.Seconds())))
		switch {
		case errors.Is(err, spool.ErrFull):
			h.fail(w, http.StatusTooManyRequests, "spool is full: the sinks are behind; retry later", nil)
		case errors.Is(err, spool.ErrClosed):
			h.fail(w, http.StatusServiceUnavailable, "shutting down; retry later", nil)
		default:
			h.opts.Logger.Error("spool append failed", "err", err)
			h.fail(w, http.StatusServiceUnavailable, "spool not writable", nil)
		}
		return
	}
	h.awaitIndex(r.Context(), events, seq, len(lines))
	h.opts.Metrics.Accepted(events)
	// Assigned, not Set: the key is already canonical, and the shared value
	// spares an allocation on every accepted request (net/http only reads it).
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(appendAccepted(make([]byte, 0, 32+len(ids)*30), ids))
}

var jsonContentType = []string{"application/json"}

// appendAccepted writes what writeJSON writes for AcceptedResponse{len(ids),
// ids}, byte for byte, without reflection: this answer goes out for every
// accepted request.
func appendAccepted(b []byte, ids []string) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(len(ids)), 10)
	b = append(b, `,"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		if jsonPlain(id) {
			b = append(b, '"')
			b = append(b, id...)
			b = append(b, '"')
			continue
		}
		q, _ := json.Marshal(id)
		b = append(b, q...)
	}
	return append(b, "]}\n"...)
}

// jsonPlain reports whether encoding/json writes s between quotes as it is
// (it escapes controls, '"', '\\', HTML's <>& and everything non-ASCII it
// has to check).
func jsonPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x80, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// readBody reads it all into one (pooled) buffer sized from Content-Length
// when given, instead of io.ReadAll's repeated doubling.
func readBody(r io.Reader, length int64) ([]byte, error) {
	if length <= 0 {
		return io.ReadAll(r)
	}
	buf := getBuf(int(length) + 1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

func kindErrors(events []feedback.Event, ep Endpoint, rl role) []feedback.FieldError {
	var out []feedback.FieldError
	for i, e := range events {
		if rl == roleBrowser && e.Kind != feedback.KindFeedback {
			out = append(out, feedback.FieldError{Index: i, Field: "kind", Message: "browser tokens may only write kind feedback, got " + strconv.Quote(string(e.Kind))})
			continue
		}
		ok := false
		for _, k := range ep.Kinds {
			ok = ok || e.Kind == k
		}
		if !ok {
			out = append(out, feedback.FieldError{Index: i, Field: "kind", Message: "kind " + strconv.Quote(string(e.Kind)) + " is not accepted on " + ep.Path + "; send it to " + endpointFor(e.Kind)})
		}
	}
	return out
}

func endpointFor(k feedback.Kind) string {
	for _, ep := range Endpoints {
		for _, ek := range ep.Kinds {
			if ek == k {
				return ep.Path
			}
		}
	}
	return "no endpoint"
}

// prepare fills what the collector owns, redacts, and encodes each event.
// effective_version is computed before redaction so it identifies the prompt
// that actually ran, not its redacted copy. Each line is written behind hdr
// spare bytes (its spool frame header) and returned with them; all lines
// share buf, which the caller may recycle once the lines are spooled.
func (h *handler) prepare(events []feedback.Event, bodyLen, hdr int) (buf []byte, lines [][]byte, ids []string, errs []feedback.FieldError) {
	now := h.opts.Now()
	lines = make([][]byte, len(events))
	ids = make([]string, len(events))
	// A completed event is its request bytes plus the filled-in id,
	// timestamp, schema and severity.
	buf = getBuf(bodyLen + len(events)*(160+hdr))
	for i := range events {
		e := &events[i]
		if e.Kind == feedback.KindFeedback && e.FeedbackID == "" {
			// oklog's default entropy is monotonic within a millisecond, so
			// ids from one request sort in request order.
			e.FeedbackID = ulid.Make().String()
		}
		e.FillDefaults(now)
	}
	// Enriched here, after validation and before the spool, so the spooled
	// line is the enriched one and every sink gets the same.
	var changes []enrich.Change
	if h.opts.Enrich != nil {
		changes, _ = h.opts.Enrich.Enrich(events)
	}
	next := 0
	for i := range events {
		e := &events[i]
		var change *enrich.Change
		if next < len(changes) && changes[next].Index == i {
			change = &changes[next]
			next++
		}
		if h.redactEvent(e) {
			// Markers can be longer than what they replace: the limits
			// apply to what is stored.
			for _, fe := range e.Validate() {
				fe.Index = i
				fe.Message += " (after redaction)"
				errs = append(errs, fe)
			}
		}
		start := len(buf)
		buf = append(buf, make([]byte, hdr)...)
		var err error
		buf, err = feedback.AppendMarshal(buf, e)
		if err != nil {
			buf = buf[:start]
			errs = append(errs, feedback.FieldError{Index: i, Message: err.Error()})
			continue
		}
		if change != nil && len(buf)-start-hdr > feedback.MaxEventBytes {
			// What feedbackd adds must not get the client's event refused.
			h.opts.Enrich.Revert(e, *change)
			buf = buf[:start]
			buf = append(buf, make([]byte, hdr)...)
			if buf, err = feedback.AppendMarshal(buf, e); err != nil {
				buf = buf[:start]
				errs = append(errs, feedback.FieldError{Index: i, Message: err.Error()})
				continue
			}
		}
		// A regrown buffer leaves earlier lines in the old array, intact.
		line := buf[start:len(buf):len(buf)]
		if n := len(line) - hdr; n > feedback.MaxEventBytes {
			errs = append(errs, feedback.FieldError{Index: i, Message: "too large: event is " + strconv.Itoa(n) + " bytes once completed, the limit is 256 KiB"})
		}
		lines[i] = line
		ids[i] = idOf(e)
	}
	return buf, lines, ids, errs
}

func (h *handler) redactEvent(e *feedback.Event) bool {
	changed := false
	red := func(s *string) {
		if r := redact.String(*s); r != *s {
			*s, changed = r, true
		}
	}
	if h.opts.Redact {
		red(&e.Comment)
	}
	if h.opts.RedactContext {
		if c := e.Context; c != nil {
			red(&c.SystemPrompt)
			red(&c.Input)
			red(&c.Output)
		}
		red(&e.CorrectedOutput)
	}
	return changed
}

func idOf(e *feedback.Event) string {
	switch {
	case e.Kind == feedback.KindInteraction:
		return e.CorrelationID
	case e.Kind == feedback.KindResolution:
		return e.ResolutionID
	default:
		return e.FeedbackID
	}
}

func (h *handler) ready(w http.ResponseWriter, r *http.Request) {
	if h.opts.Ready == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	ok, report := h.opts.Ready(ctx)
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, report)
}
