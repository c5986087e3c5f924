package trackertest

import (
	_ "embed"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

//go:embed linear.graphql
var linearSDL string

var (
	linearSchemaOnce sync.Once
	linearSchema     *ast.Schema
)

func schema() *ast.Schema {
	linearSchemaOnce.Do(func() {
		linearSchema = gqlparser.MustLoadSchema(&ast.Source{Name: "linear.graphql", Input: linearSDL})
	})
	return linearSchema
}

// Linear stands in for Linear's GraphQL API with one workspace.
type Linear struct {
	recorder
	// Key is the personal API key, sent as the whole Authorization header.
	Key string
	// Teams maps team key → id; Labels label name → id (workspace labels).
	Teams  map[string]string
	Labels map[string]string

	issues []LinearIssue
}

// LinearIssue is an issue the stand-in holds.
type LinearIssue struct {
	ID, Identifier, URL, TeamID, Title, Description string
	Priority                                        int
	LabelIDs                                        []string
}

// Issues is a copy of the issues created.
func (l *Linear) Issues() []LinearIssue {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LinearIssue(nil), l.issues...)
}

// Seed adds an issue as if created earlier.
func (l *Linear) Seed(teamKey, description string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.add(LinearIssue{TeamID: l.Teams[teamKey], Title: "seeded", Description: description}).Identifier
}

func (l *Linear) add(is LinearIssue) LinearIssue {
	key := ""
	for k, id := range l.Teams {
		if id == is.TeamID {
			key = k
		}
	}
	n := len(l.issues) + 1
	is.ID = fmt.Sprintf("9cfb482a-81e3-4154-b5b9-2c805e70a0%02d", n)
	is.Identifier = fmt.Sprintf("%s-%d", key, n)
	is.URL = "https://linear.app/acme/issue/" + strings.ToLower(is.Identifier) + "/feedback"
	l.issues = append(l.issues, is)
	return is
}

type gqlErr struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func gqlError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, map[string]any{"errors": []gqlErr{{Message: msg, Extensions: map[string]any{"code": code, "type": strings.ToLower(strings.ReplaceAll(code, "_", " ")), "userPresentableMessage": msg}}}})
}

func (l *Linear) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, failed := l.record(w, r)
	if failed {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/graphql" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != l.Key {
		gqlError(w, http.StatusBadRequest, "Authentication required, not authenticated", "AUTHENTICATION_ERROR")
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		gqlError(w, http.StatusBadRequest, "want Content-Type: application/json", "BAD_REQUEST")
		return
	}
	var req struct {
		Query         string         `json:"query"`
		Variables     map[string]any `json:"variables"`
		OperationName string         `json:"operationName"`
	}
	if err := strictDecode(body, &req); err != nil {
		gqlError(w, http.StatusBadRequest, "body is not a GraphQL request: "+err.Error(), "BAD_REQUEST")
		return
	}
	doc, errs := gqlparser.LoadQuery(schema(), req.Query)
	if len(errs) > 0 {
		gqlError(w, http.StatusBadRequest, errs.Error(), "GRAPHQL_VALIDATION_FAILED")
		return
	}
	if len(doc.Operations) != 1 || len(doc.Operations[0].SelectionSet) != 1 {
		gqlError(w, http.StatusBadRequest, "the stand-in answers one operation with one root field", "BAD_REQUEST")
		return
	}
	op := doc.Operations[0]
	for _, v := range op.VariableDefinitions {
		if _, ok := req.Variables[v.Variable]; !ok && v.Type.NonNull {
			gqlError(w, http.StatusBadRequest, "Variable \"$"+v.Variable+"\" of required type was not provided.", "GRAPHQL_VALIDATION_FAILED")
			return
		}
	}
	field := op.SelectionSet[0].(*ast.Field)
	args := map[string]any{}
	for _, a := range field.Arguments {
		v, err := a.Value.Value(req.Variables)
		if err != nil {
			gqlError(w, http.StatusBadRequest, err.Error(), "GRAPHQL_VALIDATION_FAILED")
			return
		}
		args[a.Name] = v
	}
	data, err := l.execute(field.Name, args)
	if err != nil {
		gqlError(w, http.StatusBadRequest, err.Error(), "INVALID_INPUT")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{field.Alias: data}})
}

// path reads nested maps: get(m, "filter", "team", "id", "eq").
func get(m any, keys ...string) any {
	for _, k := range keys {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func (l *Linear) execute(field string, args map[string]any) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch field {
	case "teams":
		key, _ := get(args, "filter", "key", "eq").(string)
		nodes := []map[string]any{}
		if id, ok := l.Teams[key]; ok {
			nodes = append(nodes, map[string]any{"id": id, "key": key})
		}
		return map[string]any{"nodes": nodes}, nil
	case "issueLabels":
		names, _ := get(args, "filter", "name", "in").([]any)
		nodes := []map[string]any{}
		for _, n := range names {
			if id, ok := l.Labels[n.(string)]; ok {
				nodes = append(nodes, map[string]any{"id": id, "name": n, "team": nil})
			}
		}
		return map[string]any{"nodes": nodes}, nil
	case "issues":
		team, _ := get(args, "filter", "team", "id", "eq").(string)
		contains, _ := get(args, "filter", "description", "contains").(string)
		if team == "" || contains == "" {
			return nil, fmt.Errorf("the stand-in implements issues filtered by team id and description contains")
		}
		nodes := []map[string]any{}
		for _, is := range l.issues {
			if is.TeamID == team && strings.Contains(is.Description, contains) {
				nodes = append(nodes, map[string]any{"id": is.ID, "identifier": is.Identifier, "url": is.URL})
			}
		}
		return map[string]any{"nodes": nodes}, nil
	case "issueCreate":
		in, _ := args["input"].(map[string]any)
		team, _ := in["teamId"].(string)
		known := false
		for _, id := range l.Teams {
			known = known || id == team
		}
		if !known {
			return nil, fmt.Errorf("Entity not found: Team - Could not find referenced Team.")
		}
		is := LinearIssue{TeamID: team}
		is.Title, _ = in["title"].(string)
		is.Description, _ = in["description"].(string)
		switch p := in["priority"].(type) {
		case float64:
			is.Priority = int(p)
		case int64:
			is.Priority = int(p)
		}
		if ids, ok := in["labelIds"].([]any); ok {
			for _, id := range ids {
				is.LabelIDs = append(is.LabelIDs, id.(string))
			}
		}
		if is.Title == "" {
			return nil, fmt.Errorf("Argument Validation Error: title should not be empty")
		}
		created := l.add(is)
		func() {
			l.mu.Unlock()
			defer l.mu.Lock() // the deferred Unlock above must find it locked, even after a crash
			l.crashPoint()
		}()
		return map[string]any{"success": true, "issue": map[string]any{"id": created.ID, "identifier": created.Identifier, "url": created.URL}}, nil
	}
	return nil, fmt.Errorf("the stand-in does not implement %s", field)
}
