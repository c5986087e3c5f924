package escalate

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/trackertest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// loadEscalation reads an escalation section through the real config loader.
func loadEscalation(t *testing.T, yaml string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feedbackd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load([]string{"--config", path}, func(string) string { return "" }, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secrets = map[string]string{"JIRA_TOKEN": "jt", "LINEAR_KEY": "lk", "SLACK_HOOK": "http://127.0.0.1:1/services/T/B/X", "GH_TOKEN": "gt"}

func buildYAML(t *testing.T, yaml string) (Config, error) {
	t.Helper()
	c := loadEscalation(t, yaml)
	cfg, _, err := Build(c.Escalation, Options{MinSeverity: c.EscalateSeverity, Getenv: func(k string) string { return secrets[k] }})
	return cfg, err
}

const targets = `
escalate_severity: warning
escalation:
  targets:
    jira-safe: {type: jira, url: "%JIRA%", email: bot@acme.com, token_env: JIRA_TOKEN, project: SAFE}
    linear-ux: {type: linear, url: "%LINEAR%/graphql", api_key_env: LINEAR_KEY, team: UX}
    slack-ai-safety: {type: slack, webhook_url_env: SLACK_HOOK, channel: "#ai-safety"}
`

func TestBuildErrorsNameTheRuleAndField(t *testing.T) {
	for _, c := range []struct{ routes, want string }{
		{"  routes:\n    - {name: harmful, match: {severity: [info]}, targets: [jira-safe]}\n  default: [linear-ux, slack-ai-safety]",
			`escalation.routes[0] (harmful): match.severity[0]: want warning or critical, got "info"`},
		{"  routes:\n    - {match: {tags: [harmful]}, targets: [jira]}\n  default: [linear-ux, slack-ai-safety]",
			`escalation.routes[0]: targets[0]: no target named "jira" in escalation.targets`},
		{"  routes:\n    - {name: both, targets: [jira-safe, linear-ux, slack-ai-safety]}",
			`escalation.routes[0] (both): targets[1]: linear-ux is a second ticket target`},
		{"  routes:\n    - {name: chat, targets: [slack-ai-safety]}\n  default: [jira-safe, linear-ux]",
			`escalation.routes[0] (chat): targets: needs one ticket target`},
		{"  routes:\n    - {name: v, match: {version: \"[\"}, targets: [jira-safe, slack-ai-safety]}\n  default: [linear-ux]",
			`escalation.routes[0] (v): match.version: "[" is not a glob pattern`},
		{"  routes:\n    - {name: h, targets: [jira-safe, slack-ai-safety]}",
			`escalation.targets.linear-ux: not used by any route or the default`},
		{"  routes: []", `escalation: no routes and no default`},
	} {
		_, err := buildYAML(t, strings.NewReplacer("%JIRA%", "https://acme.atlassian.net", "%LINEAR%", "https://api.linear.app").Replace(targets)+c.routes)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("err = %v\nwant %s", err, c.want)
		}
	}
	for _, c := range []struct{ target, want string }{
		{"x: {type: jira, url: https://a.example.com, token_env: JIRA_TOKEN, project: safe}", "escalation.targets.x.project:"},
		{"x: {type: jira, url: https://a.example.com, token: inline, project: SAFE}", "escalation.targets.x.token: unknown field; secrets are never written in the configuration: name their environment variable (token_env) or file (token_file)"},
		{"x: {type: linear, team: UX}", "escalation.targets.x.api_key_env or api_key_file: required"},
		{"x: {type: trello}", `escalation.targets.x.type: want jira, linear, github, webhook or slack, got "trello"`},
		{"x: {type: github, repo: acme/a, token_env: UNSET}", "escalation.targets.x.token_env: environment variable UNSET is empty or unset"},
	} {
		_, err := buildYAML(t, "escalation:\n  targets:\n    "+c.target+"\n  default: [x]\n")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("err = %v\nwant %s", err, c.want)
		}
	}
}

// The documented example: harmful → Jira SAFE + Slack #ai-safety,
// formatting_error at warning → Linear UX; other warnings are not escalated.
func TestRoutesChooseTheTargets(t *testing.T) {
	jira := &trackertest.Jira{Project: "SAFE", Auth: "Basic Ym90QGFjbWUuY29tOmp0"}
	lin := &trackertest.Linear{Key: "lk", Teams: map[string]string{"UX": "ux-id"}}
	sl := &trackertest.Slack{Path: "/services/T/B/X"}
	js, ls, ss := httptest.NewServer(jira), httptest.NewServer(lin), httptest.NewServer(sl)
	defer js.Close()
	defer ls.Close()
	defer ss.Close()
	secrets["SLACK_HOOK"] = ss.URL + sl.Path
	defer func() { secrets["SLACK_HOOK"] = "http://127.0.0.1:1/services/T/B/X" }()
	yaml := strings.NewReplacer("%JIRA%", js.URL, "%LINEAR%", ls.URL).Replace(targets) + `
  routes:
    - name: harmful
      match: {tags: [harmful]}
      targets: [jira-safe, slack-ai-safety]
    - name: formatting
      match: {tags: [formatting_error], severity: [warning], model: [support-bot], version: "2026-11-*"}
      targets: [linear-ux]
`
	cfg, err := buildYAML(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	sp := &spooled{}
	cfg.Append, cfg.Now = sp.append, func() time.Time { return at }
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	formatting := `{"kind":"feedback","feedback_id":"01JD0000000000000000000010","correlation_id":"c-10","model":{"id":"support-bot","version":"2026-11-01.3"},"sentiment":"negative","severity":"warning","tags":["formatting_error"]}`
	otherVersion := strings.ReplaceAll(strings.ReplaceAll(formatting, "2026-11-01.3", "2026-10-01.1"), "0010", "0011")
	if err := x.Deliver(context.Background(), []sink.Record{line(t, harmful), line(t, formatting), line(t, halluc), line(t, otherVersion)}); err != nil {
		t.Fatal(err)
	}
	if len(jira.Issues()) != 1 || len(lin.Issues()) != 1 || len(sl.Messages()) != 1 {
		t.Fatalf("jira %d, linear %d, slack %d", len(jira.Issues()), len(lin.Issues()), len(sl.Messages()))
	}
	if len(sp.lines) != 2 || !strings.Contains(sp.lines[0], `"ticket":{"system":"jira","key":"SAFE-1","url":"`+js.URL+`/browse/SAFE-1"}`) ||
		!strings.Contains(sp.lines[1], `"ticket":{"system":"linear","key":"UX-1"`) {
		t.Fatalf("spooled %q", sp.lines)
	}
	if got := testutil.ToFloat64(x.outcomes.WithLabelValues("jira-safe", OutcomeTicket)); got != 1 {
		t.Errorf("ticket outcomes %v", got)
	}
}

// Refused credentials dead-letter the event with a clear reason, count, and
// make /readyz name the target until it works again; a Slack refusal keeps
// the ticket and its escalation event and dead-letters what was not said.
func TestRefusalsAreDeadLetteredAndReported(t *testing.T) {
	jira := &trackertest.Jira{Project: "SAFE", Auth: "Basic Ym90QGFjbWUuY29tOmp0"}
	lin := &trackertest.Linear{Key: "lk", Teams: map[string]string{"UX": "ux-id"}}
	sl := &trackertest.Slack{Path: "/services/T/B/X"}
	js, ls, ss := httptest.NewServer(jira), httptest.NewServer(lin), httptest.NewServer(sl)
	defer js.Close()
	defer ls.Close()
	defer ss.Close()
	secrets["SLACK_HOOK"] = ss.URL + sl.Path
	defer func() { secrets["SLACK_HOOK"] = "http://127.0.0.1:1/services/T/B/X" }()
	cfg, err := buildYAML(t, strings.NewReplacer("%JIRA%", js.URL, "%LINEAR%", ls.URL).Replace(targets)+`
  routes:
    - {name: harmful, match: {tags: [harmful]}, targets: [jira-safe, slack-ai-safety]}
  default: [linear-ux]
`)
	if err != nil {
		t.Fatal(err)
	}
	sp := &spooled{}
	cfg.Append, cfg.Now = sp.append, func() time.Time { return at }
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	jira.Fail(trackertest.Failure{Status: 401, Body: "Client must be authenticated to access this resource."})
	r := line(t, harmful)
	r.Seq = 7
	err = x.Deliver(context.Background(), []sink.Record{r})
	rej, ok := sink.AsRejected(err)
	want := "escalation.routes[0] (harmful): no ticket: jira-safe: credentials refused (HTTP 401); check email and token_env/token_file"
	if !ok || len(rej.Rejections) != 1 || rej.Rejections[0].Seq != 7 || !strings.HasPrefix(rej.Rejections[0].Reason, want) {
		t.Fatalf("err = %v", err)
	}
	if perr := x.Ping(context.Background()); perr == nil || !strings.HasPrefix(perr.Error(), "misconfigured escalation target(s) jira-safe: jira-safe: credentials refused (HTTP 401)") {
		t.Errorf("ping %v", perr)
	}
	if got := testutil.ToFloat64(x.outcomes.WithLabelValues("jira-safe", "auth")); got != 1 {
		t.Errorf("auth outcomes %v", got)
	}
	// Fixed: the next ticket clears the report.
	sl.Fail(trackertest.Failure{Status: 404, Body: "channel_not_found"})
	err = x.Deliver(context.Background(), []sink.Record{r})
	rej, ok = sink.AsRejected(err)
	if !ok || len(rej.Rejections) != 1 || rej.Rejections[0].Reason != "escalation.routes[0] (harmful): ticket SAFE-1 opened, not announced: slack-ai-safety: not found (HTTP 404); the webhook's channel is gone or archived (channel_not_found, channel_is_archived, no_service): channel_not_found" {
		t.Fatalf("err = %v", err)
	}
	if len(sp.lines) != 1 || !strings.Contains(sp.lines[0], `"key":"SAFE-1"`) {
		t.Fatalf("spooled %q", sp.lines)
	}
	if perr := x.Ping(context.Background()); perr == nil || !strings.Contains(perr.Error(), "slack-ai-safety") || strings.Contains(perr.Error(), "jira-safe") {
		t.Errorf("ping %v", perr)
	}
	_ = feedback.SeverityCritical
}
