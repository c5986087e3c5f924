package feedback

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// corpusPath is the Loki fixture corpus, kept once next to its recorded
// answers: exactly the lines the generator pushed. (Package lokitest, which
// names it, imports this package.)
var corpusPath = filepath.Join("..", "loki", "testdata", "events.jsonl")

// corpusLines reads the corpus.
func corpusLines(t testing.TB) [][]byte {
	t.Helper()
	data, err := os.ReadFile(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 326 {
		t.Fatalf("corpus has %d lines, want 326", len(lines))
	}
	return lines
}

func TestCorpusRoundTrip(t *testing.T) {
	for i, line := range corpusLines(t) {
		e, errs := Decode(line)
		if len(errs) > 0 {
			t.Errorf("line %d: Decode: %v", i+1, errs)
			continue
		}
		if verrs := e.Validate(); len(verrs) > 0 {
			t.Errorf("line %d: Validate: %v", i+1, verrs)
		}
		out, err := Marshal(&e)
		if err != nil {
			t.Errorf("line %d: Marshal: %v", i+1, err)
			continue
		}
		if !bytes.Equal(out, line) {
			t.Errorf("line %d: round trip differs\n got %s\nwant %s", i+1, out, line)
		}
	}
}

// The whole corpus as one request body is a valid batch (326 events, well
// under both batch limits).
func TestCorpusAsBatch(t *testing.T) {
	lines := corpusLines(t)
	body := append([]byte("["), bytes.Join(lines, []byte(",\n"))...)
	body = append(body, ']')
	events, errs := DecodeBatch(body)
	if len(errs) > 0 {
		t.Fatalf("DecodeBatch: %v", errs[:min(len(errs), 5)])
	}
	if len(events) != len(lines) {
		t.Fatalf("got %d events, want %d", len(events), len(lines))
	}
	for i := range events {
		out, err := Marshal(&events[i])
		if err != nil || !bytes.Equal(out, lines[i]) {
			t.Fatalf("event %d: Marshal = %s, %v", i, out, err)
		}
	}
}

func TestCorpusEffectiveVersion(t *testing.T) {
	n := 0
	for i, line := range corpusLines(t) {
		e, _ := Decode(line)
		if e.Kind != KindInteraction {
			continue
		}
		n++
		if got := EffectiveVersion(e.Model.ID, e.Context); got != e.Model.EffectiveVersion {
			t.Errorf("line %d: EffectiveVersion = %s, corpus has %s", i+1, got, e.Model.EffectiveVersion)
		}
	}
	if n != 168 {
		t.Errorf("checked %d interactions, want 168", n)
	}
}

func TestCorpusSeverity(t *testing.T) {
	counts := map[Severity]int{}
	for i, line := range corpusLines(t) {
		e, _ := Decode(line)
		if e.Kind != KindFeedback {
			continue
		}
		counts[e.Severity]++
		if got := DeriveSeverity(&e); got != e.Severity {
			t.Errorf("line %d: DeriveSeverity = %s, corpus has %s", i+1, got, e.Severity)
		}
	}
	want := map[Severity]int{SeverityInfo: 113, SeverityWarning: 23, SeverityCritical: 4}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("corpus severity %s: %d, README says %d", k, counts[k], v)
		}
	}
}
