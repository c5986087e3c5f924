// Package feedback is the one definition of a Feedback Loop event (docs/event.md):
// its types, the taxonomy, the contract rules and the JSON codec. The collector
// (HTTP ingest) and the Grafana data source both use it, so an event that one
// accepts the other can read, byte for byte.
package feedback

import (
	"bytes"
	"encoding/json"
	"regexp"
	"time"
)

// Schema is the only schema this package reads and writes.
const Schema = "feedback/v1"

// Limits from docs/event.md. Exceeding any of them is an error, never a truncation.
const (
	MaxEventBytes        = 256 << 10 // one event as sent
	MaxBatchEvents       = 1000      // events in one request
	MaxBatchBytes        = 4 << 20   // one request body
	MaxCommentBytes      = 4 << 10   // comment
	MaxContextFieldBytes = 64 << 10  // context.system_prompt/input/output, corrected_output
	MaxAttributes        = 32        // keys in attributes

	// MaxIDBytes bounds ids and label-like values. Elasticsearch refuses an _id
	// over 512 bytes and Loki a label value over 2048, so a longer value would
	// be accepted here and then fail delivery forever.
	MaxIDBytes = 256

	// MaxErrors caps the FieldErrors of one DecodeBatch call, so that a 4 MiB
	// body of junk cannot produce a response many times its size.
	MaxErrors = 1000
)

// Kind says what an event records.
type Kind string

const (
	KindInteraction  Kind = "interaction"
	KindFeedback     Kind = "feedback"
	KindReview       Kind = "review"
	KindEscalation   Kind = "escalation"
	KindResolution   Kind = "resolution"
	KindNotification Kind = "notification"
)

// Kinds lists every kind, in the order docs/event.md lists them.
var Kinds = []Kind{KindInteraction, KindFeedback, KindReview, KindEscalation, KindResolution, KindNotification}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Sentiment is the user's reaction on a feedback event.
type Sentiment string

const (
	Positive Sentiment = "positive"
	Negative Sentiment = "negative"
	Neutral  Sentiment = "neutral"
)

// Valid reports whether s is positive, negative or neutral.
func (s Sentiment) Valid() bool { return s == Positive || s == Negative || s == Neutral }

// Severity grades a feedback or escalation event.
type Severity string

const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Valid reports whether s is info, warning or critical.
func (s Severity) Valid() bool {
	return s == SeverityInfo || s == SeverityWarning || s == SeverityCritical
}

// Values of Event.Source.
const (
	SourceThumbs   = "thumbs"
	SourceModal    = "modal"
	SourceEdit     = "edit"
	SourceSurvey   = "survey"
	SourceAPI      = "api"
	SourceReviewer = "reviewer"
)

// Sources lists every valid Event.Source.
var Sources = []string{SourceThumbs, SourceModal, SourceEdit, SourceSurvey, SourceAPI, SourceReviewer}

// Values of Event.Verdict (review events).
const (
	VerdictConfirmed = "confirmed"
	VerdictRejected  = "rejected"
	VerdictCorrected = "corrected"
)

// Verdicts lists every valid Event.Verdict.
var Verdicts = []string{VerdictConfirmed, VerdictRejected, VerdictCorrected}

// Taxonomy is the built-in value set of reason and tags.
var Taxonomy = []string{"hallucination", "factually_incorrect", "formatting_error", "latency", "bias", "offensive", "harmful", "not_helpful", "other"}

// ValidTag reports whether tag is a taxonomy tag or a well-formed custom tag,
// one matching ^[a-z][a-z0-9_]{0,39}$ (checked by hand: it runs for every tag
// of every event, and a regexp match cost more than the rest of Validate).
func ValidTag(tag string) bool {
	if InTaxonomy(tag) {
		return true
	}
	if len(tag) == 0 || len(tag) > 40 || tag[0] < 'a' || tag[0] > 'z' {
		return false
	}
	for i := 1; i < len(tag); i++ {
		if c := tag[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// InTaxonomy reports whether tag is one of the built-in Taxonomy tags.
func InTaxonomy(tag string) bool {
	for _, t := range Taxonomy {
		if tag == t {
			return true
		}
	}
	return false
}

// Event is one record (docs/event.md). Absent fields are zero values; pointer
// fields are nil when absent so that "score": 0 stays distinguishable from no
// score. Slices keep nil (absent) apart from empty (present as []), because
// the corpus writes "tags":[] on every feedback event and must round-trip.
type Event struct {
	Schema        string    `json:"schema"`
	Kind          Kind      `json:"kind"`
	FeedbackID    string    `json:"feedback_id,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	Timestamp     *Time     `json:"timestamp,omitempty"` // nil: the collector sets the receive time
	Model         Model     `json:"model"`
	Sentiment     Sentiment `json:"sentiment,omitempty"`
	Score         *float64  `json:"score,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	Tags          []string  `json:"tags,omitempty"`
	Severity      Severity  `json:"severity,omitempty"`
	Comment       string    `json:"comment,omitempty"`
	Source        string    `json:"source,omitempty"`
	User          *User     `json:"user,omitempty"`
	// Attributes are written with domain, channel, jurisdiction first, then
	// the other keys sorted (see Marshal).
	Attributes      map[string]string `json:"attributes,omitempty"`
	Context         *Context          `json:"context,omitempty"`
	Edit            *Edit             `json:"edit,omitempty"`
	Verdict         string            `json:"verdict,omitempty"`
	Reviewer        string            `json:"reviewer,omitempty"`
	CorrectedOutput string            `json:"corrected_output,omitempty"`
	Ticket          *Ticket           `json:"ticket,omitempty"`
	ResolutionID    string            `json:"resolution_id,omitempty"`
	Fixes           *Fixes            `json:"fixes,omitempty"`
	Channel         string            `json:"channel,omitempty"`
}

// Model identifies the model version an event is about.
type Model struct {
	ID               string `json:"id,omitempty"`
	Version          string `json:"version,omitempty"`
	ReleasedAt       string `json:"released_at,omitempty"` // RFC 3339, kept as sent
	EffectiveVersion string `json:"effective_version,omitempty"`
}

// User is the (pseudonymous) person behind a feedback event.
type User struct {
	ID   string `json:"id,omitempty"`
	Role string `json:"role,omitempty"`
	Geo  string `json:"geo,omitempty"`
}

// Context is the snapshot of one model execution.
type Context struct {
	SystemPrompt string `json:"system_prompt,omitempty"`
	Input        string `json:"input,omitempty"`
	Output       string `json:"output,omitempty"`
	// Params stays raw JSON (compacted on decode) because a float64 round
	// trip would turn "top_p":1.0 into 1 and so change both the stored line
	// and the effective_version hash computed from it.
	Params        json.RawMessage `json:"params,omitempty"`
	PromptVersion string          `json:"prompt_version,omitempty"`
}

// Edit is implicit feedback derived from a user editing the model's answer.
type Edit struct {
	OriginalChars int     `json:"original_chars"`
	EditedChars   int     `json:"edited_chars"`
	Similarity    float64 `json:"similarity"`
}

// Ticket is the issue opened by an escalation.
type Ticket struct {
	System string `json:"system,omitempty"`
	Key    string `json:"key,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Fixes names what a resolution declares fixed.
type Fixes struct {
	Tags        []string `json:"tags,omitempty"`
	FeedbackIDs []string `json:"feedback_ids,omitempty"`
	ClusterIDs  []string `json:"cluster_ids,omitempty"`
}

// Time is an event timestamp. It is written in UTC as RFC 3339 with exactly
// nine fractional digits, so that lines sort and compare as text the same way
// they do as times, and Loki's nanosecond timestamps survive.
type Time struct{ time.Time }

// TimeLayout is the output form of Time.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// NewTime returns t as a Time in UTC.
func NewTime(t time.Time) *Time { return &Time{t.UTC()} }

// String formats t like its JSON form, without quotes.
func (t Time) String() string { return t.UTC().Format(TimeLayout) }

// MarshalJSON writes the RFC 3339 nanosecond UTC form.
func (t Time) MarshalJSON() ([]byte, error) {
	b, err := appendTime(nil, t)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// UnmarshalJSON accepts any RFC 3339 timestamp and keeps it in UTC.
func (t *Time) UnmarshalJSON(b []byte) error {
	// A valid timestamp has no escapes, so the quotes can simply be cut off;
	// this sits on the plugin's hot path (thousands of lines per panel).
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' || bytes.IndexByte(b, '\\') >= 0 {
		return errorString("timestamp must be an RFC 3339 string")
	}
	v, err := ParseTime(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// rfc3339 is checked before time.Parse because time.Parse also takes forms
// RFC 3339 does not allow (a comma before the fraction, for one).
var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// ParseTime parses an RFC 3339 timestamp (at most nanosecond precision) and
// returns it in UTC.
func ParseTime(s string) (Time, error) {
	if !rfc3339.MatchString(s) {
		return Time{}, errorString("must be an RFC 3339 timestamp like 2026-11-20T06:00:00.000000000Z")
	}
	b := []byte(s)
	b[10] = 'T'
	if b[len(b)-1] == 'z' {
		b[len(b)-1] = 'Z'
	}
	v, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return Time{}, errorString("must be an RFC 3339 timestamp: " + err.Error())
	}
	return Time{v.UTC()}, nil
}

// appendTime writes TimeLayout in UTC by hand: every stored event has a
// timestamp, and time.AppendFormat's layout interpretation was a sixth of
// Marshal.
func appendTime(b []byte, t Time) ([]byte, error) {
	u := t.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		return b, errorString("timestamp year outside 0000..9999")
	}
	hour, minute, sec := u.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, u.Nanosecond(), 9)
	return append(b, 'Z', '"'), nil
}

// appendDigits writes n (0 <= n < 10^width) zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var buf [9]byte
	for i := width - 1; i >= 0; i-- {
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, buf[:width]...)
}

// At returns the event's timestamp, or the zero time when it has none.
func (e *Event) At() time.Time {
	if e.Timestamp == nil {
		return time.Time{}
	}
	return e.Timestamp.Time
}

// HasTag reports whether the event carries tag exactly (so "bias" does not
// match "biased_tone").
func (e *Event) HasTag(tag string) bool {
	for _, t := range e.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// MarshalText and UnmarshalText override the ones promoted from time.Time, so
// that text encoders (YAML, map keys, flags) use the same nine-digit UTC form.
func (t Time) MarshalText() ([]byte, error) {
	b, err := appendTime(nil, t)
	if err != nil {
		return nil, err
	}
	return b[1 : len(b)-1], nil
}

// UnmarshalText accepts any RFC 3339 timestamp and keeps it in UTC.
func (t *Time) UnmarshalText(b []byte) error {
	v, err := ParseTime(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
