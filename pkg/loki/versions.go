package loki

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

var releasedAtField = storage.Field{Name: "released_at", LokiLabel: "released_at", JSONPath: "model.released_at"}

// releasesExpr finds, per model, version and released_at value, the
// first event's time. LogQL cannot take the minimum of a string, so the
// released_at values come back as a grouping label (few per version), and
// the first-seen time is each line's own timestamp turned into a number by
// label_format's __timestamp__ and unwrapped.
func (b builder) releasesExpr(r time.Duration) string {
	e := b.base(false, releasedAtField).
		with(`| label_format first_seen_ms="{{ __timestamp__ | unixEpochMillis }}"`).
		with("| unwrap first_seen_ms").with(`| __error__=""`)
	return "min_over_time(" + e.rangeOf(r) + ") by (model_id, model_version, released_at)"
}

// Releases reads the release times of the versions with feedback in
// [q.From, q.To] (the instant window (From, To]) with one instant query.
func (c *Client) Releases(ctx context.Context, q read.Query) ([]read.Release, read.Meta, error) {
	q.Kind = feedback.KindFeedback
	q.Sentiment, q.Tags, q.Search, q.GroupBy, q.Measure = "", nil, "", nil, ""
	b := builder{sel: c.sel, q: q}
	var meta read.Meta
	series, err := c.instantSeries(ctx, b.releasesExpr(q.Range()), q.To, &meta, true)
	if err != nil {
		return nil, meta, err
	}
	type key struct{ model, version string }
	byKey := map[key]*read.Release{}
	for _, s := range series {
		k := key{s.Labels[storage.LabelModelID], s.Labels[storage.LabelModelVersion]}
		r := byKey[k]
		if r == nil {
			r = &read.Release{ModelID: k.model, Version: k.version}
			byKey[k] = r
		}
		first := time.UnixMilli(int64(s.Samples[0].V)).UTC()
		if r.FirstSeen.IsZero() || first.Before(r.FirstSeen) {
			r.FirstSeen = first
		}
		if at, ok := releasedAt(s.Labels["released_at"]); ok && (r.ReleasedAt.IsZero() || at.Before(r.ReleasedAt)) {
			r.ReleasedAt = at
		}
	}
	out := make([]read.Release, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ModelID != out[j].ModelID {
			return out[i].ModelID < out[j].ModelID
		}
		return out[i].Version < out[j].Version
	})
	return out, meta, nil
}

// releasedAt reads a stored model.released_at at millisecond resolution,
// the resolution Elasticsearch aggregates dates at, so both stores order
// alike. A value that is not RFC 3339 (written outside feedbackd) is
// ignored rather than failing the comparison.
func releasedAt(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC().Truncate(time.Millisecond), true
}

// versionTagsExpr counts feedback per version and distinct tags array: the
// arrays are split in Go, which counts an event once under each of its
// tags as the per-tag legs do, without first discovering the custom tags.
func (b builder) versionTagsExpr(r time.Duration) string {
	e := b.base(true, tagField).with("| " + matcher("tags", "!=", "[]"))
	return "sum by (model_version, tags) (count_over_time(" + e.rangeOf(r) + "))"
}

// VersionTags counts feedback per model version and tag with one instant
// query.
func (c *Client) VersionTags(ctx context.Context, q read.Query) (read.Breakdown, read.Meta, error) {
	q.GroupBy, q.Measure, q.Total = []string{"model_version", "tag"}, "", false
	b := builder{sel: c.sel, q: q}
	out := read.Breakdown{Dims: q.GroupBy}
	var meta read.Meta
	series, err := c.instantSeries(ctx, b.versionTagsExpr(q.Range()), q.To, &meta, true)
	if err != nil {
		return out, meta, err
	}
	only := map[string]bool{}
	for _, t := range q.Tags {
		only[t] = true
	}
	counts := map[[2]string]float64{}
	for _, s := range series {
		var tags []string
		if json.Unmarshal([]byte(s.Labels["tags"]), &tags) != nil {
			continue // no tags field, or not an array: an event outside the contract
		}
		seen := map[string]bool{}
		for _, t := range tags {
			if seen[t] || !feedback.ValidTag(t) || len(only) > 0 && !only[t] {
				continue
			}
			seen[t] = true
			counts[[2]string{s.Labels[storage.LabelModelVersion], t}] += s.Samples[0].V
		}
	}
	keys := make([][2]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		out.Groups = append(out.Groups, read.Group{Values: []string{k[0], k[1]}, Count: counts[k]})
		out.Total += counts[k]
	}
	return out, meta, nil
}
