package devstack_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const pluginID = "feedbackloop-modelfeedback-datasource"

// root is the repository root, found from this file so the tests do not
// depend on the working directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// provisioned is the data source as Grafana provisions it.
type provisioned struct {
	Name     string
	UID      string
	Type     string
	JSONData json.RawMessage
}

// grafanaExpand does what Grafana does to every string value of a
// provisioning file (pkg/services/provisioning/values, interpolateValue):
// "$$" is a literal "$", and any other $NAME or ${NAME} is replaced from
// Grafana's environment. It reports the names it would have replaced: the
// shipped files must not depend on Grafana's environment, so every $ meant
// for the data source has to be written $$.
func grafanaExpand(s string) (string, []string) {
	var used []string
	parts := strings.Split(s, "$$")
	for i, p := range parts {
		parts[i] = os.Expand(p, func(name string) string {
			used = append(used, name)
			return ""
		})
	}
	return strings.Join(parts, "$"), used
}

// expandAll applies grafanaExpand to every string in a decoded YAML value.
func expandAll(t *testing.T, v any, where string) any {
	t.Helper()
	switch x := v.(type) {
	case string:
		out, used := grafanaExpand(x)
		if len(used) > 0 {
			t.Errorf("%s: %q would be expanded by Grafana from its environment (%v); write $$ for a literal $", where, x, used)
		}
		return out
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = expandAll(t, e, where+"."+k)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = expandAll(t, e, where)
		}
		return out
	}
	return v
}

// loadDatasource reads provisioning/datasources/datasources.yml and returns
// the Feedback Loop data source with jsonData as Grafana hands it to the
// plugin.
func loadDatasource(t *testing.T) provisioned {
	t.Helper()
	var f struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name     string         `yaml:"name"`
			UID      string         `yaml:"uid"`
			Type     string         `yaml:"type"`
			Access   string         `yaml:"access"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(readFile(t, "provisioning/datasources/datasources.yml"), &f); err != nil {
		t.Fatalf("datasources.yml: %v", err)
	}
	if f.APIVersion != 1 {
		t.Fatalf("datasources.yml: apiVersion %d, want 1", f.APIVersion)
	}
	for _, d := range f.Datasources {
		if d.Type != pluginID {
			continue
		}
		js, err := json.Marshal(expandAll(t, d.JSONData, "jsonData"))
		if err != nil {
			t.Fatal(err)
		}
		return provisioned{Name: d.Name, UID: d.UID, Type: d.Type, JSONData: js}
	}
	t.Fatalf("datasources.yml provisions no %s", pluginID)
	return provisioned{}
}
