package jira_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/jira"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/trackertest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

func issue() *target.Issue {
	return &target.Issue{FeedbackID: "01JD0000000000000000000001", CorrelationID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Title: "[critical] harmful on support-bot 2026-11-01.3", Severity: "critical", Sentiment: "negative", Reason: "harmful",
		Tags: []string{"harmful"}, Comment: "It told me to mix bleach and ammonia. {noformat}*x*",
		Model: feedback.Model{ID: "support-bot", Version: "2026-11-01.3"}, Timestamp: "2026-11-25T09:30:00.000000000Z",
		TraceURL: "https://grafana.example.com/d/feedbackloop-trace?var-correlation_id=4bf92f3577b34da6a3ce929d0e0e4736"}
}

var env = map[string]string{"JIRA_TOKEN": "api-token-123"}

func getenv(k string) string { return env[k] }

func standIn(t *testing.T, v2 bool, auth string) (*trackertest.Jira, *httptest.Server) {
	j := &trackertest.Jira{V2: v2, Project: "SAFE", Auth: auth, Custom: map[string]bool{"customfield_10010": true}}
	srv := httptest.NewServer(j)
	t.Cleanup(srv.Close)
	j.Base = srv.URL
	return j, srv
}

var basic = "Basic " + base64.StdEncoding.EncodeToString([]byte("bot@acme.com:api-token-123"))

func cloud(t *testing.T, base string) *jira.Jira {
	t.Helper()
	j, err := jira.New("jira-safe", jira.Config{URL: base + "/", Email: "bot@acme.com", TokenEnv: "JIRA_TOKEN", Project: "SAFE",
		Labels: []string{"ai-feedback"}, Components: []string{"Assistant"}, CustomFields: map[string]any{"customfield_10010": map[string]any{"value": "Prod"}}}, getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

const adfBody = `{"fields":{"components":[{"name":"Assistant"}],"customfield_10010":{"value":"Prod"},` +
	`"description":{"type":"doc","version":1,"content":[` +
	`{"type":"paragraph","content":[{"type":"text","text":"User feedback escalated by feedbackd."}]},` +
	`{"type":"bulletList","content":[` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Model: ","marks":[{"type":"strong"}]},{"type":"text","text":"support-bot 2026-11-01.3","marks":[{"type":"code"}]}]}]},` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Severity: ","marks":[{"type":"strong"}]},{"type":"text","text":"critical","marks":[{"type":"code"}]}]}]},` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Sentiment: ","marks":[{"type":"strong"}]},{"type":"text","text":"negative","marks":[{"type":"code"}]}]}]},` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Reason: ","marks":[{"type":"strong"}]},{"type":"text","text":"harmful","marks":[{"type":"code"}]}]}]},` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Tags: ","marks":[{"type":"strong"}]},{"type":"text","text":"harmful","marks":[{"type":"code"}]}]}]},` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Reported: ","marks":[{"type":"strong"}]},{"type":"text","text":"2026-11-25T09:30:00.000000000Z","marks":[{"type":"code"}]}]}]},` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Correlation id: ","marks":[{"type":"strong"}]},{"type":"text","text":"4bf92f3577b34da6a3ce929d0e0e4736","marks":[{"type":"code"}]}]}]},` +
	`{"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"Feedback id: ","marks":[{"type":"strong"}]},{"type":"text","text":"01JD0000000000000000000001","marks":[{"type":"code"}]}]}]}]},` +
	`{"type":"paragraph","content":[{"type":"text","text":"Open the trace in Grafana","marks":[{"type":"link","attrs":{"href":"https://grafana.example.com/d/feedbackloop-trace?var-correlation_id=4bf92f3577b34da6a3ce929d0e0e4736"}}]}]},` +
	`{"type":"heading","attrs":{"level":3},"content":[{"type":"text","text":"Comment"}]},` +
	`{"type":"codeBlock","content":[{"type":"text","text":"It told me to mix bleach and ammonia. {noformat}*x*"}]}]},` +
	`"issuetype":{"name":"Bug"},"labels":["ai-feedback","feedback-01JD0000000000000000000001"],` +
	`"priority":{"name":"Highest"},"project":{"key":"SAFE"},"summary":"[critical] harmful on support-bot 2026-11-01.3"}}`

// Jira Cloud: a JQL look-up on /search/jql, then the create with an ADF
// description, exactly as REST v3 documents them; the answer's key becomes
// the ticket.
func TestCloudLooksUpThenCreates(t *testing.T) {
	stand, srv := standIn(t, false, basic)
	tk, err := cloud(t, srv.URL).Open(context.Background(), issue())
	if err != nil {
		t.Fatal(err)
	}
	if tk != (feedback.Ticket{System: "jira", Key: "SAFE-1", URL: srv.URL + "/browse/SAFE-1"}) {
		t.Errorf("ticket %+v", tk)
	}
	reqs := stand.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	search, create := reqs[0], reqs[1]
	q, _ := url.ParseQuery(search.Query)
	if search.Method != "GET" || search.Path != "/rest/api/3/search/jql" ||
		q.Get("jql") != `project = "SAFE" AND labels = "feedback-01JD0000000000000000000001" ORDER BY created ASC` ||
		q.Get("fields") != "summary" || q.Get("maxResults") != "1" || len(q) != 3 {
		t.Errorf("search %s %s?%s", search.Method, search.Path, search.Query)
	}
	for _, r := range reqs {
		if r.Header.Get("Authorization") != basic || r.Header.Get("Accept") != "application/json" {
			t.Errorf("headers %v", r.Header)
		}
	}
	if create.Method != "POST" || create.Path != "/rest/api/3/issue" || create.Header.Get("Content-Type") != "application/json" {
		t.Errorf("create %s %s %v", create.Method, create.Path, create.Header)
	}
	if create.Body != adfBody {
		t.Errorf("create body\n got %s\nwant %s", create.Body, adfBody)
	}
}

// Data Center: REST v2, /search, a wiki-markup description with user text
// escaped, and a personal access token as bearer.
func TestDataCenterUsesV2AndWikiMarkup(t *testing.T) {
	stand, srv := standIn(t, true, "Bearer api-token-123")
	j, err := jira.New("jira-dc", jira.Config{URL: srv.URL, API: "datacenter", TokenEnv: "JIRA_TOKEN", Project: "SAFE",
		Priority: map[string]string{"critical": "High", "warning": ""}}, getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	is := issue()
	is.Reason = "harm*ful_[x|y]"
	tk, err := j.Open(context.Background(), is)
	if err != nil || tk.Key != "SAFE-1" {
		t.Fatalf("%+v %v", tk, err)
	}
	reqs := stand.Requests()
	if len(reqs) != 2 || reqs[0].Path != "/rest/api/2/search" || reqs[1].Path != "/rest/api/2/issue" {
		t.Fatalf("%+v", reqs)
	}
	want := `{"fields":{"description":"User feedback escalated by feedbackd.\n\n` +
		`* *Model:* support\\-bot 2026\\-11\\-01.3\n* *Severity:* critical\n* *Sentiment:* negative\n` +
		`* *Reason:* harm\\*ful\\_\\[x\\|y\\]\n* *Tags:* harmful\n* *Reported:* 2026\\-11\\-25T09:30:00.000000000Z\n` +
		`* *Correlation id:* 4bf92f3577b34da6a3ce929d0e0e4736\n* *Feedback id:* 01JD0000000000000000000001\n\n` +
		`[Open the trace in Grafana|https://grafana.example.com/d/feedbackloop-trace?var-correlation_id=4bf92f3577b34da6a3ce929d0e0e4736]\n\n` +
		`h3. Comment\n{noformat}\nIt told me to mix bleach and ammonia. { noformat}*x*\n{noformat}\n",` +
		`"issuetype":{"name":"Bug"},"labels":["feedback-01JD0000000000000000000001"],"priority":{"name":"High"},` +
		`"project":{"key":"SAFE"},"summary":"[critical] harmful on support-bot 2026-11-01.3"}}`
	if reqs[1].Body != want || reqs[1].Header.Get("Authorization") != "Bearer api-token-123" {
		t.Errorf("create body\n got %s\nwant %s", reqs[1].Body, want)
	}
}

// The process dies after Jira created the issue and before its answer
// arrived; the next process (a new target, nothing remembered) finds the
// issue by its label and opens no second one.
func TestCrashAfterCreateOpensNoSecondTicket(t *testing.T) {
	stand, srv := standIn(t, false, basic)
	stand.SetCrash(func() { panic(http.ErrAbortHandler) })
	if _, err := cloud(t, srv.URL).Open(context.Background(), issue()); err == nil {
		t.Fatal("the aborted answer must be an error")
	} else if e, ok := target.AsError(err); !ok || e.Permanent() {
		t.Fatalf("a lost answer must be retried: %v", err)
	}
	stand.SetCrash(nil)
	tk, err := cloud(t, srv.URL).Open(context.Background(), issue())
	if err != nil || tk.Key != "SAFE-1" {
		t.Fatalf("%+v %v", tk, err)
	}
	if n := len(stand.Issues()); n != 1 {
		t.Fatalf("%d issues, want 1", n)
	}
	if reqs := stand.Requests(); len(reqs) != 3 || reqs[2].Method != "GET" {
		t.Fatalf("the second attempt must only search: %+v", reqs)
	}
}

// An issue found by the look-up is returned as it is, whatever its key.
func TestFoundIssueIsReused(t *testing.T) {
	stand, srv := standIn(t, false, basic)
	stand.Seed("other")
	key := stand.Seed("feedback-01JD0000000000000000000001")
	tk, err := cloud(t, srv.URL).Open(context.Background(), issue())
	if err != nil || tk.Key != key || len(stand.Issues()) != 2 {
		t.Fatalf("%+v %v", tk, err)
	}
}

func TestErrorClasses(t *testing.T) {
	validation := `{"errorMessages":[],"errors":{"priority":"Specify a valid priority."}}`
	for _, c := range []struct {
		fail  []trackertest.Failure
		class target.Class
		body  string
		after int
	}{
		{[]trackertest.Failure{{Status: 401}}, target.Auth, "", 0},
		{[]trackertest.Failure{{Status: 403, Body: `{"errorMessages":["You do not have permission to create issues in this project."],"errors":{}}`}}, target.Auth, "", 0},
		{[]trackertest.Failure{{Status: 404, Body: `{"errorMessages":["Issue does not exist"],"errors":{}}`}}, target.NotFound, "", 0},
		{[]trackertest.Failure{{Status: 429, RetryAfter: 7}}, target.Retry, "", 7},
		{[]trackertest.Failure{{Status: 503}}, target.Retry, "", 0},
		{[]trackertest.Failure{{Status: 200, Body: `{"isLast":true,"issues":[]}`}, {Status: 400, Body: validation}}, target.Invalid, validation, 0},
	} {
		stand, srv := standIn(t, false, basic)
		stand.Fail(c.fail...)
		_, err := cloud(t, srv.URL).Open(context.Background(), issue())
		e, ok := target.AsError(err)
		if !ok || e.Class != c.class || (c.body != "" && e.Body != c.body) || e.After.Seconds() != float64(c.after) {
			t.Errorf("%+v: %v", c.fail, err)
		}
		if ok && e.Class == target.Auth && !strings.Contains(e.Error(), "jira-safe: credentials refused") {
			t.Errorf("message %q", e.Error())
		}
	}
	// A project Jira does not know: the search is refused with a 400 that
	// names it, reported as not found.
	_, srv := standIn(t, false, basic)
	j, err := jira.New("jira-x", jira.Config{URL: srv.URL, Email: "bot@acme.com", TokenEnv: "JIRA_TOKEN", Project: "NOPE"}, getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = j.Open(context.Background(), issue())
	if e, ok := target.AsError(err); !ok || e.Class != target.NotFound || !strings.Contains(e.Error(), "project NOPE not found") {
		t.Errorf("%v", err)
	}
}

// Whatever a value holds, the JQL keeps its structure: the stand-in's
// parser (Jira's quoting rules) reads back exactly the value.
func TestJQLQuotesValues(t *testing.T) {
	got := jira.JQL("SAFE", `a" OR project = "X\`)
	want := `project = "SAFE" AND labels = "a\" OR project = \"X\\" ORDER BY created ASC`
	if got != want {
		t.Errorf("%s", got)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := jira.Config{URL: "https://acme.atlassian.net", Email: "bot@acme.com", TokenEnv: "JIRA_TOKEN", Project: "SAFE"}
	for _, c := range []struct {
		mutate func(*jira.Config)
		want   string
	}{
		{func(c *jira.Config) { c.URL = "acme.atlassian.net" }, "url:"},
		{func(c *jira.Config) { c.API = "server" }, "api:"},
		{func(c *jira.Config) { c.TokenEnv = "" }, "token_env or token_file:"},
		{func(c *jira.Config) { c.TokenEnv = "UNSET" }, "token_env:"},
		{func(c *jira.Config) { c.Project = `SAFE" OR x` }, "project:"},
		{func(c *jira.Config) { c.Labels = []string{"two words"} }, "labels[0]:"},
		{func(c *jira.Config) { c.Priority = map[string]string{"info": "Low"} }, "priority:"},
		{func(c *jira.Config) { c.CustomFields = map[string]any{"summary": "x"} }, "custom_fields:"},
	} {
		cfg := ok
		c.mutate(&cfg)
		if _, err := jira.New("j", cfg, getenv, 0); err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "api-token-123") {
			t.Errorf("err = %v, want one starting %s", err, c.want)
		}
	}
}
