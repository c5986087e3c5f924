package versions_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/elastic/estest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/stats"
	"github.com/feedbackloop/modelfeedback/pkg/versions"
)

// The attribution corpus is events as feedbackd stores them: each line
// passes the strict decoder.
func TestAttributionCorpusIsValid(t *testing.T) {
	f, err := os.Open(lokitest.AttributionCorpusPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		if _, errs := feedback.Decode(sc.Bytes()); len(errs) > 0 {
			t.Fatalf("line %d: %v", n+1, errs)
		}
		n++
	}
	if n != 438 {
		t.Fatalf("%d events, want 438", n)
	}
}

func attributionQuery(from time.Time) read.Query {
	q := corpusQuery()
	q.From = from
	return q
}

// attributionReaders are both stores over the attribution corpus: the
// Elasticsearch double and the recorded Loki answers. requests counts what
// each was sent.
func attributionReaders(t *testing.T) map[string]struct {
	r        read.Reader
	requests func() int
	reset    func()
} {
	t.Helper()
	es, err := estest.New(lokitest.AttributionCorpusPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(es.Close)
	ec, err := elastic.New(models.Elastic{URL: es.URL})
	if err != nil {
		t.Fatal(err)
	}
	lk, err := lokitest.New(lokitest.AttributionDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if missed := lk.Missed(); len(missed) > 0 {
			t.Errorf("Loki requests without a recorded answer:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
		}
		lk.Close()
	})
	lc, err := loki.New(models.Loki{URL: lk.URL, Selector: models.DefaultLokiSelector})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		r        read.Reader
		requests func() int
		reset    func()
	}{
		"elasticsearch": {ec, func() int { return len(es.Requests()) }, es.Reset},
		"loki":          {lc, func() int { return len(lk.Requests()) }, lk.Reset},
	}
}

type judged struct {
	model, version, source, baseline, verdict string
	release                                   time.Time
}

func judge(t *testing.T, src read.Reader, q read.Query, baseline string) []judged {
	t.Helper()
	rows, _, err := versions.Collect(context.Background(), src, q, versions.Options{Tags: true})
	if err != nil {
		t.Fatal(err)
	}
	js := versions.Judge(rows, baseline)
	out := make([]judged, len(rows))
	for i, r := range rows {
		out[i] = judged{r.ModelID, r.Version, r.ReleaseSource(), js[i].Baseline, js[i].Verdict, r.Release()}
	}
	return out
}

var (
	winStart = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	// The first feedback of tax-assistant, the version without released_at.
	taxFirst = time.Date(2026, 11, 20, 6, 11, 25, 211000000, time.UTC)
)

// Release order is model.released_at where feedback carries it, else the
// first feedback; the default baseline is the version released before.
func TestReleaseOrderAndBaselines(t *testing.T) {
	for name, src := range attributionReaders(t) {
		t.Run(name, func(t *testing.T) {
			got := judge(t, src.r, attributionQuery(winStart), "")
			want := []judged{
				{"support-bot", "2026-11-01.1", "released_at", "", stats.InsufficientData, time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)},
				{"support-bot", "2026-11-10.2", "released_at", "2026-11-01.1", stats.Regressed, time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)},
				{"support-bot", "2026-11-18.3", "released_at", "2026-11-10.2", stats.Improved, time.Date(2026, 11, 18, 9, 0, 0, 0, time.UTC)},
				{"tax-assistant", "2026-11-05.1", "first_seen", "", stats.InsufficientData, taxFirst},
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
}

// v2 and v3 run side by side: with the explicit baseline every version is
// compared with v2.
func TestSideBySideVersionsUseTheExplicitBaseline(t *testing.T) {
	for name, src := range attributionReaders(t) {
		t.Run(name, func(t *testing.T) {
			got := judge(t, src.r, attributionQuery(winStart), "2026-11-10.2")
			want := map[string][2]string{
				"2026-11-01.1": {"2026-11-10.2", stats.Improved},
				"2026-11-10.2": {"2026-11-10.2", stats.NoChange},
				"2026-11-18.3": {"2026-11-10.2", stats.Improved},
				"2026-11-05.1": {"2026-11-10.2", stats.Improved},
			}
			for _, g := range got {
				if w := want[g.version]; g.baseline != w[0] || g.verdict != w[1] {
					t.Errorf("%s: %s against %q, want %s against %q", g.version, g.verdict, g.baseline, w[1], w[0])
				}
			}
		})
	}
}

// A panel whose range starts after the versions' first events orders and
// judges them as over the whole window: release times come from a fixed
// look-back, not from the panel's range.
func TestRangeExcludingFirstEventsKeepsTheVerdicts(t *testing.T) {
	for name, src := range attributionReaders(t) {
		t.Run(name, func(t *testing.T) {
			whole := judge(t, src.r, attributionQuery(winStart), "")
			cut := judge(t, src.r, attributionQuery(winStart.Add(20*time.Minute)), "")
			if fmt.Sprint(cut) != fmt.Sprint(whole) {
				t.Fatalf("from 06:20:\n%v\nover the whole window:\n%v", cut, whole)
			}
		})
	}
}

// The versions plan is at most three source queries whatever the number
// of models and versions: counts, release times, tags.
func TestVersionsSendsAtMostThreeQueries(t *testing.T) {
	for name, src := range attributionReaders(t) {
		t.Run(name, func(t *testing.T) {
			for _, opt := range []versions.Options{{Tags: true}, {}} {
				src.reset()
				rows, meta, err := versions.Collect(context.Background(), src.r, attributionQuery(winStart), opt)
				if err != nil {
					t.Fatal(err)
				}
				want := 2
				if opt.Tags {
					want = 3
				}
				if n := src.requests(); n != want || len(rows) != 4 {
					t.Fatalf("tags %v: %d requests for %d versions, want %d", opt.Tags, n, len(rows), want)
				}
				if n := strings.Count(meta.Executed, "\n") + 1; name == "loki" && n != want {
					t.Fatalf("Executed lists %d queries, want %d:\n%s", n, want, meta.Executed)
				}
			}
		})
	}
}
