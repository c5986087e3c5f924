package plugin

import (
	"context"
	"fmt"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// flaggedSeverities are what puts feedback into the review queue: the
// collector derives critical for offensive or harmful feedback and warning
// for negative feedback about hallucination, bias or factual errors — the
// cases an expert should judge and correct.
const flaggedSeverities = "warning|critical"

// reviews answers the review queue: flagged feedback (severity warning or
// critical, plus the query's own filters) that has no review event yet, as
// the same log-lines frame as feedback, newest first. Reviews are looked up
// over the same time range; a review recorded after it does not count.
func (d *Datasource) reviews(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	if q.Kind != feedback.KindFeedback {
		return errorResponse(&read.FieldError{Field: "kind", Message: "the review queue lists feedback; remove the kind setting"}, read.Meta{})
	}
	flagged := q.Query
	flagged.Filters = append(append([]read.Filter(nil), q.Filters...),
		read.Filter{Key: "severity", Operator: read.OpRegex, Value: flaggedSeverities})
	entries, meta, err := src.Feedback(ctx, flagged)
	if err != nil {
		return errorResponse(err, meta)
	}
	done := read.Query{Kind: feedback.KindReview, Limit: read.MaxLimit, From: q.From, To: q.To, Interval: q.Interval}
	reviewed, rmeta, err := src.Feedback(ctx, done)
	meta.Executed += "\n" + rmeta.Executed
	if err != nil {
		return errorResponse(err, meta)
	}
	if len(reviewed) >= read.MaxLimit {
		meta.Notices = append(meta.Notices, read.Notice{Severity: read.NoticeWarning,
			Text: fmt.Sprintf("More than %d reviews in this time range: only the newest were matched, so some reviewed feedback may still be listed; narrow the time range", read.MaxLimit)})
	}
	ids := make(map[string]bool, len(reviewed))
	for _, r := range reviewed {
		ids[r.Event.FeedbackID] = true
	}
	queue := entries[:0]
	for _, e := range entries {
		if !ids[e.Event.FeedbackID] {
			queue = append(queue, e)
		}
	}
	links := Links{DatasourceUID: d.settings.UID, DatasourceName: d.settings.Name, Source: string(q.Source)}
	return backend.DataResponse{Frames: data.Frames{FeedbackFrame(queue, links, meta)}}
}
