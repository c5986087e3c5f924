package plugin

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

func TestBreakdownFrameSortsAndShares(t *testing.T) {
	f := BreakdownFrame(read.Breakdown{Dims: []string{"tag"}, Total: 10, Groups: []read.Group{
		{Values: []string{"bias"}, Count: 2}, {Values: []string{"latency"}, Count: 5}, {Values: []string{"apple"}, Count: 2},
	}}, true, read.Meta{Executed: "q"})
	if f.Meta.Type != data.FrameTypeNumericLong || f.Meta.ExecutedQueryString != "q" {
		t.Fatalf("meta %+v", f.Meta)
	}
	want := []struct {
		tag          string
		count, share float64
	}{{"latency", 5, 0.5}, {"apple", 2, 0.2}, {"bias", 2, 0.2}}
	for i, w := range want {
		if f.Fields[0].At(i) != w.tag || f.Fields[1].At(i) != w.count || f.Fields[2].At(i) != w.share {
			t.Errorf("row %d: %v %v %v, want %+v", i, f.Fields[0].At(i), f.Fields[1].At(i), f.Fields[2].At(i), w)
		}
	}
	empty := BreakdownFrame(read.Breakdown{Dims: []string{"tag"}, Groups: []read.Group{{Values: []string{"x"}, Count: 0}}}, true, read.Meta{})
	if !math.IsNaN(empty.Fields[2].At(0).(float64)) {
		t.Fatal("a share of nothing must be NaN, not 0 or Inf")
	}
}

// Loki puts range-query points on multiples of the step since the epoch:
// for 06:00–12:00 with a 7 min step the points are 06:06 … 12:03
// (fixture metric_unaligned_step_range).
func TestGridMatchesLokiAlignment(t *testing.T) {
	from := time.Unix(1795154400, 0)
	to := time.Unix(1795176000, 0)
	g := read.NewGrid(from, to, 7*time.Minute)
	ts := g.Times()
	if ts[0].Unix() != 1795154760 || ts[len(ts)-1].Unix() != 1795176180 || len(ts) != 52 {
		t.Fatalf("grid %v … %v (%d points)", ts[0].Unix(), ts[len(ts)-1].Unix(), len(ts))
	}
	h := read.NewGrid(from, to, time.Hour).Times()
	if h[0].Unix() != 1795154400 || h[len(h)-1].Unix() != 1795176000 || len(h) != 7 {
		t.Fatalf("hourly grid %v … %v (%d)", h[0].Unix(), h[len(h)-1].Unix(), len(h))
	}
}

func TestTimeseriesFramesFillZerosAndShare(t *testing.T) {
	from := time.Unix(0, 0).UTC()
	g := read.NewGrid(from, from.Add(2*time.Minute), time.Minute)
	fs := TimeseriesFrames([]string{"sentiment"}, []read.Series{
		{Values: []string{"positive"}, Points: map[int64]float64{60000: 3}},
		{Values: []string{"negative"}, Points: map[int64]float64{60000: 1, 120000: 2}},
	}, g, true, map[int64]float64{60000: 4, 120000: 2}, read.Meta{Executed: "q"})
	if len(fs) != 2 {
		t.Fatalf("%d frames", len(fs))
	}
	neg := fs[0] // sorted by group values
	if neg.Fields[1].Labels["sentiment"] != "negative" || neg.Meta.Type != data.FrameTypeTimeSeriesMulti {
		t.Fatalf("first frame %v %v", neg.Fields[1].Labels, neg.Meta.Type)
	}
	vals := []float64{neg.Fields[1].At(0).(float64), neg.Fields[1].At(1).(float64), neg.Fields[1].At(2).(float64)}
	if !math.IsNaN(vals[0]) || vals[1] != 0.25 || vals[2] != 1 {
		t.Fatalf("negative share %v, want [NaN 0.25 1]", vals)
	}
	counts := TimeseriesFrames([]string{"sentiment"}, []read.Series{{Values: []string{"x"}, Points: map[int64]float64{60000: 3}}}, g, false, nil, read.Meta{})
	if counts[0].Fields[1].At(0) != 0.0 || counts[0].Fields[1].At(2) != 0.0 {
		t.Fatal("steps without events must be 0")
	}
	if len(TimeseriesFrames(nil, nil, g, false, nil, read.Meta{})) != 0 {
		t.Fatal("no series must give no frames")
	}
}

func TestFeedbackFrameBodyAndLinks(t *testing.T) {
	ts := time.Date(2026, 11, 20, 8, 0, 0, 1, time.UTC)
	entries := []read.Entry{
		{Time: ts, Event: feedback.Event{Kind: feedback.KindFeedback, FeedbackID: "b", CorrelationID: "c1", Sentiment: feedback.Negative, Reason: "bias", Model: feedback.Model{ID: "m", Version: "v\"1"}}},
		{Time: ts, Event: feedback.Event{Kind: feedback.KindFeedback, FeedbackID: "a", CorrelationID: "c2", Sentiment: feedback.Positive, Comment: "great", Tags: []string{"x", "y"}}},
		{Time: ts.Add(time.Second), Event: feedback.Event{Kind: feedback.KindEscalation, FeedbackID: "b", Ticket: &feedback.Ticket{System: "jira", Key: "AIQ-1"}}},
	}
	read.SortEntries(entries)
	f := FeedbackFrame(entries, Links{DatasourceUID: "uid", Source: "loki"}, read.Meta{})
	bodies := []string{f.Fields[1].At(0).(string), f.Fields[1].At(1).(string), f.Fields[1].At(2).(string)}
	want := []string{"escalated to jira AIQ-1", "great", "👎 bias"}
	for i := range want {
		if bodies[i] != want[i] {
			t.Errorf("row %d body %q, want %q (newest first, then by id)", i, bodies[i], want[i])
		}
	}
	var labels map[string]string
	if err := json.Unmarshal(f.Fields[4].At(2).(json.RawMessage), &labels); err != nil || labels["model_version"] != "v\"1" || labels["sentiment"] != "negative" {
		t.Fatalf("labels %s %v", f.Fields[4].At(2), err)
	}
	if f.Fields[8].At(1) != "x, y" {
		t.Fatalf("tags %q", f.Fields[8].At(1))
	}
	links := f.Fields[5].Config.Links
	if len(links) != 2 || links[0].URL == "" || links[1].Internal == nil || links[1].Internal.DatasourceUID != "uid" {
		t.Fatalf("links %+v", links)
	}
	if f.Meta.Type != data.FrameTypeLogLines {
		t.Fatalf("type %v", f.Meta.Type)
	}
}
