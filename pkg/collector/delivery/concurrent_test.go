package delivery

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
)

// concurrentFake is a fakeSink the loop may call for several batches at
// once; it tracks how many calls overlap.
type concurrentFake struct {
	*fakeSink
	mu      sync.Mutex
	now     int // calls under way
	maxSeen int // most calls under way at once
}

func (c *concurrentFake) DeliversConcurrently() {}

func (c *concurrentFake) Deliver(ctx context.Context, batch []sink.Record) error {
	c.mu.Lock()
	c.now++
	c.maxSeen = max(c.maxSeen, c.now)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	return c.fakeSink.Deliver(ctx, batch)
}

func (f *fakeSink) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (c *concurrentFake) overlap() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxSeen
}

func (h *harness) runner(concurrency int, timeout time.Duration, sinks ...sink.Sink) *Runner {
	return New(h.spool, sinks, h.metrics, Options{Logger: quiet, BatchSize: 7, Concurrency: concurrency,
		DeadLetterDir: filepath.Join(h.dir, "deadletter"), NewBackOff: fastBackOff, Timeout: timeout})
}

// start runs r until drained in the background; wait returns once it stopped.
func start(t *testing.T, r *Runner) (wait func()) {
	t.Helper()
	drain := make(chan struct{})
	close(drain)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan struct{})
	go func() { r.Run(ctx, drain); close(done) }()
	return func() {
		t.Helper()
		<-done
		defer cancel()
		if ctx.Err() != nil {
			t.Fatal("runner did not drain")
		}
	}
}

// The sink refuses one batch (503) at least once and until the batches
// after it were acknowledged: they are delivered meanwhile, exactly once, and the cursor
// stays in front of the refused batch until it is acknowledged too.
func TestRefusedBatchHoldsTheCursorWhileLaterOnesAreDelivered(t *testing.T) {
	h := newHarness(t, t.TempDir(), "shards")
	defer h.spool.Close()
	h.append(t, 28) // batches 1-7, 8-14, 15-21, 22-28
	var (
		mu             sync.Mutex
		acks           = map[uint64]int{}
		refusals       int
		cursorAtRetry  []uint64
		laterAllStored bool
	)
	var fake *concurrentFake
	fake = &concurrentFake{fakeSink: newFake("shards", func(_ int, _ context.Context, batch []sink.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if batch[0].Seq == 8 {
			cursorAtRetry = append(cursorAtRetry, h.spool.Cursor("shards"))
			stored := fake.received()
			laterAllStored = true
			for seq := uint64(15); seq <= 28; seq++ {
				if stored[seq] == "" {
					laterAllStored = false
				}
			}
			if !laterAllStored || refusals == 0 {
				refusals++
				return errors.New("loki push: HTTP 503: ingester unavailable")
			}
		}
		for _, r := range batch {
			acks[r.Seq]++
		}
		return nil
	})}
	h.runner(4, time.Second, fake).Run(context.Background(), closed())
	if !laterAllStored {
		t.Fatal("the batch from seq 8 was acknowledged before the later batches")
	}
	// The last look at the cursor is from the attempt that succeeded, after
	// batches 15-28 were acknowledged: the cursor still stood before 8.
	for _, c := range cursorAtRetry {
		if c > 7 {
			t.Fatalf("cursor at %d while the batch 8-14 was unacknowledged (seen %v)", c, cursorAtRetry)
		}
	}
	if c := h.spool.Cursor("shards"); c != 28 {
		t.Fatalf("cursor %d after draining, want 28", c)
	}
	for seq := uint64(1); seq <= 28; seq++ {
		if acks[seq] != 1 {
			t.Errorf("seq %d acknowledged %d times, want once", seq, acks[seq])
		}
	}
	if v := value(h.metrics.InFlight.WithLabelValues("shards")); v != 0 {
		t.Errorf("in-flight batches %v after draining", v)
	}
	if v := value(h.metrics.BatchEvents.WithLabelValues("shards").(prometheus.Histogram)); v != 4 {
		t.Errorf("batch_events observed %v batches, want 4", v)
	}
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// A sink that stops answering within the timeout makes the loop back off to
// one batch at a time; once it answers again the concurrency grows back to
// the configured one.
func TestSlowSinkBacksOffAndRecovers(t *testing.T) {
	h := newHarness(t, t.TempDir(), "slow")
	defer h.spool.Close()
	h.append(t, 300)
	var mu sync.Mutex
	slow := true
	var fake *concurrentFake
	fake = &concurrentFake{fakeSink: newFake("slow", func(_ int, ctx context.Context, _ []sink.Record) error {
		mu.Lock()
		s := slow
		mu.Unlock()
		if s {
			<-ctx.Done() // hangs past the delivery timeout
			return fmt.Errorf("loki push: no answer within 20ms: %w", ctx.Err())
		}
		return nil
	})}
	r := h.runner(4, 20*time.Millisecond, fake)
	limit := h.metrics.Concurrency.WithLabelValues("slow")
	if v := value(limit); v != 4 {
		t.Fatalf("concurrency %v before the first batch, want 4", v)
	}
	wait := start(t, r)
	waitFor(t, func() bool { return value(limit) == 1 })
	// Calls that began before the back-off may still hang; wait for them,
	// then check that no two calls overlap any more.
	waitFor(t, func() bool { fake.mu.Lock(); defer fake.mu.Unlock(); return fake.now <= 1 })
	if n := fake.overlap(); n < 2 {
		t.Fatalf("at most %d calls overlapped before the back-off, want the configured 4 hanging together", n)
	}
	fake.mu.Lock()
	fake.maxSeen = fake.now
	fake.mu.Unlock()
	for i := 0; i < 5; i++ {
		before := fake.callCount()
		waitFor(t, func() bool { return fake.callCount() > before })
	}
	if n := fake.overlap(); n > 1 {
		t.Fatalf("%d calls overlapped at concurrency 1", n)
	}
	if c := h.spool.Cursor("slow"); c != 0 {
		t.Fatalf("cursor moved to %d though nothing was acknowledged", c)
	}
	mu.Lock()
	slow = false
	mu.Unlock()
	wait()
	if v := value(limit); v != 4 {
		t.Fatalf("concurrency %v after the sink recovered, want 4", v)
	}
	if got := len(fake.received()); got != 300 {
		t.Fatalf("sink got %d of 300", got)
	}
	if v := value(h.metrics.Delivery.WithLabelValues("slow", OutcomeFailed)); v == 0 {
		t.Fatal("timed-out attempts not counted as failed")
	}
}

// A sink answering 429 for a while: concurrency halves down to one, the
// in-flight gauge never exceeds the configured concurrency, and after the
// sink accepts again every event arrives and concurrency is back. The
// window of batches never exceeds WindowBatches.
func TestRefusingSinkRecovers(t *testing.T) {
	h := newHarness(t, t.TempDir(), "busy")
	defer h.spool.Close()
	h.append(t, 300)
	var mu sync.Mutex
	refuse := true
	var inflightSeen float64
	fake := &concurrentFake{fakeSink: newFake("busy", func(_ int, _ context.Context, _ []sink.Record) error {
		v := value(h.metrics.InFlight.WithLabelValues("busy"))
		mu.Lock()
		defer mu.Unlock()
		inflightSeen = max(inflightSeen, v)
		if refuse {
			return errors.New("loki push: HTTP 429: Ingestion rate limit exceeded")
		}
		return nil
	})}
	limit := h.metrics.Concurrency.WithLabelValues("busy")
	wait := start(t, h.runner(3, time.Second, fake))
	waitFor(t, func() bool { return value(limit) == 1 })
	mu.Lock()
	refuse = false
	mu.Unlock()
	wait()
	if v := value(limit); v != 3 {
		t.Fatalf("concurrency %v after recovery, want 3", v)
	}
	if got := len(fake.received()); got != 300 {
		t.Fatalf("sink got %d of 300", got)
	}
	if inflightSeen > float64(WindowBatches(3)) || inflightSeen < 1 {
		t.Fatalf("in-flight batches reached %v, want 1..%d", inflightSeen, WindowBatches(3))
	}
	if h.spool.Cursor("busy") != 300 {
		t.Fatalf("cursor %d", h.spool.Cursor("busy"))
	}
}

// A sink that is not sink.Concurrent keeps one batch in flight whatever the
// option says: the rule consumers rely on it.
func TestSequentialSinkGetsOneBatchAtATime(t *testing.T) {
	h := newHarness(t, t.TempDir(), "rules")
	defer h.spool.Close()
	h.append(t, 60)
	var mu sync.Mutex
	now, most := 0, 0
	fake := newFake("rules", func(_ int, _ context.Context, _ []sink.Record) error {
		mu.Lock()
		now++
		most = max(most, now)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		now--
		mu.Unlock()
		return nil
	})
	h.runner(8, time.Second, fake).Run(context.Background(), closed())
	if most != 1 || len(fake.received()) != 60 {
		t.Fatalf("%d calls overlapped, %d of 60 delivered", most, len(fake.received()))
	}
	if v := value(h.metrics.Concurrency.WithLabelValues("rules")); v != 1 {
		t.Fatalf("reported concurrency %v, want 1", v)
	}
}
