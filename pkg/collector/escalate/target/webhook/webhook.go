// Package webhook is the generic escalation target: the issue is POSTed as
// JSON (target.Issue) with the feedback id as Idempotency-Key, and the
// endpoint answers with the ticket it opened, {"key": …, "url": …}. A small
// adapter turns that into any ticket system's call; the endpoint is
// expected to honour the key, since feedbackd asks again after a crash.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/collector/webhook"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Config is one webhook target in the escalation section of the YAML file.
type Config struct {
	URL       string `yaml:"url"`
	TokenEnv  string `yaml:"token_env"`
	TokenFile string `yaml:"token_file"`
	// System is ticket.system of the escalation events; webhook when empty.
	System string `yaml:"system"`
}

// Response is what the endpoint answers with a 2xx.
type Response struct {
	Key string `json:"key"`
	URL string `json:"url"`
}

// Webhook is one configured endpoint.
type Webhook struct {
	name, system string
	hook         *webhook.Hook
}

// FromConfig reads cfg's token (optional) and returns the target.
func FromConfig(name string, cfg Config, getenv func(string) string, timeout time.Duration) (*Webhook, error) {
	token := ""
	if cfg.TokenEnv != "" || cfg.TokenFile != "" {
		var err error
		if token, err = target.Secret("token", cfg.TokenEnv, cfg.TokenFile, getenv); err != nil {
			return nil, err
		}
	}
	return New(name, [2]string{"url", "system"}, cfg.URL, token, cfg.System, timeout)
}

// New returns the target; options name the URL's and the system's settings
// in errors (the --escalate-url and --escalate-system flags, or file fields).
func New(name string, options [2]string, rawURL, token, system string, timeout time.Duration) (*Webhook, error) {
	hook, err := webhook.New(options[0], rawURL, token, timeout)
	if err != nil {
		return nil, err
	}
	if system == "" {
		system = "webhook"
	}
	if len(system) > 128 || strings.ContainsFunc(system, unicode.IsControl) {
		return nil, fmt.Errorf("%s: %q must be a name of 1 to 128 bytes without control characters", options[1], system)
	}
	return &Webhook{name: name, system: system, hook: hook}, nil
}

func (w *Webhook) Name() string { return w.name }

var hints = target.Hints{Auth: "check the webhook's token", NotFound: "check the webhook's URL"}

// Open posts the issue and returns the ticket the endpoint opened (or had
// opened for this Idempotency-Key before).
func (w *Webhook) Open(ctx context.Context, is *target.Issue) (feedback.Ticket, error) {
	answer, err := w.hook.Post(ctx, is.FeedbackID, is)
	if refused, ok := webhook.AsRefused(err); ok {
		return feedback.Ticket{}, target.Classify(w.name, refused.Status, http.Header{}, []byte(refused.Body), hints)
	}
	if err != nil {
		return feedback.Ticket{}, &target.Error{Target: w.name, Class: target.Retry, Body: err.Error()}
	}
	var r Response
	if err := json.Unmarshal(answer, &r); err != nil || r.Key == "" {
		// A webhook that answers 2xx without a ticket is misconfigured;
		// retrying (and showing the lag) beats dropping the escalation.
		return feedback.Ticket{}, &target.Error{Target: w.name, Class: target.Retry, Body: `answered without {"key": …}: ` + webhook.Snippet(answer)}
	}
	return feedback.Ticket{System: w.system, Key: r.Key, URL: r.URL}, nil
}
