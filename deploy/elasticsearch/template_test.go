package elastictemplate

import (
	"bufio"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
)

type mapping struct {
	Type       string             `json:"type"`
	Properties map[string]mapping `json:"properties"`
	Dynamic    any                `json:"dynamic"`
	Fields     map[string]mapping `json:"fields"`
	Index      *bool              `json:"index"`
	Format     string             `json:"format"`
	Enabled    *bool              `json:"enabled"`
}

type template struct {
	IndexPatterns []string `json:"index_patterns"`
	Template      struct {
		Mappings struct {
			Dynamic          any                          `json:"dynamic"`
			DynamicTemplates []map[string]json.RawMessage `json:"dynamic_templates"`
			Properties       map[string]mapping           `json:"properties"`
		} `json:"mappings"`
	} `json:"template"`
}

func load(t *testing.T) template {
	t.Helper()
	var tpl template
	if err := json.Unmarshal(IndexTemplate, &tpl); err != nil {
		t.Fatalf("index template is not valid JSON: %v", err)
	}
	return tpl
}

// lookup resolves a dotted path through object properties.
func lookup(props map[string]mapping, path string) (mapping, bool) {
	parts := strings.Split(path, ".")
	cur := props
	for i, p := range parts {
		m, ok := cur[p]
		if !ok {
			return mapping{}, false
		}
		if i == len(parts)-1 {
			return m, true
		}
		cur = m.Properties
	}
	return mapping{}, false
}

func TestTemplateMatchesDesign(t *testing.T) {
	tpl := load(t)
	if len(tpl.IndexPatterns) != 1 || tpl.IndexPatterns[0] != "model-feedback-*" {
		t.Fatalf("index_patterns = %v", tpl.IndexPatterns)
	}
	props := tpl.Template.Mappings.Properties
	keywords := []string{
		"schema", "kind", "feedback_id", "correlation_id", "model.id", "model.version",
		"model.effective_version", "sentiment", "reason", "severity", "source", "user.id",
		"user.role", "user.geo", "verdict", "reviewer", "resolution_id", "channel",
		"ticket.system", "ticket.key", "ticket.url", "fixes.tags", "fixes.feedback_ids",
		"fixes.cluster_ids", "tags", "context.system_prompt", "context.input",
		"context.output", "context.prompt_version",
	}
	for _, f := range keywords {
		m, ok := lookup(props, f)
		if !ok || m.Type != "keyword" {
			t.Errorf("%s: want keyword, got %+v (found %v)", f, m, ok)
		}
	}
	ts, _ := lookup(props, "timestamp")
	if ts.Type != "date_nanos" || ts.Format != "strict_date_optional_time_nanos" {
		t.Errorf("timestamp = %+v, want date_nanos strict_date_optional_time_nanos", ts)
	}
	c, _ := lookup(props, "comment")
	if c.Type != "text" || c.Fields["keyword"].Type != "keyword" {
		t.Errorf("comment = %+v, want text with a keyword sub-field", c)
	}
	for _, f := range []string{"score", "edit.original_chars", "edit.edited_chars", "edit.similarity"} {
		m, _ := lookup(props, f)
		switch m.Type {
		case "long", "integer", "double", "float":
		default:
			t.Errorf("%s: want numeric, got %q", f, m.Type)
		}
	}
	if m, _ := lookup(props, "corrected_output"); m.Type != "text" {
		t.Errorf("corrected_output = %q, want text", m.Type)
	}
	// attributes.* and context.params.* (the generation parameters that
	// params.<key> filters and groups by) are keyword, whatever keys they
	// bring.
	dt := tpl.Template.Mappings.DynamicTemplates
	if len(dt) != 2 {
		t.Fatalf("dynamic_templates = %d, want the attributes and the context.params one", len(dt))
	}
	for i, want := range []string{"attributes.*", "context.params.*"} {
		var d struct {
			PathMatch string  `json:"path_match"`
			Mapping   mapping `json:"mapping"`
		}
		for _, raw := range dt[i] {
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
		}
		if d.PathMatch != want || d.Mapping.Type != "keyword" {
			t.Errorf("dynamic template %d = %+v, want %s as keyword", i, d, want)
		}
	}
	if a, _ := lookup(props, "attributes"); a.Dynamic != true {
		t.Errorf("attributes must stay dynamic so the dynamic template applies, got %v", a.Dynamic)
	}
	if a, _ := lookup(props, "context.params"); a.Dynamic != true || a.Type != "object" {
		t.Errorf("context.params must be a dynamic object so the dynamic template applies, got %+v", a)
	}
}

// Root mapping is not dynamic, so a field the template forgets is silently
// unsearchable; every leaf of the recorded corpus must therefore be mapped.
func TestTemplateCoversFixtureCorpus(t *testing.T) {
	for _, path := range []string{lokitest.CorpusPath(), lokitest.AttributionCorpusPath()} {
		coversCorpus(t, path)
	}
}

func coversCorpus(t *testing.T, path string) {
	tpl := load(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	missing := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if prefix == "attributes" || prefix == "context.params" {
				return
			}
			for k, y := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, y)
			}
		case []any:
			for _, y := range x {
				walk(prefix, y)
			}
		default:
			if _, ok := lookup(tpl.Template.Mappings.Properties, prefix); !ok {
				missing[prefix] = true
			}
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		walk("", ev)
		n++
	}
	if n == 0 {
		t.Fatal("empty corpus")
	}
	if len(missing) > 0 {
		var m []string
		for k := range missing {
			m = append(m, k)
		}
		sort.Strings(m)
		t.Errorf("fields without a mapping: %v", m)
	}
}
