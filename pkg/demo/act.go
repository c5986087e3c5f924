package demo

import (
	"encoding/json"
	"fmt"
	"net/http"
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

// TicketSystem plays the ticket system behind feedbackd's escalation rule
// (its --escalate-url): it opens a ticket per Idempotency-Key and answers
// with its key and URL, the same ticket when asked again.
type TicketSystem struct {
	mu     sync.Mutex
	byKey  map[string]string
	opened prometheus.Counter
}

// NewTicketSystem registers feedback_demo_tickets_total with reg (nil: none).
func NewTicketSystem(reg prometheus.Registerer) *TicketSystem {
	t := &TicketSystem{byKey: map[string]string{},
		opened: prometheus.NewCounter(prometheus.CounterOpts{Name: "feedback_demo_tickets_total", Help: "Tickets opened by feedbackd's escalations."})}
	if reg != nil {
		reg.MustRegister(t.opened)
	}
	return t
}

func (t *TicketSystem) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		FeedbackID string `json:"feedback_id"`
	}
	idem := r.Header.Get("Idempotency-Key")
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.FeedbackID == "" || idem == "" {
		http.Error(w, "want POST with a JSON body naming feedback_id, and an Idempotency-Key", http.StatusBadRequest)
		return
	}
	t.mu.Lock()
	key, ok := t.byKey[idem]
	if !ok {
		key = fmt.Sprintf("SUP-%d", 1001+len(t.byKey))
		t.byKey[idem] = key
		t.opened.Inc()
	}
	t.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]string{"key": key, "url": "https://jira.example.com/browse/" + key})
}

// Opened is how many distinct tickets were opened.
func (t *TicketSystem) Opened() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey)
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
