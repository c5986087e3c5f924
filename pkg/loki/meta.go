package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// series lists the stream label sets under the selector (plus extra
// matchers). Only stream labels are bounded (docs/storage.md), so this is cheap.
func (c *Client) series(ctx context.Context, from, to time.Time, extra ...string) ([]map[string]string, error) {
	body, err := c.get(ctx, "/loki/api/v1/series", url.Values{
		"match[]": {c.sel.With(extra...)}, "start": {nanos(from)}, "end": {nanos(to)},
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string              `json:"status"`
		Data   []map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, downstreamShape(err)
	}
	return r.Data, nil
}

func labelValues(sets []map[string]string, name string, keep func(map[string]string) bool) []string {
	set := map[string]bool{}
	for _, s := range sets {
		if v := s[name]; v != "" && (keep == nil || keep(s)) {
			set[v] = true
		}
	}
	return sortedKeys(set)
}

// ModelIDs lists the model ids with events in range.
func (c *Client) ModelIDs(ctx context.Context, from, to time.Time) ([]string, error) {
	sets, err := c.series(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return labelValues(sets, "model_id", nil), nil
}

// ModelVersions lists the versions with events in range, of one model when
// modelID is set.
func (c *Client) ModelVersions(ctx context.Context, modelID string, from, to time.Time) ([]string, error) {
	sets, err := c.series(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return labelValues(sets, "model_version", func(s map[string]string) bool {
		return modelID == "" || s["model_id"] == modelID
	}), nil
}

// Tags lists the taxonomy and every custom tag seen on feedback in range.
func (c *Client) Tags(ctx context.Context, from, to time.Time) ([]string, error) {
	b := builder{sel: c.sel, q: read.Query{Kind: feedback.KindFeedback, From: from, To: to}}
	seen, err := c.discoverTags(ctx, b, to.Sub(from), &read.Meta{})
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, t := range feedback.Taxonomy {
		set[t] = true
	}
	for _, t := range seen {
		set[t] = true
	}
	return sortedKeys(set), nil
}

// AttributeKeys lists attribute keys (attributes.<key>) and generation
// parameters (params.<key>) found on feedback, from Loki's
// detected_fields (Loki 3.x). Older Lokis lack the endpoint; the caller
// then offers the static fields only.
func (c *Client) AttributeKeys(ctx context.Context, from, to time.Time) ([]string, error) {
	body, err := c.get(ctx, "/loki/api/v1/detected_fields", url.Values{
		"query": {c.sel.With(matcher("kind", "=", string(feedback.KindFeedback)))},
		"start": {nanos(from)}, "end": {nanos(to)},
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Fields []struct {
			Label string `json:"label"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, downstreamShape(err)
	}
	set := map[string]bool{}
	for _, f := range r.Fields {
		// `| json` flattens attributes.domain to attributes_domain and
		// context.params.temperature to context_params_temperature.
		if k, ok := strings.CutPrefix(f.Label, "attributes_"); ok {
			if _, err := storage.LookupField("attributes."+k, false); err == nil {
				set["attributes."+k] = true
			}
		}
		if k, ok := strings.CutPrefix(f.Label, "context_params_"); ok {
			if name := storage.ParamKey(k); name != "" {
				set[name] = true
			}
		}
	}
	return sortedKeys(set), nil
}

// FieldValues lists the values one field takes on feedback in range.
func (c *Client) FieldValues(ctx context.Context, name string, from, to time.Time) ([]string, error) {
	f, err := storage.LookupField(name, true)
	if err != nil {
		return nil, err
	}
	if f.StreamLabel {
		sets, err := c.series(ctx, from, to)
		if err != nil {
			return nil, err
		}
		return labelValues(sets, f.LokiLabel, nil), nil
	}
	resp, err := c.instant(ctx, valuesExpr(c.sel, string(feedback.KindFeedback), f, to.Sub(from)), to)
	if err != nil {
		return nil, err
	}
	series, err := resp.Metric()
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, s := range series {
		if v := s.Labels[f.LokiLabel]; v != "" {
			set[v] = true
		}
	}
	return sortedKeys(set), nil
}

// CheckHealth tells reachable-and-answering apart from refused credentials
// and from a selector that matches nothing, each with what to fix.
func (c *Client) CheckHealth(ctx context.Context) (string, error) {
	now := time.Now()
	// The same probe Grafana's own Loki data source uses: it needs no data.
	if _, err := c.instant(ctx, "vector(1)+vector(1)", now); err != nil {
		return "", fmt.Errorf("Loki: %w", err)
	}
	sets, err := c.series(ctx, now.Add(-24*time.Hour), now)
	if err != nil {
		return "", fmt.Errorf("Loki: listing streams under %s: %w", c.sel.With(), err)
	}
	kinds := labelValues(sets, "kind", nil)
	if len(sets) == 0 {
		return "", fmt.Errorf("Loki is reachable but has no streams under %s in the last 24 hours: check loki.selector and that feedbackd delivers to this Loki", c.sel.With())
	}
	hasFeedback := false
	for _, k := range kinds {
		hasFeedback = hasFeedback || k == string(feedback.KindFeedback)
	}
	if !hasFeedback {
		return "", fmt.Errorf("Loki is reachable and %s matches %d stream(s), but none has kind=\"feedback\" in the last 24 hours: the selector may point at other logs", c.sel.With(), len(sets))
	}
	return fmt.Sprintf("Loki: OK, %d feedback stream(s) in the last 24 hours (kinds: %s)", len(sets), strings.Join(kinds, ", ")), nil
}
