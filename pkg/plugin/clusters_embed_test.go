package plugin_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/embed/embedtest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Paraphrases that share no word: word-based grouping cannot join them.
var paraphrases = map[string][]string{
	"latency":       {"Too slow", "Took ages to reply", "Sluggish responses", "Waiting forever"},
	"hallucination": {"It invented a refund policy", "Made up facts about pricing", "Fabricated nonexistent rules"},
	"lonely":        {"Nice colours"},
}

// topicVectors: each topic is one axis, each comment slightly off it, so
// paraphrases are near each other (cosine > 0.95) and topics orthogonal.
func topicVectors() map[string][]float64 {
	axes := map[string]int{"latency": 0, "hallucination": 1, "lonely": 2}
	out := map[string][]float64{}
	for topic, texts := range paraphrases {
		for i, t := range texts {
			v := make([]float64, 8)
			v[axes[topic]] = 1
			v[3+i] = 0.15
			out[t] = v
		}
	}
	return out
}

func embeddingCorpus(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	var lines []string
	at := time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)
	topics := []string{"hallucination", "latency", "lonely"}
	n := 0
	for _, topic := range topics {
		for _, c := range paraphrases[topic] {
			n++
			ts := feedback.Time{Time: at.Add(time.Duration(n) * time.Minute)}
			e := feedback.Event{Kind: feedback.KindFeedback, FeedbackID: "01JD0000000000000000000" + string(rune('A'+n)),
				CorrelationID: strings.Repeat(string(rune('a'+n)), 32), Timestamp: &ts, Severity: "warning",
				Model: feedback.Model{ID: "support-bot", Version: "v2"}, Sentiment: feedback.Negative, Comment: c, Tags: []string{}}
			b, err := feedback.Marshal(&e)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(b))
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type clusterRow struct {
	id, label, example string
	size               float64
}

func clusterRows(t *testing.T, f *data.Frame) []clusterRow {
	t.Helper()
	var out []clusterRow
	for i := 0; i < f.Rows(); i++ {
		out = append(out, clusterRow{f.Fields[0].At(i).(string), f.Fields[2].At(i).(string), f.Fields[3].At(i).(string), f.Fields[1].At(i).(float64)})
	}
	return out
}

func grouping(f *data.Frame) string {
	if f.Meta == nil {
		return ""
	}
	m, _ := f.Meta.Custom.(map[string]string)
	return m["grouping"]
}

func TestClustersByMeaning(t *testing.T) {
	es := esServer(t, embeddingCorpus(t))
	emb := embedtest.NewStandIn("nomic-embed-text", "emb-token", topicVectors())
	t.Cleanup(emb.Close)
	ds := reviewDS(t, `{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"},"clusters":{"embeddingsUrl":"`+emb.URL+`","embeddingsModel":"nomic-embed-text"}}`,
		map[string]string{"embeddingsToken": "emb-token"})
	q := `{"queryType":"clusters"}`
	res := run(t, ds, q, time.Hour)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	if grouping(f) != "embeddings" {
		t.Fatalf("grouping %q, want embeddings", grouping(f))
	}
	rows := clusterRows(t, f)
	if len(rows) != 2 || rows[0].size != 4 || rows[1].size != 3 {
		t.Fatalf("clusters %+v: want the 4 latency and the 3 hallucination paraphrases, the lone comment in none", rows)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.id, "e-") || len(r.id) != 14 {
			t.Errorf("cluster id %q", r.id)
		}
	}
	found := map[string]bool{}
	for _, c := range paraphrases["latency"] {
		found[c] = true
	}
	if !found[rows[0].example] {
		t.Errorf("latency cluster's example %q is not one of its paraphrases", rows[0].example)
	}
	requests := len(emb.Batches())
	if requests != 1 {
		t.Errorf("%d embedding requests for 8 comments, want one batch", requests)
	}

	// A refresh: the same ids, no new request (the cache).
	again := run(t, ds, q, time.Hour)
	if a := clusterRows(t, again.Frames[0]); len(a) != 2 || a[0].id != rows[0].id || a[1].id != rows[1].id {
		t.Errorf("refresh changed the clusters: %+v then %+v", rows, a)
	}
	if n := len(emb.Batches()); n != requests {
		t.Errorf("the refresh asked the endpoint again (%d requests)", n)
	}

	// Words cannot join them: without the endpoint nothing clusters.
	plain := reviewDS(t, `{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"}}`, nil)
	w := run(t, plain, q, time.Hour)
	if grouping(w.Frames[0]) != "words" || w.Frames[0].Rows() != 0 {
		t.Errorf("word-based: grouping %q, %d clusters", grouping(w.Frames[0]), w.Frames[0].Rows())
	}
}

func TestClustersFallBackToWordsWhenEmbeddingsFail(t *testing.T) {
	es := esServer(t, corpus())
	emb := embedtest.NewStandIn("nomic-embed-text", "emb-token", map[string][]float64{})
	emb.Fail = 503
	t.Cleanup(emb.Close)
	ds := reviewDS(t, `{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"},"clusters":{"embeddingsUrl":"`+emb.URL+`","embeddingsModel":"nomic-embed-text"}}`,
		map[string]string{"embeddingsToken": "emb-token"})
	res := run(t, ds, `{"queryType":"clusters"}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	if grouping(f) != "words" {
		t.Fatalf("grouping %q", grouping(f))
	}
	var notices []string
	for _, n := range f.Meta.Notices {
		notices = append(notices, n.Text)
	}
	sort.Strings(notices)
	if !strings.Contains(strings.Join(notices, "\n"), "Grouped by words: the embeddings endpoint failed") ||
		!strings.Contains(strings.Join(notices, "\n"), "HTTP 503: the model is loading") {
		t.Errorf("notices: %v", notices)
	}
	// The fallback is the word-based answer itself.
	plain := run(t, reviewDS(t, `{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"}}`, nil), `{"queryType":"clusters"}`, time.Minute)
	a, b := clusterRows(t, f), clusterRows(t, plain.Frames[0])
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("fallback %d clusters, word-based %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("cluster %d: fallback %+v, word-based %+v", i, a[i], b[i])
		}
	}
}
