package ctl

import (
	"fmt"

	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/embed"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/submit"
)

// reader builds the read client the data source would use for the same
// settings; errors name the option.
func reader(opts map[string]string) (read.Reader, error) {
	src := opts["source"]
	if src == "" {
		src = "loki"
		if opts["loki-url"] == "" && opts["elasticsearch-url"] != "" {
			src = "elasticsearch"
		}
	}
	switch src {
	case "loki":
		if opts["loki-url"] == "" {
			return nil, fmt.Errorf("--loki-url: required to read from Loki (or set --elasticsearch-url)")
		}
		sel := opts["loki-selector"]
		if sel == "" {
			sel = models.DefaultLokiSelector
		}
		c, err := loki.New(models.Loki{URL: opts["loki-url"], Selector: sel, Tenant: opts["loki-tenant"],
			BasicAuthUser: opts["loki-username"], Password: opts["loki-password"], Token: opts["loki-bearer-token"]})
		return c, optionErr(err)
	case "elasticsearch":
		if opts["elasticsearch-url"] == "" {
			return nil, fmt.Errorf("--elasticsearch-url: required to read from Elasticsearch")
		}
		c, err := elastic.New(models.Elastic{URL: opts["elasticsearch-url"], Index: opts["elasticsearch-index"],
			BasicAuthUser: opts["elasticsearch-username"], Password: opts["elasticsearch-password"], APIKey: opts["elasticsearch-api-key"]})
		return c, optionErr(err)
	}
	return nil, fmt.Errorf("--source: %q is not loki or elasticsearch", src)
}

// embedder is the embeddings client the data source would build from the
// same settings; nil when none is set.
func embedder(opts map[string]string) (*embed.Client, error) {
	c, err := embed.New(models.Clusters{EmbeddingsURL: opts["embeddings-url"], EmbeddingsModel: opts["embeddings-model"],
		EmbeddingsToken: opts["embeddings-token"]})
	return c, optionErr(err)
}

func feedbackd(opts map[string]string) (*submit.Client, error) {
	c, err := submit.New(models.Feedbackd{URL: opts["feedbackd-url"], Token: opts["feedbackd-token"]}, "--feedbackd-url")
	return c, optionErr(err)
}

// optionErr renames a data source setting (loki.url) to the option that
// sets it here (--loki-url).
func optionErr(err error) error {
	se, ok := err.(*models.SettingError)
	if !ok {
		return err
	}
	names := map[string]string{"loki.url": "--loki-url", "loki.selector": "--loki-selector", "loki.basicAuthUser": "--loki-username",
		"elasticsearch.url": "--elasticsearch-url", "elasticsearch.index": "--elasticsearch-index",
		"elasticsearch.basicAuthUser": "--elasticsearch-username", "elasticsearch.timeField": "--elasticsearch-index",
		"clusters.embeddingsUrl": "--embeddings-url", "clusters.embeddingsModel": "--embeddings-model"}
	if n, ok := names[se.Setting]; ok {
		return fmt.Errorf("%s: %s", n, se.Message)
	}
	return fmt.Errorf("%s: %s", se.Setting, se.Message)
}
