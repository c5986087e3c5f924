package feedback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"
)

// The schema is checked by a validator for exactly the keywords JSONSchema
// writes, which refuses any other keyword: a JSON Schema library would mean
// a new module requirement in go.mod, a file every branch edits, for a test
// of one schema whose keyword set this validator pins down.
type schemaValidator struct {
	t    *testing.T
	errs []string
}

var annotationKeywords = map[string]bool{"$schema": true, "title": true, "description": true, "format": true}

func (v *schemaValidator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf("%s: %s", pathOrRoot(path), fmt.Sprintf(format, args...)))
}

func pathOrRoot(p string) string {
	if p == "" {
		return "(event)"
	}
	return p
}

func (v *schemaValidator) validate(schema any, val any, path string) {
	switch s := schema.(type) {
	case bool:
		if !s {
			v.fail(path, "not allowed (false schema)")
		}
		return
	case map[string]any:
		v.validateObject(s, val, path)
	default:
		v.t.Fatalf("schema at %s is %T, want an object or a boolean", path, schema)
	}
}

func (v *schemaValidator) validateObject(s map[string]any, val any, path string) {
	for k, kw := range s {
		switch k {
		case "$schema", "title", "description", "format":
		case "type":
			v.typ(kw, val, path)
		case "const":
			if !sameJSON(kw, val) {
				v.fail(path, "must be %v", kw)
			}
		case "enum":
			ok := false
			for _, e := range kw.([]any) {
				ok = ok || sameJSON(e, val)
			}
			if !ok {
				v.fail(path, "%v is not one of %v", val, kw)
			}
		case "pattern":
			if str, ok := val.(string); ok && !regexp.MustCompile(kw.(string)).MatchString(str) {
				v.fail(path, "%q does not match %s", str, kw)
			}
		case "minLength", "maxLength":
			if str, ok := val.(string); ok {
				n, limit := utf8.RuneCountInString(str), intOf(v.t, kw)
				if k == "minLength" && n < limit || k == "maxLength" && n > limit {
					v.fail(path, "length %d breaks %s %d", n, k, limit)
				}
			}
		case "minimum", "maximum":
			if num, ok := val.(json.Number); ok {
				x, _ := new(big.Float).SetString(num.String())
				limit, _ := new(big.Float).SetString(fmt.Sprint(kw))
				if k == "minimum" && x.Cmp(limit) < 0 || k == "maximum" && x.Cmp(limit) > 0 {
					v.fail(path, "%s breaks %s %v", num, k, kw)
				}
			}
		case "required":
			if obj, ok := val.(map[string]any); ok {
				for _, r := range kw.([]any) {
					if _, present := obj[r.(string)]; !present {
						v.fail(joinDotted(path, r.(string)), "required")
					}
				}
			}
		case "properties":
			if obj, ok := val.(map[string]any); ok {
				for name, sub := range kw.(map[string]any) {
					if x, present := obj[name]; present {
						v.validate(sub, x, joinDotted(path, name))
					}
				}
			}
		case "additionalProperties":
			if obj, ok := val.(map[string]any); ok {
				props, _ := s["properties"].(map[string]any)
				for name, x := range obj {
					if _, known := props[name]; !known {
						v.validate(kw, x, joinDotted(path, name))
					}
				}
			}
		case "propertyNames":
			if obj, ok := val.(map[string]any); ok {
				for name := range obj {
					v.validate(kw, name, joinDotted(path, name)+"(key)")
				}
			}
		case "maxProperties":
			if obj, ok := val.(map[string]any); ok && len(obj) > intOf(v.t, kw) {
				v.fail(path, "%d properties, at most %v", len(obj), kw)
			}
		case "items":
			if arr, ok := val.([]any); ok {
				for i, x := range arr {
					v.validate(kw, x, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		case "minItems":
			if arr, ok := val.([]any); ok && len(arr) < intOf(v.t, kw) {
				v.fail(path, "%d items, at least %v", len(arr), kw)
			}
		case "uniqueItems":
			if arr, ok := val.([]any); ok && kw == true {
				for i := range arr {
					for j := 0; j < i; j++ {
						if sameJSON(arr[i], arr[j]) {
							v.fail(fmt.Sprintf("%s[%d]", path, i), "duplicate item")
						}
					}
				}
			}
		case "anyOf":
			ok := false
			for _, sub := range kw.([]any) {
				ok = ok || v.passes(sub, val, path)
			}
			if !ok {
				v.fail(path, "matches none of anyOf")
			}
		case "allOf":
			for _, sub := range kw.([]any) {
				v.validate(sub, val, path)
			}
		case "if":
			if v.passes(kw, val, path) {
				if then, ok := s["then"]; ok {
					v.validate(then, val, path)
				}
			}
		case "then":
		default:
			v.t.Fatalf("schema at %s uses keyword %q, which this test's validator does not implement", pathOrRoot(path), k)
		}
	}
}

func (v *schemaValidator) passes(schema, val any, path string) bool {
	sub := &schemaValidator{t: v.t}
	sub.validate(schema, val, path)
	return len(sub.errs) == 0
}

func (v *schemaValidator) typ(kw, val any, path string) {
	var names []string
	switch k := kw.(type) {
	case string:
		names = []string{k}
	case []any:
		for _, n := range k {
			names = append(names, n.(string))
		}
	}
	for _, n := range names {
		if typeOf(val, n) {
			return
		}
	}
	v.fail(path, "must be of type %s, got %T", strings.Join(names, " or "), val)
}

func typeOf(val any, name string) bool {
	switch name {
	case "string":
		_, ok := val.(string)
		return ok
	case "number":
		_, ok := val.(json.Number)
		return ok
	case "integer":
		n, ok := val.(json.Number)
		if !ok {
			return false
		}
		f, _, err := big.ParseFloat(n.String(), 10, 200, big.ToNearestEven)
		return err == nil && f.IsInt()
	case "array":
		_, ok := val.([]any)
		return ok
	case "object":
		_, ok := val.(map[string]any)
		return ok
	case "boolean":
		_, ok := val.(bool)
		return ok
	}
	panic("unknown JSON Schema type " + name)
}

func intOf(t *testing.T, kw any) int {
	n, ok := kw.(json.Number)
	if !ok {
		t.Fatalf("expected a number in the schema, got %T", kw)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return int(i)
}

func sameJSON(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ab, bb)
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := decodeJSON(t, b).(map[string]any)
	if !ok {
		t.Fatal("schema is not an object")
	}
	return s
}

func schemaErrors(t *testing.T, schema map[string]any, event []byte) []string {
	t.Helper()
	v := &schemaValidator{t: t}
	v.validate(schema, decodeJSON(t, event), "")
	sort.Strings(v.errs)
	return v.errs
}

// schemaTree lists the dotted property paths of a schema's property tree.
func schemaTree(s map[string]any, prefix string, out map[string]bool) {
	props, _ := s["properties"].(map[string]any)
	for name, sub := range props {
		p := joinDotted(prefix, name)
		out[p] = true
		if m, ok := sub.(map[string]any); ok {
			schemaTree(m, p, out)
		}
	}
}

// structTree lists the dotted json paths of a struct, walking it on its own
// (not through JSONSchema's walker) so the two can be compared.
func structTree(t reflect.Type, prefix string, out map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := joinDotted(prefix, name)
		out[p] = true
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != timeType {
			structTree(ft, p, out)
		}
	}
}

func diffSets(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestSchemaPropertiesAreEventFields(t *testing.T) {
	fromSchema, fromStruct := map[string]bool{}, map[string]bool{}
	schemaTree(loadSchema(t), "", fromSchema)
	structTree(reflect.TypeOf(Event{}), "", fromStruct)
	if missing := diffSets(fromStruct, fromSchema); len(missing) > 0 {
		t.Errorf("Event fields missing from the schema: %v", missing)
	}
	if extra := diffSets(fromSchema, fromStruct); len(extra) > 0 {
		t.Errorf("schema properties that are not Event fields: %v", extra)
	}
	if len(fromSchema) < 40 {
		t.Errorf("schema has only %d properties: %v", len(fromSchema), fromSchema)
	}
}

// TestSchemaPropertiesAreDecoded ties the schema to the strict decoder: every
// property is a field the decoder knows (a wrong-typed value is reported as
// such, not as an unknown field), and a name the schema lacks is unknown to
// both.
func TestSchemaPropertiesAreDecoded(t *testing.T) {
	paths := map[string]bool{}
	schemaTree(loadSchema(t), "", paths)
	for p := range paths {
		obj := map[string]any{"kind": "feedback"}
		parts := strings.Split(p, ".")
		cur := obj
		for _, name := range parts[:len(parts)-1] {
			next := map[string]any{}
			cur[name] = next
			cur = next
		}
		cur[parts[len(parts)-1]] = true
		b, _ := json.Marshal(obj)
		_, errs := Decode(b)
		for _, e := range errs {
			if e.Message == "unknown field" {
				t.Errorf("schema property %s: the decoder says %v", p, e)
			}
		}
	}
	for _, p := range []string{"bogus", "model.bogus", "user.bogus", "context.bogus", "edit.bogus", "ticket.bogus", "fixes.bogus"} {
		parent, name, nested := strings.Cut(p, ".")
		var obj map[string]any
		if nested {
			obj = map[string]any{"kind": "feedback", parent: map[string]any{name: "x"}}
		} else {
			obj = map[string]any{"kind": "feedback", p: "x"}
		}
		b, _ := json.Marshal(obj)
		_, errs := Decode(b)
		unknown := false
		for _, e := range errs {
			unknown = unknown || e.Field == p && e.Message == "unknown field"
		}
		if !unknown {
			t.Errorf("decoder did not report %s as unknown: %v", p, errs)
		}
		if errs := schemaErrors(t, loadSchema(t), b); !hasPrefix(errs, p+": ") {
			t.Errorf("schema accepts unknown %s: %v", p, errs)
		}
	}
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestCorpusValidatesAgainstSchema(t *testing.T) {
	schema := loadSchema(t)
	for i, line := range corpusLines(t) {
		if errs := schemaErrors(t, schema, line); len(errs) > 0 {
			t.Errorf("line %d: %v", i+1, errs)
		}
	}
}

// TestSchemaKindRulesAgreeWithValidate adds and removes every property of
// the schema on a corpus event of every kind and checks that the schema and
// Decode (which runs Validate) accept and reject the same events. It does not
// read kindRules, so a rule missing from that table fails here.
func TestSchemaKindRulesAgreeWithValidate(t *testing.T) {
	schema := loadSchema(t)
	base := map[Kind]map[string]any{}
	for _, line := range corpusLines(t) {
		m := decodeJSON(t, line).(map[string]any)
		k := Kind(m["kind"].(string))
		if base[k] == nil {
			base[k] = m
		}
	}
	n := func(s string) json.Number { return json.Number(s) }
	samples := map[string]any{
		"schema": Schema, "feedback_id": "01TESTFEEDBACK", "correlation_id": "c-1",
		"timestamp": "2026-11-20T06:00:00Z", "model": map[string]any{"id": "m", "version": "v1"},
		"model.id": "m", "model.version": "v1", "model.released_at": "2026-11-01T09:00:00Z", "model.effective_version": "ev-1",
		"sentiment": "negative", "score": n("0.5"), "reason": "bias", "tags": []any{"bias", "custom_tag"},
		"severity": "warning", "comment": "too slow", "source": "api",
		"user": map[string]any{"id": "u"}, "user.id": "u", "user.role": "admin", "user.geo": "DE",
		"attributes": map[string]any{"domain": "tax"},
		"context":    map[string]any{"input": "q"}, "context.system_prompt": "s", "context.input": "q", "context.output": "a",
		"context.params": map[string]any{"temperature": n("0.2")}, "context.prompt_version": "sp-1",
		"edit":                map[string]any{"original_chars": n("10"), "edited_chars": n("12"), "similarity": n("0.5")},
		"edit.original_chars": n("10"), "edit.edited_chars": n("12"), "edit.similarity": n("0.5"),
		"verdict": "confirmed", "reviewer": "rev", "corrected_output": "fixed",
		"ticket":        map[string]any{"system": "jira", "key": "AI-1"},
		"ticket.system": "jira", "ticket.key": "AI-1", "ticket.url": "https://jira.example/AI-1",
		"resolution_id": "r-1", "channel": "slack",
		"fixes":      map[string]any{"tags": []any{"bias"}},
		"fixes.tags": []any{"bias"}, "fixes.feedback_ids": []any{"f-1"}, "fixes.cluster_ids": []any{"cl-1"},
	}
	paths := map[string]bool{}
	schemaTree(schema, "", paths)
	delete(paths, "kind") // varied by the outer loop
	checked, rejected := 0, 0
	for _, k := range Kinds {
		if base[k] == nil {
			t.Fatalf("corpus has no %s event", k)
		}
		for _, p := range sortedSet(paths) {
			sample, ok := samples[p]
			if !ok {
				t.Fatalf("no sample value for schema property %s: add one to this test", p)
			}
			for _, present := range []bool{true, false} {
				ev := deepCopy(base[k]).(map[string]any)
				setPath(ev, p, sample, present)
				b, _ := json.Marshal(ev)
				_, derrs := Decode(b)
				serrs := schemaErrors(t, schema, b)
				if (len(derrs) == 0) != (len(serrs) == 0) {
					t.Errorf("%s with %s present=%v: Decode errors %v, schema errors %v", k, p, present, derrs, serrs)
				}
				checked++
				if len(derrs) > 0 {
					rejected++
				}
			}
		}
	}
	// Every kind has required and kind-limited fields, so a good share of
	// the cases must be refusals; otherwise the probe proves nothing.
	if checked < 400 || rejected < 60 {
		t.Errorf("checked %d cases, %d refused", checked, rejected)
	}
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func setPath(ev map[string]any, path string, val any, present bool) {
	parts := strings.Split(path, ".")
	cur := ev
	for _, name := range parts[:len(parts)-1] {
		next, ok := cur[name].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[name] = next
		}
		cur = next
	}
	last := parts[len(parts)-1]
	if present {
		cur[last] = deepCopy(val)
	} else {
		delete(cur, last)
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}

// TestSchemaRejectsWhatValidateRejects covers the value rules: each event
// breaks one rule, and both the collector and the schema must refuse it.
func TestSchemaRejectsWhatValidateRejects(t *testing.T) {
	schema := loadSchema(t)
	valid := `"schema":"feedback/v1","kind":"feedback","correlation_id":"c1","model":{"id":"m","version":"v"},"sentiment":"negative"`
	attrs := make([]string, MaxAttributes+1)
	for i := range attrs {
		attrs[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	cases := map[string]string{
		"schema":          `{"schema":"feedback/v2","kind":"feedback","correlation_id":"c1","model":{"id":"m","version":"v"},"sentiment":"negative"}`,
		"kind missing":    `{"correlation_id":"c1","model":{"id":"m","version":"v"},"sentiment":"negative"}`,
		"kind unknown":    `{"kind":"vote","correlation_id":"c1","model":{"id":"m","version":"v"}}`,
		"sentiment":       `{` + valid[:len(valid)-len(`"negative"`)] + `"angry"}`,
		"tag form":        `{` + valid + `,"tags":["Bias"]}`,
		"tag too long":    `{` + valid + `,"tags":["` + strings.Repeat("a", 41) + `"]}`,
		"tag duplicate":   `{` + valid + `,"tags":["bias","bias"]}`,
		"reason":          `{` + valid + `,"reason":"9lives"}`,
		"severity":        `{` + valid + `,"severity":"fatal"}`,
		"source":          `{` + valid + `,"source":"email"}`,
		"comment size":    `{` + valid + `,"comment":"` + strings.Repeat("x", MaxCommentBytes+1) + `"}`,
		"id control char": `{` + valid[:len(valid)-len(`,"model":{"id":"m","version":"v"},"sentiment":"negative"`)] + `,"model":{"id":"m\u0001","version":"v"},"sentiment":"negative"}`,
		"id size":         `{` + valid + `,"user":{"id":"` + strings.Repeat("u", MaxIDBytes+1) + `"}}`,
		"attributes":      `{` + valid + `,"attributes":{` + strings.Join(attrs, ",") + `}}`,
		"attribute value": `{` + valid + `,"attributes":{"domain":1}}`,
		"timestamp":       `{` + valid + `,"timestamp":"2026-11-20 06:00"}`,
		"released_at":     `{` + valid[:len(valid)-len(`,"model":{"id":"m","version":"v"},"sentiment":"negative"`)] + `,"model":{"id":"m","version":"v","released_at":"yesterday"},"sentiment":"negative"}`,
		"score type":      `{` + valid + `,"score":"high"}`,
		"edit similarity": `{` + valid + `,"edit":{"original_chars":1,"edited_chars":1,"similarity":1.5}}`,
		"edit chars":      `{` + valid + `,"edit":{"original_chars":-1,"edited_chars":1,"similarity":0.5}}`,
		"edit integer":    `{` + valid + `,"edit":{"original_chars":1.5,"edited_chars":1,"similarity":0.5}}`,
		"params value":    `{` + valid + `,"context":{"params":{"stop":["x"]}}}`,
		"params type":     `{` + valid + `,"context":{"params":[1]}}`,
		"ticket url":      `{"kind":"escalation","feedback_id":"f","ticket":{"system":"jira","key":"K-1","url":"ftp://x"}}`,
		"fixes empty":     `{"kind":"resolution","resolution_id":"r","model":{"id":"m","version":"v"},"fixes":{"tags":[]}}`,
		"fixes empty id":  `{"kind":"resolution","resolution_id":"r","model":{"id":"m","version":"v"},"fixes":{"feedback_ids":[""]}}`,
		"verdict":         `{"kind":"review","feedback_id":"f","verdict":"maybe"}`,
		"null":            `{` + valid + `,"comment":null}`,
	}
	for name, ev := range cases {
		if !json.Valid([]byte(ev)) {
			t.Fatalf("%s: test event is not JSON: %s", name, ev)
		}
		if _, errs := Decode([]byte(ev)); len(errs) == 0 {
			t.Errorf("%s: Decode accepts %s", name, ev)
		}
		if errs := schemaErrors(t, schema, []byte(ev)); len(errs) == 0 {
			t.Errorf("%s: schema accepts %s", name, ev)
		}
	}
	if errs := schemaErrors(t, schema, []byte(`{`+valid+`}`)); len(errs) > 0 {
		t.Errorf("schema rejects the valid base event: %v", errs)
	}
}

func TestSchemaRefusesUnmappedTypes(t *testing.T) {
	type bad struct {
		Flags map[string]int `json:"flags"`
	}
	if _, err := structSchema(reflect.TypeOf(bad{}), ""); err == nil || !strings.Contains(err.Error(), `"flags"`) {
		t.Errorf("structSchema error = %v, want one naming the field flags", err)
	}
}
