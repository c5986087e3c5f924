package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// feedback answers one log-lines frame, newest first, with drill-down links
// on correlation_id.
func (d *Datasource) feedback(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	entries, meta, err := src.Feedback(ctx, q.Query)
	if err != nil {
		return errorResponse(err, meta)
	}
	links := Links{DatasourceUID: d.settings.UID, DatasourceName: d.settings.Name, Source: string(q.Source)}
	return backend.DataResponse{Frames: data.Frames{FeedbackFrame(entries, links, meta)}}
}

// Links are the data links put on correlation_id cells.
type Links struct {
	DatasourceUID  string
	DatasourceName string
	Source         string
}

// FeedbackFrame builds the log-lines frame of docs/queries.md from entries
// already sorted and limited by the caller.
func FeedbackFrame(entries []read.Entry, links Links, meta read.Meta) *data.Frame {
	n := len(entries)
	ts := make([]time.Time, n)
	body := make([]string, n)
	sev := make([]string, n)
	id := make([]string, n)
	labels := make([]json.RawMessage, n)
	corr := make([]string, n)
	version := make([]string, n)
	sent := make([]string, n)
	tags := make([]string, n)
	reason := make([]string, n)
	for i, en := range entries {
		e := en.Event
		ts[i] = en.Time.UTC()
		body[i] = eventBody(&e)
		sev[i] = string(e.Severity)
		if sev[i] == "" {
			sev[i] = string(feedback.SeverityInfo)
		}
		id[i] = e.FeedbackID
		if id[i] == "" {
			id[i] = e.CorrelationID
		}
		labels[i] = eventLabels(&e)
		corr[i] = e.CorrelationID
		version[i] = e.Model.Version
		sent[i] = string(e.Sentiment)
		tags[i] = strings.Join(e.Tags, ", ")
		reason[i] = e.Reason
	}
	corrField := data.NewField("correlation_id", nil, corr)
	corrField.Config = &data.FieldConfig{Links: correlationLinks(links)}
	f := data.NewFrame("feedback",
		data.NewField("timestamp", nil, ts),
		data.NewField("body", nil, body),
		data.NewField("severity", nil, sev),
		data.NewField("id", nil, id),
		data.NewField("labels", nil, labels),
		corrField,
		data.NewField("model_version", nil, version),
		data.NewField("sentiment", nil, sent),
		data.NewField("tags", nil, tags),
		data.NewField("reason", nil, reason),
	)
	setMeta(f, data.FrameTypeLogLines, data.FrameTypeVersion{0, 0}, meta)
	f.Meta.PreferredVisualization = data.VisTypeLogs
	return f
}

// eventBody is the line shown in the Logs panel: the comment when there is one,
// otherwise a short summary of the event.
func eventBody(e *feedback.Event) string {
	if e.Comment != "" {
		return e.Comment
	}
	withReason := func(s string) string {
		if e.Reason != "" {
			return s + " " + e.Reason
		}
		return s
	}
	switch e.Kind {
	case feedback.KindFeedback:
		switch e.Sentiment {
		case feedback.Positive:
			return withReason("👍")
		case feedback.Negative:
			return withReason("👎")
		default:
			return withReason("😐")
		}
	case feedback.KindReview:
		return strings.TrimSpace("review " + e.Verdict + " by " + e.Reviewer)
	case feedback.KindEscalation:
		if e.Ticket != nil {
			return "escalated to " + e.Ticket.System + " " + e.Ticket.Key
		}
		return "escalated"
	case feedback.KindNotification:
		return "notified of " + e.ResolutionID + " via " + e.Channel
	case feedback.KindResolution:
		return "resolution " + e.ResolutionID
	case feedback.KindInteraction:
		if e.Context != nil {
			return e.Context.Input
		}
	}
	return string(e.Kind)
}

// eventLabels are the event's stream-label values (docs/storage.md), built from the
// event itself so that Loki and Elasticsearch rows carry identical labels.
func eventLabels(e *feedback.Event) json.RawMessage {
	// Built by hand: json.Marshal of a map costs more than everything else
	// done per row. Keys are written in sorted order, like json.Marshal.
	b := make([]byte, 0, 128)
	b = append(b, `{"kind":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"model_id":`...)
	b = appendString(b, e.Model.ID)
	b = append(b, `,"model_version":`...)
	b = appendString(b, e.Model.Version)
	if e.Kind == feedback.KindFeedback && e.Sentiment != "" {
		b = append(b, `,"sentiment":`...)
		b = appendString(b, string(e.Sentiment))
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. strconv.Quote is not used: its
// \x escapes are not JSON.
func appendString(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

func correlationLinks(l Links) []data.DataLink {
	trace := data.DataLink{
		Title: "Trace drill-down",
		URL:   "/d/feedbackloop-trace?var-correlation_id=${__value.raw}&${__url_time_range}",
	}
	if l.DatasourceUID == "" {
		return []data.DataLink{trace}
	}
	explore := data.DataLink{
		Title: "Open trace in Explore",
		Internal: &data.InternalDataLink{
			DatasourceUID:  l.DatasourceUID,
			DatasourceName: l.DatasourceName,
			Query: map[string]any{
				"queryType":     "trace",
				"source":        l.Source,
				"correlationId": "${__value.raw}",
			},
		},
	}
	return []data.DataLink{trace, explore}
}
