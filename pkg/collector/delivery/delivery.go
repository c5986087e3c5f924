// Package delivery moves spooled events to each sink, one loop per sink,
// advancing that sink's durable cursor only past what the sink acknowledged.
//
// The shape is that of Prometheus' remote-write queue manager: a write-ahead
// log read from a durable position, several batches in flight at once, and
// the number in flight cut down while the destination refuses or is slow and
// raised again when it answers (additive increase, multiplicative decrease).
// The cursor only ever moves past the longest run of batches, from the
// cursor on, that were all acknowledged, so a crash redelivers at most the
// batches that were in flight and never skips one; docs/delivery.md has the
// guarantees and how to size the options.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
)

// DefaultConcurrency is the most batches in flight per concurrent sink when
// Options.Concurrency is zero. docs/delivery.md has the measurement it was
// chosen by.
const DefaultConcurrency = 4

// WindowBatches is the most batches a sink with the given concurrency has
// between its persisted cursor and the newest batch sent: what a crash can
// make it receive twice. Persisting the cursor costs two fsyncs (about 12 ms
// on the machine of docs/delivery.md), and a batch only leaves the window
// once the cursor past it is durable; a window as deep as the concurrency
// left the sends waiting on those fsyncs (feedbackd-bench -mode delivery:
// backlog replay at 28,000 events/s with concurrency 4 and 21,000 with 16),
// while four times as deep lets one cursor write cover the batches
// acknowledged meanwhile. A sequential sink (concurrency 1) gets a window of
// one, so that it sees the batches strictly in spool order.
func WindowBatches(concurrency int) int {
	if concurrency <= 1 {
		return 1
	}
	return 4 * concurrency
}

// DefaultCursorDelay: an idle sink's cursor is on disk this long after its
// last acknowledgement at the latest.
const DefaultCursorDelay = 50 * time.Millisecond

// Options tunes the loops.
type Options struct {
	// BatchSize is the most records one Deliver call carries; 0 means 500.
	BatchSize int
	// BatchBytes bounds the lines of one batch; 0 means 4 MiB.
	BatchBytes int
	// BatchWait is how long a batch that is neither full by count nor by
	// bytes may wait for more events, counted from its oldest event's
	// arrival; 0 cuts at once. Draining cuts at once.
	BatchWait time.Duration
	// Concurrency is the most batches in flight to a sink that implements
	// sink.Concurrent; 0 means DefaultConcurrency. Other sinks get one.
	Concurrency int
	// Timeout bounds one Deliver call; 0 means 30 s.
	Timeout time.Duration
	// CursorDelay is how long an acknowledged batch may wait for others
	// to share its cursor write, unless half the window is acknowledged
	// first; 0 means DefaultCursorDelay, negative writes every time.
	CursorDelay time.Duration
	// DeadLetterDir receives <sink>.jsonl with permanently rejected records.
	DeadLetterDir string
	// NewBackOff makes the retry policy of one batch; nil means exponential
	// from 500 ms up to 30 s with ±50 % jitter, never giving up (an
	// acknowledged event must not be dropped because a sink was down long).
	NewBackOff func() backoff.BackOff
	Logger     *slog.Logger
}

// Metrics are the delivery series of docs/storage.md and docs/delivery.md.
// Any of them may be nil.
type Metrics struct {
	Delivery     *prometheus.CounterVec   // feedbackd_delivery_total{sink,outcome}
	InFlight     *prometheus.GaugeVec     // feedbackd_delivery_inflight_batches{sink}
	Concurrency  *prometheus.GaugeVec     // feedbackd_delivery_concurrency{sink}
	BatchEvents  *prometheus.HistogramVec // feedbackd_delivery_batch_events{sink}
	BatchBytes   *prometheus.HistogramVec // feedbackd_delivery_batch_bytes{sink}
	SendDuration *prometheus.HistogramVec // feedbackd_delivery_send_duration_seconds{sink}
}

// Outcomes counted in feedbackd_delivery_total, per event.
const (
	OutcomeDelivered = "delivered" // acknowledged by the sink
	OutcomeRejected  = "rejected"  // refused permanently, written to the dead-letter file
	OutcomeFailed    = "failed"    // in a batch attempt that failed and will be retried
)

// maxRetryAfter bounds a sink's Retry-After, so a wrong header cannot stall
// delivery for days.
const maxRetryAfter = 15 * time.Minute

// Runner runs one loop per sink.
type Runner struct {
	spool   *spool.Spool
	opts    Options
	metrics Metrics
	loops   []*loop
}

// batch is a run of consecutive spool entries delivered as one.
type batch struct {
	first, last uint64
	records     []sink.Record
	received    time.Time // of the first entry
	bytes       int
	spans       map[string]sink.Span // ordered sinks only
	prepared    sink.Prepared        // Preparer sinks only
	done        bool                 // acknowledged (or dead-lettered); guarded by loop.mu
}

type loop struct {
	r       *Runner
	sink    sink.Sink
	ordered sink.Ordered // nil unless the sink is one
	name    string
	max     int // configured concurrency for this sink
	log     *slog.Logger
	pending atomic.Int64 // receive time (unix ns) of the oldest unacknowledged event, 0 if none
	dlMu    sync.Mutex
	// ackMu makes cursor writes happen one at a time, in order.
	ackMu sync.Mutex
	// draining is set once run saw drain: cursors are then written at once.
	draining atomic.Bool

	inflightG, limitG       prometheus.Gauge
	batchEvents, batchBytes prometheus.Observer
	sendDuration            prometheus.Observer

	mu sync.Mutex
	// slot is signalled when a send slot may have come free or ctx ended.
	slot *sync.Cond
	// changed is closed (and replaced) when window or limit changes.
	changed chan struct{}
	// window holds the batches dispatched and not yet behind the persisted
	// cursor, in spool order; it never holds more than WindowBatches(max).
	window []*batch
	// limit is how many requests may be under way at once right now, 1..max.
	limit int
	// active is the number of Deliver calls under way.
	active int
	// waiting holds the first seq of each batch waiting for a send slot,
	// ascending: the oldest goes first, as it holds the cursor back.
	waiting []uint64
	// epoch counts decreases; a failure of an attempt started before the
	// latest decrease says nothing new and does not decrease again.
	epoch uint64
	// successes since the last change of limit.
	successes int
	// persistTimer writes the cursor CursorDelay after an acknowledgement
	// that did not write it at once; nil when none is armed.
	persistTimer *time.Timer
}

// New prepares loops for sinks; Run starts them.
func New(sp *spool.Spool, sinks []sink.Sink, m Metrics, opts Options) *Runner {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 4 << 20
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.CursorDelay == 0 {
		opts.CursorDelay = DefaultCursorDelay
	}
	if opts.NewBackOff == nil {
		opts.NewBackOff = func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval = 500 * time.Millisecond
			b.MaxInterval = 30 * time.Second
			b.RandomizationFactor = 0.5
			return b
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Runner{spool: sp, opts: opts, metrics: m}
	for _, s := range sinks {
		l := &loop{r: r, sink: s, name: s.Name(), max: 1, changed: make(chan struct{})}
		if _, ok := s.(sink.Concurrent); ok {
			l.max = opts.Concurrency
		}
		if o, ok := s.(sink.Ordered); ok && l.max > 1 {
			l.ordered = o
		}
		l.limit = l.max
		l.slot = sync.NewCond(&l.mu)
		l.log = opts.Logger.With("sink", l.name)
		if m.InFlight != nil {
			l.inflightG = m.InFlight.WithLabelValues(l.name)
			l.inflightG.Set(0)
		}
		if m.Concurrency != nil {
			l.limitG = m.Concurrency.WithLabelValues(l.name)
			l.limitG.Set(float64(l.limit))
		}
		if m.BatchEvents != nil {
			l.batchEvents = m.BatchEvents.WithLabelValues(l.name)
		}
		if m.BatchBytes != nil {
			l.batchBytes = m.BatchBytes.WithLabelValues(l.name)
		}
		if m.SendDuration != nil {
			l.sendDuration = m.SendDuration.WithLabelValues(l.name)
		}
		r.loops = append(r.loops, l)
	}
	return r
}

// LagCollectors exports feedbackd_delivery_lag_seconds{sink}: the age of the
// oldest event the sink has not acknowledged yet (0 when caught up).
func (r *Runner) LagCollectors() []prometheus.Collector {
	var cs []prometheus.Collector
	for _, l := range r.loops {
		l := l
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "feedbackd_delivery_lag_seconds",
			Help:        "Age of the oldest spooled event the sink has not acknowledged yet; 0 when caught up.",
			ConstLabels: prometheus.Labels{"sink": l.name},
		}, l.lag))
	}
	return cs
}

func (l *loop) lag() float64 {
	p := l.pending.Load()
	if p == 0 {
		return 0
	}
	return time.Since(time.Unix(0, p)).Seconds()
}

// Run delivers until ctx ends. Once drain is closed, each loop stops by
// itself as soon as it has delivered everything committed so far; cancelling
// ctx abandons what is in flight (it stays spooled and is redelivered after
// a restart). Run returns when every loop has stopped.
func (r *Runner) Run(ctx context.Context, drain <-chan struct{}) {
	var wg sync.WaitGroup
	for _, l := range r.loops {
		wg.Add(1)
		go func(l *loop) {
			defer wg.Done()
			l.run(ctx, drain)
		}(l)
	}
	wg.Wait()
}

// run cuts batches from the spool and starts one sender per batch while the
// window has room.
func (l *loop) run(ctx context.Context, drain <-chan struct{}) {
	stopWaking := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.slot.Broadcast()
		l.mu.Unlock()
	})
	defer stopWaking()
	var senders sync.WaitGroup
	defer func() {
		senders.Wait()
		// What was acknowledged and waits for its cursor write is not
		// sent again after a restart.
		l.persist()
	}()
	draining := false
	next := l.r.spool.Cursor(l.name) + 1
	for ctx.Err() == nil {
		if !draining {
			select {
			case <-drain:
				draining = true
				l.draining.Store(true)
				l.persist()
			default:
			}
		}
		l.mu.Lock()
		// The window is always WindowBatches(max) deep; limit bounds the
		// requests under way (acquire). A batch waiting out its backoff then
		// holds no request slot, so one refused batch does not stop the
		// others, whose acknowledgements are what raises limit again.
		//
		// A batch is cut only when none is waiting for a slot: while every
		// request slot is busy, events gather for the next batch instead of
		// being cut into many small ones, so batches grow with the store's
		// round trip to what keeps up with ingest (up to BatchSize).
		full, empty, changed := len(l.window) >= WindowBatches(l.max), len(l.window) == 0, l.changed
		queued := len(l.waiting) > 0
		l.mu.Unlock()
		if full || queued {
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		if next > l.r.spool.Committed() {
			if empty {
				l.pending.Store(0)
				if draining {
					return
				}
			}
			var drainCh <-chan struct{}
			if !draining {
				drainCh = drain
			}
			select {
			case <-l.r.spool.Changed(next - 1):
			case <-changed: // an acknowledgement may have finished the drain
			case <-drainCh:
			case <-ctx.Done():
			}
			continue
		}
		entries, err := l.r.spool.Read(next, l.r.opts.BatchSize, l.r.opts.BatchBytes)
		if err != nil {
			// Only a damaged spool gets here; retrying cannot help and
			// skipping would lose events, so stop this sink loudly.
			l.log.Error("reading the spool failed; delivery to this sink stopped", "cursor", next-1, "err", err)
			return
		}
		if wait := l.lingers(entries); wait > 0 && !draining {
			// Fewer, fuller requests: each costs the store a round trip and
			// feedbackd a cursor fsync, which ingest's fsyncs then queue
			// behind. The entries stay in the spool; reading them again
			// from its in-memory tail is cheap.
			t := time.NewTimer(wait)
			select {
			case <-l.r.spool.Changed(entries[len(entries)-1].Seq):
			case <-t.C:
			case <-drain:
			case <-ctx.Done():
			}
			t.Stop()
			continue
		}
		b := newBatch(entries)
		if p, ok := l.sink.(sink.Preparer); ok {
			// Encoded once, here, beside the batches in flight; retries
			// resend the same.
			b.prepared = p.Prepare(b.records)
		}
		if l.ordered != nil {
			if sp, ok := b.prepared.(sink.Spanned); ok {
				b.spans = sp.Spans()
			}
			if !l.waitNoConflict(ctx, b) {
				return
			}
		}
		l.mu.Lock()
		l.window = append(l.window, b)
		l.updatePendingLocked()
		set(l.inflightG, len(l.window))
		l.mu.Unlock()
		next = b.last + 1
		senders.Add(1)
		go func() {
			defer senders.Done()
			l.send(ctx, b)
		}()
	}
}

// lingers is how much longer a batch of entries should wait for more, 0
// when it is full or its oldest event waited BatchWait already.
func (l *loop) lingers(entries []spool.Entry) time.Duration {
	w := l.r.opts.BatchWait
	if w <= 0 || len(entries) >= l.r.opts.BatchSize {
		return 0
	}
	size := 0
	for _, e := range entries {
		size += len(e.Line)
	}
	if size >= l.r.opts.BatchBytes {
		return 0
	}
	return max(0, w-time.Since(entries[0].Received))
}

func newBatch(entries []spool.Entry) *batch {
	b := &batch{first: entries[0].Seq, last: entries[len(entries)-1].Seq, received: entries[0].Received,
		records: make([]sink.Record, len(entries))}
	for i, e := range entries {
		b.records[i] = sink.Record{Seq: e.Seq, Line: e.Line}
		b.bytes += len(e.Line)
	}
	return b
}

// waitNoConflict holds b back while an unacknowledged earlier batch has an
// entry of one of b's streams more than the sink's order window older than
// b's newest entry of that stream (see sink.Ordered). It reports false when
// ctx ended first.
func (l *loop) waitNoConflict(ctx context.Context, b *batch) bool {
	w := l.ordered.OrderWindow()
	for {
		l.mu.Lock()
		conflict := false
		for _, o := range l.window {
			if o.done {
				continue
			}
			for stream, sp := range b.spans {
				if osp, ok := o.spans[stream]; ok && sp.Newest.Sub(osp.Oldest) > w {
					conflict = true
				}
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if !conflict {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// send retries one batch until the sink took it (or rejected parts of it
// for good), then records it as done. It gives up only when ctx ends.
func (l *loop) send(ctx context.Context, b *batch) {
	observe(l.batchEvents, float64(len(b.records)))
	observe(l.batchBytes, float64(b.bytes))
	deliver := func(ctx context.Context) error { return l.sink.Deliver(ctx, b.records) }
	if b.prepared != nil {
		deliver = b.prepared.Send
	}
	bo := l.r.opts.NewBackOff()
	for attempt := 1; ; attempt++ {
		epoch, ok := l.acquire(ctx, b.first)
		if !ok {
			return
		}
		dctx, cancel := context.WithTimeout(ctx, l.r.opts.Timeout)
		t0 := time.Now()
		err := deliver(dctx)
		observe(l.sendDuration, time.Since(t0).Seconds())
		cancel()
		l.release()
		if err == nil {
			l.succeeded()
			l.count(OutcomeDelivered, len(b.records))
			l.finish(b)
			return
		}
		rej, isRej := sink.AsRejected(err)
		if isRej && len(rej.Rejections) > 0 {
			if derr := l.deadLetter(b.records, rej); derr != nil {
				// Without the dead-letter record the cursor must not pass
				// these events; keep retrying the whole batch.
				l.log.Error("writing dead letters failed", "err", derr)
			} else {
				l.succeeded()
				l.count(OutcomeRejected, len(rej.Rejections))
				l.count(OutcomeDelivered, len(b.records)-len(rej.Rejections))
				l.log.Warn("records rejected permanently, dead-lettered", "count", len(rej.Rejections), "first_reason", rej.Rejections[0].Reason)
				l.finish(b)
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		if !isRej {
			l.failed(epoch)
		}
		l.count(OutcomeFailed, len(b.records))
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			wait = 30 * time.Second
		}
		// A sink that was told how long to stay away (Retry-After) waits at
		// least that long, within reason.
		var asked interface{ RetryAfter() time.Duration }
		if errors.As(err, &asked) && asked.RetryAfter() > wait {
			wait = min(asked.RetryAfter(), maxRetryAfter)
		}
		l.log.Warn("delivery failed, retrying", "attempt", attempt, "records", len(b.records), "first_seq", b.first, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// acquire waits for a send slot: fewer requests under way than limit, and
// no older batch waiting. It returns the epoch the attempt starts in, or
// false when ctx ended first.
func (l *loop) acquire(ctx context.Context, first uint64) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearch(l.waiting, first)
	l.waiting = slices.Insert(l.waiting, i, first)
	for ctx.Err() == nil && (l.active >= l.limit || l.waiting[0] != first) {
		l.slot.Wait()
	}
	i, _ = slices.BinarySearch(l.waiting, first)
	l.waiting = slices.Delete(l.waiting, i, i+1)
	// The next in line may be able to go too, or must see that it can't.
	l.slot.Broadcast()
	if len(l.waiting) == 0 {
		l.wakeLocked() // run cuts the next batch now
	}
	if ctx.Err() != nil {
		return 0, false
	}
	l.active++
	return l.epoch, true
}

func (l *loop) release() {
	l.mu.Lock()
	l.active--
	l.slot.Broadcast()
	l.mu.Unlock()
}

// failed halves the limit after a refused, failed or timed-out attempt,
// once per round of attempts.
func (l *loop) failed(epoch uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.successes = 0
	if epoch != l.epoch || l.limit == 1 {
		return
	}
	l.limit = max(1, l.limit/2)
	l.epoch++
	l.limitChangedLocked()
}

// succeeded raises the limit by one after limit acknowledged attempts in a
// row: roughly one more in flight per round trip without trouble.
func (l *loop) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limit >= l.max {
		return
	}
	l.successes++
	if l.successes >= l.limit {
		l.limit++
		l.successes = 0
		l.limitChangedLocked()
	}
}

func (l *loop) limitChangedLocked() {
	set(l.limitG, l.limit)
	l.slot.Broadcast()
	l.wakeLocked()
}

// wakeLocked tells run and waitNoConflict that the window, the limit or
// the queue for slots changed.
func (l *loop) wakeLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// finish marks b done. The cursor moves past the longest run of done
// batches at the start of the window once that run is half the window, or
// CursorDelay later: every cursor write is an fdatasync, and on one disk
// those queue with ingest's group commits, which clients wait on
// (feedbackd-bench -mode delivery, docs/delivery.md). A batch leaves the
// window only once the cursor past it is persisted, so the window still
// bounds what a crash can make the sink see twice.
func (l *loop) finish(b *batch) {
	l.mu.Lock()
	b.done = true
	l.updatePendingLocked()
	n := 0
	for n < len(l.window) && l.window[n].done {
		n++
	}
	now := n >= max(1, WindowBatches(l.max)/2) || l.r.opts.CursorDelay < 0 || l.draining.Load()
	if !now && n > 0 && l.persistTimer == nil {
		l.persistTimer = time.AfterFunc(l.r.opts.CursorDelay, l.persist)
	}
	l.mu.Unlock()
	if now {
		l.persist()
	}
}

// updatePendingLocked points the lag at the oldest batch not acknowledged.
func (l *loop) updatePendingLocked() {
	for _, b := range l.window {
		if !b.done {
			l.pending.Store(b.received.UnixNano())
			return
		}
	}
	l.pending.Store(0)
}

// persist writes the cursor past the done batches at the start of the
// window and lets them leave it.
func (l *loop) persist() {
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	l.mu.Lock()
	if l.persistTimer != nil {
		l.persistTimer.Stop()
		l.persistTimer = nil
	}
	l.mu.Unlock()
	for {
		l.mu.Lock()
		n := 0
		for n < len(l.window) && l.window[n].done {
			n++
		}
		if n == 0 {
			l.mu.Unlock()
			return
		}
		last := l.window[n-1].last
		l.mu.Unlock()
		// A failed cursor write only means redelivery later, which the sinks
		// de-duplicate; it must not stop delivery.
		if err := l.r.spool.Ack(l.name, last); err != nil {
			l.log.Error("persisting the cursor failed", "seq", last, "err", err)
		}
		l.mu.Lock()
		l.window = slices.Delete(l.window, 0, n)
		l.updatePendingLocked()
		set(l.inflightG, len(l.window))
		l.wakeLocked()
		l.mu.Unlock()
	}
}

func set(g prometheus.Gauge, v int) {
	if g != nil {
		g.Set(float64(v))
	}
}

func observe(o prometheus.Observer, v float64) {
	if o != nil {
		o.Observe(v)
	}
}

func (l *loop) count(outcome string, n int) {
	if l.r.metrics.Delivery != nil && n > 0 {
		l.r.metrics.Delivery.WithLabelValues(l.name, outcome).Add(float64(n))
	}
}

// DeadLetter is one line of <dead-letter-dir>/<sink>.jsonl.
type DeadLetter struct {
	Time   time.Time       `json:"time"`
	Sink   string          `json:"sink"`
	Seq    uint64          `json:"seq"`
	Reason string          `json:"reason"`
	Event  json.RawMessage `json:"event"`
}

func (l *loop) deadLetter(records []sink.Record, rej *sink.RejectedError) error {
	bySeq := make(map[uint64][]byte, len(records))
	for _, r := range records {
		bySeq[r.Seq] = r.Line
	}
	var buf []byte
	now := time.Now().UTC()
	for _, r := range rej.Rejections {
		line, ok := bySeq[r.Seq]
		if !ok {
			return fmt.Errorf("sink rejected seq %d which is not in the batch", r.Seq)
		}
		b, err := json.Marshal(DeadLetter{Time: now, Sink: l.name, Seq: r.Seq, Reason: r.Reason, Event: line})
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	if l.r.opts.DeadLetterDir == "" {
		return errors.New("no dead-letter directory configured")
	}
	l.dlMu.Lock()
	defer l.dlMu.Unlock()
	if err := os.MkdirAll(l.r.opts.DeadLetterDir, 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.r.opts.DeadLetterDir, l.name+".jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	// The cursor moves past these events right after; the dead letter must
	// be on disk first or a crash would lose them.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
