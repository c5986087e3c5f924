package trackertest

import (
	"encoding/json"
	"io"
	"net/http"
	"unicode/utf8"
)

// Slack stands in for one incoming webhook.
type Slack struct {
	recorder
	// Path is the webhook's secret path, e.g. /services/T000/B000/XXXX.
	Path     string
	messages []json.RawMessage
}

// Messages are the accepted message payloads.
func (s *Slack) Messages() []json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]json.RawMessage(nil), s.messages...)
}

func slackError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(status)
	io.WriteString(w, code)
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji *bool  `json:"emoji,omitempty"`
}

type slackBlock struct {
	Type    string       `json:"type"`
	BlockID string       `json:"block_id,omitempty"`
	Text    *slackText   `json:"text,omitempty"`
	Fields  []*slackText `json:"fields,omitempty"`
}

// valid checks a text object and its length limit.
func (t *slackText) valid(limit int, plainOnly bool) bool {
	if t == nil || t.Text == "" || utf8.RuneCountInString(t.Text) > limit {
		return false
	}
	return t.Type == "plain_text" || (!plainOnly && t.Type == "mrkdwn")
}

func (s *Slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, failed := s.record(w, r)
	if failed {
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != s.Path {
		slackError(w, http.StatusNotFound, "no_service")
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		slackError(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	var msg struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks"`
	}
	if err := strictDecode(body, &msg); err != nil {
		slackError(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	if msg.Text == "" && len(msg.Blocks) == 0 {
		slackError(w, http.StatusBadRequest, "no_text")
		return
	}
	if len(msg.Blocks) > 50 {
		slackError(w, http.StatusBadRequest, "invalid_blocks")
		return
	}
	for _, b := range msg.Blocks {
		ok := false
		switch b.Type {
		case "header":
			ok = b.Text.valid(150, true) && b.Fields == nil
		case "section":
			ok = (b.Text != nil || len(b.Fields) > 0) && len(b.Fields) <= 10 && (b.Text == nil || b.Text.valid(3000, false))
			for _, f := range b.Fields {
				ok = ok && f.valid(2000, false)
			}
		case "divider":
			ok = b.Text == nil && b.Fields == nil
		}
		if !ok {
			slackError(w, http.StatusBadRequest, "invalid_blocks")
			return
		}
	}
	s.mu.Lock()
	s.messages = append(s.messages, json.RawMessage(body))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
}
