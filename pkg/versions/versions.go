// Package versions computes the version comparison without Grafana: the
// feedback counts per model version, their release order, the baseline each
// version is compared with and the verdict. The data source's versions frame
// and feedbackctl's gate both use it, so a CI gate and a dashboard can never
// disagree on the same data.
package versions

import (
	"context"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/stats"
)

// Row is one model version's feedback numbers.
type Row struct {
	ModelID, Version string
	// ReleasedAt is the earliest model.released_at the version's feedback
	// carries (zero when none does); FirstSeen its first feedback in the
	// look-back window (see Lookback).
	ReleasedAt, FirstSeen time.Time
	Feedback, Positive    float64
	Negative              float64
	// Tags are the version's tag counts (only when asked for).
	Tags []read.Group
}

// Release is the version's release time: model.released_at when its
// events carry it, else its first-seen time (docs/query-types/versions.md).
func (r *Row) Release() time.Time {
	if !r.ReleasedAt.IsZero() {
		return r.ReleasedAt
	}
	return r.FirstSeen
}

// ReleaseSource says which of the two Release is.
func (r *Row) ReleaseSource() string {
	switch {
	case !r.ReleasedAt.IsZero():
		return "released_at"
	case !r.FirstSeen.IsZero():
		return "first_seen"
	}
	return ""
}

// Lookback is how far before the query's end (from the start of that UTC
// day) first-seen times are looked for. It is fixed, not the panel's
// range, so that narrowing or moving a dashboard's range does not reorder
// versions and flip verdicts; a version first seen before it counts as
// first seen at its start, and releases older than that should set
// model.released_at.
const Lookback = 14 * 24 * time.Hour

// ReleaseWindow is the window Collect reads release times over for q: the
// look-back, or q's own range when that reaches further back.
func ReleaseWindow(q read.Query) (from, to time.Time) {
	end := q.To.UTC()
	from = time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC).Add(-Lookback)
	if q.From.Before(from) {
		from = q.From
	}
	return from, q.To
}

// Options say what Collect reads besides the counts.
type Options struct {
	// Tags also reads the tag counts per version (q.Tags restricts them).
	Tags bool
}

// Collect reads the counts per version for q (feedback of every sentiment
// within q's filters and time range), each version's model and release
// time, and the tag counts when asked: at most three queries whatever the
// number of models and versions (counts, releases, tags). Rows come
// ordered by model, then release time, then version name.
func Collect(ctx context.Context, src read.Reader, q read.Query, opt Options) ([]*Row, read.Meta, error) {
	if q.Sentiment != "" || q.Kind != feedback.KindFeedback {
		return nil, read.Meta{}, &read.FieldError{Field: "sentiment", Message: "versions compares all feedback sentiments; remove the sentiment and kind settings"}
	}
	base := q
	base.Tags = nil
	base.Total = false
	base.Measure = ""

	counts := base
	counts.GroupBy = []string{"model_id", "model_version", "sentiment"}
	b, meta, err := src.Breakdown(ctx, counts)
	if err != nil {
		return nil, meta, err
	}
	executed := []string{meta.Executed}
	notices := meta.Notices
	type key struct{ model, version string }
	rows := map[key]*Row{}
	for _, g := range b.Groups {
		k := key{g.Values[0], g.Values[1]}
		r := rows[k]
		if r == nil {
			r = &Row{ModelID: k.model, Version: k.version}
			rows[k] = r
		}
		r.Feedback += g.Count
		switch feedback.Sentiment(g.Values[2]) {
		case feedback.Positive:
			r.Positive += g.Count
		case feedback.Negative:
			r.Negative += g.Count
		}
	}

	// Release times come from a window that does not follow the panel's
	// start, and only the model filters apply: which events a panel
	// counts must not change when a version came out.
	rq := read.Query{Kind: feedback.KindFeedback, Limit: q.Limit}
	for _, f := range q.Filters {
		if f.Key == "model_id" || f.Key == "model_version" {
			rq.Filters = append(rq.Filters, f)
		}
	}
	rq.From, rq.To = ReleaseWindow(q)
	rels, rmeta, err := src.Releases(ctx, rq)
	executed = append(executed, rmeta.Executed)
	if err != nil {
		return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
	}
	notices = append(notices, rmeta.Notices...)
	for _, rel := range rels {
		if r := rows[key{rel.ModelID, rel.Version}]; r != nil {
			r.ReleasedAt, r.FirstSeen = rel.ReleasedAt, rel.FirstSeen
		}
	}

	if opt.Tags {
		tags := base
		tags.Tags = q.Tags
		tb, tmeta, err := src.VersionTags(ctx, tags)
		executed = append(executed, tmeta.Executed)
		if err != nil {
			return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
		}
		notices = append(notices, tmeta.Notices...)
		byVersion := map[string][]*Row{}
		for _, r := range rows {
			byVersion[r.Version] = append(byVersion[r.Version], r)
		}
		for _, g := range tb.Groups {
			for _, r := range byVersion[g.Values[0]] {
				r.Tags = append(r.Tags, read.Group{Values: []string{g.Values[1]}, Count: g.Count})
			}
		}
	}

	out := make([]*Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	Order(out)
	return out, read.Meta{Executed: strings.Join(executed, "\n"), Stats: meta.Stats, Notices: notices}, nil
}

// Order sorts rows by model, then release time, then name.
func Order(rows []*Row) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].ModelID != rows[j].ModelID {
			return rows[i].ModelID < rows[j].ModelID
		}
		if a, b := rows[i].Release(), rows[j].Release(); !a.Equal(b) {
			return a.Before(b)
		}
		return rows[i].Version < rows[j].Version
	})
}

// Judgement is the statistics of one row against its baseline.
type Judgement struct {
	// Baseline is the version compared with ("" when there is none).
	Baseline string
	// Rate is the negative rate with its 95 % Wilson interval.
	Rate, Low, High float64
	// Delta is the rate minus the baseline's; P the two-sided p-value.
	Delta, P float64
	Verdict  string
}

// Regressed says whether the verdict is a regression.
func (j Judgement) Regressed() bool { return j.Verdict == stats.Regressed }

// HasBaseline says whether baseline names one of rows (an explicit baseline
// must have feedback in the time range).
func HasBaseline(rows []*Row, baseline string) bool {
	for _, r := range rows {
		if r.Version == baseline {
			return true
		}
	}
	return false
}

// Judge compares every row (in Collect's order) with its baseline. Without
// an explicit baseline a version is compared with the version of the same
// model released before it; the first version of a model has nothing to
// compare with. Versions that run side by side (canaries, A/B tests) are
// compared with the explicit baseline.
func Judge(rows []*Row, baseline string) []Judgement {
	byVersion := map[string]*Row{}
	for _, r := range rows {
		byVersion[r.Version] = r
	}
	out := make([]Judgement, len(rows))
	for i, r := range rows {
		j := &out[i]
		j.Rate = read.Ratio(r.Negative, r.Feedback)
		j.Low, j.High = stats.Wilson(r.Negative, r.Feedback)
		var b *Row
		switch {
		case baseline != "":
			b = byVersion[baseline]
		case i > 0 && rows[i-1].ModelID == r.ModelID:
			b = rows[i-1]
		}
		switch {
		case b == nil:
			j.Delta, j.P, j.Verdict = math.NaN(), math.NaN(), stats.InsufficientData
		case b == r:
			j.Baseline = b.Version
			j.Delta, j.P, j.Verdict = 0, 1, stats.NoChange
		default:
			j.Baseline = b.Version
			j.Delta, j.P, j.Verdict = stats.Compare(r.Negative, r.Feedback, b.Negative, b.Feedback)
		}
	}
	return out
}
