package plugin

import (
	"math"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// Frame helpers every query type uses. The read layer's Meta becomes the
// frame's meta here, at the boundary to Grafana.

// statsOf converts the stores' statistics for the query inspector.
func statsOf(m read.Meta) []data.QueryStat {
	if m.Stats == nil {
		return nil
	}
	out := make([]data.QueryStat, len(m.Stats))
	for i, s := range m.Stats {
		out[i] = data.QueryStat{FieldConfig: data.FieldConfig{DisplayName: s.Name, Unit: s.Unit}, Value: s.Value}
	}
	return out
}

// noticesOf converts the stores' notices.
func noticesOf(m read.Meta) []data.Notice {
	if m.Notices == nil {
		return nil
	}
	out := make([]data.Notice, len(m.Notices))
	for i, n := range m.Notices {
		sev := data.NoticeSeverityInfo
		if n.Severity == read.NoticeWarning {
			sev = data.NoticeSeverityWarning
		}
		out[i] = data.Notice{Severity: sev, Text: n.Text}
	}
	return out
}

func setMeta(f *data.Frame, typ data.FrameType, v data.FrameTypeVersion, m read.Meta) {
	f.Meta = &data.FrameMeta{
		Type:                typ,
		TypeVersion:         v,
		ExecutedQueryString: m.Executed,
		Stats:               statsOf(m),
		Notices:             noticesOf(m),
	}
}

func nan() float64 { return math.NaN() }

// emptyWithQuery is a frame without fields that carries the executed query,
// so a failed or empty answer still shows in the inspector what ran.
func emptyWithQuery(m read.Meta) *data.Frame {
	f := data.NewFrame("")
	f.Meta = &data.FrameMeta{ExecutedQueryString: m.Executed, Stats: statsOf(m), Notices: noticesOf(m)}
	return f
}

// keepOneNumber returns the frame with only its string fields and the
// numeric field named keep. Grafana's alert expressions turn every numeric
// column of a table into its own value labelled by the string columns, so a
// table with several numbers gives duplicate instances; alert evaluation
// gets the one that answers the rule's question.
func keepOneNumber(f *data.Frame, keep string) *data.Frame {
	var names []string
	for _, fd := range f.Fields {
		if fd.Type() == data.FieldTypeString || fd.Name == keep {
			names = append(names, fd.Name)
		}
	}
	return keepFields(f, names...)
}

// keepFields returns the frame with only the named fields, in frame order.
func keepFields(f *data.Frame, names ...string) *data.Frame {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	out := data.NewFrame(f.Name)
	for _, fd := range f.Fields {
		if keep[fd.Name] {
			out.Fields = append(out.Fields, fd)
		}
	}
	out.Meta = f.Meta
	return out
}

// Columns lists the fields of the frame a feedback, reviews or breakdown
// query answers with, built by the same code as the answers, so that the
// shipped dashboards' transformations can be checked against them.
func Columns(t query.Type, metric query.Metric, groupBy []string) ([]string, bool) {
	var f *data.Frame
	switch t {
	case query.Feedback, query.Reviews:
		f = FeedbackFrame(nil, Links{}, read.Meta{})
	case query.Breakdown:
		b := read.Breakdown{Dims: groupBy}
		switch metric {
		case query.MetricNegativeRate:
			b.Extra = []string{"negative", "negative_rate"}
		case query.MetricPer1kRequests:
			b.Extra = []string{"requests", "per_1k_requests"}
		case query.MetricEditRate:
			b.Extra = []string{"interactions", "edit_rate"}
		case query.MetricEditSimilarity, query.MetricEditLengthRatio:
			b.Extra = []string{string(metric)}
		}
		f = BreakdownFrame(b, metric == query.MetricShare, read.Meta{})
	default:
		return nil, false
	}
	out := make([]string, len(f.Fields))
	for i, fd := range f.Fields {
		out[i] = fd.Name
	}
	return out, true
}
