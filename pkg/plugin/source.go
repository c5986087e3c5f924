package plugin

import (
	"context"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/frames"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// Source is what every event store (Loki, Elasticsearch) answers. Both
// return the source-neutral results of package frames, so a panel gets the
// same frames whichever source holds its events.
type Source interface {
	Breakdown(ctx context.Context, q query.Query) (frames.Breakdown, frames.Meta, error)
	// Timeseries returns the series and, per step (Unix ms), the number of
	// events matched regardless of grouping (the share denominator).
	Timeseries(ctx context.Context, q query.Query) ([]frames.Series, map[int64]float64, frames.Meta, error)
	// Feedback returns at most q.Limit entries, newest first, ties in
	// frames.SortEntries order (clusters depend on it).
	Feedback(ctx context.Context, q query.Query) ([]frames.Entry, frames.Meta, error)

	ModelIDs(ctx context.Context, from, to time.Time) ([]string, error)
	ModelVersions(ctx context.Context, modelID string, from, to time.Time) ([]string, error)
	Tags(ctx context.Context, from, to time.Time) ([]string, error)
	AttributeKeys(ctx context.Context, from, to time.Time) ([]string, error)
	// FieldValues lists one field's values in range; tag is answered by
	// Tags, above it.
	FieldValues(ctx context.Context, field string, from, to time.Time) ([]string, error)

	// CheckHealth returns a one-line success message, or an error saying
	// what is wrong and what to fix.
	CheckHealth(ctx context.Context) (string, error)
}
