package esbulk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	elastictemplate "github.com/feedbackloop/modelfeedback/deploy/elasticsearch"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
)

// esRequest is one request as the fake Elasticsearch saw it.
type esRequest struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// bulkOp is one action/source pair of a received bulk body.
type bulkOp struct {
	Index, ID string
	Source    []byte
}

// fakeES records every request. Its handlers may be swapped per test; by
// default it behaves like a healthy cluster that creates every document.
type fakeES struct {
	*httptest.Server
	t  *testing.T
	mu sync.Mutex

	reqs []esRequest
	// bulk answers a _bulk request; nil creates every document.
	bulk func(w http.ResponseWriter, ops []bulkOp)
	// template answers PUT _index_template; nil acknowledges.
	template func(w http.ResponseWriter)
	// noProductHeader makes the server look like something other than
	// Elasticsearch, which the client refuses.
	noProductHeader bool
}

func newFakeES(t *testing.T) *fakeES {
	t.Helper()
	f := &fakeES{t: t}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read body: %v", err)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, esRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
	bulk, template, noProduct := f.bulk, f.template, f.noProductHeader
	f.mu.Unlock()

	if !noProduct {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	// Route as a cluster behind a reverse proxy at /es would.
	path := strings.TrimPrefix(r.URL.Path, "/es")
	switch {
	case r.Method == http.MethodGet && path == "/":
		fmt.Fprint(w, `{"name":"es01","cluster_name":"docker-cluster","cluster_uuid":"x","version":{"number":"8.19.7","build_flavor":"default","lucene_version":"9.12.2","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}`)
	case r.Method == http.MethodPut && strings.HasPrefix(path, "/_index_template/"):
		if template != nil {
			template(w)
			return
		}
		fmt.Fprint(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPost && path == "/_bulk":
		ops := parseBulk(f.t, body)
		if bulk != nil {
			bulk(w, ops)
			return
		}
		items := make([]string, len(ops))
		for i, op := range ops {
			items[i] = created(op)
		}
		writeBulk(w, items)
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeES) requests() []esRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeES) set(fn func(f *fakeES)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeES) bulks() []esRequest {
	var out []esRequest
	for _, r := range f.requests() {
		if strings.HasSuffix(r.Path, "/_bulk") {
			out = append(out, r)
		}
	}
	return out
}

func parseBulk(t *testing.T, body []byte) []bulkOp {
	t.Helper()
	if len(body) == 0 || body[len(body)-1] != '\n' {
		t.Errorf("bulk body must end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines)%2 != 0 {
		t.Fatalf("bulk body has %d lines, want action/source pairs", len(lines))
	}
	var ops []bulkOp
	for i := 0; i < len(lines); i += 2 {
		var a struct {
			Create *struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &a); err != nil || a.Create == nil {
			t.Fatalf("action line %q is not a create action: %v", lines[i], err)
		}
		if !json.Valid([]byte(lines[i+1])) {
			t.Fatalf("source line %q is not JSON", lines[i+1])
		}
		ops = append(ops, bulkOp{a.Create.Index, a.Create.ID, []byte(lines[i+1])})
	}
	return ops
}

// The item shapes follow the Bulk API reference: a success carries _version,
// result, _shards, _seq_no, _primary_term and status; a failure carries
// status and an error object with type and reason.
func created(op bulkOp) string {
	return fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"_version":1,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}`, op.Index, op.ID)
}

func failed(op bulkOp, status int, errJSON string) string {
	return fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":%d,"error":%s}}`, op.Index, op.ID, status, errJSON)
}

func conflict(op bulkOp) string {
	return failed(op, 409, fmt.Sprintf(`{"type":"version_conflict_engine_exception","reason":"[%s]: version conflict, document already exists (current version [1])","index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":%q}`, op.ID, op.Index))
}

func writeBulk(w http.ResponseWriter, items []string) {
	errs := false
	for _, it := range items {
		if strings.Contains(it, `"error":`) {
			errs = true
		}
	}
	fmt.Fprintf(w, `{"took":30,"errors":%t,"items":[%s]}`, errs, strings.Join(items, ","))
}

func loadEvents(t *testing.T) [][]byte {
	t.Helper()
	lines := sinktest.Lines(t, "testdata/events.jsonl")
	if len(lines) != 7 {
		t.Fatalf("testdata has %d events, want 7", len(lines))
	}
	return lines
}

// testdata/events.jsonl, in order.
const (
	evInteraction = iota
	evFeedback
	evFeedbackReviewed // the feedback the review, escalation and notification refer to
	evReview
	evEscalation
	evResolution
	evNotification
)

func records(lines ...[]byte) []sink.Record { return sinktest.Records(lines...) }

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBulkRequestIsExact(t *testing.T) {
	ev := loadEvents(t)
	cases := []struct {
		name     string
		cfg      Config
		wantAuth string
	}{
		{"basic", Config{Username: "feedbackd", Password: "s3cret"}, "Basic ZmVlZGJhY2tkOnMzY3JldA=="},
		{"api key", Config{APIKey: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}, "APIKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="},
		{"anonymous", Config{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeES(t)
			tc.cfg.URL = f.URL
			s := newSink(t, tc.cfg)
			if err := s.Deliver(context.Background(), records(ev[evFeedback], ev[evInteraction])); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("want one request, got %d", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/_bulk" || r.RawQuery != "" {
				t.Errorf("request = %s %s?%s, want POST /_bulk", r.Method, r.Path, r.RawQuery)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := r.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
			want := `{"create":{"_index":"model-feedback-2026.11.20","_id":"01M7W0GRC2A8VQBC3J8GYWT8H4"}}` + "\n" +
				string(ev[evFeedback]) + "\n" +
				`{"create":{"_index":"model-feedback-2026.11.20","_id":"4bf92f3577b34da6a3ce929d0e0e4736"}}` + "\n" +
				string(ev[evInteraction]) + "\n"
			if string(r.Body) != want {
				t.Errorf("bulk body\n got %s\nwant %s", r.Body, want)
			}
		})
	}
}

func TestBulkKeepsPathPrefix(t *testing.T) {
	f := newFakeES(t)
	f.set(func(f *fakeES) {
		f.bulk = func(w http.ResponseWriter, ops []bulkOp) { writeBulk(w, []string{created(ops[0])}) }
	})
	s := newSink(t, Config{URL: f.URL + "/es/"})
	_ = s.Deliver(context.Background(), records(loadEvents(t)[evFeedback]))
	if p := f.requests()[0].Path; p != "/es/_bulk" {
		t.Errorf("path = %s", p)
	}
}

// A review, an escalation and a notification carry the feedback_id of the
// feedback they are about; with that as _id they would answer 409 and be
// counted as delivered while never being stored.
func TestDocumentIDsNeverCollideAcrossKinds(t *testing.T) {
	ev := loadEvents(t)
	f := newFakeES(t)
	s := newSink(t, Config{URL: f.URL})
	if err := s.Deliver(context.Background(), records(ev...)); err != nil {
		t.Fatal(err)
	}
	hashID := func(kind string, line []byte) string {
		sum := sha256.Sum256(line)
		return kind + ":01M7W0HQM2WX4FMWF0ADMAXT48:" + hex.EncodeToString(sum[:16])
	}
	want := []string{
		"4bf92f3577b34da6a3ce929d0e0e4736",
		"01M7W0GRC2A8VQBC3J8GYWT8H4",
		"01M7W0HQM2WX4FMWF0ADMAXT48",
		hashID("review", ev[evReview]),
		hashID("escalation", ev[evEscalation]),
		"res-0001",
		hashID("notification", ev[evNotification]),
	}
	ops := parseBulk(t, f.bulks()[0].Body)
	var got []string
	for i, op := range ops {
		got = append(got, op.ID)
		if !bytes.Equal(op.Source, ev[i]) {
			t.Errorf("source %d changed:\n got %s\nwant %s", i, op.Source, ev[i])
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ids\n got %q\nwant %q", got, want)
	}

	// Redelivery must produce byte-identical actions, or 409 would not catch
	// the duplicate.
	if err := s.Deliver(context.Background(), records(ev...)); err != nil {
		t.Fatal(err)
	}
	b := f.bulks()
	if !bytes.Equal(b[0].Body, b[1].Body) {
		t.Error("redelivered bulk body differs from the first")
	}
}

func TestDailyIndexFollowsEventTimeInUTC(t *testing.T) {
	f := newFakeES(t)
	s := newSink(t, Config{URL: f.URL})
	lines := [][]byte{
		[]byte(`{"kind":"feedback","feedback_id":"a","timestamp":"2026-11-20T23:30:00.000000001+02:00"}`),
		[]byte(`{"kind":"feedback","feedback_id":"b","timestamp":"2026-11-20T23:30:00-02:00"}`),
		[]byte(`{"kind":"feedback","feedback_id":"c","timestamp":"2026-12-31T23:59:59.999999999Z"}`),
	}
	if err := s.Deliver(context.Background(), records(lines...)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range parseBulk(t, f.bulks()[0].Body) {
		got = append(got, op.Index)
	}
	want := []string{"model-feedback-2026.11.20", "model-feedback-2026.11.21", "model-feedback-2026.12.31"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("indices = %v, want %v", got, want)
	}
}

func TestPartialBulkFailures(t *testing.T) {
	const (
		mapping    = `{"type":"mapper_parsing_exception","reason":"failed to parse field [score] of type [double] in document with id '01M7W0GRC2A8VQBC3J8GYWT8H4'. Preview of field's value: 'five'","caused_by":{"type":"number_format_exception","reason":"For input string: \"five\""}}`
		mappingMsg = `elasticsearch: 400 mapper_parsing_exception: failed to parse field [score] of type [double] in document with id '01M7W0GRC2A8VQBC3J8GYWT8H4'. Preview of field's value: 'five' (caused by number_format_exception: For input string: "five")`
		rejected   = `{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]"}`
		shards     = `{"type":"unavailable_shards_exception","reason":"[model-feedback-2026.11.20][0] primary shard is not active Timeout: [1m]"}`
		security   = `{"type":"security_exception","reason":"action [indices:data/write/bulk[s]] is unauthorized for API key id [x] of user [feedbackd] on indices [model-feedback-2026.11.20]"}`
	)
	ev := loadEvents(t)
	batch := records(ev[evInteraction], ev[evFeedback], ev[evReview])
	cases := []struct {
		name string
		// items answers the three actions, in order.
		items        func(ops []bulkOp) []string
		wantRejected []sink.Rejection // nil: no RejectedError
		wantRetry    string           // non-empty: a retryable error containing this
	}{
		{
			name:  "created and already existing",
			items: func(o []bulkOp) []string { return []string{created(o[0]), conflict(o[1]), conflict(o[2])} },
		},
		{
			name:         "mapping error among successes",
			items:        func(o []bulkOp) []string { return []string{created(o[0]), failed(o[1], 400, mapping), conflict(o[2])} },
			wantRejected: []sink.Rejection{{Seq: 101, Reason: mappingMsg}},
		},
		{
			name: "overloaded item alongside a mapping error",
			items: func(o []bulkOp) []string {
				return []string{failed(o[0], 429, rejected), failed(o[1], 400, mapping), created(o[2])}
			},
			wantRetry: "429 es_rejected_execution_exception",
		},
		{
			name:      "unavailable shard",
			items:     func(o []bulkOp) []string { return []string{created(o[0]), conflict(o[1]), failed(o[2], 503, shards)} },
			wantRetry: "1 of 3 items not stored",
		},
		{
			name: "missing privileges are not the event's fault",
			items: func(o []bulkOp) []string {
				return []string{failed(o[0], 403, security), failed(o[1], 403, security), failed(o[2], 403, security)}
			},
			wantRetry: "credentials",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeES(t)
			f.set(func(f *fakeES) {
				f.bulk = func(w http.ResponseWriter, ops []bulkOp) { writeBulk(w, tc.items(ops)) }
			})
			s := newSink(t, Config{URL: f.URL})
			err := s.Deliver(context.Background(), batch)
			rej, isRejected := sink.AsRejected(err)
			switch {
			case tc.wantRetry != "":
				if err == nil || isRejected {
					t.Fatalf("want a retryable error, got %v", err)
				}
				if !strings.Contains(err.Error(), tc.wantRetry) {
					t.Errorf("error %q does not contain %q", err, tc.wantRetry)
				}
			case tc.wantRejected != nil:
				if !isRejected {
					t.Fatalf("want RejectedError, got %v", err)
				}
				if !reflect.DeepEqual(rej.Rejections, tc.wantRejected) {
					t.Errorf("rejections\n got %+v\nwant %+v", rej.Rejections, tc.wantRejected)
				}
			default:
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   string
	}{
		{500, `{"error":{"root_cause":[],"type":"null_pointer_exception","reason":"boom"},"status":500}`, "HTTP 500: null_pointer_exception: boom"},
		{503, "upstream connect error", "HTTP 503: upstream connect error"},
		{429, `{"error":{"type":"circuit_breaking_exception","reason":"[parent] Data too large"},"status":429}`, "HTTP 429: circuit_breaking_exception: [parent] Data too large"},
		{401, `{"error":{"type":"security_exception","reason":"unable to authenticate user [feedbackd] for REST request [/_bulk]"},"status":401}`, "credentials"},
		{403, `{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized"},"status":403}`, "credentials"},
	}
	ev := loadEvents(t)
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			f := newFakeES(t)
			f.set(func(f *fakeES) {
				f.bulk = func(w http.ResponseWriter, ops []bulkOp) {
					w.WriteHeader(tc.status)
					fmt.Fprint(w, tc.body)
				}
			})
			s := newSink(t, Config{URL: f.URL})
			err := s.Deliver(context.Background(), records(ev[evFeedback], ev[evInteraction]))
			if err == nil {
				t.Fatal("want an error")
			}
			if _, rejected := sink.AsRejected(err); rejected {
				t.Fatalf("HTTP %d must be retried, not rejected: %v", tc.status, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if n := len(f.bulks()); n != 1 {
				t.Errorf("%d bulk requests; temporary failures must not bisect", n)
			}
		})
	}
}

// A request-level 400 names no item, so the sink bisects and rejects only the
// documents that still fail alone.
func TestRequestLevel400IsolatesTheOffender(t *testing.T) {
	ev := loadEvents(t)
	f := newFakeES(t)
	f.set(func(f *fakeES) {
		f.bulk = func(w http.ResponseWriter, ops []bulkOp) {
			for _, op := range ops {
				if bytes.Contains(op.Source, []byte(`"kind":"escalation"`)) {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [9]"}],"type":"illegal_argument_exception","reason":"Malformed action/metadata line [9]"},"status":400}`)
					return
				}
			}
			items := make([]string, len(ops))
			for i, op := range ops {
				items[i] = created(op)
			}
			writeBulk(w, items)
		}
	})
	s := newSink(t, Config{URL: f.URL})
	recs := records(ev...)
	err := s.Deliver(context.Background(), recs)
	rej, ok := sink.AsRejected(err)
	if !ok {
		t.Fatalf("want RejectedError, got %v", err)
	}
	want := []sink.Rejection{{Seq: recs[evEscalation].Seq, Reason: "elasticsearch: HTTP 400: illegal_argument_exception: Malformed action/metadata line [9]"}}
	if !reflect.DeepEqual(rej.Rejections, want) {
		t.Errorf("rejections = %+v, want %+v", rej.Rejections, want)
	}
	stored := map[string]bool{}
	for _, b := range f.bulks() {
		if bytes.Contains(b.Body, []byte(`"kind":"escalation"`)) {
			continue
		}
		for _, op := range parseBulk(t, b.Body) {
			stored[string(op.Source)] = true
		}
	}
	for i, l := range ev {
		if i != evEscalation && !stored[string(l)] {
			t.Errorf("event %d never stored", i)
		}
	}
}

func TestUnusableEventsAreRejectedAlone(t *testing.T) {
	ev := loadEvents(t)
	f := newFakeES(t)
	s := newSink(t, Config{URL: f.URL})
	bad := [][]byte{
		[]byte(`{"kind":"feedback","timestamp":"2026-11-20T06:00:00Z","sentiment":"positive"}`),
		[]byte(`{"kind":"interaction","timestamp":"2026-11-20T06:00:00Z"}`),
		[]byte(`{"kind":"resolution","timestamp":"2026-11-20T06:00:00Z"}`),
		[]byte(`{"kind":"feedback","feedback_id":"x"}`),
		[]byte(`{"kind":"feedback","feedback_id":"x","timestamp":"yesterday"}`),
		[]byte(`{"feedback_id":"x","timestamp":"2026-11-20T06:00:00Z"}`),
		[]byte(`{"kind":"feedback","feedback_id":"` + strings.Repeat("x", 513) + `","timestamp":"2026-11-20T06:00:00Z"}`),
		[]byte(`[1,2]`),
	}
	recs := records(append([][]byte{ev[evFeedback]}, bad...)...)
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
	if !strings.Contains(rej.Rejections[0].Reason, "feedback event has no feedback_id") {
		t.Errorf("reason = %q", rej.Rejections[0].Reason)
	}
	ops := parseBulk(t, f.bulks()[0].Body)
	if len(ops) != 1 || !bytes.Equal(ops[0].Source, ev[evFeedback]) {
		t.Errorf("bulk carried %d docs, want only the good one", len(ops))
	}
}

func TestPrettyPrintedEventCannotBreakTheBody(t *testing.T) {
	f := newFakeES(t)
	s := newSink(t, Config{URL: f.URL})
	line := []byte("{\n  \"kind\": \"feedback\",\n  \"feedback_id\": \"p1\",\n  \"timestamp\": \"2026-11-20T06:00:00Z\"\n}")
	if err := s.Deliver(context.Background(), records(line)); err != nil {
		t.Fatal(err)
	}
	ops := parseBulk(t, f.bulks()[0].Body)
	if len(ops) != 1 || string(ops[0].Source) != `{"kind":"feedback","feedback_id":"p1","timestamp":"2026-11-20T06:00:00Z"}` {
		t.Errorf("ops = %+v", ops)
	}
}

func TestSlowElasticsearchTimesOut(t *testing.T) {
	release := make(chan struct{})
	f := newFakeES(t)
	f.set(func(f *fakeES) {
		f.bulk = func(w http.ResponseWriter, ops []bulkOp) { <-release }
	})
	defer close(release)
	s := newSink(t, Config{URL: f.URL, Timeout: 100 * time.Millisecond})
	start := time.Now()
	err := s.Deliver(context.Background(), records(loadEvents(t)[evFeedback]))
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
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	f := newFakeES(t)
	url := f.URL
	f.Close()
	s := newSink(t, Config{URL: url})
	err := s.Deliver(context.Background(), records(loadEvents(t)[evFeedback]))
	if err == nil {
		t.Fatal("want an error")
	}
	if _, rejected := sink.AsRejected(err); rejected {
		t.Fatalf("connection refused must be retried: %v", err)
	}
}

func TestMalformedBulkResponseIsRetried(t *testing.T) {
	f := newFakeES(t)
	f.set(func(f *fakeES) {
		f.bulk = func(w http.ResponseWriter, ops []bulkOp) { writeBulk(w, []string{created(ops[0])}) }
	})
	s := newSink(t, Config{URL: f.URL})
	ev := loadEvents(t)
	err := s.Deliver(context.Background(), records(ev[evFeedback], ev[evInteraction]))
	if err == nil || !strings.Contains(err.Error(), "1 items for 2 actions") {
		t.Errorf("err = %v", err)
	}
	if _, rejected := sink.AsRejected(err); rejected {
		t.Error("an unverifiable answer must be retried")
	}
}

func TestProductCheck(t *testing.T) {
	f := newFakeES(t)
	f.set(func(f *fakeES) { f.noProductHeader = true })
	s := newSink(t, Config{URL: f.URL})
	if err := s.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Errorf("Ping against a non-Elasticsearch server: %v", err)
	}
}

func TestInstallTemplateBeforeFirstWrite(t *testing.T) {
	ev := loadEvents(t)
	f := newFakeES(t)
	var denied atomic.Bool
	denied.Store(true)
	f.set(func(f *fakeES) {
		f.template = func(w http.ResponseWriter) {
			if denied.Load() {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"error":{"type":"security_exception","reason":"action [indices:admin/index_template/put] is unauthorized for user [feedbackd]"},"status":403}`)
				return
			}
			fmt.Fprint(w, `{"acknowledged":true}`)
		}
	})
	s := newSink(t, Config{URL: f.URL, InstallTemplate: true})

	// Without the template, no index may be created: it would keep dynamic
	// mappings for the rest of the day.
	err := s.Deliver(context.Background(), records(ev[evFeedback]))
	if err == nil || !strings.Contains(err.Error(), "credentials") || !strings.Contains(err.Error(), "index_template/put") {
		t.Fatalf("err = %v", err)
	}
	if _, rejected := sink.AsRejected(err); rejected {
		t.Fatal("a template failure must be retried")
	}
	if n := len(f.bulks()); n != 0 {
		t.Fatalf("%d bulk requests before the template was installed", n)
	}

	denied.Store(false)
	for range 2 {
		if err := s.Deliver(context.Background(), records(ev[evFeedback])); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for _, r := range f.requests() {
		paths = append(paths, r.Method+" "+r.Path)
		if r.Method == http.MethodPut {
			if !bytes.Equal(r.Body, elastictemplate.IndexTemplate) {
				t.Error("installed template differs from deploy/elasticsearch/index-template.json")
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("template Content-Type = %q", ct)
			}
		}
	}
	want := []string{"PUT /_index_template/model-feedback", "PUT /_index_template/model-feedback", "POST /_bulk", "POST /_bulk"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("requests = %v, want %v", paths, want)
	}
}

func TestCustomPrefix(t *testing.T) {
	f := newFakeES(t)
	s := newSink(t, Config{URL: f.URL, Index: "acme-feedback", InstallTemplate: true})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Deliver(context.Background(), records(loadEvents(t)[evFeedback])); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 3 || reqs[0].Path != "/" || reqs[1].Path != "/_index_template/acme-feedback" || reqs[2].Path != "/_bulk" {
		t.Fatalf("requests = %+v", reqs)
	}
	var tpl struct {
		IndexPatterns []string        `json:"index_patterns"`
		Template      json.RawMessage `json:"template"`
	}
	if err := json.Unmarshal(reqs[1].Body, &tpl); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tpl.IndexPatterns, []string{"acme-feedback-*"}) || len(tpl.Template) == 0 {
		t.Errorf("template = %s", reqs[1].Body)
	}
	if ops := parseBulk(t, reqs[2].Body); ops[0].Index != "acme-feedback-2026.11.20" {
		t.Errorf("index = %s", ops[0].Index)
	}
}

func TestPing(t *testing.T) {
	f := newFakeES(t)
	s := newSink(t, Config{URL: f.URL, Username: "u", Password: "p"})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := f.requests()
	if len(r) != 1 || r[0].Method != http.MethodGet || r[0].Path != "/" || r[0].Header.Get("Authorization") != "Basic dTpw" {
		t.Errorf("requests = %+v", r)
	}
	if s.Name() != "elasticsearch" {
		t.Errorf("Name = %q", s.Name())
	}
}

func TestNewValidates(t *testing.T) {
	bad := []Config{
		{},
		{URL: "elasticsearch:9200"},
		{URL: "http://user:pw@es:9200"},
		{URL: "http://es:9200?pretty"},
		{URL: "http://es:9200", Index: "model-feedback-*"},
		{URL: "http://es:9200", Index: "Model-Feedback"},
		{URL: "http://es:9200", Index: "_feedback"},
		{URL: "http://es:9200", Username: "u", APIKey: "k"},
		{URL: "http://es:9200", Password: "p"},
		{URL: "http://es:9200", Timeout: -1},
	}
	for _, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("error leaks credentials: %v", err)
		}
	}
	if _, err := New(Config{URL: "https://es.example.com:9243/", APIKey: "k", InstallTemplate: true}); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// The hand-built action line is byte for byte what encoding/json writes,
// for plain ids and for ones that need escaping.
func TestCreateActionIsEncodingJSON(t *testing.T) {
	for _, id := range []string{"01M7W0GRC2A8VQBC3J8GYWT8H4", "4bf92f3577b34da6a3ce929d0e0e4736", "review:f1:0a1b",
		`quote"d`, `back\slash`, "tab\tid", "ünïcode", "<html>&", "\u2028", ""} {
		got, err := createAction("model-feedback-2026.11.20", id)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(bulkAction{Create: bulkMeta{Index: "model-feedback-2026.11.20", ID: id}})
		if string(got) != string(want) {
			t.Errorf("id %q: %s, want %s", id, got, want)
		}
	}
}
