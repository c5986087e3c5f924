// Package delivery moves spooled events to each sink, one loop per sink,
// advancing that sink's durable cursor only past what the sink acknowledged.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
)

// Options tunes the loops.
type Options struct {
	// BatchSize is the most records one Deliver call carries; 0 means 500.
	BatchSize int
	// BatchBytes bounds the lines of one batch; 0 means 4 MiB.
	BatchBytes int
	// Timeout bounds one Deliver call; 0 means 30 s.
	Timeout time.Duration
	// DeadLetterDir receives <sink>.jsonl with permanently rejected records.
	DeadLetterDir string
	// NewBackOff makes the retry policy of one batch; nil means exponential
	// from 500 ms up to 30 s with ±50 % jitter, never giving up (an
	// acknowledged event must not be dropped because a sink was down long).
	NewBackOff func() backoff.BackOff
	Logger     *slog.Logger
}

// Metrics are the delivery series of docs/storage.md.
type Metrics struct {
	Delivery *prometheus.CounterVec // feedbackd_delivery_total{sink,outcome}
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

type loop struct {
	r       *Runner
	sink    sink.Sink
	name    string
	pending atomic.Int64 // receive time (unix ns) of the oldest unacknowledged event, 0 if none
	dlMu    sync.Mutex
}

// New prepares loops for sinks; Run starts them.
func New(sp *spool.Spool, sinks []sink.Sink, m Metrics, opts Options) *Runner {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 4 << 20
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
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
		r.loops = append(r.loops, &loop{r: r, sink: s, name: s.Name()})
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

func (l *loop) run(ctx context.Context, drain <-chan struct{}) {
	log := l.r.opts.Logger.With("sink", l.name)
	// Waiting for new entries must also end when draining starts.
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	go func() {
		select {
		case <-drain:
			cancelWait()
		case <-waitCtx.Done():
		}
	}()
	for ctx.Err() == nil {
		cursor := l.r.spool.Cursor(l.name)
		if cursor >= l.r.spool.Committed() {
			l.pending.Store(0)
			select {
			case <-drain:
				return
			default:
			}
			if err := l.r.spool.Wait(waitCtx, cursor); err != nil {
				select {
				case <-drain:
					if l.r.spool.Committed() > cursor {
						continue // deliver what arrived before draining began
					}
					return
				default:
				}
				if ctx.Err() != nil {
					return
				}
			}
			continue
		}
		entries, err := l.r.spool.Read(cursor+1, l.r.opts.BatchSize, l.r.opts.BatchBytes)
		if err != nil {
			// Only a damaged spool gets here; retrying cannot help and
			// skipping would lose events, so stop this sink loudly.
			log.Error("reading the spool failed; delivery to this sink stopped", "cursor", cursor, "err", err)
			return
		}
		l.pending.Store(entries[0].Received.UnixNano())
		if !l.deliver(ctx, log, entries) {
			return
		}
	}
}

// deliver retries one batch until the sink took it (or rejected parts of it
// for good), then moves the cursor. It reports false when ctx ended first.
func (l *loop) deliver(ctx context.Context, log *slog.Logger, entries []spool.Entry) bool {
	batch := make([]sink.Record, len(entries))
	for i, e := range entries {
		batch[i] = sink.Record{Seq: e.Seq, Line: e.Line}
	}
	last := entries[len(entries)-1].Seq
	bo := l.r.opts.NewBackOff()
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, l.r.opts.Timeout)
		err := l.sink.Deliver(dctx, batch)
		cancel()
		if err == nil {
			l.count(OutcomeDelivered, len(batch))
			return l.ack(ctx, log, last)
		}
		if rej, ok := sink.AsRejected(err); ok && len(rej.Rejections) > 0 {
			if derr := l.deadLetter(entries, rej); derr != nil {
				// Without the dead-letter record the cursor must not pass
				// these events; keep retrying the whole batch.
				log.Error("writing dead letters failed", "err", derr)
			} else {
				l.count(OutcomeRejected, len(rej.Rejections))
				l.count(OutcomeDelivered, len(batch)-len(rej.Rejections))
				log.Warn("records rejected permanently, dead-lettered", "count", len(rej.Rejections), "first_reason", rej.Rejections[0].Reason)
				return l.ack(ctx, log, last)
			}
		}
		if ctx.Err() != nil {
			return false
		}
		l.count(OutcomeFailed, len(batch))
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
		log.Warn("delivery failed, retrying", "attempt", attempt, "records", len(batch), "first_seq", batch[0].Seq, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

func (l *loop) ack(ctx context.Context, log *slog.Logger, seq uint64) bool {
	// A failed cursor write only means redelivery later, which the sinks
	// de-duplicate; it must not stop delivery.
	if err := l.r.spool.Ack(l.name, seq); err != nil {
		log.Error("persisting the cursor failed", "seq", seq, "err", err)
	}
	return ctx.Err() == nil
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

func (l *loop) deadLetter(entries []spool.Entry, rej *sink.RejectedError) error {
	bySeq := make(map[uint64][]byte, len(entries))
	for _, e := range entries {
		bySeq[e.Seq] = e.Line
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
