// Package read is the read side of Feedback Loop without Grafana: the
// source-neutral query, the results every store answers with, and the Reader
// that the Loki and Elasticsearch packages implement. The data source turns
// these results into frames; feedbackd's close-the-loop rule and feedbackctl
// use them as they are.
package read

import (
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Filter operators.
const (
	OpEqual    = "="
	OpNotEqual = "!="
	OpRegex    = "=~"
	OpNotRegex = "!~"
)

// Limits of a query.
const (
	DefaultLimit = 100
	MaxLimit     = 5000
	MaxPoints    = 11000 // Loki rejects (end-start)/step > 11,000
	MaxTags      = 64
	MaxFilters   = 32
	MaxGroupBy   = 4
	MaxValueLen  = 1024
)

// Filter is one {key, operator, value} condition on a query field.
type Filter struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
}

// Query selects events and says how to group them. Code builds it directly
// (feedbackd, feedbackctl) or the data source derives it from a panel target;
// either way Validate must pass before a Reader sees it.
type Query struct {
	Kind      feedback.Kind
	Sentiment feedback.Sentiment
	// Tags selects events carrying any of these tags.
	Tags    []string
	Filters []Filter
	// Search is matched in the comment, case-insensitively.
	Search  string
	GroupBy []string
	// CorrelationID selects one execution (trace reads).
	CorrelationID string
	// Limit bounds entry reads.
	Limit int

	From, To time.Time
	Interval time.Duration

	// Measure, when set, keeps only the events carrying it and makes
	// Breakdown and Timeseries report its sum per group as well (Group.Sum,
	// Series.Sums), so that a caller can take the mean.
	Measure Measure

	// Total asks a breakdown or time series grouped by tag for the number of
	// events matched regardless of grouping, which then needs a query of its
	// own (an event with two tags counts in two groups).
	Total bool
}

// Measure is a per-event number a breakdown or time series adds up
// (docs/queries.md, edit metrics).
type Measure string

const (
	// MeasureEditSimilarity is edit.similarity.
	MeasureEditSimilarity Measure = "edit_similarity"
	// MeasureEditLengthRatio is edit.edited_chars ÷ edit.original_chars, of
	// events whose original_chars is not 0.
	MeasureEditLengthRatio Measure = "edit_length_ratio"
)

// FieldError is a problem with one field of a query. It is always the
// user's to fix.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("query field %q: %s", e.Field, e.Message) }

// FieldErr builds a FieldError.
func FieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks the query against the contract, so the readers only ever
// see values that fit it.
func (q *Query) Validate() error {
	if !q.Kind.Valid() {
		return FieldErr("kind", "unknown kind %q", q.Kind)
	}
	if q.Sentiment != "" && !q.Sentiment.Valid() {
		return FieldErr("sentiment", "unknown sentiment %q; use positive, negative or neutral", q.Sentiment)
	}
	if len(q.Tags) > MaxTags {
		return FieldErr("tags", "at most %d tags", MaxTags)
	}
	for i, t := range q.Tags {
		if !feedback.ValidTag(t) {
			return FieldErr(fmt.Sprintf("tags[%d]", i), "%q is not a taxonomy tag nor a custom tag matching ^[a-z][a-z0-9_]{0,39}$", t)
		}
	}
	if len(q.Filters) > MaxFilters {
		return FieldErr("filters", "at most %d filters", MaxFilters)
	}
	for i, f := range q.Filters {
		if err := f.validate(fmt.Sprintf("filters[%d]", i)); err != nil {
			return err
		}
	}
	if len(q.Search) > MaxValueLen {
		return FieldErr("search", "longer than %d bytes", MaxValueLen)
	}
	if len(q.GroupBy) > MaxGroupBy {
		return FieldErr("groupBy", "at most %d dimensions", MaxGroupBy)
	}
	seen := map[string]bool{}
	for i, g := range q.GroupBy {
		name := fmt.Sprintf("groupBy[%d]", i)
		if _, err := storage.LookupField(g, false); err != nil {
			return FieldErr(name, "%s", err)
		}
		if seen[g] {
			return FieldErr(name, "%q is listed twice", g)
		}
		seen[g] = true
	}
	switch q.Measure {
	case "", MeasureEditSimilarity, MeasureEditLengthRatio:
	default:
		return FieldErr("measure", "unknown measure %q", q.Measure)
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return FieldErr("limit", "must be between 1 and %d, got %d", MaxLimit, q.Limit)
	}
	return nil
}

// ValidateTail checks what comes after the query-type checks of a panel
// target: the correlation id and the time range.
func (q *Query) ValidateTail() error {
	if q.CorrelationID != "" && !CorrelationIDRe.MatchString(q.CorrelationID) {
		return FieldErr("correlationId", "%q is not a correlation id: use letters, digits and . _ : - (at most 128), e.g. a W3C trace id", q.CorrelationID)
	}
	if !q.To.After(q.From) {
		return FieldErr("timeRange", "the end (%s) must be after the start (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	return nil
}

func (f Filter) validate(name string) error {
	if _, err := storage.LookupField(f.Key, true); err != nil {
		return FieldErr(name+".key", "%s", err)
	}
	switch f.Operator {
	case OpEqual, OpNotEqual:
	case OpRegex, OpNotRegex:
		if _, err := regexp.Compile(f.Value); err != nil {
			return FieldErr(name+".value", "invalid regular expression: %s", err)
		}
	default:
		return FieldErr(name+".operator", "unknown operator %q; use =, !=, =~ or !~", f.Operator)
	}
	if len(f.Value) > MaxValueLen {
		return FieldErr(name+".value", "longer than %d bytes", MaxValueLen)
	}
	if f.Key == "tag" && (f.Operator == OpEqual || f.Operator == OpNotEqual) && f.Value != "" && !feedback.ValidTag(f.Value) {
		return FieldErr(name+".value", "%q is not a valid tag", f.Value)
	}
	return nil
}

// CorrelationIDRe keeps ids to characters that mean nothing in LogQL, PromQL
// or a URL, so an id can be put into the configured execution-logs query.
var CorrelationIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// Range is the length of the query's time range.
func (q Query) Range() time.Duration { return q.To.Sub(q.From) }

// Step is the series resolution: max(interval, range/11,000), rounded up to
// whole milliseconds because Loki rejects range/step > 11,000 and a
// rounded-down step can cross that line (fixture error_step_rounded_down).
// A panel's maxDataPoints is deliberately not used: alert rules send huge
// values.
func (q Query) Step() time.Duration {
	step := q.Interval
	minStep := time.Duration(math.Ceil(float64(q.Range()) / MaxPoints))
	if step < minStep {
		step = minStep
	}
	if step < time.Millisecond {
		step = time.Millisecond
	}
	if rem := step % time.Millisecond; rem != 0 {
		step += time.Millisecond - rem
	}
	return step
}

// HasGroup reports whether dim is one of the groupBy dimensions.
func (q Query) HasGroup(dim string) bool {
	for _, g := range q.GroupBy {
		if g == dim {
			return true
		}
	}
	return false
}

// Source names a store holding the events.
type Source string

const (
	SourceLoki          Source = "loki"
	SourceElasticsearch Source = "elasticsearch"
)
