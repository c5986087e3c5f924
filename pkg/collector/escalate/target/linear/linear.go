// Package linear opens escalation tickets in Linear through its GraphQL API
// (issueCreate), authenticated with a personal API key.
//
// The description ends with target.Marker(feedback id); before creating, an
// issues query filtered on the team and on a description containing the
// marker finds the issue a previous attempt opened. Every value travels as a
// GraphQL variable, never spliced into the query text.
package linear

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// DefaultURL is Linear's GraphQL endpoint.
const DefaultURL = "https://api.linear.app/graphql"

// Config is one linear target in the escalation section of the YAML file.
type Config struct {
	// URL is the GraphQL endpoint; DefaultURL when empty.
	URL        string `yaml:"url"`
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
	// Team is the team's key, e.g. UX (the prefix of its issue ids).
	Team string `yaml:"team"`
	// Labels are label names, of the team or the workspace.
	Labels []string `yaml:"labels"`
	// Priority maps a severity to Linear's priority: 0 none, 1 urgent,
	// 2 high, 3 medium, 4 low. Default: critical → 1, warning → 2.
	Priority map[string]int `yaml:"priority"`
}

// Linear is one configured team.
type Linear struct {
	name   string
	url    string
	key    string
	cfg    Config
	client *http.Client

	mu       sync.Mutex
	teamID   string
	labelIDs []string
}

var teamKey = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)

// New checks cfg (errors name the field) and reads the API key.
func New(name string, cfg Config, getenv func(string) string, timeout time.Duration) (*Linear, error) {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	if _, err := target.HTTPURL("url", cfg.URL); err != nil {
		return nil, err
	}
	key, err := target.Secret("api_key", cfg.APIKeyEnv, cfg.APIKeyFile, getenv)
	if err != nil {
		return nil, err
	}
	if !teamKey.MatchString(cfg.Team) {
		return nil, fmt.Errorf("team: %q is not a Linear team key (letters and digits, e.g. UX)", cfg.Team)
	}
	for i, l := range cfg.Labels {
		if strings.TrimSpace(l) == "" {
			return nil, fmt.Errorf("labels[%d]: must not be empty", i)
		}
	}
	if cfg.Priority == nil {
		cfg.Priority = map[string]int{"critical": 1, "warning": 2}
	}
	for sev, p := range cfg.Priority {
		if sev != "critical" && sev != "warning" {
			return nil, fmt.Errorf("priority: key %q: want critical or warning", sev)
		}
		if p < 0 || p > 4 {
			return nil, fmt.Errorf("priority.%s: want 0 (none) to 4 (low), got %d", sev, p)
		}
	}
	return &Linear{name: name, url: cfg.URL, key: key, cfg: cfg, client: target.Client(timeout)}, nil
}

func (l *Linear) Name() string { return l.name }

// The documents sent, fixed text; the values go in variables.
const (
	TeamQuery   = `query FeedbackTeam($key: String!) { teams(filter: {key: {eq: $key}}) { nodes { id key } } }`
	LabelsQuery = `query FeedbackLabels($names: [String!]!) { issueLabels(filter: {name: {in: $names}}) { nodes { id name team { id } } } }`
	FindQuery   = `query FeedbackIssue($team: ID!, $marker: String!) { issues(first: 1, includeArchived: true, filter: {team: {id: {eq: $team}}, description: {contains: $marker}}) { nodes { id identifier url } } }`
	CreateIssue = `mutation FeedbackIssueCreate($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier url } } }`
)

type issueNode struct {
	ID         string `json:"id"`
	Identifier string `json:"identifier"`
	URL        string `json:"url"`
}

// Open finds the feedback's issue or creates it.
func (l *Linear) Open(ctx context.Context, is *target.Issue) (feedback.Ticket, error) {
	team, labels, err := l.resolve(ctx)
	if err != nil {
		return feedback.Ticket{}, err
	}
	marker := target.Marker(is.FeedbackID)
	var found struct {
		Issues struct {
			Nodes []issueNode `json:"nodes"`
		} `json:"issues"`
	}
	if err := l.call(ctx, FindQuery, map[string]any{"team": team, "marker": marker}, &found); err != nil {
		return feedback.Ticket{}, err
	}
	if len(found.Issues.Nodes) > 0 {
		return l.ticket(found.Issues.Nodes[0])
	}
	input := map[string]any{"teamId": team, "title": is.Title, "description": target.Markdown(is, marker)}
	if p, ok := l.cfg.Priority[is.Severity]; ok {
		input["priority"] = p
	}
	if len(labels) > 0 {
		input["labelIds"] = labels
	}
	var created struct {
		IssueCreate struct {
			Success bool       `json:"success"`
			Issue   *issueNode `json:"issue"`
		} `json:"issueCreate"`
	}
	if err := l.call(ctx, CreateIssue, map[string]any{"input": input}, &created); err != nil {
		return feedback.Ticket{}, err
	}
	if !created.IssueCreate.Success || created.IssueCreate.Issue == nil {
		return feedback.Ticket{}, &target.Error{Target: l.name, Class: target.Retry, Body: "issueCreate answered without success"}
	}
	return l.ticket(*created.IssueCreate.Issue)
}

func (l *Linear) ticket(n issueNode) (feedback.Ticket, error) {
	if n.Identifier == "" {
		return feedback.Ticket{}, &target.Error{Target: l.name, Class: target.Retry, Body: "issue without an identifier"}
	}
	return feedback.Ticket{System: "linear", Key: n.Identifier, URL: n.URL}, nil
}

// resolve finds the team's and the labels' ids once.
func (l *Linear) resolve(ctx context.Context) (string, []string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.teamID != "" {
		return l.teamID, l.labelIDs, nil
	}
	var teams struct {
		Teams struct {
			Nodes []struct {
				ID string `json:"id"`
			} `json:"nodes"`
		} `json:"teams"`
	}
	if err := l.call(ctx, TeamQuery, map[string]any{"key": l.cfg.Team}, &teams); err != nil {
		return "", nil, err
	}
	if len(teams.Teams.Nodes) == 0 {
		return "", nil, &target.Error{Target: l.name, Class: target.NotFound, Hint: "team " + l.cfg.Team + " not found or not visible to this API key"}
	}
	team := teams.Teams.Nodes[0].ID
	var labelIDs []string
	if len(l.cfg.Labels) > 0 {
		var labels struct {
			IssueLabels struct {
				Nodes []struct {
					ID   string `json:"id"`
					Name string `json:"name"`
					Team *struct {
						ID string `json:"id"`
					} `json:"team"`
				} `json:"nodes"`
			} `json:"issueLabels"`
		}
		if err := l.call(ctx, LabelsQuery, map[string]any{"names": l.cfg.Labels}, &labels); err != nil {
			return "", nil, err
		}
		byName := map[string]string{}
		for _, n := range labels.IssueLabels.Nodes {
			if n.Team == nil || n.Team.ID == team {
				byName[n.Name] = n.ID
			}
		}
		for _, name := range l.cfg.Labels {
			id, ok := byName[name]
			if !ok {
				return "", nil, &target.Error{Target: l.name, Class: target.NotFound, Hint: "label " + name + " not found in team " + l.cfg.Team + " or the workspace"}
			}
			labelIDs = append(labelIDs, id)
		}
	}
	l.teamID, l.labelIDs = team, labelIDs
	return team, labelIDs, nil
}

type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Type                   string `json:"type"`
		Code                   string `json:"code"`
		UserPresentableMessage string `json:"userPresentableMessage"`
	} `json:"extensions"`
}

// call posts one GraphQL request and decodes its data into out. Linear
// reports errors in the body's errors list, with HTTP 200 or 400 alike, so
// they are classified by their extensions, then by status.
func (l *Linear) call(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", l.key) // an API key goes without "Bearer"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "feedbackd")
	resp, err := l.client.Do(req)
	if err != nil {
		return &target.Error{Target: l.name, Class: target.Retry, Body: err.Error()}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var res struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	decodeErr := json.Unmarshal(answer, &res)
	if decodeErr == nil && len(res.Errors) > 0 {
		return l.classify(resp.StatusCode, resp.Header, answer, res.Errors[0])
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return target.Classify(l.name, resp.StatusCode, resp.Header, answer, hints)
	}
	if decodeErr != nil || len(res.Data) == 0 || string(res.Data) == "null" {
		return &target.Error{Target: l.name, Class: target.Retry, Status: resp.StatusCode, Body: "answer without data: " + target.Verbatim(answer)}
	}
	if err := json.Unmarshal(res.Data, out); err != nil {
		return &target.Error{Target: l.name, Class: target.Retry, Body: "unexpected data: " + target.Verbatim(res.Data)}
	}
	return nil
}

var hints = target.Hints{
	Auth:     "check api_key_env/api_key_file (a personal API key with access to the team)",
	NotFound: "check url and team",
}

func (l *Linear) classify(status int, h http.Header, answer []byte, e gqlError) error {
	kind := strings.NewReplacer(" ", "", "_", "").Replace(strings.ToUpper(e.Extensions.Code + "|" + e.Extensions.Type))
	err := target.Classify(l.name, status, h, answer, hints)
	err.Body = target.Verbatim(answer)
	switch {
	case strings.Contains(kind, "RATELIMITED"):
		err.Class, err.After = target.Retry, target.RetryAfterOf(h)
	case strings.Contains(kind, "AUTHENTICATION") || strings.Contains(kind, "FORBIDDEN"):
		err.Class, err.Hint = target.Auth, hints.Auth
	case strings.Contains(kind, "NOTFOUND"):
		err.Class, err.Hint = target.NotFound, hints.NotFound
	case strings.Contains(kind, "INTERNAL") || strings.Contains(kind, "LOCKTIMEOUT"):
		err.Class = target.Retry
	case status >= 200 && status < 300 || strings.Contains(kind, "INVALIDINPUT") || strings.Contains(kind, "USERERROR") || strings.Contains(kind, "GRAPHQL"):
		err.Class, err.Hint = target.Invalid, ""
	}
	return err
}
