package elastic

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// The corpus window of the recorded Loki fixtures.
var (
	winFrom = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	winTo   = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
)

// recorded is one request as the fake cluster saw it.
type recorded struct {
	Method string
	Path   string // escaped path
	Query  string // raw query
	Header http.Header
	Body   []byte
}

func (r recorded) URL() string {
	if r.Query == "" {
		return r.Path
	}
	return r.Path + "?" + r.Query
}

// fakeES answers like an Elasticsearch node: it sets the product header the
// official client checks, records every request and lets the test answer.
type fakeES struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newFakeES(t *testing.T, answer func(r recorded) (int, []byte)) *fakeES {
	t.Helper()
	f := &fakeES{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r := recorded{Method: req.Method, Path: req.URL.EscapedPath(), Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: body}
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.mu.Unlock()
		status, out := answer(r)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(out)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeES) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func newTestClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := New(models.Elastic{URL: url, Index: models.DefaultESIndex, TimeField: models.DefaultESTimeField})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parseQuery builds a query the way the plugin does, through query.Parse,
// so tests only use queries that pass validation.
func parseQuery(t *testing.T, js string, interval time.Duration) query.Query {
	t.Helper()
	q, err := query.Parse(backend.DataQuery{RefID: "A", JSON: []byte(js),
		TimeRange: backend.TimeRange{From: winFrom, To: winTo}, Interval: interval}, query.SourceElasticsearch)
	if err != nil {
		t.Fatalf("query %s: %v", js, err)
	}
	return q
}

// canonical re-encodes JSON with sorted keys and no insignificant space.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func assertJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if g, w := canonical(t, got), canonical(t, []byte(want)); g != w {
		var gi, wi bytes.Buffer
		_ = json.Indent(&gi, []byte(g), "", "  ")
		_ = json.Indent(&wi, []byte(w), "", "  ")
		t.Errorf("%s differs\n--- got\n%s\n--- want\n%s", what, gi.String(), wi.String())
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const emptySearch = `{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":0,"relation":"eq"},"max_score":null,"hits":[]}}`

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
