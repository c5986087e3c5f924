package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// values lists the distinct non-empty values of a keyword field in range,
// sorted. Loki's resources never list the empty value either.
func (c *Client) values(ctx context.Context, field string, from, to time.Time, filters ...any) ([]string, error) {
	resp, _, err := c.search(ctx, c.valuesBody(field, from, to, filters...))
	if err != nil {
		return nil, err
	}
	out := []string{}
	if resp.Aggregations.By == nil {
		return out, nil
	}
	for _, b := range resp.Aggregations.By.Buckets {
		if b.Key != "" {
			out = append(out, string(b.Key))
		}
	}
	sort.Strings(out)
	return out, nil
}

// ModelIDs lists the model ids with events (of any kind) in range, as
// Loki's stream labels do.
func (c *Client) ModelIDs(ctx context.Context, from, to time.Time) ([]string, error) {
	return c.values(ctx, "model.id", from, to)
}

// ModelVersions lists the versions with events in range, of one model when
// modelID is set.
func (c *Client) ModelVersions(ctx context.Context, modelID string, from, to time.Time) ([]string, error) {
	if modelID == "" {
		return c.values(ctx, "model.version", from, to)
	}
	return c.values(ctx, "model.version", from, to, term("model.id", modelID))
}

// Tags lists the taxonomy and every custom tag seen on feedback in range.
func (c *Client) Tags(ctx context.Context, from, to time.Time) ([]string, error) {
	seen, err := c.values(ctx, tagsField, from, to, term("kind", string(feedback.KindFeedback)))
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, t := range feedback.Taxonomy {
		set[t] = true
	}
	for _, t := range seen {
		if feedback.ValidTag(t) {
			set[t] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

// AttributeKeys lists the attribute keys (attributes.<key>) and the
// generation parameters (params.<key>) the indices have a mapping for. The
// mapping is not time-bound: a key stays listed after its last event.
func (c *Client) AttributeKeys(ctx context.Context, from, to time.Time) ([]string, error) {
	mappings, err := c.fieldMappings(ctx, "attributes.*", "context.params.*")
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, byField := range mappings {
		for name := range byField {
			if k, ok := strings.CutPrefix(name, "context.params."); ok {
				name = storage.ParamKey(k)
			}
			if _, err := storage.LookupField(name, false); err == nil {
				set[name] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// FieldValues lists the values one field takes in range: over every kind
// for the fields Loki has as stream labels, over feedback for the others,
// as the Loki source does.
func (c *Client) FieldValues(ctx context.Context, name string, from, to time.Time) ([]string, error) {
	f, err := storage.LookupField(name, true)
	if err != nil {
		return nil, err
	}
	if f.StreamLabel {
		return c.values(ctx, f.JSONPath, from, to)
	}
	return c.values(ctx, f.JSONPath, from, to, term("kind", string(feedback.KindFeedback)))
}

// fieldMapping is one field of GET <index>/_mapping/field/<fields>:
// {"<index>": {"mappings": {"<full name>": {"full_name": ..., "mapping":
// {"<leaf>": {"type": ...}}}}}}.
type fieldMapping struct {
	FullName string                     `json:"full_name"`
	Mapping  map[string]json.RawMessage `json:"mapping"`
}

func (m fieldMapping) typ() string {
	for _, raw := range m.Mapping {
		var t struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(raw, &t) == nil {
			return t.Type
		}
	}
	return ""
}

// fieldMappings returns, per concrete index, the mapped fields matching
// fields (comma-separated names or patterns).
func (c *Client) fieldMappings(ctx context.Context, fields ...string) (map[string]map[string]fieldMapping, error) {
	body, _, err := c.do(ctx, esapi.IndicesGetFieldMappingRequest{Index: []string{c.index}, Fields: fields})
	if err != nil {
		return nil, err
	}
	var r map[string]struct {
		Mappings map[string]fieldMapping `json:"mappings"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, read.Downstream(fmt.Errorf("unexpected answer to GET %s/_mapping/field: %w", c.index, err))
	}
	out := make(map[string]map[string]fieldMapping, len(r))
	for idx, m := range r {
		out[idx] = m.Mappings
	}
	return out, nil
}

const installHint = "install deploy/elasticsearch/index-template.json (PUT _index_template/model-feedback); indices created before keep their mapping until reindexed or replaced by the next daily index"

// CheckHealth checks, in order, that the cluster answers and accepts the
// credentials, that the index pattern matches indices, that their mapping
// is the one the queries need, and that feedback arrived lately; each
// failure says what to fix.
func (c *Client) CheckHealth(ctx context.Context) (string, error) {
	body, _, err := c.do(ctx, esapi.InfoRequest{})
	if err != nil {
		return "", fmt.Errorf("Elasticsearch: %w", err)
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if err := json.Unmarshal(body, &info); err != nil || info.Version.Number == "" {
		return "", fmt.Errorf("Elasticsearch: the server at %s answered GET / without a version: is it Elasticsearch?", c.base)
	}
	version := info.Version.Number
	if major, minor := versionParts(version); major < 7 || major == 7 && minor < 17 {
		return "", fmt.Errorf("Elasticsearch %s is not supported: use 7.17, 8.x or 9.x", version)
	}

	want := map[string][]string{
		c.timeField:     {"date", "date_nanos"},
		"kind":          {"keyword"},
		"tags":          {"keyword"},
		"model.version": {"keyword"},
		"sentiment":     {"keyword"},
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	mappings, err := c.fieldMappings(ctx, strings.Join(names, ","))
	if err != nil {
		return "", fmt.Errorf("Elasticsearch %s: reading the mapping of %s: %w", version, c.index, err)
	}
	if len(mappings) == 0 {
		return "", fmt.Errorf("Elasticsearch %s is reachable but no index matches %q: check elasticsearch.index and that feedbackd writes to this cluster, with the index template installed (PUT _index_template/model-feedback with deploy/elasticsearch/index-template.json)", version, c.index)
	}
	if problems := mappingProblems(mappings, names, want); len(problems) > 0 {
		return "", fmt.Errorf("Elasticsearch %s: the mapping of %s does not fit: %s. To fix, %s", version, c.index, strings.Join(problems, "; "), installHint)
	}

	now := time.Now()
	resp, _, err := c.search(ctx, M{
		"size": 0, "track_total_hits": true,
		"query": M{"bool": M{"filter": []any{c.rangeClause(window{now.Add(-24 * time.Hour), now, "gte", "lte"})}}},
		"aggs":  M{"by": M{"terms": M{"field": "kind", "size": 20}}},
	})
	if err != nil {
		return "", fmt.Errorf("Elasticsearch %s: searching %s: %w", version, c.index, err)
	}
	if resp.Hits.Total.Value == 0 {
		return "", fmt.Errorf("Elasticsearch %s is reachable and %s matches %d index(es), but none holds events of the last 24 hours: check that feedbackd delivers to this cluster and that elasticsearch.timeField (%s) is the event time", version, c.index, len(mappings), c.timeField)
	}
	var kinds []string
	feedbackN := int64(0)
	if resp.Aggregations.By != nil {
		for _, b := range resp.Aggregations.By.Buckets {
			kinds = append(kinds, string(b.Key))
			if string(b.Key) == string(feedback.KindFeedback) {
				feedbackN = b.DocCount
			}
		}
	}
	sort.Strings(kinds)
	if feedbackN == 0 {
		return "", fmt.Errorf("Elasticsearch %s is reachable and %s holds %d event(s) of the last 24 hours, but none of kind \"feedback\" (kinds: %s)", version, c.index, resp.Hits.Total.Value, strings.Join(kinds, ", "))
	}
	return fmt.Sprintf("Elasticsearch %s: OK, %d feedback event(s) in the last 24 hours in %s (kinds: %s)", version, feedbackN, c.index, strings.Join(kinds, ", ")), nil
}

// mappingProblems lists, per field, the indices where it is missing or of
// another type, in a stable order.
func mappingProblems(mappings map[string]map[string]fieldMapping, names []string, want map[string][]string) []string {
	indices := make([]string, 0, len(mappings))
	for idx := range mappings {
		indices = append(indices, idx)
	}
	sort.Strings(indices)
	var out []string
	for _, name := range names {
		var missing []string
		wrong := map[string][]string{}
		var wrongTypes []string
		for _, idx := range indices {
			m, ok := mappings[idx][name]
			if !ok {
				missing = append(missing, idx)
				continue
			}
			t := m.typ()
			if !contains(want[name], t) {
				if _, seen := wrong[t]; !seen {
					wrongTypes = append(wrongTypes, t)
				}
				wrong[t] = append(wrong[t], idx)
			}
		}
		if len(missing) > 0 {
			out = append(out, fmt.Sprintf("%s is not mapped in %s", name, listIndices(missing)))
		}
		for _, t := range wrongTypes {
			out = append(out, fmt.Sprintf("%s is %s in %s but must be %s", name, t, listIndices(wrong[t]), strings.Join(want[name], " or ")))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func listIndices(idx []string) string {
	if len(idx) > 3 {
		return strings.Join(idx[:3], ", ") + fmt.Sprintf(" and %d more", len(idx)-3)
	}
	return strings.Join(idx, ", ")
}

func versionParts(v string) (int, int) {
	parts := strings.SplitN(v, ".", 3)
	major, _ := strconv.Atoi(parts[0])
	minor := 0
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}
