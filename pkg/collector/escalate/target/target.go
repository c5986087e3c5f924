// Package target is what the escalation rule asks of a ticket system or a
// chat channel: open one ticket for one feedback (finding the one already
// opened, if any) or announce a ticket. Each system lives in a subpackage;
// this package holds the shared issue content, the classification of their
// answers and the reading of secrets.
package target

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Issue is what a ticket is about: one escalated feedback event. Its JSON
// form is the generic webhook's request body.
type Issue struct {
	FeedbackID    string         `json:"feedback_id"`
	CorrelationID string         `json:"correlation_id"`
	Title         string         `json:"title"`
	Severity      string         `json:"severity"`
	Sentiment     string         `json:"sentiment"`
	Reason        string         `json:"reason,omitempty"`
	Tags          []string       `json:"tags"`
	Comment       string         `json:"comment,omitempty"`
	Model         feedback.Model `json:"model"`
	Timestamp     string         `json:"timestamp"`
	TraceURL      string         `json:"trace_url,omitempty"`
}

// Tracker opens tickets. Open must be safe to call again for the same
// feedback after a crash: it looks the ticket up first and returns the one
// it finds.
type Tracker interface {
	Name() string
	Open(ctx context.Context, is *Issue) (feedback.Ticket, error)
}

// Announcer tells people about a ticket (a chat message). It cannot look up
// what it sent, so it may repeat itself once after a crash.
type Announcer interface {
	Name() string
	Announce(ctx context.Context, is *Issue, t feedback.Ticket) error
}

// Class sorts a target's failures by what feedbackd should do about them.
type Class int

const (
	// Retry: the system is unreachable, overloaded or rate limiting; the
	// batch is tried again (after RetryAfter when the system said so).
	Retry Class = iota
	// Auth: the credentials were refused (401/403). Retrying cannot help
	// until the configuration changes.
	Auth
	// NotFound: the project, team, repository or webhook does not exist.
	NotFound
	// Invalid: the system refused the ticket's content; its answer is kept
	// verbatim in the dead letter.
	Invalid
)

func (c Class) String() string {
	switch c {
	case Auth:
		return "auth"
	case NotFound:
		return "not_found"
	case Invalid:
		return "invalid"
	}
	return "retry"
}

// Error is a classified failure of one target.
type Error struct {
	Target string
	Class  Class
	Status int
	// Body is the system's answer, verbatim up to maxBody bytes.
	Body  string
	Hint  string
	After time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Target)
	switch e.Class {
	case Auth:
		b.WriteString(": credentials refused")
	case NotFound:
		b.WriteString(": not found")
	case Invalid:
		b.WriteString(": ticket refused")
	default:
		b.WriteString(": temporarily failed")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	if e.Body != "" {
		b.WriteString(": " + e.Body)
	}
	return b.String()
}

// Permanent reports whether retrying cannot help.
func (e *Error) Permanent() bool { return e.Class != Retry }

// RetryAfter is how long the system asked to be left alone (Retry-After);
// the delivery loop waits at least that long before the next attempt.
func (e *Error) RetryAfter() time.Duration { return e.After }

// AsError unwraps an *Error.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// maxBody bounds how much of an answer is kept: a tracker's validation
// errors fit easily, an HTML error page is cut.
const maxBody = 4 << 10

// Hints say, per class, what to check; a target passes its own.
type Hints struct {
	Auth, NotFound string
}

// Do sends req and returns the body of a 2xx answer; any other answer or a
// transport failure becomes an *Error of target name.
func Do(client *http.Client, name string, req *http.Request, hints Hints) ([]byte, http.Header, error) {
	resp, err := client.Do(req)
	if err != nil {
		// The system may or may not have acted; the look-up before the next
		// attempt finds out.
		return nil, nil, &Error{Target: name, Class: Retry, Body: redactURL(err.Error())}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, resp.Header, nil
	}
	return nil, resp.Header, Classify(name, resp.StatusCode, resp.Header, body, hints)
}

// Classify turns a non-2xx answer into an *Error.
func Classify(name string, status int, h http.Header, body []byte, hints Hints) *Error {
	e := &Error{Target: name, Status: status, Body: Verbatim(body)}
	wait, limited := retryAfter(h)
	switch {
	case status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		e.Class, e.After = Retry, wait
	case status == http.StatusForbidden && (limited || h.Get("X-RateLimit-Remaining") == "0"):
		// GitHub answers a rate limit with 403 and these headers.
		e.Class, e.After = Retry, wait
		if e.After == 0 {
			if reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
				e.After = time.Until(time.Unix(reset, 0))
			}
		}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Class, e.Hint = Auth, hints.Auth
	case status == http.StatusNotFound || status == http.StatusGone:
		e.Class, e.Hint = NotFound, hints.NotFound
	default:
		e.Class = Invalid
	}
	if e.After < 0 {
		e.After = 0
	}
	return e
}

// RetryAfterOf is the answer's Retry-After, 0 when absent or past.
func RetryAfterOf(h http.Header) time.Duration {
	d, _ := retryAfter(h)
	return max(d, 0)
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t), true
	}
	return 0, false
}

// Verbatim is an answer as kept in errors: as sent, cut at maxBody.
func Verbatim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxBody {
		s = s[:maxBody] + "…"
	}
	return s
}

// redactURL keeps a transport error from carrying a URL's secret path (a
// Slack webhook URL is the credential).
func redactURL(msg string) string {
	return urlInText.ReplaceAllStringFunc(msg, func(s string) string {
		u, err := url.Parse(strings.Trim(s, `"`))
		if err != nil {
			return "<url>"
		}
		return u.Scheme + "://" + u.Host + "/…"
	})
}

var urlInText = regexp.MustCompile(`"?https?://[^\s"]+"?`)

// Secret reads a credential from the environment variable named env or the
// file at path (exactly one); field names the setting in errors. The value
// itself never appears in an error.
func Secret(field string, env, path string, getenv func(string) string) (string, error) {
	switch {
	case env != "" && path != "":
		return "", fmt.Errorf("%s_env and %s_file: set one, not both", field, field)
	case env != "":
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", fmt.Errorf("%s_env: environment variable %s is empty or unset", field, env)
		}
		return v, nil
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", field, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_file: %s is empty", field, path)
		}
		return v, nil
	}
	return "", fmt.Errorf("%s_env or %s_file: required (secrets are never written in the configuration itself)", field, field)
}

// Marker is the word that identifies the feedback's ticket in a tracker: a
// Jira label, a line of a GitHub or Linear description, searched for before
// a ticket is opened. A feedback id may hold any printable character, which
// labels and search syntax do not allow, so an id outside a safe alphabet is
// replaced by a digest of it.
func Marker(feedbackID string) string {
	if safeID.MatchString(feedbackID) {
		return "feedback-" + feedbackID
	}
	sum := sha256.Sum256([]byte(feedbackID))
	return "feedback-h" + hex.EncodeToString(sum[:16])
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$`)

// HTTPURL checks an absolute http(s) base URL without credentials or query.
func HTTPURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q must be an absolute http(s) URL", field, raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: must not contain credentials, a query or a fragment", field)
	}
	return u, nil
}

// Client is the HTTP client of a target.
func Client(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Timeout: timeout}
}

// Fields are the facts every ticket lists, in order, as label and value.
func (is *Issue) Fields() [][2]string {
	f := [][2]string{
		{"Model", strings.TrimSpace(is.Model.ID + " " + is.Model.Version)},
		{"Severity", is.Severity},
		{"Sentiment", is.Sentiment},
	}
	if is.Reason != "" {
		f = append(f, [2]string{"Reason", is.Reason})
	}
	if len(is.Tags) > 0 {
		f = append(f, [2]string{"Tags", strings.Join(is.Tags, ", ")})
	}
	if is.Timestamp != "" {
		f = append(f, [2]string{"Reported", is.Timestamp})
	}
	f = append(f, [2]string{"Correlation id", is.CorrelationID}, [2]string{"Feedback id", is.FeedbackID})
	return f
}
