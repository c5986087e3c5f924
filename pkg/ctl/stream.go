package ctl

import (
	"context"
	"fmt"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// pageSize is how many events one read asks for: the most a store answers
// at once, so memory stays at one page whatever the export's size.
var pageSize = read.MaxLimit

// maxSpan is the longest time range one read covers. Loki refuses a
// longer query with HTTP 400 ("the query time range exceeds the limit"):
// its default max_query_length is 721h, and an export's window plus the
// 30-day lookback is longer than that (export dataset reads interactions
// over the window and the 30 days before it).
const maxSpan = 720 * time.Hour

// each calls fn for every event matching q in [q.From, q.To], newest first,
// reading one page at a time, in consecutive pieces of at most maxSpan
// from the newest back. Pieces share no instant: both stores read [from,
// to), and the piece below ends where the one above starts.
func each(ctx context.Context, src read.Reader, q read.Query, fn func(read.Entry) error) error {
	for to := q.To; to.After(q.From); {
		piece := q
		piece.To = to
		if to.Sub(q.From) > maxSpan {
			piece.From = to.Add(-maxSpan)
		}
		if err := eachPage(ctx, src, piece, fn); err != nil {
			return err
		}
		to = piece.From
	}
	return nil
}

// eachPage reads q's range page by page. Both stores answer "the newest
// Limit events up to To"; the next page ends at the oldest timestamp seen,
// one nanosecond later so it is included whatever the store's end
// semantics, and the events already emitted at that timestamp are skipped.
// Only the ids at the boundary timestamp are remembered.
func eachPage(ctx context.Context, src read.Reader, q read.Query, fn func(read.Entry) error) error {
	q.Limit = pageSize
	var boundary time.Time
	seen := map[string]bool{}
	first := true
	for {
		entries, _, err := src.Feedback(ctx, q)
		if err != nil {
			return err
		}
		fresh := 0
		for _, e := range entries {
			if !first && (e.Time.After(boundary) || (e.Time.Equal(boundary) && seen[key(e)])) {
				continue
			}
			if !e.Time.Equal(boundary) {
				boundary = e.Time
				clear(seen)
			}
			seen[key(e)] = true
			fresh++
			if err := fn(e); err != nil {
				return err
			}
		}
		first = false
		if len(entries) < q.Limit {
			return nil
		}
		if fresh == 0 {
			return fmt.Errorf("more than %d events share the timestamp %s: cannot page past it", q.Limit, boundary.Format(time.RFC3339Nano))
		}
		q.To = boundary.Add(time.Nanosecond)
		if !q.To.After(q.From) {
			return nil
		}
	}
}

func key(e read.Entry) string {
	ev := &e.Event
	return string(ev.Kind) + "\x00" + ev.FeedbackID + "\x00" + ev.CorrelationID + "\x00" + ev.ResolutionID
}
