// Package enrich is feedbackd's interaction index (docs/enrichment.md): for
// the interactions it accepted it remembers, by correlation id, the
// attributes that attribute feedback to what ran (model.effective_version,
// model.released_at, context.prompt_version, context.params) and copies them
// onto later feedback for the same correlation id that lacks them, before
// the feedback is spooled. Prompts, inputs and outputs are never kept.
//
// The index is fed from the spool, not from the request: a single loop reads
// every committed entry in sequence order and applies the interactions in
// one bbolt transaction that also stores the last applied sequence number.
// So the index never holds an interaction the spool did not durably accept,
// the two can never disagree about where the index stands after a crash
// (the transaction is atomic), and at start the loop re-reads the spool tail
// it has not applied yet. The spool keeps that tail for it: the index holds
// a spool cursor of its own, like a sink, which holds back truncation. An
// interaction's request is answered only once the index has applied it, so
// feedback sent after the interaction's 202 finds it.
//
// The store is go.etcd.io/bbolt: a maintained, embedded, crash-safe B+tree
// (copy-on-write pages, a checksummed meta page as the commit point) with
// one writer and concurrent readers, which is this access pattern exactly.
// Pebble would also do, but an LSM tree brings background compactions and
// many files for what is a small keyed table with in-order expiry.
package enrich

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// CursorName is the index's spool cursor (next to the sinks' cursors).
const CursorName = "enrich"

// Source is the spool as the index reads it (*spool.Spool).
type Source interface {
	Read(from uint64, max int, maxBytes int) ([]spool.Entry, error)
	Wait(ctx context.Context, seq uint64) error
	First() uint64
	Committed() uint64
	// Ack moves the index's spool cursor; the spool keeps everything after
	// it. Called only when Options.Cursor is set.
	Ack(sink string, seq uint64) error
}

// Options configures Open.
type Options struct {
	// Path is the bbolt file, e.g. <spool-dir>/enrich.db.
	Path string
	// Retention is how long an interaction is remembered after it was
	// received; 0 means 7 days.
	Retention time.Duration
	// MaxBytes bounds the stored keys and values; the oldest interactions
	// are evicted beyond it. 0 means 256 MiB.
	MaxBytes int64
	Source   Source
	// Cursor: the index acknowledges its progress on the spool under
	// CursorName, so the spool keeps what it has not applied. Set it when
	// the spool truncates at all (it has sinks).
	Cursor bool
	Logger *slog.Logger
	Now    func() time.Time
}

var (
	bucketInteractions = []byte("interactions") // correlation id → record
	bucketExpiry       = []byte("expiry")       // received (8) + seq (8), big-endian → correlation id
	bucketMeta         = []byte("meta")
	keyApplied         = []byte("applied") // last spool seq applied
	keyBytes           = []byte("bytes")   // stored bytes, for the size bound
)

// Attrs are what an interaction lends its feedback, plus the model it ran
// as, which the feedback must name too.
type Attrs struct {
	ModelID, ModelVersion                       string
	EffectiveVersion, ReleasedAt, PromptVersion string
	Params                                      json.RawMessage
}

// append writes a as six length-prefixed fields. A record is read for
// every feedback event, and decoding JSON with reflection was most of the
// cost of enriching one.
func (a Attrs) append(b []byte) []byte {
	for _, f := range []string{a.ModelID, a.ModelVersion, a.EffectiveVersion, a.ReleasedAt, a.PromptVersion, string(a.Params)} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// parseAttrs reads what append wrote; the strings are copies (bbolt's
// memory is valid only inside its transaction).
func parseAttrs(b []byte) (Attrs, bool) {
	var f [6]string
	for i := range f {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return Attrs{}, false
		}
		f[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	a := Attrs{ModelID: f[0], ModelVersion: f[1], EffectiveVersion: f[2], ReleasedAt: f[3], PromptVersion: f[4]}
	if f[5] != "" {
		a.Params = json.RawMessage(f[5])
	}
	return a, len(b) == 0
}

func attrsOf(e *feedback.Event) (Attrs, bool) {
	a := Attrs{ModelID: e.Model.ID, ModelVersion: e.Model.Version,
		EffectiveVersion: e.Model.EffectiveVersion, ReleasedAt: e.Model.ReleasedAt}
	if c := e.Context; c != nil {
		a.PromptVersion, a.Params = c.PromptVersion, c.Params
	}
	return a, a.EffectiveVersion != "" || a.ReleasedAt != "" || a.PromptVersion != "" || len(a.Params) > 0
}

// Index is safe for concurrent use: Enrich and WaitApplied from requests,
// Run from one goroutine.
type Index struct {
	opts    Options
	db      *bolt.DB
	applied atomic.Uint64
	// persisted is the applied position in the file; it trails applied
	// while the entries read since held no interaction (see apply).
	persisted atomic.Uint64
	acked     uint64 // Run only
	stored    atomic.Int64
	entries   atomic.Int64
	notifyM   sync.Mutex
	notify    chan struct{}
	broken    atomic.Pointer[error]

	lookups   *prometheus.CounterVec
	evictions *prometheus.CounterVec
	applyErrs prometheus.Counter
}

// Open opens or creates the index file.
func Open(opts Options) (*Index, error) {
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, err
	}
	// Timeout: a second feedbackd on the same spool-dir must fail, not hang
	// on the file lock.
	db, err := bolt.Open(opts.Path, 0o640, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open enrichment index %s: %w", opts.Path, err)
	}
	x := &Index{opts: opts, db: db, notify: make(chan struct{}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedbackd_enrich_lookups_total",
			Help: "Feedback events that lacked an enrichment attribute, by outcome: hit (enriched from the interaction), miss (no interaction known for the correlation id: delivered unenriched), mismatch (the interaction names another model.id or model.version: not enriched), oversize (a hit that would have pushed the event over 256 KiB, counted as well as hit: delivered as sent).",
		}, []string{"outcome"}),
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedbackd_enrich_evictions_total",
			Help: "Interactions dropped from the enrichment index, by reason: retention (older than enrich-retention) or size (over enrich-max-bytes).",
		}, []string{"reason"}),
		applyErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "feedbackd_enrich_apply_errors_total",
			Help: "Failed writes of the enrichment index; each is retried from the spool.",
		}),
	}
	for _, o := range []string{"hit", "miss", "mismatch", "oversize"} {
		x.lookups.WithLabelValues(o)
	}
	x.evictions.WithLabelValues("retention")
	x.evictions.WithLabelValues("size")
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketInteractions, bucketExpiry, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		x.applied.Store(u64(meta.Get(keyApplied)))
		x.stored.Store(int64(u64(meta.Get(keyBytes))))
		x.entries.Store(int64(tx.Bucket(bucketInteractions).Stats().KeyN))
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open enrichment index %s: %w", opts.Path, err)
	}
	x.acked = x.applied.Load()
	x.persisted.Store(x.applied.Load())
	return x, nil
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

// Collectors are the index's Prometheus series.
func (x *Index) Collectors() []prometheus.Collector {
	return []prometheus.Collector{x.lookups, x.evictions, x.applyErrs,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "feedbackd_enrich_interactions",
			Help: "Interactions in the enrichment index."}, func() float64 { return float64(x.entries.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "feedbackd_enrich_bytes",
			Help: "Bytes of keys and values in the enrichment index (the file is larger by bbolt's page overhead)."}, func() float64 { return float64(x.stored.Load()) }),
	}
}

// Applied is the last spool sequence number the index has applied.
func (x *Index) Applied() uint64 { return x.applied.Load() }

// Err reports a failing index (its last write failed; it is being retried).
func (x *Index) Err() error {
	if p := x.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// WaitApplied blocks until the index has applied the spool entry seq, ctx
// ends, or the index is failing (then it returns at once, with the error:
// a broken index must not stall every interaction request).
func (x *Index) WaitApplied(ctx context.Context, seq uint64) error {
	for {
		x.notifyM.Lock()
		ch := x.notify
		x.notifyM.Unlock()
		if x.applied.Load() >= seq {
			return nil
		}
		if err := x.Err(); err != nil {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (x *Index) wake() {
	x.notifyM.Lock()
	close(x.notify)
	x.notify = make(chan struct{})
	x.notifyM.Unlock()
}

// interactionPrefix starts every spooled interaction line: each line is
// written by feedback.AppendMarshal, which writes schema and kind first.
// Checking it spares decoding every feedback line the loop reads.
var interactionPrefix = []byte(`{"schema":"` + feedback.Schema + `","kind":"` + string(feedback.KindInteraction) + `"`)

const (
	readBatch      = 1000
	readBatchBytes = 8 << 20
)

// CatchUp applies everything the spool has committed; feedbackd calls it
// before it listens, so that feedback accepted after a restart finds every
// interaction acknowledged before it.
func (x *Index) CatchUp(ctx context.Context) error {
	src := x.opts.Source
	if c := src.Committed(); x.applied.Load() > c {
		// The spool was replaced under the index (a wiped wal directory):
		// its numbering restarts. The records stay valid; only the position
		// is reset.
		x.opts.Logger.Warn("enrichment index is ahead of the spool; re-reading the spool from its start", "applied", x.applied.Load(), "committed", c)
		if err := x.setApplied(src.First() - 1); err != nil {
			return err
		}
	}
	for x.applied.Load() < src.Committed() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.applyNext(); err != nil {
			return err
		}
	}
	return nil
}

func (x *Index) setApplied(seq uint64) error {
	err := x.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyApplied, be64(seq)) })
	if err == nil {
		x.applied.Store(seq)
		x.persisted.Store(seq)
	}
	return err
}

// applyNext applies one batch of committed spool entries after Applied.
func (x *Index) applyNext() error {
	src := x.opts.Source
	from := x.applied.Load() + 1
	if first := src.First(); from < first {
		// Truncated before the index saw it: only possible when the index
		// had no spool cursor (no sinks at the time, or a first start on an
		// old spool). Those interactions cannot be recovered.
		x.opts.Logger.Warn("spool entries were truncated before the enrichment index read them; their interactions are not indexed",
			"from", from, "first", first)
		from = first
	}
	if from > src.Committed() {
		return x.setApplied(src.Committed())
	}
	entries, err := src.Read(from, readBatch, readBatchBytes)
	if errors.Is(err, spool.ErrTruncated) {
		return nil // the next call starts from First
	}
	if err != nil {
		return fmt.Errorf("read spool for the enrichment index: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	return x.apply(entries)
}

type record struct {
	received int64
	seq      uint64
	attrs    []byte
}

func encodeRecord(r record) []byte {
	b := make([]byte, 16, 16+len(r.attrs))
	binary.BigEndian.PutUint64(b, uint64(r.received))
	binary.BigEndian.PutUint64(b[8:], r.seq)
	return append(b, r.attrs...)
}

func decodeRecord(v []byte) (record, bool) {
	if len(v) < 16 {
		return record{}, false
	}
	return record{received: int64(binary.BigEndian.Uint64(v)), seq: binary.BigEndian.Uint64(v[8:]), attrs: v[16:]}, true
}

func expiryKey(r record) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(r.received))
	binary.BigEndian.PutUint64(k[8:], r.seq)
	return k
}

// size is what one interaction costs the size bound: its record and its
// expiry entry.
func size(corr []byte, val []byte) int64 { return int64(2*len(corr) + len(val) + 16) }

func (x *Index) apply(entries []spool.Entry) error {
	type put struct {
		corr []byte
		rec  record
	}
	var puts []put
	for _, en := range entries {
		if !bytes.HasPrefix(en.Line, interactionPrefix) {
			continue
		}
		e, errs := feedback.Decode(en.Line)
		if len(errs) > 0 || e.CorrelationID == "" {
			// Every spooled line passed validation; one that no longer
			// decodes is left to the sinks (and their dead letters).
			x.opts.Logger.Warn("spooled interaction does not decode; not indexed", "seq", en.Seq)
			continue
		}
		a, worth := attrsOf(&e)
		if !worth {
			continue
		}
		puts = append(puts, put{corr: []byte(e.CorrelationID), rec: record{received: en.Received.UnixNano(), seq: en.Seq, attrs: a.append(nil)}})
	}
	last := entries[len(entries)-1].Seq
	if len(puts) == 0 {
		// Nothing to store, so no transaction: each is two fsyncs, which
		// queued with ingest's group commits on the same disk for every
		// few feedback requests (feedbackd-bench -mode delivery). The
		// position reaches the file with the next write, or within a
		// second (Run's ack); entries read again after a crash store
		// nothing either.
		x.applied.Store(last)
		x.wake()
		return nil
	}
	stored, count := x.stored.Load(), x.entries.Load()
	var evicted map[string]int
	err := x.db.Update(func(tx *bolt.Tx) error {
		recs, exp := tx.Bucket(bucketInteractions), tx.Bucket(bucketExpiry)
		for _, p := range puts {
			if old := recs.Get(p.corr); old != nil {
				// The newest interaction of a correlation id wins.
				if r, ok := decodeRecord(old); ok {
					if err := exp.Delete(expiryKey(r)); err != nil {
						return err
					}
				}
				stored -= size(p.corr, old)
				count--
			}
			val := encodeRecord(p.rec)
			if err := recs.Put(p.corr, val); err != nil {
				return err
			}
			if err := exp.Put(expiryKey(p.rec), p.corr); err != nil {
				return err
			}
			stored += size(p.corr, val)
			count++
		}
		var err error
		if evicted, err = x.evict(tx, &stored, &count); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyApplied, be64(last)); err != nil {
			return err
		}
		return meta.Put(keyBytes, be64(uint64(stored)))
	})
	if err != nil {
		x.applyErrs.Inc()
		err = fmt.Errorf("write enrichment index: %w", err)
		x.broken.Store(&err)
		x.wake() // waiters return with the error instead of waiting on
		return err
	}
	x.broken.Store(nil)
	x.stored.Store(stored)
	x.entries.Store(count)
	for reason, n := range evicted {
		x.evictions.WithLabelValues(reason).Add(float64(n))
	}
	x.applied.Store(last)
	x.persisted.Store(last)
	x.wake()
	return nil
}

// evict drops, oldest first, what is past the retention and what exceeds
// the size bound.
func (x *Index) evict(tx *bolt.Tx, stored, count *int64) (map[string]int, error) {
	recs, exp := tx.Bucket(bucketInteractions), tx.Bucket(bucketExpiry)
	horizon := x.opts.Now().Add(-x.opts.Retention).UnixNano()
	out := map[string]int{}
	c := exp.Cursor()
	for k, corr := c.First(); k != nil; k, corr = c.First() {
		reason := ""
		switch {
		case int64(binary.BigEndian.Uint64(k)) < horizon:
			reason = "retention"
		case *stored > x.opts.MaxBytes:
			reason = "size"
		default:
			return out, nil
		}
		corr = append([]byte(nil), corr...)
		if v := recs.Get(corr); v != nil {
			if r, ok := decodeRecord(v); ok && bytes.Equal(expiryKey(r), k) {
				*stored -= size(corr, v)
				*count--
				if err := recs.Delete(corr); err != nil {
					return nil, err
				}
			}
		}
		if err := c.Delete(); err != nil {
			return nil, err
		}
		out[reason]++
	}
	return out, nil
}

// Run applies what the spool commits until ctx ends, acknowledges its
// progress on the spool (at most once a second: the spool's cursor only has
// to hold back truncation, the index's own position is in its file) and
// expires old interactions while idle.
func (x *Index) Run(ctx context.Context) {
	src := x.opts.Source
	lastAck, lastEvict := time.Now(), time.Now()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		for x.applied.Load() < src.Committed() && ctx.Err() == nil {
			if err := x.applyNext(); err != nil {
				x.opts.Logger.Error("enrichment index", "err", err, "retry_in", backoff)
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 10*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
		}
		if time.Since(lastAck) >= time.Second {
			x.ack()
			lastAck = time.Now()
		}
		if time.Since(lastEvict) >= time.Minute {
			if err := x.expire(); err != nil {
				x.opts.Logger.Error("enrichment index expiry", "err", err)
			}
			lastEvict = time.Now()
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = src.Wait(wctx, x.applied.Load())
		cancel()
	}
	x.ack()
}

func (x *Index) ack() {
	a := x.applied.Load()
	if a > x.persisted.Load() {
		// Before the spool's cursor passes them, or a restart would find
		// them truncated.
		if err := x.setApplied(a); err != nil {
			x.opts.Logger.Error("enrichment index: position", "err", err)
			return
		}
	}
	if !x.opts.Cursor || a == x.acked {
		return
	}
	if err := x.opts.Source.Ack(CursorName, a); err != nil {
		x.opts.Logger.Error("enrichment index: spool cursor", "err", err)
		return
	}
	x.acked = a
}

// expire runs the eviction on its own, for an index no interaction arrives at.
func (x *Index) expire() error {
	stored, count := x.stored.Load(), x.entries.Load()
	var evicted map[string]int
	err := x.db.Update(func(tx *bolt.Tx) error {
		var err error
		if evicted, err = x.evict(tx, &stored, &count); err != nil || len(evicted) == 0 {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyBytes, be64(uint64(stored)))
	})
	if err != nil {
		return err
	}
	x.stored.Store(stored)
	x.entries.Store(count)
	for reason, n := range evicted {
		x.evictions.WithLabelValues(reason).Add(float64(n))
	}
	return nil
}

// Close closes the file; Run must have returned.
func (x *Index) Close() error { return x.db.Close() }

// Lookup returns the stored attributes of each correlation id it knows.
func (x *Index) Lookup(ids []string) (map[string]Attrs, error) {
	out := make(map[string]Attrs, len(ids))
	err := x.db.View(func(tx *bolt.Tx) error {
		recs := tx.Bucket(bucketInteractions)
		horizon := x.opts.Now().Add(-x.opts.Retention).UnixNano()
		for _, id := range ids {
			v := recs.Get([]byte(id))
			r, ok := decodeRecord(v)
			if !ok || r.received < horizon {
				continue
			}
			a, ok := parseAttrs(r.attrs)
			if !ok {
				return fmt.Errorf("enrichment record of %q is corrupt", id)
			}
			out[id] = a
		}
		return nil
	})
	return out, err
}
