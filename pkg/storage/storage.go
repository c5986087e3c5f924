// Package storage is the storage contract (docs/storage.md): the Loki stream
// labels and selector, the Elasticsearch index names and document ids, and
// where each query field lives in either store. feedbackd's sinks write by it
// and the data source's readers read by it, so the two cannot drift apart.
package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ServiceName is the value of the service_name stream label on every line
// feedbackd writes to Loki.
const ServiceName = "model-feedback"

// Loki stream label names. Nothing with per-event cardinality is ever a label.
const (
	LabelServiceName  = "service_name"
	LabelKind         = "kind"
	LabelModelID      = "model_id"
	LabelModelVersion = "model_version"
	// LabelSentiment exists on feedback streams only.
	LabelSentiment = "sentiment"
)

// Selector is the default stream selector of the data source: every stream
// feedbackd writes.
const Selector = `{` + LabelServiceName + `="` + ServiceName + `"}`

// Elasticsearch names: feedbackd writes daily indices IndexPrefix-YYYY.MM.DD,
// the data source reads IndexPattern, and the shipped index template
// (deploy/elasticsearch/index-template.json) is installed as TemplateName.
const (
	IndexPrefix  = "model-feedback"
	IndexPattern = IndexPrefix + "-*"
	TemplateName = "model-feedback"
	TimeField    = "timestamp"
)

// DailyIndex is the index an event with timestamp t goes to.
func DailyIndex(prefix string, t time.Time) string {
	return prefix + "-" + t.UTC().Format("2006.01.02")
}

// Label is one stream label.
type Label struct{ Name, Value string }

// StreamLabels are an event's Loki stream labels, sorted by name (Prometheus'
// canonical order), so one label set always maps to one stream. Empty model
// fields are left out; sentiment is a label on feedback only.
func StreamLabels(kind, modelID, modelVersion, sentiment string) []Label {
	labels := []Label{{LabelKind, kind}}
	if modelID != "" {
		labels = append(labels, Label{LabelModelID, modelID})
	}
	if modelVersion != "" {
		labels = append(labels, Label{LabelModelVersion, modelVersion})
	}
	if kind == "feedback" && sentiment != "" {
		labels = append(labels, Label{LabelSentiment, sentiment})
	}
	return append(labels, Label{LabelServiceName, ServiceName})
}

// IDParts are the fields of an event that its Elasticsearch _id is made of.
type IDParts struct {
	Kind, FeedbackID, CorrelationID, ResolutionID string
	// Line is the event's JSON as stored, hashed for kinds with no id of
	// their own.
	Line []byte
}

// DocumentID is an event's Elasticsearch _id, so that a redelivered event is
// refused as a duplicate: feedback_id for feedback, correlation_id for
// interactions, resolution_id for resolutions. A review, escalation or
// notification shares its feedback's id, so it gets
// <kind>:<feedback_id>:<hash of the line> instead of overwriting it. field
// names what the id was taken from, for error messages.
func DocumentID(p IDParts) (id, field string, err error) {
	switch p.Kind {
	case "":
		return "", "", errors.New("event has no kind")
	case "feedback":
		id, field = p.FeedbackID, "feedback_id"
	case "interaction":
		id, field = p.CorrelationID, "correlation_id"
	case "resolution":
		id, field = p.ResolutionID, "resolution_id"
	default:
		sum := sha256.Sum256(p.Line)
		parts := []string{p.Kind}
		if p.FeedbackID != "" {
			parts = append(parts, p.FeedbackID)
		}
		parts = append(parts, hex.EncodeToString(sum[:16]))
		id, field = strings.Join(parts, ":"), "kind and feedback_id"
	}
	if id == "" {
		return "", field, fmt.Errorf("%s event has no %s to use as document _id", p.Kind, field)
	}
	return id, field, nil
}
