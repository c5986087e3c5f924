package client

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// schemaLeaves lists the leaf paths of schema/event.schema.json (objects
// with properties are walked; maps such as attributes are leaves).
func schemaLeaves(t *testing.T) (all []string, schema map[string]any) {
	t.Helper()
	data, err := os.ReadFile("../../schema/event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, props map[string]any)
	walk = func(prefix string, props map[string]any) {
		for name, sub := range props {
			m, _ := sub.(map[string]any)
			if p, ok := m["properties"].(map[string]any); ok {
				walk(prefix+name+".", p)
			} else {
				all = append(all, prefix+name)
			}
		}
	}
	walk("", schema["properties"].(map[string]any))
	sort.Strings(all)
	return all, schema
}

// jsonLeaves lists the JSON paths of a struct type by its json tags.
func jsonLeaves(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(feedback.Time{}) {
			out = append(out, jsonLeaves(ft, prefix+name+".")...)
		} else {
			out = append(out, prefix+name)
		}
	}
	sort.Strings(out)
	return out
}

// Send takes feedback.Event: its fields must be exactly the schema's.
func TestRequestTypeCoversTheSchema(t *testing.T) {
	schema, _ := schemaLeaves(t)
	diff(t, "feedback.Event vs schema/event.schema.json", jsonLeaves(reflect.TypeOf(feedback.Event{}), ""), schema)
}

// Record's Snapshot must offer every field the schema allows on an
// interaction, except those the client or collector fills in.
func TestSnapshotCoversTheInteraction(t *testing.T) {
	all, schema := schemaLeaves(t)
	banned := map[string]bool{}
	for _, r := range schema["allOf"].([]any) {
		rule := r.(map[string]any)
		kind, _ := rule["if"].(map[string]any)["properties"].(map[string]any)["kind"].(map[string]any)["const"].(string)
		if kind != string(feedback.KindInteraction) {
			continue
		}
		for k, v := range rule["then"].(map[string]any)["properties"].(map[string]any) {
			if v == false {
				banned[k] = true
			}
		}
	}
	notOffered := map[string]bool{
		"schema": true, "kind": true, "timestamp": true, // Record sets them
		"model.effective_version": true, // the collector computes it
		// feedback fields the schema does not forbid on an interaction
		"feedback_id": true, "reason": true, "tags": true, "severity": true, "comment": true, "source": true,
	}
	var want []string
	for _, p := range all {
		if !banned[strings.Split(p, ".")[0]] && !notOffered[p] {
			// Snapshot holds the context fields at its top level.
			want = append(want, strings.TrimPrefix(p, "context."))
		}
	}
	sort.Strings(want)
	var got []string
	for _, p := range jsonLeaves(reflect.TypeOf(Snapshot{}), "") {
		if !notOffered[p] { // Snapshot.Model is a feedback.Model
			got = append(got, p)
		}
	}
	diff(t, "Snapshot fields vs the schema's interaction fields", got, want)
}
