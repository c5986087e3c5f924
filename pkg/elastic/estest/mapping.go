package estest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	elastictemplate "github.com/feedbackloop/modelfeedback/deploy/elasticsearch"
)

// field is one mapped field: its type and how it is indexed. The mapping
// decides what a query can see, so the double reads the shipped index
// template rather than a copy that could drift from it.
type field struct {
	name        string // full dotted name
	source      string // where the value is in _source (differs for multi-fields)
	typ         string
	ignoreAbove int  // 0: none
	indexed     bool // index: false fields cannot be searched
	raw         json.RawMessage
}

type mapping struct {
	fields map[string]*field
	// dynamic are the prefix.* templates (attributes.*, context.params.*):
	// a leaf under the prefix is mapped by the template when first seen.
	dynamic []dynamicTemplate
}

type dynamicTemplate struct {
	prefix string // "attributes."
	raw    json.RawMessage
}

type propMapping struct {
	Type        string                     `json:"type"`
	IgnoreAbove int                        `json:"ignore_above"`
	Index       *bool                      `json:"index"`
	Properties  map[string]json.RawMessage `json:"properties"`
	Fields      map[string]json.RawMessage `json:"fields"`
	Dynamic     any                        `json:"dynamic"`
}

func loadMapping() (*mapping, error) {
	var tpl struct {
		Template struct {
			Mappings struct {
				Dynamic          any                          `json:"dynamic"`
				DynamicTemplates []map[string]json.RawMessage `json:"dynamic_templates"`
				Properties       map[string]json.RawMessage   `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(elastictemplate.IndexTemplate, &tpl); err != nil {
		return nil, fmt.Errorf("estest: reading the index template: %w", err)
	}
	mp := tpl.Template.Mappings
	if mp.Dynamic != false {
		return nil, fmt.Errorf("estest: the index template is no longer dynamic: false; the double only knows mapped fields")
	}
	m := &mapping{fields: map[string]*field{}}
	for _, dt := range mp.DynamicTemplates {
		for name, raw := range dt {
			var d struct {
				PathMatch string          `json:"path_match"`
				Mapping   json.RawMessage `json:"mapping"`
			}
			if err := json.Unmarshal(raw, &d); err != nil {
				return nil, err
			}
			if !strings.HasSuffix(d.PathMatch, ".*") || strings.Count(d.PathMatch, "*") != 1 {
				return nil, fmt.Errorf("estest: dynamic template %s (%s) is not a <prefix>.* template, the only kind the double implements", name, d.PathMatch)
			}
			m.dynamic = append(m.dynamic, dynamicTemplate{prefix: strings.TrimSuffix(d.PathMatch, "*"), raw: d.Mapping})
		}
	}
	if err := m.add("", mp.Properties); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *mapping) add(prefix string, props map[string]json.RawMessage) error {
	for name, raw := range props {
		var p propMapping
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		full := prefix + name
		if p.Properties != nil || p.Type == "object" {
			if err := m.add(full+".", p.Properties); err != nil {
				return err
			}
			continue
		}
		m.fields[full] = newField(full, full, p, raw)
		for sub, sraw := range p.Fields {
			var sp propMapping
			if err := json.Unmarshal(sraw, &sp); err != nil {
				return err
			}
			m.fields[full+"."+sub] = newField(full+"."+sub, full, sp, sraw)
		}
	}
	return nil
}

func newField(name, source string, p propMapping, raw json.RawMessage) *field {
	return &field{name: name, source: source, typ: p.Type, ignoreAbove: p.IgnoreAbove,
		indexed: p.Index == nil || *p.Index, raw: raw}
}

// lookup returns the mapping of a field in the given indices: a template
// field, or an attribute key some document of those indices carries (the
// dynamic template maps it then). nil means unmapped.
func (s *Server) lookup(name string, indices []string) *field {
	if f, ok := s.mapping.fields[name]; ok {
		return f
	}
	for _, dt := range s.mapping.dynamic {
		p := dt.prefix
		if !strings.HasPrefix(name, p) || strings.Contains(name[len(p):], ".") {
			continue
		}
		for _, idx := range indices {
			for _, d := range s.indices[idx] {
				if d.has(name) {
					return dt.field(name)
				}
			}
		}
	}
	return nil
}

func (dt dynamicTemplate) field(name string) *field {
	var p propMapping
	_ = json.Unmarshal(dt.raw, &p)
	return newField(name, name, p, dt.raw)
}

// fieldMapping answers GET <index>/_mapping/field/<fields>: per index, every
// mapped leaf field matching one of the names or * patterns.
func (s *Server) fieldMapping(indices []string, patterns []string) ([]byte, error) {
	for _, p := range patterns {
		if p == "" {
			return nil, unsupported("an empty field name in _mapping/field")
		}
	}
	type entry struct {
		FullName string                     `json:"full_name"`
		Mapping  map[string]json.RawMessage `json:"mapping"`
	}
	out := map[string]any{}
	for _, idx := range indices {
		names := map[string]*field{}
		for n, f := range s.mapping.fields {
			names[n] = f
		}
		for _, d := range s.indices[idx] {
			for _, dt := range s.mapping.dynamic {
				for _, n := range d.attributeKeys(dt.prefix) {
					names[n] = dt.field(n)
				}
			}
		}
		mappings := map[string]entry{}
		keys := make([]string, 0, len(names))
		for n := range names {
			keys = append(keys, n)
		}
		sort.Strings(keys)
		for _, n := range keys {
			for _, p := range patterns {
				if glob(p, n) {
					leaf := n[strings.LastIndex(n, ".")+1:]
					mappings[n] = entry{FullName: n, Mapping: map[string]json.RawMessage{leaf: names[n].raw}}
					break
				}
			}
		}
		out[idx] = map[string]any{"mappings": mappings}
	}
	return json.Marshal(out)
}
