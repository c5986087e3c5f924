package elastic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/models"
)

const searchURL = "/model-feedback-*/_search?allow_no_indices=false&ignore_unavailable=true"

// Bounds of the corpus window as the DSL writes them.
const (
	rangeInstant = `{"range":{"timestamp":{"gt":"2026-11-20T06:00:00.000000000Z","lte":"2026-11-20T12:00:00.000000000Z","format":"strict_date_optional_time_nanos"}}}`
	rangeLogs    = `{"range":{"timestamp":{"gte":"2026-11-20T06:00:00.000000000Z","lt":"2026-11-20T12:00:00.000000000Z","format":"strict_date_optional_time_nanos"}}}`
	// The hourly grid 06:00..12:00: its first point counts (05:00, 06:00].
	rangeHourly  = `{"range":{"timestamp":{"gt":"2026-11-20T05:00:00.000000000Z","lte":"2026-11-20T12:00:00.000000000Z","format":"strict_date_optional_time_nanos"}}}`
	kindFeedback = `{"term":{"kind":"feedback"}}`
	feedbackSort = `[{"timestamp":{"order":"desc","format":"strict_date_optional_time_nanos","numeric_type":"date_nanos"}},{"feedback_id":{"order":"asc","missing":"_first","unmapped_type":"keyword"}},{"correlation_id":{"order":"asc","missing":"_first","unmapped_type":"keyword"}}]`
	sourceFields = `{"includes":["schema","kind","feedback_id","correlation_id","timestamp","model","sentiment","score","reason","tags","severity","comment","source","user","attributes","context","edit","verdict","reviewer","corrected_output","ticket","resolution_id","fixes","channel"]}`
)

// One request per query type and option: the exact URL and body sent.
func TestBreakdownRequests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		body  string
	}{
		{
			name:  "by version",
			query: `{"queryType":"breakdown","groupBy":["model_version"]}`,
			body: `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `]}},
				"aggs":{"by":{"terms":{"field":"model.version","size":10000,"missing":""}}}}`,
		},
		{
			name:  "no groupBy counts hits only",
			query: `{"queryType":"breakdown","kind":"review"}`,
			body:  `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,{"term":{"kind":"review"}}]}}}`,
		},
		{
			name:  "two dimensions share the bucket budget",
			query: `{"queryType":"breakdown","groupBy":["model_version","reason"],"sentiment":"negative","metric":"share"}`,
			body: `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `,{"term":{"sentiment":"negative"}}]}},
				"aggs":{"by":{"terms":{"field":"model.version","size":100,"missing":""},
				"aggs":{"by":{"terms":{"field":"reason","size":100,"missing":""}}}}}}`,
		},
		{
			name:  "tag with query tags lists only those, no missing bucket",
			query: `{"queryType":"breakdown","groupBy":["tag","attributes.domain"],"tags":["bias","hallucination"]}`,
			body: `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `,{"terms":{"tags":["bias","hallucination"]}}]}},
				"aggs":{"by":{"terms":{"field":"tags","size":2,"include":["bias","hallucination"]},
				"aggs":{"by":{"terms":{"field":"attributes.domain","size":5000,"missing":""}}}}}}`,
		},
		{
			name:  "tag without query tags",
			query: `{"queryType":"breakdown","groupBy":["tag"]}`,
			body: `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `]}},
				"aggs":{"by":{"terms":{"field":"tags","size":10000}}}}`,
		},
		{
			name: "every operator, hostile values stay values",
			query: `{"queryType":"breakdown","filters":[
				{"key":"reason","operator":"=","value":"a\"b\\c*d?e}f\ng"},
				{"key":"user_role","operator":"!=","value":""},
				{"key":"attributes.domain","operator":"=~","value":"ta.*|bi(l+)ing"},
				{"key":"severity","operator":"!~","value":".*"},
				{"key":"tag","operator":"=~","value":"hall.*"},
				{"key":"model_id","operator":"!=","value":"x\"}},{\"match_all\":{"}],
				"search":"50% \"off\" *now*? \\ {}\n"}`,
			body: `{"size":0,"track_total_hits":true,"query":{"bool":{
				"filter":[` + rangeInstant + `,` + kindFeedback + `,
					{"term":{"reason":"a\"b\\c*d?e}f\ng"}},
					{"regexp":{"attributes.domain":{"value":"(ta(.)*|bi((l)+)ing)","flags":"NONE"}}},
					{"regexp":{"tags":{"value":"hall(.)*","flags":"NONE"}}},
					{"wildcard":{"comment.keyword":{"value":"*50% \"off\" \\*now\\*\\? \\\\ {}\n*","case_insensitive":true}}}],
				"must_not":[
					{"bool":{"should":[{"term":{"user.role":""}},{"bool":{"must_not":[{"exists":{"field":"user.role"}}]}}],"minimum_should_match":1}},
					{"bool":{"should":[{"regexp":{"severity":{"value":"(.)*","flags":"NONE"}}},{"bool":{"must_not":[{"exists":{"field":"severity"}}]}}],"minimum_should_match":1}},
					{"term":{"model.id":"x\"}},{\"match_all\":{"}}]}}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
			c := newTestClient(t, es.URL)
			q := parseQuery(t, tc.query, time.Minute)
			if _, _, err := c.Breakdown(context.Background(), q.Query); err != nil {
				t.Fatal(err)
			}
			reqs := es.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			if reqs[0].Method != "POST" || reqs[0].URL() != searchURL {
				t.Errorf("request %s %s, want POST %s", reqs[0].Method, reqs[0].URL(), searchURL)
			}
			assertJSON(t, "body", reqs[0].Body, tc.body)
		})
	}
}

// The hostile values must arrive as the exact strings, inside JSON
// strings, and the wildcard must escape its metacharacters.
func TestHostileValuesStayStrings(t *testing.T) {
	es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
	c := newTestClient(t, es.URL)
	hostile := "a\"b\\c*d?e}f\ng"
	js, _ := json.Marshal(map[string]any{
		"queryType": "breakdown", "search": hostile,
		"filters": []map[string]string{{"key": "feedback_id", "operator": "=", "value": hostile}},
	})
	if _, _, err := c.Breakdown(context.Background(), parseQuery(t, string(js), time.Minute).Query); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Query struct {
			Bool struct {
				Filter []map[string]map[string]any `json:"filter"`
			} `json:"bool"`
		} `json:"query"`
	}
	if err := json.Unmarshal(es.requests()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	f := body.Query.Bool.Filter
	if len(f) != 4 {
		t.Fatalf("filter has %d clauses, want 4: %v", len(f), f)
	}
	if got := f[2]["term"]["feedback_id"]; got != hostile {
		t.Errorf("term value %q, want %q", got, hostile)
	}
	wc := f[3]["wildcard"]["comment.keyword"].(map[string]any)
	if got, want := wc["value"], `*a"b\\c\*d\?e}f`+"\n"+`g*`; got != want {
		t.Errorf("wildcard value %q, want %q", got, want)
	}
}

func TestTimeseriesRequests(t *testing.T) {
	preflight := `{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},
		"hits":{"total":{"value":9,"relation":"eq"},"max_score":null,"hits":[]},
		"aggregations":{"by":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[
			{"key":"2026-11-10.2","doc_count":5},{"key":"2026-11-01.1","doc_count":4}]}}}`
	t.Run("grouped: group count first, then the histogram", func(t *testing.T) {
		es := newFakeES(t, func(r recorded) (int, []byte) {
			if strings.Contains(string(r.Body), "date_histogram") {
				return 200, []byte(emptySearch)
			}
			return 200, []byte(preflight)
		})
		c := newTestClient(t, es.URL)
		q := parseQuery(t, `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour)
		if _, _, _, err := c.Timeseries(context.Background(), q.Query); err != nil {
			t.Fatal(err)
		}
		reqs := es.requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want 2", len(reqs))
		}
		for _, r := range reqs {
			if r.URL() != searchURL {
				t.Errorf("URL %s, want %s", r.URL(), searchURL)
			}
		}
		assertJSON(t, "group count", reqs[0].Body, `{"size":0,"track_total_hits":true,
			"query":{"bool":{"filter":[`+rangeHourly+`,`+kindFeedback+`]}},
			"aggs":{"by":{"terms":{"field":"model.version","size":10000,"missing":""}}}}`)
		// Buckets [k, k+1h) shifted by +1ms are Loki's (t-1h, t]; the
		// bounds are the keys of the first (06:00) and last (12:00) points.
		assertJSON(t, "histogram", reqs[1].Body, `{"size":0,"track_total_hits":true,
			"query":{"bool":{"filter":[`+rangeHourly+`,`+kindFeedback+`]}},
			"aggs":{"time":{"date_histogram":{"field":"timestamp","fixed_interval":"3600000ms","offset":"+1ms",
				"min_doc_count":0,"extended_bounds":{"min":1795150800001,"max":1795172400001},"format":"epoch_millis"},
				"aggs":{"by":{"terms":{"field":"model.version","size":2,"missing":""}}}}}}`)
	})
	t.Run("ungrouped: histogram only", func(t *testing.T) {
		es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
		c := newTestClient(t, es.URL)
		// 6h / 11,000 = 1963.6ms rounds up to 1964ms (query.Step); the grid
		// starts at the first multiple of 1964ms after 06:00.
		q := parseQuery(t, `{"queryType":"timeseries","kind":"resolution"}`, time.Millisecond)
		if _, _, _, err := c.Timeseries(context.Background(), q.Query); err != nil {
			t.Fatal(err)
		}
		reqs := es.requests()
		if len(reqs) != 1 {
			t.Fatalf("%d requests, want 1", len(reqs))
		}
		first := (winFrom.UnixMilli() + 1963) / 1964 * 1964
		last := (winTo.UnixMilli() + 1963) / 1964 * 1964
		from := time.UnixMilli(first - 1964).UTC().Format("2006-01-02T15:04:05.000000000Z")
		to := time.UnixMilli(last).UTC().Format("2006-01-02T15:04:05.000000000Z")
		assertJSON(t, "histogram", reqs[0].Body, `{"size":0,"track_total_hits":true,
			"query":{"bool":{"filter":[{"range":{"timestamp":{"gt":"`+from+`","lte":"`+to+`","format":"strict_date_optional_time_nanos"}}},{"term":{"kind":"resolution"}}]}},
			"aggs":{"time":{"date_histogram":{"field":"timestamp","fixed_interval":"1964ms","offset":"+1ms",
				"min_doc_count":0,"extended_bounds":{"min":`+itoa(first-1964+1)+`,"max":`+itoa(last-1964+1)+`},"format":"epoch_millis"}}}}`)
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestFeedbackRequests(t *testing.T) {
	t.Run("one page", func(t *testing.T) {
		es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
		c := newTestClient(t, es.URL)
		q := parseQuery(t, `{"queryType":"feedback","tags":["bias"],"limit":100}`, time.Minute)
		if _, _, err := c.Feedback(context.Background(), q.Query); err != nil {
			t.Fatal(err)
		}
		reqs := es.requests()
		if len(reqs) != 1 || reqs[0].URL() != searchURL {
			t.Fatalf("requests %v", reqs)
		}
		assertJSON(t, "body", reqs[0].Body, `{"size":100,"track_total_hits":false,
			"query":{"bool":{"filter":[`+rangeLogs+`,`+kindFeedback+`,{"terms":{"tags":["bias"]}}]}},
			"sort":`+feedbackSort+`,"_source":`+sourceFields+`}`)
	})
	t.Run("search_after pages", func(t *testing.T) {
		page := func(ids ...string) []byte {
			var hits []string
			for i, id := range ids {
				ts := winTo.Add(-time.Duration(len(hits)+1+i*0) * time.Minute).Format("2006-01-02T15:04:05.000000000Z")
				hits = append(hits, `{"_index":"model-feedback-2026.11.20","_id":"`+id+`","_score":null,
					"_source":{"schema":"feedback/v1","kind":"feedback","feedback_id":"`+id+`","correlation_id":"c","timestamp":"`+ts+`","model":{"id":"m","version":"v"},"sentiment":"positive"},
					"sort":["`+ts+`","`+id+`","c"]}`)
			}
			return []byte(`{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":5,"relation":"eq"},"max_score":null,"hits":[` + strings.Join(hits, ",") + `]}}`)
		}
		n := 0
		es := newFakeES(t, func(recorded) (int, []byte) {
			n++
			switch n {
			case 1:
				return 200, page("a", "b")
			case 2:
				return 200, page("c", "d")
			}
			return 200, page("e")
		})
		c := newTestClient(t, es.URL)
		c.pageSize = 2
		q := parseQuery(t, `{"queryType":"feedback","limit":5}`, time.Minute)
		entries, meta, err := c.Feedback(context.Background(), q.Query)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 5 {
			t.Fatalf("%d entries, want 5", len(entries))
		}
		reqs := es.requests()
		if len(reqs) != 3 {
			t.Fatalf("%d requests, want 3", len(reqs))
		}
		base := `"track_total_hits":false,"query":{"bool":{"filter":[` + rangeLogs + `,` + kindFeedback + `]}},"sort":` + feedbackSort + `,"_source":` + sourceFields
		assertJSON(t, "page 1", reqs[0].Body, `{"size":2,`+base+`}`)
		assertJSON(t, "page 2", reqs[1].Body, `{"size":2,`+base+`,"search_after":["2026-11-20T11:58:00.000000000Z","b","c"]}`)
		assertJSON(t, "page 3", reqs[2].Body, `{"size":1,`+base+`,"search_after":["2026-11-20T11:58:00.000000000Z","d","c"]}`)
		if !strings.Contains(meta.Executed, `"search_after"`) {
			t.Errorf("Executed does not show the later pages:\n%s", meta.Executed)
		}
	})
}

func TestResourceRequests(t *testing.T) {
	from, to := winFrom, winTo
	rng := `{"range":{"timestamp":{"gte":"2026-11-20T06:00:00.000000000Z","lte":"2026-11-20T12:00:00.000000000Z","format":"strict_date_optional_time_nanos"}}}`
	terms := func(field string) string {
		return `"aggs":{"by":{"terms":{"field":"` + field + `","size":1000,"order":{"_key":"asc"}}}}`
	}
	values := `{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":10000,"relation":"gte"},"max_score":null,"hits":[]},
		"aggregations":{"by":{"doc_count_error_upper_bound":0,"sum_other_doc_count":0,"buckets":[{"key":"","doc_count":3},{"key":"b","doc_count":1},{"key":"a","doc_count":2}]}}}`
	for _, tc := range []struct {
		name string
		call func(c *Client) ([]string, error)
		body string
		want string
	}{
		{"model ids", func(c *Client) ([]string, error) { return c.ModelIDs(context.Background(), from, to) },
			`{"size":0,"track_total_hits":false,"query":{"bool":{"filter":[` + rng + `]}},` + terms("model.id") + `}`, `["a","b"]`},
		{"model versions of one model", func(c *Client) ([]string, error) {
			return c.ModelVersions(context.Background(), `tax"assistant`, from, to)
		}, `{"size":0,"track_total_hits":false,"query":{"bool":{"filter":[` + rng + `,{"term":{"model.id":"tax\"assistant"}}]}},` + terms("model.version") + `}`, `["a","b"]`},
		{"field values of a parsed field are feedback's", func(c *Client) ([]string, error) {
			return c.FieldValues(context.Background(), "user_geo", from, to)
		}, `{"size":0,"track_total_hits":false,"query":{"bool":{"filter":[` + rng + `,` + kindFeedback + `]}},` + terms("user.geo") + `}`, `["a","b"]`},
		{"tags add the taxonomy", func(c *Client) ([]string, error) { return c.Tags(context.Background(), from, to) },
			`{"size":0,"track_total_hits":false,"query":{"bool":{"filter":[` + rng + `,` + kindFeedback + `]}},` + terms("tags") + `}`,
			`["a","b","bias","factually_incorrect","formatting_error","hallucination","harmful","latency","not_helpful","offensive","other"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(values) })
			c := newTestClient(t, es.URL)
			got, err := tc.call(c)
			if err != nil {
				t.Fatal(err)
			}
			r := es.requests()[0]
			if r.URL() != searchURL {
				t.Errorf("URL %s", r.URL())
			}
			assertJSON(t, "body", r.Body, tc.body)
			g, _ := json.Marshal(got)
			assertJSON(t, "values", g, tc.want)
		})
	}
	t.Run("attribute keys from the mapping", func(t *testing.T) {
		es := newFakeES(t, func(recorded) (int, []byte) { return 200, readTestdata(t, "es/mapping_attributes.json") })
		c := newTestClient(t, es.URL)
		got, err := c.AttributeKeys(context.Background(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		r := es.requests()[0]
		if r.Method != "GET" || r.URL() != "/model-feedback-*/_mapping/field/attributes.*,context.params.*" {
			t.Errorf("request %s %s", r.Method, r.URL())
		}
		g, _ := json.Marshal(got)
		assertJSON(t, "keys", g, `["attributes.channel","attributes.domain","attributes.jurisdiction"]`)
	})
}

func TestAuthHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  models.Elastic
		want string
	}{
		{"basic auth", models.Elastic{BasicAuthUser: "grafana", Password: "s3cret"}, "Basic " + base64.StdEncoding.EncodeToString([]byte("grafana:s3cret"))},
		{"api key", models.Elastic{APIKey: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}, "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="},
		{"none", models.Elastic{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
			tc.cfg.URL = es.URL
			c, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Breakdown(context.Background(), parseQuery(t, `{}`, time.Minute).Query); err != nil {
				t.Fatal(err)
			}
			if got := es.requests()[0].Header.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNewSettingErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg     models.Elastic
		setting string
	}{
		{models.Elastic{}, "elasticsearch.url"},
		{models.Elastic{URL: "  "}, "elasticsearch.url"},
		{models.Elastic{URL: "elasticsearch:9200"}, "elasticsearch.url"},
		{models.Elastic{URL: "http://es:9200", Index: "model-feedback-*/_doc"}, "elasticsearch.index"},
		{models.Elastic{URL: "http://es:9200", Index: "_all"}, "elasticsearch.index"},
		{models.Elastic{URL: "http://es:9200", BasicAuthUser: "u", APIKey: "k"}, "elasticsearch.basicAuthUser"},
	} {
		_, err := New(tc.cfg)
		se, ok := err.(*models.SettingError)
		if !ok || se.Setting != tc.setting {
			t.Errorf("New(%+v) = %v, want a SettingError on %s", tc.cfg, err, tc.setting)
		}
	}
}

func TestTraceRequest(t *testing.T) {
	es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
	c := newTestClient(t, es.URL)
	// Kind, sentiment, tags, filters and search do not narrow a trace: Loki's
	// trace ignores them too, and the drill-down shows everything on the id.
	q := parseQuery(t, `{"queryType":"trace","correlationId":"4bf92f3577b34da6a3ce929d0e0e4736","limit":100,
		"kind":"review","sentiment":"negative","tags":["bias"],"search":"x","filters":[{"key":"reason","operator":"=","value":"y"}]}`, time.Minute)
	_, meta, err := c.Trace(context.Background(), q.Query)
	if err != nil {
		t.Fatal(err)
	}
	reqs := es.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].URL() != searchURL {
		t.Fatalf("requests %v", reqs)
	}
	want := `{"size":100,"track_total_hits":false,
		"query":{"bool":{"filter":[` + rangeLogs + `,{"term":{"correlation_id":"4bf92f3577b34da6a3ce929d0e0e4736"}}]}},
		"sort":[{"timestamp":{"order":"asc","format":"strict_date_optional_time_nanos","numeric_type":"date_nanos"}},
			{"kind":{"order":"desc","missing":"_last","unmapped_type":"keyword"}},
			{"feedback_id":{"order":"desc","missing":"_last","unmapped_type":"keyword"}}],
		"_source":` + sourceFields + `}`
	assertJSON(t, "body", reqs[0].Body, want)
	wantExecuted := "POST model-feedback-*/_search?allow_no_indices=false&ignore_unavailable=true\n"
	if !strings.HasPrefix(meta.Executed, wantExecuted) {
		t.Fatalf("Executed %q does not start with the request line", meta.Executed)
	}
	assertJSON(t, "Executed", []byte(strings.TrimPrefix(meta.Executed, wantExecuted)), want)
}
