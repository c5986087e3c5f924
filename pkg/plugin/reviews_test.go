package plugin_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
)

// corpusEvents are the events the recorded fixtures were made from.
func corpusEvents(t *testing.T) []feedback.Event { return lokitest.Corpus(t) }

// The queue, computed from the events alone: flagged feedback (warning or
// critical) in [from, to) without a review event in [from, to).
func expectedQueue(t *testing.T) []string {
	events := corpusEvents(t)
	in := func(e feedback.Event) bool { return !e.At().Before(winFrom) && e.At().Before(winTo) }
	reviewed := map[string]bool{}
	for _, e := range events {
		if e.Kind == feedback.KindReview && in(e) {
			reviewed[e.FeedbackID] = true
		}
	}
	var queue []string
	for i := len(events) - 1; i >= 0; i-- { // newest first; the corpus is sorted by time
		e := events[i]
		if e.Kind == feedback.KindFeedback && in(e) && (e.Severity == "warning" || e.Severity == "critical") && !reviewed[e.FeedbackID] {
			queue = append(queue, e.FeedbackID)
		}
	}
	return queue
}

func TestReviewQueueFromElasticsearch(t *testing.T) {
	es := esServer(t, corpus())
	ds := newDS(t, `{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"}}`)
	res := run(t, ds, `{"queryType":"reviews"}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if refused := es.Refused(); len(refused) > 0 {
		t.Fatalf("the Elasticsearch double refused: %v", refused)
	}
	ids := column(t, res.Frames[0], "id")
	var got []string
	for i := 0; i < ids.Len(); i++ {
		got = append(got, ids.At(i).(string))
	}
	want := expectedQueue(t)
	if len(want) == 0 || len(want) == 27 {
		t.Fatalf("the corpus should have flagged feedback of which some is reviewed; want %d", len(want))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("queue\n got %v\nwant %v", got, want)
	}
}

// From Loki: the two log queries, and the subtraction.
func TestReviewQueueFromLoki(t *testing.T) {
	events := corpusEvents(t)
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		queries = append(queries, q)
		kind := feedback.KindFeedback
		if strings.Contains(q, `kind="review"`) {
			kind = feedback.KindReview
		}
		var values [][2]string
		for _, e := range events {
			if e.Kind != kind || (kind == feedback.KindFeedback && e.Severity != "warning" && e.Severity != "critical") {
				continue
			}
			line, _ := feedback.Marshal(&e)
			values = append(values, [2]string{strconv.FormatInt(e.At().UnixNano(), 10), string(line)})
		}
		body, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "streams",
			"result": []any{map[string]any{"stream": map[string]string{"kind": string(kind)}, "values": values}}, "stats": map[string]any{}}})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	ds := newDS(t, `{"loki":{"url":"`+srv.URL+`"}}`)
	res := run(t, ds, `{"queryType":"reviews","filters":[{"key":"model_id","operator":"=","value":"support-bot"}]}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	wantQueries := []string{
		`{service_name="model-feedback",kind="feedback",model_id="support-bot"} | json severity="severity" | severity=~"warning|critical"`,
		`{service_name="model-feedback",kind="review"}`,
	}
	if strings.Join(queries, "\n") != strings.Join(wantQueries, "\n") {
		t.Fatalf("queries\n%s\nwant\n%s", strings.Join(queries, "\n"), strings.Join(wantQueries, "\n"))
	}
	reviewed := map[string]bool{}
	for _, e := range events {
		if e.Kind == feedback.KindReview {
			reviewed[e.FeedbackID] = true
		}
	}
	ids := column(t, res.Frames[0], "id")
	if ids.Len() == 0 {
		t.Fatal("empty queue")
	}
	for i := 0; i < ids.Len(); i++ {
		if reviewed[ids.At(i).(string)] {
			t.Errorf("%s is reviewed but still queued", ids.At(i))
		}
	}
	if !strings.Contains(res.Frames[0].Meta.ExecutedQueryString, wantQueries[1]) {
		t.Error("the review lookup is not in the executed query")
	}
}
