package query

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
)

var (
	from = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	to   = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
)

func parse(js string) (Query, error) {
	return Parse(backend.DataQuery{RefID: "A", JSON: json.RawMessage(js), Interval: time.Minute,
		TimeRange: backend.TimeRange{From: from, To: to}}, SourceLoki)
}

func TestDefaults(t *testing.T) {
	q, err := parse(`{"refId":"A","datasource":{"uid":"x"},"hide":false,"intervalMs":60000,"maxDataPoints":1000}`)
	if err != nil {
		t.Fatal(err)
	}
	if q.Type != Breakdown || q.Source != SourceLoki || q.Kind != "feedback" || q.Metric != MetricCount || q.Limit != 100 {
		t.Fatalf("defaults: %+v", q)
	}
	es, err := Parse(backend.DataQuery{JSON: json.RawMessage(`{}`), TimeRange: backend.TimeRange{From: from, To: to}}, SourceElasticsearch)
	if err != nil || es.Source != SourceElasticsearch {
		t.Fatalf("configured default source not used: %+v %v", es, err)
	}
	tq, err := Parse(backend.DataQuery{QueryType: "feedback", JSON: json.RawMessage(`{}`), TimeRange: backend.TimeRange{From: from, To: to}}, SourceLoki)
	if err != nil || tq.Type != Feedback {
		t.Fatalf("DataQuery.QueryType not used: %+v %v", tq, err)
	}
}

// Every rejection names the field, so the panel error says what to fix.
func TestQueryRejects(t *testing.T) {
	cases := []struct{ js, field, msg string }{
		{`{"queryType":"pie"}`, "queryType", `unknown query type "pie"`},
		{`{"source":"mysql"}`, "source", `unknown source "mysql"`},
		{`{"kind":"click"}`, "kind", `unknown kind "click"`},
		{`{"sentiment":"angry"}`, "sentiment", `unknown sentiment "angry"`},
		{`{"tags":["Bias"]}`, "tags[0]", `"Bias" is not a taxonomy tag`},
		{`{"tags":["ok","a\"b"]}`, "tags[1]", `is not a taxonomy tag`},
		{`{"tags":"bias"}`, "tags", `must be of type []string`},
		{`{"limit":"ten"}`, "limit", `must be of type int`},
		{`{"filters":[{"key":"password","operator":"=","value":"x"}]}`, "filters[0].key", `unknown field "password"`},
		{`{"filters":[{"key":"reason","operator":"LIKE","value":"x"}]}`, "filters[0].operator", `unknown operator "LIKE"`},
		{`{"filters":[{"key":"reason","operator":"=~","value":"("}]}`, "filters[0].value", `invalid regular expression`},
		{`{"filters":[{"key":"tag","operator":"=","value":"Not A Tag"}]}`, "filters[0].value", `not a valid tag`},
		{`{"filters":[{"key":"attributes.a\"}|x","operator":"=","value":"v"}]}`, "filters[0].key", `attribute key`},
		{`{"groupBy":["feedback_id"]}`, "groupBy[0]", `cannot be grouped by`},
		{`{"groupBy":["model_version","model_version"]}`, "groupBy[1]", `listed twice`},
		{`{"groupBy":["attributes.a-b"]}`, "groupBy[0]", `attribute key`},
		{`{"metric":"mean"}`, "metric", `unknown metric "mean"`},
		{`{"limit":0}`, "limit", `between 1 and 5000`},
		{`{"limit":5001}`, "limit", `between 1 and 5000`},
		{`{"queryType":"trace"}`, "correlationId", `needs a correlation id`},
		{`{"colour":"red"}`, "colour", `unknown query field`},
		{`[1,2]`, "(query)", `not a JSON object`},
		{`{"search":"` + strings.Repeat("x", 2000) + `"}`, "search", `longer than 1024 bytes`},
	}
	for _, c := range cases {
		_, err := parse(c.js)
		qe, ok := err.(*Error)
		if !ok {
			t.Errorf("%s: error %v (%T), want a *query.Error", c.js, err, err)
			continue
		}
		if qe.Field != c.field || !strings.Contains(qe.Message, c.msg) {
			t.Errorf("%.60s: got field %q message %q; want field %q containing %q", c.js, qe.Field, qe.Message, c.field, c.msg)
		}
	}
	_, err := Parse(backend.DataQuery{JSON: json.RawMessage(`{}`), TimeRange: backend.TimeRange{From: to, To: from}}, SourceLoki)
	if err == nil || !strings.Contains(err.Error(), "timeRange") {
		t.Errorf("reversed time range: %v", err)
	}
}
