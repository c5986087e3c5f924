// Package lokitest replays the recorded Loki responses of
// pkg/loki/testdata (recorded from a real Loki 3.x, see its README.md) for
// tests of the Loki client and of the plugin binary.
package lokitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Dir is the folder holding the recorded fixtures and manifest.json.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata")
}

type fixture struct {
	Name        string            `json:"name"`
	Path        string            `json:"path"`
	Endpoint    string            `json:"endpoint"`
	Params      map[string]string `json:"params"`
	Status      int               `json:"status"`
	ContentType string            `json:"content_type"`
}

// Server answers a request only with the fixture recorded for exactly the
// same endpoint and parameters; anything else is a 404 and is remembered, so
// a test can prove its client sent precisely the recorded request.
type Server struct {
	*httptest.Server
	byKey    map[string]fixture
	byName   map[string]fixture
	loose    map[string]fixture // health-check probes whose time is "now"
	mu       sync.Mutex
	requests []string
	missed   []string
	headers  []http.Header
}

// timeless lists the requests the health check sends with the current time:
// they are matched on everything but start/end/time.
var timeless = map[string]bool{
	"metric_health_vector": true,
	"meta_series":          true,
}

// New starts a replay server over the fixtures in dir.
func New(dir string) (*Server, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Fixtures []fixture `json:"fixtures"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	s := &Server{byKey: map[string]fixture{}, byName: map[string]fixture{}, loose: map[string]fixture{}}
	for _, f := range m.Fixtures {
		if f.Name == "pre_flush_count_by_kind_instant" || f.Name == "meta_index_stats_after_queries" {
			continue // same request as another fixture, recorded at another moment
		}
		s.byName[f.Name] = f
		v := url.Values{}
		for k, p := range f.Params {
			v.Set(k, p)
		}
		s.byKey[key(f.Endpoint, v)] = f
		if timeless[f.Name] {
			s.loose[key(f.Endpoint, withoutTime(v))] = f
		}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(dir, w, r)
	}))
	return s, nil
}

// Alias makes the server answer the request (endpoint, params) with the body
// recorded as fixture name: for a recorded answer whose request our client
// phrases differently (e.g. an empty result).
func (s *Server) Alias(name, endpoint string, params url.Values) error {
	f, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("no fixture %q", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byKey[key(endpoint, params)] = f
	return nil
}

func key(endpoint string, v url.Values) string {
	return endpoint + "?" + v.Encode() // Encode sorts by key
}

func withoutTime(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		if k != "start" && k != "end" && k != "time" {
			out[k] = vals
		}
	}
	return out
}

func (s *Server) serve(dir string, w http.ResponseWriter, r *http.Request) {
	k := key(r.URL.Path, r.URL.Query())
	s.mu.Lock()
	s.requests = append(s.requests, k)
	s.headers = append(s.headers, r.Header.Clone())
	f, ok := s.byKey[k]
	if !ok {
		f, ok = s.loose[key(r.URL.Path, withoutTime(r.URL.Query()))]
	}
	if !ok {
		s.missed = append(s.missed, k)
		noteMissed(dir, r)
	}
	s.mu.Unlock()
	if !ok && forward(dir, w, r) {
		return
	}
	if !ok {
		http.Error(w, "lokitest: no recorded response for "+k, http.StatusNotFound)
		return
	}
	body, err := os.ReadFile(filepath.Join(dir, f.Path))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", f.ContentType)
	w.WriteHeader(f.Status)
	_, _ = w.Write(body)
}

// Requests returns every request received, as "path?sorted-query".
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Headers returns the headers of every request received.
func (s *Server) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.headers...)
}

// Missed returns the requests no fixture answered, sorted.
func (s *Server) Missed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.missed...)
	sort.Strings(out)
	return out
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.missed, s.headers = nil, nil, nil
}

// Decode renders a recorded request key readably for failure messages.
func Decode(k string) string {
	if u, err := url.QueryUnescape(k); err == nil {
		return strings.ReplaceAll(u, "&", "\n    &")
	}
	return k
}

// forward answers an unrecorded request from a local Loki holding the
// recording's corpus, named in LOKITEST_UPSTREAM as
// <folder>=<url>[,<folder>=<url>] (folder: testdata, attribution), so that
// one test run lists every request a new recording needs, including those
// a query only sends once an earlier one was answered. Tests never set it.
func forward(dir string, w http.ResponseWriter, r *http.Request) bool {
	base := ""
	for _, kv := range strings.Split(os.Getenv("LOKITEST_UPSTREAM"), ",") {
		if folder, url, ok := strings.Cut(kv, "="); ok && folder == filepath.Base(dir) {
			base = url
		}
	}
	if base == "" {
		return false
	}
	resp, err := http.Get(base + r.URL.Path + "?" + r.URL.RawQuery)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return true
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return true
}

// noteMissed appends an unanswered request, as a JSON line of endpoint and
// params, to the file LOKITEST_MISSED.<folder>: the list a re-recording
// against a real Loki must add (pkg/loki/testdata/README.md).
func noteMissed(dir string, r *http.Request) {
	path := os.Getenv("LOKITEST_MISSED")
	if path == "" {
		return
	}
	path += "." + filepath.Base(dir)
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	line, _ := json.Marshal(map[string]any{"endpoint": r.URL.Path, "params": params})
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}

// RecordedRequests maps each fixture of dir to its recorded request, as
// Requests reports it (endpoint?query), so a test can assert that exactly the
// recorded request was sent.
func RecordedRequests(dir string) (map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Fixtures []fixture `json:"fixtures"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m.Fixtures))
	for _, f := range m.Fixtures {
		v := url.Values{}
		for k, p := range f.Params {
			v.Set(k, p)
		}
		out[f.Name] = f.Endpoint + "?" + v.Encode()
	}
	return out, nil
}
