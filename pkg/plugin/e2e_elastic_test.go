package plugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"

	"github.com/feedbackloop/modelfeedback/pkg/elastic/estest"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
)

// corpus is the file of events the recorded Loki answers were recorded
// over; the Elasticsearch double indexes the same events.
func corpus() string { return lokitest.CorpusPath() }

// esServer serves events through the Elasticsearch double; the test fails
// if the plugin sent anything the double does not implement.
func esServer(t *testing.T, events string) *estest.Server {
	t.Helper()
	srv, err := estest.New(events)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		for _, r := range srv.Refused() {
			t.Errorf("the Elasticsearch double refused %s", r)
		}
	})
	return srv
}

// withSource sets the query's source.
func withSource(js, source string) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		panic(err)
	}
	m["source"] = source
	b, _ := json.Marshal(m)
	return string(b)
}

// comparable is a frame without what differs by nature between the two
// sources: the executed query, the source's statistics and the refId
// (the two queries of a pair need distinct ones). Links that
// carry the source (Explore drill-down) must name the frame's own source,
// so that a click stays on it; they are then aligned for the comparison.
func comparable(t *testing.T, f *data.Frame, source string) string {
	t.Helper()
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	schema, _ := v["schema"].(map[string]any)
	delete(schema, "refId")
	if meta, ok := schema["meta"].(map[string]any); ok {
		delete(meta, "executedQueryString")
		delete(meta, "stats")
	}
	fields, _ := schema["fields"].([]any)
	for _, fl := range fields {
		cfg, _ := fl.(map[string]any)["config"].(map[string]any)
		links, _ := cfg["links"].([]any)
		for _, l := range links {
			internal, _ := l.(map[string]any)["internal"].(map[string]any)
			q, _ := internal["query"].(map[string]any)
			if s, ok := q["source"]; ok {
				if s != source {
					t.Errorf("frame %s: a link queries source %v, want %s", f.Name, s, source)
				}
				q["source"] = "loki"
			}
		}
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// Every query type, through the built binary over gRPC, with
// "source":"elasticsearch" against the double and with "source":"loki"
// against the recorded Loki answers over the same events, in one request
// as a dashboard sends them: the frames must be the same (fields, types,
// values, labels, order, notices); the Elasticsearch answers are also
// pinned by golden files.
func TestBinaryElasticsearchMatchesLoki(t *testing.T) {
	lk := replayServer(t)
	es := esServer(t, corpus())
	pc := start(t)
	pctx := pluginContext(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"},"loki":{"url":"`+lk.URL+`"}}`, nil)
	cases := []struct {
		name     string
		query    string
		interval time.Duration
	}{
		{"breakdown_count", `{"queryType":"breakdown","groupBy":["model_version"]}`, time.Minute},
		{"breakdown_share", `{"queryType":"breakdown","groupBy":["model_version"],"metric":"share"}`, time.Minute},
		{"breakdown_negative_rate", `{"queryType":"breakdown","groupBy":["model_version"],"metric":"negative_rate"}`, time.Minute},
		{"breakdown_by_tag", `{"queryType":"breakdown","groupBy":["tag"],"tags":` + allTagsJSON + `}`, time.Minute},
		{"timeseries_by_version", `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour},
		{"feedback_tags_any", `{"queryType":"feedback","tags":["hallucination","bias"]}`, time.Minute},
		{"feedback_search", `{"queryType":"feedback","search":"refund"}`, time.Minute},
		{"versions", `{"queryType":"versions","tags":` + allTagsJSON + `}`, time.Hour},
		{"trace_showcase", `{"queryType":"trace","correlationId":"4bf92f3577b34da6a3ce929d0e0e4736"}`, time.Minute},
	}
	var queries []backend.DataQuery
	for _, c := range cases {
		queries = append(queries,
			target("es_"+c.name, withSource(c.query, "elasticsearch"), c.interval),
			target("loki_"+c.name, withSource(c.query, "loki"), c.interval))
	}
	resp := pc.query(t, pctx, nil, queries...)
	if missed := lk.Missed(); len(missed) > 0 {
		t.Fatalf("the Loki queries differ from the recorded ones:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
	}
	if refused := es.Refused(); len(refused) > 0 {
		t.Fatalf("the Elasticsearch double refused:\n%s", strings.Join(refused, "\n"))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			er, lr := resp.Responses["es_"+c.name], resp.Responses["loki_"+c.name]
			if er.Error != nil || lr.Error != nil {
				t.Fatalf("Elasticsearch: %v; Loki: %v", er.Error, lr.Error)
			}
			if len(er.Frames) == 0 || len(er.Frames) != len(lr.Frames) {
				t.Fatalf("Elasticsearch %d frames, Loki %d", len(er.Frames), len(lr.Frames))
			}
			for i := range er.Frames {
				// The query inspector must show the DSL that ran, proving
				// the Elasticsearch source answered.
				if m := er.Frames[i].Meta; m == nil || !strings.HasPrefix(m.ExecutedQueryString, "POST model-feedback-*/_search") {
					t.Errorf("frame %d: executed query is not the DSL: %+v", i, m)
				}
				e, l := comparable(t, er.Frames[i], "elasticsearch"), comparable(t, lr.Frames[i], "loki")
				if e != l {
					et, _ := er.Frames[i].StringTable(-1, -1)
					lt, _ := lr.Frames[i].StringTable(-1, -1)
					t.Errorf("frame %d differs\n--- Elasticsearch\n%s\n%s\n--- Loki\n%s\n%s", i, et, e, lt, l)
				}
			}
			experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden"), "elasticsearch_"+c.name, &er, *update)
		})
	}
}

// The look-ups of the editors and variables answer the same values from
// Elasticsearch (the default source here) as from Loki.
func TestBinaryElasticsearchResources(t *testing.T) {
	lk := replayServer(t)
	es := esServer(t, corpus())
	pc := start(t)
	pctx := pluginContext(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"},"loki":{"url":"`+lk.URL+`"}}`, nil)
	win := fmt.Sprintf("from=%d&to=%d", winFrom.UnixMilli(), winTo.UnixMilli())
	cases := []struct {
		path string
		want string
		// loki: compare with the Loki source too (its answer is recorded).
		loki bool
		// lokiWant, when set, is the Loki source's answer where it differs.
		lokiWant string
	}{
		{"model-ids?" + win, `["support-bot","tax-assistant"]`, true, ""},
		{"model-versions?model_id=tax-assistant&" + win, `["2026-11-05.1"]`, true, ""},
		{"model-versions?" + win, `["2026-11-01.1","2026-11-05.1","2026-11-10.2","2026-11-18.3"]`, true, ""},
		// The taxonomy and the corpus' two custom tags. Loki's tag discovery
		// query has no recorded answer, so there is no Loki side to compare.
		{"tags?" + win, `["bias","biased_tone","factually_incorrect","formatting_error","hallucination","harmful","latency","not_helpful","offensive","other","outdated_rates"]`, false, ""},
		{"field-values?field=tag&" + win, `["bias","biased_tone","factually_incorrect","formatting_error","hallucination","harmful","latency","not_helpful","offensive","other","outdated_rates"]`, false, ""},
		// The index mapping is not per kind, so Elasticsearch lists the
		// params.<key> of the interactions; Loki's detected fields are those
		// of feedback lines, and the corpus' feedback is not enriched.
		{"fields?" + win, `["attributes.channel","attributes.domain","attributes.jurisdiction","correlation_id","effective_version","feedback_id","model_id","model_version","params.max_tokens","params.response_format","params.temperature","params.top_p","prompt_version","reason","sentiment","severity","source","tag","user_geo","user_id","user_role"]`, true,
			`["attributes.channel","attributes.domain","attributes.jurisdiction","correlation_id","effective_version","feedback_id","model_id","model_version","prompt_version","reason","sentiment","severity","source","tag","user_geo","user_id","user_role"]`},
		{"field-values?field=reason&" + win, `["bias","factually_incorrect","formatting_error","hallucination","harmful","latency","not_helpful","other"]`, true, ""},
	}
	for _, c := range cases {
		status, body := pc.resourceCall(t, pctx, c.path)
		if status != 200 || body != c.want {
			t.Errorf("%s from Elasticsearch: HTTP %d\n got %s\nwant %s", c.path, status, body, c.want)
		}
		if c.loki {
			want := c.want
			if c.lokiWant != "" {
				want = c.lokiWant
			}
			status, body := pc.resourceCall(t, pctx, c.path+"&source=loki")
			if status != 200 || body != want {
				t.Errorf("%s from Loki: HTTP %d\n got %s\nwant %s", c.path, status, body, want)
			}
		}
	}
	if missed := lk.Missed(); len(missed) > 0 {
		t.Fatalf("unrecorded Loki requests:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
	}
	n := 0
	for _, r := range es.Requests() {
		if strings.HasPrefix(r.Path, "/model-feedback-") {
			n++
		}
	}
	if n < len(cases) {
		t.Errorf("only %d requests reached the Elasticsearch double for %d look-ups", n, len(cases))
	}
}

func TestBinaryElasticsearchHealthCheck(t *testing.T) {
	pc := start(t)
	check := func(jsonData string) *backend.CheckHealthResult {
		t.Helper()
		resp, err := pc.diagnostics.CheckHealth(context.Background(),
			&pluginv2.CheckHealthRequest{PluginContext: backend.ToProto().PluginContext(pluginContext(jsonData, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return backend.FromProto().CheckHealthResponse(resp)
	}
	// The corpus is days old: the cluster, the index pattern and the mapping
	// check out, but nothing arrived in the last 24 hours.
	old := esServer(t, corpus())
	res := check(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"` + old.URL + `"}}`)
	if res.Status != backend.HealthStatusError || !strings.Contains(res.Message, "Elasticsearch "+estest.Version+" is reachable and model-feedback-* matches 1 index(es), but none holds events of the last 24 hours") {
		t.Errorf("stale corpus: %v %q", res.Status, res.Message)
	}

	// The corpus plus one feedback event and one interaction of an hour ago.
	raw, err := os.ReadFile(corpus())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano)
	fresh := fmt.Sprintf(`{"schema":"feedback/v1","kind":"feedback","feedback_id":"01FRESHFEEDBACK0000000000","correlation_id":"fresh","timestamp":%q,"model":{"id":"support-bot","version":"2026-11-18.3"},"sentiment":"positive"}
{"schema":"feedback/v1","kind":"interaction","correlation_id":"fresh","timestamp":%q,"model":{"id":"support-bot","version":"2026-11-18.3"}}
`, ts, ts)
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, append(raw, fresh...), 0o644); err != nil {
		t.Fatal(err)
	}
	live := esServer(t, path)
	res = check(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"` + live.URL + `"}}`)
	want := "Elasticsearch " + estest.Version + ": OK, 1 feedback event(s) in the last 24 hours in model-feedback-* (kinds: feedback, interaction)"
	if res.Status != backend.HealthStatusOk || res.Message != want {
		t.Errorf("fresh events: %v %q, want %q", res.Status, res.Message, want)
	}

	// Both sources are checked, each saying how it fares.
	lk := replayServer(t)
	res = check(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"` + live.URL + `"},"loki":{"url":"` + lk.URL + `"}}`)
	if res.Status != backend.HealthStatusOk || !strings.Contains(res.Message, "Loki: OK") || !strings.Contains(res.Message, want) {
		t.Errorf("both: %v %q", res.Status, res.Message)
	}
	res = check(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"` + old.URL + `"},"loki":{"url":"` + lk.URL + `"}}`)
	if res.Status != backend.HealthStatusError || !strings.Contains(res.Message, "Loki: OK") || !strings.Contains(res.Message, "none holds events of the last 24 hours") {
		t.Errorf("Loki healthy, Elasticsearch stale: %v %q", res.Status, res.Message)
	}
}

// A 1 ms interval over 6 h grouped by version and sentiment needs more
// histogram buckets than search.max_buckets allows, so the Elasticsearch
// source raises the step and says so. The frames must then be on the
// raised step's grid, exactly as if that step had been asked for.
func TestBinaryElasticsearchRaisedStep(t *testing.T) {
	es := esServer(t, corpus())
	pc := start(t)
	pctx := pluginContext(`{"defaultSource":"elasticsearch","elasticsearch":{"url":"`+es.URL+`"}}`, nil)
	const js = `{"queryType":"timeseries","groupBy":["model_version","sentiment"]}`
	raised := pc.query(t, pctx, nil, target("A", js, time.Millisecond)).Responses["A"]
	if raised.Error != nil {
		t.Fatal(raised.Error)
	}
	if len(raised.Frames) == 0 {
		t.Fatal("no frames")
	}
	var notices []string
	for _, n := range raised.Frames[0].Meta.Notices {
		notices = append(notices, n.Text)
	}
	if !strings.Contains(strings.Join(notices, "\n"), "The interval was raised from 1.964s to ") {
		t.Fatalf("no notice of the raised step: %q", notices)
	}
	times := raised.Frames[0].Fields[0]
	if times.Len() < 2 {
		t.Fatalf("%d points", times.Len())
	}
	step := times.At(1).(time.Time).Sub(times.At(0).(time.Time))
	if step <= 1964*time.Millisecond || step%(1964*time.Millisecond) != 0 {
		t.Fatalf("points %s apart, want a multiple of the asked 1.964s larger than it", step)
	}
	asked := pc.query(t, pctx, nil, target("A", js, step)).Responses["A"]
	if asked.Error != nil {
		t.Fatal(asked.Error)
	}
	if len(asked.Frames) != len(raised.Frames) {
		t.Fatalf("%d frames at the raised step, %d when asked for %s", len(raised.Frames), len(asked.Frames), step)
	}
	for i := range raised.Frames {
		r, a := *raised.Frames[i], *asked.Frames[i]
		rm, am := *r.Meta, *a.Meta
		rm.Notices, am.Notices = nil, nil
		r.Meta, a.Meta = &rm, &am
		if comparable(t, &r, "elasticsearch") != comparable(t, &a, "elasticsearch") {
			rt, _ := r.StringTable(10, -1)
			at, _ := a.StringTable(10, -1)
			t.Errorf("frame %d differs from asking for %s\n--- raised\n%s\n--- asked\n%s", i, step, rt, at)
		}
	}
}
