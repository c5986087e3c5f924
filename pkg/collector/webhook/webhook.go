// Package webhook is how feedbackd's rules reach the systems around it (a
// ticket system, a user-notification service): a JSON POST with a bearer
// token and an idempotency key, and one classification of the answers.
package webhook

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
	"time"
)

// Hook is one configured endpoint.
type Hook struct {
	url    string
	token  string
	client *http.Client
}

// New checks raw (option names the setting in errors) and returns the hook.
func New(option, raw, token string, timeout time.Duration) (*Hook, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q must be an absolute http(s) URL", option, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: must not contain credentials; use the token option", option)
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Hook{url: raw, token: token, client: &http.Client{Timeout: timeout}}, nil
}

// RefusedError is the endpoint's permanent refusal of one request: a 4xx
// other than 408 and 429. Anything else that is not a 2xx is worth retrying.
type RefusedError struct {
	Status int
	Body   string
}

func (e *RefusedError) Error() string { return fmt.Sprintf("refused: %d %s", e.Status, e.Body) }

// AsRefused unwraps a *RefusedError.
func AsRefused(err error) (*RefusedError, bool) {
	var r *RefusedError
	ok := errors.As(err, &r)
	return r, ok
}

// Post sends v as JSON with key as Idempotency-Key (the endpoint should do
// nothing new for a key it has seen: feedbackd may ask again after a crash)
// and returns the body of a 2xx answer.
func (h *Hook) Post(ctx context.Context, key string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("User-Agent", "feedbackd")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return answer, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return nil, &RefusedError{Status: resp.StatusCode, Body: Snippet(answer)}
	default:
		return nil, fmt.Errorf("answered %d %s", resp.StatusCode, Snippet(answer))
	}
}

// Snippet is the start of an answer, for errors and logs.
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
