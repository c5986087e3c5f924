// Package prom reads the model-serving side's own metrics (requests and
// latency per model_version) from Prometheus with the PromQL templates set
// in the data source configuration (docs/configuration.md), so feedback counts can be
// joined with traffic.
package prom

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/feedbackloop/modelfeedback/pkg/models"
)

// Client queries one Prometheus.
type Client struct {
	api      v1.API
	requests string
	latency  string
}

// New builds a client; it fails with a SettingError naming prometheus.url
// when Prometheus is not configured.
func New(cfg models.Prometheus) (*Client, error) {
	if cfg.URL == "" {
		return nil, &models.SettingError{Setting: "prometheus.url", Message: "Prometheus is not configured: set prometheus.url"}
	}
	auth := models.HTTPAuth{BasicUser: cfg.BasicAuthUser, BasicPassword: cfg.Password}
	if cfg.Token != "" {
		auth.Authorization = "Bearer " + cfg.Token
	}
	hc, err := cfg.HTTPClient.Build("prometheus", auth)
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient(api.Config{Address: cfg.URL, Client: hc})
	if err != nil {
		return nil, &models.SettingError{Setting: "prometheus.url", Message: err.Error()}
	}
	for name, tpl := range map[string]string{"prometheus.requestsQuery": cfg.RequestsQuery, "prometheus.latencyQuery": cfg.LatencyQuery} {
		if err := checkTemplate(tpl); err != nil {
			return nil, &models.SettingError{Setting: name, Message: err.Error()}
		}
	}
	return &Client{api: v1.NewAPI(c), requests: cfg.RequestsQuery, latency: cfg.LatencyQuery}, nil
}

// Vars are the values a template may use.
type Vars struct {
	Range, Interval time.Duration
	// ModelIDs and ModelVersions (exact values) and the *Patterns (regular
	// expressions) restrict $model_id / $model_version to any of them; none
	// means any value.
	ModelIDs, ModelVersions               []string
	ModelIDPatterns, ModelVersionPatterns []string
}

var (
	varRe       = regexp.MustCompile(`\$\{?(__range|__interval|__rate_interval|model_id|model_version)\}?`)
	anyVarRe    = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)
	labelVarsRe = regexp.MustCompile(`"[^"]*\$\{?(model_id|model_version)\}?[^"]*"`)
)

// checkTemplate accepts templates whose variables are known, and whose
// $model_id / $model_version sit inside a double-quoted label value: that
// is the only place where an expanded value is escaped and cannot change the
// query's structure.
func checkTemplate(tpl string) error {
	for _, v := range anyVarRe.FindAllString(tpl, -1) {
		if !varRe.MatchString(v) {
			return fmt.Errorf("unknown variable %s; use $__range, $__interval, $__rate_interval, $model_id or $model_version", v)
		}
	}
	outside := labelVarsRe.ReplaceAllString(tpl, "")
	if m := regexp.MustCompile(`\$\{?(model_id|model_version)\}?`).FindString(outside); m != "" {
		return fmt.Errorf("%s must be used inside a quoted label matcher, e.g. {model_version=~\"%s\"}", m, m)
	}
	return nil
}

// Expand fills a template. $__range and friends become PromQL durations;
// $model_id / $model_version become a regex alternation of the quoted values
// (".+" when unrestricted), escaped for the string literal they sit in, so
// use them with =~.
func Expand(tpl string, v Vars) string {
	rate := 4 * v.Interval
	if rate < v.Range && v.Range > 0 && rate <= 0 {
		rate = v.Range
	}
	if min := time.Minute; rate < min {
		rate = min
	}
	return varRe.ReplaceAllStringFunc(tpl, func(m string) string {
		name := strings.Trim(m, "${}")
		switch name {
		case "__range":
			return duration(v.Range)
		case "__interval":
			return duration(v.Interval)
		case "__rate_interval":
			return duration(rate)
		case "model_id":
			return labelRegex(v.ModelIDs, v.ModelIDPatterns)
		case "model_version":
			return labelRegex(v.ModelVersions, v.ModelVersionPatterns)
		}
		return m
	})
}

func duration(d time.Duration) string {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return model.Duration(d.Round(time.Millisecond)).String()
}

// labelRegex is the alternation of the values (regexp-quoted) and the
// patterns, escaped for a double-quoted PromQL string (backslashes and
// quotes). Several filters on one field are a union here, wider than the
// query's intersection: the plugin filters the answer exactly afterwards.
func labelRegex(vals, patterns []string) string {
	if len(vals)+len(patterns) == 0 {
		return ".+"
	}
	q := make([]string, 0, len(vals)+len(patterns))
	for _, v := range vals {
		q = append(q, regexp.QuoteMeta(v))
	}
	for _, p := range patterns {
		q = append(q, "(?:"+p+")")
	}
	re := strings.Join(q, "|")
	s := strconv.Quote(re)
	return s[1 : len(s)-1]
}

// HasLatency reports whether a latency template is configured.
func (c *Client) HasLatency() bool { return c.latency != "" }

// ByVersion runs a template as an instant query at t and returns its value
// per model_version label, plus the PromQL that ran.
func (c *Client) ByVersion(ctx context.Context, tpl string, t time.Time, v Vars) (map[string]float64, string, error) {
	q := Expand(tpl, v)
	val, _, _, err := c.api.Query(ctx, q, t)
	if err != nil {
		return nil, q, downstream(err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, q, backend.DownstreamError(fmt.Errorf("Prometheus answered a %s for %s; the template must give an instant vector", val.Type(), q))
	}
	out := map[string]float64{}
	for _, s := range vec {
		ver := string(s.Metric["model_version"])
		if ver == "" {
			return nil, q, backend.DownstreamError(fmt.Errorf("the series %s of %s has no model_version label; aggregate with sum by (model_version)", s.Metric, q))
		}
		out[ver] += float64(s.Value)
	}
	return out, q, nil
}

// SeriesByVersion runs a template as a range query on the given step grid
// and returns, per model_version, the value at each step (Unix ms).
func (c *Client) SeriesByVersion(ctx context.Context, tpl string, start, end time.Time, step time.Duration, v Vars) (map[string]map[int64]float64, string, error) {
	q := Expand(tpl, v)
	val, _, _, err := c.api.QueryRange(ctx, q, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, q, downstream(err)
	}
	mat, ok := val.(model.Matrix)
	if !ok {
		return nil, q, backend.DownstreamError(fmt.Errorf("Prometheus answered a %s for %s; the template must give a range vector result", val.Type(), q))
	}
	out := map[string]map[int64]float64{}
	for _, s := range mat {
		ver := string(s.Metric["model_version"])
		if ver == "" {
			return nil, q, backend.DownstreamError(fmt.Errorf("the series %s of %s has no model_version label; aggregate with sum by (model_version)", s.Metric, q))
		}
		if out[ver] == nil {
			out[ver] = map[int64]float64{}
		}
		for _, p := range s.Values {
			out[ver][int64(p.Timestamp)] += float64(p.Value)
		}
	}
	return out, q, nil
}

// Requests is the requestsQuery per version over the range ending at t.
func (c *Client) Requests(ctx context.Context, t time.Time, v Vars) (map[string]float64, string, error) {
	return c.ByVersion(ctx, c.requests, t, v)
}

// RequestSeries is the requestsQuery per version and step, with $__range
// set to the step so each point counts the requests of its own step, the
// same window as the feedback count at that point.
func (c *Client) RequestSeries(ctx context.Context, start, end time.Time, step time.Duration, v Vars) (map[string]map[int64]float64, string, error) {
	v.Range = step
	return c.SeriesByVersion(ctx, c.requests, start, end, step, v)
}

// Latency is the latencyQuery per version at t.
func (c *Client) Latency(ctx context.Context, t time.Time, v Vars) (map[string]float64, string, error) {
	return c.ByVersion(ctx, c.latency, t, v)
}

// CheckHealth runs the requests template over the last hour.
func (c *Client) CheckHealth(ctx context.Context) (string, error) {
	now := time.Now()
	if _, err := c.api.Buildinfo(ctx); err != nil {
		return "", fmt.Errorf("Prometheus: %w", downstream(err))
	}
	got, q, err := c.Requests(ctx, now, Vars{Range: time.Hour, Interval: time.Minute})
	if err != nil {
		return "", fmt.Errorf("Prometheus: prometheus.requestsQuery (%s) failed: %w", q, err)
	}
	if len(got) == 0 {
		return fmt.Sprintf("Prometheus: reachable, but %s found no requests in the last hour: check prometheus.requestsQuery", q), nil
	}
	return fmt.Sprintf("Prometheus: OK, requests for %d model version(s) in the last hour", len(got)), nil
}

func downstream(err error) error {
	var pe *v1.Error
	if errors.As(err, &pe) {
		return backend.DownstreamError(fmt.Errorf("Prometheus %s error: %s", pe.Type, pe.Msg))
	}
	return backend.DownstreamError(fmt.Errorf("Prometheus: %w", err))
}
