package elastic_test

import (
	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
)

// The Elasticsearch client is a plugin.Source, like the Loki one.
var _ plugin.Source = (*elastic.Client)(nil)
