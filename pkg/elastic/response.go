package elastic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// searchResponse is the part of a _search answer this package reads. The
// same shape comes from 7.17, 8.x and 9.x; only hits.total differs (see
// hitsTotal).
type searchResponse struct {
	Took     int64  `json:"took"`
	TimedOut bool   `json:"timed_out"`
	Shards   shards `json:"_shards"`
	Hits     struct {
		Total hitsTotal `json:"total"`
		Hits  []hit     `json:"hits"`
	} `json:"hits"`
	Aggregations struct {
		By   *termsAgg  `json:"by"`
		Time *histAgg   `json:"time"`
		Sum  *metricAgg `json:"sum"`
	} `json:"aggregations"`
}

// hitsTotal is {"value": n, "relation": "eq"} since 7.0, and a bare number
// when the request (or a proxy in front) sets rest_total_hits_as_int.
type hitsTotal struct {
	Value    int64
	Relation string
	Present  bool
}

func (t *hitsTotal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	t.Present = true
	if b[0] != '{' {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("hits.total %s is not a number", b)
		}
		t.Value, t.Relation = n, "eq"
		return nil
	}
	var o struct {
		Value    int64  `json:"value"`
		Relation string `json:"relation"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	t.Value, t.Relation = o.Value, o.Relation
	return nil
}

type hit struct {
	Index  string            `json:"_index"`
	ID     string            `json:"_id"`
	Source json.RawMessage   `json:"_source"`
	Sort   []json.RawMessage `json:"sort"`
}

// Every level of nested terms names its sub-aggregation "by", so one
// recursive type decodes any depth without maps.
type termsAgg struct {
	SumOtherDocCount int64         `json:"sum_other_doc_count"`
	Buckets          []termsBucket `json:"buckets"`
}

type termsBucket struct {
	Key      termKey    `json:"key"`
	DocCount int64      `json:"doc_count"`
	By       *termsAgg  `json:"by"`
	Sum      *metricAgg `json:"sum"`
	// released and first are the release-time minima (Releases).
	Released *metricAgg `json:"released"`
	First    *metricAgg `json:"first"`
}

// metricAgg is a sum or min: {"value": x}, null when min saw no value.
type metricAgg struct {
	Value *float64 `json:"value"`
}

func (m *metricAgg) value() float64 {
	if m == nil || m.Value == nil {
		return 0
	}
	return *m.Value
}

// termKey is a terms bucket key as text: a string for keyword fields, and
// the number's literal when a field is mapped numeric or boolean by mistake
// (so the group still shows, as it would in Loki where every value is text).
type termKey string

func (k *termKey) UnmarshalJSON(b []byte) error {
	// encoding/json has validated the literal; without escapes the text
	// between the quotes is the value.
	if len(b) >= 2 && b[0] == '"' && bytes.IndexByte(b, '\\') < 0 {
		*k = termKey(b[1 : len(b)-1])
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*k = termKey(s)
		return nil
	}
	*k = termKey(b)
	return nil
}

type histAgg struct {
	Buckets []histBucket `json:"buckets"`
}

type histBucket struct {
	Key      int64      `json:"key"`
	DocCount int64      `json:"doc_count"`
	By       *termsAgg  `json:"by"`
	Sum      *metricAgg `json:"sum"`
}

// stats are shown in the query inspector.
func (r *searchResponse) stats() []read.Stat {
	out := []read.Stat{{Name: "Elasticsearch: took", Unit: "ms", Value: float64(r.Took)}}
	if r.Hits.Total.Present {
		out = append(out, read.Stat{Name: "Elasticsearch: hits", Value: float64(r.Hits.Total.Value)})
	}
	return out
}
