package ctl_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/embed/embedtest"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
)

// Three complaints about wrong facts that word-based grouping keeps apart,
// placed on one axis by the embeddings stand-in; every other comment of
// the corpus gets an axis of its own.
var wrongFacts = []string{
	"Made up a tax rule that does not exist (hallucination?)",
	"The refund\namount was wrong",
	`It said "the refund is automatic" — it is not.`,
}

func corpusVectors(t *testing.T) map[string][]float64 {
	t.Helper()
	var comments []string
	seen := map[string]bool{}
	for _, e := range lokitest.Corpus(t) {
		if e.Kind == "feedback" && e.Comment != "" && !seen[e.Comment] {
			seen[e.Comment] = true
			comments = append(comments, e.Comment)
		}
	}
	sort.Strings(comments)
	out := map[string][]float64{}
	for i, c := range comments {
		v := make([]float64, len(comments)+1)
		v[i+1] = 1
		out[c] = v
	}
	for i, c := range wrongFacts {
		if out[c] == nil {
			t.Fatalf("%q is not a corpus comment", c)
		}
		v := make([]float64, len(comments)+1)
		v[0], v[1+i] = 1, 0.1
		out[c] = v
	}
	return out
}

// export dataset --cluster groups as the clusters panel does: with the
// same embeddings settings the panel's cluster id selects exactly the
// interactions behind that cluster's comments; when the endpoint fails it
// says so and groups by words, where that id does not exist.
func TestExportDatasetByAClusterOfMeaning(t *testing.T) {
	es := esDouble(t)
	emb := embedtest.NewStandIn("nomic-embed-text", "emb-token", corpusVectors(t))
	t.Cleanup(emb.Close)

	// The panel's id of the cluster, from the data source on the same data.
	inst, err := plugin.NewDatasource(context.Background(), backend.DataSourceInstanceSettings{UID: "u", Name: "n",
		JSONData:                json.RawMessage(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"` + es.URL + `"},"clusters":{"embeddingsUrl":"` + emb.URL + `","embeddingsModel":"nomic-embed-text"}}`),
		DecryptedSecureJSONData: map[string]string{"embeddingsToken": "emb-token"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := inst.(*plugin.Datasource).QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", JSON: json.RawMessage(`{"queryType":"clusters","sentiment":"negative"}`), Interval: time.Hour, MaxDataPoints: 1000,
		TimeRange: backend.TimeRange{From: winFrom, To: winTo}}}})
	if err != nil || resp.Responses["A"].Error != nil {
		t.Fatal(err, resp.Responses["A"].Error)
	}
	f := resp.Responses["A"].Frames[0]
	idf, _ := f.FieldByName("cluster_id")
	exf, _ := f.FieldByName("example")
	id := ""
	for i := 0; i < f.Rows(); i++ {
		for _, c := range wrongFacts {
			if exf.At(i).(string) == c {
				id = idf.At(i).(string)
			}
		}
	}
	if !strings.HasPrefix(id, "e-") {
		t.Fatalf("the panel has no embeddings cluster of the wrong-facts comments: %v", f)
	}

	// Truth from the events: correlation ids of negative feedback in the
	// window with one of those comments and a stored interaction.
	events := lokitest.Corpus(t)
	has := withInteraction(events)
	want := map[string]bool{}
	for _, e := range events {
		for _, c := range wrongFacts {
			if e.Kind == "feedback" && e.Sentiment == "negative" && e.Comment == c && !e.At().Before(winFrom) && !e.At().After(winTo) && has[e.CorrelationID] {
				want[e.CorrelationID] = true
			}
		}
	}
	if len(want) < 3 {
		t.Fatalf("the corpus gives only %d interactions behind the cluster", len(want))
	}

	env := map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL, "FEEDBACKCTL_EMBEDDINGS_URL": emb.URL,
		"FEEDBACKCTL_EMBEDDINGS_MODEL": "nomic-embed-text", "FEEDBACKCTL_EMBEDDINGS_TOKEN": "emb-token"}
	args := append([]string{"export", "dataset", "--sentiment", "negative", "--cluster", id, "--quiet"}, window...)
	r := run(t, env, args...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var e struct {
			Kind          string `json:"kind"`
			CorrelationID string `json:"correlation_id"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Kind != "interaction" || got[e.CorrelationID] {
			t.Fatalf("line %q (%v)", l, err)
		}
		got[e.CorrelationID] = true
	}
	if len(got) != len(want) {
		t.Fatalf("exported %d interactions, want %d", len(got), len(want))
	}
	for c := range want {
		if !got[c] {
			t.Errorf("interaction %s of the cluster not exported", c)
		}
	}

	// The endpoint fails: said on stderr, grouped by words, the id is not
	// among those clusters, nothing is written.
	emb.Fail = 503
	r = run(t, env, args...)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "grouped by words: the embeddings endpoint failed") ||
		!strings.Contains(r.stderr, "no cluster "+`"`+id+`"`) {
		t.Errorf("failing endpoint: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// A bad setting names the option.
	env["FEEDBACKCTL_EMBEDDINGS_URL"] = "ollama:11434"
	if r := run(t, env, args...); r.code != 2 || !strings.Contains(r.stderr, "--embeddings-url") {
		t.Errorf("bad URL: exit %d %q", r.code, r.stderr)
	}
}
