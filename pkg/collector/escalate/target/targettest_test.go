package target_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
)

func TestClassify(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	for _, c := range []struct {
		status int
		h      http.Header
		class  target.Class
		after  time.Duration
	}{
		{401, h(), target.Auth, 0},
		{403, h(), target.Auth, 0},
		{403, h("X-RateLimit-Remaining", "0", "Retry-After", "60"), target.Retry, time.Minute},
		{404, h(), target.NotFound, 0},
		{410, h(), target.NotFound, 0},
		{400, h(), target.Invalid, 0},
		{422, h(), target.Invalid, 0},
		{429, h("Retry-After", "7"), target.Retry, 7 * time.Second},
		{408, h(), target.Retry, 0},
		{500, h(), target.Retry, 0},
		{503, h("Retry-After", "2"), target.Retry, 2 * time.Second},
	} {
		e := target.Classify("t", c.status, c.h, []byte(" answer \n"), target.Hints{Auth: "check the token"})
		if e.Class != c.class || e.After != c.after || e.Body != "answer" || e.Permanent() != (c.class != target.Retry) {
			t.Errorf("%d %v: %+v", c.status, c.h, e)
		}
	}
	if got := target.Classify("jira-safe", 401, h(), []byte("no"), target.Hints{Auth: "check the token"}).Error(); got != "jira-safe: credentials refused (HTTP 401); check the token: no" {
		t.Errorf("message %q", got)
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	env := map[string]string{"TOKEN": " s3cret\n"}
	getenv := func(k string) string { return env[k] }
	if v, err := target.Secret("token", "TOKEN", "", getenv); err != nil || v != "s3cret" {
		t.Fatalf("%q %v", v, err)
	}
	for _, c := range []struct{ env, file, want string }{
		{"", "", "token_env or token_file: required"},
		{"NOPE", "", "token_env: environment variable NOPE is empty or unset"},
		{"TOKEN", "/x", "token_env and token_file: set one, not both"},
		{"", "/nonexistent/secret", "token_file: open /nonexistent/secret"},
	} {
		_, err := target.Secret("token", c.env, c.file, getenv)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestMarkerIsSafeForLabelsAndSearch(t *testing.T) {
	if got := target.Marker("01JD0000000000000000000001"); got != "feedback-01JD0000000000000000000001" {
		t.Errorf("%q", got)
	}
	hostile := `x" OR project = "OTHER`
	m := target.Marker(hostile)
	if m != target.Marker(hostile) || strings.ContainsAny(m, `" `) || !strings.HasPrefix(m, "feedback-h") || len(m) != len("feedback-h")+32 {
		t.Errorf("%q", m)
	}
	if target.Marker("a b") == target.Marker("a c") {
		t.Error("distinct ids share a marker")
	}
}

func TestMarkdownKeepsUserTextLiteral(t *testing.T) {
	is := &target.Issue{FeedbackID: "f1", CorrelationID: "c1", Severity: "critical", Sentiment: "negative",
		Model: target.Issue{}.Model, Comment: "@octocat see #12 ```\n**bold**", Tags: []string{"harmful"}, TraceURL: "https://g.example.com/d/x?a=(1)"}
	is.Model.ID, is.Model.Version = "bot", "v`2"
	got := target.Markdown(is, "feedback-f1")
	want := "User feedback escalated by feedbackd.\n\n" +
		"- **Model:** ``bot v`2``\n- **Severity:** `critical`\n- **Sentiment:** `negative`\n- **Tags:** `harmful`\n" +
		"- **Correlation id:** `c1`\n- **Feedback id:** `f1`\n\n" +
		"[Open the trace in Grafana](https://g.example.com/d/x?a=%281%29)\n\n" +
		"**Comment:**\n\n````text\n@octocat see #12 ```\n**bold**\n````\n\nfeedback-f1\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
