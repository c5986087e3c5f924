package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
	"github.com/feedbackloop/modelfeedback/pkg/demo"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/stats"
)

// delivered is what a sink stand-in received, de-duplicated the way the real
// stores do (Elasticsearch by _id, Loki by identical line), since feedbackd
// delivers at least once.
type delivered struct {
	mu     sync.Mutex
	events map[string]feedback.Event // by line
	labels map[string]push.LabelAdapter
	logs   []string // the demo's own execution logs (JSON push)
}

func newDelivered() *delivered { return &delivered{events: map[string]feedback.Event{}} }

func (d *delivered) add(t *testing.T, line []byte) {
	var e feedback.Event
	if err := json.Unmarshal(line, &e); err != nil {
		t.Errorf("delivered line is not an event: %v: %s", err, line)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events[string(line)] = e
}

func (d *delivered) snapshot() []feedback.Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]feedback.Event, 0, len(d.events))
	for _, e := range d.events {
		out = append(out, e)
	}
	return out
}

// lokiStandIn decodes Loki pushes: feedbackd's (snappy-compressed protobuf)
// into events, the demo's own logs (JSON) into lines.
func lokiStandIn(t *testing.T, d *delivered) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/ready":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && r.URL.Path == "/loki/api/v1/push":
			body, _ := io.ReadAll(r.Body)
			if r.Header.Get("Content-Type") == "application/json" {
				var p struct {
					Streams []struct {
						Stream map[string]string `json:"stream"`
						Values [][2]string       `json:"values"`
					} `json:"streams"`
				}
				if err := json.Unmarshal(body, &p); err != nil {
					t.Errorf("loki stand-in: bad JSON push: %v", err)
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				d.mu.Lock()
				for _, s := range p.Streams {
					if s.Stream["app"] != demo.AppLabel {
						t.Errorf("execution log stream %v is not under app=feedback-demo", s.Stream)
					}
					for _, v := range s.Values {
						d.logs = append(d.logs, v[1])
					}
				}
				d.mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
				return
			}
			req, err := sinktest.DecodePush(body)
			if err != nil {
				t.Errorf("loki stand-in: bad push body: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, s := range req.Streams {
				for _, e := range s.Entries {
					d.add(t, []byte(e.Line))
				}
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// esStandIn answers what feedbackd's Elasticsearch sink calls: the info
// endpoint (the client's product check needs X-Elastic-Product), the index
// template and the bulk API, with one create result per action.
func esStandIn(t *testing.T, d *delivered) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/":
			io.WriteString(w, `{"name":"standin","cluster_name":"test","version":{"number":"8.15.0"},"tagline":"You Know, for Search"}`)
		case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
			io.WriteString(w, `{"acknowledged":true}`)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk"):
			body, _ := io.ReadAll(r.Body)
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(make([]byte, 1<<20), 8<<20)
			var items []string
			for sc.Scan() {
				var action struct {
					Create struct {
						Index string `json:"_index"`
						ID    string `json:"_id"`
					} `json:"create"`
				}
				if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action.Create.ID == "" || !sc.Scan() {
					t.Errorf("es stand-in: bad bulk action %q", sc.Bytes())
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				d.add(t, append([]byte(nil), sc.Bytes()...))
				items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":201}}`, action.Create.Index, action.Create.ID))
			}
			fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func key(e feedback.Event) string { return string(e.Kind) + "|" + e.FeedbackID + "|" + e.CorrelationID }

// The demo's traffic goes through the real feedbackd into both stores, and
// what was DELIVERED shows the story the demo tells: v2's negative rate is
// significantly worse than v1's (the verdict the versions query and the
// regression alert give), v3 is better than v2, and every feedback event can
// be traced to its interaction snapshot and the app's logs.
func TestDemoThroughFeedbackdShowsTheRegression(t *testing.T) {
	lokiGot, esGot := newDelivered(), newDelivered()
	loki, es := lokiStandIn(t, lokiGot), esStandIn(t, esGot)
	tickets := demo.NewTicketSystem(nil)
	ticketSrv := httptest.NewServer(tickets)
	defer ticketSrv.Close()
	// The dev stack's feedbackd configuration, with the stand-ins' URLs.
	stack, err := os.ReadFile("../../deploy/feedbackd/feedbackd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "feedbackd.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(stack), "http://feedback-demo:9464/tickets", ticketSrv.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FEEDBACKD_DEMO_JIRA_TOKEN", "demo")
	base := feedbackdtest.Start(t, feedbackdtest.Build(t), "--config", cfg, "--spool-dir", filepath.Join(t.TempDir(), "spool"),
		"--loki-url", loki.URL, "--elasticsearch-url", es.URL).Base

	metrics := demo.NewMetrics(prometheus.NewRegistry())
	const interactions = 1200
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := demo.Run(ctx, demo.Config{FeedbackdURL: base, LokiURL: loki.URL, Seed: 1, Count: interactions,
		BatchSize: 200, Metrics: metrics, ResolveAfter: 600})
	if err != nil {
		t.Fatal(err)
	}
	sent := st.Interactions + st.Feedback + st.Follow + st.Resolutions
	if st.Interactions != interactions || st.Resolutions != 1 || st.Accepted != sent {
		t.Fatalf("sent %d interactions, %d events; feedbackd accepted %d", st.Interactions, sent, st.Accepted)
	}

	// Delivery is asynchronous: wait until both stores hold every event and
	// the escalations feedbackd made of the critical feedback.
	deadline := time.Now().Add(30 * time.Second)
	critical := -1
	for critical < 0 || len(lokiGot.snapshot()) < sent+critical || len(esGot.snapshot()) < sent+critical {
		// Escalations interleave with later events in the spool, so the
		// critical feedback is counted once every accepted event is there.
		if critical < 0 {
			accepted, crit := 0, 0
			for _, e := range lokiGot.snapshot() {
				if e.Kind != feedback.KindEscalation {
					accepted++
				}
				if e.Kind == feedback.KindFeedback && e.Severity == feedback.SeverityCritical {
					crit++
				}
			}
			if accepted == sent {
				critical = crit
				t.Logf("%d critical feedback events to escalate", critical)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s Loki holds %d and Elasticsearch %d of %d events and %d escalations", len(lokiGot.snapshot()), len(esGot.snapshot()), sent, critical)
		}
		time.Sleep(50 * time.Millisecond)
	}

	events := lokiGot.snapshot()
	if critical == 0 || len(events) != sent+critical {
		t.Fatalf("Loki holds %d distinct events; %d were accepted and %d critical ones escalated", len(events), sent, critical)
	}
	// Each critical feedback got exactly one ticket, recorded once.
	escalated := map[string]int{}
	for _, e := range events {
		if e.Kind == feedback.KindEscalation {
			escalated[e.FeedbackID]++
			if e.Ticket == nil || e.Ticket.System != "jira" || !strings.HasPrefix(e.Ticket.Key, "SUP-") || e.Ticket.URL != ticketSrv.URL+"/browse/"+e.Ticket.Key {
				t.Errorf("escalation of %s: ticket %+v", e.FeedbackID, e.Ticket)
			}
		}
	}
	for _, e := range events {
		if e.Kind == feedback.KindFeedback && e.Severity == feedback.SeverityCritical && escalated[e.FeedbackID] != 1 {
			t.Errorf("critical feedback %s has %d escalations, want 1", e.FeedbackID, escalated[e.FeedbackID])
		}
	}
	if tickets.Opened() != critical {
		t.Errorf("%d tickets opened for %d critical feedback", tickets.Opened(), critical)
	}
	esKeys := map[string]bool{}
	for _, e := range esGot.snapshot() {
		esKeys[key(e)] = true
	}
	snapshots := map[string]bool{}
	type counts struct{ neg, all float64 }
	byVersion := map[string]*counts{}
	for _, e := range events {
		if !esKeys[key(e)] {
			t.Errorf("%s reached Loki but not Elasticsearch", key(e))
		}
		switch e.Kind {
		case feedback.KindInteraction:
			snapshots[e.CorrelationID] = true
		case feedback.KindFeedback:
			if e.Model.ID != demo.ModelID {
				continue
			}
			c := byVersion[e.Model.Version]
			if c == nil {
				c = &counts{}
				byVersion[e.Model.Version] = c
			}
			c.all++
			if e.Sentiment == feedback.Negative {
				c.neg++
			}
		}
	}
	logged := map[string]bool{}
	lokiGot.mu.Lock()
	for _, l := range lokiGot.logs {
		if i := strings.Index(l, "correlation_id="); i >= 0 {
			logged[strings.Fields(l[i+len("correlation_id="):])[0]] = true
		}
	}
	lokiGot.mu.Unlock()
	for _, e := range events {
		if e.Kind == feedback.KindInteraction || e.CorrelationID == "" {
			continue
		}
		if !snapshots[e.CorrelationID] {
			t.Errorf("%s %s: no interaction snapshot delivered for correlation id %s", e.Kind, e.FeedbackID, e.CorrelationID)
		}
		if !logged[e.CorrelationID] {
			t.Errorf("%s %s: no execution log line carries correlation id %s", e.Kind, e.FeedbackID, e.CorrelationID)
		}
	}

	v1, v2, v3 := byVersion[demo.Versions[0].Name], byVersion[demo.Versions[1].Name], byVersion[demo.Versions[2].Name]
	if v1 == nil || v2 == nil || v3 == nil {
		t.Fatalf("feedback per version: %v", byVersion)
	}
	for _, v := range demo.Versions {
		c := byVersion[v.Name]
		t.Logf("%s (%s): %v negative of %v feedback delivered (%.3f)", v.Name, v.Label, c.neg, c.all, c.neg/c.all)
		want := st.ByVersion[v.Name]
		if int(c.all) != want[feedback.Positive]+want[feedback.Negative]+want[feedback.Neutral] || int(c.neg) != want[feedback.Negative] {
			t.Errorf("%s: delivered %v/%v, sent %v", v.Name, c.neg, c.all, want)
		}
	}
	delta, p, verdict := stats.Compare(v2.neg, v2.all, v1.neg, v1.all)
	t.Logf("v2 against v1: delta %.3f, p %.2g, verdict %s", delta, p, verdict)
	if verdict != stats.Regressed || p >= stats.Alpha {
		t.Errorf("v2 against v1: verdict %s (p %.3g, delta %.3f), want regressed with p < %.2f", verdict, p, delta, stats.Alpha)
	}
	if _, p, verdict := stats.Compare(v3.neg, v3.all, v2.neg, v2.all); verdict != stats.Improved {
		t.Errorf("v3 against v2: verdict %s (p %.3g), want improved", verdict, p)
	}

	// The app's own metrics agree with the traffic: what requestsQuery reads.
	total := 0.0
	for model, versions := range map[string][]demo.Version{demo.ModelID: demo.Versions, demo.WriterModelID: demo.WriterVersions} {
		for _, v := range versions {
			var m dto.Metric
			if err := metrics.Requests.WithLabelValues(model, v.Name).Write(&m); err != nil {
				t.Fatal(err)
			}
			total += m.GetCounter().GetValue()
		}
	}
	if total != interactions {
		t.Errorf("llm_requests_total sums to %v, want %d", total, interactions)
	}
	checkReleaseTimes(t, events)
	checkEditLengthRatio(t, events)
}

// Every delivered feedback event carries its version's released_at and
// prompt_version, though the demo sends feedback with model id and version
// only: feedbackd's enrichment copied them from the interaction.
func checkReleaseTimes(t *testing.T, events []feedback.Event) {
	t.Helper()
	released := map[string]demo.Version{}
	for _, v := range append(append([]demo.Version(nil), demo.Versions...), demo.WriterVersions...) {
		released[v.Name] = v
	}
	n := 0
	for _, e := range events {
		if e.Kind != feedback.KindFeedback {
			continue
		}
		v := released[e.Model.Version]
		if e.Model.ReleasedAt != v.ReleasedAt || e.Context == nil || e.Context.PromptVersion != v.PromptVersion {
			if n++; n <= 5 {
				t.Errorf("feedback %s of %s: released_at %q, context %+v; want %s and prompt_version %s",
					e.FeedbackID, e.Model.Version, e.Model.ReleasedAt, e.Context, v.ReleasedAt, v.PromptVersion)
			}
		}
	}
}

// The seed's second case study, from what was delivered: the mean of
// edit.edited_chars ÷ edit.original_chars of the writing assistant's edit
// feedback, grouped by the context.params.verbosity enrichment gave each
// event, is well below 1 at high verbosity (users cut the drafts) and about
// 1 at low. This is edit_length_ratio by params.verbosity, computed here from
// the events themselves.
func checkEditLengthRatio(t *testing.T, events []feedback.Event) {
	t.Helper()
	type mean struct{ sum, n float64 }
	byVerbosity := map[string]*mean{}
	for _, e := range events {
		if e.Kind != feedback.KindFeedback || e.Model.ID != demo.WriterModelID {
			continue
		}
		if e.Source != feedback.SourceEdit || e.Edit == nil || e.Edit.OriginalChars == 0 {
			t.Errorf("writing-assistant feedback %s is not an edit: source %q, edit %+v", e.FeedbackID, e.Source, e.Edit)
			continue
		}
		var params struct {
			Verbosity string `json:"verbosity"`
		}
		if e.Context == nil || json.Unmarshal(e.Context.Params, &params) != nil || params.Verbosity == "" {
			t.Errorf("edit feedback %s delivered without context.params.verbosity: %+v", e.FeedbackID, e.Context)
			continue
		}
		m := byVerbosity[params.Verbosity]
		if m == nil {
			m = &mean{}
			byVerbosity[params.Verbosity] = m
		}
		m.sum += float64(e.Edit.EditedChars) / float64(e.Edit.OriginalChars)
		m.n++
	}
	ratio := func(v string) float64 {
		m := byVerbosity[v]
		if m == nil || m.n < 15 {
			t.Fatalf("edit feedback at verbosity %s: %+v, want at least 15 events", v, m)
		}
		r := m.sum / m.n
		t.Logf("verbosity %s: edit_length_ratio %.3f over %v edits", v, r, m.n)
		return r
	}
	low, medium, high := ratio("low"), ratio("medium"), ratio("high")
	if high >= 0.7 {
		t.Errorf("edit_length_ratio at high verbosity %.3f, want well below 1 (under 0.7)", high)
	}
	if low < 0.95 || low > 1.05 {
		t.Errorf("edit_length_ratio at low verbosity %.3f, want about 1 (0.95..1.05)", low)
	}
	if !(high < medium && medium < low) {
		t.Errorf("edit_length_ratio by verbosity: low %.3f, medium %.3f, high %.3f; want it falling as verbosity rises", low, medium, high)
	}
}

// A seed replays the same traffic, and every event the demo makes passes
// the event contract (so feedbackd never answers 400 to the demo).
func TestSimulationIsDeterministicAndValid(t *testing.T) {
	run := func() []string {
		var bodies []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			events, errs := feedback.DecodeBatch(body)
			for _, e := range errs {
				t.Errorf("%s: %v", r.URL.Path, e)
			}
			for i := range events {
				if errs := events[i].Validate(); len(errs) > 0 {
					t.Errorf("%s: %s event invalid: %v", r.URL.Path, events[i].Kind, errs)
				}
				// What feedbackd enriches must not come from the demo itself.
				if e := events[i]; e.Kind == feedback.KindFeedback && (e.Context != nil || e.Model.ReleasedAt != "") {
					t.Errorf("feedback %s sent with context %+v, released_at %q: the demo sends only id and version", e.FeedbackID, e.Context, e.Model.ReleasedAt)
				}
				if e := events[i]; e.Kind == feedback.KindInteraction && e.Model.ReleasedAt == "" {
					t.Errorf("interaction %s sent without released_at", e.CorrelationID)
				}
			}
			bodies = append(bodies, r.URL.Path+" "+string(body))
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"accepted":%d}`, len(events))
		}))
		defer srv.Close()
		if _, err := demo.Run(context.Background(), demo.Config{FeedbackdURL: srv.URL, Seed: 7, Count: 300, BatchSize: 1000}); err != nil {
			t.Fatal(err)
		}
		return bodies
	}
	a, b := run(), run()
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatal("the same seed produced different traffic")
	}
	if len(a) != 3 {
		t.Fatalf("%d requests, want interactions, feedback and reviews in one batch each", len(a))
	}
}

// A refusal feedbackd would give again (here: a wrong token) stops the demo
// with the reason instead of retrying forever.
func TestDemoStopsOnRejection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"missing or unknown bearer token"}`, http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err := demo.Run(context.Background(), demo.Config{FeedbackdURL: srv.URL, Token: "wrong", Count: 5})
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("got %v", err)
	}
}

func TestOptionsFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"FEEDBACK_DEMO_FEEDBACKD_URL": "http://feedbackd:8787", "FEEDBACK_DEMO_RATE": "5",
		"FEEDBACK_DEMO_LOKI_URL": "http://loki:3100", "FEEDBACK_DEMO_LISTEN": "0.0.0.0:9464"}
	o, err := demo.ParseOptions([]string{"-rate", "0.5", "-count", "10"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.FeedbackdURL != "http://feedbackd:8787" || o.LokiURL != "http://loki:3100" || o.Listen != "0.0.0.0:9464" || o.Rate != 0.5 || o.Count != 10 {
		t.Fatalf("options %+v: the environment fills in, flags win", o)
	}
	env["FEEDBACK_DEMO_COUNT"] = "many"
	if _, err := demo.ParseOptions(nil, func(k string) string { return env[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), "FEEDBACK_DEMO_COUNT") {
		t.Fatalf("a bad environment value must name the variable: %v", err)
	}
}

// The demo's ticket system answers the jira target's two Jira Cloud calls
// and refuses the rest; the notification service takes one notice per
// resolution and user, and a 400 naming what is wrong otherwise.
func TestTicketSystemAndInbox(t *testing.T) {
	tickets, inbox := demo.NewTicketSystem(nil), demo.NewInbox(nil)
	do := func(h http.Handler, method, target, key, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Basic ZGVtb0BmZWVkYmFjay1kZW1vOmRlbW8=")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		h.ServeHTTP(rec, req)
		return rec
	}
	post := func(h http.Handler, key, body string) *httptest.ResponseRecorder {
		return do(h, http.MethodPost, "/", key, body)
	}
	search := func(label string) string {
		q := url.Values{"jql": {`project = "SUP" AND labels = "` + label + `" ORDER BY created ASC`}, "fields": {"summary"}, "maxResults": {"1"}}
		return do(tickets, http.MethodGet, "/rest/api/3/search/jql?"+q.Encode(), "", "").Body.String()
	}
	create := func(label string) *httptest.ResponseRecorder {
		return do(tickets, http.MethodPost, "/rest/api/3/issue", "", `{"fields":{"project":{"key":"SUP"},"summary":"[critical] harmful on support-bot v2",`+
			`"issuetype":{"name":"Bug"},"labels":["`+label+`"],"description":{"type":"doc","version":1,"content":[]}}}`)
	}
	if got := search("feedback-01JD1"); got != `{"isLast":true,"issues":[]}`+"\n" {
		t.Fatalf("search before create: %s", got)
	}
	first, again, other := create("feedback-01JD1"), create("feedback-01JD1"), create("feedback-01JD2")
	if first.Code != http.StatusCreated || first.Body.String() != `{"id":"1001","key":"SUP-1001","self":"http://feedback-demo:9464/tickets/rest/api/3/issue/1001"}`+"\n" ||
		first.Body.String() != again.Body.String() || !strings.Contains(other.Body.String(), `"key":"SUP-1002"`) || tickets.Opened() != 2 {
		t.Fatalf("tickets: %d %q, again %q, other %q, opened %d", first.Code, first.Body, again.Body, other.Body, tickets.Opened())
	}
	if got := search("feedback-01JD1"); got != `{"isLast":true,"issues":[{"id":"1001","key":"SUP-1001"}]}`+"\n" {
		t.Errorf("search after create: %s", got)
	}
	if rec := create("no-marker"); rec.Code != http.StatusBadRequest {
		t.Errorf("a create without the feedback label: %d %s", rec.Code, rec.Body)
	}
	if rec := do(tickets, http.MethodPost, "/tickets", "", `{}`); rec.Code != http.StatusNotFound {
		t.Errorf("the old webhook call: %d", rec.Code)
	}
	if rec := post(inbox, "res-1:u-1", `{"user_id":"u-1","resolution_id":"res-1"}`); rec.Code != http.StatusAccepted {
		t.Errorf("notice: %d %s", rec.Code, rec.Body)
	}
	post(inbox, "res-1:u-1", `{"user_id":"u-1","resolution_id":"res-1"}`)
	if rec := post(inbox, "res-2:u-1", `{"user_id":"u-1","resolution_id":"res-1"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("a key of another resolution: %d", rec.Code)
	}
	if inbox.Notified() != 1 {
		t.Errorf("%d notices, want u-1's once", inbox.Notified())
	}
}
