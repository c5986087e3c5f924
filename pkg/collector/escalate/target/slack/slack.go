// Package slack announces escalation tickets in a Slack channel through an
// incoming webhook, as a Block Kit message: title, model version, reason,
// comment, and links to the ticket and the trace.
//
// The webhook URL is the credential (it names the channel and authorises
// posting to it), so it is read like a token and never logged. Slack offers
// no way to find a message already sent: after a crash between the message
// and the escalation event being spooled, the message is sent once more.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Config is one slack target in the escalation section of the YAML file.
type Config struct {
	WebhookURLEnv  string `yaml:"webhook_url_env"`
	WebhookURLFile string `yaml:"webhook_url_file"`
	// Channel is the webhook's channel, e.g. #ai-safety, for the docs and
	// the start-up log; Slack posts where the webhook was created for.
	Channel string `yaml:"channel"`
}

// Slack is one configured incoming webhook.
type Slack struct {
	name, url string
	client    *http.Client
}

// New reads the webhook URL and returns the target.
func New(name string, cfg Config, getenv func(string) string, timeout time.Duration) (*Slack, error) {
	raw, err := target.Secret("webhook_url", cfg.WebhookURLEnv, cfg.WebhookURLFile, getenv)
	if err != nil {
		return nil, err
	}
	if _, err := target.HTTPURL("webhook_url", raw); err != nil {
		// Not the URL itself: it is the secret.
		return nil, &configError{"webhook_url: the value read is not an absolute http(s) URL without a query"}
	}
	return &Slack{name: name, url: raw, client: target.Client(timeout)}, nil
}

type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func (s *Slack) Name() string { return s.name }

var hints = target.Hints{
	Auth:     "the webhook was revoked or may not post (invalid_token, action_prohibited); create a new one and update webhook_url_env/webhook_url_file",
	NotFound: "the webhook's channel is gone or archived (channel_not_found, channel_is_archived, no_service)",
}

// Announce posts the message.
func (s *Slack) Announce(ctx context.Context, is *target.Issue, t feedback.Ticket) error {
	body, err := json.Marshal(Message(is, t))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "feedbackd")
	_, _, err = target.Do(s.client, s.name, req, hints)
	return err
}

// Block is a Block Kit block (the subset used).
type Block struct {
	Type   string  `json:"type"`
	Text   *Text   `json:"text,omitempty"`
	Fields []*Text `json:"fields,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Payload is the incoming webhook's body; Text is the notification's
// fallback when blocks cannot be shown.
type Payload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Message is the Block Kit message for is and its ticket. User text is
// escaped (&, <, >), so it can neither link nor mention (<!channel>).
func Message(is *target.Issue, t feedback.Ticket) Payload {
	title := cut(is.Title, 150) // a header block's limit
	var fields []*Text
	for _, f := range is.Fields() {
		if f[1] == "" || f[0] == "Correlation id" || f[0] == "Feedback id" || f[0] == "Sentiment" || len(fields) == 10 {
			continue
		}
		fields = append(fields, &Text{Type: "mrkdwn", Text: "*" + f[0] + "*\n" + cut(escape(f[1]), 1900)})
	}
	blocks := []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: title}},
		{Type: "section", Fields: fields},
	}
	if is.Comment != "" {
		blocks = append(blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: "*Comment*\n" + quote(cut(escape(is.Comment), 2800))}})
	}
	links := []string{}
	if t.URL != "" {
		links = append(links, "<"+linkURL(t.URL)+"|"+escape(t.Key)+">")
	} else {
		links = append(links, escape(t.Key))
	}
	if is.TraceURL != "" {
		links = append(links, "<"+linkURL(is.TraceURL)+"|Trace in Grafana>")
	}
	blocks = append(blocks, Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: "*Ticket* " + strings.Join(links, "  ·  ")}})
	return Payload{Text: escape(title) + " — " + escape(t.Key), Blocks: blocks}
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

// linkURL keeps a URL inside Slack's <url|text> form.
func linkURL(u string) string {
	return strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C", " ", "%20").Replace(u)
}

// quote makes s a Slack block quote; s is escaped, so none of its own lines
// starts one.
func quote(s string) string { return "> " + strings.ReplaceAll(s, "\n", "\n> ") }

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
