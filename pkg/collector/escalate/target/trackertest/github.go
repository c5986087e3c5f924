package trackertest

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// GitHub stands in for GitHub's REST API with one repository.
type GitHub struct {
	recorder
	Owner, Repo string
	Token       string
	// SearchLag hides the newest issues from the search API, as its index
	// trails creates.
	SearchLag int

	issues []GitHubIssue
}

// GitHubIssue is an issue the stand-in holds.
type GitHubIssue struct {
	Number      int
	Title, Body string
	Labels      []string
	PullRequest bool
}

// Issues is a copy of the issues created.
func (g *GitHub) Issues() []GitHubIssue {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitHubIssue(nil), g.issues...)
}

// Seed adds an issue (or pull request) as if created earlier.
func (g *GitHub) Seed(is GitHubIssue) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	is.Number = 1347 + len(g.issues)
	g.issues = append(g.issues, is)
	return is.Number
}

func (g *GitHub) json(is GitHubIssue) map[string]any {
	labels := []map[string]any{}
	for i, l := range is.Labels {
		labels = append(labels, map[string]any{"id": 208045946 + i, "name": l, "color": "f29513", "default": false})
	}
	repoAPI := "https://api.github.com/repos/" + g.Owner + "/" + g.Repo
	m := map[string]any{
		"id": 1 + is.Number, "node_id": "MDU6SXNzdWUx", "url": repoAPI + "/issues/" + strconv.Itoa(is.Number),
		"repository_url": repoAPI, "html_url": "https://github.com/" + g.Owner + "/" + g.Repo + "/issues/" + strconv.Itoa(is.Number),
		"number": is.Number, "state": "open", "title": is.Title, "body": is.Body, "labels": labels,
		"user": map[string]any{"login": "feedbackd-bot", "id": 1}, "locked": false, "comments": 0,
		"created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:00:00Z", "closed_at": nil, "author_association": "COLLABORATOR",
	}
	if is.PullRequest {
		m["pull_request"] = map[string]any{"url": repoAPI + "/pulls/" + strconv.Itoa(is.Number)}
	}
	return m
}

func ghError(w http.ResponseWriter, status int, msg string, errs ...map[string]string) {
	body := map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest", "status": strconv.Itoa(status)}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

// searchShape is the q the stand-in implements.
var searchShape = regexp.MustCompile(`^repo:([^ ]+) is:issue label:"([^"]+)" "([^"]+)" in:body$`)

func (g *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, failed := g.record(w, r)
	if failed {
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+g.Token {
		ghError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.github+json" || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" || r.Header.Get("User-Agent") == "" {
		ghError(w, http.StatusBadRequest, "want Accept: application/vnd.github+json, X-GitHub-Api-Version: 2022-11-28 and a User-Agent")
		return
	}
	issues := "/repos/" + g.Owner + "/" + g.Repo + "/issues"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == issues:
		q := r.URL.Query()
		if q.Get("state") != "all" || q.Get("labels") == "" || q.Get("sort") != "created" || q.Get("direction") != "desc" {
			ghError(w, http.StatusBadRequest, "the stand-in lists issues by labels, state=all, newest first")
			return
		}
		per, _ := strconv.Atoi(q.Get("per_page"))
		g.mu.Lock()
		out := []map[string]any{}
		for i := len(g.issues) - 1; i >= 0 && len(out) < per; i-- {
			if has(g.issues[i].Labels, q.Get("labels")) {
				out = append(out, g.json(g.issues[i]))
			}
		}
		g.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodGet && r.URL.Path == "/search/issues":
		m := searchShape.FindStringSubmatch(r.URL.Query().Get("q"))
		if m == nil || m[1] != g.Owner+"/"+g.Repo {
			ghError(w, http.StatusUnprocessableEntity, "Validation Failed: the stand-in implements repo:OWNER/REPO is:issue label:\"…\" \"…\" in:body, got "+r.URL.Query().Get("q"))
			return
		}
		g.mu.Lock()
		items := []map[string]any{}
		for _, is := range g.issues[:max(0, len(g.issues)-g.SearchLag)] {
			if !is.PullRequest && has(is.Labels, m[2]) && strings.Contains(is.Body, m[3]) {
				items = append(items, g.json(is))
			}
		}
		g.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"total_count": len(items), "incomplete_results": false, "items": items})
	case r.Method == http.MethodPost && r.URL.Path == issues:
		var req struct {
			Title  *string  `json:"title"`
			Body   string   `json:"body"`
			Labels []string `json:"labels"`
		}
		if err := strictDecode(body, &req); err != nil {
			ghError(w, http.StatusBadRequest, "Problems parsing JSON: "+err.Error())
			return
		}
		if req.Title == nil || *req.Title == "" {
			ghError(w, http.StatusUnprocessableEntity, "Validation Failed", map[string]string{"resource": "Issue", "code": "missing_field", "field": "title"})
			return
		}
		g.mu.Lock()
		is := GitHubIssue{Number: 1347 + len(g.issues), Title: *req.Title, Body: req.Body, Labels: req.Labels}
		g.issues = append(g.issues, is)
		g.mu.Unlock()
		g.crashPoint()
		w.Header().Set("Location", fmt.Sprintf("https://api.github.com/repos/%s/%s/issues/%d", g.Owner, g.Repo, is.Number))
		writeJSON(w, http.StatusCreated, g.json(is))
	default:
		ghError(w, http.StatusNotFound, "Not Found")
	}
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
