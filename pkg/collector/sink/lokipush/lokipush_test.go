package lokipush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
)

// received is one request as the fake Loki saw it.
type received struct {
	Method string
	Path   string
	Header http.Header
	Push   *push.PushRequest // decoded body of a push, nil otherwise
}

// fakeLoki records every request and answers with reply, which sees the
// decoded push so that a test can fail only some contents.
type fakeLoki struct {
	*httptest.Server
	t     *testing.T
	mu    sync.Mutex
	reqs  []received
	reply func(w http.ResponseWriter, r *http.Request, p *push.PushRequest)
}

func newFakeLoki(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, p *push.PushRequest)) *fakeLoki {
	t.Helper()
	f := &fakeLoki{t: t, reply: reply}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeLoki) serve(w http.ResponseWriter, r *http.Request) {
	rec := received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	var p *push.PushRequest
	if r.URL.Path == "/loki/api/v1/push" {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			f.t.Errorf("read push body: %v", err)
			return
		}
		if p, err = sinktest.DecodePush(body); err != nil {
			f.t.Errorf("push body: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.Push = p
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	f.mu.Unlock()
	if f.reply != nil {
		f.reply(w, r, p)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeLoki) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// pushedLines returns every line Loki was sent, across all requests.
func (f *fakeLoki) pushedLines() []string {
	var lines []string
	for _, r := range f.requests() {
		if r.Push == nil {
			continue
		}
		for _, s := range r.Push.Streams {
			for _, e := range s.Entries {
				lines = append(lines, e.Line)
			}
		}
	}
	return lines
}

func loadEvents(t *testing.T) [][]byte { return sinktest.Lines(t, sinktest.CorpusPath) }

// event picks the first corpus line of a kind.
func corpusEvent(t *testing.T, kind string) []byte {
	t.Helper()
	for _, l := range loadEvents(t) {
		if bytes.Contains(l, []byte(`"kind":"`+kind+`"`)) {
			return l
		}
	}
	t.Fatalf("no %s event in testdata", kind)
	return nil
}

func records(lines ...[]byte) []sink.Record { return sinktest.Records(lines...) }

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parseLabels reads a Prometheus-style selector with Go-quoted values, the
// syntax Loki parses stream labels with.
func parseLabels(t *testing.T, s string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		t.Fatalf("labels %q: not a {...} selector", s)
	}
	rest := s[1 : len(s)-1]
	out := map[string]string{}
	for rest != "" {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			t.Fatalf("labels %q: missing '='", s)
		}
		quoted, err := strconv.QuotedPrefix(after)
		if err != nil {
			t.Fatalf("labels %q: %v", s, err)
		}
		value, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("labels %q: %v", s, err)
		}
		if _, dup := out[name]; dup {
			t.Fatalf("labels %q: duplicate %s", s, name)
		}
		out[name] = value
		rest = strings.TrimPrefix(after[len(quoted):], ", ")
	}
	return out
}

type recordedStream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// The recorded push.json is the body that was pushed into a real Loki 3.x to
// record the data source fixtures, so reproducing it proves labels, line bytes,
// nanosecond timestamps and per-stream ordering at once.
func TestDeliverReproducesRecordedPush(t *testing.T) {
	lines := loadEvents(t)
	// Shuffle deterministically so that ordering is the sink's work, not the
	// corpus's.
	shuffled := slices.Clone(lines)
	for i := range shuffled {
		j := (i * 7919) % len(shuffled)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL})
	if err := s.Deliver(context.Background(), records(shuffled...)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("want one push, got %d requests", len(reqs))
	}

	var got []recordedStream
	for _, st := range reqs[0].Push.Streams {
		rs := recordedStream{Stream: parseLabels(t, st.Labels)}
		for _, e := range st.Entries {
			if len(e.StructuredMetadata) != 0 {
				t.Errorf("unexpected structured metadata on %s", st.Labels)
			}
			rs.Values = append(rs.Values, [2]string{strconv.FormatInt(e.Timestamp.UnixNano(), 10), e.Line})
		}
		got = append(got, rs)
	}

	raw, err := os.ReadFile("testdata/push.json")
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Streams []recordedStream `json:"streams"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.Streams) {
		t.Fatalf("streams: got %d, want %d", len(got), len(want.Streams))
	}
	for i := range want.Streams {
		if !reflect.DeepEqual(got[i].Stream, want.Streams[i].Stream) {
			t.Fatalf("stream %d labels: got %v, want %v", i, got[i].Stream, want.Streams[i].Stream)
		}
		if !reflect.DeepEqual(got[i].Values, want.Streams[i].Values) {
			t.Errorf("stream %v values differ:\n got %d entries, first %v\nwant %d entries, first %v",
				want.Streams[i].Stream, len(got[i].Values), got[i].Values[0], len(want.Streams[i].Values), want.Streams[i].Values[0])
		}
	}
}

func TestLabelsAreBoundedAndSentimentOnlyOnFeedback(t *testing.T) {
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL})
	// An interaction that (wrongly) carries a sentiment must still not get a
	// sentiment label: the label set is what keeps Loki's streams bounded.
	interaction := []byte(`{"schema":"feedback/v1","kind":"interaction","correlation_id":"c1","timestamp":"2026-11-20T06:00:00.5Z","model":{"id":"m","version":"v1"},"sentiment":"negative","user":{"id":"u-1"},"tags":["bias"]}`)
	if err := s.Deliver(context.Background(), records(loadEvents(t)...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(context.Background(), records(interaction)); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"service_name": true, "kind": true, "model_id": true, "model_version": true, "sentiment": true}
	for _, r := range f.requests() {
		for _, st := range r.Push.Streams {
			ls := parseLabels(t, st.Labels)
			for name := range ls {
				if !allowed[name] {
					t.Errorf("label %s is not allowed (stream %s)", name, st.Labels)
				}
			}
			if ls["service_name"] != "model-feedback" {
				t.Errorf("service_name = %q", ls["service_name"])
			}
			_, hasSentiment := ls["sentiment"]
			if hasSentiment != (ls["kind"] == "feedback") {
				t.Errorf("sentiment label on kind %s: %v (stream %s)", ls["kind"], hasSentiment, st.Labels)
			}
		}
	}
	last := f.requests()[1].Push.Streams
	if len(last) != 1 || last[0].Labels != `{kind="interaction", model_id="m", model_version="v1", service_name="model-feedback"}` {
		t.Errorf("interaction stream = %+v", last)
	}
}

func TestLabelValuesAreQuoted(t *testing.T) {
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL})
	line := []byte(`{"kind":"feedback","timestamp":"2026-11-20T06:00:00Z","model":{"id":"bot \"x\"","version":"a\\b\nc"},"sentiment":"négatif"}`)
	if err := s.Deliver(context.Background(), records(line)); err != nil {
		t.Fatal(err)
	}
	st := f.requests()[0].Push.Streams[0]
	want := `{kind="feedback", model_id="bot \"x\"", model_version="a\\b\nc", sentiment="négatif", service_name="model-feedback"}`
	if st.Labels != want {
		t.Errorf("labels\n got %s\nwant %s", st.Labels, want)
	}
	if got := parseLabels(t, st.Labels)["model_version"]; got != "a\\b\nc" {
		t.Errorf("model_version round trip = %q", got)
	}
}

func TestPushHeadersAndAuth(t *testing.T) {
	line := corpusEvent(t, "feedback")
	cases := []struct {
		name       string
		cfg        Config
		wantAuth   string
		wantTenant string
	}{
		{"anonymous", Config{}, "", ""},
		{"basic and tenant", Config{Tenant: "team-a", Username: "u", Password: "p@ss"}, "Basic dTpwQHNz", "team-a"},
		{"bearer", Config{BearerToken: "tok"}, "Bearer tok", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeLoki(t, nil)
			tc.cfg.URL = f.URL + "/"
			s := newSink(t, tc.cfg)
			if err := s.Deliver(context.Background(), records(line)); err != nil {
				t.Fatal(err)
			}
			if err := s.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) != 2 {
				t.Fatalf("requests = %d", len(reqs))
			}
			p, ready := reqs[0], reqs[1]
			if p.Method != http.MethodPost || p.Path != "/loki/api/v1/push" {
				t.Errorf("push went to %s %s", p.Method, p.Path)
			}
			if ct := p.Header.Get("Content-Type"); ct != "application/x-protobuf" {
				t.Errorf("Content-Type = %q", ct)
			}
			if ce := p.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("Content-Encoding = %q; Loki expects a bare snappy block", ce)
			}
			if ready.Method != http.MethodGet || ready.Path != "/ready" {
				t.Errorf("ping went to %s %s", ready.Method, ready.Path)
			}
			for _, r := range reqs {
				if got := r.Header.Get("Authorization"); got != tc.wantAuth {
					t.Errorf("%s Authorization = %q, want %q", r.Path, got, tc.wantAuth)
				}
				got, set := r.Header["X-Scope-Orgid"]
				if tc.wantTenant == "" && set {
					t.Errorf("%s X-Scope-OrgID sent without a tenant: %v", r.Path, got)
				}
				if tc.wantTenant != "" && r.Header.Get("X-Scope-OrgID") != tc.wantTenant {
					t.Errorf("%s X-Scope-OrgID = %q", r.Path, r.Header.Get("X-Scope-OrgID"))
				}
			}
		})
	}
}

func TestPushKeepsPathPrefix(t *testing.T) {
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL + "/gateway/"})
	if err := s.Deliver(context.Background(), records(corpusEvent(t, "feedback"))); err != nil {
		t.Fatal(err)
	}
	if p := f.requests()[0].Path; p != "/gateway/loki/api/v1/push" {
		t.Errorf("path = %s", p)
	}
}

func TestEntryTimestampIsTheEventTimestamp(t *testing.T) {
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL})
	a := []byte(`{"kind":"feedback","timestamp":"2026-11-20T08:00:00.000000002+02:00","model":{"id":"m","version":"v"},"sentiment":"positive","n":1}`)
	b := []byte(`{"kind":"feedback","timestamp":"2026-11-20T06:00:00.000000001Z","model":{"id":"m","version":"v"},"sentiment":"positive","n":2}`)
	if err := s.Deliver(context.Background(), records(a, b)); err != nil {
		t.Fatal(err)
	}
	st := f.requests()[0].Push.Streams
	if len(st) != 1 || len(st[0].Entries) != 2 {
		t.Fatalf("streams = %+v", st)
	}
	e := st[0].Entries
	// b is one nanosecond earlier than a, whatever the offsets say.
	if e[0].Line != string(b) || e[1].Line != string(a) {
		t.Errorf("entries not in time order: %q, %q", e[0].Line, e[1].Line)
	}
	if got := e[0].Timestamp.UnixNano(); got != 1795154400000000001 {
		t.Errorf("ts[0] = %d", got)
	}
	if got := e[1].Timestamp.UnixNano(); got != 1795154400000000002 {
		t.Errorf("ts[1] = %d", got)
	}
}

func TestUnusableEventsAreRejectedAlone(t *testing.T) {
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL})
	good := corpusEvent(t, "feedback")
	bad := [][]byte{
		[]byte(`{"kind":"feedback","model":{"id":"m","version":"v"},"sentiment":"positive"}`),
		[]byte(`{"kind":"feedback","timestamp":"20 Nov 2026","model":{"id":"m","version":"v"}}`),
		[]byte(`{"kind":"feedback","timestamp":1795154400}`),
		[]byte(`not json`),
		[]byte(`{"timestamp":"2026-11-20T06:00:00Z"}`),
		[]byte(`{"kind":"feedback","timestamp":"1969-12-31T23:59:59Z"}`),
		[]byte(`{"kind":"feedback","timestamp":"2026-11-20T06:00:00Z","model":{"id":"m","version":"` + strings.Repeat("v", 2049) + `"}}`),
	}
	recs := records(append([][]byte{good}, bad...)...)
	err := s.Deliver(context.Background(), recs)
	rej, ok := sink.AsRejected(err)
	if !ok {
		t.Fatalf("want RejectedError, got %v", err)
	}
	if len(rej.Rejections) != len(bad) {
		t.Fatalf("rejections = %+v", rej.Rejections)
	}
	for i, r := range rej.Rejections {
		if r.Seq != recs[i+1].Seq || r.Reason == "" {
			t.Errorf("rejection %d = %+v", i, r)
		}
	}
	if !strings.Contains(rej.Rejections[0].Reason, "no timestamp") {
		t.Errorf("reason = %q", rej.Rejections[0].Reason)
	}
	if got := f.pushedLines(); !reflect.DeepEqual(got, []string{string(good)}) {
		t.Errorf("pushed %q, want only the good event", got)
	}
}

func TestLoki400RejectsWithItsReason(t *testing.T) {
	const msg = "entry for stream '{kind=\"feedback\"}' has timestamp too old: 2026-11-20T06:01:35Z, oldest acceptable timestamp is: 2026-11-25T00:00:00Z"
	f := newFakeLoki(t, func(w http.ResponseWriter, r *http.Request, p *push.PushRequest) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, msg)
	})
	s := newSink(t, Config{URL: f.URL})
	recs := records(corpusEvent(t, "feedback"))
	err := s.Deliver(context.Background(), recs)
	rej, ok := sink.AsRejected(err)
	if !ok {
		t.Fatalf("want RejectedError, got %v", err)
	}
	want := []sink.Rejection{{Seq: recs[0].Seq, Reason: "loki: HTTP 400: " + msg}}
	if !reflect.DeepEqual(rej.Rejections, want) {
		t.Errorf("rejections = %+v, want %+v", rej.Rejections, want)
	}
}

// Loki stores the valid entries of a push and answers 400 for the rest, so a
// 400 must not dead-letter the whole batch: only the offending entries.
func TestLoki400IsolatesTheOffendingEntries(t *testing.T) {
	const tooLong = "Max entry size '1024' bytes exceeded for stream '{kind=\"interaction\"}' while adding an entry with length '2048' bytes"
	f := newFakeLoki(t, func(w http.ResponseWriter, r *http.Request, p *push.PushRequest) {
		for _, st := range p.Streams {
			for _, e := range st.Entries {
				if strings.Contains(e.Line, `"kind":"interaction"`) {
					http.Error(w, tooLong, http.StatusBadRequest)
					return
				}
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := newSink(t, Config{URL: f.URL})
	var lines [][]byte
	var wantRejected []uint64
	for i, l := range loadEvents(t)[:40] {
		lines = append(lines, l)
		if bytes.Contains(l, []byte(`"kind":"interaction"`)) {
			wantRejected = append(wantRejected, uint64(100+i))
		}
	}
	if len(wantRejected) == 0 || len(wantRejected) == len(lines) {
		t.Fatal("test corpus must mix kinds")
	}
	err := s.Deliver(context.Background(), records(lines...))
	rej, ok := sink.AsRejected(err)
	if !ok {
		t.Fatalf("want RejectedError, got %v", err)
	}
	var gotRejected []uint64
	for _, r := range rej.Rejections {
		gotRejected = append(gotRejected, r.Seq)
		if r.Reason != "loki: HTTP 400: "+tooLong {
			t.Errorf("reason = %q", r.Reason)
		}
	}
	if !reflect.DeepEqual(gotRejected, wantRejected) {
		t.Errorf("rejected %v, want %v", gotRejected, wantRejected)
	}
	// Every non-interaction line reached Loki in a push that succeeded.
	accepted := map[string]bool{}
	for _, r := range f.requests() {
		ok := true
		for _, st := range r.Push.Streams {
			for _, e := range st.Entries {
				if strings.Contains(e.Line, `"kind":"interaction"`) {
					ok = false
				}
			}
		}
		if ok {
			for _, st := range r.Push.Streams {
				for _, e := range st.Entries {
					accepted[e.Line] = true
				}
			}
		}
	}
	for _, l := range lines {
		if !bytes.Contains(l, []byte(`"kind":"interaction"`)) && !accepted[string(l)] {
			t.Errorf("line never acknowledged: %s", l)
		}
	}
}

func TestTemporaryFailuresAreRetryable(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusRequestTimeout} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newFakeLoki(t, func(w http.ResponseWriter, r *http.Request, p *push.PushRequest) {
				http.Error(w, "ingester unavailable", status)
			})
			s := newSink(t, Config{URL: f.URL})
			err := s.Deliver(context.Background(), records(corpusEvent(t, "feedback"), corpusEvent(t, "interaction")))
			if err == nil {
				t.Fatal("want an error")
			}
			if _, rejected := sink.AsRejected(err); rejected {
				t.Fatalf("status %d must be retried, not rejected: %v", status, err)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(status)) || !strings.Contains(err.Error(), "ingester unavailable") {
				t.Errorf("error lacks status or body: %v", err)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("a temporary failure must not trigger bisection; %d requests", n)
			}
		})
	}
}

func TestAuthFailuresAreNotRejections(t *testing.T) {
	f := newFakeLoki(t, func(w http.ResponseWriter, r *http.Request, p *push.PushRequest) {
		http.Error(w, "no org id", http.StatusUnauthorized)
	})
	s := newSink(t, Config{URL: f.URL})
	err := s.Deliver(context.Background(), records(corpusEvent(t, "feedback")))
	if err == nil {
		t.Fatal("want an error")
	}
	if _, rejected := sink.AsRejected(err); rejected {
		t.Fatalf("bad credentials must not dead-letter events: %v", err)
	}
	if !strings.Contains(err.Error(), "credentials") {
		t.Errorf("error does not point at credentials: %v", err)
	}
}

func TestSlowLokiTimesOut(t *testing.T) {
	release := make(chan struct{})
	f := newFakeLoki(t, func(w http.ResponseWriter, r *http.Request, p *push.PushRequest) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	})
	defer close(release)
	s := newSink(t, Config{URL: f.URL, Timeout: 100 * time.Millisecond})
	start := time.Now()
	err := s.Deliver(context.Background(), records(corpusEvent(t, "feedback")))
	if err == nil {
		t.Fatal("want a timeout error")
	}
	if _, rejected := sink.AsRejected(err); rejected {
		t.Fatalf("a timeout must be retried: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "100ms") {
		t.Errorf("error = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Deliver took %s", d)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping must time out too")
	}
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	f := newFakeLoki(t, nil)
	url := f.URL
	f.Close()
	s := newSink(t, Config{URL: url})
	err := s.Deliver(context.Background(), records(corpusEvent(t, "feedback")))
	if err == nil {
		t.Fatal("want an error")
	}
	if _, rejected := sink.AsRejected(err); rejected {
		t.Fatalf("connection refused must be retried: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Deliver(ctx, records(corpusEvent(t, "feedback")))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func TestEmptyBatchSendsNothing(t *testing.T) {
	f := newFakeLoki(t, nil)
	s := newSink(t, Config{URL: f.URL})
	if err := s.Deliver(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("requests = %d", n)
	}
}

func TestPing(t *testing.T) {
	var notReady atomic.Bool
	f := newFakeLoki(t, func(w http.ResponseWriter, r *http.Request, p *push.PushRequest) {
		if !notReady.Load() {
			fmt.Fprintln(w, "ready")
			return
		}
		http.Error(w, "Ingester not ready: waiting for 15s after being ready", http.StatusServiceUnavailable)
	})
	s := newSink(t, Config{URL: f.URL})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	notReady.Store(true)
	err := s.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "Ingester not ready") {
		t.Errorf("err = %v", err)
	}
	if s.Name() != "loki" {
		t.Errorf("Name = %q", s.Name())
	}
}

func TestNewValidates(t *testing.T) {
	bad := []Config{
		{},
		{URL: "loki:3100"},
		{URL: "ftp://loki:3100"},
		{URL: "http://"},
		{URL: "http://user:pw@loki:3100"},
		{URL: "http://loki:3100?x=1"},
		{URL: "http://loki:3100/loki/api/v1/push"},
		{URL: "http://loki:3100", Timeout: -time.Second},
		{URL: "http://loki:3100", Username: "u", BearerToken: "t"},
		{URL: "http://loki:3100", Password: "p"},
		{URL: "http://loki:3100", Tenant: "a|b"},
		{URL: "http://loki:3100", Tenant: "a\nb"},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		} else if cfg.URL != "" && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error leaks credentials: %v", err)
		}
	}
	if _, err := New(Config{URL: "https://logs.example.com/loki/", Tenant: "team-a", Username: "u"}); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
