package plugin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// lokiCorpus answers every log query with the corpus's events of the kind the
// query names, within the request's [start, end), and records the queries.
func lokiCorpus(t *testing.T) (url string, requests func() []*http.Request) {
	t.Helper()
	events := corpusEvents(t)
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		q := r.URL.Query()
		start, _ := strconv.ParseInt(q.Get("start"), 10, 64)
		end, _ := strconv.ParseInt(q.Get("end"), 10, 64)
		kind := feedback.KindFeedback
		if strings.Contains(q.Get("query"), `kind="review"`) {
			kind = feedback.KindReview
		}
		var values [][2]string
		for i := len(events) - 1; i >= 0; i-- { // backward, as Loki answers by default
			e := events[i]
			if ns := e.At().UnixNano(); e.Kind != kind || ns < start || ns >= end {
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
	t.Cleanup(srv.Close)
	return srv.URL, func() []*http.Request { mu.Lock(); defer mu.Unlock(); return seen }
}

// The request: one log query for the newest 5,000 matching feedback events,
// with the panel's filters; the grouping happens in the plugin.
func TestClustersRequestToLoki(t *testing.T) {
	url, requests := lokiCorpus(t)
	ds := newDS(t, `{"loki":{"url":"`+url+`"}}`)
	res := run(t, ds, `{"queryType":"clusters","sentiment":"negative","filters":[{"key":"model_id","operator":"=","value":"support-bot"}],"limit":10}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	reqs := requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	q := reqs[0].URL.Query()
	want := `{service_name="model-feedback",kind="feedback",sentiment="negative",model_id="support-bot"}`
	if reqs[0].URL.Path != "/loki/api/v1/query_range" || q.Get("query") != want || q.Get("limit") != "5000" || q.Get("direction") != "backward" ||
		q.Get("start") != strconv.FormatInt(winFrom.UnixNano(), 10) || q.Get("end") != strconv.FormatInt(winTo.UnixNano(), 10) {
		t.Fatalf("request %s\nwant query %s, limit 5000, backward, start/end of the window", reqs[0].URL, want)
	}
	if got := res.Frames[0].Meta.ExecutedQueryString; !strings.Contains(got, want) {
		t.Errorf("executed query %q does not show the LogQL", got)
	}
}

// The frame, from Loki and from Elasticsearch: the same clusters, compared
// with the golden file (go test -run Clusters -update rewrites it).
func TestClustersFrames(t *testing.T) {
	url, _ := lokiCorpus(t)
	es := esServer(t, corpus())
	for _, src := range []string{"loki", "elasticsearch"} {
		t.Run(src, func(t *testing.T) {
			ds := newDS(t, `{"defaultSource":"`+src+`","loki":{"url":"`+url+`"},"elasticsearch":{"url":"`+es.URL+`"}}`)
			res := run(t, ds, `{"queryType":"clusters"}`, time.Minute)
			if res.Error != nil {
				t.Fatal(res.Error)
			}
			f := res.Frames[0]
			if f.Rows() < 3 {
				t.Fatalf("%d clusters from the corpus, want at least 3", f.Rows())
			}
			// The executed query and its statistics differ by source; the
			// golden file holds the rest.
			f.Meta.ExecutedQueryString, f.Meta.Stats = "", nil
			experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden"), "clusters", &res, *update && src == "loki")
		})
	}
}

// Every member counted in a cluster is a feedback event with a comment in
// the window, and the share of negatives is computed over the members.
func TestClustersCountsFromTheCorpus(t *testing.T) {
	url, _ := lokiCorpus(t)
	ds := newDS(t, `{"loki":{"url":"`+url+`"}}`)
	res := run(t, ds, `{"queryType":"clusters"}`, time.Minute)
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	withComment := 0
	for _, e := range corpusEvents(t) {
		if e.Kind == feedback.KindFeedback && e.Comment != "" && !e.At().Before(winFrom) && e.At().Before(winTo) {
			withComment++
		}
	}
	size, share := column(t, f, "size"), column(t, f, "share_negative")
	total := 0.0
	for i := 0; i < f.Rows(); i++ {
		s := size.At(i).(float64)
		if i > 0 && s > size.At(i-1).(float64) {
			t.Errorf("row %d is larger than the row before", i)
		}
		if sh := share.At(i).(float64); sh < 0 || sh > 1 || sh*s != float64(int(sh*s+0.5)) {
			t.Errorf("row %d: share_negative %v is not a share of %v members", i, sh, s)
		}
		total += s
	}
	if total == 0 || total > float64(withComment) {
		t.Fatalf("%v comments in clusters, %d feedback comments in the window", total, withComment)
	}
	limited := run(t, ds, `{"queryType":"clusters","limit":1}`, time.Minute)
	if limited.Frames[0].Rows() != 1 || column(t, limited.Frames[0], "cluster_id").At(0) != column(t, f, "cluster_id").At(0) {
		t.Error("limit 1 should keep the largest cluster")
	}
}

func TestClustersRefuseOtherKinds(t *testing.T) {
	url, _ := lokiCorpus(t)
	ds := newDS(t, `{"loki":{"url":"`+url+`"}}`)
	res := run(t, ds, `{"queryType":"clusters","kind":"review"}`, time.Minute)
	if res.Error == nil || !strings.Contains(res.Error.Error(), "kind") {
		t.Fatalf("error %v, want one naming kind", res.Error)
	}
}

// Under alert evaluation a cluster is one instance named by its id and label,
// with its size as the one number.
func TestClustersForAlertEvaluation(t *testing.T) {
	url, _ := lokiCorpus(t)
	ds := newDS(t, `{"loki":{"url":"`+url+`"}}`)
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{
		Queries: []backend.DataQuery{target("A", `{"queryType":"clusters","sentiment":"negative"}`, time.Minute)},
		Headers: map[string]string{"FromAlert": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	res := resp.Responses["A"]
	if res.Error != nil || len(res.Frames) != 1 {
		t.Fatalf("%v, %d frames", res.Error, len(res.Frames))
	}
	var names []string
	for _, f := range res.Frames[0].Fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "cluster_id,size,label" || res.Frames[0].Rows() == 0 {
		t.Fatalf("fields %v, %d rows", names, res.Frames[0].Rows())
	}
}

// A query whose type is only in its JSON (Grafana leaves DataQuery.QueryType
// empty for some callers) reaches the same handler as a typed one.
func TestQueryTypeFromJSONOnly(t *testing.T) {
	url, _ := lokiCorpus(t)
	ds := newDS(t, `{"loki":{"url":"`+url+`"}}`)
	q := target("A", `{"queryType":"clusters"}`, time.Minute)
	q.QueryType = ""
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{q}})
	if err != nil {
		t.Fatal(err)
	}
	res := resp.Responses["A"]
	if res.Error != nil || len(res.Frames) != 1 || res.Frames[0].Name != "clusters" || res.Frames[0].Rows() == 0 {
		t.Fatalf("%v %v", res.Error, res.Frames)
	}
}
