// Package github opens escalation tickets as GitHub issues through the REST
// API (POST /repos/{owner}/{repo}/issues), authenticated with a token.
//
// The body ends with target.Marker(feedback id) and the issue carries the
// configured labels. Before creating, the newest issues with the first
// label are listed (consistent right after a create) and, if the marker is
// not among them, the search API is asked (older issues; its index trails
// creates by a little). A hit counts only if its body holds the marker line.
package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// DefaultURL is GitHub's REST API; GitHub Enterprise Server has
// https://HOST/api/v3.
const DefaultURL = "https://api.github.com"

// APIVersion is the REST API version feedbackd is written against.
const APIVersion = "2022-11-28"

// Config is one github target in the escalation section of the YAML file.
type Config struct {
	URL       string `yaml:"url"`
	Repo      string `yaml:"repo"` // owner/name
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// Labels are put on every issue; the first also finds them again.
	// Default: feedback.
	Labels []string `yaml:"labels"`
}

// GitHub is one configured repository.
type GitHub struct {
	name, base, owner, repo, token string
	labels                         []string
	client                         *http.Client
}

var repoName = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/([A-Za-z0-9._-]{1,100})$`)

// New checks cfg (errors name the field) and reads the token.
func New(name string, cfg Config, getenv func(string) string, timeout time.Duration) (*GitHub, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	u, err := target.HTTPURL("url", cfg.URL)
	if err != nil {
		return nil, err
	}
	m := repoName.FindStringSubmatch(cfg.Repo)
	if m == nil {
		return nil, fmt.Errorf("repo: %q must be owner/name", cfg.Repo)
	}
	token, err := target.Secret("token", cfg.TokenEnv, cfg.TokenFile, getenv)
	if err != nil {
		return nil, err
	}
	if len(cfg.Labels) == 0 {
		cfg.Labels = []string{"feedback"}
	}
	for i, l := range cfg.Labels {
		if strings.TrimSpace(l) == "" || len(l) > 50 || strings.ContainsAny(l, ",\"\r\n") {
			return nil, fmt.Errorf("labels[%d]: %q: a label is 1 to 50 characters without commas or quotes", i, l)
		}
	}
	return &GitHub{name: name, base: strings.TrimRight(u.String(), "/"), owner: m[1], repo: m[2], token: token,
		labels: cfg.Labels, client: target.Client(timeout)}, nil
}

func (g *GitHub) Name() string { return g.name }

var hints = target.Hints{
	Auth:     "check token_env/token_file (a token allowed to read and create issues in the repository)",
	NotFound: "check url and repo (GitHub also answers 404 when the token cannot see the repository, and 410 when its issues are disabled)",
}

type issue struct {
	Number      int             `json:"number"`
	HTMLURL     string          `json:"html_url"`
	Body        string          `json:"body"`
	PullRequest json.RawMessage `json:"pull_request"`
}

// Open finds the feedback's issue or creates it.
func (g *GitHub) Open(ctx context.Context, is *target.Issue) (feedback.Ticket, error) {
	marker := target.Marker(is.FeedbackID)
	if t, ok, err := g.find(ctx, marker); err != nil || ok {
		return t, err
	}
	body, err := json.Marshal(map[string]any{"title": is.Title, "body": target.Markdown(is, marker), "labels": g.labels})
	if err != nil {
		return feedback.Ticket{}, err
	}
	answer, err := g.do(ctx, http.MethodPost, g.repoPath()+"/issues", bytes.NewReader(body))
	if err != nil {
		return feedback.Ticket{}, err
	}
	var created issue
	if err := json.Unmarshal(answer, &created); err != nil || created.Number == 0 {
		return feedback.Ticket{}, &target.Error{Target: g.name, Class: target.Retry, Body: "create answer without an issue number: " + target.Verbatim(answer)}
	}
	return g.ticket(created), nil
}

func (g *GitHub) repoPath() string {
	return "/repos/" + url.PathEscape(g.owner) + "/" + url.PathEscape(g.repo)
}

func (g *GitHub) ticket(i issue) feedback.Ticket {
	return feedback.Ticket{System: "github", Key: g.owner + "/" + g.repo + "#" + strconv.Itoa(i.Number), URL: i.HTMLURL}
}

// SearchQuery is the search API's q. The label is quoted and the marker is
// a quoted phrase of a safe alphabet (target.Marker), so neither changes the
// query's qualifiers.
func (g *GitHub) SearchQuery(marker string) string {
	return "repo:" + g.owner + "/" + g.repo + ` is:issue label:"` + g.labels[0] + `" "` + marker + `" in:body`
}

func (g *GitHub) find(ctx context.Context, marker string) (feedback.Ticket, bool, error) {
	list := url.Values{"labels": {g.labels[0]}, "state": {"all"}, "sort": {"created"}, "direction": {"desc"}, "per_page": {"100"}}
	answer, err := g.do(ctx, http.MethodGet, g.repoPath()+"/issues?"+list.Encode(), nil)
	if err != nil {
		return feedback.Ticket{}, false, err
	}
	var recent []issue
	if err := json.Unmarshal(answer, &recent); err != nil {
		return feedback.Ticket{}, false, &target.Error{Target: g.name, Class: target.Retry, Body: "issue list is not JSON: " + target.Verbatim(answer)}
	}
	if i, ok := carrying(recent, marker); ok {
		return g.ticket(i), true, nil
	}
	search := url.Values{"q": {g.SearchQuery(marker)}, "per_page": {"10"}}
	answer, err = g.do(ctx, http.MethodGet, "/search/issues?"+search.Encode(), nil)
	if err != nil {
		return feedback.Ticket{}, false, err
	}
	var found struct {
		Items []issue `json:"items"`
	}
	if err := json.Unmarshal(answer, &found); err != nil {
		return feedback.Ticket{}, false, &target.Error{Target: g.name, Class: target.Retry, Body: "search answer is not JSON: " + target.Verbatim(answer)}
	}
	if i, ok := carrying(found.Items, marker); ok {
		return g.ticket(i), true, nil
	}
	return feedback.Ticket{}, false, nil
}

// carrying finds the issue (not pull request) whose body has marker as a
// line of its own; search matches words, not lines.
func carrying(issues []issue, marker string) (issue, bool) {
	for _, i := range issues {
		if len(i.PullRequest) > 0 || i.Number == 0 {
			continue
		}
		for _, line := range strings.Split(i.Body, "\n") {
			if strings.TrimSpace(line) == marker {
				return i, true
			}
		}
	}
	return issue{}, false
}

func (g *GitHub) do(ctx context.Context, method, path string, body *bytes.Reader) ([]byte, error) {
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequestWithContext(ctx, method, g.base+path, body)
	} else {
		req, err = http.NewRequestWithContext(ctx, method, g.base+path, nil)
	}
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	req.Header.Set("User-Agent", "feedbackd")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	answer, _, err := target.Do(g.client, g.name, req, hints)
	return answer, err
}
