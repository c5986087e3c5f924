package elastic

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// Every failure is the downstream's, readable, names what to fix, and is
// not retried.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string // a testdata file, or the body itself
		typ    string
		want   []string
	}{
		{"401 credentials", 401, "es/error_401_security.json", "security_exception",
			[]string{"refused the credentials (HTTP 401, security_exception)", "unable to authenticate user [grafana]", "elasticsearch.basicAuthUser"}},
		{"403 privileges", 403, "es/error_403_security.json", "security_exception",
			[]string{"denied access (HTTP 403", "is unauthorized for user [grafana]", "read and view_index_metadata privileges on model-feedback-*"}},
		{"404 no index", 404, "es/error_404_index_not_found.json", "index_not_found_exception",
			[]string{`no index matches "model-feedback-*"`, "no such index [model-feedback-*]", "check elasticsearch.index"}},
		{"400 root cause", 400, "es/error_400_regex_too_long.json", "illegal_argument_exception",
			[]string{"rejected the query (HTTP 400, illegal_argument_exception): The length of regex [1204]"}},
		{"400 text field (8.x wording)", 400, "es/error_400_fielddata_es8.json", "illegal_argument_exception",
			[]string{`field "reason" is mapped as text in index model-feedback-2026.11.19`, "install deploy/elasticsearch/index-template.json (PUT _index_template/model-feedback)"}},
		{"400 text field (7.x wording)", 400, "es/error_400_fielddata_es7.json", "illegal_argument_exception",
			[]string{`field "tags" is mapped as text in index model-feedback-2026.11.18`, "PUT _index_template/model-feedback"}},
		{"503 too many buckets (7.17)", 503, "es/error_503_too_many_buckets_es7.json", "too_many_buckets_exception",
			[]string{"more buckets than search.max_buckets (65535)", "raise the interval"}},
		{"400 too many buckets (8.x)", 400, "es/error_400_too_many_buckets_es8.json", "too_many_buckets_exception",
			[]string{"more buckets than search.max_buckets (65536)"}},
		{"429 overloaded", 429, "es/error_429_rejected.json", "es_rejected_execution_exception",
			[]string{"overloaded (HTTP 429", "rejected execution of coordinating operation"}},
		{"502 from a proxy", 502, "<html><body>502 Bad Gateway</body></html>", "",
			[]string{"answered HTTP 502: <html><body>502 Bad Gateway</body></html>"}},
		{"200 with every shard failed", 200, "es/shards_all_failed_200.json", "shard_failures",
			[]string{"all 2 shards of model-feedback-* failed", `failed to create query: For input string: "x" (For input string: "x")`}},
		{"200 with a text-mapped field on one shard", 200, "es/shards_fielddata_200.json", "illegal_argument_exception",
			[]string{`field "model.version" is mapped as text in index model-feedback-2026.11.17`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			if strings.HasPrefix(tc.body, "es/") {
				body = readTestdata(t, tc.body)
			}
			es := newFakeES(t, func(recorded) (int, []byte) { return tc.status, body })
			c := newTestClient(t, es.URL)
			_, _, err := c.Breakdown(context.Background(), parseQuery(t, `{"groupBy":["model_version"]}`, time.Minute).Query)
			if err == nil {
				t.Fatal("no error")
			}
			if !read.IsDownstream(err) {
				t.Errorf("not marked downstream: %v", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Type != tc.typ {
				t.Errorf("error %T %v, want *Error of type %q", err, err, tc.typ)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
			if n := len(es.requests()); n != 1 {
				t.Errorf("%d requests: a failure must not be retried", n)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	q := query.Query{}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c := newTestClient(t, url)
		_, err := c.ModelIDs(context.Background(), winFrom, winTo)
		if err == nil || !read.IsDownstream(err) || !strings.Contains(err.Error(), "is unreachable") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("not Elasticsearch", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(emptySearch)) // no X-Elastic-Product header
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL)
		_, err := c.ModelIDs(context.Background(), winFrom, winTo)
		if err == nil || !read.IsDownstream(err) || !strings.Contains(err.Error(), "does not identify itself as Elasticsearch") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("an unsupported regexp is the query's error", func(t *testing.T) {
		c, _ := New(models.Elastic{URL: "http://127.0.0.1:1"})
		q = parseQuery(t, `{"filters":[{"key":"reason","operator":"=~","value":"\\bhall"}]}`, time.Minute)
		_, _, err := c.Breakdown(context.Background(), q.Query)
		var qe *query.Error
		if !errors.As(err, &qe) || qe.Field != "filters[0].value" {
			t.Errorf("err %v, want a query.Error on filters[0].value", err)
		}
	})
}
