// Package estest is a test double of Elasticsearch 8.x over a file of
// events (one JSON event per line, as feedbackd delivers them), for tests
// of pkg/elastic and of the plugin binary. No Elasticsearch can run where
// the tests run; this double lets them compare the Elasticsearch path with
// recorded Loki answers over the same events.
//
// It implements, with the semantics the Elasticsearch reference documents,
// exactly the features pkg/elastic uses: GET / (with the X-Elastic-Product
// header the official client checks), GET <index>/_mapping/field/<fields>
// from the shipped index template, and POST <index>/_search with bool
// (filter, must_not, should, minimum_should_match), term, terms, range,
// wildcard, regexp (flags NONE) and exists queries, terms and
// date_histogram aggregations with the options pkg/elastic sets, sort,
// search_after, size, track_total_hits and _source includes. Anything else
// is refused with HTTP 400 and a reason naming what is not implemented, so
// a change in the DSL cannot pass through a lenient double unnoticed.
package estest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Version is the Elasticsearch version GET / reports.
const Version = "8.15.0"

// Request is one request as the double received it.
type Request struct {
	Method string
	Path   string // escaped path
	Query  string // raw query
	Body   []byte
}

// URL is the path with its query, as written in a request line.
func (r Request) URL() string {
	if r.Query == "" {
		return r.Path
	}
	return r.Path + "?" + r.Query
}

// Server answers like one Elasticsearch 8.x node holding the events as
// daily indices model-feedback-YYYY.MM.DD.
type Server struct {
	*httptest.Server
	mapping *mapping
	indices map[string][]*doc // daily index name → documents in file order
	names   []string          // index names, sorted

	mu       sync.Mutex
	requests []Request
	refused  []string
}

// New loads the events of eventsJSONLPath and starts the server. Each event
// is indexed as feedbackd's Elasticsearch sink writes it: into the daily
// index of its timestamp, under the sink's deterministic _id, with create
// semantics (a second event with the same _id in the same index is not
// indexed).
func New(eventsJSONLPath string) (*Server, error) {
	m, err := loadMapping()
	if err != nil {
		return nil, err
	}
	s := &Server{mapping: m, indices: map[string][]*doc{}}
	if err := s.load(eventsJSONLPath); err != nil {
		return nil, err
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

func (s *Server) load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		d, err := newDoc(append([]byte(nil), line...))
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		key := d.index + "/" + d.id
		if seen[key] {
			continue
		}
		seen[key] = true
		s.indices[d.index] = append(s.indices[d.index], d)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for name := range s.indices {
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	return nil
}

// documentID is the _id feedbackd gives (storage.DocumentID): feedback_id
// for feedback, correlation_id for interactions, resolution_id for
// resolutions, and for the events that refer to a feedback (which share its
// feedback_id) the kind, that id and a hash of the line.
func documentID(src map[string]any, line []byte) string {
	str := func(k string) string { v, _ := src[k].(string); return v }
	id, _, _ := storage.DocumentID(storage.IDParts{Kind: str("kind"), FeedbackID: str("feedback_id"),
		CorrelationID: str("correlation_id"), ResolutionID: str("resolution_id"), Line: line})
	return id
}

// Requests returns every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Refused returns, for every refused request, its request line and the
// reason, in order.
func (s *Server) Refused() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.refused...)
}

// Reset forgets the recorded requests and refusals.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.refused = nil, nil
}

// Docs is the number of documents indexed.
func (s *Server) Docs() int {
	n := 0
	for _, docs := range s.indices {
		n += len(docs)
	}
	return n
}

// esError is an Elasticsearch error answer: status and error type.
type esError struct {
	status     int
	typ        string
	reason     string
	index      string
	maxBuckets int
}

func (e *esError) Error() string { return e.reason }

// unsupported is the double's refusal: what it does not implement.
func unsupported(format string, args ...any) error {
	return &esError{status: http.StatusBadRequest, typ: "estest_unsupported",
		reason: "estest does not implement " + fmt.Sprintf(format, args...)}
}

// badRequest is an error real Elasticsearch answers too (with its type).
func badRequest(typ, format string, args ...any) error {
	return &esError{status: http.StatusBadRequest, typ: typ, reason: fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: body}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	out, err := s.route(req, r.URL)
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		e, ok := err.(*esError)
		if !ok {
			e = &esError{status: http.StatusBadRequest, typ: "estest_unsupported", reason: err.Error()}
		}
		if e.typ == "estest_unsupported" {
			s.mu.Lock()
			s.refused = append(s.refused, req.Method+" "+req.URL()+": "+e.reason)
			s.mu.Unlock()
		}
		cause := map[string]any{"type": e.typ, "reason": e.reason}
		if e.index != "" {
			cause["index"] = e.index
		}
		if e.maxBuckets != 0 {
			cause["max_buckets"] = e.maxBuckets
		}
		top := map[string]any{"root_cause": []any{cause}}
		for k, v := range cause {
			top[k] = v
		}
		out, _ = json.Marshal(map[string]any{"error": top, "status": e.status})
		w.WriteHeader(e.status)
		_, _ = w.Write(out)
		return
	}
	_, _ = w.Write(out)
}

func (s *Server) route(req Request, u *url.URL) ([]byte, error) {
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	switch {
	case req.Method == http.MethodGet && u.Path == "/":
		if err := onlyParams(u.Query()); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{
			"name": "estest", "cluster_name": "estest", "cluster_uuid": "estest",
			"version": map[string]any{"number": Version, "build_flavor": "default",
				"lucene_version": "9.11.1", "minimum_wire_compatibility_version": "7.17.0",
				"minimum_index_compatibility_version": "7.0.0"},
			"tagline": "You Know, for Search",
		})
	case len(parts) == 2 && parts[1] == "_search":
		if req.Method != http.MethodPost && req.Method != http.MethodGet {
			return nil, unsupported("%s on _search", req.Method)
		}
		q := u.Query()
		if err := onlyParams(q, "allow_no_indices", "ignore_unavailable"); err != nil {
			return nil, err
		}
		allowNo, err := boolParam(q, "allow_no_indices", true)
		if err != nil {
			return nil, err
		}
		ignoreUnavailable, err := boolParam(q, "ignore_unavailable", false)
		if err != nil {
			return nil, err
		}
		names, err := s.resolve(parts[0], allowNo, ignoreUnavailable)
		if err != nil {
			return nil, err
		}
		return s.search(names, req.Body)
	case req.Method == http.MethodGet && len(parts) == 4 && parts[1] == "_mapping" && parts[2] == "field":
		if err := onlyParams(u.Query()); err != nil {
			return nil, err
		}
		// The API's defaults: a pattern matching no index is not an error.
		names, err := s.resolve(parts[0], true, false)
		if err != nil {
			return nil, err
		}
		return s.fieldMapping(names, strings.Split(parts[3], ","))
	}
	return nil, unsupported("the endpoint %s %s", req.Method, u.Path)
}

func onlyParams(q url.Values, allowed ...string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return unsupported("the URL parameter %q", k)
		}
	}
	return nil
}

func boolParam(q url.Values, name string, def bool) (bool, error) {
	switch q.Get(name) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest("illegal_argument_exception", "Failed to parse value [%s] as only [true] or [false] are allowed.", q.Get(name))
}

// resolve expands an index expression (comma-separated names, * as a
// wildcard; already unescaped from the path) to the indices it names. As in Elasticsearch, a wildcard that
// matches nothing is an error only without allow_no_indices, a missing
// concrete index only without ignore_unavailable.
func (s *Server) resolve(expr string, allowNoIndices, ignoreUnavailable bool) ([]string, error) {
	set := map[string]bool{}
	for _, part := range strings.Split(expr, ",") {
		if part == "" || strings.HasPrefix(part, "-") || strings.HasPrefix(part, "_") || strings.ContainsAny(part, "<>") {
			return nil, unsupported("the index expression %q (only names and * patterns)", part)
		}
		if !strings.Contains(part, "*") {
			if _, ok := s.indices[part]; ok {
				set[part] = true
			} else if !ignoreUnavailable {
				return nil, &esError{status: http.StatusNotFound, typ: "index_not_found_exception", reason: "no such index [" + part + "]", index: part}
			}
			continue
		}
		matched := false
		for _, name := range s.names {
			if glob(part, name) {
				set[name] = true
				matched = true
			}
		}
		if !matched && !allowNoIndices {
			return nil, &esError{status: http.StatusNotFound, typ: "index_not_found_exception", reason: "no such index [" + part + "]", index: part}
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	sort.Strings(out)
	return out, nil
}

// glob matches a name against a pattern whose only operator is *.
func glob(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(name, p)
		}
		j := strings.Index(name, p)
		if j < 0 {
			return false
		}
		name = name[j+len(p):]
	}
	return name == ""
}

// dailyIndex is the index feedbackd's sink writes an event of time t to.
func dailyIndex(t time.Time) string { return storage.DailyIndex(storage.IndexPrefix, t) }
