package plugin

import (
	"context"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// CheckHealth tests each configured backend (Loki, Elasticsearch,
// Prometheus) separately and says which one failed and why.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if d.settingsErr != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: "Configuration: " + d.settingsErr.Error()}, nil
	}
	var ok, failed []string
	checked := 0
	for _, s := range []query.Source{query.SourceLoki, query.SourceElasticsearch} {
		if !d.settings.Configured(s) {
			continue
		}
		checked++
		src, err := d.source(s)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		msg, err := src.CheckHealth(ctx)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		ok = append(ok, msg)
	}
	if d.settings.Prometheus.URL != "" {
		if d.prom == nil {
			failed = append(failed, d.promErr.Error())
		} else if msg, err := d.prom.CheckHealth(ctx); err != nil {
			failed = append(failed, err.Error())
		} else {
			ok = append(ok, msg)
		}
	}
	if checked == 0 {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError,
			Message: "No feedback source is configured: set loki.url or elasticsearch.url"}, nil
	}
	if len(failed) > 0 {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: strings.Join(append(failed, ok...), "\n")}, nil
	}
	if !d.settings.Configured(d.settings.DefaultSource) {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError,
			Message: "defaultSource is " + string(d.settings.DefaultSource) + " but it has no URL; " + strings.Join(ok, "; ")}, nil
	}
	return &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: strings.Join(ok, "\n")}, nil
}
