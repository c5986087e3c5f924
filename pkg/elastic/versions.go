package elastic

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// releasesBody groups feedback of Loki's instant window by model and
// version and takes, in each, the earliest model.released_at and the
// earliest timestamp.
func (c *Client) releasesBody(q read.Query) (M, error) {
	f, err := c.filter(q, instantWindow(q.From, q.To))
	if err != nil {
		return nil, err
	}
	sizes := breakdownSizes(read.Query{GroupBy: []string{"model_id", "model_version"}}, breakdownBuckets)
	model, _ := storage.LookupField("model_id", false)
	version, _ := storage.LookupField("model_version", false)
	return M{"size": 0, "track_total_hits": true, "query": f, "aggs": M{"by": M{
		"terms": M{"field": model.JSONPath, "size": sizes[0], "missing": ""},
		"aggs": M{"by": M{
			"terms": M{"field": version.JSONPath, "size": sizes[1], "missing": ""},
			"aggs": M{
				"released": M{"min": M{"field": "model.released_at"}},
				"first":    M{"min": M{"field": c.timeField}},
			},
		}},
	}}}, nil
}

// Releases reads the release times of the versions with feedback in
// (q.From, q.To] with one search, as the Loki source's instant query.
func (c *Client) Releases(ctx context.Context, q read.Query) ([]read.Release, read.Meta, error) {
	q.Kind = feedback.KindFeedback
	q.Sentiment, q.Tags, q.Search, q.GroupBy, q.Measure = "", nil, "", nil, ""
	body, err := c.releasesBody(q)
	if err != nil {
		return nil, read.Meta{}, err
	}
	resp, executed, err := c.search(ctx, body)
	meta := read.Meta{Executed: executed}
	if err != nil {
		return nil, meta, err
	}
	meta.Stats = resp.stats()
	meta.Notices = append(meta.Notices, resp.notices()...)
	var out []read.Release
	if resp.Aggregations.By == nil {
		if resp.Hits.Total.Value == 0 {
			return nil, meta, nil
		}
		return nil, meta, read.Downstream(fmt.Errorf("Elasticsearch's answer has no aggregation \"by\""))
	}
	truncated := resp.Aggregations.By.SumOtherDocCount > 0
	for _, m := range resp.Aggregations.By.Buckets {
		if m.By == nil {
			continue
		}
		truncated = truncated || m.By.SumOtherDocCount > 0
		for _, v := range m.By.Buckets {
			r := read.Release{ModelID: string(m.Key), Version: string(v.Key)}
			if t, ok := msTime(v.First); ok {
				r.FirstSeen = t
			}
			if t, ok := msTime(v.Released); ok {
				r.ReleasedAt = t
			}
			out = append(out, r)
		}
	}
	if truncated {
		meta.Notices = append(meta.Notices, truncatedNotice(breakdownBuckets))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ModelID != out[j].ModelID {
			return out[i].ModelID < out[j].ModelID
		}
		return out[i].Version < out[j].Version
	})
	return out, meta, nil
}

// msTime reads a min aggregation of a date field: epoch milliseconds, null
// when no document had the field.
func msTime(m *metricAgg) (time.Time, bool) {
	if m == nil || m.Value == nil || math.IsNaN(*m.Value) || math.IsInf(*m.Value, 0) {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(*m.Value)).UTC(), true
}

// VersionTags counts feedback per model version and tag with one search.
func (c *Client) VersionTags(ctx context.Context, q read.Query) (read.Breakdown, read.Meta, error) {
	q.GroupBy, q.Measure, q.Total = []string{"model_version", "tag"}, "", false
	return c.Breakdown(ctx, q)
}
