package linear_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/linear"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target/trackertest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

func issue() *target.Issue {
	return &target.Issue{FeedbackID: "01JD0000000000000000000007", CorrelationID: "c-7",
		Title: "[warning] formatting_error on support-bot 2026-11-01.3", Severity: "warning", Sentiment: "negative",
		Reason: "formatting_error", Tags: []string{"formatting_error"}, Comment: "The table came out as raw pipes",
		Model: feedback.Model{ID: "support-bot", Version: "2026-11-01.3"}}
}

func getenv(k string) string { return map[string]string{"LINEAR_API_KEY": "lin_api_abc"}[k] }

func standIn(t *testing.T) (*trackertest.Linear, *httptest.Server) {
	l := &trackertest.Linear{Key: "lin_api_abc", Teams: map[string]string{"UX": "team-ux-id"}, Labels: map[string]string{"feedback": "label-fb-id"}}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	return l, srv
}

func newLinear(t *testing.T, srv *httptest.Server) *linear.Linear {
	t.Helper()
	l, err := linear.New("linear-ux", linear.Config{URL: srv.URL + "/graphql", APIKeyEnv: "LINEAR_API_KEY", Team: "UX", Labels: []string{"feedback"}}, getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type gql struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

// The team and labels are resolved once, the marker looked up, then
// issueCreate is sent with everything as variables; every request is
// validated against Linear's schema by the stand-in.
func TestLooksUpThenCreates(t *testing.T) {
	stand, srv := standIn(t)
	l := newLinear(t, srv)
	tk, err := l.Open(context.Background(), issue())
	if err != nil {
		t.Fatal(err)
	}
	if tk != (feedback.Ticket{System: "linear", Key: "UX-1", URL: "https://linear.app/acme/issue/ux-1/feedback"}) {
		t.Errorf("%+v", tk)
	}
	reqs := stand.Requests()
	want := []string{
		`{"query":"` + linear.TeamQuery + `","variables":{"key":"UX"}}`,
		`{"query":"` + linear.LabelsQuery + `","variables":{"names":["feedback"]}}`,
		`{"query":"` + linear.FindQuery + `","variables":{"marker":"feedback-01JD0000000000000000000007","team":"team-ux-id"}}`,
	}
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	for i, w := range want {
		if reqs[i].Body != w {
			t.Errorf("request %d\n got %s\nwant %s", i, reqs[i].Body, w)
		}
	}
	for _, r := range reqs {
		if r.Method != "POST" || r.Path != "/graphql" || r.Header.Get("Authorization") != "lin_api_abc" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %v", r.Method, r.Path, r.Header)
		}
	}
	var create gql
	if err := json.Unmarshal([]byte(reqs[3].Body), &create); err != nil || create.Query != linear.CreateIssue {
		t.Fatalf("%s", reqs[3].Body)
	}
	in := create.Variables["input"].(map[string]any)
	if in["teamId"] != "team-ux-id" || in["title"] != issue().Title || in["priority"] != float64(2) ||
		in["description"] != target.Markdown(issue(), "feedback-01JD0000000000000000000007") || len(in) != 5 {
		t.Errorf("input %v", in)
	}
	if ids, _ := in["labelIds"].([]any); len(ids) != 1 || ids[0] != "label-fb-id" {
		t.Errorf("labelIds %v", in["labelIds"])
	}
	// A second feedback reuses the resolved team: look-up and create only.
	is := issue()
	is.FeedbackID = "01JD0000000000000000000008"
	if _, err := l.Open(context.Background(), is); err != nil || len(stand.Requests()) != 6 {
		t.Fatalf("%v, %d requests", err, len(stand.Requests()))
	}
}

// The documented issueCreate answer is parsed.
func TestParsesDocumentedAnswer(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch calls {
		case 1:
			w.Write([]byte(`{"data":{"teams":{"nodes":[{"id":"9cfb482a-81e3-4154-b5b9-2c805e70a02d","key":"UX"}]}}}`))
		case 2:
			w.Write([]byte(`{"data":{"issues":{"nodes":[]}}}`))
		default:
			w.Write([]byte(`{"data":{"issueCreate":{"success":true,"issue":{"id":"be0a4b0c-2a0e-4c8c-a3f4-6f2bb6a7f1b4","identifier":"UX-123","url":"https://linear.app/acme/issue/UX-123/new-exception"}}}}`))
		}
	}))
	defer srv.Close()
	l, err := linear.New("l", linear.Config{URL: srv.URL, APIKeyEnv: "LINEAR_API_KEY", Team: "UX"}, getenv, 0)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := l.Open(context.Background(), issue())
	if err != nil || tk.Key != "UX-123" || tk.URL != "https://linear.app/acme/issue/UX-123/new-exception" {
		t.Fatalf("%+v %v", tk, err)
	}
}

func TestCrashAfterCreateOpensNoSecondTicket(t *testing.T) {
	stand, srv := standIn(t)
	stand.SetCrash(func() { panic(http.ErrAbortHandler) })
	if _, err := newLinear(t, srv).Open(context.Background(), issue()); err == nil {
		t.Fatal("want an error")
	}
	stand.SetCrash(nil)
	tk, err := newLinear(t, srv).Open(context.Background(), issue())
	if err != nil || tk.Key != "UX-1" || len(stand.Issues()) != 1 {
		t.Fatalf("%+v %v, %d issues", tk, err, len(stand.Issues()))
	}
}

func TestErrorClasses(t *testing.T) {
	for _, c := range []struct {
		fail  trackertest.Failure
		class target.Class
	}{
		{trackertest.Failure{Status: 400, Body: `{"errors":[{"message":"Authentication required, not authenticated","extensions":{"type":"authentication error","code":"AUTHENTICATION_ERROR","userPresentableMessage":"You need to authenticate to access this operation."}}]}`}, target.Auth},
		{trackertest.Failure{Status: 401}, target.Auth},
		{trackertest.Failure{Status: 200, Body: `{"errors":[{"message":"Forbidden","extensions":{"type":"forbidden","code":"FORBIDDEN"}}],"data":null}`}, target.Auth},
		{trackertest.Failure{Status: 400, Body: `{"errors":[{"message":"ratelimited","extensions":{"type":"ratelimited","code":"RATELIMITED"}}]}`, RetryAfter: 30}, target.Retry},
		{trackertest.Failure{Status: 502}, target.Retry},
		{trackertest.Failure{Status: 400, Body: `{"errors":[{"message":"Argument Validation Error","extensions":{"type":"invalid input","code":"INVALID_INPUT","userPresentableMessage":"title must be shorter than or equal to 255 characters"}}]}`}, target.Invalid},
	} {
		stand, srv := standIn(t)
		stand.Fail(c.fail)
		_, err := newLinear(t, srv).Open(context.Background(), issue())
		e, ok := target.AsError(err)
		if !ok || e.Class != c.class || (c.fail.Body != "" && e.Body != c.fail.Body) {
			t.Errorf("%+v: %v", c.fail, err)
		}
		if c.fail.RetryAfter > 0 && e.After.Seconds() != float64(c.fail.RetryAfter) {
			t.Errorf("retry after %v", e.After)
		}
	}
	// An unknown team or label is a configuration error naming it.
	_, srv := standIn(t)
	for cfg, want := range map[*linear.Config]string{
		{URL: srv.URL + "/graphql", APIKeyEnv: "LINEAR_API_KEY", Team: "NOPE"}:                            "team NOPE not found",
		{URL: srv.URL + "/graphql", APIKeyEnv: "LINEAR_API_KEY", Team: "UX", Labels: []string{"missing"}}: "label missing not found",
	} {
		l, err := linear.New("l", *cfg, getenv, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Open(context.Background(), issue())
		if e, ok := target.AsError(err); !ok || e.Class != target.NotFound || !strings.Contains(err.Error(), want) {
			t.Errorf("%v", err)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for cfg, want := range map[*linear.Config]string{
		{Team: "UX"}: "api_key_env or api_key_file:",
		{APIKeyEnv: "LINEAR_API_KEY", Team: `UX"}`}:                                       "team:",
		{APIKeyEnv: "LINEAR_API_KEY", Team: "UX", Priority: map[string]int{"warning": 9}}: "priority.warning:",
		{APIKeyEnv: "LINEAR_API_KEY", Team: "UX", URL: "ftp://x"}:                         "url:",
	} {
		if _, err := linear.New("l", *cfg, getenv, 0); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
