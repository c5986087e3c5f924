// Package jira opens escalation tickets in Jira: Jira Cloud through REST v3
// (description in Atlassian Document Format) and Jira Data Center/Server
// through REST v2 (description in wiki markup).
//
// A ticket carries the label target.Marker(feedback id); before creating,
// a JQL search on that label finds the ticket a previous attempt opened (a
// crash between Jira's answer and the escalation event being spooled, or an
// answer lost to a timeout). Jira Cloud's search is eventually consistent
// for a few seconds after a create; the delivery loop's back-off is longer
// than that before it asks again.
package jira

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Config is one jira target in the escalation section of the YAML file.
type Config struct {
	// URL is the site, e.g. https://acme.atlassian.net or
	// https://jira.example.com (Data Center, with any context path).
	URL string `yaml:"url"`
	// API is cloud (REST v3, the default) or datacenter (REST v2).
	API string `yaml:"api"`
	// Email with the token makes basic auth (Jira Cloud API tokens);
	// without it the token is sent as a bearer token (Data Center personal
	// access tokens).
	Email     string `yaml:"email"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	Project   string `yaml:"project"`
	// IssueType is the issue type's name; Bug when empty.
	IssueType string   `yaml:"issue_type"`
	Labels    []string `yaml:"labels"`
	// Priority maps a severity to a priority name; an empty name sends no
	// priority. Default: critical → Highest, warning → High.
	Priority     map[string]string `yaml:"priority"`
	Components   []string          `yaml:"components"`
	CustomFields map[string]any    `yaml:"custom_fields"`
}

// Jira is one configured project.
type Jira struct {
	name    string
	base    string // without a trailing slash
	v2      bool
	auth    string
	project string
	cfg     Config
	client  *http.Client
}

var (
	projectKey = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,254}$`)
	fieldID    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,254}$`)
	reserved   = map[string]bool{"project": true, "summary": true, "issuetype": true, "description": true, "labels": true, "priority": true, "components": true}
)

// New checks cfg (errors name the field) and reads the token.
func New(name string, cfg Config, getenv func(string) string, timeout time.Duration) (*Jira, error) {
	u, err := target.HTTPURL("url", cfg.URL)
	if err != nil {
		return nil, err
	}
	j := &Jira{name: name, base: strings.TrimRight(u.String(), "/"), cfg: cfg, client: target.Client(timeout)}
	switch cfg.API {
	case "", "cloud":
	case "datacenter":
		j.v2 = true
	default:
		return nil, fmt.Errorf("api: want cloud or datacenter, got %q", cfg.API)
	}
	token, err := target.Secret("token", cfg.TokenEnv, cfg.TokenFile, getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Email != "" {
		j.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Email+":"+token))
	} else {
		j.auth = "Bearer " + token
	}
	if !projectKey.MatchString(cfg.Project) {
		return nil, fmt.Errorf("project: %q is not a Jira project key (upper-case letters, digits and _, starting with a letter)", cfg.Project)
	}
	j.project = cfg.Project
	if j.cfg.IssueType == "" {
		j.cfg.IssueType = "Bug"
	}
	for i, l := range cfg.Labels {
		if l == "" || len(l) > 255 || strings.ContainsAny(l, " \t\r\n") {
			return nil, fmt.Errorf("labels[%d]: %q: a Jira label is 1 to 255 characters without spaces", i, l)
		}
	}
	if cfg.Priority == nil {
		j.cfg.Priority = map[string]string{"critical": "Highest", "warning": "High"}
	}
	for sev := range j.cfg.Priority {
		if sev != "critical" && sev != "warning" {
			return nil, fmt.Errorf("priority: key %q: want critical or warning", sev)
		}
	}
	for i, c := range cfg.Components {
		if strings.TrimSpace(c) == "" {
			return nil, fmt.Errorf("components[%d]: must not be empty", i)
		}
	}
	for id, v := range cfg.CustomFields {
		if !fieldID.MatchString(id) || reserved[id] {
			return nil, fmt.Errorf("custom_fields: %q must be a field id such as customfield_10010, not one feedbackd sets", id)
		}
		if _, err := json.Marshal(v); err != nil {
			return nil, fmt.Errorf("custom_fields.%s: %w", id, err)
		}
	}
	return j, nil
}

func (j *Jira) Name() string { return j.name }

func (j *Jira) apiPath() string {
	if j.v2 {
		return "/rest/api/2"
	}
	return "/rest/api/3"
}

var hints = target.Hints{
	Auth:     "check email and token_env/token_file (Jira Cloud: account e-mail and API token; Data Center: personal access token) and that the user may create issues in the project",
	NotFound: "check url, api (cloud or datacenter) and project",
}

// Open finds the feedback's ticket or creates it.
func (j *Jira) Open(ctx context.Context, is *target.Issue) (feedback.Ticket, error) {
	marker := target.Marker(is.FeedbackID)
	key, err := j.find(ctx, marker)
	if err != nil {
		return feedback.Ticket{}, err
	}
	if key == "" {
		if key, err = j.create(ctx, is, marker); err != nil {
			return feedback.Ticket{}, err
		}
	}
	return feedback.Ticket{System: "jira", Key: key, URL: j.base + "/browse/" + url.PathEscape(key)}, nil
}

// JQL is the look-up query. Both values are quoted JQL strings, so neither
// the configured project nor the label can change the query's structure.
func JQL(project, label string) string {
	return "project = " + quote(project) + " AND labels = " + quote(label) + " ORDER BY created ASC"
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s) + `"`
}

// find returns the key of the oldest issue carrying marker, or "". Cloud
// uses /search/jql: /search was removed from Jira Cloud (answers 410), and
// Data Center has only /search.
func (j *Jira) find(ctx context.Context, marker string) (string, error) {
	q := url.Values{"jql": {JQL(j.project, marker)}, "fields": {"summary"}, "maxResults": {"1"}}
	path := j.apiPath() + "/search/jql"
	if j.v2 {
		path = j.apiPath() + "/search"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	j.headers(req)
	body, _, err := target.Do(j.client, j.name, req, hints)
	if e, ok := target.AsError(err); ok && e.Class == target.Invalid {
		// The query's only configured part is the project: a 400 to it
		// means Jira does not know the project (or this user cannot see it).
		e.Class, e.Hint = target.NotFound, "project "+j.project+" not found or not visible to this user"
		return "", e
	}
	if err != nil {
		return "", err
	}
	var res struct {
		Issues []struct {
			Key string `json:"key"`
		} `json:"issues"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return "", &target.Error{Target: j.name, Class: target.Retry, Body: "search answer is not JSON: " + target.Verbatim(body)}
	}
	if len(res.Issues) == 0 {
		return "", nil
	}
	if res.Issues[0].Key == "" {
		return "", &target.Error{Target: j.name, Class: target.Retry, Body: "search answer without an issue key: " + target.Verbatim(body)}
	}
	return res.Issues[0].Key, nil
}

func (j *Jira) headers(req *http.Request) {
	req.Header.Set("Authorization", j.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "feedbackd")
}

// Fields is the create request's fields object.
func (j *Jira) Fields(is *target.Issue, marker string) map[string]any {
	f := map[string]any{
		"project":   map[string]string{"key": j.project},
		"summary":   summary(is.Title),
		"issuetype": map[string]string{"name": j.cfg.IssueType},
		"labels":    append(append([]string{}, j.cfg.Labels...), marker),
	}
	if j.v2 {
		f["description"] = Wiki(is)
	} else {
		f["description"] = ADF(is)
	}
	if p := j.cfg.Priority[is.Severity]; p != "" {
		f["priority"] = map[string]string{"name": p}
	}
	if len(j.cfg.Components) > 0 {
		cs := make([]map[string]string, len(j.cfg.Components))
		for i, c := range j.cfg.Components {
			cs[i] = map[string]string{"name": c}
		}
		f["components"] = cs
	}
	ids := make([]string, 0, len(j.cfg.CustomFields))
	for id := range j.cfg.CustomFields {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		f[id] = j.cfg.CustomFields[id]
	}
	return f
}

// summary fits Jira's one-line, 255-character summary.
func summary(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 255 {
		s = string(r[:254]) + "…"
	}
	return s
}

func (j *Jira) create(ctx context.Context, is *target.Issue, marker string) (string, error) {
	body, err := json.Marshal(map[string]any{"fields": j.Fields(is, marker)})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.base+j.apiPath()+"/issue", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	j.headers(req)
	req.Header.Set("Content-Type", "application/json")
	answer, _, err := target.Do(j.client, j.name, req, hints)
	if err != nil {
		return "", err
	}
	var created struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(answer, &created); err != nil || created.Key == "" {
		return "", &target.Error{Target: j.name, Class: target.Retry, Body: "create answer without an issue key: " + target.Verbatim(answer)}
	}
	return created.Key, nil
}
