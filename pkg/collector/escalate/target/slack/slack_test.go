package slack_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/slack"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/trackertest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

func issue() *target.Issue {
	return &target.Issue{FeedbackID: "f1", CorrelationID: "c1", Title: "[critical] harmful on support-bot 2026-11-01.3",
		Severity: "critical", Sentiment: "negative", Reason: "harmful", Tags: []string{"harmful"},
		Comment: "<!channel> mix bleach & ammonia\nnow", Model: feedback.Model{ID: "support-bot", Version: "2026-11-01.3"},
		TraceURL: "https://grafana.example.com/d/feedbackloop-trace?var-correlation_id=c1"}
}

var ticket = feedback.Ticket{System: "jira", Key: "SAFE-12", URL: "https://acme.atlassian.net/browse/SAFE-12"}

func standIn(t *testing.T) (*trackertest.Slack, *slack.Slack, string) {
	s := &trackertest.Slack{Path: "/services/T000/B000/XXXX"}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	hook := srv.URL + s.Path
	sl, err := slack.New("slack-ai-safety", slack.Config{WebhookURLEnv: "SLACK_HOOK", Channel: "#ai-safety"},
		func(k string) string { return map[string]string{"SLACK_HOOK": hook}[k] }, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s, sl, hook
}

const want = `{"text":"[critical] harmful on support-bot 2026-11-01.3 — SAFE-12","blocks":[` +
	`{"type":"header","text":{"type":"plain_text","text":"[critical] harmful on support-bot 2026-11-01.3"}},` +
	`{"type":"section","fields":[{"type":"mrkdwn","text":"*Model*\nsupport-bot 2026-11-01.3"},{"type":"mrkdwn","text":"*Severity*\ncritical"},` +
	`{"type":"mrkdwn","text":"*Reason*\nharmful"},{"type":"mrkdwn","text":"*Tags*\nharmful"}]},` +
	`{"type":"section","text":{"type":"mrkdwn","text":"*Comment*\n\u003e \u0026lt;!channel\u0026gt; mix bleach \u0026amp; ammonia\n\u003e now"}},` +
	`{"type":"section","text":{"type":"mrkdwn","text":"*Ticket* \u003chttps://acme.atlassian.net/browse/SAFE-12|SAFE-12\u003e  ·  \u003chttps://grafana.example.com/d/feedbackloop-trace?var-correlation_id=c1|Trace in Grafana\u003e"}}]}`

func TestAnnouncesWithBlockKit(t *testing.T) {
	stand, sl, _ := standIn(t)
	if err := sl.Announce(context.Background(), issue(), ticket); err != nil {
		t.Fatal(err)
	}
	reqs := stand.Requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/services/T000/B000/XXXX" || reqs[0].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%+v", reqs)
	}
	if reqs[0].Body != want {
		t.Errorf("body\n got %s\nwant %s", reqs[0].Body, want)
	}
	if len(stand.Messages()) != 1 {
		t.Error("the stand-in refused the message")
	}
}

func TestErrorClasses(t *testing.T) {
	for _, c := range []struct {
		fail  trackertest.Failure
		class target.Class
	}{
		{trackertest.Failure{Status: 400, Body: "invalid_payload"}, target.Invalid},
		{trackertest.Failure{Status: 403, Body: "invalid_token"}, target.Auth},
		{trackertest.Failure{Status: 403, Body: "action_prohibited"}, target.Auth},
		{trackertest.Failure{Status: 404, Body: "channel_not_found"}, target.NotFound},
		{trackertest.Failure{Status: 410, Body: "channel_is_archived"}, target.NotFound},
		{trackertest.Failure{Status: 429, RetryAfter: 3}, target.Retry},
		{trackertest.Failure{Status: 500, Body: "rollup_error"}, target.Retry},
	} {
		stand, sl, hook := standIn(t)
		stand.Fail(c.fail)
		err := sl.Announce(context.Background(), issue(), ticket)
		if e, ok := target.AsError(err); !ok || e.Class != c.class || e.Body != c.fail.Body {
			t.Errorf("%+v: %v", c.fail, err)
		}
		if strings.Contains(err.Error(), "XXXX") || strings.Contains(err.Error(), hook) {
			t.Errorf("the webhook URL is the secret and must not be in errors: %v", err)
		}
	}
	// Unreachable: the transport error names the host, not the secret path.
	sl, err := slack.New("s", slack.Config{WebhookURLEnv: "H"}, func(string) string { return "http://127.0.0.1:1/services/T/B/SECRET" }, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := sl.Announce(context.Background(), issue(), ticket); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("%v", err)
	}
	if _, err := slack.New("s", slack.Config{WebhookURLEnv: "H"}, func(string) string { return "hooks.slack.com/services/SECRET" }, 0); err == nil ||
		!strings.HasPrefix(err.Error(), "webhook_url:") || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("%v", err)
	}
}
