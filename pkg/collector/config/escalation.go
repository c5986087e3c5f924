package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Escalation is the file's escalation section: named ticket and chat
// targets, routes choosing among them, and a default (docs/tickets.md). It
// has no flag or environment spelling: it is structured, and its secrets are
// referenced (token_env, token_file), never written in it.
type Escalation struct {
	Targets map[string]Target `yaml:"targets"`
	Routes  []Route           `yaml:"routes"`
	Default []string          `yaml:"default"`
}

// Target is one target: its type, and the rest of its mapping, decoded by
// the target's own package (Decode).
type Target struct {
	Type string
	spec yaml.Node
}

// UnmarshalYAML keeps the mapping for Decode.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a target is a mapping with a type", n.Line)
	}
	rest := *n
	rest.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			t.Type = n.Content[i+1].Value
			continue
		}
		rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
	}
	t.spec = rest
	return nil
}

// Decode reads the target's fields into v (a pointer to the target
// package's Config), refusing fields v does not have.
func (t Target) Decode(v any) error {
	err := strict(&t.spec, v)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	// The node was re-encoded for strict decoding, so yaml's line numbers
	// would mislead; name the fields instead.
	msgs := make([]string, len(te.Errors))
	for i, e := range te.Errors {
		m := unknownField.FindStringSubmatch(e)
		switch {
		case m == nil:
			msgs[i] = unknownLine.ReplaceAllString(e, "")
		case secretFields[m[1]]:
			msgs[i] = m[1] + ": unknown field; secrets are never written in the configuration: name their environment variable (" + m[1] + "_env) or file (" + m[1] + "_file)"
		default:
			msgs[i] = m[1] + ": unknown field"
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

var (
	unknownField = regexp.MustCompile(`^line \d+: field (\S+) not found in type \S+$`)
	unknownLine  = regexp.MustCompile(`^line \d+: `)
	secretFields = map[string]bool{"token": true, "api_key": true, "webhook_url": true, "password": true}
)

// Route sends the feedback it matches to its targets.
type Route struct {
	Name    string   `yaml:"name"`
	Match   Match    `yaml:"match"`
	Targets []string `yaml:"targets"`
}

// Match is what a route matches; every field given must match, and an
// empty match matches everything.
type Match struct {
	// Severity lists severities (warning, critical), any of which matches.
	Severity []string `yaml:"severity"`
	// Tags match when the feedback's reason or one of its tags is listed.
	Tags []string `yaml:"tags"`
	// Model lists model ids.
	Model []string `yaml:"model"`
	// Version is a glob (path.Match) on the model version, e.g. 2026-11-*.
	Version string `yaml:"version"`
}

// strict decodes n into v, refusing unknown fields (a typo would otherwise
// leave a setting silently unset).
func strict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}
