// Package config reads feedbackd's options from flags, FEEDBACKD_* environment
// variables and an optional YAML file, each option under the same name in
// three spellings (docs/collector-api.md): --loki-url / FEEDBACKD_LOKI_URL / loki_url.
// Flags win over the environment, which wins over the file.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/feedbackloop/modelfeedback/pkg/collector/otlp"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Config is the resolved configuration.
type Config struct {
	Listen        string
	SpoolDir      string
	SpoolMaxBytes int64

	LokiURL         string
	LokiTenant      string
	LokiUsername    string
	LokiPassword    string
	LokiBearerToken string

	ElasticsearchURL             string
	ElasticsearchIndex           string
	ElasticsearchUsername        string
	ElasticsearchPassword        string
	ElasticsearchAPIKey          string
	ElasticsearchInstallTemplate bool

	Tokens        []string
	BrowserTokens []string
	CORSOrigins   []string

	Redact        bool
	RedactContext bool

	EscalateURL      string
	EscalateToken    string
	EscalateSeverity string
	EscalateSystem   string
	GrafanaURL       string

	NotifyURL      string
	NotifyToken    string
	NotifyChannel  string
	NotifyLookback time.Duration
	NotifySource   string

	// Escalation is the file's escalation section; nil without one.
	Escalation *Escalation
	// OTLP mapping (docs/otel.md).
	OTLPModelIDAttributes       []string
	OTLPModelVersionAttributes  []string
	OTLPReleasedAtAttributes    []string
	OTLPPromptVersionAttributes []string
	OTLPParamPrefixes           []string
	OTLPAttributes              []string
	OTLPOperations              []string
	OTLPPositiveLabels          []string
	OTLPNegativeLabels          []string
	OTLPPositiveScore           float64
	OTLPNegativeScore           float64

	Enrich          bool
	EnrichRetention time.Duration
	EnrichMaxBytes  int64

	DeliveryBatchSize   int
	DeliveryBatchBytes  int
	DeliveryConcurrency int
	DeliveryTimeout     time.Duration
	DeliveryBatchWait   time.Duration
	ShutdownTimeout     time.Duration
	LogLevel            string
}

// Option describes one setting; Options is the list the docs are made from.
type Option struct {
	Name    string // flag spelling
	Default string
	Help    string
	set     func(*Config, string) error
}

// Env is the environment variable spelling of the option.
func (o Option) Env() string {
	return "FEEDBACKD_" + strings.ToUpper(strings.ReplaceAll(o.Name, "-", "_"))
}

// Key is the YAML file spelling of the option.
func (o Option) Key() string { return strings.ReplaceAll(o.Name, "-", "_") }

func str(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

func list(p func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		*p(c) = out
		return nil
	}
}

func boolean(p func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", v)
		}
		*p(c) = b
		return nil
	}
}

func duration(p func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 30s, got %q", v)
		}
		*p(c) = d
		return nil
	}
}

func positiveInt(p func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive integer, got %q", v)
		}
		*p(c) = n
		return nil
	}
}

func number(p func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want a number such as 0.5, got %q", v)
		}
		*p(c) = f
		return nil
	}
}

// ParseBytes reads a size such as 1073741824, 512MiB or 1GiB.
func ParseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size such as 1GiB or 536870912, got %q", v)
	}
	return n * mult, nil
}

const (
	// maxBatchBytes keeps a request well under what Loki and Elasticsearch
	// take by default (100 MB each: Loki's distributor, Elasticsearch's
	// http.max_content_length) after their encodings add to the lines.
	maxBatchBytes = 64 << 20
	// maxConcurrency matches the idle connections the HTTP sinks keep per
	// host (sink.MaxIdleConnsPerHost); more would dial anew for each batch.
	maxConcurrency = 64
)

// Options lists every setting with its default.
var Options = []Option{
	{Name: "listen", Default: "127.0.0.1:8787", Help: "address the HTTP API listens on",
		set: str(func(c *Config) *string { return &c.Listen })},
	{Name: "spool-dir", Default: "./data", Help: "directory of the write-ahead log, the sink cursors and the dead letters",
		set: str(func(c *Config) *string { return &c.SpoolDir })},
	{Name: "spool-max-bytes", Default: "1GiB", Help: "size of the write-ahead log at which ingest answers 429 until the sinks catch up",
		set: func(c *Config, v string) error { n, err := ParseBytes(v); c.SpoolMaxBytes = n; return err }},
	{Name: "loki-url", Help: "Loki base URL, e.g. http://loki:3100; empty: no Loki sink",
		set: str(func(c *Config) *string { return &c.LokiURL })},
	{Name: "loki-tenant", Help: "X-Scope-OrgID sent to Loki",
		set: str(func(c *Config) *string { return &c.LokiTenant })},
	{Name: "loki-username", Help: "basic-auth user for Loki",
		set: str(func(c *Config) *string { return &c.LokiUsername })},
	{Name: "loki-password", Help: "basic-auth password for Loki",
		set: str(func(c *Config) *string { return &c.LokiPassword })},
	{Name: "loki-bearer-token", Help: "bearer token for Loki (instead of basic auth)",
		set: str(func(c *Config) *string { return &c.LokiBearerToken })},
	{Name: "elasticsearch-url", Help: "Elasticsearch base URL, e.g. http://elasticsearch:9200; empty: no Elasticsearch sink",
		set: str(func(c *Config) *string { return &c.ElasticsearchURL })},
	{Name: "elasticsearch-index", Default: storage.IndexPrefix, Help: "index name prefix; documents go to <prefix>-YYYY.MM.DD",
		set: str(func(c *Config) *string { return &c.ElasticsearchIndex })},
	{Name: "elasticsearch-username", Help: "basic-auth user for Elasticsearch",
		set: str(func(c *Config) *string { return &c.ElasticsearchUsername })},
	{Name: "elasticsearch-password", Help: "basic-auth password for Elasticsearch",
		set: str(func(c *Config) *string { return &c.ElasticsearchPassword })},
	{Name: "elasticsearch-api-key", Help: "API key for Elasticsearch (instead of basic auth)",
		set: str(func(c *Config) *string { return &c.ElasticsearchAPIKey })},
	{Name: "elasticsearch-install-template", Default: "true", Help: "install the model-feedback index template at start",
		set: boolean(func(c *Config) *bool { return &c.ElasticsearchInstallTemplate })},
	{Name: "tokens", Help: "server bearer tokens, comma-separated; they may write every kind. None (and no browser tokens): no authentication",
		set: list(func(c *Config) *[]string { return &c.Tokens })},
	{Name: "browser-tokens", Help: "browser (widget) bearer tokens, comma-separated; they may only POST /v1/feedback, from an allowed origin",
		set: list(func(c *Config) *[]string { return &c.BrowserTokens })},
	{Name: "cors-origins", Help: "origins allowed to call from a browser, comma-separated, e.g. https://app.example.com; * allows any",
		set: list(func(c *Config) *[]string { return &c.CORSOrigins })},
	{Name: "redact", Default: "true", Help: "replace e-mail addresses, phone and payment-card numbers in comment with a marker",
		set: boolean(func(c *Config) *bool { return &c.Redact })},
	{Name: "redact-context", Default: "false", Help: "also redact context.system_prompt, context.input, context.output and corrected_output",
		set: boolean(func(c *Config) *bool { return &c.RedactContext })},
	{Name: "escalate-url", Help: "generic ticket webhook: feedback at or above escalate-severity is posted to it and the ticket it opens is recorded as an escalation event; Jira, Linear, GitHub, Slack and routing are configured in the file's escalation section (docs/tickets.md)",
		set: str(func(c *Config) *string { return &c.EscalateURL })},
	{Name: "escalate-token", Help: "bearer token sent to the ticket webhook",
		set: str(func(c *Config) *string { return &c.EscalateToken })},
	{Name: "escalate-severity", Default: "critical", Help: "least severity escalated: critical (harmful, offensive) or warning (also negative hallucination, bias, factual errors)",
		set: func(c *Config, v string) error {
			if v != "critical" && v != "warning" {
				return fmt.Errorf("want critical or warning, got %q", v)
			}
			c.EscalateSeverity = v
			return nil
		}},
	{Name: "escalate-system", Default: "webhook", Help: "ticket.system of the escalation events, e.g. jira",
		set: str(func(c *Config) *string { return &c.EscalateSystem })},
	{Name: "grafana-url", Help: "Grafana base URL, e.g. https://grafana.example.com; tickets then link to the trace drill-down dashboard",
		set: str(func(c *Config) *string { return &c.GrafanaURL })},
	{Name: "notify-url", Help: "notification webhook: when a resolution arrives, each user who reported what it fixes is notified through it once, recorded as notification events; empty: no close-the-loop notices",
		set: str(func(c *Config) *string { return &c.NotifyURL })},
	{Name: "notify-token", Help: "bearer token sent to the notification webhook",
		set: str(func(c *Config) *string { return &c.NotifyToken })},
	{Name: "notify-channel", Default: "webhook", Help: "channel of the notification events, e.g. email or in_app",
		set: str(func(c *Config) *string { return &c.NotifyChannel })},
	{Name: "notify-lookback", Default: "720h", Help: "how far before a resolution its reports are looked for",
		set: duration(func(c *Config) *time.Duration { return &c.NotifyLookback })},
	{Name: "notify-source", Help: "where reports are read from: elasticsearch or loki; empty: elasticsearch when elasticsearch-url is set, else loki",
		set: func(c *Config, v string) error {
			if v != "" && v != "elasticsearch" && v != "loki" {
				return fmt.Errorf("want elasticsearch or loki, got %q", v)
			}
			c.NotifySource = v
			return nil
		}},
	{Name: "otlp-model-id-attributes", Default: strings.Join(otlp.DefaultModelIDAttributes, ","),
		Help: "OTLP: attributes whose first present value is model.id, comma-separated; each is looked up on the span or log record, then on the resource",
		set:  list(func(c *Config) *[]string { return &c.OTLPModelIDAttributes })},
	{Name: "otlp-model-version-attributes", Default: strings.Join(otlp.DefaultModelVersionAttributes, ","),
		Help: "OTLP: attributes whose first present value is model.version, comma-separated",
		set:  list(func(c *Config) *[]string { return &c.OTLPModelVersionAttributes })},
	{Name: "otlp-released-at-attributes", Help: "OTLP: attributes whose first present value (RFC 3339) is model.released_at, comma-separated; empty: none",
		set: list(func(c *Config) *[]string { return &c.OTLPReleasedAtAttributes })},
	{Name: "otlp-prompt-version-attributes", Help: "OTLP: span attributes whose first present value is context.prompt_version, comma-separated; empty: none",
		set: list(func(c *Config) *[]string { return &c.OTLPPromptVersionAttributes })},
	{Name: "otlp-param-prefixes", Default: strings.Join(otlp.DefaultParamPrefixes, ","),
		Help: "OTLP: span attributes starting with one of these prefixes go to context.params under the rest of their name, comma-separated",
		set:  list(func(c *Config) *[]string { return &c.OTLPParamPrefixes })},
	{Name: "otlp-attributes", Default: strings.Join(otlp.DefaultAttributes, ","),
		Help: "OTLP: attributes copied into the events' attributes under their own name, comma-separated",
		set:  list(func(c *Config) *[]string { return &c.OTLPAttributes })},
	{Name: "otlp-operations", Help: "OTLP: gen_ai.operation.name values whose spans become interactions, e.g. chat,text_completion; empty: every span with gen_ai.* attributes",
		set: list(func(c *Config) *[]string { return &c.OTLPOperations })},
	{Name: "otlp-positive-labels", Default: strings.Join(otlp.DefaultPositiveLabels, ","),
		Help: "OTLP: gen_ai.evaluation.score.label values (any case) that make a positive feedback, comma-separated",
		set:  list(func(c *Config) *[]string { return &c.OTLPPositiveLabels })},
	{Name: "otlp-negative-labels", Default: strings.Join(otlp.DefaultNegativeLabels, ","),
		Help: "OTLP: gen_ai.evaluation.score.label values (any case) that make a negative feedback, comma-separated",
		set:  list(func(c *Config) *[]string { return &c.OTLPNegativeLabels })},
	{Name: "otlp-positive-score", Default: strconv.FormatFloat(otlp.DefaultPositiveScore, 'g', -1, 64),
		Help: "OTLP: an evaluation score at or above this is positive (when the label decides nothing)",
		set:  number(func(c *Config) *float64 { return &c.OTLPPositiveScore })},
	{Name: "otlp-negative-score", Default: strconv.FormatFloat(otlp.DefaultNegativeScore, 'g', -1, 64),
		Help: "OTLP: an evaluation score below this is negative; between the two thresholds, neutral",
		set:  number(func(c *Config) *float64 { return &c.OTLPNegativeScore })},
	{Name: "enrich", Default: "true", Help: "copy model.effective_version, model.released_at, context.prompt_version and context.params from accepted interactions onto later feedback with the same correlation id that lacks them (docs/enrichment.md); the index is <spool-dir>/enrich.db",
		set: boolean(func(c *Config) *bool { return &c.Enrich })},
	{Name: "enrich-retention", Default: "168h", Help: "how long an interaction is remembered for enrichment after it was received",
		set: duration(func(c *Config) *time.Duration { return &c.EnrichRetention })},
	{Name: "enrich-max-bytes", Default: "256MiB", Help: "bound on the enrichment index's records; beyond it the oldest interactions are forgotten first",
		set: func(c *Config, v string) error { n, err := ParseBytes(v); c.EnrichMaxBytes = n; return err }},
	{Name: "delivery-batch-size", Default: "500", Help: "most events per push/bulk request to a sink",
		set: positiveInt(func(c *Config) *int { return &c.DeliveryBatchSize })},
	{Name: "delivery-batch-bytes", Default: "4MiB", Help: "a batch is also cut once its events add up to this many bytes (1KiB to 64MiB)",
		set: func(c *Config, v string) error {
			n, err := ParseBytes(v)
			if err != nil {
				return err
			}
			if n < 1<<10 || n > maxBatchBytes {
				return fmt.Errorf("want a size from 1KiB to 64MiB, got %q", v)
			}
			c.DeliveryBatchBytes = int(n)
			return nil
		}},
	{Name: "delivery-batch-wait", Default: "10ms", Help: "how long a batch that is not full may wait for more events (0 to 10s); fewer, fuller requests cost the store and the spool less",
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d < 0 || d > 10*time.Second {
				return fmt.Errorf("want a duration from 0 to 10s, got %q", v)
			}
			c.DeliveryBatchWait = d
			return nil
		}},
	{Name: "delivery-concurrency", Default: "4", Help: "most batches in flight to each of Loki and Elasticsearch (1 to 64); halved while a sink refuses or is slow, restored as it recovers",
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 1 || n > maxConcurrency {
				return fmt.Errorf("want an integer from 1 to %d, got %q", maxConcurrency, v)
			}
			c.DeliveryConcurrency = n
			return nil
		}},
	{Name: "delivery-timeout", Default: "30s", Help: "timeout of one delivery request to a sink",
		set: duration(func(c *Config) *time.Duration { return &c.DeliveryTimeout })},
	{Name: "shutdown-timeout", Default: "30s", Help: "on SIGTERM/SIGINT, how long to wait for in-flight requests and for the sinks to catch up",
		set: duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
	{Name: "log-level", Default: "info", Help: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			switch v {
			case "debug", "info", "warn", "error":
				c.LogLevel = v
				return nil
			}
			return fmt.Errorf("want debug, info, warn or error, got %q", v)
		}},
}

// ConfigOption is the one option that is not also a file key.
const ConfigOption = "config"

// ErrHelp is returned for -h/--help after the usage was printed.
var ErrHelp = flag.ErrHelp

// Load resolves the configuration from args (without the program name), the
// environment (getenv, usually os.Getenv) and the file named by --config or
// FEEDBACKD_CONFIG. Usage and errors go to out.
func Load(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("feedbackd", flag.ContinueOnError)
	fs.SetOutput(out)
	raw := map[string]*string{}
	for _, o := range Options {
		raw[o.Name] = fs.String(o.Name, o.Default, fmt.Sprintf("%s (env %s, file key %s)", o.Help, o.Env(), o.Key()))
	}
	configPath := fs.String(ConfigOption, "", "YAML file with any of the options below as keys (env FEEDBACKD_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	var c Config
	for _, o := range Options {
		if err := o.set(&c, o.Default); err != nil && o.Default != "" {
			panic("bad default for " + o.Name)
		}
	}
	path := *configPath
	if !explicit[ConfigOption] {
		path = getenv("FEEDBACKD_CONFIG")
	}
	if path != "" {
		file, esc, err := readFile(path)
		if err != nil {
			return nil, err
		}
		c.Escalation = esc
		for _, o := range Options {
			if v, ok := file[o.Key()]; ok {
				if err := o.set(&c, v); err != nil {
					return nil, fmt.Errorf("%s: %s: %w", path, o.Key(), err)
				}
			}
		}
	}
	for _, o := range Options {
		if v := getenv(o.Env()); v != "" {
			if err := o.set(&c, v); err != nil {
				return nil, fmt.Errorf("%s: %w", o.Env(), err)
			}
		}
	}
	for _, o := range Options {
		if explicit[o.Name] {
			if err := o.set(&c, *raw[o.Name]); err != nil {
				return nil, fmt.Errorf("--%s: %w", o.Name, err)
			}
		}
	}
	if c.NotifyURL != "" {
		switch {
		case c.NotifySource == "":
			c.NotifySource = "loki"
			if c.ElasticsearchURL != "" {
				c.NotifySource = "elasticsearch"
			}
			if c.LokiURL == "" && c.ElasticsearchURL == "" {
				return nil, errors.New("notify-url needs loki-url or elasticsearch-url: the reports a resolution fixes are read from there")
			}
		case c.NotifySource == "loki" && c.LokiURL == "":
			return nil, errors.New("notify-source loki needs loki-url")
		case c.NotifySource == "elasticsearch" && c.ElasticsearchURL == "":
			return nil, errors.New("notify-source elasticsearch needs elasticsearch-url")
		}
	}
	if c.OTLPNegativeScore > c.OTLPPositiveScore {
		return nil, fmt.Errorf("otlp-negative-score %g is above otlp-positive-score %g: a score would be both", c.OTLPNegativeScore, c.OTLPPositiveScore)
	}
	if len(c.BrowserTokens) > 0 && len(c.CORSOrigins) == 0 {
		return nil, errors.New("browser-tokens need cors-origins: a browser token is only accepted from an allowed origin")
	}
	return &c, nil
}

// EscalationKey is the file key of the escalation section.
const EscalationKey = "escalation"

// readFile reads the YAML file into option keys → string values; lists
// become comma-joined, so `tokens: [a, b]` and `tokens: a,b` are the same.
// The escalation section is returned decoded.
func readFile(path string) (map[string]string, *Escalation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var esc *Escalation
	if _, ok := doc[EscalationKey]; ok {
		var nodes map[string]yaml.Node
		if err := yaml.Unmarshal(b, &nodes); err != nil {
			return nil, nil, fmt.Errorf("config file %s: %w", path, err)
		}
		n := nodes[EscalationKey]
		esc = &Escalation{}
		if err := strict(&n, esc); err != nil {
			return nil, nil, fmt.Errorf("config file %s: %s: %w", path, EscalationKey, err)
		}
		delete(doc, EscalationKey)
	}
	known := map[string]bool{}
	for _, o := range Options {
		known[o.Key()] = true
	}
	out := map[string]string{}
	var unknown []string
	for k, v := range doc {
		if !known[k] {
			unknown = append(unknown, k)
			continue
		}
		switch x := v.(type) {
		case nil:
			out[k] = ""
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			out[k] = strings.Join(parts, ",")
		case map[string]any:
			return nil, nil, fmt.Errorf("config file %s: %s: want a value or a list, got a mapping", path, k)
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		// A typo in a key would otherwise silently leave a default in force.
		return nil, nil, fmt.Errorf("config file %s: unknown key(s) %s", path, strings.Join(unknown, ", "))
	}
	return out, esc, nil
}

// Redacted renders the configuration for the start-up log, secrets hidden.
func (c *Config) Redacted() map[string]any {
	return map[string]any{
		"listen": c.Listen, "spool_dir": c.SpoolDir, "spool_max_bytes": c.SpoolMaxBytes,
		"loki_url": c.LokiURL, "loki_tenant": c.LokiTenant,
		"elasticsearch_url": c.ElasticsearchURL, "elasticsearch_index": c.ElasticsearchIndex,
		"tokens": len(c.Tokens), "browser_tokens": len(c.BrowserTokens), "cors_origins": c.CORSOrigins,
		"redact": c.Redact, "redact_context": c.RedactContext,
		"escalate": c.EscalateURL != "", "escalation_targets": c.Escalation.targetTypes(), "escalate_severity": c.EscalateSeverity, "escalate_system": c.EscalateSystem,
		"grafana_url": c.GrafanaURL,
		"notify":      c.NotifyURL != "", "notify_channel": c.NotifyChannel, "notify_lookback": c.NotifyLookback.String(),
		"notify_source": c.NotifySource,
		"enrich":        c.Enrich, "enrich_retention": c.EnrichRetention.String(), "enrich_max_bytes": c.EnrichMaxBytes,
		"delivery_batch_size": c.DeliveryBatchSize, "delivery_batch_bytes": c.DeliveryBatchBytes,
		"delivery_concurrency": c.DeliveryConcurrency, "delivery_timeout": c.DeliveryTimeout.String(),
		"delivery_batch_wait":      c.DeliveryBatchWait.String(),
		"shutdown_timeout":         c.ShutdownTimeout.String(),
		"otlp_model_id_attributes": c.OTLPModelIDAttributes, "otlp_model_version_attributes": c.OTLPModelVersionAttributes,
		"otlp_operations": c.OTLPOperations,
	}
}

// targetTypes is name → type of the escalation targets, for the log.
func (e *Escalation) targetTypes() map[string]string {
	if e == nil {
		return nil
	}
	out := make(map[string]string, len(e.Targets))
	for name, t := range e.Targets {
		out[name] = t.Type
	}
	return out
}

// OTLPMapping is the OTLP mapping the options describe.
func (c *Config) OTLPMapping() otlp.Mapping {
	return otlp.Mapping{ModelIDAttributes: c.OTLPModelIDAttributes, ModelVersionAttributes: c.OTLPModelVersionAttributes,
		ReleasedAtAttributes: c.OTLPReleasedAtAttributes, PromptVersionAttributes: c.OTLPPromptVersionAttributes,
		ParamPrefixes: c.OTLPParamPrefixes, Attributes: c.OTLPAttributes, Operations: c.OTLPOperations,
		PositiveLabels: c.OTLPPositiveLabels, NegativeLabels: c.OTLPNegativeLabels,
		PositiveScore: c.OTLPPositiveScore, NegativeScore: c.OTLPNegativeScore}
}
