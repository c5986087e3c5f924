package lokitest

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// CorpusPath is the JSON-lines file of the events the fixtures were recorded
// from.
func CorpusPath() string { return filepath.Join(Dir(), "events.jsonl") }

// Corpus decodes every event of CorpusPath, in file (time) order.
func Corpus(t testing.TB) []feedback.Event {
	t.Helper()
	f, err := os.Open(CorpusPath())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []feedback.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		e, errs := feedback.Decode(sc.Bytes())
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// AttributionDir holds the second recording (pkg/loki/testdata/README.md):
// the corpus with feedback enriched by its interaction's attribution
// (prompt_version, params, effective_version, released_at) and edit
// feedback, for the dimensions, the edit metrics and the versions plan.
func AttributionDir() string { return filepath.Join(Dir(), "attribution") }

// AttributionCorpusPath is the attribution recording's events.
func AttributionCorpusPath() string { return filepath.Join(AttributionDir(), "events.jsonl") }
