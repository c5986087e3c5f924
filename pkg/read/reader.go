package read

import (
	"context"
	"time"
)

// Reader is what every event store (Loki, Elasticsearch) answers. Both
// return the same results for the same events, so a caller never needs to
// know which store holds them.
type Reader interface {
	Breakdown(ctx context.Context, q Query) (Breakdown, Meta, error)
	// Timeseries returns the series and, per step (Unix ms), the number of
	// events matched regardless of grouping (the share denominator).
	Timeseries(ctx context.Context, q Query) ([]Series, map[int64]float64, Meta, error)
	// Feedback returns at most q.Limit entries, newest first, ties in
	// SortEntries order (clusters depend on it).
	Feedback(ctx context.Context, q Query) ([]Entry, Meta, error)
	// Trace returns every event carrying q.CorrelationID, oldest first,
	// whatever its kind.
	Trace(ctx context.Context, q Query) ([]Entry, Meta, error)

	// Releases reads, with one query over feedback in [q.From, q.To]
	// within q's model_id and model_version filters, each version's model,
	// the earliest model.released_at its events carry and its first-seen
	// time (pkg/versions' release order).
	Releases(ctx context.Context, q Query) ([]Release, Meta, error)
	// VersionTags counts feedback per model version and tag over q's range
	// with one query (groups: version, tag), q.Tags restricting the tags.
	VersionTags(ctx context.Context, q Query) (Breakdown, Meta, error)

	ModelIDs(ctx context.Context, from, to time.Time) ([]string, error)
	ModelVersions(ctx context.Context, modelID string, from, to time.Time) ([]string, error)
	Tags(ctx context.Context, from, to time.Time) ([]string, error)
	AttributeKeys(ctx context.Context, from, to time.Time) ([]string, error)
	// FieldValues lists one field's values in range; the tag field is
	// answered by Tags.
	FieldValues(ctx context.Context, field string, from, to time.Time) ([]string, error)

	// CheckHealth returns a one-line success message, or an error saying
	// what is wrong and what to fix.
	CheckHealth(ctx context.Context) (string, error)
}

// LogSearcher runs a query of the store's own language over the
// application's logs (the trace drill-down's execution logs); only Loki
// offers one.
type LogSearcher interface {
	Logs(ctx context.Context, query string, from, to time.Time, limit int) ([]LogLine, Meta, error)
}
