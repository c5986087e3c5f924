package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Resolution is what the demo's team declares once v3 is out: it fixes the
// hallucinations and the bias v2 brought. Posted to feedbackd, it makes the
// close-the-loop rule notify the users who reported them.
func Resolution(seed uint64, at time.Time) feedback.Event {
	v3 := Versions[2]
	return feedback.Event{
		Kind: feedback.KindResolution, ResolutionID: fmt.Sprintf("res-demo-%d", seed), Timestamp: feedback.NewTime(at),
		Model:   feedback.Model{ID: ModelID, Version: v3.Name},
		Fixes:   &feedback.Fixes{Tags: []string{"hallucination", "bias"}},
		Comment: v3.PromptVersion + " answers only from the help center, with citations, at temperature 0.3",
	}
}

// TicketSystem plays Jira Cloud behind feedbackd's escalation rule (a jira
// target with url http://feedback-demo:9464/tickets, see
// deploy/feedbackd/feedbackd.yaml): the two REST v3 calls the target makes,
// a JQL search on the feedback's label and the issue create, in the
// documented shapes. It refuses anything else, so the dev stack exercises
// the real jira target.
type TicketSystem struct {
	mu      sync.Mutex
	byLabel map[string]string
	opened  prometheus.Counter
}

// TicketProject is the demo's Jira project key.
const TicketProject = "SUP"

// NewTicketSystem registers feedback_demo_tickets_total with reg (nil: none).
func NewTicketSystem(reg prometheus.Registerer) *TicketSystem {
	t := &TicketSystem{byLabel: map[string]string{},
		opened: prometheus.NewCounter(prometheus.CounterOpts{Name: "feedback_demo_tickets_total", Help: "Tickets opened by feedbackd's escalations."})}
	if reg != nil {
		reg.MustRegister(t.opened)
	}
	return t
}

// demoJQL is the one query answered: the jira target's look-up.
var demoJQL = regexp.MustCompile(`^project = "` + TicketProject + `" AND labels = "(feedback-[A-Za-z0-9_.:-]+)" ORDER BY created ASC$`)

func jiraError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errorMessages": []string{msg}, "errors": map[string]string{}})
}

func (t *TicketSystem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
		jiraError(w, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/rest/api/3/search/jql":
		m := demoJQL.FindStringSubmatch(r.URL.Query().Get("jql"))
		if m == nil {
			jiraError(w, http.StatusBadRequest, "the demo answers only the jira target's look-up JQL")
			return
		}
		t.mu.Lock()
		key, ok := t.byLabel[m[1]]
		t.mu.Unlock()
		issues := []map[string]string{}
		if ok {
			issues = append(issues, map[string]string{"id": strings.TrimPrefix(key, TicketProject+"-"), "key": key})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"isLast": true, "issues": issues})
	case r.Method == http.MethodPost && r.URL.Path == "/rest/api/3/issue":
		var req struct {
			Fields struct {
				Project     struct{ Key string }  `json:"project"`
				Summary     string                `json:"summary"`
				IssueType   struct{ Name string } `json:"issuetype"`
				Labels      []string              `json:"labels"`
				Description struct {
					Type    string `json:"type"`
					Version int    `json:"version"`
				} `json:"description"`
			} `json:"fields"`
		}
		if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil {
			jiraError(w, http.StatusBadRequest, "want a JSON body {\"fields\": {…}}")
			return
		}
		f := req.Fields
		label := ""
		for _, l := range f.Labels {
			if demoJQL.MatchString(`project = "` + TicketProject + `" AND labels = "` + l + `" ORDER BY created ASC`) {
				label = l
			}
		}
		if f.Project.Key != TicketProject || f.Summary == "" || f.IssueType.Name == "" || f.Description.Type != "doc" || f.Description.Version != 1 || label == "" {
			jiraError(w, http.StatusBadRequest, "want project SUP, a summary, an issue type, an ADF description and a feedback-<id> label")
			return
		}
		t.mu.Lock()
		key, ok := t.byLabel[label]
		if !ok {
			key = fmt.Sprintf("%s-%d", TicketProject, 1001+len(t.byLabel))
			t.byLabel[label] = key
			t.opened.Inc()
		}
		t.mu.Unlock()
		id := strings.TrimPrefix(key, TicketProject+"-")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "key": key, "self": "http://feedback-demo:9464/tickets/rest/api/3/issue/" + id})
	default:
		jiraError(w, http.StatusNotFound, "not a Jira REST v3 call the demo answers")
	}
}

// Opened is how many distinct tickets were opened.
func (t *TicketSystem) Opened() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byLabel)
}

// Inbox plays the notification service behind feedbackd's close-the-loop
// rule (its --notify-url): it accepts each notice once per Idempotency-Key.
type Inbox struct {
	mu       sync.Mutex
	seen     map[string]bool
	received prometheus.Counter
}

// NewInbox registers feedback_demo_notifications_total with reg (nil: none).
func NewInbox(reg prometheus.Registerer) *Inbox {
	in := &Inbox{seen: map[string]bool{},
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "feedback_demo_notifications_total", Help: "Users told that a version fixes what they reported."})}
	if reg != nil {
		reg.MustRegister(in.received)
	}
	return in
}

func (in *Inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n struct {
		UserID       string `json:"user_id"`
		ResolutionID string `json:"resolution_id"`
	}
	idem := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&n) != nil || n.UserID == "" || !strings.HasPrefix(idem, n.ResolutionID+":") {
		http.Error(w, "want POST with a JSON notice for one user and an Idempotency-Key of <resolution_id>:<user_id>", http.StatusBadRequest)
		return
	}
	in.mu.Lock()
	if !in.seen[idem] {
		in.seen[idem] = true
		in.received.Inc()
	}
	in.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Notified is how many distinct notices were received.
func (in *Inbox) Notified() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.seen)
}
