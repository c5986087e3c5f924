package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/elastic/estest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
)

func corpusPath() string { return lokitest.CorpusPath() }

func corpus(t *testing.T) []feedback.Event { return lokitest.Corpus(t) }

// esReader is the data source's Elasticsearch client on the double that
// serves the corpus.
func esReader(t *testing.T) Reader {
	t.Helper()
	es, err := estest.New(corpusPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		es.Close()
		if refused := es.Refused(); len(refused) > 0 {
			t.Errorf("the Elasticsearch double refused: %v", refused)
		}
	})
	reader, err := elastic.New(models.Elastic{URL: es.URL, Index: "model-feedback-*"})
	if err != nil {
		t.Fatal(err)
	}
	return reader
}

func resolution(t *testing.T, id string) (feedback.Event, sink.Record) {
	t.Helper()
	for _, e := range corpus(t) {
		if e.Kind == feedback.KindResolution && e.ResolutionID == id {
			line, err := feedback.Marshal(&e)
			if err != nil {
				t.Fatal(err)
			}
			return e, sink.Record{Seq: 1, Line: line}
		}
	}
	t.Fatalf("no resolution %s in the corpus", id)
	return feedback.Event{}, sink.Record{}
}

// users is a notification service stand-in recording the notices.
type users struct {
	mu      sync.Mutex
	notices []Notice
	keys    []string
	status  []int
}

func (u *users) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var n Notice
	_ = json.Unmarshal(b, &n)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.notices = append(u.notices, n)
	u.keys = append(u.keys, r.Header.Get("Idempotency-Key"))
	if len(u.status) > 0 {
		code := u.status[0]
		u.status = u.status[1:]
		http.Error(w, "no such user", code)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

var sentAt = time.Date(2026, 11, 20, 11, 0, 0, 0, time.UTC)

func newNotifier(t *testing.T, reader Reader, svc *users, spooled *[]string) *Notifier {
	t.Helper()
	srv := httptest.NewServer(svc)
	t.Cleanup(srv.Close)
	n, err := New(Config{URL: srv.URL, Token: "t0k", Channel: "email", Lookback: 30 * 24 * time.Hour,
		Reader: reader, Now: func() time.Time { return sentAt }, Logger: slog.New(slog.DiscardHandler),
		Append: func(ctx context.Context, lines [][]byte) error {
			for _, l := range lines {
				*spooled = append(*spooled, string(l))
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// expected is what res fixes, computed from the corpus alone: per user, the
// ids of negative feedback on res's model, on another version, in the 30
// days before res, carrying a fixed tag or named by id.
func expected(t *testing.T, res feedback.Event) map[string][]string {
	ids := map[string]bool{}
	for _, id := range res.Fixes.FeedbackIDs {
		ids[id] = true
	}
	tags := map[string]bool{}
	for _, tg := range res.Fixes.Tags {
		tags[tg] = true
	}
	out := map[string][]string{}
	for _, e := range corpus(t) {
		if e.Kind != feedback.KindFeedback || e.Sentiment != feedback.Negative || e.Model.ID != res.Model.ID ||
			e.Model.Version == res.Model.Version || e.User == nil || e.User.ID == "" ||
			!e.At().Before(res.At()) || e.At().Before(res.At().Add(-30*24*time.Hour)) {
			continue
		}
		hit := ids[e.FeedbackID]
		for _, tg := range e.Tags {
			hit = hit || tags[tg]
		}
		if hit {
			out[e.User.ID] = append(out[e.User.ID], e.FeedbackID)
		}
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out
}

func got(svc *users) map[string][]string {
	out := map[string][]string{}
	for _, n := range svc.notices {
		for _, r := range n.Reports {
			out[n.UserID] = append(out[n.UserID], r.FeedbackID)
		}
		sort.Strings(out[n.UserID])
	}
	return out
}

// From Elasticsearch (the double over the corpus refuses any DSL it does not
// implement): one notice per user with every report the resolution fixes,
// and one notification event per report.
func TestResolutionNotifiesTheReportersFromElasticsearch(t *testing.T) {
	reader := esReader(t)
	res, rec := resolution(t, "res-0001")
	svc, spooled := &users{}, []string{}
	n := newNotifier(t, reader, svc, &spooled)
	if err := n.Deliver(context.Background(), []sink.Record{rec}); err != nil {
		t.Fatal(err)
	}
	want := expected(t, res)
	if len(want) < 2 {
		t.Fatalf("the corpus should give several users to notify, got %v", want)
	}
	if g := got(svc); !reflect.DeepEqual(g, want) {
		t.Fatalf("notified\n got %v\nwant %v", g, want)
	}
	reports := 0
	for i, nt := range svc.notices {
		reports += len(nt.Reports)
		if svc.keys[i] != "res-0001:"+nt.UserID || nt.Channel != "email" || nt.Model.Version != "2026-11-18.3" ||
			!strings.Contains(nt.Message, "support-bot version 2026-11-18.3 fixes") {
			t.Errorf("notice %d: key %q %+v", i, svc.keys[i], nt)
		}
	}
	if len(spooled) != reports {
		t.Fatalf("%d notification events for %d reports", len(spooled), reports)
	}
	for _, l := range spooled {
		e, errs := feedback.Decode([]byte(l))
		if len(errs) > 0 || e.Validate() != nil || e.Kind != feedback.KindNotification || e.ResolutionID != "res-0001" ||
			e.Channel != "email" || e.User == nil || !e.At().Equal(sentAt) {
			t.Errorf("notification event %s: %v", l, errs)
		}
	}
}

// From Loki: the exact LogQL of the three lookups (tags, ids, and the
// comments to cluster), each over the 30 days before the resolution.
func TestResolutionQueriesLoki(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Query().Get("query")+" start="+r.URL.Query().Get("start")+" end="+r.URL.Query().Get("end")+" limit="+r.URL.Query().Get("limit"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"streams","result":[],"stats":{}}}`)
	}))
	defer srv.Close()
	reader, err := loki.New(models.Loki{URL: srv.URL, Selector: models.DefaultLokiSelector})
	if err != nil {
		t.Fatal(err)
	}
	_, rec := resolution(t, "res-0001")
	svc, spooled := &users{}, []string{}
	n := newNotifier(t, reader, svc, &spooled)
	if err := n.Deliver(context.Background(), []sink.Record{rec}); err != nil {
		t.Fatal(err)
	}
	span := " start=1792576800500000000 end=1795168800500000000 limit=5000"
	want := []string{
		`{service_name="model-feedback",kind="feedback",sentiment="negative",model_id="support-bot"} | json tags="tags" | tags=~".*\"(hallucination|bias)\".*"` + span,
		`{service_name="model-feedback",kind="feedback",sentiment="negative",model_id="support-bot"} | json feedback_id="feedback_id" | feedback_id=~"01M7VSXRN360PF72VRD96AM3X6|01M7VTKZ3M726886F23WJWDH40|01M7VTXA2NHJZN8FCQ9472ZWV9|01M7W0HQM2WX4FMWF0ADMAXT48|01M7W0XNHRP1D0Y00M2M37W1PG|01M7W20T2XYPWDTBJAX6HPKPKD"` + span,
		`{service_name="model-feedback",kind="feedback",sentiment="negative",model_id="support-bot"}` + span,
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("queries\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	if len(svc.notices) != 0 || len(spooled) != 0 {
		t.Fatal("nothing found, nobody to notify")
	}
}

// A retried batch notifies nobody twice and writes the same events; a user
// the service refuses is skipped without holding up the others.
func TestRetryAndRefusal(t *testing.T) {
	reader := esReader(t)
	res, rec := resolution(t, "res-0001")
	want := expected(t, res)
	svc, spooled := &users{status: []int{http.StatusNotFound}}, []string{}
	n := newNotifier(t, reader, svc, &spooled)
	if err := n.Deliver(context.Background(), []sink.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if len(svc.notices) != len(want) {
		t.Fatalf("%d notices for %d users", len(svc.notices), len(want))
	}
	refusedUser := svc.notices[0].UserID
	for _, l := range spooled {
		if strings.Contains(l, `"user":{"id":"`+refusedUser+`"}`) {
			t.Errorf("the refused user %s has a notification event: %s", refusedUser, l)
		}
	}

	// A notification service that fails mid-batch: the batch is retried.
	var spooled2 []string
	failing := &users{}
	srvFail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failing.mu.Lock()
		k := len(failing.keys)
		failing.keys = append(failing.keys, r.Header.Get("Idempotency-Key"))
		failing.mu.Unlock()
		if k == 1 {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srvFail.Close()
	n2, err := New(Config{URL: srvFail.URL, Channel: "email", Lookback: 30 * 24 * time.Hour, Reader: reader,
		Now: func() time.Time { return sentAt }, Logger: slog.New(slog.DiscardHandler),
		Append: func(ctx context.Context, lines [][]byte) error {
			for _, l := range lines {
				spooled2 = append(spooled2, string(l))
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Deliver(context.Background(), []sink.Record{rec}); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the 503", err)
	}
	if err := n2.Deliver(context.Background(), []sink.Record{rec}); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, k := range failing.keys {
		counts[k]++
	}
	for k, c := range counts {
		switch {
		case k == failing.keys[1] && c != 2:
			t.Errorf("%s asked %d times, want 2 (failed, then retried)", k, c)
		case k != failing.keys[1] && c != 1:
			t.Errorf("%s asked %d times, want once", k, c)
		}
	}
	if len(spooled2) == 0 || len(spooled2) != len(spooled)+len(want[refusedUser]) {
		t.Errorf("%d notification events after the retry, want %d", len(spooled2), len(spooled)+len(want[refusedUser]))
	}
}

func TestConfigErrorsNameTheOption(t *testing.T) {
	ok := Config{URL: "https://notify.example.com/", Channel: "email", Lookback: time.Hour, Reader: &loki.Client{},
		Append: func(context.Context, [][]byte) error { return nil }}
	for _, c := range []struct {
		mutate func(*Config)
		want   string
	}{
		{func(c *Config) { c.URL = "notify.example.com" }, "notify-url"},
		{func(c *Config) { c.Channel = "" }, "notify-channel"},
		{func(c *Config) { c.Lookback = 0 }, "notify-lookback"},
		{func(c *Config) { c.Reader = nil }, "notify-url: close-the-loop needs loki-url or elasticsearch-url"},
	} {
		cfg := ok
		c.mutate(&cfg)
		if _, err := New(cfg); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("err = %v, want one starting %q", err, c.want)
		}
	}
}
