package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsNeedNoConfiguration(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8787" || c.SpoolDir != "./data" || !c.Redact || c.RedactContext ||
		c.SpoolMaxBytes != 1<<30 || c.DeliveryBatchSize != 500 || c.DeliveryBatchBytes != 4<<20 || c.DeliveryConcurrency != 4 || c.ShutdownTimeout != 30*time.Second ||
		c.LokiURL != "" || c.ElasticsearchURL != "" || c.Tokens != nil || c.ElasticsearchIndex != "model-feedback" ||
		!c.ElasticsearchInstallTemplate {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestFlagsBeatEnvBeatFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "feedbackd.yaml")
	if err := os.WriteFile(file, []byte(`
listen: 0.0.0.0:1
loki_url: http://file-loki:3100
loki_tenant: file-tenant
elasticsearch_url: http://file-es:9200
tokens: [t1, t2]
cors_origins: https://a.example, https://b.example
redact_context: true
spool_max_bytes: 64MiB
delivery_timeout: 5s
delivery_concurrency: 8
delivery_batch_bytes: 1MiB
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{
		"FEEDBACKD_CONFIG":      file,
		"FEEDBACKD_LOKI_URL":    "http://env-loki:3100",
		"FEEDBACKD_LOKI_TENANT": "env-tenant",
		"FEEDBACKD_REDACT":      "false",
	})
	c, err := Load([]string{"--loki-tenant", "flag-tenant", "--delivery-batch-size=7"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"file only":        {c.ElasticsearchURL, "http://file-es:9200"},
		"file listen":      {c.Listen, "0.0.0.0:1"},
		"env over file":    {c.LokiURL, "http://env-loki:3100"},
		"flag over env":    {c.LokiTenant, "flag-tenant"},
		"env bool":         {c.Redact, false},
		"file bool":        {c.RedactContext, true},
		"file list (yaml)": {c.Tokens, []string{"t1", "t2"}},
		"file list (csv)":  {c.CORSOrigins, []string{"https://a.example", "https://b.example"}},
		"size suffix":      {c.SpoolMaxBytes, int64(64 << 20)},
		"flag int":         {c.DeliveryBatchSize, 7},
		"file duration":    {c.DeliveryTimeout, 5 * time.Second},
		"file concurrency": {c.DeliveryConcurrency, 8},
		"file batch bytes": {c.DeliveryBatchBytes, 1 << 20},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s: got %#v want %#v", name, c[0], c[1])
		}
	}
	// --config on the command line wins over FEEDBACKD_CONFIG.
	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte("listen: 127.0.0.1:9\n"), 0o600)
	c, err = Load([]string{"--config", other}, e, io.Discard)
	if err != nil || c.Listen != "127.0.0.1:9" {
		t.Fatalf("--config: %v %v", c, err)
	}
}

func TestErrorsNameTheOption(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("lokiurl: x\nlisten: a\n"), 0o600)
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--redact=maybe"}, nil, "--redact"},
		{nil, map[string]string{"FEEDBACKD_SPOOL_MAX_BYTES": "lots"}, "FEEDBACKD_SPOOL_MAX_BYTES"},
		{[]string{"--config", bad}, nil, "unknown key(s) lokiurl"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "config file"},
		{[]string{"--browser-tokens", "b"}, nil, "cors-origins"},
		{[]string{"--shutdown-timeout", "-1s"}, nil, "--shutdown-timeout"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"--escalate-severity", "info"}, nil, "--escalate-severity"},
		{[]string{"--notify-url", "http://n"}, nil, "notify-url needs loki-url or elasticsearch-url"},
		{[]string{"--notify-url", "http://n", "--loki-url", "http://l", "--notify-source", "elasticsearch"}, nil, "notify-source elasticsearch needs elasticsearch-url"},
		{[]string{"--notify-source", "kafka"}, nil, "--notify-source"},
		{[]string{"--delivery-concurrency", "0"}, nil, "--delivery-concurrency: want an integer from 1 to 64"},
		{[]string{"--delivery-concurrency", "65"}, nil, "--delivery-concurrency"},
		{nil, map[string]string{"FEEDBACKD_DELIVERY_CONCURRENCY": "many"}, "FEEDBACKD_DELIVERY_CONCURRENCY"},
		{[]string{"--delivery-batch-bytes", "100"}, nil, "--delivery-batch-bytes: want a size from 1KiB to 64MiB"},
		{[]string{"--delivery-batch-bytes", "1GiB"}, nil, "--delivery-batch-bytes"},
		{[]string{"--delivery-batch-bytes", "lots"}, nil, "--delivery-batch-bytes"},
	} {
		_, err := Load(c.args, env(c.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: err = %v, want mention of %q", c.args, c.env, err, c.want)
		}
	}
}

// docs/configuration.md must list every option in all three spellings, in
// the row docs/options-table.awk makes from --help: a changed default or help
// text that was not regenerated into the page fails here.
func TestDocsListEveryOption(t *testing.T) {
	b, err := os.ReadFile("../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	cell := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;")
	for _, o := range Options {
		for _, s := range []string{"--" + o.Name, o.Env(), "`" + o.Key() + "`"} {
			if !strings.Contains(doc, s) {
				t.Errorf("docs/configuration.md does not mention %s", s)
			}
		}
		def := ""
		if o.Default != "" {
			def = "`" + o.Default + "`"
		}
		row := fmt.Sprintf("| `--%s` | `%s` | `%s` | %s | %s |", o.Name, o.Env(), o.Key(), def, cell.Replace(o.Help))
		if !strings.Contains(doc, row+"\n") {
			t.Errorf("docs/configuration.md lacks the row\n%s\nregenerate the table: go run ./pkg/cmd/feedbackd --help 2>&1 | awk -f docs/options-table.awk", row)
		}
	}
}

// The reports of a resolution are read from Elasticsearch when it is a sink,
// else from Loki.
func TestNotifySourceDefaultsToWhereEventsAre(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--notify-url", "http://n", "--loki-url", "http://l"}, "loki"},
		{[]string{"--notify-url", "http://n", "--loki-url", "http://l", "--elasticsearch-url", "http://e"}, "elasticsearch"},
		{[]string{"--notify-url", "http://n", "--loki-url", "http://l", "--elasticsearch-url", "http://e", "--notify-source", "loki"}, "loki"},
	} {
		cfg, err := Load(c.args, env(nil), io.Discard)
		if err != nil || cfg.NotifySource != c.want {
			t.Errorf("%v: source %q, err %v; want %s", c.args, cfg.NotifySource, err, c.want)
		}
	}
}

// The escalation section is read from the file, strictly; it has no flag or
// environment spelling.
func TestEscalationSection(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := Load([]string{"--config", write("escalation:\n  targets:\n    j: {type: jira, project: SAFE}\n  routes:\n    - {name: h, match: {tags: [harmful], version: \"v*\"}, targets: [j]}\n  default: [j]\n")}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e := c.Escalation
	if e == nil || e.Targets["j"].Type != "jira" || len(e.Routes) != 1 || e.Routes[0].Match.Version != "v*" || e.Routes[0].Match.Tags[0] != "harmful" || e.Default[0] != "j" {
		t.Fatalf("%+v", e)
	}
	var v struct {
		Project string `yaml:"project"`
	}
	if err := e.Targets["j"].Decode(&v); err != nil || v.Project != "SAFE" {
		t.Fatalf("%+v %v", v, err)
	}
	if _, err := Load([]string{"--config", write("escalation:\n  routs: []\n")}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "escalation: yaml: unmarshal errors") || !strings.Contains(err.Error(), "field routs not found") {
		t.Errorf("a misspelt key: %v", err)
	}
	if c, _ := Load(nil, func(string) string { return "" }, io.Discard); c.Escalation != nil {
		t.Error("no file, no section")
	}
}
