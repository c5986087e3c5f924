package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// The widget is embedded as built by sdk/js (npm --prefix sdk/js run build:demo
// copies it here), so the demo binary, its Go-only image and go test need no
// Node; sdk/js's tests fail when this copy differs from a fresh build.
//
//go:embed chat/feedback-thumbs.js
var widgetJS []byte

//go:embed chat/index.html
var chatHTML string

var chatPage = template.Must(template.New("chat").Parse(chatHTML))

// MaxQuestionBytes bounds one chat question.
const MaxQuestionBytes = 2048

// ChatConfig configures the chat page.
type ChatConfig struct {
	// Config says where the interaction snapshots go (FeedbackdURL, Token,
	// HTTPClient, Log) and seeds the answers (Seed).
	Config
	// WidgetEndpoint is feedbackd's base URL as the visitor's browser reaches
	// it; WidgetToken a browser token (feedbackd --browser-tokens) whose
	// --cors-origins list holds the chat page's origin.
	WidgetEndpoint string
	WidgetToken    string
}

// Chat is a small support chat with the simulated support-bot: each answer is
// recorded as an interaction snapshot in feedbackd and shown with a
// <feedback-thumbs>, so a person's thumbs and reasons join the traffic the
// dashboards show.
type Chat struct {
	cfg ChatConfig
	r   *runner
	mu  sync.Mutex
	sim *simulator
}

// NewChat returns the chat's handler: GET / (the page), GET
// /feedback-thumbs.js (the widget) and POST /chat (one question).
func NewChat(cfg ChatConfig) http.Handler {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.WidgetEndpoint == "" {
		cfg.WidgetEndpoint = cfg.FeedbackdURL
	}
	c := &Chat{cfg: cfg, r: &runner{cfg: cfg.Config}, sim: newSimulator(cfg.Seed ^ rand.Uint64())}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.page)
	mux.HandleFunc("GET /feedback-thumbs.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(widgetJS)
	})
	mux.HandleFunc("POST /chat", c.answer)
	return mux
}

func (c *Chat) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := chatPage.Execute(w, map[string]string{"Endpoint": strings.TrimRight(c.cfg.WidgetEndpoint, "/"), "Token": c.cfg.WidgetToken})
	if err != nil {
		c.cfg.Log.Warn("chat page not written", "error", err)
	}
}

// ChatAnswer is POST /chat's answer: what the page needs to show the answer
// and to tie the visitor's feedback to it.
type ChatAnswer struct {
	Answer        string         `json:"answer"`
	CorrelationID string         `json:"correlation_id"`
	Model         feedback.Model `json:"model"`
}

func (c *Chat) answer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Question string `json:"question"`
		UserID   string `json:"user_id"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4*MaxQuestionBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		chatError(w, http.StatusBadRequest, "want a JSON body {\"question\": \"...\", \"user_id\": \"...\"}: "+err.Error())
		return
	}
	q := strings.TrimSpace(req.Question)
	switch {
	case q == "":
		chatError(w, http.StatusBadRequest, "question: required")
		return
	case len(q) > MaxQuestionBytes || !utf8.ValidString(q):
		chatError(w, http.StatusBadRequest, "question: at most 2048 bytes of UTF-8")
		return
	case len(req.UserID) > feedback.MaxIDBytes:
		chatError(w, http.StatusBadRequest, "user_id: at most 256 bytes")
		return
	}
	c.mu.Lock()
	in := c.sim.next()
	c.mu.Unlock()
	ev := in.Event
	ev.Context.Input = q
	ev.User = nil
	if req.UserID != "" {
		ev.User = &feedback.User{ID: req.UserID}
	}
	if errs := ev.Validate(); len(errs) > 0 {
		chatError(w, http.StatusBadRequest, errs[0].Error())
		return
	}
	// The snapshot is stored before the answer is shown, so the feedback on
	// it always finds what it is about.
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	if _, err := c.r.post(ctx, "/v1/interactions", []feedback.Event{ev}); err != nil {
		code := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		c.cfg.Log.Warn("chat interaction not recorded", "error", err)
		chatError(w, code, "feedbackd did not record the interaction: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ChatAnswer{Answer: ev.Context.Output, CorrelationID: ev.CorrelationID, Model: ev.Model})
}

func chatError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
