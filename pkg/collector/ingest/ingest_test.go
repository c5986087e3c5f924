package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/metrics"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

const (
	serverToken  = "srv-secret"
	browserToken = "widget-public"
	allowed      = "https://app.example.com"
)

type env struct {
	t       *testing.T
	spool   *spool.Spool
	metrics *metrics.Metrics
	h       http.Handler
}

func newEnv(t *testing.T, maxBytes int64, mod func(*Options)) *env {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	m := metrics.New(false)
	o := Options{Spool: sp, Metrics: m, Redact: true, Logger: slog.New(slog.DiscardHandler),
		Tokens: []string{serverToken}, BrowserTokens: []string{browserToken}, CORSOrigins: []string{allowed}}
	if mod != nil {
		mod(&o)
	}
	return &env{t: t, spool: sp, metrics: m, h: New(o)}
}

func (e *env) do(method, path, token, origin string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *env) post(path string, body string) *httptest.ResponseRecorder {
	return e.do(http.MethodPost, path, serverToken, "", []byte(body))
}

func fb(cid, extra string) string {
	return `{"kind":"feedback","correlation_id":"` + cid + `","model":{"id":"support-bot","version":"v2"},"sentiment":"negative"` + extra + `}`
}

func errorBody(t *testing.T, w *httptest.ResponseRecorder) ErrorResponse {
	t.Helper()
	var er ErrorResponse
	if err := json.Unmarshal(w.Body.Bytes(), &er); err != nil {
		t.Fatalf("error body is not JSON: %q", w.Body.String())
	}
	if er.Error == "" {
		t.Fatalf("error body without message: %q", w.Body.String())
	}
	return er
}

func hasDetail(er ErrorResponse, index int, field string) bool {
	for _, d := range er.Details {
		if d.Index == index && d.Field == field && d.Message != "" {
			return true
		}
	}
	return false
}

func (e *env) assertNothingSpooled() {
	e.t.Helper()
	if c := e.spool.Committed(); c != 0 {
		e.t.Fatalf("a rejected request wrote %d event(s) to the spool", c)
	}
}

func TestRejections(t *testing.T) {
	big := bytes.Repeat([]byte(" "), feedback.MaxBatchBytes+1)
	copy(big, `[`+fb("c", "")+`]`)
	many := "[" + strings.TrimSuffix(strings.Repeat(fb("c", "")+",", feedback.MaxBatchEvents+1), ",") + "]"
	cases := []struct {
		name          string
		method, path  string
		token, origin string
		body          string
		code          int
		details       [][2]any // index, field
	}{
		{"bad JSON", "POST", "/v1/feedback", serverToken, "", `{"kind":"feedback",`, 400, nil},
		{"not an object", "POST", "/v1/feedback", serverToken, "", `"hello"`, 400, nil},
		{"empty body", "POST", "/v1/feedback", serverToken, "", ``, 400, nil},
		{"field errors name index and field", "POST", "/v1/feedback", serverToken, "",
			"[" + fb("ok", "") + "," + fb("c1", `,"tags":["Not A Tag"]`) + `,{"kind":"feedback","correlation_id":"c2","model":{"id":"m","version":"v"},"sentiment":"meh"}]`,
			400, [][2]any{{1, "tags[0]"}, {2, "sentiment"}}},
		{"unknown field", "POST", "/v1/feedback", serverToken, "", fb("c", `,"colour":"red"`), 400, [][2]any{{0, "colour"}}},
		{"kind not for this endpoint", "POST", "/v1/feedback", serverToken, "",
			"[" + fb("a", "") + `,{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"}}]`, 400, [][2]any{{1, "kind"}}},
		{"unknown kind", "POST", "/v1/reviews", serverToken, "", `{"kind":"complaint"}`, 400, [][2]any{{0, "kind"}}},
		{"no token", "POST", "/v1/feedback", "", "", fb("c", ""), 401, nil},
		{"wrong token", "POST", "/v1/feedback", "nope", "", fb("c", ""), 401, nil},
		{"browser token writes an interaction", "POST", "/v1/interactions", browserToken, allowed,
			`{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"}}`, 403, nil},
		{"browser token, interaction sent to /v1/feedback", "POST", "/v1/feedback", browserToken, allowed,
			`{"kind":"interaction","correlation_id":"c","model":{"id":"m","version":"v"}}`, 403, [][2]any{{0, "kind"}}},
		{"browser token without origin", "POST", "/v1/feedback", browserToken, "", fb("c", ""), 403, nil},
		{"browser token from another origin", "POST", "/v1/feedback", browserToken, "https://evil.example", fb("c", ""), 403, nil},
		{"body over 4 MiB", "POST", "/v1/feedback", serverToken, "", string(big), 413, nil},
		{"more than 1000 events", "POST", "/v1/feedback", serverToken, "", many, 413, nil},
		{"comment over 4 KiB", "POST", "/v1/feedback", serverToken, "", fb("c", `,"comment":"`+strings.Repeat("x", 5000)+`"`), 413, [][2]any{{0, "comment"}}},
		{"comment over 4 KiB only after redaction", "POST", "/v1/feedback", serverToken, "",
			fb("c", `,"comment":"`+strings.Repeat("a@b.io ", 580)+`"`), 413, [][2]any{{0, "comment"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 0, nil)
			w := e.do(c.method, c.path, c.token, c.origin, []byte(c.body))
			if w.Code != c.code {
				t.Fatalf("code %d, want %d: %s", w.Code, c.code, w.Body.String())
			}
			er := errorBody(t, w)
			for _, d := range c.details {
				if !hasDetail(er, d[0].(int), d[1].(string)) {
					t.Errorf("no detail for index %v field %v in %s", d[0], d[1], w.Body.String())
				}
			}
			if c.code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			e.assertNothingSpooled()
		})
	}
}

// A body without Content-Length (chunked) is cut off at the limit too.
func TestChunkedBodyOverLimit(t *testing.T) {
	e := newEnv(t, 0, nil)
	body := io.MultiReader(strings.NewReader("["+fb("c", "")), strings.NewReader(strings.Repeat(" ", feedback.MaxBatchBytes)), strings.NewReader("]"))
	r := httptest.NewRequest("POST", "/v1/feedback", body)
	r.ContentLength = -1
	r.Header.Set("Authorization", "Bearer "+serverToken)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 413 {
		t.Fatalf("code %d", w.Code)
	}
	e.assertNothingSpooled()
}

func TestSpoolFullAnswers429(t *testing.T) {
	e := newEnv(t, 600, nil)
	if w := e.post("/v1/feedback", fb("first", "")); w.Code != 202 {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	before := e.spool.Committed()
	w := e.post("/v1/feedback", "["+fb("a", "")+","+fb("b", "")+"]")
	if w.Code != 429 {
		t.Fatalf("code %d: %s", w.Code, w.Body)
	}
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	errorBody(t, w)
	if e.spool.Committed() != before {
		t.Fatal("a 429 wrote to the spool")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, 0, nil)
	if w := e.do("GET", "/v1/feedback", serverToken, "", nil); w.Code != 405 {
		t.Fatalf("GET on a write endpoint: %d", w.Code)
	}
}

func TestCORSPreflight(t *testing.T) {
	e := newEnv(t, 0, nil)
	r := httptest.NewRequest("OPTIONS", "/v1/feedback", nil)
	r.Header.Set("Origin", allowed)
	r.Header.Set("Access-Control-Request-Method", "POST")
	r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != allowed ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("allowed preflight: %d %v", w.Code, w.Header())
	}
	r.Header.Set("Origin", "https://evil.example")
	w = httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", w.Code, w.Header())
	}
}

func TestBrowserTokenWritesFeedback(t *testing.T) {
	e := newEnv(t, 0, nil)
	w := e.do("POST", "/v1/feedback", browserToken, allowed, []byte(fb("c", "")))
	if w.Code != 202 || w.Header().Get("Access-Control-Allow-Origin") != allowed {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
}

func TestNoTokensMeansNoAuth(t *testing.T) {
	e := newEnv(t, 0, func(o *Options) { o.Tokens, o.BrowserTokens = nil, nil })
	if w := e.do("POST", "/v1/feedback", "", "", []byte(fb("c", ""))); w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestAcceptFillsRedactsAndSpools(t *testing.T) {
	e := newEnv(t, 0, nil)
	body := "[" + fb("trace-1", `,"reason":"harmful","tags":["bias"],"comment":"reach me at jane@example.com or +49 30 1234567",`+
		`"context":{"system_prompt":"be nice","params":{"temperature":0.2},"input":"my card 4111 1111 1111 1111"}`) +
		"," + fb("trace-2", `,"feedback_id":"given-id","timestamp":"2026-11-20T06:01:35.123456789Z","severity":"info"`) +
		`,{"kind":"feedback","correlation_id":"trace-3","model":{"id":"support-bot","version":"v2"},"sentiment":"positive"}]`
	w := e.post("/v1/feedback", body)
	if w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var ar AcceptedResponse
	if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || ar.Accepted != 3 || len(ar.IDs) != 3 {
		t.Fatalf("202 body %s", w.Body)
	}
	entries, err := e.spool.Read(1, 10, 1<<20)
	if err != nil || len(entries) != 3 {
		t.Fatalf("spooled %d entries: %v", len(entries), err)
	}
	var evs [3]feedback.Event
	for i, en := range entries {
		ev, errs := feedback.Decode(en.Line)
		if len(errs) > 0 {
			t.Fatalf("spooled line %d does not decode: %v\n%s", i, errs, en.Line)
		}
		evs[i] = ev
		if ar.IDs[i] != ev.FeedbackID {
			t.Errorf("id %d: response %q, spooled %q", i, ar.IDs[i], ev.FeedbackID)
		}
		if ev.Timestamp == nil || ev.Severity == "" {
			t.Errorf("event %d not completed: %s", i, en.Line)
		}
	}
	a := evs[0]
	if len(a.FeedbackID) != 26 || evs[2].FeedbackID <= a.FeedbackID {
		t.Errorf("generated ids must be ULIDs in request order: %q, %q", a.FeedbackID, evs[2].FeedbackID)
	}
	if a.Severity != feedback.SeverityCritical {
		t.Errorf("severity of a harmful report = %q", a.Severity)
	}
	if a.Comment != "reach me at [redacted:email] or [redacted:phone]" {
		t.Errorf("comment not redacted: %q", a.Comment)
	}
	if a.Context.Input != "my card 4111 1111 1111 1111" {
		t.Errorf("context redacted although redact-context is off: %q", a.Context.Input)
	}
	if want := feedback.EffectiveVersion("support-bot", a.Context); a.Model.EffectiveVersion != want || want == "" {
		t.Errorf("effective_version %q, want %q", a.Model.EffectiveVersion, want)
	}
	b := evs[1]
	if b.FeedbackID != "given-id" || b.Timestamp.String() != "2026-11-20T06:01:35.123456789Z" || b.Severity != feedback.SeverityInfo {
		t.Errorf("client-given fields not kept: %+v", b)
	}
}

func TestIDsOfOtherKinds(t *testing.T) {
	e := newEnv(t, 0, nil)
	w := e.post("/v1/interactions", `{"kind":"interaction","correlation_id":"trace-9","model":{"id":"m","version":"v"}}`)
	if w.Code != 202 || !strings.Contains(w.Body.String(), `"ids":["trace-9"]`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = e.post("/v1/resolutions", `{"kind":"resolution","resolution_id":"res-1","model":{"id":"m","version":"v3"},"fixes":{"tags":["bias"]}}`)
	if w.Code != 202 || !strings.Contains(w.Body.String(), `"ids":["res-1"]`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = e.post("/v1/reviews", `{"kind":"review","feedback_id":"fb-1","verdict":"confirmed","reviewer":"ann"}`)
	if w.Code != 202 || !strings.Contains(w.Body.String(), `"ids":["fb-1"]`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestRedactContextWhenConfigured(t *testing.T) {
	e := newEnv(t, 0, func(o *Options) { o.RedactContext = true })
	w := e.post("/v1/interactions", `{"kind":"interaction","correlation_id":"t","model":{"id":"m","version":"v"},"context":{"input":"I am bob@example.org","output":"ok"}}`)
	if w.Code != 202 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	en, _ := e.spool.Read(1, 1, 1<<20)
	if !bytes.Contains(en[0].Line, []byte(`"input":"I am [redacted:email]"`)) {
		t.Fatalf("context not redacted: %s", en[0].Line)
	}
}

func TestMetricsCountAcceptedWithExemplars(t *testing.T) {
	e := newEnv(t, 0, nil)
	e.post("/v1/feedback", "["+fb("trace-a", `,"reason":"hallucination","tags":["hallucination","bias"]`)+","+fb("trace-b", `,"reason":"hallucination"`)+"]")
	e.post("/v1/feedback", fb("trace-c", `,"sentiment":"x"`)) // rejected: not counted as an event
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	out := w.Body.String()
	for _, want := range []string{
		`feedback_events_total{kind="feedback",model_id="support-bot",model_version="v2",reason="hallucination",sentiment="negative"} 2.0 # {correlation_id="trace-b"} 1.0`,
		`feedback_tags_total{model_id="support-bot",model_version="v2",tag="bias"} 1.0 # {correlation_id="trace-a"} 1.0`,
		`feedbackd_ingest_requests_total{code="202"} 1.0`,
		`feedbackd_ingest_requests_total{code="400"} 1.0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s\n%s", want, out)
		}
	}
}

func TestReadyz(t *testing.T) {
	for _, ok := range []bool{true, false} {
		e := newEnv(t, 0, func(o *Options) {
			o.Ready = func(context.Context) (bool, any) { return ok, map[string]bool{"ok": ok} }
		})
		w := e.do("GET", "/readyz", "", "", nil)
		if (w.Code == 200) != ok {
			t.Fatalf("ready=%v gave %d", ok, w.Code)
		}
	}
	e := newEnv(t, 0, nil)
	if w := e.do("GET", "/healthz", "", "", nil); w.Code != 200 {
		t.Fatalf("healthz %d", w.Code)
	}
}

// Every request of a concurrent burst gets its own, durable, acknowledged ids.
func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t, 0, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	const n = 40
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/feedback", strings.NewReader(fb(fmt.Sprint("c", i), "")))
			req.Header.Set("Authorization", "Bearer "+serverToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 202 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if e.spool.Committed() != n {
		t.Fatalf("committed %d", e.spool.Committed())
	}
}
