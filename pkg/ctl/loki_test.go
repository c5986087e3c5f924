package ctl_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// lokiReplay serves the answers recorded from a real Loki for the base
// corpus (pkg/loki/testdata/README.md, "Later recordings": the ctl_*
// fixtures hold feedbackctl's own reads). It answers only exactly recorded
// requests, so a passing export also proves the requests.
func lokiReplay(t *testing.T) *lokitest.Server {
	t.Helper()
	srv, err := lokitest.New(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// sentExactly fails unless the replay received exactly the requests
// recorded as the named fixtures, in this order, and nothing else.
func sentExactly(t *testing.T, srv *lokitest.Server, fixtures ...string) {
	t.Helper()
	if missed := srv.Missed(); len(missed) > 0 {
		t.Fatalf("requests without a recorded answer (feedbackctl sent something the recording does not hold):\n%s", lokitest.Decode(strings.Join(missed, "\n")))
	}
	recorded, err := lokitest.RecordedRequests(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()
	for i, name := range fixtures {
		want, ok := recorded[name]
		if !ok {
			t.Fatalf("no fixture %s in the manifest", name)
		}
		if i >= len(got) {
			t.Fatalf("%d requests sent, want %d (next: %s)", len(got), len(fixtures), name)
		}
		if got[i] != want {
			t.Fatalf("request %d:\n  %s\nwant the recorded %s:\n  %s", i+1, lokitest.Decode(got[i]), name, lokitest.Decode(want))
		}
	}
	if len(got) > len(fixtures) {
		t.Fatalf("%d requests sent, want %d; the first extra:\n  %s", len(got), len(fixtures), lokitest.Decode(got[len(fixtures)]))
	}
}

// sameAsGolden compares an export with a golden file written by the
// Elasticsearch test: both stores hold the same corpus, so the exports must
// be byte-identical. It never rewrites the file (-update regenerates it from
// the Elasticsearch export only), so the two sources cannot drift apart.
func sameAsGolden(t *testing.T, name, got string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the Loki export differs from %s (the Elasticsearch export):\n got %s\nwant %s", name, got, want)
	}
}

// progressCounts drops the rate from the progress line, the only part
// that depends on the machine.
var rate = regexp.MustCompile(`, [0-9]+ events/s`)

func progressCounts(stderr string) string { return rate.ReplaceAllString(stderr, "") }

// The gold reads against Loki: the reviews of the window (one page), then
// for each confirmed or corrected one, newest first, the trace of its
// correlation id over the 30 days before it. Every review in the corpus
// carries its correlation id, so no feedback lookup is needed.
var goldReads = []string{"ctl_01", "ctl_02", "ctl_03", "ctl_04", "ctl_05"}

func TestExportGoldFromLoki(t *testing.T) {
	lk := lokiReplay(t)
	es := esDouble(t)
	for _, c := range goldCases {
		lk.Reset()
		args := append([]string{"export", "gold", "--model", c.model, "--format", c.format}, window...)
		r := run(t, map[string]string{"FEEDBACKCTL_LOKI_URL": lk.URL}, args...)
		if r.code != 0 {
			t.Fatalf("%s %s: exit %d: %s", c.model, c.format, r.code, r.stderr)
		}
		sentExactly(t, lk, goldReads...)
		sameAsGolden(t, c.file, r.stdout)
		e := run(t, map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL}, args...)
		if progressCounts(r.stderr) != progressCounts(e.stderr) {
			t.Errorf("%s %s: Loki reports %q, Elasticsearch %q", c.model, c.format, r.stderr, e.stderr)
		}
	}
}

func TestExportDatasetFromLoki(t *testing.T) {
	lk := lokiReplay(t)
	es := esDouble(t)
	args := append([]string{"export", "dataset", "--filter", "attributes.domain=tax", "--sentiment", "negative"}, window...)
	r := run(t, map[string]string{"FEEDBACKCTL_LOKI_URL": lk.URL}, args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The matching feedback (one page), then the interactions from 30 days
	// before the window to its end: 726 h, read as the newest 720 h and the
	// 6 h before them.
	sentExactly(t, lk, "ctl_06", "ctl_07", "ctl_08")
	sameAsGolden(t, "dataset_tax_negative.jsonl", r.stdout)
	e := run(t, map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL}, args...)
	if progressCounts(r.stderr) != progressCounts(e.stderr) {
		t.Errorf("Loki reports %q, Elasticsearch %q", r.stderr, e.stderr)
	}

	// Why in pieces: the same read in one piece is refused by Loki's
	// default max_query_length (recorded as ctl_09).
	lk.Reset()
	c, err := loki.New(models.Loki{URL: lk.URL, Selector: models.DefaultLokiSelector})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Feedback(context.Background(), read.Query{Kind: feedback.KindInteraction, Limit: read.MaxLimit,
		From: winFrom.Add(-30 * 24 * time.Hour), To: winTo})
	if err == nil || !strings.Contains(err.Error(), "HTTP 400: the query time range exceeds the limit (query length: 726h0m0s, limit: 30d1h)") {
		t.Fatalf("one 726 h read: %v", err)
	}
	sentExactly(t, lk, "ctl_09")
}
