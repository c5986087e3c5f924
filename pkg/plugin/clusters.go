package plugin

import (
	"context"
	"fmt"
	"sort"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/cluster"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// clusters answers one row per cluster of similar comments among the newest
// 5,000 feedback events that match the query (its filters, tags, sentiment
// and search) and carry a comment. The grouping runs here, on what the source
// returned, so Loki and Elasticsearch give the same clusters. limit caps the
// rows, largest clusters first.
func (d *Datasource) clusters(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	if q.Kind != feedback.KindFeedback {
		return errorResponse(&read.FieldError{Field: "kind", Message: "clusters group feedback comments; remove the kind setting"}, read.Meta{})
	}
	fetch := q
	fetch.Type = query.Feedback
	fetch.Limit = read.MaxLimit
	entries, meta, err := src.Feedback(ctx, fetch.Query)
	if err != nil {
		return errorResponse(err, meta)
	}
	if len(entries) >= read.MaxLimit {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeInfo,
			Text: fmt.Sprintf("Clustered the newest %d feedback events of this time range; narrow it or filter to cluster older ones", read.MaxLimit)})
	}
	// Oldest first, so the grouping (which depends on order) is the same on
	// every refresh whatever order the source listed ties in.
	texts, events := cluster.Comments(entries)
	cs, method := d.group(ctx, texts, &meta)
	if len(cs) > q.Limit {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeInfo,
			Text: fmt.Sprintf("%d clusters; showing the %d largest (limit)", len(cs), q.Limit)})
		cs = cs[:q.Limit]
	}
	f := clustersFrame(cs, texts, events, meta)
	f.Meta.Custom = map[string]string{"grouping": method}
	if q.Alerting {
		// One instance per cluster, named by what identifies it; the example
		// and the top version change between evaluations.
		f = keepFields(f, "cluster_id", "label", "size")
	}
	return backend.DataResponse{Frames: data.Frames{f}}
}

// group clusters by meaning when an embeddings endpoint is set and it
// answers; otherwise, or when it fails (said in a notice), by words.
func (d *Datasource) group(ctx context.Context, texts []string, meta *read.Meta) ([]cluster.Cluster, string) {
	if d.embedder != nil && len(texts) > 0 {
		vecs, err := d.embedder.Embed(ctx, texts)
		if err == nil {
			cs, _ := cluster.GroupVectors(texts, vecs, cluster.Options{})
			return cs, cluster.MethodEmbeddings
		}
		backend.Logger.Warn("embeddings failed, clustering by words", "error", err)
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeWarning,
			Text: fmt.Sprintf("Grouped by words: the embeddings endpoint failed (%v)", err)})
	}
	cs, _ := cluster.Group(texts, cluster.Options{})
	return cs, cluster.MethodWords
}

func clustersFrame(cs []cluster.Cluster, texts []string, events []*feedback.Event, meta read.Meta) *data.Frame {
	n := len(cs)
	ids, labels, examples, versions := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	sizes, negShare := make([]float64, n), make([]float64, n)
	for i, c := range cs {
		ids[i], labels[i], examples[i] = c.ID, c.Label(), texts[c.Example]
		sizes[i] = float64(len(c.Members))
		var neg float64
		byVersion := map[string]int{}
		for _, m := range c.Members {
			if events[m].Sentiment == feedback.Negative {
				neg++
			}
			byVersion[events[m].Model.Version]++
		}
		negShare[i] = neg / sizes[i]
		versions[i] = topVersion(byVersion)
	}
	f := data.NewFrame("clusters",
		data.NewField("cluster_id", nil, ids),
		data.NewField("size", nil, sizes),
		data.NewField("label", nil, labels),
		data.NewField("example", nil, examples),
		data.NewField("share_negative", nil, negShare).SetConfig(&data.FieldConfig{Unit: "percentunit"}),
		data.NewField("top_model_version", nil, versions),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeNumericLong, TypeVersion: data.FrameTypeVersion{0, 1},
		ExecutedQueryString: meta.Executed, Stats: statsOf(meta), Notices: noticesOf(meta)}
	return f
}

// topVersion is the most frequent version; the greatest name wins a tie,
// which for date-like versions is the newest.
func topVersion(counts map[string]int) string {
	names := make([]string, 0, len(counts))
	for v := range counts {
		names = append(names, v)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] > names[j]
	})
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
