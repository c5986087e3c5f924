// Package query holds the panel query model of docs/queries.md: parsed and
// validated once, so the Loki and Elasticsearch paths only ever see values
// that fit the contract.
package query

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
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

// Source names a store holding the events.
type Source = read.Source

const (
	SourceLoki          = read.SourceLoki
	SourceElasticsearch = read.SourceElasticsearch
)

// Metric is what breakdown and timeseries compute per group.
type Metric string

const (
	MetricCount         Metric = "count"
	MetricShare         Metric = "share"
	MetricNegativeRate  Metric = "negative_rate"
	MetricPer1kRequests Metric = "per_1k_requests"
	// The edit metrics (docs/queries.md): implicit feedback from answers
	// users rewrote.
	MetricEditRate        Metric = "edit_rate"
	MetricEditSimilarity  Metric = "edit_similarity"
	MetricEditLengthRatio Metric = "edit_length_ratio"
)

// Metrics lists every metric, in documentation order.
var Metrics = []Metric{MetricCount, MetricShare, MetricNegativeRate, MetricPer1kRequests,
	MetricEditRate, MetricEditSimilarity, MetricEditLengthRatio}

// Filter operators and limits, from the read layer.
const (
	OpEqual    = read.OpEqual
	OpNotEqual = read.OpNotEqual
	OpRegex    = read.OpRegex
	OpNotRegex = read.OpNotRegex
	DefaultLim = read.DefaultLimit
	MaxLimit   = read.MaxLimit
	MaxPoints  = read.MaxPoints
)

// Filter is one {key, operator, value} row.
type Filter = read.Filter

// Query is one validated panel target plus the request's time context: the
// source-neutral read.Query it selects, and what the panel does with it.
type Query struct {
	RefID    string
	Type     Type
	Source   Source
	Metric   Metric
	Baseline string
	read.Query

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
type Error = read.FieldError

func fieldErr(field, format string, args ...any) error { return read.FieldErr(field, format, args...) }

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
		RefID:    dq.RefID,
		Type:     Type(r.QueryType),
		Source:   Source(r.Source),
		Metric:   Metric(r.Metric),
		Baseline: r.Baseline,
		Query: read.Query{
			Kind:          feedback.Kind(r.Kind),
			Sentiment:     feedback.Sentiment(r.Sentiment),
			Tags:          r.Tags,
			Filters:       r.Filters,
			Search:        r.Search,
			GroupBy:       r.GroupBy,
			CorrelationID: strings.TrimSpace(r.CorrelationID),
			Limit:         DefaultLim,
			From:          dq.TimeRange.From,
			To:            dq.TimeRange.To,
			Interval:      dq.Interval,
		},
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
	q.Total = q.Metric == MetricShare
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

// validate checks the panel's own fields around the read layer's checks, in
// the order the editor shows them.
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
	if err := q.Query.Validate(); err != nil {
		return err
	}
	known = false
	for _, m := range Metrics {
		known = known || m == q.Metric
	}
	if !known {
		return fieldErr("metric", "unknown metric %q; use one of %s", q.Metric, joinMetrics())
	}
	if q.Type == Trace && q.CorrelationID == "" {
		return fieldErr("correlationId", "a trace query needs a correlation id")
	}
	return q.Query.ValidateTail()
}

func joinMetrics() string {
	s := make([]string, len(Metrics))
	for i, m := range Metrics {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func joinTypes() string {
	s := make([]string, len(Types))
	for i, t := range Types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}
