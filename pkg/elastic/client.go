// Package elastic reads feedback events from Elasticsearch (7.17, 8.x and
// 9.x): it builds the query DSL from a validated query, runs it through the
// official client and turns the answers into the source-neutral results of
// package frames, so that a panel gets the same frames as from Loki.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

const (
	// maxBody bounds what is read from Elasticsearch: 5,000 events of at
	// most 256 KiB is the worst legitimate answer.
	maxBody = 1 << 30
	// defaultMaxBuckets is search.max_buckets' default (65,536 on 8.x and
	// later, 65,535 on 7.17): the lower one, so one request fits both.
	defaultMaxBuckets = 65535
	// breakdownBuckets caps the groups of one breakdown.
	breakdownBuckets = 10000
	// resourceSize is the number of values a resource lists.
	resourceSize = 1000
)

// Client talks to one Elasticsearch cluster.
type Client struct {
	es        *elasticsearch.Client
	base      string // redacted, for messages
	index     string
	timeField string
	// pageSize is the hits asked per request of a feedback list; at the
	// query limit's maximum one request always suffices, tests lower it to
	// exercise search_after.
	pageSize   int
	maxBuckets int
}

// New builds a client from validated settings.
func New(cfg models.Elastic) (*Client, error) {
	if strings.TrimSpace(cfg.URL) == "" {
		return nil, &models.SettingError{Setting: "elasticsearch.url", Message: "Elasticsearch is not configured: set elasticsearch.url"}
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &models.SettingError{Setting: "elasticsearch.url", Message: fmt.Sprintf("%q is not an http(s) URL such as http://host:9200", cfg.URL)}
	}
	index := cfg.Index
	if index == "" {
		index = models.DefaultESIndex
	}
	if err := checkIndex(index); err != nil {
		return nil, &models.SettingError{Setting: "elasticsearch.index", Message: err.Error()}
	}
	timeField := cfg.TimeField
	if timeField == "" {
		timeField = models.DefaultESTimeField
	}
	if strings.ContainsAny(timeField, "*, \t\n") {
		return nil, &models.SettingError{Setting: "elasticsearch.timeField", Message: fmt.Sprintf("%q is not a field name", timeField)}
	}
	if cfg.APIKey != "" && cfg.BasicAuthUser != "" {
		return nil, &models.SettingError{Setting: "elasticsearch.basicAuthUser", Message: "set either basic auth or an API key (elasticsearchApiKey), not both"}
	}
	auth := models.HTTPAuth{BasicUser: cfg.BasicAuthUser, BasicPassword: cfg.Password}
	if cfg.APIKey != "" {
		auth.Authorization = "ApiKey " + cfg.APIKey
	}
	hc, err := cfg.HTTPClient.Build("elasticsearch", auth)
	if err != nil {
		return nil, err
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: []string{strings.TrimRight(cfg.URL, "/")},
		Transport: hc.Transport,
		// A failed search is reported, never silently repeated: a retried
		// aggregation doubles the load exactly when the cluster struggles.
		DisableRetry:      true,
		DisableMetaHeader: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return &Client{es: es, base: u.Redacted(), index: index, timeField: timeField,
		pageSize: read.MaxLimit, maxBuckets: defaultMaxBuckets}, nil
}

// checkIndex refuses what cannot be an index expression, so that the
// setting cannot reach another API path: ES forbids these characters in
// index names anyway (* and , stay: they are the pattern syntax).
func checkIndex(index string) error {
	if strings.ContainsAny(index, " \"\\/<>|#?\t\n") || strings.HasPrefix(index, "_") {
		return fmt.Errorf("%q is not an index name or pattern such as model-feedback-*", index)
	}
	return nil
}

var (
	yes = true
	no  = false
)

// searchParams are the URL parameters of every search: a pattern matching
// no index is an error (so a typo in elasticsearch.index is reported, not
// shown as "no data"), a closed daily index is skipped.
func searchParams() (allowNoIndices, ignoreUnavailable *bool) { return &no, &yes }

// do runs one API request and returns the body of a 2xx answer. Every
// failure is the downstream's (unreachable, refused, bad mapping), so it is
// marked as such for Grafana's error source.
func (c *Client) do(ctx context.Context, req esapi.Request) ([]byte, int, error) {
	res, err := req.Do(ctx, c.es)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, read.Downstream(fmt.Errorf("Elasticsearch request cancelled: %w", ctx.Err()))
		}
		if strings.Contains(err.Error(), "not Elasticsearch") {
			return nil, 0, read.Downstream(fmt.Errorf("the server at %s does not identify itself as Elasticsearch (no X-Elastic-Product header): Elasticsearch 7.17, 8.x and 9.x are supported", c.base))
		}
		return nil, 0, read.Downstream(fmt.Errorf("Elasticsearch at %s is unreachable: %w", c.base, unwrapURLError(err)))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, res.StatusCode, read.Downstream(fmt.Errorf("reading Elasticsearch's answer: %w", err))
	}
	if res.StatusCode/100 != 2 {
		return nil, res.StatusCode, read.Downstream(httpError(res.StatusCode, body, c.index))
	}
	return body, res.StatusCode, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// search runs one _search. executed is what the query inspector shows: the
// request line and the body, as one would paste it into Kibana's console.
func (c *Client) search(ctx context.Context, body M) (*searchResponse, string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, "", fmt.Errorf("encoding the search: %w", err)
	}
	executed := c.executed(raw)
	allow, ignore := searchParams()
	out, _, err := c.do(ctx, esapi.SearchRequest{
		Index: []string{c.index}, Body: bytes.NewReader(raw),
		AllowNoIndices: allow, IgnoreUnavailable: ignore,
	})
	if err != nil {
		return nil, executed, err
	}
	r, err := decodeSearch(out, body["size"] != 0)
	if err != nil {
		return nil, executed, read.Downstream(fmt.Errorf("Elasticsearch's answer is not a search result: %w", err))
	}
	if err := r.Shards.check(c.index); err != nil {
		return nil, executed, read.Downstream(err)
	}
	return r, executed, nil
}

func (c *Client) executed(raw []byte) string {
	var b bytes.Buffer
	b.WriteString("POST " + c.index + "/_search?allow_no_indices=false&ignore_unavailable=true\n")
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		b.Write(raw)
	}
	return b.String()
}

var _ read.Reader = (*Client)(nil)
