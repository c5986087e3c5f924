package storage

import "testing"

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
