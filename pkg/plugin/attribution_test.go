package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"

	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
)

// The attribution recording (pkg/loki/testdata/attribution): feedback
// enriched with its interaction's prompt_version, params and versions, and
// edit feedback. Every LogQL shape of the attribution dimensions, the edit
// metrics and the versions plan is answered there by a real Loki.
var attributionCases = []struct {
	name     string
	query    string
	interval time.Duration
	// lokiQueries is how many requests the Loki source sends for it.
	lokiQueries int
}{
	{"breakdown_by_prompt_version", `{"queryType":"breakdown","groupBy":["prompt_version"]}`, time.Minute, 1},
	{"breakdown_by_verbosity_temperature", `{"queryType":"breakdown","groupBy":["params.verbosity","params.temperature"]}`, time.Minute, 1},
	{"breakdown_effective_version_filter", `{"queryType":"breakdown","groupBy":["model_version"],"filters":[{"key":"effective_version","operator":"=","value":"ev-436479683b1a"},{"key":"params.verbosity","operator":"!=","value":"low"}]}`, time.Minute, 1},
	{"timeseries_by_prompt_version_1h", `{"queryType":"timeseries","groupBy":["prompt_version"]}`, time.Hour, 1},
	{"breakdown_edit_length_ratio_by_verbosity", `{"queryType":"breakdown","groupBy":["params.verbosity"],"metric":"edit_length_ratio"}`, time.Minute, 2},
	{"breakdown_edit_similarity_by_version", `{"queryType":"breakdown","groupBy":["model_version"],"metric":"edit_similarity"}`, time.Minute, 2},
	{"breakdown_edit_rate_by_verbosity", `{"queryType":"breakdown","groupBy":["params.verbosity"],"metric":"edit_rate"}`, time.Minute, 2},
	{"breakdown_edit_rate_total", `{"queryType":"breakdown","metric":"edit_rate"}`, time.Minute, 2},
	{"timeseries_edit_length_ratio_by_verbosity_1h", `{"queryType":"timeseries","groupBy":["params.verbosity"],"metric":"edit_length_ratio"}`, time.Hour, 2},
	{"timeseries_edit_similarity_1h", `{"queryType":"timeseries","metric":"edit_similarity"}`, time.Hour, 2},
	{"timeseries_edit_rate_by_prompt_version_1h", `{"queryType":"timeseries","groupBy":["prompt_version"],"metric":"edit_rate"}`, time.Hour, 2},
	// Grouping by tag without naming tags first discovers the tags in use:
	// both queries are in the inspector.
	{"breakdown_by_tag_discovered", `{"queryType":"breakdown","groupBy":["tag"],"metric":"share"}`, time.Minute, 3},
	{"timeseries_by_tag_discovered_1h", `{"queryType":"timeseries","groupBy":["tag"]}`, time.Hour, 2},
	{"versions", `{"queryType":"versions"}`, time.Minute, 3},
	{"versions_side_by_side", `{"queryType":"versions","baseline":"2026-11-10.2"}`, time.Minute, 3},
}

func attributionDS(t *testing.T) (*lokitest.Server, *plugin.Datasource) {
	t.Helper()
	lk, err := lokitest.New(lokitest.AttributionDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Close)
	es := esServer(t, lokitest.AttributionCorpusPath())
	return lk, newDS(t, `{"loki":{"url":"`+lk.URL+`"},"elasticsearch":{"url":"`+es.URL+`"}}`)
}

// Golden frames from the real Loki answers, each query sending exactly the
// recorded requests, as many as its plan says.
func TestAttributionGoldenFromRecordedLoki(t *testing.T) {
	lk, ds := attributionDS(t)
	for _, tc := range attributionCases {
		t.Run(tc.name, func(t *testing.T) {
			lk.Reset()
			res := run(t, ds, withSource(tc.query, "loki"), tc.interval)
			if res.Error != nil {
				t.Fatal(res.Error)
			}
			if missed := lk.Missed(); len(missed) > 0 {
				t.Fatalf("requests without a recorded answer:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
			}
			if n := len(lk.Requests()); n != tc.lokiQueries {
				t.Fatalf("%d Loki requests, want %d", n, tc.lokiQueries)
			}
			// Every request that ran is in the inspector.
			for _, f := range res.Frames {
				if got := strings.Count(f.Meta.ExecutedQueryString, "\n") + 1; got != tc.lokiQueries {
					t.Fatalf("ExecutedQueryString lists %d queries, want %d:\n%s", got, tc.lokiQueries, f.Meta.ExecutedQueryString)
				}
			}
			experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden", "loki", "attribution"), tc.name, &res, *update)
		})
	}
}

// Elasticsearch answers the same frames over the same events. Means are
// compared to 1e-12 relative: Loki's divf divides in decimal, Painless in
// binary floating point.
func TestAttributionParityWithElasticsearch(t *testing.T) {
	_, ds := attributionDS(t)
	for _, tc := range attributionCases {
		t.Run(tc.name, func(t *testing.T) {
			lr := run(t, ds, withSource(tc.query, "loki"), tc.interval)
			er := run(t, ds, withSource(tc.query, "elasticsearch"), tc.interval)
			if lr.Error != nil || er.Error != nil {
				t.Fatalf("loki: %v, elasticsearch: %v", lr.Error, er.Error)
			}
			if len(lr.Frames) != len(er.Frames) || len(lr.Frames) == 0 {
				t.Fatalf("%d Loki frames, %d Elasticsearch frames", len(lr.Frames), len(er.Frames))
			}
			for i := range lr.Frames {
				l, e := comparable(t, lr.Frames[i], "loki"), comparable(t, er.Frames[i], "elasticsearch")
				if err := sameJSON(l, e); err != nil {
					t.Fatalf("frame %d: %v\nloki:          %s\nelasticsearch: %s", i, err, l, e)
				}
			}
		})
	}
}

func sameJSON(a, b string) error {
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		return err
	}
	return sameValue("$", x, y)
}

func sameValue(path string, x, y any) error {
	switch a := x.(type) {
	case map[string]any:
		b, ok := y.(map[string]any)
		if !ok || len(a) != len(b) {
			return fmt.Errorf("%s: %v vs %v", path, x, y)
		}
		for k := range a {
			if err := sameValue(path+"."+k, a[k], b[k]); err != nil {
				return err
			}
		}
	case []any:
		b, ok := y.([]any)
		if !ok || len(a) != len(b) {
			return fmt.Errorf("%s: %v vs %v", path, x, y)
		}
		for i := range a {
			if err := sameValue(fmt.Sprintf("%s[%d]", path, i), a[i], b[i]); err != nil {
				return err
			}
		}
	case float64:
		b, ok := y.(float64)
		if !ok || math.Abs(a-b) > 1e-12*math.Max(math.Abs(a), math.Abs(b)) {
			return fmt.Errorf("%s: %v vs %v", path, x, y)
		}
	default:
		if x != y {
			return fmt.Errorf("%s: %v vs %v", path, x, y)
		}
	}
	return nil
}

// The seed's case study: users shorten answers given at high verbosity and
// keep those at low verbosity, so the edit-length ratio is below 1 at high
// and about 1 at low, from either store.
func TestEditLengthRatioByVerbosity(t *testing.T) {
	_, ds := attributionDS(t)
	for _, source := range []string{"loki", "elasticsearch"} {
		res := run(t, ds, withSource(`{"queryType":"breakdown","groupBy":["params.verbosity"],"metric":"edit_length_ratio"}`, source), time.Minute)
		if res.Error != nil {
			t.Fatal(res.Error)
		}
		f := res.Frames[0]
		rows := rowsBy(t, f, "params.verbosity")
		ratio := column(t, f, "edit_length_ratio")
		high, low := ratio.At(rows["high"]).(float64), ratio.At(rows["low"]).(float64)
		if !(high < 0.7) || math.Abs(low-1) > 0.05 || len(rows) != 2 {
			t.Errorf("%s: edit_length_ratio high %v, low %v (rows %v); want high below 0.7 and low about 1", source, high, low, rows)
		}
	}
}

// The edit metrics refuse what they cannot honour, naming the field.
func TestEditMetricErrorsNameTheField(t *testing.T) {
	_, ds := attributionDS(t)
	for js, field := range map[string]string{
		`{"queryType":"breakdown","metric":"edit_rate","groupBy":["sentiment"]}`:                                 "groupBy[0]",
		`{"queryType":"breakdown","metric":"edit_rate","sentiment":"negative"}`:                                  "sentiment",
		`{"queryType":"timeseries","metric":"edit_rate","tags":["bias"]}`:                                        "tags",
		`{"queryType":"breakdown","metric":"edit_rate","filters":[{"key":"reason","operator":"=","value":"x"}]}`: "filters[0].key",
		`{"queryType":"breakdown","metric":"edit_similarity","kind":"interaction"}`:                              "kind",
		`{"queryType":"breakdown","metric":"edit_speed"}`:                                                        "metric",
		`{"queryType":"breakdown","groupBy":["params.top-p"]}`:                                                   "groupBy[0]",
	} {
		res := run(t, ds, withSource(js, "loki"), time.Minute)
		if res.Error == nil || !strings.Contains(res.Error.Error(), `"`+field+`"`) || res.Status != backend.StatusBadRequest && res.ErrorSource != backend.ErrorSourceDownstream {
			t.Errorf("%s: error %v, want one naming %q", js, res.Error, field)
		}
	}
}

// An alert rule on an edit metric gets the dimensions and the metric only,
// one instance per group.
func TestEditMetricsAreAlertable(t *testing.T) {
	_, ds := attributionDS(t)
	for metric, want := range map[string]string{
		"edit_rate":         "params.verbosity,edit_rate",
		"edit_similarity":   "params.verbosity,edit_similarity",
		"edit_length_ratio": "params.verbosity,edit_length_ratio",
	} {
		js := withSource(`{"queryType":"breakdown","groupBy":["params.verbosity"],"metric":"`+metric+`"}`, "elasticsearch")
		resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{
			Queries: []backend.DataQuery{target("A", js, time.Minute)}, Headers: map[string]string{"FromAlert": "true"}})
		if err != nil {
			t.Fatal(err)
		}
		res := resp.Responses["A"]
		if res.Error != nil {
			t.Fatal(res.Error)
		}
		f := res.Frames[0]
		var names []string
		for _, fd := range f.Fields {
			names = append(names, fd.Name)
		}
		if got := strings.Join(names, ","); got != want || f.Rows() != 2 {
			t.Errorf("%s for alerting: %s (%d rows), want %s (2 rows)", metric, got, f.Rows(), want)
		}
	}
}
