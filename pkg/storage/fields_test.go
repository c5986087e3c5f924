package storage

import (
	"strings"
	"testing"
)

func TestLookupField(t *testing.T) {
	f, err := LookupField("attributes.domain", false)
	if err != nil || f.LokiLabel != "attributes_domain" || f.JSONPath != "attributes.domain" {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = LookupField("user_role", false)
	if err != nil || f.StreamLabel || f.JSONPath != "user.role" {
		t.Fatalf("%+v %v", f, err)
	}
	if f, _ := LookupField("model_version", false); !f.StreamLabel {
		t.Fatal("model_version is a Loki stream label (docs/storage.md)")
	}
	if _, err := LookupField("user_id", true); err != nil {
		t.Fatal("user_id is a filter field")
	}
}

func TestLookupAttributionFields(t *testing.T) {
	cases := []struct{ name, label, path string }{
		{"prompt_version", "prompt_version", "context.prompt_version"},
		{"effective_version", "effective_version", "model.effective_version"},
		{"params.temperature", "params_temperature", "context.params.temperature"},
		{"params.verbosity", "params_verbosity", "context.params.verbosity"},
	}
	for _, c := range cases {
		for _, forFilter := range []bool{true, false} {
			f, err := LookupField(c.name, forFilter)
			if err != nil || f.StreamLabel || f.FilterOnly || f.LokiLabel != c.label || f.JSONPath != c.path || f.Name != c.name {
				t.Fatalf("%s (filter %v): %+v %v", c.name, forFilter, f, err)
			}
		}
	}
	for _, bad := range []string{"params.", "params.a-b", `params.x"}`, "params.a.b", "params.9x"} {
		if _, err := LookupField(bad, true); err == nil || !strings.Contains(err.Error(), "parameter key") {
			t.Errorf("%q: want a parameter key error, got %v", bad, err)
		}
	}
	names := FieldNames(false)
	if got := strings.Join(names[len(names)-2:], ","); got != "attributes.<key>,params.<key>" {
		t.Fatalf("placeholders: %s", got)
	}
	if ParamKey("temperature") != "params.temperature" || ParamKey("a b") != "" {
		t.Fatal("ParamKey")
	}
}
