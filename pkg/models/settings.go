// Package models loads the data source configuration (docs/configuration.md)
// once per instance and validates it, so that every handler can trust it. It
// has no Grafana import: feedbackd and feedbackctl configure the same readers
// with the same types.
package models

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Defaults (docs/configuration.md); the store names come from the storage
// contract.
const (
	DefaultLokiSelector  = storage.Selector
	DefaultESIndex       = storage.IndexPattern
	DefaultESTimeField   = storage.TimeField
	DefaultRequestsQuery = "sum by (model_version) (increase(llm_requests_total[$__range]))"
)

// Settings is the whole configuration of one data source instance.
type Settings struct {
	DefaultSource read.Source `json:"defaultSource"`
	Loki          Loki        `json:"loki"`
	Elasticsearch Elastic     `json:"elasticsearch"`
	Prometheus    Prometheus  `json:"prometheus"`
	Trace         Trace       `json:"trace"`
	Feedbackd     Feedbackd   `json:"feedbackd"`
	Clusters      Clusters    `json:"clusters"`

	UID  string `json:"-"`
	Name string `json:"-"`
}

// Loki holds the Loki connection. Password and Token come only from
// secureJsonData and are never serialised.
type Loki struct {
	URL           string `json:"url"`
	Selector      string `json:"selector"`
	Tenant        string `json:"tenant"`
	BasicAuthUser string `json:"basicAuthUser"`
	Password      string `json:"-"`
	Token         string `json:"-"`
	// HTTPClient builds the HTTP client; nil: NewHTTPClient.
	HTTPClient HTTPClientFunc `json:"-"`
}

// Elastic holds the Elasticsearch connection.
type Elastic struct {
	URL           string `json:"url"`
	Index         string `json:"index"`
	TimeField     string `json:"timeField"`
	BasicAuthUser string `json:"basicAuthUser"`
	Password      string `json:"-"`
	APIKey        string `json:"-"`
	// HTTPClient builds the HTTP client; nil: NewHTTPClient.
	HTTPClient HTTPClientFunc `json:"-"`
}

// Prometheus holds the metrics connection and the PromQL templates.
type Prometheus struct {
	URL           string `json:"url"`
	RequestsQuery string `json:"requestsQuery"`
	LatencyQuery  string `json:"latencyQuery"`
	BasicAuthUser string `json:"basicAuthUser"`
	Password      string `json:"-"`
	Token         string `json:"-"`
	// HTTPClient builds the HTTP client; nil: NewHTTPClient.
	HTTPClient HTTPClientFunc `json:"-"`
}

// Trace configures the drill-down.
type Trace struct {
	ExecutionLogsQuery string `json:"executionLogsQuery"`
	TempoDatasourceUID string `json:"tempoDatasourceUid"`
}

// Feedbackd is the collector reviews are written to (docs/review.md).
// Token is a server token, from secureJsonData feedbackdToken only.
type Feedbackd struct {
	URL   string `json:"url"`
	Token string `json:"-"`
	// HTTPClient builds the HTTP client; nil: NewHTTPClient.
	HTTPClient HTTPClientFunc `json:"-"`
}

// Clusters configures grouping comments by meaning (docs/embeddings.md).
// Without EmbeddingsURL the word-based grouping is used.
type Clusters struct {
	EmbeddingsURL   string `json:"embeddingsUrl"`
	EmbeddingsModel string `json:"embeddingsModel"`
	EmbeddingsToken string `json:"-"`
	// HTTPClient builds the HTTP client; nil: NewHTTPClient.
	HTTPClient HTTPClientFunc `json:"-"`
}

// SettingError names the setting that is wrong.
type SettingError struct {
	Setting string
	Message string
}

func (e *SettingError) Error() string {
	return fmt.Sprintf("setting %s: %s", e.Setting, e.Message)
}

// Instance is what Grafana stores for one data source instance.
type Instance struct {
	UID, Name string
	JSONData  []byte
	// Secure is the decrypted secureJsonData.
	Secure map[string]string
}

// Load reads and validates the instance settings. Secrets are read from
// the decrypted secureJsonData only.
func Load(s Instance) (*Settings, error) {
	cfg := &Settings{UID: s.UID, Name: s.Name}
	if len(strings.TrimSpace(string(s.JSONData))) > 0 {
		if err := json.Unmarshal(s.JSONData, cfg); err != nil {
			return nil, &SettingError{Setting: "jsonData", Message: "not valid JSON for this data source: " + err.Error()}
		}
	}
	sec := s.Secure
	cfg.Loki.Password, cfg.Loki.Token = sec["lokiPassword"], sec["lokiToken"]
	cfg.Elasticsearch.Password, cfg.Elasticsearch.APIKey = sec["elasticsearchPassword"], sec["elasticsearchApiKey"]
	cfg.Prometheus.Password, cfg.Prometheus.Token = sec["prometheusPassword"], sec["prometheusToken"]
	cfg.Feedbackd.Token = sec["feedbackdToken"]
	cfg.Clusters.EmbeddingsToken = sec["embeddingsToken"]
	cfg.applyDefaults()
	return cfg, cfg.validate()
}

func (c *Settings) applyDefaults() {
	c.Loki.URL = strings.TrimRight(strings.TrimSpace(c.Loki.URL), "/")
	c.Elasticsearch.URL = strings.TrimRight(strings.TrimSpace(c.Elasticsearch.URL), "/")
	c.Prometheus.URL = strings.TrimRight(strings.TrimSpace(c.Prometheus.URL), "/")
	c.Feedbackd.URL = strings.TrimRight(strings.TrimSpace(c.Feedbackd.URL), "/")
	c.Clusters.EmbeddingsURL = strings.TrimRight(strings.TrimSpace(c.Clusters.EmbeddingsURL), "/")
	c.Clusters.EmbeddingsModel = strings.TrimSpace(c.Clusters.EmbeddingsModel)
	if strings.TrimSpace(c.Loki.Selector) == "" {
		c.Loki.Selector = DefaultLokiSelector
	}
	if c.Elasticsearch.Index == "" {
		c.Elasticsearch.Index = DefaultESIndex
	}
	if c.Elasticsearch.TimeField == "" {
		c.Elasticsearch.TimeField = DefaultESTimeField
	}
	if c.Prometheus.RequestsQuery == "" {
		c.Prometheus.RequestsQuery = DefaultRequestsQuery
	}
	if c.DefaultSource == "" {
		c.DefaultSource = read.SourceLoki
		if c.Loki.URL == "" && c.Elasticsearch.URL != "" {
			c.DefaultSource = read.SourceElasticsearch
		}
	}
}

func (c *Settings) validate() error {
	if c.DefaultSource != read.SourceLoki && c.DefaultSource != read.SourceElasticsearch {
		return &SettingError{Setting: "defaultSource", Message: fmt.Sprintf("%q is not loki or elasticsearch", c.DefaultSource)}
	}
	for _, u := range []struct{ name, val string }{
		{"loki.url", c.Loki.URL}, {"elasticsearch.url", c.Elasticsearch.URL}, {"prometheus.url", c.Prometheus.URL},
		{"feedbackd.url", c.Feedbackd.URL}, {"clusters.embeddingsUrl", c.Clusters.EmbeddingsURL},
	} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return &SettingError{Setting: u.name, Message: fmt.Sprintf("%q is not an http(s) URL such as http://host:port", u.val)}
		}
	}
	if err := validSelector(c.Loki.Selector); err != nil {
		return &SettingError{Setting: "loki.selector", Message: err.Error()}
	}
	if c.Loki.Token != "" && c.Loki.BasicAuthUser != "" {
		return &SettingError{Setting: "loki.basicAuthUser", Message: "set either basic auth or a bearer token (lokiToken), not both"}
	}
	if c.Feedbackd.Token != "" && c.Feedbackd.URL == "" {
		return &SettingError{Setting: "feedbackd.url", Message: "a feedbackd token is set but no URL: set feedbackd.url (e.g. http://feedbackd:8787)"}
	}
	if c.Clusters.EmbeddingsURL != "" && c.Clusters.EmbeddingsModel == "" {
		return &SettingError{Setting: "clusters.embeddingsModel", Message: "an embeddings URL is set but no model: name the embedding model, e.g. nomic-embed-text or text-embedding-3-small"}
	}
	if c.Clusters.EmbeddingsURL == "" && (c.Clusters.EmbeddingsModel != "" || c.Clusters.EmbeddingsToken != "") {
		return &SettingError{Setting: "clusters.embeddingsUrl", Message: "an embeddings model or token is set but no URL: set clusters.embeddingsUrl (the base of an OpenAI-compatible API, e.g. http://ollama:11434)"}
	}
	return nil
}

// Configured reports whether a source has a URL.
func (c *Settings) Configured(s read.Source) bool {
	switch s {
	case read.SourceLoki:
		return c.Loki.URL != ""
	case read.SourceElasticsearch:
		return c.Elasticsearch.URL != ""
	}
	return false
}

// validSelector does the cheap shape check; package loki parses the
// matchers when it connects and reports the details under the same setting.
func validSelector(s string) error {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return fmt.Errorf("%q is not a stream selector like {service_name=\"model-feedback\"}", s)
	}
	return nil
}
