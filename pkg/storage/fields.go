package storage

import (
	"fmt"
	"regexp"
	"strings"
)

// Field describes where one query field lives in each backend.
type Field struct {
	// Name as used in filters and groupBy (docs/query-types/).
	Name string
	// StreamLabel is true when Loki has it as a stream label, so
	// it can be matched in the selector and grouped without parsing lines.
	StreamLabel bool
	// LokiLabel is the label name in LogQL (stream label, or the name given to
	// the value extracted by `| json`).
	LokiLabel string
	// JSONPath is the dotted path inside the event JSON (and the Elasticsearch
	// document field).
	JSONPath string
	// FilterOnly fields have per-event cardinality: they may be filtered on
	// but never grouped by.
	FilterOnly bool
}

var fields = []Field{
	{Name: "model_id", StreamLabel: true, LokiLabel: LabelModelID, JSONPath: "model.id"},
	{Name: "model_version", StreamLabel: true, LokiLabel: LabelModelVersion, JSONPath: "model.version"},
	{Name: "sentiment", StreamLabel: true, LokiLabel: LabelSentiment, JSONPath: "sentiment"},
	{Name: "reason", LokiLabel: "reason", JSONPath: "reason"},
	{Name: "tag", LokiLabel: "tags", JSONPath: "tags"},
	{Name: "severity", LokiLabel: "severity", JSONPath: "severity"},
	{Name: "source", LokiLabel: "source", JSONPath: "source"},
	{Name: "user_role", LokiLabel: "user_role", JSONPath: "user.role"},
	{Name: "user_geo", LokiLabel: "user_geo", JSONPath: "user.geo"},
	// The attribution of the interaction the event is about (docs/event.md):
	// on interactions as the application sent them, on feedback as
	// feedbackd copied them from its interaction.
	{Name: "prompt_version", LokiLabel: "prompt_version", JSONPath: "context.prompt_version"},
	{Name: "effective_version", LokiLabel: "effective_version", JSONPath: "model.effective_version"},
	{Name: "correlation_id", LokiLabel: "correlation_id", JSONPath: "correlation_id", FilterOnly: true},
	{Name: "feedback_id", LokiLabel: "feedback_id", JSONPath: "feedback_id", FilterOnly: true},
	{Name: "user_id", LokiLabel: "user_id", JSONPath: "user.id", FilterOnly: true},
}

// attribute keys become part of LogQL label names and JSON paths, so they are
// validated (never escaped): only identifier characters are allowed.
var AttributeKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

const (
	AttributesPrefix = "attributes."
	// ParamsPrefix names a generation parameter, params.<key>, stored at
	// context.params.<key>.
	ParamsPrefix = "params."
	paramsPath   = "context.params."
)

// LookupField resolves a field name of a filter (forFilter) or groupBy entry.
func LookupField(name string, forFilter bool) (Field, error) {
	if strings.HasPrefix(name, AttributesPrefix) {
		key := strings.TrimPrefix(name, AttributesPrefix)
		if !AttributeKey.MatchString(key) {
			return Field{}, fmt.Errorf("attribute key %q must match %s", key, AttributeKey)
		}
		return Field{Name: name, LokiLabel: "attributes_" + key, JSONPath: name}, nil
	}
	if strings.HasPrefix(name, ParamsPrefix) {
		key := strings.TrimPrefix(name, ParamsPrefix)
		if !AttributeKey.MatchString(key) {
			return Field{}, fmt.Errorf("parameter key %q must match %s", key, AttributeKey)
		}
		return Field{Name: name, LokiLabel: "params_" + key, JSONPath: paramsPath + key}, nil
	}
	for _, f := range fields {
		if f.Name == name {
			if f.FilterOnly && !forFilter {
				return Field{}, fmt.Errorf("%q has one value per event and cannot be grouped by", name)
			}
			return f, nil
		}
	}
	return Field{}, fmt.Errorf("unknown field %q; use one of %s", name, strings.Join(FieldNames(forFilter), ", "))
}

// FieldNames lists the names usable in filters (forFilter) or groupBy;
// attributes.<key> and params.<key> stand for any attribute and any
// generation parameter.
func FieldNames(forFilter bool) []string {
	var out []string
	for _, f := range fields {
		if !f.FilterOnly || forFilter {
			out = append(out, f.Name)
		}
	}
	return append(out, AttributesPrefix+"<key>", ParamsPrefix+"<key>")
}

// ParamKey is the params.<key> field of a context.params key, or "" when
// the key cannot be one.
func ParamKey(key string) string {
	if !AttributeKey.MatchString(key) {
		return ""
	}
	return ParamsPrefix + key
}

// Fields lists the named query fields (not the attributes.<key> form).
func Fields() []Field { return append([]Field(nil), fields...) }
