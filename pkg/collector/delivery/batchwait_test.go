package delivery

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
)

// Events trickling in one at a time are delivered in fewer, fuller batches
// with BatchWait than without, though none of those batches is full.
func TestBatchWaitGathersTrickledEvents(t *testing.T) {
	sizes := func(wait time.Duration) (batches []int) {
		h := newHarness(t, t.TempDir(), "s")
		defer h.spool.Close()
		var mu sync.Mutex
		s := newFake("s", func(_ int, _ context.Context, b []sink.Record) error {
			mu.Lock()
			batches = append(batches, len(b))
			mu.Unlock()
			return nil
		})
		r := New(h.spool, []sink.Sink{s}, h.metrics, Options{Logger: quiet, BatchSize: 50, BatchWait: wait,
			NewBackOff: fastBackOff, Timeout: time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		drain := make(chan struct{})
		done := make(chan struct{})
		go func() { r.Run(ctx, drain); close(done) }()
		for i := 0; i < 40; i++ {
			h.append(t, 1)
			time.Sleep(time.Millisecond)
		}
		deadline := time.Now().Add(10 * time.Second)
		for h.spool.Cursor("s") < 40 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		close(drain)
		<-done
		cancel()
		if c := h.spool.Cursor("s"); c != 40 {
			t.Fatalf("wait %s: cursor %d of 40", wait, c)
		}
		return batches
	}
	without := sizes(0)
	with := sizes(30 * time.Millisecond)
	if len(with) >= len(without) || len(with) > 10 {
		t.Fatalf("batch sizes without a wait %v, with 30 ms %v: want fewer, fuller batches with it", without, with)
	}
}

// A full batch does not wait, and draining does not wait for a batch to
// fill: with an hour's BatchWait both happen at once.
func TestBatchWaitNeverDelaysAFullBatchOrTheDrain(t *testing.T) {
	h := newHarness(t, t.TempDir(), "s")
	defer h.spool.Close()
	h.append(t, 23) // three full batches of 7 and a rest of 2
	var mu sync.Mutex
	var batches []int
	s := newFake("s", func(_ int, _ context.Context, b []sink.Record) error {
		mu.Lock()
		batches = append(batches, len(b))
		mu.Unlock()
		return nil
	})
	r := New(h.spool, []sink.Sink{s}, h.metrics, Options{Logger: quiet, BatchSize: 7, BatchWait: time.Hour,
		NewBackOff: fastBackOff, Timeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	drain := make(chan struct{})
	done := make(chan struct{})
	go func() { r.Run(ctx, drain); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for h.spool.Cursor("s") < 21 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c := h.spool.Cursor("s"); c != 21 {
		t.Fatalf("the full batches were not delivered at once: cursor %d", c)
	}
	close(drain)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("draining waited for the last batch to fill")
	}
	if c := h.spool.Cursor("s"); c != 23 {
		t.Fatalf("after the drain the cursor is %d of 23 (batches %v)", c, batches)
	}
}
