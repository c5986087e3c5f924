// Package loki reads feedback events from Loki: it builds LogQL from a
// validated query, calls Loki's HTTP API and turns the answers into the
// source-neutral results of package frames.
package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	// goccy/go-json decodes the same bytes into the same types as
	// encoding/json, several times faster; Loki answers of 5,000 lines are
	// the plugin's hottest path (scripts/bench.sh).
	fastjson "github.com/goccy/go-json"

	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// maxBody bounds what is read from Loki: 5,000 lines of at most 256 KiB is
// the worst legitimate answer, anything larger is a misconfiguration.
const maxBody = 1 << 30

// Client talks to one Loki.
type Client struct {
	base *url.URL
	http *http.Client
	sel  Selector
}

// New builds a client from validated settings.
func New(cfg models.Loki) (*Client, error) {
	if cfg.URL == "" {
		return nil, &models.SettingError{Setting: "loki.url", Message: "Loki is not configured: set loki.url"}
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, &models.SettingError{Setting: "loki.url", Message: err.Error()}
	}
	sel, err := ParseSelector(cfg.Selector)
	if err != nil {
		return nil, &models.SettingError{Setting: "loki.selector", Message: err.Error()}
	}
	auth := models.HTTPAuth{BasicUser: cfg.BasicAuthUser, BasicPassword: cfg.Password, Headers: map[string]string{}}
	if cfg.Token != "" {
		auth.Authorization = "Bearer " + cfg.Token
	}
	if cfg.Tenant != "" {
		auth.Headers["X-Scope-OrgID"] = cfg.Tenant
	}
	hc, err := cfg.HTTPClient.Build("loki", auth)
	if err != nil {
		return nil, err
	}
	return &Client{base: u, http: hc, sel: sel}, nil
}

// Error is an answer from Loki other than success. Loki sends its errors as
// text/plain, which is passed on as is: it names the problem precisely.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("Loki refused the credentials (HTTP %d): %s", e.Status, e.Message)
	}
	return fmt.Sprintf("Loki answered HTTP %d: %s", e.Status, e.Message)
}

// get calls a Loki API path and returns the body of a 2xx answer. Every
// failure here is the downstream's (unreachable, refused, bad query), so it
// is marked as such for Grafana's error source.
func (c *Client) get(ctx context.Context, path string, params url.Values) ([]byte, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, read.Downstream(fmt.Errorf("Loki request cancelled: %w", ctx.Err()))
		}
		return nil, read.Downstream(fmt.Errorf("Loki at %s is unreachable: %w", c.base.Redacted(), unwrapURLError(err)))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, read.Downstream(fmt.Errorf("reading Loki's answer: %w", err))
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 1024 {
			msg = msg[:1024] + "…"
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return nil, read.Downstream(&Error{Status: resp.StatusCode, Message: msg})
	}
	return body, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// instant runs /query at t.
func (c *Client) instant(ctx context.Context, q string, t time.Time) (*Response, error) {
	return c.queryAPI(ctx, "/loki/api/v1/query", url.Values{"query": {q}, "time": {nanos(t)}})
}

// rangeMetric runs /query_range for a metric query.
func (c *Client) rangeMetric(ctx context.Context, q string, from, to time.Time, step time.Duration) (*Response, error) {
	return c.queryAPI(ctx, "/loki/api/v1/query_range", url.Values{
		"query": {q}, "start": {nanos(from)}, "end": {nanos(to)},
		"step": {strconv.FormatInt(step.Milliseconds(), 10) + "ms"},
	})
}

// logs runs /query_range for a log query.
func (c *Client) logs(ctx context.Context, q string, from, to time.Time, limit int, direction string) (*LogResponse, error) {
	body, err := c.get(ctx, "/loki/api/v1/query_range", url.Values{
		"query": {q}, "start": {nanos(from)}, "end": {nanos(to)},
		"limit": {strconv.Itoa(limit)}, "direction": {direction},
	})
	if err != nil {
		return nil, err
	}
	return parseLogResponse(body)
}

// LogResponse is the envelope of a log query, decoded in one pass: the
// streams are nearly all of the bytes, and going through a RawMessage would
// scan and copy them twice.
type LogResponse struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Stream map[string]string `json:"stream"`
			// A third element (categorize-labels) is not requested; extra
			// array elements would be ignored anyway.
			Values [][2]string `json:"values"`
		} `json:"result"`
		Stats struct {
			Summary map[string]float64 `json:"summary"`
		} `json:"stats"`
	} `json:"data"`
}

func parseLogResponse(body []byte) (*LogResponse, error) {
	var r LogResponse
	if err := fastjson.Unmarshal(body, &r); err != nil {
		return nil, read.Downstream(fmt.Errorf("Loki's answer is not a log query result: %w", err))
	}
	if r.Status != "success" {
		return nil, read.Downstream(fmt.Errorf("Loki answered status %q", r.Status))
	}
	if r.Data.ResultType != "streams" {
		return nil, read.Downstream(fmt.Errorf("Loki answered a %q result where log lines were expected", r.Data.ResultType))
	}
	return &r, nil
}

// Stats converts Loki's summary statistics for the query inspector.
func (r *LogResponse) Stats() []read.Stat { return summaryStats(r.Data.Stats.Summary) }

func (c *Client) queryAPI(ctx context.Context, path string, params url.Values) (*Response, error) {
	body, err := c.get(ctx, path, params)
	if err != nil {
		return nil, err
	}
	return parseResponse(body)
}

func parseResponse(body []byte) (*Response, error) {
	var r Response
	if err := fastjson.Unmarshal(body, &r); err != nil {
		return nil, read.Downstream(fmt.Errorf("Loki's answer is not a query result: %w", err))
	}
	if r.Status != "success" {
		return nil, read.Downstream(fmt.Errorf("Loki answered status %q", r.Status))
	}
	return &r, nil
}

// Response is the envelope of /query and /query_range.
type Response struct {
	Status string `json:"status"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
		Stats      struct {
			Summary map[string]float64 `json:"summary"`
		} `json:"stats"`
	} `json:"data"`
}

// Sample is one metric point.
type Sample struct {
	T time.Time
	V float64
}

// Series is one metric series of a vector or matrix answer.
type Series struct {
	Labels  map[string]string
	Samples []Sample
}

// Metric decodes a vector or matrix result.
func (r *Response) Metric() ([]Series, error) {
	switch r.Data.ResultType {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]json.Number    `json:"value"`
		}
		if err := fastjson.Unmarshal(r.Data.Result, &v); err != nil {
			return nil, downstreamShape(err)
		}
		out := make([]Series, len(v))
		for i, s := range v {
			p, err := sample(s.Value)
			if err != nil {
				return nil, err
			}
			out[i] = Series{Labels: s.Metric, Samples: []Sample{p}}
		}
		return out, nil
	case "matrix":
		var m []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]json.Number  `json:"values"`
		}
		if err := fastjson.Unmarshal(r.Data.Result, &m); err != nil {
			return nil, downstreamShape(err)
		}
		out := make([]Series, len(m))
		for i, s := range m {
			out[i] = Series{Labels: s.Metric, Samples: make([]Sample, len(s.Values))}
			for j, v := range s.Values {
				p, err := sample(v)
				if err != nil {
					return nil, err
				}
				out[i].Samples[j] = p
			}
		}
		return out, nil
	}
	return nil, read.Downstream(fmt.Errorf("Loki answered a %q result where a metric was expected", r.Data.ResultType))
}

// sample reads [seconds, "value"]: the time is a JSON number that may be
// fractional (1795175999.5), the value a string that may be "NaN".
func sample(v [2]json.Number) (Sample, error) {
	sec, err := strconv.ParseFloat(string(v[0]), 64)
	if err != nil {
		return Sample{}, downstreamShape(err)
	}
	val, err := strconv.ParseFloat(string(v[1]), 64)
	if err != nil {
		return Sample{}, downstreamShape(err)
	}
	// Round to milliseconds: Loki evaluates on a millisecond grid and float
	// seconds cannot carry more precision faithfully.
	ms := int64(sec*1000 + 0.5)
	if sec < 0 {
		ms = int64(sec*1000 - 0.5)
	}
	return Sample{T: time.UnixMilli(ms).UTC(), V: val}, nil
}

// Line is one log entry.
type Line = read.LogLine

// Streams lists the entries in answer order (streams are ordered by label
// set, not time: callers must sort).
func (r *LogResponse) Streams() ([]Line, error) {
	n := 0
	for _, st := range r.Data.Result {
		n += len(st.Values)
	}
	out := make([]Line, 0, n)
	for _, st := range r.Data.Result {
		for _, v := range st.Values {
			ns, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil {
				return nil, downstreamShape(err)
			}
			out = append(out, Line{T: time.Unix(0, ns).UTC(), Line: v[1], Labels: st.Stream})
		}
	}
	return out, nil
}

func downstreamShape(err error) error {
	return read.Downstream(fmt.Errorf("unexpected Loki answer: %w", err))
}

// statNames are the summary statistics shown in the query inspector.
var statNames = []struct{ key, name, unit string }{
	{"execTime", "Summary: exec time", "s"},
	{"queueTime", "Summary: queue time", "s"},
	{"totalBytesProcessed", "Summary: total bytes processed", "decbytes"},
	{"totalLinesProcessed", "Summary: total lines processed", ""},
	{"bytesProcessedPerSecond", "Summary: bytes processed per second", "Bps"},
	{"linesProcessedPerSecond", "Summary: lines processed per second", ""},
	{"totalEntriesReturned", "Summary: total entries returned", ""},
}

// Stats converts Loki's summary statistics for the query inspector.
func (r *Response) Stats() []read.Stat { return summaryStats(r.Data.Stats.Summary) }

func summaryStats(summary map[string]float64) []read.Stat {
	var out []read.Stat
	for _, s := range statNames {
		v, ok := summary[s.key]
		if !ok {
			continue
		}
		out = append(out, read.Stat{Name: s.name, Unit: s.unit, Value: v})
	}
	return out
}

var (
	_ read.Reader      = (*Client)(nil)
	_ read.LogSearcher = (*Client)(nil)
)
