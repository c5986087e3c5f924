package versions_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/elastic/estest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/stats"
	"github.com/feedbackloop/modelfeedback/pkg/versions"
)

// corpusQuery is the recorded corpus window (pkg/loki/testdata/README.md).
func corpusQuery() read.Query {
	return read.Query{Kind: feedback.KindFeedback, Limit: read.DefaultLimit,
		From: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC),
		Interval: time.Hour}
}

func esReader(t *testing.T) read.Reader {
	t.Helper()
	srv, err := estest.New(lokitest.CorpusPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := elastic.New(models.Elastic{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The corpus table of pkg/loki/testdata/README.md, in release order per model.
func TestCollectCountsAndOrdersTheCorpus(t *testing.T) {
	rows, _, err := versions.Collect(context.Background(), esReader(t), corpusQuery(), versions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		model, version string
		fb, pos, neg   float64
	}{
		{"support-bot", "2026-11-01.1", 22, 13, 6},
		{"support-bot", "2026-11-10.2", 50, 18, 32},
		{"support-bot", "2026-11-18.3", 23, 18, 3},
		{"tax-assistant", "2026-11-05.1", 45, 21, 15},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.ModelID != w.model || r.Version != w.version || r.Feedback != w.fb || r.Positive != w.pos || r.Negative != w.neg {
			t.Errorf("row %d = %+v, want %+v", i, *r, w)
		}
		if r.Tags != nil {
			t.Errorf("row %d has tags without Options.Tags", i)
		}
	}
}

func TestCollectRefusesASentiment(t *testing.T) {
	q := corpusQuery()
	q.Sentiment = feedback.Negative
	_, _, err := versions.Collect(context.Background(), esReader(t), q, versions.Options{})
	fe, ok := err.(*read.FieldError)
	if !ok || fe.Field != "sentiment" {
		t.Fatalf("err = %v, want a field error on sentiment", err)
	}
}

func TestJudgeBaselines(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC) }
	rows := []*versions.Row{
		{ModelID: "a", Version: "a1", FirstSeen: at(1), Feedback: 100, Negative: 10},
		{ModelID: "a", Version: "a2", FirstSeen: at(2), Feedback: 100, Negative: 40},
		{ModelID: "a", Version: "a3", FirstSeen: at(3), Feedback: 10, Negative: 9},
		{ModelID: "b", Version: "b1", FirstSeen: at(0), Feedback: 100, Negative: 12},
	}
	versions.Order(rows)
	got := versions.Judge(rows, "")
	wantVerdict := []string{stats.InsufficientData, stats.Regressed, stats.InsufficientData, stats.InsufficientData}
	wantBase := []string{"", "a1", "a2", ""}
	for i := range rows {
		if got[i].Verdict != wantVerdict[i] || got[i].Baseline != wantBase[i] {
			t.Errorf("%s: verdict %s vs %q, want %s vs %q", rows[i].Version, got[i].Verdict, got[i].Baseline, wantVerdict[i], wantBase[i])
		}
	}
	if !got[1].Regressed() || math.Abs(got[1].Delta-0.3) > 1e-12 {
		t.Errorf("a2 against a1: %+v", got[1])
	}
	// An explicit baseline applies across models, and to itself gives no_change.
	got = versions.Judge(rows, "b1")
	if got[0].Baseline != "b1" || got[0].Verdict != stats.NoChange {
		t.Errorf("a1 against b1: %+v", got[0])
	}
	if got[3].Baseline != "b1" || got[3].Verdict != stats.NoChange || got[3].Delta != 0 || got[3].P != 1 {
		t.Errorf("b1 against itself: %+v", got[3])
	}
	if !versions.HasBaseline(rows, "a3") || versions.HasBaseline(rows, "zz") {
		t.Error("HasBaseline")
	}
}
