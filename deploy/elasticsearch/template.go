// Package elastictemplate ships the Elasticsearch index template for Feedback
// Loop events (docs/storage.md). The JSON file next to this one is the source of
// truth: operators can apply it by hand, the collector installs it
// (elasticsearch sink, InstallTemplate) and the data source's health check
// compares against it, so all three can never drift apart.
package elastictemplate

import (
	_ "embed"

	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Name is the name under which the template is installed
// (PUT _index_template/<Name>) for the default index prefix.
const Name = storage.TemplateName

// IndexTemplate is the body of PUT _index_template/model-feedback.
//
// Callers must not modify the slice; it is shared.
//
//go:embed index-template.json
var IndexTemplate []byte
