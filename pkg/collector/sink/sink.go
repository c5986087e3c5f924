// Package sink defines what the collector's delivery loop needs from a
// destination (Loki, Elasticsearch). Implementations live in sub-packages.
package sink

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Record is one spooled event on its way to a sink.
type Record struct {
	// Seq is the spool position; the delivery loop advances a sink's cursor
	// past Seq only after Deliver acknowledged it.
	Seq uint64
	// Line is the compact event JSON exactly as it must be stored (the Loki
	// line, the Elasticsearch document source). Nobody modifies it: sinks
	// read it in place (View).
	Line []byte
}

// Sink delivers batches with acknowledgement.
//
// Deliver returns nil only when every record is durably accepted by the
// destination (Loki answered 2xx for the push; Elasticsearch answered every
// bulk item with 2xx, or 409 for an _id that already exists). Any other
// outcome is an error; the delivery loop retries the whole batch with backoff,
// which is safe because both destinations de-duplicate redelivered records
// (docs/collector-api.md). A *RejectedError lists records the destination refused
// permanently (4xx other than 408/409/429): the loop dead-letters those with
// the reason and retries nothing else from the batch.
type Sink interface {
	Name() string
	// Deliver is called for one batch at a time unless the sink is
	// Concurrent.
	Deliver(ctx context.Context, batch []Record) error
	// Ping checks reachability for /readyz.
	Ping(ctx context.Context) error
}

// Concurrent is implemented by sinks whose Deliver may run for several
// batches at once. The delivery loop then keeps up to the configured
// concurrency of batches in flight; for any other sink it keeps one, so the
// rule consumers (escalation, notification), which rely on seeing batches in
// spool order, need no locking.
type Concurrent interface {
	Sink
	DeliversConcurrently()
}

// Preparer is implemented by sinks that can do the CPU work of a delivery
// (reading the events, encoding the request body) before a request slot is
// free. The delivery loop prepares each batch once, as it cuts it, while
// other batches are in flight, and then holds a slot only for the round
// trip: a slot that also encoded was a quarter of a batch's time in flight
// at a 20 ms store (docs/delivery.md).
type Preparer interface {
	Sink
	Prepare(batch []Record) Prepared
}

// Prepared is a batch ready to send. Send has Deliver's contract and may be
// called again after it failed, as Deliver may.
type Prepared interface {
	Send(ctx context.Context) error
}

// Split prepares each record of batch for a sink: the items to send, in
// order, and the records prepare refused, each with its error as reason.
func Split[T any](batch []Record, prepare func(Record) (T, error)) (items []T, rejections []Rejection) {
	for _, rec := range batch {
		item, err := prepare(rec)
		if err != nil {
			rejections = append(rejections, Rejection{Seq: rec.Seq, Reason: err.Error()})
			continue
		}
		items = append(items, item)
	}
	return items, rejections
}

// MaxIdleConnsPerHost is what the HTTP sinks keep open to their destination:
// at least the most batches the delivery loop may have in flight.
const MaxIdleConnsPerHost = 64

// Span is the time range of the records of one stream in a batch.
type Span struct {
	Oldest, Newest time.Time
}

// Ordered is implemented by sinks whose destination refuses a record that
// arrives too far behind newer records of the same stream it already stored
// (Loki). The delivery loop holds a batch back while an earlier batch that is
// not yet acknowledged has a record of a shared stream more than OrderWindow
// older than the batch's newest: then, however the batches in flight land,
// no record arrives later than OrderWindow behind a newer one that
// sequential delivery would have sent after it.
//
// The streams come from the prepared batch (Spanned), which has read every
// record already: reading them a second time for the spans was about a
// fifth of the Loki sink's cost (go test -run xxx -bench Deliver500
// ./pkg/collector/sink/lokipush: 4.2–4.9 µs an event before, 3.0–3.7 after).
type Ordered interface {
	Preparer
	// OrderWindow is how far behind the newest record of its stream a record
	// may arrive and still be accepted, with a margin.
	OrderWindow() time.Duration
}

// Spanned is implemented by the prepared batches of an Ordered sink.
type Spanned interface {
	Prepared
	// Spans maps each stream of the batch to its time range; records the
	// sink rejected are left out.
	Spans() map[string]Span
}

// Rejection is one record refused permanently, with the destination's reason.
type Rejection struct {
	Seq    uint64
	Reason string
}

// RejectedError reports permanent per-record failures; every record of the
// batch not listed was accepted.
type RejectedError struct {
	Rejections []Rejection
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%d record(s) rejected permanently, first: seq %d: %s",
		len(e.Rejections), e.Rejections[0].Seq, e.Rejections[0].Reason)
}

// Rejected is what Deliver returns for rs: nil when empty, else a
// *RejectedError listing them in spool order.
func Rejected(rs []Rejection) error {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b Rejection) int { return cmp.Compare(a.Seq, b.Seq) })
	return &RejectedError{Rejections: rs}
}

// Both destinations keep nanoseconds since the epoch in an int64 (Loki's
// entry timestamps, Elasticsearch's date_nanos).
var (
	minTime = time.Unix(0, 0)
	maxTime = time.Unix(0, 1<<63-1)
)

// EventTime parses a spooled event's timestamp for the destination name
// (which prefixes the errors) and checks that it can be stored there.
func EventTime(name, timestamp string) (time.Time, error) {
	if timestamp == "" {
		return time.Time{}, fmt.Errorf("%s: event has no timestamp", name)
	}
	ts, err := time.Parse(time.RFC3339Nano, timestamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: event timestamp %q is not RFC 3339: %v", name, timestamp, err)
	}
	if ts.Before(minTime) || ts.After(maxTime) {
		return time.Time{}, fmt.Errorf("%s: event timestamp %q is outside the range it stores (1970 to 2262)", name, timestamp)
	}
	return ts, nil
}

// AsRejected unwraps a *RejectedError.
func AsRejected(err error) (*RejectedError, bool) {
	var r *RejectedError
	ok := errors.As(err, &r)
	return r, ok
}

// ParseBaseURL checks a sink's base URL (name prefixes the errors, auth
// names the settings to use instead of credentials in the URL) and returns
// it without a trailing slash.
func ParseBaseURL(name, raw, auth string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s: URL is required", name)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid URL: %w", name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s: URL %q must start with http:// or https://", name, raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: URL %q has no host", name, raw)
	}
	if u.User != nil {
		// Credentials in the URL would end up in logs and error messages.
		return nil, fmt.Errorf("%s: URL must not contain credentials; use the %s settings", name, auth)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s: URL %q must not have a query or fragment", name, u.Redacted())
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Isolate sends items and, when the destination refuses the whole request
// for its content (send returns a reason), bisects to find the items at
// fault instead of dead-lettering the batch: Loki and Elasticsearch answer
// such a request with one status although one bad record causes it.
// Re-sending halves is harmless because both destinations de-duplicate.
// send returns the items it refused individually, the reason the request
// as a whole was refused (empty when it was not), or an error to retry.
func Isolate[T any](ctx context.Context, items []T, seq func(T) uint64,
	send func(context.Context, []T) (refused []Rejection, reason string, err error)) ([]Rejection, error) {
	refused, reason, err := send(ctx, items)
	if err != nil || reason == "" {
		return refused, err
	}
	if len(items) == 1 {
		return []Rejection{{Seq: seq(items[0]), Reason: reason}}, nil
	}
	mid := len(items) / 2
	left, err := Isolate(ctx, items[:mid], seq, send)
	if err != nil {
		return nil, err
	}
	right, err := Isolate(ctx, items[mid:], seq, send)
	if err != nil {
		return nil, err
	}
	return append(left, right...), nil
}
