// Package esbulk delivers spooled events to Elasticsearch with the Bulk API
// and per-item acknowledgement.
//
// Every event is written with a `create` action under a deterministic _id, so
// a redelivered event answers 409 version_conflict and counts as delivered:
// the collector's at-least-once delivery never produces duplicates
// (docs/storage.md, §5).
package esbulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/tidwall/gjson"

	elastictemplate "github.com/feedbackloop/modelfeedback/deploy/elasticsearch"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Name is the sink's name in logs and in feedbackd_delivery_total{sink}.
const Name = "elasticsearch"

const (
	// DefaultIndex is the index prefix; events go to daily indices
	// <prefix>-YYYY.MM.DD, which the shipped template's pattern matches.
	DefaultIndex = storage.IndexPrefix
	// DefaultTimeout bounds one HTTP request when Config.Timeout is zero.
	// Bulk requests of a few MiB need more headroom than a Loki push.
	DefaultTimeout = 30 * time.Second

	// maxIDBytes is Elasticsearch's _id limit. An over-long _id fails the
	// whole bulk request (action_request_validation_exception), not one item,
	// so it is caught here.
	maxIDBytes = 512
	// maxErrorBytes caps error bodies kept for messages and reasons.
	maxErrorBytes = 4096
	// maxResponseBytes bounds a bulk response; ~300 bytes per item at most
	// a few thousand items per batch stays far below it.
	maxResponseBytes = 64 << 20
)

// Config configures an Elasticsearch sink.
type Config struct {
	// URL is the Elasticsearch base URL (e.g. http://elasticsearch:9200).
	URL string
	// Index is the index prefix; empty means DefaultIndex.
	Index string
	// Username and Password select HTTP basic auth; APIKey (the base64
	// "id:key" form Elasticsearch hands out) selects API key auth. At most
	// one of the two may be configured.
	Username, Password string
	APIKey             string
	// InstallTemplate makes the sink PUT the shipped index template (see
	// deploy/elasticsearch) before its first bulk request and on Ping, so
	// daily indices are never created with dynamic mappings.
	InstallTemplate bool
	// Timeout bounds each HTTP request, including reading the response.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// HTTPClient supplies the transport (TLS, proxies). Only its Transport
	// is used, because go-elasticsearch takes a RoundTripper; Timeout is
	// what bounds requests.
	HTTPClient *http.Client
}

// Sink writes batches to Elasticsearch. It is safe for concurrent use.
type Sink struct {
	es           *elasticsearch.Client
	prefix       string
	timeout      time.Duration
	install      bool
	templateName string
	templateBody []byte

	mu        sync.Mutex
	installed bool
}

var (
	_ sink.Concurrent = (*Sink)(nil)
	_ sink.Preparer   = (*Sink)(nil)
)

// DeliversConcurrently implements sink.Concurrent: bulk requests share
// nothing but the client and the once-only template installation, which mu
// guards. Items of concurrent bulks are independent creates by _id, so their
// order does not matter.
func (s *Sink) DeliversConcurrently() {}

// New validates cfg and returns a Sink. It does not contact Elasticsearch;
// the template, when requested, is installed by the first Ping or Deliver.
func New(cfg Config) (*Sink, error) {
	base, err := parseBaseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	prefix := cfg.Index
	if prefix == "" {
		prefix = DefaultIndex
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("elasticsearch: timeout must not be negative, got %s", cfg.Timeout)
	}
	if cfg.APIKey != "" && (cfg.Username != "" || cfg.Password != "") {
		return nil, errors.New("elasticsearch: configure either basic auth (username/password) or an API key, not both")
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("elasticsearch: a password is set but no username")
	}

	var transport http.RoundTripper
	if cfg.HTTPClient != nil {
		transport = cfg.HTTPClient.Transport
	}
	if transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// net/http keeps 2 idle connections per host by default; with
		// several bulks in flight the others would be closed after each
		// request and dialled anew.
		t.MaxIdleConnsPerHost = sink.MaxIdleConnsPerHost
		transport = t
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: []string{base},
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		Transport: transport,
		// The delivery loop owns retries and backoff; client-side retries
		// would multiply the Timeout and hide outages from its metrics.
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}

	s := &Sink{
		es:      es,
		prefix:  prefix,
		timeout: cfg.Timeout,
		install: cfg.InstallTemplate,
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if cfg.InstallTemplate {
		s.templateName, s.templateBody, err = templateFor(prefix)
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func parseBaseURL(raw string) (string, error) {
	u, err := sink.ParseBaseURL("elasticsearch", raw, "username/password or API key")
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// validatePrefix applies Elasticsearch's index name rules up front: a bad
// name would otherwise fail every bulk item and dead-letter every event.
func validatePrefix(p string) error {
	if p != strings.ToLower(p) {
		return fmt.Errorf("elasticsearch: index prefix %q must be lowercase", p)
	}
	if strings.ContainsAny(p, `\/*?"<>| ,#:`) {
		return fmt.Errorf("elasticsearch: index prefix %q contains a character Elasticsearch forbids in index names (\\ / * ? \" < > | space , # :); it is a prefix, not a pattern", p)
	}
	if strings.HasPrefix(p, "-") || strings.HasPrefix(p, "_") || strings.HasPrefix(p, "+") || p == "." || p == ".." {
		return fmt.Errorf("elasticsearch: index prefix %q must not start with -, _ or +", p)
	}
	if len(p)+len("-2006.01.02") > 255 {
		return fmt.Errorf("elasticsearch: index prefix %q is too long", p)
	}
	return nil
}

// templateFor returns the template name and body for prefix. The shipped
// template covers the default prefix; a custom prefix gets the same mappings
// under its own name and pattern, so it neither misses the template nor
// collides with another installation's.
func templateFor(prefix string) (string, []byte, error) {
	if prefix == DefaultIndex {
		return elastictemplate.Name, elastictemplate.IndexTemplate, nil
	}
	var tpl map[string]json.RawMessage
	if err := json.Unmarshal(elastictemplate.IndexTemplate, &tpl); err != nil {
		return "", nil, fmt.Errorf("elasticsearch: shipped index template: %w", err)
	}
	patterns, err := json.Marshal([]string{prefix + "-*"})
	if err != nil {
		return "", nil, err
	}
	tpl["index_patterns"] = patterns
	body, err := json.Marshal(tpl)
	if err != nil {
		return "", nil, err
	}
	return prefix, body, nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return Name }

// doc is one record ready for the bulk body.
type doc struct {
	seq    uint64
	action []byte // the create action line, without the newline
	source []byte
}

// Deliver writes batch with one bulk request. It returns nil only when every
// item was created or already existed, a *sink.RejectedError when the only
// failures are permanent, and any other error when the batch must be retried
// as a whole (harmless: already created items answer 409).
func (s *Sink) Deliver(ctx context.Context, batch []sink.Record) error {
	return s.Prepare(batch).Send(ctx)
}

// Prepare implements sink.Preparer: the documents and the bulk body.
func (s *Sink) Prepare(batch []sink.Record) sink.Prepared {
	p := &prepared{s: s}
	indices := map[int64]string{} // by UTC day: a batch spans one or two
	p.docs, p.rejections = sink.Split(batch, func(rec sink.Record) (doc, error) { return s.prepare(rec, indices) })
	p.body = bulkBody(p.docs)
	return p
}

// prepared is a batch ready for one bulk request: body holds all of docs.
type prepared struct {
	s          *Sink
	docs       []doc
	rejections []sink.Rejection
	body       []byte
}

func (p *prepared) Send(ctx context.Context) error {
	rejections := p.rejections
	if len(p.docs) > 0 {
		if err := p.s.ensureTemplate(ctx); err != nil {
			return err
		}
		refused, err := p.s.bulkIsolating(ctx, p.docs, p.body)
		if err != nil {
			return err
		}
		rejections = append(slices.Clip(rejections), refused...)
	}
	return sink.Rejected(rejections)
}

func (s *Sink) prepare(rec sink.Record, indices map[int64]string) (doc, error) {
	ev, err := sink.ReadFields("elasticsearch", rec.Line)
	if err != nil {
		return doc{}, err
	}
	ts, err := sink.EventTime("elasticsearch", ev.Timestamp)
	if err != nil {
		return doc{}, err
	}
	id, err := documentID(ev, rec.Line)
	if err != nil {
		return doc{}, err
	}
	day := ts.Unix() / 86400 // EventTime: never before 1970
	index, ok := indices[day]
	if !ok {
		index = storage.DailyIndex(s.prefix, ts)
		indices[day] = index
	}
	action, err := createAction(index, id)
	if err != nil {
		return doc{}, fmt.Errorf("elasticsearch: encode bulk action: %w", err)
	}
	source := rec.Line
	// Two memchr scans: bytes.ContainsAny goes byte by byte, and was a fifth
	// of preparing a bulk in feedbackd-bench -mode delivery -cpuprofile.
	if bytes.IndexByte(source, '\n') >= 0 || bytes.IndexByte(source, '\r') >= 0 {
		// The bulk body is newline-delimited; a pretty-printed event would
		// corrupt every action after it. Compacting only drops whitespace.
		var buf bytes.Buffer
		if err := json.Compact(&buf, source); err != nil {
			return doc{}, fmt.Errorf("elasticsearch: compact event: %v", err)
		}
		source = buf.Bytes()
	}
	return doc{seq: rec.Seq, action: action, source: source}, nil
}

// createAction is the bulk action line {"create":{"_index":…,"_id":…}}.
// Index names and almost every _id (ULIDs, trace ids) need no escaping
// and are written as they are; anything else goes through encoding/json.
func createAction(index, id string) ([]byte, error) {
	if plain(index) && plain(id) {
		b := make([]byte, 0, len(`{"create":{"_index":"","_id":""}}`)+len(index)+len(id))
		b = append(b, `{"create":{"_index":"`...)
		b = append(b, index...)
		b = append(b, `","_id":"`...)
		b = append(b, id...)
		return append(b, `"}}`...), nil
	}
	return json.Marshal(bulkAction{Create: bulkMeta{Index: index, ID: id}})
}

// plain reports a string that JSON writes as it is between quotes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

type bulkAction struct {
	Create bulkMeta `json:"create"`
}

type bulkMeta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// documentID returns the event's _id by the storage contract
// (storage.DocumentID), bounded by Elasticsearch's limit.
func documentID(ev sink.Fields, line []byte) (string, error) {
	id, field, err := storage.DocumentID(storage.IDParts{Kind: ev.Kind, FeedbackID: ev.FeedbackID,
		CorrelationID: ev.CorrelationID, ResolutionID: ev.ResolutionID, Line: line})
	if err != nil {
		return "", fmt.Errorf("elasticsearch: %w", err)
	}
	if len(id) > maxIDBytes {
		return "", fmt.Errorf("elasticsearch: document _id from %s is %d bytes, over Elasticsearch's limit of %d", field, len(id), maxIDBytes)
	}
	return id, nil
}

// bulkIsolating sends docs, bisecting when Elasticsearch refuses the whole
// request for its content (400/413).
// body is the bulk body of all of docs, which Isolate sends first.
func (s *Sink) bulkIsolating(ctx context.Context, docs []doc, body []byte) ([]sink.Rejection, error) {
	return sink.Isolate(ctx, docs, func(d doc) uint64 { return d.seq },
		func(ctx context.Context, ds []doc) ([]sink.Rejection, string, error) {
			b := body
			if len(ds) != len(docs) {
				b = bulkBody(ds)
			}
			return s.bulk(ctx, ds, b)
		})
}

// bulkBody is the newline-delimited action and source of each doc.
func bulkBody(docs []doc) []byte {
	size := 0
	for _, d := range docs {
		size += len(d.action) + len(d.source) + 2
	}
	body := make([]byte, 0, size)
	for _, d := range docs {
		body = append(body, d.action...)
		body = append(body, '\n')
		body = append(body, d.source...)
		body = append(body, '\n')
	}
	return body
}

// bulkItem is what the sink needs of one item of a bulk response.
type bulkItem struct {
	Status int
	Error  *esError
}

// errItems marks a response that is JSON but does not answer the actions.
var errItems = errors.New("elasticsearch bulk")

// readItems reads the create results of a bulk response to n actions.
//
// Why gjson rather than encoding/json: Elasticsearch answers every item
// with its index, id, version, shards and sequence numbers (about 200
// bytes), of which only the status and an error matter here; decoding all
// of that into maps cost more than building the request.
func readItems(r io.Reader, n int) ([]bulkItem, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxResponseBytes))
	if err != nil {
		return nil, err
	}
	if !gjson.ValidBytes(body) {
		return nil, errors.New("the response is not JSON")
	}
	arr := gjson.GetBytes(body, "items")
	if !arr.IsArray() {
		return nil, fmt.Errorf("%w: the response has no items", errItems)
	}
	items := make([]bulkItem, 0, n)
	var bad error
	arr.ForEach(func(_, entry gjson.Result) bool {
		i := len(items)
		keys := 0
		var create gjson.Result
		entry.ForEach(func(k, v gjson.Result) bool {
			keys++
			if k.Str == "create" {
				create = v
			}
			return true
		})
		status := create.Get("status")
		if keys != 1 || !create.IsObject() || status.Type != gjson.Number {
			bad = fmt.Errorf("%w: item %d is not a create result", errItems, i)
			return false
		}
		item := bulkItem{Status: int(status.Int())}
		if e := create.Get("error"); e.Exists() {
			item.Error = &esError{}
			if e.IsObject() {
				if err := json.Unmarshal([]byte(e.Raw), item.Error); err != nil {
					bad = fmt.Errorf("%w: item %d has an unreadable error: %v", errItems, i, err)
					return false
				}
			} else {
				item.Error.Reason = e.String()
			}
		}
		items = append(items, item)
		return true
	})
	if bad != nil {
		return nil, bad
	}
	if len(items) != n {
		return nil, fmt.Errorf("%w: response has %d items for %d actions", errItems, len(items), n)
	}
	return items, nil
}

type esError struct {
	Type     string   `json:"type"`
	Reason   string   `json:"reason"`
	CausedBy *esError `json:"caused_by"`
}

func (e *esError) String() string {
	if e == nil {
		return ""
	}
	s := e.Type
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.String() + ")"
	}
	return s
}

// bulk sends one bulk request. It returns per-item rejections when every
// other item succeeded; a non-empty requestReason when the request as a whole
// was refused for its content; an error when anything must be retried.
func (s *Sink) bulk(ctx context.Context, docs []doc, body []byte) (refused []sink.Rejection, requestReason string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := esapi.BulkRequest{
		Body:   bytes.NewReader(body),
		Header: http.Header{"Content-Type": {"application/x-ndjson"}},
	}.Do(ctx, s.es)
	if err != nil {
		return nil, "", s.transportError(ctx, "bulk", err)
	}
	defer res.Body.Close()

	if res.StatusCode < 200 || res.StatusCode >= 300 {
		text := readError(res.Body)
		switch res.StatusCode {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			return nil, fmt.Sprintf("elasticsearch: HTTP %d: %s", res.StatusCode, text), nil
		default:
			return nil, "", statusError("bulk", res.StatusCode, text)
		}
	}

	items, err := readItems(res.Body, len(docs))
	if err != nil {
		if errors.Is(err, errItems) {
			return nil, "", err
		}
		return nil, "", s.transportError(ctx, "bulk: read response", err)
	}
	var (
		retry      int
		firstRetry string
	)
	for i, item := range items {
		switch outcome(item.Status) {
		case itemOK:
		case itemRejected:
			refused = append(refused, sink.Rejection{
				Seq:    docs[i].seq,
				Reason: fmt.Sprintf("elasticsearch: %d %s", item.Status, item.Error),
			})
		default:
			retry++
			if firstRetry == "" {
				firstRetry = fmt.Sprintf("%d %s", item.Status, item.Error)
				if hint := statusHint(item.Status); hint != "" {
					firstRetry += hint
				}
			}
		}
	}
	if retry > 0 {
		// Items refused permanently in this response will be refused again on
		// the retry and reported then; the contract only allows a
		// RejectedError when everything else was accepted.
		return nil, "", fmt.Errorf("elasticsearch bulk: %d of %d items not stored, will retry; first: %s", retry, len(docs), firstRetry)
	}
	return refused, "", nil
}

type itemOutcome int

const (
	itemOK itemOutcome = iota
	itemRetry
	itemRejected
)

// outcome classifies one bulk item. 409 on create means the _id already
// exists, i.e. an earlier delivery of the same event succeeded. Auth, missing
// index (auto-create disabled) and privilege errors are the operator's to
// fix, not the event's fault, so they are retried rather than dead-lettered.
func outcome(status int) itemOutcome {
	switch {
	case status >= 200 && status < 300, status == http.StatusConflict:
		return itemOK
	case status == http.StatusUnauthorized, status == http.StatusForbidden,
		status == http.StatusNotFound, status == http.StatusRequestTimeout,
		status == http.StatusTooManyRequests:
		return itemRetry
	case status >= 400 && status < 500:
		return itemRejected
	default:
		return itemRetry
	}
}

func statusHint(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return " (check the Elasticsearch credentials and the user's or API key's privileges on the index)"
	case http.StatusNotFound:
		return " (check the Elasticsearch URL and that the index can be created)"
	}
	return ""
}

func statusError(op string, status int, text string) error {
	if text == "" {
		return fmt.Errorf("elasticsearch %s: HTTP %d%s", op, status, statusHint(status))
	}
	return fmt.Errorf("elasticsearch %s: HTTP %d%s: %s", op, status, statusHint(status), text)
}

// readError renders an Elasticsearch error body as "type: reason (caused
// by …)", falling back to the raw text for proxies and other non-JSON bodies.
func readError(r io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(r, maxErrorBytes+1))
	var wrapped struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &wrapped) == nil && len(wrapped.Error) > 0 {
		var e esError
		if json.Unmarshal(wrapped.Error, &e) == nil && e.Type != "" {
			return e.String()
		}
		var s string
		if json.Unmarshal(wrapped.Error, &s) == nil {
			return s
		}
	}
	truncated := len(data) > maxErrorBytes
	if truncated {
		data = data[:maxErrorBytes]
	}
	text := strings.TrimSpace(strings.ToValidUTF8(string(data), "\uFFFD"))
	if truncated {
		text += " …"
	}
	return text
}

func (s *Sink) transportError(ctx context.Context, op string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("elasticsearch %s: no answer within %s: %w", op, s.timeout, err)
	}
	return fmt.Errorf("elasticsearch %s: %w", op, err)
}

// ensureTemplate installs the index template once per Sink. Deliver calls it
// before writing because the first write of a day creates that day's index,
// and an index created without the template keeps dynamic mappings (no
// date_nanos, text for ids) for good.
func (s *Sink) ensureTemplate(ctx context.Context) error {
	if !s.install {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.installed {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.es.Indices.PutIndexTemplate(s.templateName, bytes.NewReader(s.templateBody),
		s.es.Indices.PutIndexTemplate.WithContext(ctx))
	if err != nil {
		return s.transportError(ctx, "install index template "+s.templateName, err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode >= 300 {
		return statusError("install index template "+s.templateName, res.StatusCode, readError(res.Body))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxErrorBytes))
	s.installed = true
	return nil
}

// Ping checks that Elasticsearch answers its info endpoint (which also runs
// the client's product check) and, when configured, that the index template
// is installed.
func (s *Sink) Ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.es.Info(s.es.Info.WithContext(pctx))
	if err != nil {
		return s.transportError(pctx, "info", err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode >= 300 {
		return statusError("info", res.StatusCode, readError(res.Body))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxErrorBytes))
	return s.ensureTemplate(ctx)
}
