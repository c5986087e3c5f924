// Package frames turns source-neutral results into the data frames of
// DESIGN §4.3. Loki and Elasticsearch both produce these results, so a
// dashboard or an alert rule sees the same fields whichever source answers.
package frames

import (
	"encoding/json"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Meta is what the source reports about how it answered.
type Meta struct {
	// Executed is the LogQL / DSL that ran, shown in the query inspector.
	Executed string
	Stats    []data.QueryStat
	Notices  []data.Notice
	// Step is set by a source that had to answer a time series on a coarser
	// step than asked (Elasticsearch's bucket limit); zero means as asked.
	Step time.Duration
}

// StepOr is the step the series were answered on.
func (m Meta) StepOr(asked time.Duration) time.Duration {
	if m.Step > 0 {
		return m.Step
	}
	return asked
}

// Group is one row of a breakdown: the values of the groupBy dimensions (in
// groupBy order) and the number of events.
type Group struct {
	Values []string
	Count  float64
	// Extra are further numeric columns (see Breakdown.Extra), in order.
	Extra []float64
}

// Breakdown is the result of a breakdown query. Total is the number of
// events matched regardless of grouping; with groupBy tag an event may count
// in several groups, so Total is not the sum of the counts.
type Breakdown struct {
	Dims   []string
	Groups []Group
	Total  float64
	// Extra names numeric columns after count (e.g. negative,
	// negative_rate); Units gives each one's unit ("" for none).
	Extra []string
	Units []string
}

// BreakdownFrame builds the numeric-long frame: one string field per
// dimension, float64 count (and share), sorted by count descending, then by
// the dimension values so equal counts keep a stable order.
func BreakdownFrame(b Breakdown, withShare bool, meta Meta) *data.Frame {
	groups := append([]Group(nil), b.Groups...)
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Count != groups[j].Count {
			return groups[i].Count > groups[j].Count
		}
		return strings.Join(groups[i].Values, "\x00") < strings.Join(groups[j].Values, "\x00")
	})
	fields := make([]*data.Field, 0, len(b.Dims)+2)
	for d, dim := range b.Dims {
		vals := make([]string, len(groups))
		for i, g := range groups {
			vals[i] = g.Values[d]
		}
		fields = append(fields, data.NewField(dim, nil, vals))
	}
	counts := make([]float64, len(groups))
	for i, g := range groups {
		counts[i] = g.Count
	}
	fields = append(fields, data.NewField("count", nil, counts))
	for x, name := range b.Extra {
		vals := make([]float64, len(groups))
		for i, g := range groups {
			vals[i] = g.Extra[x]
		}
		f := data.NewField(name, nil, vals)
		if x < len(b.Units) && b.Units[x] != "" {
			f.Config = &data.FieldConfig{Unit: b.Units[x]}
		}
		fields = append(fields, f)
	}
	if withShare {
		shares := make([]float64, len(groups))
		for i, g := range groups {
			shares[i] = Ratio(g.Count, b.Total)
		}
		share := data.NewField("share", nil, shares)
		share.Config = &data.FieldConfig{Unit: "percentunit"}
		fields = append(fields, share)
	}
	f := data.NewFrame("breakdown", fields...)
	setMeta(f, data.FrameTypeNumericLong, data.FrameTypeVersion{0, 1}, meta)
	return f
}

// Ratio is num/den, or NaN when den is 0: a share of nothing is not a number,
// and Grafana shows NaN as a gap rather than a misleading 0.
func Ratio(num, den float64) float64 {
	if den == 0 {
		return nan()
	}
	return num / den
}

// Series is one time series of counts; Values are the group values in
// dimension order, Points are keyed by Unix milliseconds.
type Series struct {
	Values []string
	Points map[int64]float64
}

// Grid is the sequence of step timestamps a series is reported on.
type Grid struct {
	Start time.Time
	Step  time.Duration
	N     int
}

// NewGrid covers [from, to] with steps aligned to multiples of step since the
// Unix epoch, the way Loki evaluates range queries, so both sources put their
// points on the same timestamps.
func NewGrid(from, to time.Time, step time.Duration) Grid {
	s := step.Milliseconds()
	if s <= 0 {
		s = 1
	}
	first := ceilDiv(from.UnixMilli(), s) * s
	last := ceilDiv(to.UnixMilli(), s) * s
	return Grid{Start: time.UnixMilli(first).UTC(), Step: time.Duration(s) * time.Millisecond, N: int((last-first)/s) + 1}
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}

// Times lists the grid's timestamps.
func (g Grid) Times() []time.Time {
	out := make([]time.Time, g.N)
	for i := range out {
		out[i] = g.Start.Add(time.Duration(i) * g.Step)
	}
	return out
}

// TimeseriesFrames builds one timeseries-multi frame per series, each on the
// full grid with missing steps as 0 (no event in a step is a count of 0).
// With share, each point is divided by totals at the same step. Series are
// ordered by their values; no series gives no frames.
func TimeseriesFrames(dims []string, series []Series, grid Grid, share bool, totals map[int64]float64, meta Meta) []*data.Frame {
	value := func(s Series, ms int64) float64 { return s.Points[ms] }
	unit := ""
	if share {
		value = func(s Series, ms int64) float64 { return Ratio(s.Points[ms], totals[ms]) }
		unit = "percentunit"
	}
	return seriesFrames(dims, series, grid, value, unit, meta)
}

// RateFrames is TimeseriesFrames for values that are already ratios: a step
// without a value is NaN (a gap), not 0, because no feedback is not a rate
// of zero.
func RateFrames(dims []string, series []Series, grid Grid, unit string, meta Meta) []*data.Frame {
	return seriesFrames(dims, series, grid, func(s Series, ms int64) float64 {
		if v, ok := s.Points[ms]; ok {
			return v
		}
		return nan()
	}, unit, meta)
}

func seriesFrames(dims []string, series []Series, grid Grid, value func(Series, int64) float64, unit string, meta Meta) []*data.Frame {
	series = append([]Series(nil), series...)
	sort.SliceStable(series, func(i, j int) bool {
		return strings.Join(series[i].Values, "\x00") < strings.Join(series[j].Values, "\x00")
	})
	times := grid.Times()
	out := make([]*data.Frame, 0, len(series))
	for _, s := range series {
		vals := make([]float64, len(times))
		for i, t := range times {
			vals[i] = value(s, t.UnixMilli())
		}
		labels := data.Labels{}
		for d, dim := range dims {
			labels[dim] = s.Values[d]
		}
		v := data.NewField("value", labels, vals)
		if unit != "" {
			v.Config = &data.FieldConfig{Unit: unit}
		}
		f := data.NewFrame("", data.NewField("time", nil, append([]time.Time(nil), times...)), v)
		setMeta(f, data.FrameTypeTimeSeriesMulti, data.FrameTypeVersion{0, 1}, meta)
		out = append(out, f)
	}
	return out
}

// Entry is one event read back from a source.
type Entry struct {
	Time  time.Time
	Event feedback.Event
}

// Links are the data links put on correlation_id cells.
type Links struct {
	DatasourceUID  string
	DatasourceName string
	Source         string
}

// SortEntries orders entries newest first; ties (same nanosecond) by id so
// that both sources agree on the order.
func SortEntries(entries []Entry) {
	// Sort positions, then move each entry once: an Entry is a few hundred
	// bytes, and swapping them dominated converting 5,000 lines.
	idx := make([]int32, len(entries))
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := &entries[idx[a]], &entries[idx[b]]
		if !x.Time.Equal(y.Time) {
			return x.Time.After(y.Time)
		}
		return entryKey(x) < entryKey(y)
	})
	sorted := make([]Entry, len(entries))
	for i, j := range idx {
		sorted[i] = entries[j]
	}
	copy(entries, sorted)
}

func entryKey(e *Entry) string {
	return string(e.Event.Kind) + "\x00" + e.Event.FeedbackID + "\x00" + e.Event.CorrelationID
}

// FeedbackFrame builds the log-lines frame of DESIGN §4.3 from entries
// already sorted and limited by the caller.
func FeedbackFrame(entries []Entry, links Links, meta Meta) *data.Frame {
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
		body[i] = Body(&e)
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

// Body is the line shown in the Logs panel: the comment when there is one,
// otherwise a short summary of the event.
func Body(e *feedback.Event) string {
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

// eventLabels are the event's stream-label values (DESIGN §3), built from the
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

func setMeta(f *data.Frame, typ data.FrameType, v data.FrameTypeVersion, m Meta) {
	f.Meta = &data.FrameMeta{
		Type:                typ,
		TypeVersion:         v,
		ExecutedQueryString: m.Executed,
		Stats:               m.Stats,
		Notices:             m.Notices,
	}
}

func nan() float64 { return math.NaN() }

// EmptyWithQuery is a frame without fields that carries the executed query,
// so a failed or empty answer still shows in the inspector what ran.
func EmptyWithQuery(m Meta) *data.Frame {
	f := data.NewFrame("")
	f.Meta = &data.FrameMeta{ExecutedQueryString: m.Executed, Stats: m.Stats, Notices: m.Notices}
	return f
}

// KeepOneNumber returns the frame with only its string fields and the
// numeric field named keep. Grafana's alert expressions turn every numeric
// column of a table into its own value labelled by the string columns, so a
// table with several numbers gives duplicate instances; alert evaluation
// gets the one that answers the rule's question.
func KeepOneNumber(f *data.Frame, keep string) *data.Frame {
	var names []string
	for _, fd := range f.Fields {
		if fd.Type() == data.FieldTypeString || fd.Name == keep {
			names = append(names, fd.Name)
		}
	}
	return KeepFields(f, names...)
}

// KeepFields returns the frame with only the named fields, in frame order.
func KeepFields(f *data.Frame, names ...string) *data.Frame {
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
