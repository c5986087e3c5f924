package trackertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Jira stands in for one Jira site with one project.
type Jira struct {
	recorder
	// V2 makes it Data Center/Server (REST v2, wiki markup descriptions);
	// otherwise it is Jira Cloud (REST v3, /search/jql, ADF).
	V2 bool
	// Base is the site URL the answers' self links use.
	Base    string
	Project string
	// Auth is the Authorization header every request must carry.
	Auth string
	// Custom are the custom field ids the create screen has.
	Custom map[string]bool

	issues []JiraIssue
}

// JiraIssue is an issue the stand-in holds.
type JiraIssue struct {
	ID, Key string
	Fields  map[string]json.RawMessage
	Labels  []string
}

// Issues is a copy of the issues opened.
func (j *Jira) Issues() []JiraIssue {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]JiraIssue(nil), j.issues...)
}

// Seed adds an issue as if created earlier (by a previous attempt).
func (j *Jira) Seed(labels ...string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.add(map[string]json.RawMessage{"summary": json.RawMessage(`"seeded"`)}, labels).Key
}

func (j *Jira) add(fields map[string]json.RawMessage, labels []string) JiraIssue {
	n := len(j.issues) + 1
	is := JiraIssue{ID: strconv.Itoa(10000 + n), Key: fmt.Sprintf("%s-%d", j.Project, n), Fields: fields, Labels: labels}
	j.issues = append(j.issues, is)
	return is
}

func (j *Jira) api() string {
	if j.V2 {
		return "/rest/api/2"
	}
	return "/rest/api/3"
}

// jqlShape is the only JQL implemented: project and label equality on
// quoted strings.
var jqlShape = regexp.MustCompile(`^project = ("(?:[^"\\]|\\.)*") AND labels = ("(?:[^"\\]|\\.)*") ORDER BY created ASC$`)

func jqlString(q string) string {
	s, err := strconv.Unquote(q) // JQL's escapes are a subset of Go's
	if err != nil {
		return "\x00invalid"
	}
	return s
}

func jiraErrors(w http.ResponseWriter, status int, messages []string, errs map[string]string) {
	if messages == nil {
		messages = []string{}
	}
	if errs == nil {
		errs = map[string]string{}
	}
	writeJSON(w, status, map[string]any{"errorMessages": messages, "errors": errs})
}

func (j *Jira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, failed := j.record(w, r)
	if failed {
		return
	}
	if r.Header.Get("Authorization") != j.Auth {
		w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
		http.Error(w, "Client must be authenticated to access this resource.", http.StatusUnauthorized)
		return
	}
	if r.Header.Get("Accept") != "application/json" {
		jiraErrors(w, http.StatusNotAcceptable, []string{"want Accept: application/json"}, nil)
		return
	}
	search := j.api() + "/search/jql"
	if j.V2 {
		search = j.api() + "/search"
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == search:
		j.search(w, r)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/search") && !j.V2:
		// Jira Cloud removed the old search.
		jiraErrors(w, http.StatusGone, []string{"The requested API has been removed. Please migrate to the /rest/api/3/search/jql API."}, nil)
	case r.Method == http.MethodPost && r.URL.Path == j.api()+"/issue":
		j.create(w, r, body)
	default:
		jiraErrors(w, http.StatusNotFound, []string{"not implemented by the stand-in: " + r.Method + " " + r.URL.Path}, nil)
	}
}

func (j *Jira) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "jql" && k != "fields" && k != "maxResults" {
			jiraErrors(w, http.StatusBadRequest, []string{"unsupported parameter " + k}, nil)
			return
		}
	}
	m := jqlShape.FindStringSubmatch(q.Get("jql"))
	if m == nil {
		jiraErrors(w, http.StatusBadRequest, []string{"Error in the JQL Query: the stand-in implements only project = \"…\" AND labels = \"…\" ORDER BY created ASC, got " + q.Get("jql")}, nil)
		return
	}
	project, label := jqlString(m[1]), jqlString(m[2])
	if project != j.Project {
		jiraErrors(w, http.StatusBadRequest, []string{fmt.Sprintf("The value '%s' does not exist for the field 'project'.", project)}, nil)
		return
	}
	j.mu.Lock()
	var found []map[string]any
	for _, is := range j.issues {
		for _, l := range is.Labels {
			if l == label {
				found = append(found, map[string]any{"expand": "", "id": is.ID, "key": is.Key,
					"self": j.Base + j.api() + "/issue/" + is.ID, "fields": map[string]json.RawMessage{"summary": is.Fields["summary"]}})
				break
			}
		}
	}
	j.mu.Unlock()
	if max, err := strconv.Atoi(q.Get("maxResults")); err == nil && len(found) > max {
		found = found[:max]
	}
	if found == nil {
		found = []map[string]any{}
	}
	if j.V2 {
		writeJSON(w, http.StatusOK, map[string]any{"expand": "names,schema", "startAt": 0, "maxResults": 1, "total": len(found), "issues": found})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"isLast": true, "issues": found})
}

var priorities = map[string]bool{"Highest": true, "High": true, "Medium": true, "Low": true, "Lowest": true}

func (j *Jira) create(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Header.Get("Content-Type") != "application/json" {
		jiraErrors(w, http.StatusUnsupportedMediaType, []string{"want Content-Type: application/json"}, nil)
		return
	}
	var req struct {
		Fields map[string]json.RawMessage `json:"fields"`
	}
	if err := strictDecode(body, &req); err != nil || req.Fields == nil {
		jiraErrors(w, http.StatusBadRequest, []string{"Can not deserialize the request: want {\"fields\": {…}}"}, nil)
		return
	}
	errs := map[string]string{}
	var project struct{ Key string }
	if json.Unmarshal(req.Fields["project"], &project) != nil || project.Key != j.Project {
		errs["project"] = "valid project is required"
	}
	var summary string
	if json.Unmarshal(req.Fields["summary"], &summary) != nil || summary == "" || len([]rune(summary)) > 255 || strings.ContainsAny(summary, "\r\n") {
		errs["summary"] = "You must specify a summary of the issue."
	}
	var issueType struct{ Name string }
	if json.Unmarshal(req.Fields["issuetype"], &issueType) != nil || issueType.Name == "" {
		errs["issuetype"] = "The issue type selected is invalid."
	}
	var labels []string
	if raw, ok := req.Fields["labels"]; ok {
		if json.Unmarshal(raw, &labels) != nil {
			errs["labels"] = "labels must be a list of strings"
		}
		for _, l := range labels {
			if strings.ContainsAny(l, " \t\r\n") || l == "" {
				errs["labels"] = "The label '" + l + "' contains spaces which is invalid."
			}
		}
	}
	if raw, ok := req.Fields["priority"]; ok {
		var p struct{ Name string }
		if json.Unmarshal(raw, &p) != nil || !priorities[p.Name] {
			errs["priority"] = "Specify a valid priority."
		}
	}
	if raw, ok := req.Fields["components"]; ok {
		var cs []struct{ Name string }
		if json.Unmarshal(raw, &cs) != nil || len(cs) == 0 {
			errs["components"] = "Component name is required."
		}
	}
	if raw, ok := req.Fields["description"]; ok {
		if j.V2 {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				errs["description"] = "Operation value must be a string"
			}
		} else if err := checkADF(raw); err != nil {
			errs["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format): " + err.Error()
		}
	}
	for k := range req.Fields {
		switch k {
		case "project", "summary", "issuetype", "labels", "priority", "components", "description":
		default:
			if !j.Custom[k] {
				errs[k] = fmt.Sprintf("Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k)
			}
		}
	}
	if len(errs) > 0 {
		jiraErrors(w, http.StatusBadRequest, nil, errs)
		return
	}
	j.mu.Lock()
	is := j.add(req.Fields, labels)
	j.mu.Unlock()
	j.crashPoint()
	// The documented 201 answer.
	writeJSON(w, http.StatusCreated, map[string]any{"id": is.ID, "key": is.Key, "self": j.Base + j.api() + "/issue/" + is.ID,
		"transition": map[string]any{"status": 200, "errorCollection": map[string]any{"errorMessages": []string{}, "errors": map[string]string{}}}})
}

// adfNodes are the ADF node types with the children they allow ("" for a
// leaf); the subset feedbackd writes, checked as the ADF schema does.
var adfNodes = map[string][]string{
	"doc":        {"paragraph", "bulletList", "heading", "codeBlock"},
	"paragraph":  {"text"},
	"heading":    {"text"},
	"codeBlock":  {"text"},
	"bulletList": {"listItem"},
	"listItem":   {"paragraph"},
	"text":       nil,
}

var adfMarks = map[string]bool{"strong": true, "code": true, "link": true, "em": true}

type adfNode struct {
	Type    string                     `json:"type"`
	Version *int                       `json:"version"`
	Attrs   map[string]json.RawMessage `json:"attrs"`
	Content []adfNode                  `json:"content"`
	Text    *string                    `json:"text"`
	Marks   []struct {
		Type  string                     `json:"type"`
		Attrs map[string]json.RawMessage `json:"attrs"`
	} `json:"marks"`
}

func checkADF(raw json.RawMessage) error {
	var doc adfNode
	if err := strictDecode(raw, &doc); err != nil {
		return err
	}
	if doc.Type != "doc" || doc.Version == nil || *doc.Version != 1 {
		return fmt.Errorf(`the root must be {"type":"doc","version":1}`)
	}
	return checkNode(&doc, true)
}

func checkNode(n *adfNode, root bool) error {
	allowed, known := adfNodes[n.Type]
	if !known || (n.Type == "doc") != root {
		return fmt.Errorf("node type %q not allowed here", n.Type)
	}
	if !root && n.Version != nil {
		return fmt.Errorf("only the doc node has a version")
	}
	if n.Type == "text" {
		if n.Text == nil || *n.Text == "" {
			return fmt.Errorf("a text node needs non-empty text")
		}
		for _, m := range n.Marks {
			if !adfMarks[m.Type] {
				return fmt.Errorf("mark %q not allowed", m.Type)
			}
			if m.Type == "link" {
				var href string
				if json.Unmarshal(m.Attrs["href"], &href) != nil {
					return fmt.Errorf("a link mark needs attrs.href")
				}
				if u, err := url.Parse(href); err != nil || u.Scheme == "" {
					return fmt.Errorf("link href %q is not a URL", href)
				}
			}
		}
		return nil
	}
	if n.Text != nil || len(n.Marks) > 0 {
		return fmt.Errorf("%s takes no text or marks", n.Type)
	}
	if n.Type == "heading" {
		var level int
		if json.Unmarshal(n.Attrs["level"], &level) != nil || level < 1 || level > 6 {
			return fmt.Errorf("a heading needs attrs.level 1 to 6")
		}
	}
	if len(n.Content) == 0 && n.Type != "paragraph" {
		return fmt.Errorf("%s needs content", n.Type)
	}
	for i := range n.Content {
		ok := false
		for _, a := range allowed {
			ok = ok || a == n.Content[i].Type
		}
		if !ok {
			return fmt.Errorf("%s cannot contain %s", n.Type, n.Content[i].Type)
		}
		if err := checkNode(&n.Content[i], false); err != nil {
			return err
		}
	}
	return nil
}
