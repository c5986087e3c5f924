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
	// FirstSeen is the start of the first step in which the version has
	// feedback: it orders versions when no baseline is given.
	FirstSeen          time.Time
	Feedback, Positive float64
	Negative           float64
	// Tags are the version's tag counts (only when asked for).
	Tags []read.Group
}

// Options say what Collect reads besides the counts.
type Options struct {
	// Tags also reads the tag counts per version (q.Tags restricts them).
	Tags bool
}

// Collect reads the counts per version for q (feedback of every sentiment
// within q's filters and time range), the model each version belongs to and
// the first-seen order. Rows come ordered by model, then first-seen time, then
// version name.
func Collect(ctx context.Context, src read.Reader, q read.Query, opt Options) ([]*Row, read.Meta, error) {
	if q.Sentiment != "" || q.Kind != feedback.KindFeedback {
		return nil, read.Meta{}, &read.FieldError{Field: "sentiment", Message: "versions compares all feedback sentiments; remove the sentiment and kind settings"}
	}
	base := q
	base.Tags = nil

	counts := base
	counts.GroupBy = []string{"model_version", "sentiment"}
	b, meta, err := src.Breakdown(ctx, counts)
	if err != nil {
		return nil, meta, err
	}
	executed := []string{meta.Executed}
	rows := map[string]*Row{}
	for _, g := range b.Groups {
		r := rows[g.Values[0]]
		if r == nil {
			r = &Row{Version: g.Values[0]}
			rows[g.Values[0]] = r
		}
		r.Feedback += g.Count
		switch feedback.Sentiment(g.Values[1]) {
		case feedback.Positive:
			r.Positive += g.Count
		case feedback.Negative:
			r.Negative += g.Count
		}
	}

	// Which model each version belongs to: baselines are per model.
	ids, err := src.ModelIDs(ctx, q.From, q.To)
	if err != nil {
		return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
	}
	for _, id := range ids {
		vers, err := src.ModelVersions(ctx, id, q.From, q.To)
		if err != nil {
			return nil, read.Meta{Executed: strings.Join(executed, "\n")}, err
		}
		for _, v := range vers {
			if r := rows[v]; r != nil {
				r.ModelID = id
			}
		}
	}

	// First-seen time orders versions (for the default baseline): the first
	// step in which a version has feedback.
	first := base
	first.GroupBy = []string{"model_version"}
	series, _, fmeta, err := src.Timeseries(ctx, first)
	if err != nil {
		return nil, fmeta, err
	}
	executed = append(executed, fmeta.Executed)
	for _, s := range series {
		r := rows[s.Values[0]]
		if r == nil {
			continue
		}
		for ms, v := range s.Points {
			t := time.UnixMilli(ms).UTC()
			if v > 0 && (r.FirstSeen.IsZero() || t.Before(r.FirstSeen)) {
				r.FirstSeen = t
			}
		}
	}

	if opt.Tags {
		tags := base
		tags.GroupBy = []string{"model_version", "tag"}
		tags.Tags = q.Tags
		ts, _, tmeta, err := src.Timeseries(ctx, tags)
		if err != nil {
			return nil, tmeta, err
		}
		executed = append(executed, tmeta.Executed)
		for _, s := range ts {
			r := rows[s.Values[0]]
			if r == nil {
				continue
			}
			sum := 0.0
			for _, v := range s.Points {
				sum += v
			}
			if sum > 0 {
				r.Tags = append(r.Tags, read.Group{Values: []string{s.Values[1]}, Count: sum})
			}
		}
	}

	out := make([]*Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	Order(out)
	return out, read.Meta{Executed: strings.Join(executed, "\n"), Stats: meta.Stats}, nil
}

// Order sorts rows by model, then release (first-seen) order, then name.
func Order(rows []*Row) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].ModelID != rows[j].ModelID {
			return rows[i].ModelID < rows[j].ModelID
		}
		if !rows[i].FirstSeen.Equal(rows[j].FirstSeen) {
			return rows[i].FirstSeen.Before(rows[j].FirstSeen)
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
// an explicit baseline a version is compared with the previous version of
// the same model by first-seen time; the first version of a model has
// nothing to compare with.
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
