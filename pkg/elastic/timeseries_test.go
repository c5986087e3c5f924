package elastic

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/read"
)

func histogramAfterGroups(r recorded) string {
	if strings.Contains(string(r.Body), "date_histogram") {
		return "es/timeseries_by_version.json"
	}
	return "es/timeseries_groups.json"
}

// hits.total is an object since 7.0 and a bare number with
// rest_total_hits_as_int; both must read the same.
func TestHitsTotalShapes(t *testing.T) {
	for body, want := range map[string]int64{
		`{"hits":{"total":{"value":140,"relation":"eq"}}}`:    140,
		`{"hits":{"total":{"value":10000,"relation":"gte"}}}`: 10000,
		`{"hits":{"total":140}}`:                              140,
		`{"hits":{"total":null}}`:                             0,
		`{"hits":{}}`:                                         0,
	} {
		var r searchResponse
		if err := jsonUnmarshal(body, &r); err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if r.Hits.Total.Value != want {
			t.Errorf("%s: total %d, want %d", body, r.Hits.Total.Value, want)
		}
	}
}

// An empty range gives no series, as Loki answers an empty matrix, and no
// second request when there is no group to histogram.
func TestTimeseriesWithoutData(t *testing.T) {
	es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
	c := newTestClient(t, es.URL)
	for _, js := range []string{`{"queryType":"timeseries","groupBy":["model_version"]}`, `{"queryType":"timeseries"}`} {
		series, totals, _, err := c.Timeseries(context.Background(), parseQuery(t, js, time.Hour).Query)
		if err != nil {
			t.Fatal(err)
		}
		if len(series) != 0 || len(totals) != 0 {
			t.Errorf("%s: %d series, %d totals, want none", js, len(series), len(totals))
		}
	}
	if n := len(es.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (one each)", n)
	}
}

// A histogram that would exceed search.max_buckets gets a larger step (a
// multiple of the asked one) and a notice, instead of a refused search.
func TestTimeseriesStepClamp(t *testing.T) {
	es := newFakeES(t, func(r recorded) (int, []byte) { return 200, readTestdata(t, histogramAfterGroups(r)) })
	c := newTestClient(t, es.URL)
	c.maxBuckets = 12 // 7 hourly steps × (1 + 2 groups) = 21 buckets do not fit
	q := parseQuery(t, `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour)
	_, _, meta, err := c.Timeseries(context.Background(), q.Query)
	if err != nil {
		t.Fatal(err)
	}
	hist := es.requests()[1].Body
	if !strings.Contains(string(hist), `"fixed_interval":"7200000ms"`) {
		t.Errorf("step not raised to 2h: %s", hist)
	}
	if len(meta.Notices) != 1 || !strings.Contains(meta.Notices[0].Text, "raised from 1h0m0s to 2h0m0s") {
		t.Errorf("notices %+v", meta.Notices)
	}
	if meta.Step != 2*time.Hour {
		t.Errorf("meta.Step %s, want 2h: the frames must be built on the raised step", meta.Step)
	}
	c.maxBuckets = 2
	if _, _, _, err := c.Timeseries(context.Background(), q.Query); err == nil || !read.IsDownstream(err) {
		t.Errorf("err %v, want a downstream error when even one step cannot hold the groups", err)
	}
}
