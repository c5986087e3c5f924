package read

import (
	"math"
	"sort"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Meta is what a store reports about how it answered.
type Meta struct {
	// Executed is every LogQL query or DSL body that ran, one per line, for
	// the query inspector.
	Executed string
	Stats    []Stat
	Notices  []Notice
	// Step is set by a store that had to answer a time series on a coarser
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

// Stat is one statistic a store reported (e.g. Loki's bytes processed).
type Stat struct {
	Name  string
	Unit  string
	Value float64
}

// Severity of a Notice.
type Severity int

const (
	NoticeInfo Severity = iota
	NoticeWarning
)

// Notice is something the user should know about an answer (truncated,
// partial, coarser than asked).
type Notice struct {
	Severity Severity
	Text     string
}

// Group is one row of a breakdown: the values of the groupBy dimensions (in
// groupBy order) and the number of events.
type Group struct {
	Values []string
	Count  float64
	// Extra are further numeric columns (see Breakdown.Extra), in order.
	Extra []float64
	// Sum is the sum of the query's Measure over the group's events.
	Sum float64
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

// Ratio is num/den, or NaN when den is 0: a share of nothing is not a number,
// and Grafana shows NaN as a gap rather than a misleading 0.
func Ratio(num, den float64) float64 {
	if den == 0 {
		return math.NaN()
	}
	return num / den
}

// Series is one time series of counts; Values are the group values in
// dimension order, Points are keyed by Unix milliseconds.
type Series struct {
	Values []string
	Points map[int64]float64
	// Sums are the sums of the query's Measure per step (nil without one).
	Sums map[int64]float64
}

// Grid is the sequence of step timestamps a series is reported on.
type Grid struct {
	Start time.Time
	Step  time.Duration
	N     int
}

// NewGrid covers [from, to] with steps aligned to multiples of step since the
// Unix epoch, the way Loki evaluates range queries, so both stores put their
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

// Entry is one event read back from a store.
type Entry struct {
	Time  time.Time
	Event feedback.Event
}

// SortEntries orders entries newest first; ties (same nanosecond) by id so
// that both stores agree on the order.
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

// LogLine is one line of a store's own logs (the execution logs of a trace).
type LogLine struct {
	T      time.Time
	Line   string
	Labels map[string]string
}

// Release is when one model version came out: ReleasedAt is the earliest
// model.released_at its events carry (zero when none does), FirstSeen the
// time of its first event in the window read. Both have millisecond
// resolution, which is what both stores aggregate times at.
type Release struct {
	ModelID, Version string
	ReleasedAt       time.Time
	FirstSeen        time.Time
}
