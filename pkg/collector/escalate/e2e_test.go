package escalate_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/trackertest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// loki stands in for Loki's push API and keeps each distinct event once.
type loki struct {
	mu     sync.Mutex
	events map[string]feedback.Event
}

func (l *loki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/ready":
	case r.Method == http.MethodPost && r.URL.Path == "/loki/api/v1/push":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		req, err := sinktest.DecodePush(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				ev, errs := feedback.Decode([]byte(e.Line))
				if len(errs) > 0 {
					l.mu.Unlock()
					http.Error(w, errs[0].Error(), http.StatusBadRequest)
					return
				}
				l.events[string(ev.Kind)+"|"+ev.FeedbackID] = ev
			}
		}
		l.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func (l *loki) escalations() map[string]feedback.Ticket {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]feedback.Ticket{}
	for _, e := range l.events {
		if e.Kind == feedback.KindEscalation {
			out[e.FeedbackID] = *e.Ticket
		}
	}
	return out
}

func serve(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

const configYAML = `loki_url: %s
grafana_url: https://grafana.example.com
escalate_severity: warning
escalation:
  targets:
    jira-safe:
      type: jira
      url: %s
      email: bot@acme.com
      token_env: E2E_JIRA_TOKEN
      project: SAFE
      labels: [ai-feedback]
    linear-ux:
      type: linear
      url: %s/graphql
      api_key_env: E2E_LINEAR_KEY
      team: UX
    github-bot:
      type: github
      url: %s
      repo: acme/assistant
      token_file: %s
    slack-ai-safety:
      type: slack
      webhook_url_env: E2E_SLACK_HOOK
      channel: "#ai-safety"
  routes:
    - name: harmful
      match: {tags: [harmful]}
      targets: [jira-safe, slack-ai-safety]
    - name: formatting
      match: {tags: [formatting_error], severity: [warning]}
      targets: [linear-ux]
  default: [github-bot]
`

func post(t *testing.T, base, body string) {
	t.Helper()
	resp, err := http.Post(base+"/v1/feedback", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingest answered %d %s", resp.StatusCode, b)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func feedbackJSON(id, extra string) string {
	return `{"kind":"feedback","feedback_id":"` + id + `","correlation_id":"corr-` + id + `","timestamp":"2026-11-25T09:30:00Z","model":{"id":"support-bot","version":"2026-11-01.3"},"sentiment":"negative",` + extra + `}`
}

// Through the real feedbackd: each feedback reaches the tracker its route
// names, harmful feedback is announced on Slack, and the escalation events
// with the ticket keys are delivered to Loki. Then feedbackd is killed the
// moment Jira has created a ticket, before it answered; the restarted
// feedbackd finds that ticket and opens no second one.
func TestTicketsThroughFeedbackd(t *testing.T) {
	lk := &loki{events: map[string]feedback.Event{}}
	jira := &trackertest.Jira{Project: "SAFE", Auth: "Basic Ym90QGFjbWUuY29tOmUyZS1qaXJh"} // bot@acme.com:e2e-jira
	lin := &trackertest.Linear{Key: "lin_api_e2e", Teams: map[string]string{"UX": "team-ux"}}
	gh := &trackertest.GitHub{Owner: "acme", Repo: "assistant", Token: "ghp_e2e"}
	sl := &trackertest.Slack{Path: "/services/T0/B0/e2e"}
	lokiURL, jiraURL, linURL, ghURL, slURL := serve(t, lk), serve(t, jira), serve(t, lin), serve(t, gh), serve(t, sl)
	jira.Base = jiraURL

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "github-token")
	if err := os.WriteFile(tokenFile, []byte("ghp_e2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "feedbackd.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(configYAML, lokiURL, jiraURL, linURL, ghURL, tokenFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("E2E_JIRA_TOKEN", "e2e-jira")
	t.Setenv("E2E_LINEAR_KEY", "lin_api_e2e")
	t.Setenv("E2E_SLACK_HOOK", slURL+sl.Path)
	bin := feedbackdtest.Build(t)
	spool := filepath.Join(dir, "spool")
	d := feedbackdtest.Start(t, bin, "--config", cfgPath, "--spool-dir", spool)

	post(t, d.Base, "["+strings.Join([]string{
		feedbackJSON("01JD00000000000000000000A1", `"tags":["harmful"],"comment":"It told me to mix bleach and ammonia."`),
		feedbackJSON("01JD00000000000000000000A2", `"tags":["formatting_error"],"severity":"warning"`),
		feedbackJSON("01JD00000000000000000000A3", `"tags":["hallucination"]`),
		feedbackJSON("01JD00000000000000000000A4", `"tags":["too_long"]`),
	}, ",")+"]")
	waitFor(t, "three escalation events in Loki", func() bool { return len(lk.escalations()) == 3 })

	esc := lk.escalations()
	want := map[string]feedback.Ticket{
		"01JD00000000000000000000A1": {System: "jira", Key: "SAFE-1", URL: jiraURL + "/browse/SAFE-1"},
		"01JD00000000000000000000A2": {System: "linear", Key: "UX-1", URL: "https://linear.app/acme/issue/ux-1/feedback"},
		"01JD00000000000000000000A3": {System: "github", Key: "acme/assistant#1347", URL: "https://github.com/acme/assistant/issues/1347"},
	}
	for id, tk := range want {
		if esc[id] != tk {
			t.Errorf("escalation of %s: %+v, want %+v", id, esc[id], tk)
		}
	}
	if len(jira.Issues()) != 1 || len(lin.Issues()) != 1 || len(gh.Issues()) != 1 || len(sl.Messages()) != 1 {
		t.Fatalf("jira %d, linear %d, github %d issues, slack %d messages", len(jira.Issues()), len(lin.Issues()), len(gh.Issues()), len(sl.Messages()))
	}
	var msg struct{ Text string }
	if err := json.Unmarshal(sl.Messages()[0], &msg); err != nil || msg.Text != "[critical] harmful on support-bot 2026-11-01.3 — SAFE-1" {
		t.Errorf("slack message %s", sl.Messages()[0])
	}
	if !strings.Contains(string(jira.Issues()[0].Fields["description"]), `"href":"https://grafana.example.com/d/feedbackloop-trace?from=1795595400000\u0026to=1795602600000\u0026var-correlation_id=corr-01JD00000000000000000000A1"`) {
		t.Errorf("the Jira ticket lacks the trace link: %s", jira.Issues()[0].Fields["description"])
	}

	// The crash: Jira stores the issue, then feedbackd dies before the
	// answer reaches it.
	killed := make(chan struct{})
	jira.SetCrash(func() {
		_ = d.Cmd.Process.Kill()
		close(killed)
		panic(http.ErrAbortHandler)
	})
	post(t, d.Base, feedbackJSON("01JD00000000000000000000B1", `"tags":["harmful"]`))
	<-killed
	_ = d.Cmd.Wait()
	jira.SetCrash(nil)
	if n := len(jira.Issues()); n != 2 {
		t.Fatalf("%d Jira issues before the restart, want 2", n)
	}
	feedbackdtest.Start(t, bin, "--config", cfgPath, "--spool-dir", spool)
	waitFor(t, "the escalation of the feedback being escalated at the crash", func() bool { return len(lk.escalations()) == 4 })
	if got := lk.escalations()["01JD00000000000000000000B1"]; got.Key != "SAFE-2" {
		t.Errorf("after the restart: %+v, want SAFE-2", got)
	}
	if n := len(jira.Issues()); n != 2 {
		t.Errorf("%d Jira issues, want 2: the restart opened a second ticket", n)
	}
	if n := len(sl.Messages()); n != 2 {
		t.Errorf("%d Slack messages, want 2", n)
	}
}
