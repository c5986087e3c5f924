// Package submit writes one event to feedbackd and waits for its answer:
// reviews from the data source and resolutions from feedbackctl, where the
// person acting must see at once whether it was recorded. Applications use
// pkg/client instead, which queues and retries in the background.
package submit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/models"
)

// Client posts to one feedbackd with a server token.
type Client struct {
	base *url.URL
	http *http.Client
}

// New builds a client from the feedbackd settings; setting names the URL's
// setting in errors (feedbackd.url for the data source, --feedbackd-url
// for feedbackctl).
func New(cfg models.Feedbackd, setting string) (*Client, error) {
	if cfg.URL == "" {
		return nil, &models.SettingError{Setting: setting, Message: "feedbackd is not configured: set " + setting + " (e.g. http://feedbackd:8787)"}
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &models.SettingError{Setting: setting, Message: fmt.Sprintf("%q is not an http(s) URL such as http://feedbackd:8787", cfg.URL)}
	}
	auth := models.HTTPAuth{}
	if cfg.Token != "" {
		auth.Authorization = "Bearer " + cfg.Token
	}
	hc, err := cfg.HTTPClient.Build("feedbackd", auth)
	if err != nil {
		return nil, err
	}
	return &Client{base: u, http: hc}, nil
}

// Rejected is feedbackd refusing the event (a 4xx): Status is its HTTP
// status, Message and Details what it said, by field.
type Rejected struct {
	Status  int
	Message string
	Details []feedback.FieldError
}

func (e *Rejected) Error() string {
	parts := []string{}
	for _, d := range e.Details {
		parts = append(parts, d.Field+": "+d.Message)
	}
	msg := fmt.Sprintf("feedbackd refused the event (HTTP %d): %s", e.Status, e.Message)
	if len(parts) > 0 {
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	return msg
}

// Unavailable is feedbackd not answering or failing (network error, 5xx,
// 429): nothing was recorded and the action can be repeated.
type Unavailable struct{ Err error }

func (e *Unavailable) Error() string { return "feedbackd is unavailable: " + e.Err.Error() }
func (e *Unavailable) Unwrap() error { return e.Err }

// Endpoint is the write path for an event's kind (docs/collector-api.md).
func Endpoint(k feedback.Kind) (string, error) {
	switch k {
	case feedback.KindReview, feedback.KindEscalation:
		return "/v1/reviews", nil
	case feedback.KindResolution:
		return "/v1/resolutions", nil
	case feedback.KindFeedback:
		return "/v1/feedback", nil
	case feedback.KindInteraction:
		return "/v1/interactions", nil
	}
	return "", fmt.Errorf("no write endpoint for kind %q", k)
}

// Send validates ev, posts it and returns the id feedbackd assigned
// (feedback_id or resolution_id, whichever the kind carries).
func (c *Client) Send(ctx context.Context, ev feedback.Event) (string, error) {
	if errs := ev.Validate(); len(errs) > 0 {
		return "", &Rejected{Status: http.StatusBadRequest, Message: "invalid event", Details: errs}
	}
	path, err := Endpoint(ev.Kind)
	if err != nil {
		return "", err
	}
	body, err := feedback.Marshal(&ev)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", &Unavailable{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", &Unavailable{Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		var ok struct {
			Accepted int      `json:"accepted"`
			IDs      []string `json:"ids"`
		}
		if err := json.Unmarshal(raw, &ok); err != nil || ok.Accepted != 1 || len(ok.IDs) != 1 {
			return "", &Unavailable{Err: fmt.Errorf("unexpected answer %s", truncate(raw))}
		}
		return ok.IDs[0], nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return "", &Unavailable{Err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(raw))}
	default:
		var e struct {
			Error   string                `json:"error"`
			Details []feedback.FieldError `json:"details"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = truncate(raw)
		}
		return "", &Rejected{Status: resp.StatusCode, Message: e.Error, Details: e.Details}
	}
}

func truncate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// IsRejected reports whether err is feedbackd (or validation) refusing the
// event.
func IsRejected(err error) (*Rejected, bool) {
	var r *Rejected
	ok := errors.As(err, &r)
	return r, ok
}
