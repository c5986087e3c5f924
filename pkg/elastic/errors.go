package elastic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// Error is an answer from Elasticsearch other than success, reduced to the
// cause a user can act on.
type Error struct {
	Status int
	// Type is the most specific exception type found (for example
	// too_many_buckets_exception), Reason its message as Elasticsearch
	// wrote it.
	Type    string
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

// cause is one exception of an Elasticsearch error body; they nest through
// root_cause, caused_by and failed_shards[].reason.
type cause struct {
	Type         string  `json:"type"`
	Reason       string  `json:"reason"`
	Index        string  `json:"index"`
	MaxBuckets   int     `json:"max_buckets"`
	RootCause    []cause `json:"root_cause"`
	CausedBy     *cause  `json:"caused_by"`
	FailedShards []struct {
		Index  string `json:"index"`
		Reason cause  `json:"reason"`
	} `json:"failed_shards"`
}

// walk visits the cause and everything nested in it, depth first.
func (c *cause) walk(index string, f func(c *cause, index string)) {
	if c.Index != "" {
		index = c.Index
	}
	f(c, index)
	for i := range c.RootCause {
		c.RootCause[i].walk(index, f)
	}
	if c.CausedBy != nil {
		c.CausedBy.walk(index, f)
	}
	for i := range c.FailedShards {
		idx := c.FailedShards[i].Index
		if idx == "" {
			idx = index
		}
		c.FailedShards[i].Reason.walk(idx, f)
	}
}

// fielddataField finds the field named in the "text field" refusal, worded
// "Fielddata is disabled on text fields by default. Set fielddata=true on
// [reason] ..." up to 7.x and "Text fields are not optimised for operations
// ... set fielddata=true on [reason] ..." since.
var fielddataField = regexp.MustCompile(`fielddata=true on \[([^\]]+)\]`)

func isFielddata(c *cause) bool {
	return c.Type == "illegal_argument_exception" && fielddataField.MatchString(c.Reason)
}

// specific turns the causes into one readable error, or nil when none of
// them is one of the known, user-fixable kinds.
func specific(status int, top *cause, index string) *Error {
	var tooMany, fielddata, notFound *cause
	var fdIndex string
	top.walk(index, func(c *cause, idx string) {
		switch {
		case c.Type == "too_many_buckets_exception" && tooMany == nil:
			tooMany = c
		case isFielddata(c):
			// The root cause names no index; the same cause under
			// failed_shards does, and that is the index to fix.
			if fielddata == nil || fdIndex == index && idx != index {
				fielddata, fdIndex = c, idx
			}
		case c.Type == "index_not_found_exception" && notFound == nil:
			notFound = c
		}
	})
	switch {
	case tooMany != nil:
		limit := "search.max_buckets"
		if tooMany.MaxBuckets > 0 {
			limit = fmt.Sprintf("search.max_buckets (%d)", tooMany.MaxBuckets)
		}
		return &Error{Status: status, Type: tooMany.Type, Reason: tooMany.Reason, Message: fmt.Sprintf(
			"Elasticsearch refused to create more buckets than %s: shorten the time range, raise the interval or use fewer groupBy dimensions, or raise search.max_buckets (Elasticsearch: %s)",
			limit, tooMany.Reason)}
	case fielddata != nil:
		field := fielddataField.FindStringSubmatch(fielddata.Reason)[1]
		where := "in an index matching " + index
		if fdIndex != "" && fdIndex != index {
			where = "in index " + fdIndex
		}
		return &Error{Status: status, Type: fielddata.Type, Reason: fielddata.Reason, Message: fmt.Sprintf(
			"field %q is mapped as text %s, so Elasticsearch cannot group, filter by term or sort on it: install deploy/elasticsearch/index-template.json (PUT _index_template/model-feedback); indices created before keep their mapping until they are reindexed or the next daily index starts",
			field, where)}
	case notFound != nil:
		return &Error{Status: status, Type: notFound.Type, Reason: notFound.Reason, Message: fmt.Sprintf(
			"no index matches %q (Elasticsearch: %s): check elasticsearch.index and that feedbackd writes to this cluster",
			index, notFound.Reason)}
	}
	return nil
}

// httpError reads an error body ({"error": {...}, "status": n}, or a plain
// string in old versions and proxies) into a readable error.
func httpError(status int, body []byte, index string) *Error {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	var top cause
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		if json.Unmarshal(env.Error, &top) != nil {
			var s string
			if json.Unmarshal(env.Error, &s) == nil {
				top.Reason = s
			}
		}
	}
	if top.Type == "" && top.Reason == "" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		top.Reason = msg
	}
	if e := specific(status, &top, index); e != nil {
		return e
	}
	// The first root cause is the precise one ("failed to parse date
	// field", "unknown field"); the top level is often a generic
	// search_phase_execution_exception.
	main := &top
	if len(top.RootCause) > 0 && top.RootCause[0].Reason != "" {
		main = &top.RootCause[0]
	} else if top.Reason == "" && top.CausedBy != nil {
		main = top.CausedBy
	}
	e := &Error{Status: status, Type: main.Type, Reason: main.Reason}
	kind := ""
	if main.Type != "" {
		kind = ", " + main.Type
	}
	switch status {
	case http.StatusUnauthorized:
		e.Message = fmt.Sprintf("Elasticsearch refused the credentials (HTTP 401%s): %s. Check elasticsearch.basicAuthUser and its password, or the API key", kind, main.Reason)
	case http.StatusForbidden:
		e.Message = fmt.Sprintf("Elasticsearch denied access (HTTP 403%s): %s. The user or API key needs the read and view_index_metadata privileges on %s", kind, main.Reason, index)
	case http.StatusBadRequest:
		e.Message = fmt.Sprintf("Elasticsearch rejected the query (HTTP 400%s): %s", kind, main.Reason)
	case http.StatusTooManyRequests:
		e.Message = fmt.Sprintf("Elasticsearch is overloaded (HTTP 429%s): %s. Try again later", kind, main.Reason)
	default:
		e.Message = fmt.Sprintf("Elasticsearch answered HTTP %d%s: %s", status, kind, main.Reason)
	}
	return e
}

// shards is the _shards section of a search answer.
type shards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
	Failures   []struct {
		Index  string `json:"index"`
		Reason cause  `json:"reason"`
	} `json:"failures"`
}

// check turns shard failures inside a 200 into an error when they are the
// systematic kind (a mapping or a bucket limit: every retry fails the same
// way) or when no shard answered; partial answers are left to notices.
func (s shards) check(index string) error {
	if s.Failed == 0 {
		return nil
	}
	var all cause
	for _, f := range s.Failures {
		all.FailedShards = append(all.FailedShards, struct {
			Index  string `json:"index"`
			Reason cause  `json:"reason"`
		}{f.Index, f.Reason})
	}
	if e := specific(200, &all, index); e != nil && e.Type != "index_not_found_exception" {
		return e
	}
	if s.Successful == 0 {
		return &Error{Status: 200, Type: "shard_failures", Message: fmt.Sprintf("all %d shards of %s failed: %s", s.Total, index, s.reasons())}
	}
	return nil
}

func (s shards) reasons() string {
	seen := map[string]bool{}
	var out []string
	for _, f := range s.Failures {
		r := f.Reason.Type + ": " + f.Reason.Reason
		if f.Reason.CausedBy != nil && f.Reason.CausedBy.Reason != "" {
			r += " (" + f.Reason.CausedBy.Reason + ")"
		}
		if f.Index != "" {
			r = f.Index + ": " + r
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return "no reason given"
	}
	return strings.Join(out, "; ")
}

// notices reports what makes an answer partial.
func (r *searchResponse) notices() []read.Notice {
	var out []read.Notice
	if r.Shards.Failed > 0 {
		out = append(out, read.Notice{Severity: read.NoticeWarning, Text: fmt.Sprintf(
			"%d of %d Elasticsearch shards failed, so the counts are incomplete: %s", r.Shards.Failed, r.Shards.Total, r.Shards.reasons())})
	}
	if r.TimedOut {
		out = append(out, read.Notice{Severity: read.NoticeWarning, Text: "Elasticsearch timed out on some shards, so the counts are incomplete"})
	}
	return out
}
