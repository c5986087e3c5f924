package collector_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// lineStore stands in for Loki and keeps every distinct line it was pushed
// (Loki de-duplicates identical lines), decoded.
type lineStore struct {
	mu         sync.Mutex
	feedback   map[string]feedback.Event // by feedback_id
	interacted map[string]bool           // correlation ids of delivered interactions
	lines      map[string]bool
}

func newLineStore(t *testing.T) (*lineStore, *httptest.Server) {
	s := &lineStore{feedback: map[string]feedback.Event{}, interacted: map[string]bool{}, lines: map[string]bool{}}
	srv := httptest.NewServer(lokiHandler(t, func(req *push.PushRequest) int {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				ev, errs := feedback.Decode([]byte(e.Line))
				if len(errs) > 0 {
					t.Errorf("loki stand-in: delivered line does not decode: %v: %s", errs, e.Line)
					continue
				}
				s.lines[e.Line] = true
				switch ev.Kind {
				case feedback.KindInteraction:
					s.interacted[ev.CorrelationID] = true
				case feedback.KindFeedback:
					s.feedback[ev.FeedbackID] = ev
				}
			}
		}
		return http.StatusNoContent
	}))
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *lineStore) waitFeedback(t *testing.T, ids []string) map[string]feedback.Event {
	t.Helper()
	for i := 0; ; i++ {
		s.mu.Lock()
		missing := 0
		for _, id := range ids {
			if _, ok := s.feedback[id]; !ok {
				missing++
			}
		}
		if missing == 0 {
			out := make(map[string]feedback.Event, len(ids))
			for _, id := range ids {
				out[id] = s.feedback[id]
			}
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		if i == 1200 {
			t.Fatalf("after 120 s, %d of %d feedback events were not delivered", missing, len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const enrichPrompt = "You write short product descriptions."

// interactionJSON is the crash test's interaction for corr: each carries
// attributes of its own, so a feedback event enriched from the wrong
// interaction (or from none) shows.
func interactionJSON(corr string) string {
	return fmt.Sprintf(`{"kind":"interaction","correlation_id":%q,"model":{"id":"crash-writer","version":"v1","released_at":"2026-11-01T09:00:00Z"},`+
		`"context":{"system_prompt":%q,"input":"Describe a lamp","output":"A lamp.","params":{"run":%q,"temperature":0.4},"prompt_version":"pv-%s"}}`,
		corr, enrichPrompt, corr, corr)
}

func postEvents(client *http.Client, url, body string) ([]string, int, error) {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var ar struct {
		IDs []string `json:"ids"`
	}
	if resp.StatusCode == http.StatusAccepted {
		if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil {
			return nil, resp.StatusCode, err
		}
	}
	return ar.IDs, resp.StatusCode, nil
}

// postFeedback sends one feedback event without attributes for each
// correlation id and returns the feedback ids feedbackd gave them, in order.
func postFeedback(t *testing.T, base string, corrs []string) []string {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	var ids []string
	for len(corrs) > 0 {
		n := min(len(corrs), 500)
		parts := make([]string, n)
		for i, c := range corrs[:n] {
			parts[i] = fmt.Sprintf(`{"kind":"feedback","correlation_id":%q,"model":{"id":"crash-writer","version":"v1"},"sentiment":"neutral","source":"edit","edit":{"original_chars":300,"edited_chars":180,"similarity":0.7}}`, c)
		}
		got, code, err := postEvents(client, base+"/v1/feedback", "["+strings.Join(parts, ",")+"]")
		if err != nil || code != http.StatusAccepted || len(got) != n {
			t.Fatalf("POST /v1/feedback: %d %v, %d ids for %d events", code, err, len(got), n)
		}
		ids = append(ids, got...)
		corrs = corrs[n:]
	}
	return ids
}

// checkEnriched says what is wrong with a delivered feedback event for corr,
// which must carry exactly its interaction's attributes.
func checkEnriched(e feedback.Event, corr string) string {
	params := fmt.Sprintf(`{"run":%q,"temperature":0.4}`, corr)
	wantEV := feedback.EffectiveVersion("crash-writer", &feedback.Context{SystemPrompt: enrichPrompt, Params: []byte(params)})
	switch {
	case e.Context == nil:
		return "no context"
	case e.Context.PromptVersion != "pv-"+corr || string(e.Context.Params) != params:
		return fmt.Sprintf("prompt_version %q, params %s", e.Context.PromptVersion, e.Context.Params)
	case e.Context.SystemPrompt != "" || e.Context.Input != "" || e.Context.Output != "":
		return "prompt, input or output copied"
	case e.Model.EffectiveVersion != wantEV || e.Model.ReleasedAt != "2026-11-01T09:00:00Z":
		return fmt.Sprintf("effective_version %q (want %q), released_at %q", e.Model.EffectiveVersion, wantEV, e.Model.ReleasedAt)
	}
	return ""
}

// SIGKILL feedbackd several times while clients send interactions, restart
// it, then send feedback (without attributes) for every interaction ever
// answered with 202: each such feedback event is delivered with exactly its
// interaction's attributes. Feedback for interactions whose request got no
// answer (in flight at the kill) may be enriched only if that interaction
// was durably accepted after all, i.e. reached the store: the index never
// claims an interaction the spool does not hold.
func TestEnrichmentSurvivesSIGKILL(t *testing.T) {
	bin := feedbackdtest.Build(t)
	store, loki := newLineStore(t)
	args := []string{"--spool-dir", t.TempDir(), "--loki-url", loki.URL, "--delivery-batch-size", "200"}

	var mu sync.Mutex
	acked, unanswered := map[string]bool{}, map[string]bool{}
	const kills = 4
	for round := 0; round < kills; round++ {
		d := feedbackdtest.Start(t, bin, args...)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := 1 + rand.IntN(20)
					corrs := make([]string, n)
					parts := make([]string, n)
					for j := range corrs {
						corrs[j] = fmt.Sprintf("r%d-w%d-%d-%d", round, w, i, j)
						parts[j] = interactionJSON(corrs[j])
					}
					_, code, err := postEvents(client, d.Base+"/v1/interactions", "["+strings.Join(parts, ",")+"]")
					mu.Lock()
					for _, c := range corrs {
						if err == nil && code == http.StatusAccepted {
							acked[c] = true
						} else {
							unanswered[c] = true
						}
					}
					mu.Unlock()
					if err != nil {
						return // killed
					}
				}
			}(w)
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		if err := d.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.Cmd.Wait()
		close(stop)
		wg.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("no interaction was acknowledged: the test proved nothing")
	}

	d := feedbackdtest.Start(t, bin, args...)
	var corrs []string
	for c := range acked {
		corrs = append(corrs, c)
	}
	var maybe []string
	for c := range unanswered {
		maybe = append(maybe, c)
	}
	ids := postFeedback(t, d.Base, append(append([]string(nil), corrs...), maybe...))
	got := store.waitFeedback(t, ids)
	bad := 0
	for i, c := range corrs {
		if why := checkEnriched(got[ids[i]], c); why != "" {
			if bad++; bad <= 5 {
				t.Errorf("feedback for acknowledged interaction %s: %s", c, why)
			}
		}
	}
	enrichedUnanswered := 0
	store.mu.Lock()
	for i, c := range maybe {
		e := got[ids[len(corrs)+i]]
		if e.Context == nil {
			continue
		}
		enrichedUnanswered++
		if !store.interacted[c] {
			t.Errorf("feedback for %s was enriched, but its interaction (never answered) was never delivered", c)
		}
		if why := checkEnriched(e, c); why != "" {
			t.Errorf("feedback for unanswered interaction %s: %s", c, why)
		}
	}
	store.mu.Unlock()
	t.Logf("%d acknowledged interactions, %d of their feedback events not enriched; %d unanswered, %d of them durable after all",
		len(corrs), bad, len(maybe), enrichedUnanswered)
	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v\n%s", err, d.Log)
	}
}

// Feedback that arrives before its interaction is stored as it came; the
// feedback after the interaction is enriched. The lines are compared whole.
func TestFeedbackBeforeItsInteractionStaysUnenriched(t *testing.T) {
	store, loki := newLineStore(t)
	d := feedbackdtest.Start(t, feedbackdtest.Build(t), "--spool-dir", t.TempDir(), "--loki-url", loki.URL)
	client := &http.Client{Timeout: 10 * time.Second}
	fb := func(id string) string {
		return `{"kind":"feedback","feedback_id":"` + id + `","correlation_id":"c-1","timestamp":"2026-11-20T06:00:00Z","model":{"id":"crash-writer","version":"v1"},"sentiment":"negative"}`
	}
	for _, req := range []struct{ path, body string }{
		{"/v1/feedback", fb("fb-early")},
		{"/v1/interactions", interactionJSON("c-1")},
		{"/v1/feedback", fb("fb-late")},
	} {
		if _, code, err := postEvents(client, d.Base+req.path, req.body); err != nil || code != http.StatusAccepted {
			t.Fatalf("POST %s: %d %v", req.path, code, err)
		}
	}
	got := store.waitFeedback(t, []string{"fb-early", "fb-late"})
	early, _ := feedback.Marshal(ptr(got["fb-early"]))
	if want := `{"schema":"feedback/v1","kind":"feedback","feedback_id":"fb-early","correlation_id":"c-1","timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"crash-writer","version":"v1"},"sentiment":"negative","severity":"info"}`; string(early) != want {
		t.Errorf("feedback before its interaction:\n got %s\nwant %s", early, want)
	}
	late, _ := feedback.Marshal(ptr(got["fb-late"]))
	ev := feedback.EffectiveVersion("crash-writer", &feedback.Context{SystemPrompt: enrichPrompt, Params: []byte(`{"run":"c-1","temperature":0.4}`)})
	if want := `{"schema":"feedback/v1","kind":"feedback","feedback_id":"fb-late","correlation_id":"c-1","timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"crash-writer","version":"v1","released_at":"2026-11-01T09:00:00Z","effective_version":"` + ev + `"},"sentiment":"negative","severity":"info","context":{"params":{"run":"c-1","temperature":0.4},"prompt_version":"pv-c-1"}}`; string(late) != want {
		t.Errorf("feedback after its interaction:\n got %s\nwant %s", late, want)
	}
	resp, err := http.Get(d.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`feedbackd_enrich_lookups_total{outcome="hit"} 1`, `feedbackd_enrich_lookups_total{outcome="miss"} 1`, `feedbackd_enrich_interactions 1`} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func ptr(e feedback.Event) *feedback.Event { return &e }
