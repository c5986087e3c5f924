// Package trackertest holds strict stand-ins of the systems the escalation
// targets call: Jira (Cloud REST v3 and Data Center REST v2), Linear's
// GraphQL API, GitHub's REST API and a Slack incoming webhook. Each records
// every request, keeps the tickets it opened, answers with the shapes of the
// vendor's API reference, and refuses (with the vendor's status) what does
// not match the documented request shape or what it does not implement. The
// target tests and feedbackd's end-to-end test serve them on loopback.
package trackertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// Request is one recorded request.
type Request struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// Script makes a stand-in answer its next requests with these failures
// before behaving normally again.
type Failure struct {
	Status     int
	Body       string
	RetryAfter int // seconds; 0: no header
}

// recorder is what every stand-in shares.
type recorder struct {
	mu       sync.Mutex
	requests []Request
	script   []Failure
	// Crash, when set, is called after a ticket was stored and before the
	// answer is written: the moment a crash loses feedbackd's knowledge of
	// the ticket.
	Crash func()
}

// Fail queues failures for the next requests.
func (r *recorder) Fail(f ...Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, f...)
}

// Requests is a copy of what was received.
func (r *recorder) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// SetCrash sets Crash under the lock the handler reads it with.
func (r *recorder) SetCrash(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Crash = f
}

// record stores the request and reports a scripted failure, if any, which
// it has already written.
func (r *recorder) record(w http.ResponseWriter, req *http.Request) ([]byte, bool) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	r.mu.Lock()
	r.requests = append(r.requests, Request{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: string(body)})
	var f *Failure
	if len(r.script) > 0 {
		f = &r.script[0]
		r.script = r.script[1:]
	}
	r.mu.Unlock()
	if f != nil {
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		w.WriteHeader(f.Status)
		io.WriteString(w, f.Body)
		return nil, true
	}
	return body, false
}

func (r *recorder) crashPoint() {
	r.mu.Lock()
	crash := r.Crash
	r.mu.Unlock()
	if crash != nil {
		crash()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// strictDecode decodes JSON refusing unknown fields.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
