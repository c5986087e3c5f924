package plugin

import (
	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// newElastic connects the Elasticsearch source when it is configured.
func newElastic(cfg models.Elastic) (read.Reader, error) {
	if cfg.URL == "" {
		return nil, &models.SettingError{Setting: "elasticsearch.url", Message: "Elasticsearch is not configured: set elasticsearch.url"}
	}
	c, err := elastic.New(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}
