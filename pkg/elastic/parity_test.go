package elastic_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/elastic"
	"github.com/feedbackloop/modelfeedback/pkg/elastic/estest"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// lokiReplay answers only the exact requests elastic.Recorded in
// the recorded Loki answers' manifest.json (endpoint and every parameter), with the
// bodies a real Loki 3.x sent for the corpus of events.jsonl. A request the
// Loki client words differently fails the test instead of being answered.
func lokiReplay(t *testing.T) *httptest.Server {
	t.Helper()
	dir := lokitest.Dir()
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Fixtures []struct {
			Name     string            `json:"name"`
			Path     string            `json:"path"`
			Endpoint string            `json:"endpoint"`
			Params   map[string]string `json:"params"`
		} `json:"fixtures"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{}
	for _, f := range m.Fixtures {
		b, err := os.ReadFile(filepath.Join(dir, f.Path))
		if err != nil {
			continue // only the fixtures this test uses are copied
		}
		v := url.Values{}
		for k, p := range f.Params {
			v.Set(k, p)
		}
		bodies[f.Endpoint+"?"+v.Encode()] = b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Path + "?" + r.URL.Query().Encode()
		b, ok := bodies[key]
		if !ok {
			t.Errorf("no elastic.Recorded Loki answer for %s", key)
			http.Error(w, "not elastic.Recorded", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The 11 tags of metric_count_by_tag_instant, in the fixture's leg order.
var fixtureTags = []string{"hallucination", "factually_incorrect", "formatting_error", "latency", "bias",
	"offensive", "harmful", "not_helpful", "other", "outdated_rates", "biased_tone"}

// corpus is the parity corpus: the events the elastic.Recorded Loki answers hold.
var corpus = lokitest.CorpusPath()

// esDouble serves the corpus through estest and fails the test if the
// client sent anything the double refuses.
func esDouble(t *testing.T) *estest.Server {
	t.Helper()
	srv, err := estest.New(corpus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		for _, r := range srv.Refused() {
			t.Errorf("the double refused %s", r)
		}
	})
	return srv
}

// TestParityWithLoki runs the same queries through the Loki path (against
// elastic.Recorded Loki answers) and the Elasticsearch path (against estest over
// the same 326 events) and requires identical frames: fields, types,
// values, labels and order. Only the meta (the executed query and stats)
// may differ.
func TestParityWithLoki(t *testing.T) {
	lk, err := loki.New(models.Loki{URL: lokiReplay(t).URL, Selector: models.DefaultLokiSelector})
	if err != nil {
		t.Fatal(err)
	}
	esSrv := esDouble(t)
	ec := elastic.NewTestClient(t, esSrv.URL)
	ctx := context.Background()
	tags, _ := json.Marshal(fixtureTags)

	breakdown := func(t *testing.T, js string, share bool) {
		q := elastic.ParseQuery(t, js, time.Minute)
		lb, lm, err := lk.Breakdown(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		eb, em, err := ec.Breakdown(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		if len(lb.Groups) == 0 {
			t.Fatal("the Loki fixture gave no groups: the comparison would prove nothing")
		}
		sameFrames(t, data.Frames{plugin.BreakdownFrame(lb, share, lm)}, data.Frames{plugin.BreakdownFrame(eb, share, em)})
	}
	t.Run("breakdown by model_version", func(t *testing.T) {
		breakdown(t, `{"queryType":"breakdown","groupBy":["model_version"]}`, false)
	})
	t.Run("breakdown by model_version, share", func(t *testing.T) {
		breakdown(t, `{"queryType":"breakdown","groupBy":["model_version"],"metric":"share"}`, true)
	})
	t.Run("breakdown by tag", func(t *testing.T) {
		breakdown(t, `{"queryType":"breakdown","groupBy":["tag"],"tags":`+string(tags)+`}`, false)
	})
	t.Run("breakdown by model_version and sentiment", func(t *testing.T) {
		breakdown(t, `{"queryType":"breakdown","groupBy":["model_version","sentiment"],"metric":"share"}`, true)
	})
	t.Run("breakdown by attributes.domain", func(t *testing.T) {
		breakdown(t, `{"queryType":"breakdown","groupBy":["attributes.domain"]}`, false)
	})
	timeseries := func(t *testing.T, js string, interval time.Duration, share bool) {
		q := elastic.ParseQuery(t, js, interval)
		grid := read.NewGrid(q.From, q.To, q.Step())
		ls, lt, lm, err := lk.Timeseries(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		es, et, em, err := ec.Timeseries(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 0 {
			t.Fatal("the Loki fixture gave no series")
		}
		sameFrames(t, plugin.TimeseriesFrames(q.GroupBy, ls, grid, share, lt, lm), plugin.TimeseriesFrames(q.GroupBy, es, grid, share, et, em))
	}
	t.Run("timeseries by model_version, 1h", func(t *testing.T) {
		timeseries(t, `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour, false)
	})
	t.Run("timeseries by model_version, 1h, share", func(t *testing.T) {
		timeseries(t, `{"queryType":"timeseries","groupBy":["model_version"],"metric":"share"}`, time.Hour, true)
	})
	// Loki keeps events without a reason as the group "": so must the
	// missing bucket.
	t.Run("timeseries by reason, 1h", func(t *testing.T) {
		timeseries(t, `{"queryType":"timeseries","groupBy":["reason"]}`, time.Hour, false)
	})
	t.Run("timeseries by model_version and sentiment, 10m", func(t *testing.T) {
		timeseries(t, `{"queryType":"timeseries","groupBy":["model_version","sentiment"]}`, 10*time.Minute, false)
	})
	t.Run("timeseries by model_version and tag, 1h", func(t *testing.T) {
		timeseries(t, `{"queryType":"timeseries","groupBy":["model_version","tag"],"tags":`+string(tags)+`}`, time.Hour, false)
	})
	feedback := func(t *testing.T, js string, wantN int) {
		q := elastic.ParseQuery(t, js, time.Minute)
		le, lm, err := lk.Feedback(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		ee, em, err := ec.Feedback(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		if len(le) != wantN {
			t.Fatalf("Loki gave %d entries, want %d", len(le), wantN)
		}
		links := plugin.Links{DatasourceUID: "uid", DatasourceName: "Feedback Loop", Source: "loki"}
		sameFrames(t, data.Frames{plugin.FeedbackFrame(le, links, lm)}, data.Frames{plugin.FeedbackFrame(ee, links, em)})
		if !reflect.DeepEqual(le, ee) {
			for i := range le {
				if i < len(ee) && !reflect.DeepEqual(le[i], ee[i]) {
					t.Errorf("entry %d differs:\nLoki %+v\nES   %+v", i, le[i], ee[i])
					break
				}
			}
		}
		if !reflect.DeepEqual(noticeTexts(lm), noticeTexts(em)) {
			t.Errorf("notices differ: Loki %v, Elasticsearch %v", noticeTexts(lm), noticeTexts(em))
		}
	}
	t.Run("feedback, newest 100", func(t *testing.T) { feedback(t, `{"queryType":"feedback","limit":100}`, 100) })
	t.Run("feedback carrying any of two tags", func(t *testing.T) {
		feedback(t, `{"queryType":"feedback","tags":["hallucination","bias"]}`, 17)
	})
	// (?is).*refund.* in Loki, a case-insensitive wildcard here; the
	// corpus has the word across newlines and in other cases.
	t.Run("feedback comment search", func(t *testing.T) {
		feedback(t, `{"queryType":"feedback","search":"refund"}`, 7)
	})
	// The drill-down of the showcase: the interaction, two feedback events
	// and the review, escalation and notification on the second one
	// (fixture logs_correlation_trace, direction forward, limit 100). The
	// trace frames are built in pkg/plugin, which this package cannot
	// import; the entries are what they are built from, and the events
	// (all but the interaction) also go through FeedbackFrame.
	t.Run("trace of the showcase correlation id", func(t *testing.T) {
		q := elastic.ParseQuery(t, `{"queryType":"trace","correlationId":"4bf92f3577b34da6a3ce929d0e0e4736"}`, time.Minute)
		le, lm, err := lk.Trace(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		ee, em, err := ec.Trace(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range le {
			kinds = append(kinds, string(e.Event.Kind))
		}
		if got := strings.Join(kinds, ","); got != "interaction,feedback,feedback,review,escalation,notification" {
			t.Fatalf("Loki's trace is %s: the comparison would not cover every kind", got)
		}
		if len(le) != len(ee) {
			t.Fatalf("Loki %d entries, Elasticsearch %d", len(le), len(ee))
		}
		for i := range le {
			if !le[i].Time.Equal(ee[i].Time) || !reflect.DeepEqual(le[i].Event, ee[i].Event) {
				t.Errorf("entry %d differs:\nLoki %s %+v\nES   %s %+v", i, le[i].Time, le[i].Event, ee[i].Time, ee[i].Event)
			}
		}
		links := plugin.Links{DatasourceUID: "uid", DatasourceName: "Feedback Loop", Source: "loki"}
		sameFrames(t, data.Frames{plugin.FeedbackFrame(le[1:], links, lm)}, data.Frames{plugin.FeedbackFrame(ee[1:], links, em)})
		if !reflect.DeepEqual(noticeTexts(lm), noticeTexts(em)) {
			t.Errorf("notices differ: Loki %v, Elasticsearch %v", noticeTexts(lm), noticeTexts(em))
		}
		// The search's own order decides which events a limit keeps and
		// where search_after resumes: pages of two must give the same
		// trace, and a limit of 3 its three oldest events.
		paged := elastic.NewTestClient(t, esSrv.URL)
		paged.SetPageSize(2)
		pe, _, err := paged.Trace(ctx, q.Query)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pe, ee) {
			t.Errorf("the trace read in pages of 2 differs from the one read at once")
		}
		q3 := q
		q3.Limit = 3
		first, _, err := paged.Trace(ctx, q3.Query)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, le[:3]) {
			t.Errorf("limit 3 gave %d entries that are not Loki's three oldest", len(first))
		}
	})
}

func noticeTexts(m read.Meta) []string {
	var out []string
	for _, n := range m.Notices {
		out = append(out, n.Text)
	}
	return out
}

// sameFrames compares frames without their meta, which carries the
// source's own query text and statistics.
func sameFrames(t *testing.T, loki, es data.Frames) {
	t.Helper()
	if len(loki) != len(es) {
		t.Fatalf("Loki %d frames, Elasticsearch %d", len(loki), len(es))
	}
	for i := range loki {
		l, e := *loki[i], *es[i]
		if l.Meta != nil && e.Meta != nil && l.Meta.Type != e.Meta.Type {
			t.Errorf("frame %d: type %s vs %s", i, l.Meta.Type, e.Meta.Type)
		}
		l.Meta, e.Meta = nil, nil
		lj, err := json.Marshal(&l)
		if err != nil {
			t.Fatal(err)
		}
		ej, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if string(lj) != string(ej) {
			lt, _ := l.StringTable(-1, -1)
			et, _ := e.StringTable(-1, -1)
			t.Errorf("frame %d differs\n--- Loki\n%s\n--- Elasticsearch\n%s", i, lt, et)
		}
	}
}

// The parity corpus must exercise what it claims: the boundary event at
// exactly 12:00:00 (Loki counts it in the last point and the instant
// window, and excludes it from log queries), and events of every kind the
// filter must tell apart.
func TestParityCorpus(t *testing.T) {
	docs := elastic.LoadEvents(t, corpus)
	boundary := false
	for _, d := range docs {
		if d.NS == elastic.WinTo.UnixNano() && d.Src["kind"] == "feedback" {
			boundary = true
		}
	}
	if len(docs) != 326 || !boundary {
		t.Errorf("%d events, boundary feedback at 12:00: %v", len(docs), boundary)
	}
	// Every event is a document: no two share an _id within a daily index.
	if n := esDouble(t).Docs(); n != len(docs) {
		t.Errorf("the double indexed %d of %d events", n, len(docs))
	}
	_ = query.MaxLimit
}
