package plugin

import (
	"context"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/frames"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// feedback answers one log-lines frame, newest first, with drill-down links
// on correlation_id.
func (d *Datasource) feedback(ctx context.Context, q query.Query, src Source) backend.DataResponse {
	entries, meta, err := src.Feedback(ctx, q)
	if err != nil {
		return errorResponse(err, meta)
	}
	links := frames.Links{DatasourceUID: d.settings.UID, DatasourceName: d.settings.Name, Source: string(q.Source)}
	return backend.DataResponse{Frames: data.Frames{frames.FeedbackFrame(entries, links, meta)}}
}
