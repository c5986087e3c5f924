package estest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
)

const search = "/model-feedback-*/_search?allow_no_indices=false&ignore_unavailable=true"

// The corpus of pkg/elastic's parity test.
var corpus = lokitest.CorpusPath()

func newServer(t *testing.T, path string) *Server {
	t.Helper()
	s, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func call(t *testing.T, s *Server, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, resp.Header, out
}

func errorType(out map[string]any) (string, string) {
	e, _ := out["error"].(map[string]any)
	typ, _ := e["type"].(string)
	reason, _ := e["reason"].(string)
	return typ, reason
}

func TestInfoIdentifiesAsElasticsearch(t *testing.T) {
	s := newServer(t, corpus)
	status, h, out := call(t, s, "GET", "/", "")
	if status != 200 || h.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("GET /: %d, product header %q", status, h.Get("X-Elastic-Product"))
	}
	if v := out["version"].(map[string]any)["number"]; v != Version {
		t.Errorf("version %v", v)
	}
}

// What the double does not implement is refused with 400 and a reason,
// and listed by Refused; errors Elasticsearch itself answers are not.
func TestRefusesWhatItDoesNotImplement(t *testing.T) {
	s := newServer(t, corpus)
	for _, tc := range []struct{ name, method, path, body, want string }{
		{"query type", "POST", search, `{"query":{"match_all":{}}}`, `the "match_all" query`},
		{"body key", "POST", search, `{"from":10,"size":1}`, "search.from"},
		{"bool must", "POST", search, `{"query":{"bool":{"must":[]}}}`, "bool.must"},
		{"regexp flags", "POST", search, `{"query":{"regexp":{"reason":{"value":"a.*","flags":"ALL"}}}}`, "regexp flags ALL"},
		{"regexp shorthand", "POST", search, `{"query":{"regexp":{"reason":{"value":"\\d+","flags":"NONE"}}}}`, `regexp shorthand \d`},
		{"term on text", "POST", search, `{"query":{"term":{"comment":"refund"}}}`, "term on the text field comment"},
		{"range format", "POST", search, `{"query":{"range":{"timestamp":{"gte":"now-1d"}}}}`, "range format"},
		{"terms agg option", "POST", search, `{"size":0,"aggs":{"by":{"terms":{"field":"kind","min_doc_count":0}}}}`, "terms.min_doc_count"},
		{"histogram unit", "POST", search, `{"size":0,"aggs":{"t":{"date_histogram":{"field":"timestamp","fixed_interval":"1h","min_doc_count":0,"format":"epoch_millis"}}}}`, "fixed_interval"},
		{"sort format", "POST", search, `{"sort":[{"timestamp":{"order":"desc"}}]}`, "sort.timestamp.format"},
		{"source pattern", "POST", search, `{"_source":{"includes":["model.*"]}}`, "_source.includes"},
		{"URL parameter", "POST", "/model-feedback-*/_search?typed_keys=true", `{}`, `"typed_keys"`},
		{"endpoint", "GET", "/_cat/indices", "", "/_cat/indices"},
		{"another script", "POST", search, `{"size":0,"aggs":{"s":{"sum":{"script":{"lang":"painless","source":"doc['score'].value * 2"}}}}}`, "only the edit length ratio"},
		{"numeric range with a format", "POST", search, `{"query":{"range":{"edit.original_chars":{"gt":0,"format":"strict_date_optional_time_nanos"}}}}`, "with a format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Reset()
			status, _, out := call(t, s, tc.method, tc.path, tc.body)
			typ, reason := errorType(out)
			if status != 400 || typ != "estest_unsupported" || !strings.Contains(reason, tc.want) {
				t.Errorf("%d %s %q, want 400 estest_unsupported naming %q", status, typ, reason, tc.want)
			}
			if r := s.Refused(); len(r) != 1 || !strings.Contains(r[0], tc.want) {
				t.Errorf("Refused() = %q", r)
			}
		})
	}
	t.Run("Elasticsearch's own errors", func(t *testing.T) {
		s.Reset()
		for _, tc := range []struct {
			path, body, typ string
			status          int
		}{
			{"/nothing-*/_search?allow_no_indices=false", `{}`, "index_not_found_exception", 404},
			{"/model-feedback-1999.01.01/_search", `{}`, "index_not_found_exception", 404},
			{search, `{"sort":[{"no_such_field":{"order":"asc"}}]}`, "query_shard_exception", 400},
			{search, `{"query":{"term":{"context.input":"x"}}}`, "query_shard_exception", 400},
			{search, `{"size":0,"aggs":{"s":{"min":{"field":"timestamp"},"aggs":{"x":{"sum":{"field":"score"}}}}}}`, "aggregation_initialization_exception", 400},
			{search, `{"size":0,"aggs":{"s":{"sum":{"field":"reason"}}}}`, "illegal_argument_exception", 400},
			{search, `{"query":{"regexp":{"reason":{"value":"` + strings.Repeat("a", 1001) + `","flags":"NONE"}}}}`, "illegal_argument_exception", 400},
			{search, `{"size":0,"aggs":{"t":{"date_histogram":{"field":"timestamp","fixed_interval":"1ms","offset":"+0ms","min_doc_count":0,"format":"epoch_millis","extended_bounds":{"min":0,"max":100000}}}}}`, "too_many_buckets_exception", 400},
		} {
			status, _, out := call(t, s, "POST", tc.path, tc.body)
			if typ, reason := errorType(out); status != tc.status || typ != tc.typ {
				t.Errorf("%s %s: %d %s %q, want %d %s", tc.path, tc.body[:min(len(tc.body), 80)], status, typ, reason, tc.status, tc.typ)
			}
		}
		if r := s.Refused(); len(r) != 0 {
			t.Errorf("Refused() = %q", r)
		}
	})
}

// Lucene regexp with flags NONE, read by the double the way Lucene's
// RegExp parses it: whole-value matches, . across newlines, "..." quoting,
// and @ # < > ~ & as plain characters.
func TestLuceneRegexp(t *testing.T) {
	for _, tc := range []struct {
		pattern  string
		match    []string
		nonMatch []string
	}{
		{"hall.*", []string{"hall", "hallucination", "hall\nx"}, []string{"xhall", "Hall"}},
		{"(ta(.)*|bi((l)+)ing)", []string{"tax", "billing", "biling"}, []string{"biing", "xtax"}},
		{`a\.b\*`, []string{"a.b*"}, []string{"axb*", "a.bb"}},
		{`"a.b*"`, []string{"a.b*"}, []string{"axb"}},
		{"a@b#c~d&e<f>", []string{"a@b#c~d&e<f>"}, []string{"ab"}},
		{"[^a]", []string{"b", "\n"}, []string{"a", ""}},
		{"[a-c\\-]x", []string{"bx", "-x"}, []string{"dx"}},
		{"a{2,3}", []string{"aa", "aaa"}, []string{"a", "aaaa"}},
		{"a{2,}", []string{"aa", "aaaaa"}, []string{"a"}},
		{"()", []string{""}, []string{"a"}},
		{"", []string{""}, []string{"a"}},
		{"\\\n", []string{"\n"}, []string{"n"}},
	} {
		re, err := luceneRegexp(tc.pattern)
		if err != nil {
			t.Errorf("%q: %v", tc.pattern, err)
			continue
		}
		for _, m := range tc.match {
			if !re.MatchString(m) {
				t.Errorf("%q does not match %q", tc.pattern, m)
			}
		}
		for _, m := range tc.nonMatch {
			if re.MatchString(m) {
				t.Errorf("%q matches %q", tc.pattern, m)
			}
		}
	}
	for _, bad := range []string{"(a", "[a", "a{x}", "a|", `"a`, "[b-a]"} {
		if _, err := luceneRegexp(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}

func TestSearchSemantics(t *testing.T) {
	dir := t.TempDir()
	events := strings.Join([]string{
		`{"kind":"interaction","correlation_id":"c1","timestamp":"2026-11-20T08:00:00.000000001Z","model":{"id":"m","version":"v1"},"context":{"params":{"temperature":0.9,"top_p":1.0,"max_tokens":1024}},"extra":"x"}`,
		`{"kind":"feedback","feedback_id":"f1","correlation_id":"c1","timestamp":"2026-11-20T08:00:00.000000001Z","model":{"id":"m","version":"v1"},"tags":["b","a"],"attributes":{"domain":"tax"},"comment":"Refund\nplease"}`,
		`{"kind":"review","feedback_id":"f1","correlation_id":"c1","timestamp":"2026-11-20T09:00:00Z","model":{"id":"m","version":"v2"},"tags":[]}`,
		// The same feedback redelivered: feedbackd's create keeps the first.
		`{"kind":"feedback","feedback_id":"f1","correlation_id":"c1","timestamp":"2026-11-20T08:00:00.000000001Z","model":{"id":"m","version":"v1"}}`,
		`{"kind":"feedback","feedback_id":"f2","correlation_id":"c2","timestamp":"2026-11-21T10:00:00Z","model":{"id":"m","version":"v2"},"attributes":{"channel":"web"}}`,
	}, "\n")
	path := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(path, []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newServer(t, path)
	if s.Docs() != 4 {
		t.Fatalf("%d documents, want 4 (the redelivery is not indexed)", s.Docs())
	}
	hitsOf := func(body string) []map[string]any {
		t.Helper()
		status, _, out := call(t, s, "POST", search, body)
		if status != 200 {
			t.Fatalf("%s: %d %v", body, status, out)
		}
		var list []map[string]any
		for _, h := range out["hits"].(map[string]any)["hits"].([]any) {
			list = append(list, h.(map[string]any))
		}
		return list
	}
	ids := func(hits []map[string]any) string {
		var out []string
		for _, h := range hits {
			id := h["_id"].(string)
			if strings.HasPrefix(id, "review:f1:") {
				id = "review" // kind, feedback_id and a hash of the line
			}
			out = append(out, id)
		}
		return strings.Join(out, ",")
	}
	sortSpec := `"sort":[{"timestamp":{"order":"asc","format":"strict_date_optional_time_nanos"}},{"kind":{"order":"desc","missing":"_last","unmapped_type":"keyword"}},{"feedback_id":{"order":"desc","missing":"_last","unmapped_type":"keyword"}}]`

	all := hitsOf(`{"size":10,` + sortSpec + `}`)
	if got := ids(all); got != "c1,f1,review,f2" {
		t.Errorf("order %s", got)
	}
	if sv := all[0]["sort"].([]any); sv[0] != "2026-11-20T08:00:00.000000001Z" || sv[2] != nil {
		t.Errorf("sort values %v: want the formatted nanoseconds and null for the missing id", sv)
	}
	if all[0]["_index"] != "model-feedback-2026.11.20" || all[3]["_index"] != "model-feedback-2026.11.21" {
		t.Errorf("indices %v %v", all[0]["_index"], all[3]["_index"])
	}
	// search_after resumes after a null sort value.
	if got := ids(hitsOf(`{"size":10,` + sortSpec + `,"search_after":["2026-11-20T08:00:00.000000001Z","interaction",null]}`)); got != "f1,review,f2" {
		t.Errorf("after the interaction: %s", got)
	}
	// _source keeps the indexed bytes and their order, filtered to the
	// included keys.
	raw := hitsOf(`{"size":1,` + sortSpec + `,"_source":{"includes":["kind","context"]}}`)[0]["_source"]
	b, _ := json.Marshal(raw)
	if !bytes.Contains(b, []byte(`"temperature"`)) || bytes.Contains(b, []byte(`"extra"`)) {
		t.Errorf("_source %s", b)
	}
	req, _ := http.NewRequest("POST", s.URL+search, strings.NewReader(`{"size":1,`+sortSpec+`,"_source":{"includes":["context"]}}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`{"params":{"temperature":0.9,"top_p":1.0,"max_tokens":1024}}`)) {
		t.Errorf("_source was re-encoded: %s", body)
	}

	for _, tc := range []struct{ query, want string }{
		{`{"terms":{"tags":["a","zz"]}}`, "f1"},
		{`{"bool":{"must_not":[{"exists":{"field":"tags"}}]}}`, "c1,review,f2"}, // [] indexes nothing
		{`{"wildcard":{"comment.keyword":{"value":"*REFUND*","case_insensitive":true}}}`, "f1"},
		{`{"wildcard":{"comment.keyword":{"value":"*REFUND*"}}}`, ""},
		{`{"regexp":{"attributes.domain":{"value":"t.x","flags":"NONE"}}}`, "f1"},
		{`{"term":{"no_such_field":"x"}}`, ""}, // unmapped: matches nothing
		{`{"term":{"extra":"x"}}`, ""},         // dynamic: false, so not indexed
		{`{"bool":{"filter":[{"term":{"kind":"feedback"}}],"should":[{"term":{"model.version":"nope"}}]}}`, "f1,f2"},
		{`{"bool":{"should":[{"term":{"model.version":"v2"}},{"term":{"kind":"interaction"}}],"minimum_should_match":1}}`, "c1,review,f2"},
		{`{"range":{"timestamp":{"gt":"2026-11-20T08:00:00.000000001Z","lte":"2026-11-20T09:00:00Z","format":"strict_date_optional_time_nanos"}}}`, "review"},
	} {
		if got := ids(hitsOf(`{"size":10,` + sortSpec + `,"query":` + tc.query + `}`)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.query, got, tc.want)
		}
	}

	// Terms: counts, missing, include, size and sum_other_doc_count.
	status, _, out := call(t, s, "POST", search, `{"size":0,"track_total_hits":true,"aggs":{"by":{"terms":{"field":"tags","size":1,"missing":"-"}}}}`)
	if status != 200 {
		t.Fatal(out)
	}
	by := out["aggregations"].(map[string]any)["by"].(map[string]any)
	if b, _ := json.Marshal(by); string(b) != `{"buckets":[{"doc_count":3,"key":"-"}],"doc_count_error_upper_bound":0,"sum_other_doc_count":2}` {
		t.Errorf("terms %s", b)
	}
	if total := out["hits"].(map[string]any)["total"]; total.(map[string]any)["value"] != 4.0 {
		t.Errorf("total %v", total)
	}

	// The mapping lists the template's fields and the attribute keys each
	// index's documents brought.
	status, _, out = call(t, s, "GET", "/model-feedback-*/_mapping/field/attributes.*,timestamp", "")
	if status != 200 {
		t.Fatal(out)
	}
	b, _ = json.Marshal(out)
	for _, want := range []string{
		`"model-feedback-2026.11.20":{"mappings":{"attributes.domain":{"full_name":"attributes.domain","mapping":{"domain":{"ignore_above":1024,"type":"keyword"}}}`,
		`"model-feedback-2026.11.21":{"mappings":{"attributes.channel":`,
		`"timestamp":{"full_name":"timestamp","mapping":{"timestamp":{"format":"strict_date_optional_time_nanos","type":"date_nanos"}}}`,
	} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("mapping %s\nlacks %s", b, want)
		}
	}
	if r := s.Refused(); len(r) != 0 {
		t.Errorf("refused %q", r)
	}
}
