package sink

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// stdFields is the independent truth: what encoding/json decodes.
func stdFields(line []byte) (Fields, error) {
	var ev struct {
		Kind      string `json:"kind"`
		Timestamp string `json:"timestamp"`
		Model     struct {
			ID      string `json:"id"`
			Version string `json:"version"`
		} `json:"model"`
		Sentiment     string `json:"sentiment"`
		FeedbackID    string `json:"feedback_id"`
		CorrelationID string `json:"correlation_id"`
		ResolutionID  string `json:"resolution_id"`
	}
	err := json.Unmarshal(line, &ev)
	return Fields{Kind: ev.Kind, Timestamp: ev.Timestamp, Sentiment: ev.Sentiment, ModelID: ev.Model.ID,
		ModelVersion: ev.Model.Version, FeedbackID: ev.FeedbackID, CorrelationID: ev.CorrelationID,
		ResolutionID: ev.ResolutionID}, err
}

func corpusLines(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range []string{"../../loki/testdata/events.jsonl", "../../loki/testdata/attribution/events.jsonl", "esbulk/testdata/events.jsonl"} {
		f, err := os.Open(filepath.FromSlash(p))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 700 {
		t.Fatalf("read %d corpus events, want the three corpora", len(out))
	}
	return out
}

func TestReadFieldsAgreesWithEncodingJSONOnTheCorpora(t *testing.T) {
	kinds := map[string]int{}
	for _, line := range corpusLines(t) {
		got, err := ReadFields("loki", line)
		want, werr := stdFields(line)
		if err != nil || werr != nil {
			t.Fatalf("%s: ReadFields error %v, encoding/json error %v", line, err, werr)
		}
		if got != want {
			t.Fatalf("%s:\n got %+v\nwant %+v", line, got, want)
		}
		kinds[got.Kind]++
	}
	for _, k := range []string{"interaction", "feedback", "review", "escalation", "resolution", "notification"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event in the corpora: the parity proves less than it says", k)
		}
	}
}

func TestReadFieldsRefusals(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{``, "loki: event is not a JSON object"},
		{`not json`, "loki: event is not a JSON object"},
		{`["kind"]`, "loki: event is not a JSON object"},
		{`"kind"`, "loki: event is not a JSON object"},
		{`{"kind":"feedback"`, "loki: event is not a JSON object"},
		{`{"kind":"feedback"} {}`, "loki: event is not a JSON object"},
		{`{"kind":1}`, "loki: event field kind is not a string"},
		{`{"timestamp":true}`, "loki: event field timestamp is not a string"},
		{`{"model":"support-bot"}`, "loki: event field model is not an object"},
		{`{"model":["support-bot"]}`, "loki: event field model is not an object"},
		{`{"model":{"id":{"name":"x"}}}`, "loki: event field model.id is not a string"},
		{`{"model":{"version":2}}`, "loki: event field model.version is not a string"},
		{`{"correlation_id":["a"]}`, "loki: event field correlation_id is not a string"},
	} {
		_, err := ReadFields("loki", []byte(c.line))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: error %v, want %q", c.line, err, c.want)
		}
		if _, serr := stdFields([]byte(c.line)); serr == nil {
			t.Errorf("%q: encoding/json accepts it; the refusal would be ReadFields' own", c.line)
		}
	}
}

func TestReadFieldsNullsDuplicatesAndEscapes(t *testing.T) {
	line := `{"kind":"feedback","kind":null,"model":{"id":"a\u00e9\"b","version":null},"model":{"version":"v2"},` +
		`"Sentiment":"negative","sentiment":"neutral","feedback_id":"f\/1","extra":{"kind":"review","model":{"id":"x"}}}`
	got, err := ReadFields("loki", []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Fields{Kind: "feedback", ModelID: "aé\"b", ModelVersion: "v2", Sentiment: "neutral", FeedbackID: "f/1"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// FuzzReadFields: the scan never fails on any input, and wherever the keys are spelled exactly (encoding/json
// also matches them case-insensitively), ReadFields accepts what
// encoding/json accepts and reads the same values.
func FuzzReadFields(f *testing.F) {
	for _, l := range corpusLines(f)[:40] {
		f.Add(l)
	}
	f.Add([]byte(`{"kind":"feedback","model":{"id":"a","version":"b"},"timestamp":"2026-11-20T06:00:00Z"}`))
	f.Add([]byte(`{"kind":null,"model":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if !utf8.Valid(line) || foldedKey(line) {
			return
		}
		got, err := ReadFields("x", line)
		// The scan alone reads any input without failing or reading past
		// it, and what ReadFields accepts the same way.
		if peek, _ := readFields("x", line); err == nil && peek != got {
			t.Fatalf("%q: readFields %+v, ReadFields %+v", line, peek, got)
		}
		want, werr := stdFields(line)
		switch {
		case werr != nil && err == nil:
			t.Fatalf("%q: ReadFields accepted what encoding/json refuses: %v", line, werr)
		case werr != nil:
		case strings.TrimSpace(string(line)) == "null":
			// encoding/json decodes null into a struct as nothing.
			if err == nil {
				t.Fatalf("%q: ReadFields accepted a non-object", line)
			}
		case err != nil:
			t.Fatalf("%q: ReadFields refused what encoding/json accepts: %v", line, err)
		case got != want:
			t.Fatalf("%q:\n got %+v\nwant %+v", line, got, want)
		}
	})
}

// foldedKey reports a top-level or model key that equals one of ours only
// case-insensitively.
func foldedKey(line []byte) bool {
	ours := []string{"kind", "timestamp", "model", "sentiment", "feedback_id", "correlation_id", "resolution_id", "id", "version"}
	var obj map[string]json.RawMessage
	if json.Unmarshal(line, &obj) != nil {
		return false
	}
	check := func(m map[string]json.RawMessage) bool {
		for k := range m {
			for _, o := range ours {
				if k != o && strings.EqualFold(k, o) {
					return true
				}
			}
		}
		return false
	}
	if check(obj) {
		return true
	}
	var model map[string]json.RawMessage
	for k, v := range obj {
		if strings.EqualFold(k, "model") && json.Unmarshal(v, &model) == nil && check(model) {
			return true
		}
	}
	return false
}
