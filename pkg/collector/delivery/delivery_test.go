package delivery

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/feedbackloop/modelfeedback/pkg/collector/metrics"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
)

// fakeSink records what it acknowledged; behave decides each call's outcome.
type fakeSink struct {
	name   string
	mu     sync.Mutex
	calls  int
	got    map[uint64]string
	behave func(call int, ctx context.Context, batch []sink.Record) error
}

func newFake(name string, behave func(int, context.Context, []sink.Record) error) *fakeSink {
	return &fakeSink{name: name, got: map[uint64]string{}, behave: behave}
}

func (f *fakeSink) Name() string                   { return f.name }
func (f *fakeSink) Ping(ctx context.Context) error { return nil }
func (f *fakeSink) Deliver(ctx context.Context, batch []sink.Record) error {
	f.mu.Lock()
	f.calls++
	call := f.calls
	f.mu.Unlock()
	var err error
	if f.behave != nil {
		err = f.behave(call, ctx, batch)
	}
	rejected := map[uint64]bool{}
	if rej, ok := sink.AsRejected(err); ok {
		for _, r := range rej.Rejections {
			rejected[r.Seq] = true
		}
	} else if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range batch {
		if !rejected[r.Seq] {
			f.got[r.Seq] = string(r.Line)
		}
	}
	return err
}

func (f *fakeSink) received() map[uint64]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[uint64]string{}
	for k, v := range f.got {
		out[k] = v
	}
	return out
}

type harness struct {
	dir     string
	spool   *spool.Spool
	metrics Metrics
}

func newHarness(t *testing.T, dir string, sinks ...string) *harness {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, Sinks: sinks, SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(false)
	return &harness{dir: dir, spool: sp, metrics: Metrics{Delivery: m.Delivery, InFlight: m.DeliveryInFlight,
		Concurrency: m.DeliveryConcurrency, BatchEvents: m.DeliveryBatchEvents, BatchBytes: m.DeliveryBatchBytes,
		SendDuration: m.DeliverySendDuration}}
}

func (h *harness) append(t *testing.T, n int) {
	t.Helper()
	ls := make([][]byte, n)
	for i := range ls {
		ls[i] = []byte(fmt.Sprintf(`{"i":%d}`, i))
	}
	if _, err := h.spool.Append(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
}

func fastBackOff() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }

// runUntilDrained starts the runner, asks it to drain at once, and waits for
// it to stop: it stops only after every committed event was acknowledged.
func (h *harness) runUntilDrained(t *testing.T, sinks ...sink.Sink) {
	t.Helper()
	r := New(h.spool, sinks, h.metrics, Options{Logger: quiet, BatchSize: 7, DeadLetterDir: filepath.Join(h.dir, "deadletter"),
		NewBackOff: fastBackOff, Timeout: 50 * time.Millisecond})
	drain := make(chan struct{})
	close(drain)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r.Run(ctx, drain)
	if ctx.Err() != nil {
		t.Fatal("runner did not drain")
	}
}

func TestRetriesUntilAcknowledged(t *testing.T) {
	h := newHarness(t, t.TempDir(), "flaky")
	defer h.spool.Close()
	h.append(t, 20)
	flaky := newFake("flaky", func(call int, _ context.Context, _ []sink.Record) error {
		if call%3 != 0 { // two failures before every success
			return errors.New("503 from sink")
		}
		return nil
	})
	h.runUntilDrained(t, flaky)
	if got := len(flaky.received()); got != 20 {
		t.Fatalf("sink got %d of 20", got)
	}
	if c := h.spool.Cursor("flaky"); c != 20 {
		t.Fatalf("cursor = %d", c)
	}
	if v := value(h.metrics.Delivery.WithLabelValues("flaky", OutcomeFailed)); v == 0 {
		t.Fatal("failed attempts not counted")
	}
	if v := value(h.metrics.Delivery.WithLabelValues("flaky", OutcomeDelivered)); v != 20 {
		t.Fatalf("delivered counter = %v", v)
	}
}

// A sink that hangs is cut off by the per-call timeout and retried; the
// cursor never moves past a batch that was not acknowledged.
func TestTimeoutIsRetriedNotSkipped(t *testing.T) {
	h := newHarness(t, t.TempDir(), "slow")
	defer h.spool.Close()
	h.append(t, 10)
	var cursorsSeenDuringHang []uint64
	var mu sync.Mutex
	slow := newFake("slow", func(call int, ctx context.Context, _ []sink.Record) error {
		if call <= 2 {
			<-ctx.Done()
			mu.Lock()
			cursorsSeenDuringHang = append(cursorsSeenDuringHang, h.spool.Cursor("slow"))
			mu.Unlock()
			return ctx.Err()
		}
		return nil
	})
	h.runUntilDrained(t, slow)
	if len(slow.received()) != 10 {
		t.Fatalf("got %d", len(slow.received()))
	}
	for _, c := range cursorsSeenDuringHang {
		if c != 0 {
			t.Fatalf("cursor moved to %d while the first batch was unacknowledged", c)
		}
	}
}

func TestPartialRejectionIsDeadLettered(t *testing.T) {
	h := newHarness(t, t.TempDir(), "picky")
	defer h.spool.Close()
	h.append(t, 10)
	picky := newFake("picky", func(_ int, _ context.Context, batch []sink.Record) error {
		var rej []sink.Rejection
		for _, r := range batch {
			if r.Seq%4 == 0 {
				rej = append(rej, sink.Rejection{Seq: r.Seq, Reason: fmt.Sprintf("mapper_parsing_exception %d", r.Seq)})
			}
		}
		if rej == nil {
			return nil
		}
		return fmt.Errorf("bulk: %w", &sink.RejectedError{Rejections: rej})
	})
	h.runUntilDrained(t, picky)
	got := picky.received()
	if len(got) != 8 || got[4] != "" || got[8] != "" || got[5] == "" {
		t.Fatalf("accepted records wrong: %v", got)
	}
	f, err := os.Open(filepath.Join(h.dir, "deadletter", "picky.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dls []DeadLetter
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		dls = append(dls, d)
	}
	if len(dls) != 2 || dls[0].Seq != 4 || dls[1].Seq != 8 || dls[0].Reason != "mapper_parsing_exception 4" ||
		string(dls[1].Event) != `{"i":7}` {
		t.Fatalf("dead letters: %+v", dls)
	}
	if h.spool.Cursor("picky") != 10 {
		t.Fatalf("cursor %d", h.spool.Cursor("picky"))
	}
	if v := value(h.metrics.Delivery.WithLabelValues("picky", OutcomeRejected)); v != 2 {
		t.Fatalf("rejected counter = %v", v)
	}
}

// Each sink has its own cursor: one sink being down neither blocks nor
// duplicates delivery to another, and a restart resumes each from its own.
func TestRestartResumesFromEachCursor(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, "up", "down")
	h.append(t, 30)
	up := newFake("up", nil)
	down := newFake("down", func(int, context.Context, []sink.Record) error { return errors.New("connection refused") })
	r := New(h.spool, []sink.Sink{up, down}, h.metrics, Options{Logger: quiet, BatchSize: 7, NewBackOff: fastBackOff})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, nil); close(done) }()
	waitFor(t, func() bool { return h.spool.Cursor("up") == 30 })
	cancel()
	<-done
	if h.spool.Cursor("down") != 0 {
		t.Fatalf("down sink cursor moved to %d", h.spool.Cursor("down"))
	}
	if h.spool.First() != 1 {
		t.Fatalf("spool truncated to %d while sink down had nothing acknowledged", h.spool.First())
	}
	h.spool.Close()

	h = newHarness(t, dir, "up", "down")
	defer h.spool.Close()
	h.append(t, 5)
	up2, down2 := newFake("up", nil), newFake("down", nil)
	h.runUntilDrained(t, up2, down2)
	if got := up2.received(); len(got) != 5 || got[31] == "" {
		t.Fatalf("after restart sink up got %d records (want only the 5 new ones)", len(got))
	}
	if got := down2.received(); len(got) != 35 {
		t.Fatalf("after restart sink down got %d records, want all 35", len(got))
	}
}

func TestLagReportsOldestUnacknowledged(t *testing.T) {
	h := newHarness(t, t.TempDir(), "stuck")
	defer h.spool.Close()
	h.append(t, 1)
	release := make(chan struct{})
	stuck := newFake("stuck", func(call int, ctx context.Context, _ []sink.Record) error {
		if call == 1 {
			<-release
		}
		return nil
	})
	r := New(h.spool, []sink.Sink{stuck}, h.metrics, Options{Logger: quiet, NewBackOff: fastBackOff})
	lag := r.LagCollectors()[0].(prometheus.GaugeFunc)
	drain := make(chan struct{})
	done := make(chan struct{})
	go func() { r.Run(context.Background(), drain); close(done) }()
	waitFor(t, func() bool { return value(lag) > 0 })
	close(release)
	close(drain)
	<-done
	if v := value(lag); v != 0 {
		t.Fatalf("lag %v after catching up", v)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

var quiet = slog.New(slog.DiscardHandler)

// value reads a single-series collector without promlint's extra dependencies.
func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			panic(err)
		}
		sum += d.GetCounter().GetValue() + d.GetGauge().GetValue() + float64(d.GetHistogram().GetSampleCount())
	}
	return sum
}
