package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// trace answers the drill-down into one correlation id: the snapshot of the
// model execution, every event on it, and the application's own execution
// logs from Loki.
func (d *Datasource) trace(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	entries, meta, err := src.Trace(ctx, q.Query)
	if err != nil {
		return errorResponse(err, meta)
	}
	var snapshot *read.Entry
	var events []read.Entry
	for i, e := range entries {
		if e.Event.Kind == feedback.KindInteraction {
			if snapshot == nil {
				snapshot = &entries[i]
			}
			continue
		}
		events = append(events, e)
	}
	links := Links{DatasourceUID: d.settings.UID, DatasourceName: d.settings.Name, Source: string(q.Source)}
	snap := snapshotFrame(q.CorrelationID, snapshot, d.settings.Trace.TempoDatasourceUID, meta)
	fb := FeedbackFrame(events, links, meta)
	out := data.Frames{snap, fb}
	if logs := d.executionLogs(ctx, q); logs != nil {
		out = append(out, logs)
	}
	return backend.DataResponse{Frames: out}
}

// snapshotFrame is one row: what the model was given and what it answered.
func snapshotFrame(id string, e *read.Entry, tempoUID string, meta read.Meta) *data.Frame {
	var (
		ts                                                  []time.Time
		modelID, version, effective, promptVer, params      []string
		systemPrompt, input, output, userID, correlationIDs []string
	)
	if e != nil {
		ev := e.Event
		c := ev.Context
		if c == nil {
			c = &feedback.Context{}
		}
		user := ""
		if ev.User != nil {
			user = ev.User.ID
		}
		ts = []time.Time{e.Time.UTC()}
		correlationIDs = []string{ev.CorrelationID}
		modelID, version, effective = []string{ev.Model.ID}, []string{ev.Model.Version}, []string{ev.Model.EffectiveVersion}
		promptVer, params = []string{c.PromptVersion}, []string{compactJSON(c.Params)}
		systemPrompt, input, output, userID = []string{c.SystemPrompt}, []string{c.Input}, []string{c.Output}, []string{user}
	}
	corr := data.NewField("correlation_id", nil, correlationIDs)
	if tempoUID != "" {
		corr.Config = &data.FieldConfig{Links: []data.DataLink{{
			Title:    "Open trace in Tempo",
			Internal: &data.InternalDataLink{DatasourceUID: tempoUID, Query: map[string]any{"queryType": "traceql", "query": "${__value.raw}"}},
		}}}
	}
	f := data.NewFrame("snapshot",
		data.NewField("timestamp", nil, ts), corr,
		data.NewField("model_id", nil, modelID), data.NewField("model_version", nil, version),
		data.NewField("effective_version", nil, effective), data.NewField("prompt_version", nil, promptVer),
		data.NewField("params", nil, params), data.NewField("system_prompt", nil, systemPrompt),
		data.NewField("input", nil, input), data.NewField("output", nil, output), data.NewField("user_id", nil, userID),
	)
	f.Meta = &data.FrameMeta{Type: data.FrameTypeTable, ExecutedQueryString: meta.Executed, PreferredVisualization: data.VisTypeTable}
	if e == nil {
		f.Meta.Notices = []data.Notice{{Severity: data.NoticeSeverityInfo,
			Text: "No interaction snapshot for correlation id " + id + " in this time range"}}
	}
	return f
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// executionLogs runs trace.executionLogsQuery with ${correlation_id}
// replaced. The id was validated to characters that mean nothing in LogQL,
// and is escaped as a string literal's content all the same.
func (d *Datasource) executionLogs(ctx context.Context, q query.Query) *data.Frame {
	tpl := d.settings.Trace.ExecutionLogsQuery
	if tpl == "" {
		return nil
	}
	if d.logs == nil {
		f := emptyWithQuery(read.Meta{Notices: []read.Notice{{Severity: read.NoticeWarning,
			Text: "trace.executionLogsQuery is LogQL but Loki is not configured (loki.url)"}}})
		f.Name = "logs"
		return f
	}
	logql := strings.NewReplacer("${correlation_id}", loki.Escape(q.CorrelationID), "$correlation_id", loki.Escape(q.CorrelationID)).Replace(tpl)
	lines, meta, err := d.logs.Logs(ctx, logql, q.From, q.To, read.MaxLimit)
	if err != nil {
		f := emptyWithQuery(read.Meta{Executed: logql, Notices: []read.Notice{{Severity: read.NoticeWarning,
			Text: "execution logs: " + err.Error()}}})
		f.Name = "logs"
		return f
	}
	ts := make([]time.Time, len(lines))
	body := make([]string, len(lines))
	labels := make([]json.RawMessage, len(lines))
	for i, l := range lines {
		ts[i], body[i] = l.T, l.Line
		labels[i], _ = json.Marshal(l.Labels)
	}
	f := data.NewFrame("logs", data.NewField("timestamp", nil, ts), data.NewField("body", nil, body), data.NewField("labels", nil, labels))
	f.Meta = &data.FrameMeta{Type: data.FrameTypeLogLines, TypeVersion: data.FrameTypeVersion{0, 0},
		ExecutedQueryString: meta.Executed, Stats: statsOf(meta), PreferredVisualization: data.VisTypeLogs}
	return f
}
