package loki

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"text/scanner"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

const sel = `{service_name="model-feedback"}`

func logqlFor(t *testing.T, js string, interval time.Duration) string {
	t.Helper()
	s, err := ParseSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	q := mustQuery(t, js, interval)
	b := builder{sel: s, q: q.Query}
	switch q.Type {
	case query.Feedback:
		return b.base(true).String()
	case query.Timeseries:
		return b.countExpr(q.Step(), q.Tags)
	}
	return b.countExpr(q.Range(), q.Tags)
}

func TestLogQLPerOption(t *testing.T) {
	cases := []struct{ name, query, want string }{
		{"breakdown total", `{"queryType":"breakdown"}`,
			`sum(count_over_time({service_name="model-feedback",kind="feedback"}[6h]))`},
		{"sentiment is a stream matcher", `{"queryType":"breakdown","sentiment":"negative","groupBy":["model_version"]}`,
			`sum by (model_version) (count_over_time({service_name="model-feedback",kind="feedback",sentiment="negative"}[6h]))`},
		{"kind interaction", `{"queryType":"breakdown","kind":"interaction","groupBy":["model_id"]}`,
			`sum by (model_id) (count_over_time({service_name="model-feedback",kind="interaction"}[6h]))`},
		{"stream-label filters stay in the selector", `{"queryType":"breakdown","filters":[{"key":"model_version","operator":"=~","value":"2026-11-(01|10)\\..*"},{"key":"model_id","operator":"!=","value":"tax-assistant"}]}`,
			`sum(count_over_time({service_name="model-feedback",kind="feedback",model_version=~"2026-11-(01|10)\\..*",model_id!="tax-assistant"}[6h]))`},
		{"parsed-field filters and groups share one json stage", `{"queryType":"breakdown","groupBy":["user_role","attributes.domain"],"filters":[{"key":"severity","operator":"=","value":"critical"},{"key":"user_id","operator":"!~","value":"u-0.*"}]}`,
			`sum by (user_role, attributes_domain) (count_over_time({service_name="model-feedback",kind="feedback"} | json attributes_domain="attributes.domain", severity="severity", user_id="user.id", user_role="user.role" | severity="critical" | user_id!~"u-0.*" [6h]))`},
		{"one tag", `{"queryType":"breakdown","tags":["bias"]}`,
			`sum(count_over_time({service_name="model-feedback",kind="feedback"} | json tags="tags" | tags=~".*\"bias\".*" [6h]))`},
		{"tag filter rows", `{"queryType":"breakdown","filters":[{"key":"tag","operator":"!=","value":"latency"},{"key":"tag","operator":"=~","value":"hall.*"}]}`,
			`sum(count_over_time({service_name="model-feedback",kind="feedback"} | json tags="tags" | tags!~".*\"latency\".*" | tags=~".*\"(hall.*)\".*" [6h]))`},
		{"search", `{"queryType":"breakdown","search":"Refund (annual)"}`,
			`sum(count_over_time({service_name="model-feedback",kind="feedback"} | json comment="comment" | comment=~"(?is).*Refund \\(annual\\).*" [6h]))`},
		{"group by tag with reason", `{"queryType":"breakdown","groupBy":["reason","tag"],"tags":["bias","latency"]}`,
			`label_replace(sum by (reason) (count_over_time({service_name="model-feedback",kind="feedback"} | json reason="reason", tags="tags" | tags=~".*\"bias\".*" [6h])), "tag", "bias", "", "") or ` +
				`label_replace(sum by (reason) (count_over_time({service_name="model-feedback",kind="feedback"} | json reason="reason", tags="tags" | tags=~".*\"latency\".*" [6h])), "tag", "latency", "", "")`},
		{"feedback list with everything", `{"queryType":"feedback","sentiment":"negative","tags":["harmful","offensive"],"filters":[{"key":"correlation_id","operator":"=","value":"4bf92f3577b34da6a3ce929d0e0e4736"}],"search":"wrong"}`,
			`{service_name="model-feedback",kind="feedback",sentiment="negative"} | json comment="comment", correlation_id="correlation_id", tags="tags" | correlation_id="4bf92f3577b34da6a3ce929d0e0e4736" | tags=~".*\"(harmful|offensive)\".*" | comment=~"(?is).*wrong.*"`},
		{"timeseries step is the range window", `{"queryType":"timeseries","groupBy":["sentiment"]}`,
			`sum by (sentiment) (count_over_time({service_name="model-feedback",kind="feedback"}[5m]))`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := logqlFor(t, tc.query, 5*time.Minute); got != tc.want {
				t.Fatalf("LogQL\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// tokens splits LogQL the way a Go-style lexer (Loki's is one) does: a
// string literal is a single token whatever it contains.
func tokens(s string) []string {
	var sc scanner.Scanner
	sc.Init(strings.NewReader(s))
	sc.Mode = scanner.ScanIdents | scanner.ScanInts | scanner.ScanFloats | scanner.ScanStrings | scanner.ScanRawStrings
	sc.Error = func(*scanner.Scanner, string) {}
	var out []string
	for tok := sc.Scan(); tok != scanner.EOF; tok = sc.Scan() {
		if tok == scanner.String || tok == scanner.RawString {
			out = append(out, "STRING")
			continue
		}
		out = append(out, sc.TokenText())
	}
	return out
}

// A hostile value must change only the contents of one string literal: the
// token sequence of the query stays that of a benign value.
func TestHostileValuesCannotAlterLogQL(t *testing.T) {
	hostile := []string{
		`a"} | line_format "pwned`,
		"back`tick` |= \"x\"",
		`}` + "\n" + `{job="other"}`,
		`pipe | json | drop __error__`,
		`back\slash\"quote`,
		`regex.*+?()[]{}^$|\d`,
		`"; sum by (user_id) (`,
		"ünïcödé 日本 😀",
	}
	templates := []struct{ name, q string }{
		{"stream label filter", `{"queryType":"feedback","filters":[{"key":"model_version","operator":"=","value":%s}]}`},
		{"parsed field filter", `{"queryType":"breakdown","groupBy":["reason"],"filters":[{"key":"reason","operator":"!=","value":%s}]}`},
		{"search", `{"queryType":"timeseries","groupBy":["model_version"],"search":%s}`},
		{"tag filter", `{"queryType":"feedback","filters":[{"key":"tag","operator":"!=","value":%s}]}`},
	}
	for _, tpl := range templates {
		benign := logqlFor(t, strings.Replace(tpl.q, "%s", `"benign"`, 1), time.Minute)
		for _, v := range hostile {
			if tpl.name == "tag filter" {
				continue // tag values are validated against the tag pattern; see TestQueryRejects in pkg/query
			}
			js := strings.Replace(tpl.q, "%s", jsonString(v), 1)
			got := logqlFor(t, js, time.Minute)
			if a, b := tokens(got), tokens(benign); strings.Join(a, " ") != strings.Join(b, " ") {
				t.Errorf("%s with %q changed the query structure:\n got: %s\nwant the shape of: %s", tpl.name, v, got, benign)
			}
			if !strings.Contains(got, quoteForCheck(tpl.name, v)) {
				t.Errorf("%s: value %q not found as one escaped literal in %s", tpl.name, v, got)
			}
		}
	}
}

func quoteForCheck(kind, v string) string {
	if kind == "search" {
		return "" // regexp-quoted inside the literal; the token check covers it
	}
	return matcher("", "", v)
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestParseSelector(t *testing.T) {
	good := map[string]string{
		`{service_name="model-feedback"}`:                             `{service_name="model-feedback"}`,
		` { service_name = "model-feedback" , env=~"prod|staging" } `: `{service_name="model-feedback",env=~"prod|staging"}`,
		`{app="a\"b"}`: `{app="a\"b"}`,
	}
	for in, want := range good {
		s, err := ParseSelector(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := s.With(); got != want {
			t.Errorf("%s rendered %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{``, `service_name="x"`, `{}`, `{service_name="x"} | json`, `{a="x" b="y"}`, `{a=~"("}`, `{a="unterminated}`} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// recorder answers every request with an empty result of the right shape
// and remembers what it got.
type recorder struct {
	reqs []*http.Request
}

func (r *recorder) server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.reqs = append(r.reqs, req.Clone(context.Background()))
		w.Header().Set("Content-Type", "application/json")
		q := req.URL.Query().Get("query")
		switch {
		case req.URL.Path == "/loki/api/v1/query":
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[],"stats":{}}}`))
		case strings.HasPrefix(q, "{"):
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"streams","result":[],"stats":{}}}`))
		default:
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[],"stats":{}}}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRequestParametersPerQueryType(t *testing.T) {
	rec := &recorder{}
	srv := rec.server(t)
	c, err := New(models.Loki{URL: srv.URL + "/loki-prefix", Selector: sel, Tenant: "team-a", BasicAuthUser: "reader", Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := c.Breakdown(ctx, mustQuery(t, `{"queryType":"breakdown","groupBy":["model_version"]}`, time.Minute).Query); err != nil {
		t.Fatal(err)
	}
	// An interval of 1 ms over 6 h would be 21.6 M points: the step is
	// clamped to range/11,000 rounded UP to whole ms (1963.6 → 1964ms).
	if _, _, _, err := c.Timeseries(ctx, mustQuery(t, `{"queryType":"timeseries"}`, time.Millisecond).Query); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Feedback(ctx, mustQuery(t, `{"queryType":"feedback","limit":5000}`, time.Minute).Query); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		path   string
		params url.Values
	}{
		{"/loki-prefix/loki/api/v1/query", url.Values{"query": {`sum by (model_version) (count_over_time({service_name="model-feedback",kind="feedback"}[6h]))`}, "time": {"1795176000000000000"}}},
		{"/loki-prefix/loki/api/v1/query_range", url.Values{"query": {`sum(count_over_time({service_name="model-feedback",kind="feedback"}[1s964ms]))`},
			"start": {"1795154400000000000"}, "end": {"1795176000000000000"}, "step": {"1964ms"}}},
		{"/loki-prefix/loki/api/v1/query_range", url.Values{"query": {`{service_name="model-feedback",kind="feedback"}`},
			"start": {"1795154400000000000"}, "end": {"1795176000000000000"}, "limit": {"5000"}, "direction": {"backward"}}},
	}
	if len(rec.reqs) != len(want) {
		t.Fatalf("%d requests, want %d", len(rec.reqs), len(want))
	}
	for i, w := range want {
		r := rec.reqs[i]
		if r.Method != http.MethodGet || r.URL.Path != w.path || r.URL.Query().Encode() != w.params.Encode() {
			t.Errorf("request %d:\n got %s %s?%s\nwant GET %s?%s", i, r.Method, r.URL.Path, r.URL.RawQuery, w.path, w.params.Encode())
		}
		if r.Header.Get("X-Scope-OrgID") != "team-a" {
			t.Errorf("request %d: tenant header %q", i, r.Header.Get("X-Scope-OrgID"))
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "reader" || p != "s3cret" {
			t.Errorf("request %d: basic auth %q %q %v", i, u, p, ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	rec := &recorder{}
	srv := rec.server(t)
	c, err := New(models.Loki{URL: srv.URL, Selector: sel, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	// The recorder answers every path with a query envelope: only the
	// header of the request matters here, not the answer.
	_, _ = c.ModelIDs(context.Background(), winFrom, winTo)
	if len(rec.reqs) != 1 {
		t.Fatalf("%d requests", len(rec.reqs))
	}
	if got := rec.reqs[0].Header.Get("Authorization"); got != "Bearer tok" {
		t.Fatalf("Authorization %q", got)
	}
}

func TestLokiErrorsAreDownstreamAndReadable(t *testing.T) {
	body := "parse error at line 1, col 65: literal not terminated"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("query") {
		case "auth":
			http.Error(w, "no org id", http.StatusUnauthorized)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(body + "\n"))
		}
	}))
	defer srv.Close()
	c, _ := New(models.Loki{URL: srv.URL, Selector: sel})
	_, err := c.instant(context.Background(), "x", winTo)
	var le *Error
	if !errors.As(err, &le) || le.Status != 400 || le.Message != body {
		t.Fatalf("got %v", err)
	}
	if !read.IsDownstream(err) {
		t.Fatal("a Loki 400 must be a downstream error")
	}
	_, err = c.instant(context.Background(), "auth", winTo)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials (HTTP 401)") {
		t.Fatalf("got %v", err)
	}
	srv.Close()
	_, err = c.instant(context.Background(), "x", winTo)
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !read.IsDownstream(err) {
		t.Fatalf("got %v", err)
	}
}

// Custom tags are open-ended: grouping by tag without naming tags first asks
// Loki which tag arrays exist, then runs one leg per taxonomy and custom tag.
func TestTagDiscovery(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		queries = append(queries, q)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(q, "sum by (tags)") {
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[` +
				`{"metric":{"tags":"[\"hallucination\",\"bias\"]"},"value":[1795176000,"3"]},` +
				`{"metric":{"tags":"[\"outdated_rates\"]"},"value":[1795176000,"1"]},` +
				`{"metric":{"tags":"[\"Not A Tag\"]"},"value":[1795176000,"1"]},` +
				`{"metric":{"tags":"not json"},"value":[1795176000,"1"]}],"stats":{}}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[],"stats":{}}}`))
	}))
	defer srv.Close()
	c, _ := New(models.Loki{URL: srv.URL, Selector: sel})
	tags, err := c.Tags(context.Background(), winFrom, winTo)
	if err != nil {
		t.Fatal(err)
	}
	want := "bias,factually_incorrect,formatting_error,hallucination,harmful,latency,not_helpful,offensive,other,outdated_rates"
	if strings.Join(tags, ",") != want {
		t.Fatalf("tags %v", tags)
	}
	if queries[0] != `sum by (tags) (count_over_time({service_name="model-feedback",kind="feedback"} | json tags="tags" | tags!="[]" [6h]))` {
		t.Fatalf("discovery query %s", queries[0])
	}
	queries = nil
	if _, _, err := c.Breakdown(context.Background(), mustQuery(t, `{"queryType":"breakdown","groupBy":["tag"]}`, time.Minute).Query); err != nil {
		t.Fatal(err)
	}
	if len(queries) != 2 || strings.Count(queries[1], "label_replace(") != 10 || !strings.Contains(queries[1], `"tag", "outdated_rates"`) {
		t.Fatalf("legs: %v", queries)
	}
}

// The LogQL of the attribution dimensions, the edit measures and the
// versions plan, exactly.
func TestLogQLAttributionShapes(t *testing.T) {
	s, err := ParseSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	q := func(js string) read.Query { return mustQuery(t, js, time.Minute).Query }
	b := func(rq read.Query) builder { return builder{sel: s, q: rq} }
	sim := q(`{"queryType":"breakdown","groupBy":["params.verbosity"]}`)
	sim.Measure = read.MeasureEditSimilarity
	ratio := q(`{"queryType":"breakdown","groupBy":["model_version"],"filters":[{"key":"prompt_version","operator":"=~","value":"sp-\"2|3"}]}`)
	ratio.Measure = read.MeasureEditLengthRatio
	rel := read.Query{Kind: "feedback", From: from, To: to, Filters: []read.Filter{{Key: "model_id", Operator: "=", Value: "support-bot"}}}
	cases := []struct{ name, got, want string }{
		{"params and effective_version", b(q(`{"queryType":"breakdown","groupBy":["params.temperature"],"filters":[{"key":"effective_version","operator":"!=","value":"ev-1"}]}`)).countExpr(6*time.Hour, nil),
			`sum by (params_temperature) (count_over_time({service_name="model-feedback",kind="feedback"} | json effective_version="model.effective_version", params_temperature="context.params.temperature" | effective_version!="ev-1" [6h]))`},
		{"similarity count", b(sim).countExpr(6*time.Hour, nil),
			`sum by (params_verbosity) (count_over_time({service_name="model-feedback",kind="feedback"} | json edit_similarity="edit.similarity", params_verbosity="context.params.verbosity" | edit_similarity!="" [6h]))`},
		{"similarity sum", b(sim).sumExpr(6*time.Hour, nil),
			`sum by (params_verbosity) (sum_over_time({service_name="model-feedback",kind="feedback"} | json edit_similarity="edit.similarity", params_verbosity="context.params.verbosity" | edit_similarity!="" | unwrap edit_similarity | __error__="" [6h]))`},
		{"length ratio sum, a quote in a value stays inside its literal", b(ratio).sumExpr(time.Hour, nil),
			`sum by (model_version) (sum_over_time({service_name="model-feedback",kind="feedback"} | json edit_edited_chars="edit.edited_chars", edit_original_chars="edit.original_chars", prompt_version="context.prompt_version" | prompt_version=~"sp-\"2|3" | edit_original_chars!="" | edit_original_chars!="0" | edit_edited_chars!="" | label_format edit_length_ratio="{{ divf .edit_edited_chars .edit_original_chars }}" | unwrap edit_length_ratio | __error__="" [1h]))`},
		{"release times", b(rel).releasesExpr(rel.Range()),
			`min_over_time({service_name="model-feedback",kind="feedback",model_id="support-bot"} | json released_at="model.released_at" | label_format first_seen_ms="{{ __timestamp__ | unixEpochMillis }}" | unwrap first_seen_ms | __error__="" [6h]) by (model_id, model_version, released_at)`},
		{"tags per version", b(q(`{"queryType":"breakdown","tags":["bias"]}`)).versionTagsExpr(6 * time.Hour),
			`sum by (model_version, tags) (count_over_time({service_name="model-feedback",kind="feedback"} | json tags="tags" | tags=~".*\"bias\".*" | tags!="[]" [6h]))`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
}
