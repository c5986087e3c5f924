package feedback

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// SchemaDialect is the JSON Schema draft JSONSchema is written in.
const SchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// TagPattern is the form of a custom tag (see ValidTag, which checks it by
// hand for speed).
const TagPattern = "^[a-z][a-z0-9_]{0,39}$"

// idPattern refuses the control characters Validate refuses in ids. \x escapes
// mean the same in ECMA-262 (the schema dialect) and Go's RE2.
const idPattern = `^[^\x00-\x1f\x7f]*$`

// kindRule says on which kinds a field is required and to which kinds it is
// limited; it is the table form of the required/only calls in Validate, and
// schema_test.go checks the two agree for every kind.
type kindRule struct {
	field    string // dotted path
	required []Kind
	only     []Kind // nil: allowed on every kind
}

var kindRules = []kindRule{
	{field: "feedback_id", required: []Kind{KindReview, KindEscalation, KindNotification}},
	{field: "correlation_id", required: []Kind{KindInteraction, KindFeedback}},
	{field: "model.id", required: []Kind{KindInteraction, KindFeedback, KindResolution}},
	{field: "model.version", required: []Kind{KindInteraction, KindFeedback, KindResolution}},
	{field: "sentiment", required: []Kind{KindFeedback}, only: []Kind{KindFeedback}},
	{field: "score", only: []Kind{KindFeedback}},
	{field: "edit", only: []Kind{KindFeedback}},
	{field: "verdict", required: []Kind{KindReview}, only: []Kind{KindReview}},
	{field: "reviewer", only: []Kind{KindReview}},
	{field: "corrected_output", only: []Kind{KindReview}},
	{field: "ticket", required: []Kind{KindEscalation}, only: []Kind{KindEscalation}},
	{field: "ticket.system", required: []Kind{KindEscalation}},
	{field: "ticket.key", required: []Kind{KindEscalation}},
	{field: "resolution_id", required: []Kind{KindResolution, KindNotification}, only: []Kind{KindResolution, KindNotification}},
	{field: "fixes", required: []Kind{KindResolution}, only: []Kind{KindResolution}},
	{field: "channel", only: []Kind{KindNotification}},
}

// JSONSchema returns the JSON Schema (draft 2020-12) of one event as the
// collector accepts it. The property tree comes from the json tags of Event
// by reflection, so a field added to the struct appears here without an
// edit; enums, limits and per-kind rules come from this package's constants.
//
// Byte limits (MaxIDBytes, MaxCommentBytes, MaxContextFieldBytes) are given
// as maxLength, which JSON Schema counts in characters: the schema is the
// looser bound and the collector the exact one. It also treats an empty
// string as present where Validate treats it as absent.
func JSONSchema() ([]byte, error) {
	root, err := structSchema(reflect.TypeOf(Event{}), "")
	if err != nil {
		return nil, err
	}
	root["$schema"] = SchemaDialect
	root["title"] = "Feedback Loop event " + Schema
	root["required"] = []string{"kind"}

	props := func(path string) (map[string]any, error) {
		s := root
		for _, name := range strings.Split(path, ".") {
			p, ok := s["properties"].(map[string]any)[name].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("feedback schema: no property %q (of %q) in Event", name, path)
			}
			s = p
		}
		return s, nil
	}
	for path, extra := range constraints() {
		s, err := props(path)
		if err != nil {
			return nil, err
		}
		for k, v := range extra {
			s[k] = v
		}
	}
	rules, err := perKind()
	if err != nil {
		return nil, err
	}
	root["allOf"] = rules
	return json.MarshalIndent(root, "", "  ")
}

// structSchema maps a struct's json-tagged fields to properties. A Go type
// it does not know is an error, so that a new kind of field cannot slip into
// the schema as an unconstrained value.
func structSchema(t reflect.Type, path string) (map[string]any, error) {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		s, err := typeSchema(f.Type, joinDotted(path, name))
		if err != nil {
			return nil, err
		}
		props[name] = s
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}, nil
}

var (
	timeType = reflect.TypeOf(Time{})
	rawType  = reflect.TypeOf(json.RawMessage(nil))
)

func typeSchema(t reflect.Type, path string) (map[string]any, error) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time", "pattern": rfc3339.String()}, nil
	case t == rawType:
		return map[string]any{"type": "object"}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.Int:
		return map[string]any{"type": "integer"}, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return map[string]any{"type": "array", "items": map[string]any{"type": "string"}}, nil
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String {
			return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}, nil
		}
	case reflect.Struct:
		return structSchema(t, path)
	}
	return nil, fmt.Errorf("feedback schema: field %q has Go type %s, which JSONSchema does not map", path, t)
}

func strs[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	return out
}

func tagSchema() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"enum": Taxonomy},
		map[string]any{"pattern": TagPattern},
	}}
}

func idSchema() map[string]any {
	return map[string]any{"maxLength": MaxIDBytes, "pattern": idPattern}
}

// constraints adds, per dotted path, what the Go types cannot say.
func constraints() map[string]map[string]any {
	id := idSchema()
	text := func(limit int) map[string]any { return map[string]any{"maxLength": limit} }
	ids := map[string]any{"items": map[string]any{"minLength": 1, "maxLength": MaxIDBytes, "pattern": idPattern}}
	return map[string]map[string]any{
		"schema":                  {"const": Schema},
		"kind":                    {"enum": strs(Kinds)},
		"feedback_id":             id,
		"correlation_id":          id,
		"model.id":                id,
		"model.version":           id,
		"model.released_at":       {"format": "date-time", "pattern": rfc3339.String()},
		"model.effective_version": id,
		"sentiment":               {"enum": strs([]Sentiment{Positive, Negative, Neutral})},
		"reason":                  tagSchema(),
		"tags":                    {"items": tagSchema(), "uniqueItems": true},
		"severity":                {"enum": strs([]Severity{SeverityInfo, SeverityWarning, SeverityCritical})},
		"comment":                 text(MaxCommentBytes),
		"source":                  {"enum": Sources},
		"user.id":                 id,
		"user.role":               id,
		"user.geo":                id,
		"attributes": {
			"maxProperties": MaxAttributes,
			"propertyNames": map[string]any{"minLength": 1, "maxLength": MaxIDBytes, "pattern": idPattern},
		},
		"context.system_prompt":  text(MaxContextFieldBytes),
		"context.input":          text(MaxContextFieldBytes),
		"context.output":         text(MaxContextFieldBytes),
		"context.params":         {"additionalProperties": map[string]any{"type": []string{"number", "string"}}},
		"context.prompt_version": id,
		"edit.original_chars":    {"minimum": 0},
		"edit.edited_chars":      {"minimum": 0},
		"edit.similarity":        {"minimum": 0, "maximum": 1},
		"verdict":                {"enum": Verdicts},
		"reviewer":               id,
		"corrected_output":       text(MaxContextFieldBytes),
		"ticket.system":          id,
		"ticket.key":             id,
		"ticket.url":             {"format": "uri", "pattern": "^https?://[^/?#]"},
		"resolution_id":          id,
		"fixes.tags":             {"items": tagSchema(), "uniqueItems": true},
		"fixes.feedback_ids":     ids,
		"fixes.cluster_ids":      ids,
		"channel":                id,
		"fixes": {"anyOf": []any{
			map[string]any{"required": []string{"tags"}, "properties": map[string]any{"tags": map[string]any{"minItems": 1}}},
			map[string]any{"required": []string{"feedback_ids"}, "properties": map[string]any{"feedback_ids": map[string]any{"minItems": 1}}},
			map[string]any{"required": []string{"cluster_ids"}, "properties": map[string]any{"cluster_ids": map[string]any{"minItems": 1}}},
		}},
	}
}

// perKind turns kindRules into one if/then per kind: required fields must be
// present and non-empty, fields limited to other kinds must be absent.
func perKind() ([]any, error) {
	var out []any
	for _, k := range Kinds {
		then := map[string]any{}
		for _, r := range kindRules {
			parent, name, nested := strings.Cut(r.field, ".")
			if !nested {
				name, parent = parent, ""
			}
			if contains(r.required, k) {
				if parent == "" {
					addRequired(then, name)
					setProp(then, name, map[string]any{"minLength": 1}, isString(name))
				} else {
					addRequired(then, parent)
					sub := propSchema(then, parent)
					addRequired(sub, name)
					setProp(sub, name, map[string]any{"minLength": 1}, true)
				}
			}
			if r.only != nil && !contains(r.only, k) {
				if nested {
					return nil, fmt.Errorf("feedback schema: kind rule %q: only top-level fields can be limited to kinds", r.field)
				}
				then["properties"] = withProp(then["properties"], name, false)
			}
		}
		out = append(out, map[string]any{
			"if":   map[string]any{"properties": map[string]any{"kind": map[string]any{"const": string(k)}}, "required": []string{"kind"}},
			"then": then,
		})
	}
	return out, nil
}

// isString reports whether the top-level Event field name is a string, the
// fields for which "required" also means "not empty".
func isString(name string) bool {
	t := reflect.TypeOf(Event{})
	for i := 0; i < t.NumField(); i++ {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n == name {
			return t.Field(i).Type.Kind() == reflect.String
		}
	}
	return false
}

func contains(list []Kind, k Kind) bool {
	for _, v := range list {
		if v == k {
			return true
		}
	}
	return false
}

func addRequired(s map[string]any, name string) {
	req, _ := s["required"].([]string)
	for _, r := range req {
		if r == name {
			return
		}
	}
	req = append(req, name)
	sort.Strings(req)
	s["required"] = req
}

func propSchema(s map[string]any, name string) map[string]any {
	props, _ := s["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		s["properties"] = props
	}
	p, _ := props[name].(map[string]any)
	if p == nil {
		p = map[string]any{}
		props[name] = p
	}
	return p
}

func setProp(s map[string]any, name string, v map[string]any, ok bool) {
	if !ok {
		return
	}
	p := propSchema(s, name)
	for k, x := range v {
		p[k] = x
	}
}

func withProp(props any, name string, v any) map[string]any {
	m, _ := props.(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	m[name] = v
	return m
}

func joinDotted(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
