package github_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/github"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/trackertest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

func issue() *target.Issue {
	return &target.Issue{FeedbackID: "01JD0000000000000000000009", CorrelationID: "c-9",
		Title: "[warning] bias on support-bot 2026-11-01.3", Severity: "warning", Sentiment: "negative", Reason: "bias",
		Tags: []string{"bias"}, Comment: "@everyone look", Model: feedback.Model{ID: "support-bot", Version: "2026-11-01.3"}}
}

func getenv(k string) string { return map[string]string{"GITHUB_TOKEN": "ghp_abc"}[k] }

func standIn(t *testing.T) (*trackertest.GitHub, *github.GitHub) {
	g := &trackertest.GitHub{Owner: "acme", Repo: "assistant", Token: "ghp_abc"}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	gh, err := github.New("gh", github.Config{URL: srv.URL, Repo: "acme/assistant", TokenEnv: "GITHUB_TOKEN", Labels: []string{"feedback", "triage"}}, getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	return g, gh
}

func TestLooksUpThenCreates(t *testing.T) {
	stand, gh := standIn(t)
	tk, err := gh.Open(context.Background(), issue())
	if err != nil {
		t.Fatal(err)
	}
	if tk != (feedback.Ticket{System: "github", Key: "acme/assistant#1347", URL: "https://github.com/acme/assistant/issues/1347"}) {
		t.Errorf("%+v", tk)
	}
	reqs := stand.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	list, search, create := reqs[0], reqs[1], reqs[2]
	if list.Method != "GET" || list.Path != "/repos/acme/assistant/issues" || list.Query != "direction=desc&labels=feedback&per_page=100&sort=created&state=all" {
		t.Errorf("list %s %s?%s", list.Method, list.Path, list.Query)
	}
	q, _ := url.ParseQuery(search.Query)
	if search.Method != "GET" || search.Path != "/search/issues" ||
		q.Get("q") != `repo:acme/assistant is:issue label:"feedback" "feedback-01JD0000000000000000000009" in:body` || q.Get("per_page") != "10" {
		t.Errorf("search %s %s?%s", search.Method, search.Path, search.Query)
	}
	for _, r := range reqs {
		if r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("Authorization") != "Bearer ghp_abc" ||
			r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" || r.Header.Get("User-Agent") != "feedbackd" {
			t.Errorf("headers %v", r.Header)
		}
	}
	want, _ := json.Marshal(map[string]any{"title": issue().Title, "body": target.Markdown(issue(), "feedback-01JD0000000000000000000009"), "labels": []string{"feedback", "triage"}})
	if create.Method != "POST" || create.Path != "/repos/acme/assistant/issues" || create.Body != string(want) || create.Header.Get("Content-Type") != "application/json" {
		t.Errorf("create %s %s\n got %s\nwant %s", create.Method, create.Path, create.Body, want)
	}
	if !strings.Contains(create.Body, "```text\\n@everyone look\\n```") {
		t.Errorf("the comment must be in a code block, where it mentions nobody: %s", create.Body)
	}
}

// After a crash right after the create, the issue is not in the search
// index yet; the list of the newest labelled issues finds it. An older one
// is found by search; a pull request or a body that only mentions the
// marker mid-line does not count.
func TestCrashAfterCreateOpensNoSecondTicket(t *testing.T) {
	stand, gh := standIn(t)
	stand.SearchLag = 1
	stand.SetCrash(func() { panic(http.ErrAbortHandler) })
	if _, err := gh.Open(context.Background(), issue()); err == nil {
		t.Fatal("want an error")
	}
	stand.SetCrash(nil)
	tk, err := gh.Open(context.Background(), issue())
	if err != nil || tk.Key != "acme/assistant#1347" || len(stand.Issues()) != 1 {
		t.Fatalf("%+v %v, %d issues", tk, err, len(stand.Issues()))
	}
}

func TestSearchFindsOlderIssues(t *testing.T) {
	stand, gh := standIn(t)
	marker := target.Marker(issue().FeedbackID)
	stand.Seed(trackertest.GitHubIssue{Title: "old", Body: "x\n" + marker + "\n", Labels: []string{"feedback"}})
	for i := 0; i < 100; i++ {
		stand.Seed(trackertest.GitHubIssue{Title: "newer", Body: "other", Labels: []string{"feedback"}})
	}
	stand.Seed(trackertest.GitHubIssue{Title: "pr", Body: marker, Labels: []string{"feedback"}, PullRequest: true})
	stand.Seed(trackertest.GitHubIssue{Title: "mention", Body: "see " + marker + " here", Labels: []string{"feedback"}})
	tk, err := gh.Open(context.Background(), issue())
	if err != nil || tk.Key != "acme/assistant#1347" || len(stand.Issues()) != 103 {
		t.Fatalf("%+v %v, %d issues", tk, err, len(stand.Issues()))
	}
}

func TestErrorClasses(t *testing.T) {
	validation := `{"message":"Validation Failed","errors":[{"resource":"Issue","code":"invalid","field":"labels"}],"documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue","status":"422"}`
	empty := trackertest.Failure{Status: 200, Body: `[]`}
	none := trackertest.Failure{Status: 200, Body: `{"total_count":0,"incomplete_results":false,"items":[]}`}
	for _, c := range []struct {
		fail  []trackertest.Failure
		class target.Class
	}{
		{[]trackertest.Failure{{Status: 401, Body: `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`}}, target.Auth},
		{[]trackertest.Failure{{Status: 403, Body: `{"message":"Resource not accessible by personal access token"}`}}, target.Auth},
		{[]trackertest.Failure{{Status: 403, Body: `{"message":"You have exceeded a secondary rate limit"}`, RetryAfter: 60}}, target.Retry},
		{[]trackertest.Failure{{Status: 404, Body: `{"message":"Not Found"}`}}, target.NotFound},
		{[]trackertest.Failure{{Status: 410, Body: `{"message":"Issues are disabled for this repo"}`}}, target.NotFound},
		{[]trackertest.Failure{{Status: 500}}, target.Retry},
		{[]trackertest.Failure{empty, none, {Status: 422, Body: validation}}, target.Invalid},
	} {
		stand, gh := standIn(t)
		stand.Fail(c.fail...)
		_, err := gh.Open(context.Background(), issue())
		e, ok := target.AsError(err)
		last := c.fail[len(c.fail)-1]
		if !ok || e.Class != c.class || (last.Body != "" && e.Body != last.Body) {
			t.Errorf("%+v: %v", c.fail, err)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for cfg, want := range map[*github.Config]string{
		{Repo: "acme", TokenEnv: "GITHUB_TOKEN"}:                                      "repo:",
		{Repo: "acme/a", TokenEnv: "UNSET"}:                                           "token_env:",
		{Repo: "acme/a", TokenEnv: "GITHUB_TOKEN", Labels: []string{"a,b"}}:           "labels[0]:",
		{Repo: "acme/a", TokenEnv: "GITHUB_TOKEN", URL: "https://x.example.com/?a=b"}: "url:",
	} {
		if _, err := github.New("g", *cfg, getenv, 0); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
