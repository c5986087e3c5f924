package models

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/query"
)

func load(js string, secure map[string]string) (*Settings, error) {
	return Load(Instance{UID: "u", Name: "n", JSONData: json.RawMessage(js), Secure: secure})
}

func TestDefaultsAndSecrets(t *testing.T) {
	s, err := load(`{"loki":{"url":"http://loki:3100/"},"elasticsearch":{"url":"https://es:9200"}}`,
		map[string]string{"lokiPassword": "p", "lokiToken": "t", "elasticsearchApiKey": "k", "prometheusToken": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Loki.URL != "http://loki:3100" || s.Loki.Selector != DefaultLokiSelector || s.Elasticsearch.Index != DefaultESIndex ||
		s.Elasticsearch.TimeField != "timestamp" || s.Prometheus.RequestsQuery != DefaultRequestsQuery || s.DefaultSource != query.SourceLoki {
		t.Fatalf("defaults: %+v", s)
	}
	if s.Loki.Password != "p" || s.Loki.Token != "t" || s.Elasticsearch.APIKey != "k" || s.Prometheus.Token != "pt" {
		t.Fatalf("secrets not read: %+v", s)
	}
	// Secrets never serialise, so they cannot end up in a log line.
	b, _ := json.Marshal(s)
	for _, secret := range []string{`"p"`, `"t"`, `"k"`, `"pt"`} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("secret %s in %s", secret, b)
		}
	}
	// Secrets in jsonData are ignored: only secureJsonData counts.
	s, _ = load(`{"loki":{"url":"http://l","Password":"leak","Token":"leak"}}`, nil)
	if s.Loki.Password != "" || s.Loki.Token != "" {
		t.Fatal("secret read from jsonData")
	}
	es, _ := load(`{"elasticsearch":{"url":"http://es:9200"}}`, nil)
	if es.DefaultSource != query.SourceElasticsearch {
		t.Fatalf("only Elasticsearch configured: default %q", es.DefaultSource)
	}
}

func TestErrorsNameTheSetting(t *testing.T) {
	cases := map[string]string{
		`{"loki":{"url":"loki:3100"}}`:                                "loki.url",
		`{"elasticsearch":{"url":"ftp://es"}}`:                        "elasticsearch.url",
		`{"prometheus":{"url":"http://"}}`:                            "prometheus.url",
		`{"defaultSource":"mysql"}`:                                   "defaultSource",
		`{"loki":{"url":"http://l","selector":"service_name=\"x\""}}`: "loki.selector",
		`{"loki":"http://l"}`:                                         "jsonData",
	}
	for js, setting := range cases {
		_, err := load(js, nil)
		se, ok := err.(*SettingError)
		if !ok || se.Setting != setting {
			t.Errorf("%s: %v, want an error naming %s", js, err, setting)
		}
	}
	_, err := load(`{"loki":{"url":"http://l","basicAuthUser":"u"}}`, map[string]string{"lokiToken": "t"})
	if err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("basic auth and token: %v", err)
	}
}

func TestFeedbackdAndEmbeddingsSettings(t *testing.T) {
	s, err := load(`{"feedbackd":{"url":" http://feedbackd:8787/ "},"clusters":{"embeddingsUrl":"http://ollama:11434/","embeddingsModel":" nomic-embed-text "}}`,
		map[string]string{"feedbackdToken": "srv-secret", "embeddingsToken": "emb-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Feedbackd.URL != "http://feedbackd:8787" || s.Feedbackd.Token != "srv-secret" {
		t.Errorf("feedbackd: %+v", s.Feedbackd)
	}
	if s.Clusters.EmbeddingsURL != "http://ollama:11434" || s.Clusters.EmbeddingsModel != "nomic-embed-text" || s.Clusters.EmbeddingsToken != "emb-secret" {
		t.Errorf("clusters: %+v", s.Clusters)
	}
	b, _ := json.Marshal(s)
	if strings.Contains(string(b), "secret") {
		t.Fatalf("secret serialised: %s", b)
	}
	cases := []struct {
		js      string
		secure  map[string]string
		setting string
	}{
		{`{"feedbackd":{"url":"feedbackd:8787"}}`, nil, "feedbackd.url"},
		{`{}`, map[string]string{"feedbackdToken": "t"}, "feedbackd.url"},
		{`{"clusters":{"embeddingsUrl":"ollama"}}`, nil, "clusters.embeddingsUrl"},
		{`{"clusters":{"embeddingsUrl":"http://ollama:11434"}}`, nil, "clusters.embeddingsModel"},
		{`{"clusters":{"embeddingsModel":"m"}}`, nil, "clusters.embeddingsUrl"},
		{`{}`, map[string]string{"embeddingsToken": "t"}, "clusters.embeddingsUrl"},
	}
	for _, c := range cases {
		_, err := load(c.js, c.secure)
		se, ok := err.(*SettingError)
		if !ok || se.Setting != c.setting {
			t.Errorf("%s %v: %v, want an error naming %s", c.js, c.secure, err, c.setting)
		}
	}
}
