package ctl

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// The connection options follow feedbackd's convention (docs/feedbackctl.md):
// each is a flag, a FEEDBACKCTL_* variable and a key of the YAML file named by
// --config, flags winning over the environment over the file. feedbackd's
// pkg/collector/config binds that convention to its own Config struct, so
// the few lines of layering are repeated here over a plain option table
// rather than bending feedbackd's loader to a second program.
type option struct {
	name, def, help string
	secret          bool
}

var connOptions = []option{
	{name: "source", help: "where events are read from: loki or elasticsearch; empty: elasticsearch when only elasticsearch-url is set, else loki"},
	{name: "loki-url", help: "Loki base URL, e.g. http://loki:3100"},
	{name: "loki-selector", def: "", help: "stream selector of the feedback streams; empty: {service_name=\"model-feedback\"}"},
	{name: "loki-tenant", help: "X-Scope-OrgID sent to Loki"},
	{name: "loki-username", help: "basic-auth user for Loki"},
	{name: "loki-password", help: "basic-auth password for Loki", secret: true},
	{name: "loki-bearer-token", help: "bearer token for Loki (instead of basic auth)", secret: true},
	{name: "elasticsearch-url", help: "Elasticsearch base URL, e.g. http://elasticsearch:9200"},
	{name: "elasticsearch-index", help: "index pattern; empty: model-feedback-*"},
	{name: "elasticsearch-username", help: "basic-auth user for Elasticsearch"},
	{name: "elasticsearch-password", help: "basic-auth password for Elasticsearch", secret: true},
	{name: "elasticsearch-api-key", help: "API key for Elasticsearch (instead of basic auth)", secret: true},
	{name: "embeddings-url", help: "OpenAI-compatible embeddings API, as the data source's clusters.embeddingsUrl: export dataset --cluster then groups as the clusters panel does, by meaning (e.g. http://ollama:11434)"},
	{name: "embeddings-model", help: "embedding model, as the data source's clusters.embeddingsModel"},
	{name: "embeddings-token", help: "bearer token for the embeddings API", secret: true},
	{name: "feedbackd-url", help: "feedbackd base URL, for resolve, e.g. http://feedbackd:8787"},
	{name: "feedbackd-token", help: "feedbackd server token, for resolve", secret: true},
}

func envName(name string) string {
	return "FEEDBACKCTL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func keyName(name string) string { return strings.ReplaceAll(name, "-", "_") }

// flags is one command's flag set: the connection options plus the
// command's own.
type flags struct {
	fs     *flag.FlagSet
	conn   map[string]*string
	config *string
}

func newFlags(cmd string, out io.Writer) *flags {
	f := &flags{fs: flag.NewFlagSet("feedbackctl "+cmd, flag.ContinueOnError), conn: map[string]*string{}}
	f.fs.SetOutput(out)
	for _, o := range connOptions {
		f.conn[o.name] = f.fs.String(o.name, o.def, fmt.Sprintf("%s (env %s, file key %s)", o.help, envName(o.name), keyName(o.name)))
	}
	f.config = f.fs.String("config", "", "YAML file with any connection option as key (env FEEDBACKCTL_CONFIG)")
	return f
}

// resolve layers file, environment and flags into option name → value.
func (f *flags) resolve(getenv func(string) string) (map[string]string, error) {
	explicit := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { explicit[fl.Name] = true })
	out := map[string]string{}
	for _, o := range connOptions {
		out[o.name] = o.def
	}
	path := *f.config
	if !explicit["config"] {
		path = getenv("FEEDBACKCTL_CONFIG")
	}
	if path != "" {
		file, err := readFile(path)
		if err != nil {
			return nil, err
		}
		for k, v := range file {
			out[k] = v
		}
	}
	for _, o := range connOptions {
		if v := getenv(envName(o.name)); v != "" {
			out[o.name] = v
		}
		if explicit[o.name] {
			out[o.name] = *f.conn[o.name]
		}
	}
	return out, nil
}

func readFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	byKey := map[string]string{}
	for _, o := range connOptions {
		byKey[keyName(o.name)] = o.name
	}
	out := map[string]string{}
	var unknown []string
	for k, v := range doc {
		name, ok := byKey[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		switch x := v.(type) {
		case nil:
			out[name] = ""
		case map[string]any, []any:
			return nil, fmt.Errorf("config file %s: %s: want a single value", path, k)
		default:
			out[name] = fmt.Sprint(x)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: unknown key(s) %s", path, strings.Join(unknown, ", "))
	}
	return out, nil
}
