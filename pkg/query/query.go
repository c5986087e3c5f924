// Package query holds the panel query model of DESIGN §4.2: parsed and
// validated once, so the Loki and Elasticsearch paths only ever see values
// that fit the contract.
package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Type is the queryType of a panel target.
type Type string

const (
	Breakdown  Type = "breakdown"
	Timeseries Type = "timeseries"
	Feedback   Type = "feedback"
	Trace      Type = "trace"
	Versions   Type = "versions"
	Clusters   Type = "clusters"
	Reviews    Type = "reviews"
)

// Types lists every query type the data source knows, in documentation order.
var Types = []Type{Breakdown, Timeseries, Feedback, Trace, Versions, Clusters, Reviews}

// Source names a backend holding the events.
type Source string

const (
	SourceLoki          Source = "loki"
	SourceElasticsearch Source = "elasticsearch"
)

// Metric is what breakdown and timeseries compute per group.
type Metric string

const (
	MetricCount         Metric = "count"
	MetricShare         Metric = "share"
	MetricNegativeRate  Metric = "negative_rate"
	MetricPer1kRequests Metric = "per_1k_requests"
)

// Filter operators.
const (
	OpEqual     = "="
	OpNotEqual  = "!="
	OpRegex     = "=~"
	OpNotRegex  = "!~"
	DefaultLim  = 100
	MaxLimit    = 5000
	MaxPoints   = 11000 // Loki rejects (end-start)/step > 11,000
	maxTags     = 64
	maxFilters  = 32
	maxGroupBy  = 4
	maxValueLen = 1024
)

// Filter is one {key, operator, value} row.
type Filter struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	Value    string `json:"value"`
}

// Query is one validated panel target plus the request's time context.
type Query struct {
	RefID         string
	Type          Type
	Source        Source
	Kind          feedback.Kind
	Sentiment     feedback.Sentiment
	Tags          []string
	Filters       []Filter
	Search        string
	GroupBy       []string
	Metric        Metric
	CorrelationID string
	Baseline      string
	Limit         int

	From, To      time.Time
	Interval      time.Duration
	MaxDataPoints int64

	// Alerting is set for Grafana's alert evaluation (header FromAlert):
	// tables then keep a single numeric column, which is what Grafana's
	// expressions need to tell the instances apart.
	Alerting bool
}

// raw mirrors the JSON of a target. Grafana adds its own keys (refId,
// datasource, hide, intervalMs, maxDataPoints, …); they are accepted and
// ignored, anything else is a typo the user should hear about.
type raw struct {
	QueryType     string   `json:"queryType"`
	Source        string   `json:"source"`
	Kind          string   `json:"kind"`
	Sentiment     string   `json:"sentiment"`
	Tags          []string `json:"tags"`
	Filters       []Filter `json:"filters"`
	Search        string   `json:"search"`
	GroupBy       []string `json:"groupBy"`
	Metric        string   `json:"metric"`
	CorrelationID string   `json:"correlationId"`
	Baseline      string   `json:"baseline"`
	Limit         *int     `json:"limit"`
}

var grafanaKeys = map[string]bool{
	"refId": true, "datasource": true, "datasourceId": true, "hide": true, "intervalMs": true,
	"maxDataPoints": true, "key": true, "queryType": true, "format": true, "legendFormat": true,
	"editorMode": true, "range": true, "instant": true, "exemplar": true, "interval": true,
}

// Error is a problem with one field of a target. It is always the user's to
// fix, so handlers report it as a downstream error.
type Error struct {
	Field   string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("query field %q: %s", e.Field, e.Message) }

func fieldErr(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Parse decodes and validates one target. defaultSource is the data source's
// configured defaultSource.
func Parse(dq backend.DataQuery, defaultSource Source) (Query, error) {
	var r raw
	if len(bytes.TrimSpace(dq.JSON)) > 0 {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(dq.JSON, &keys); err != nil {
			return Query{}, &Error{Field: "(query)", Message: "not a JSON object: " + err.Error()}
		}
		for k := range keys {
			if _, known := rawKeys[k]; !known && !grafanaKeys[k] {
				return Query{}, fieldErr(k, "unknown query field")
			}
		}
		if err := json.Unmarshal(dq.JSON, &r); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return Query{}, fieldErr(te.Field, "must be of type %s, got %s", te.Type, te.Value)
			}
			return Query{}, &Error{Field: "(query)", Message: err.Error()}
		}
	}
	if r.QueryType == "" {
		r.QueryType = dq.QueryType
	}
	q := Query{
		RefID:         dq.RefID,
		Type:          Type(r.QueryType),
		Source:        Source(r.Source),
		Kind:          feedback.Kind(r.Kind),
		Sentiment:     feedback.Sentiment(r.Sentiment),
		Tags:          r.Tags,
		Filters:       r.Filters,
		Search:        r.Search,
		GroupBy:       r.GroupBy,
		Metric:        Metric(r.Metric),
		CorrelationID: strings.TrimSpace(r.CorrelationID),
		Baseline:      r.Baseline,
		Limit:         DefaultLim,
		From:          dq.TimeRange.From,
		To:            dq.TimeRange.To,
		Interval:      dq.Interval,
		MaxDataPoints: dq.MaxDataPoints,
	}
	if r.Limit != nil {
		q.Limit = *r.Limit
	}
	if q.Type == "" {
		q.Type = Breakdown
	}
	if q.Source == "" {
		q.Source = defaultSource
	}
	if q.Source == "" {
		q.Source = SourceLoki
	}
	if q.Kind == "" {
		q.Kind = feedback.KindFeedback
	}
	if q.Metric == "" {
		q.Metric = MetricCount
	}
	return q, q.validate()
}

var rawKeys = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, k := range []string{"queryType", "source", "kind", "sentiment", "tags", "filters", "search",
		"groupBy", "metric", "correlationId", "baseline", "limit"} {
		m[k] = struct{}{}
	}
	return m
}()

func (q *Query) validate() error {
	known := false
	for _, t := range Types {
		known = known || t == q.Type
	}
	if !known {
		return fieldErr("queryType", "unknown query type %q; use one of %s", q.Type, joinTypes())
	}
	if q.Source != SourceLoki && q.Source != SourceElasticsearch {
		return fieldErr("source", "unknown source %q; use loki or elasticsearch", q.Source)
	}
	switch q.Kind {
	case feedback.KindFeedback, feedback.KindInteraction, feedback.KindReview, feedback.KindEscalation,
		feedback.KindResolution, feedback.KindNotification:
	default:
		return fieldErr("kind", "unknown kind %q", q.Kind)
	}
	switch q.Sentiment {
	case "", feedback.Positive, feedback.Negative, feedback.Neutral:
	default:
		return fieldErr("sentiment", "unknown sentiment %q; use positive, negative or neutral", q.Sentiment)
	}
	if len(q.Tags) > maxTags {
		return fieldErr("tags", "at most %d tags", maxTags)
	}
	for i, t := range q.Tags {
		if !feedback.ValidTag(t) {
			return fieldErr(fmt.Sprintf("tags[%d]", i), "%q is not a taxonomy tag nor a custom tag matching ^[a-z][a-z0-9_]{0,39}$", t)
		}
	}
	if len(q.Filters) > maxFilters {
		return fieldErr("filters", "at most %d filters", maxFilters)
	}
	for i, f := range q.Filters {
		name := fmt.Sprintf("filters[%d]", i)
		if _, err := LookupField(f.Key, true); err != nil {
			return fieldErr(name+".key", "%s", err)
		}
		switch f.Operator {
		case OpEqual, OpNotEqual:
		case OpRegex, OpNotRegex:
			if _, err := regexp.Compile(f.Value); err != nil {
				return fieldErr(name+".value", "invalid regular expression: %s", err)
			}
		default:
			return fieldErr(name+".operator", "unknown operator %q; use =, !=, =~ or !~", f.Operator)
		}
		if len(f.Value) > maxValueLen {
			return fieldErr(name+".value", "longer than %d bytes", maxValueLen)
		}
		if f.Key == "tag" && (f.Operator == OpEqual || f.Operator == OpNotEqual) && f.Value != "" && !feedback.ValidTag(f.Value) {
			return fieldErr(name+".value", "%q is not a valid tag", f.Value)
		}
	}
	if len(q.Search) > maxValueLen {
		return fieldErr("search", "longer than %d bytes", maxValueLen)
	}
	if len(q.GroupBy) > maxGroupBy {
		return fieldErr("groupBy", "at most %d dimensions", maxGroupBy)
	}
	seen := map[string]bool{}
	for i, g := range q.GroupBy {
		name := fmt.Sprintf("groupBy[%d]", i)
		if _, err := LookupField(g, false); err != nil {
			return fieldErr(name, "%s", err)
		}
		if seen[g] {
			return fieldErr(name, "%q is listed twice", g)
		}
		seen[g] = true
	}
	switch q.Metric {
	case MetricCount, MetricShare, MetricNegativeRate, MetricPer1kRequests:
	default:
		return fieldErr("metric", "unknown metric %q; use count, share, negative_rate or per_1k_requests", q.Metric)
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return fieldErr("limit", "must be between 1 and %d, got %d", MaxLimit, q.Limit)
	}
	if q.Type == Trace && q.CorrelationID == "" {
		return fieldErr("correlationId", "a trace query needs a correlation id")
	}
	if q.CorrelationID != "" && !correlationIDRe.MatchString(q.CorrelationID) {
		return fieldErr("correlationId", "%q is not a correlation id: use letters, digits and . _ : - (at most 128), e.g. a W3C trace id", q.CorrelationID)
	}
	if !q.To.After(q.From) {
		return fieldErr("timeRange", "the end (%s) must be after the start (%s)", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	}
	return nil
}

// correlationIDRe keeps ids to characters that mean nothing in LogQL, PromQL
// or a URL, so an id can be put into the configured execution-logs query.
var correlationIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

func joinTypes() string {
	s := make([]string, len(Types))
	for i, t := range Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Range is the length of the query's time range.
func (q Query) Range() time.Duration { return q.To.Sub(q.From) }

// Step is the series resolution: max(interval, range/11,000), rounded up to
// whole milliseconds because Loki rejects range/step > 11,000 and a
// rounded-down step can cross that line (fixture error_step_rounded_down).
// maxDataPoints is deliberately not used: alert rules send huge values.
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
