package delivery

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
)

// cursorRun delivers n events, a batch each, to a concurrent sink
// (concurrency 4: a window of 16, half of it 8) with the given CursorDelay,
// until drain is closed; it returns once the sink has all n.
func cursorRun(t *testing.T, n int, delay time.Duration, drain chan struct{}) (h *harness, stopped func()) {
	t.Helper()
	h = newHarness(t, t.TempDir(), "shards")
	h.append(t, n)
	c := &concurrentFake{fakeSink: newFake("shards", nil)}
	r := New(h.spool, []sink.Sink{c}, h.metrics, Options{Logger: quiet, BatchSize: 1, Concurrency: 4,
		CursorDelay: delay, DeadLetterDir: filepath.Join(h.dir, "deadletter"), NewBackOff: fastBackOff})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	done := make(chan struct{})
	go func() { r.Run(ctx, drain); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		h.spool.Close()
	})
	waitFor(t, func() bool { return len(c.received()) == n })
	return h, func() {
		t.Helper()
		<-done
		if ctx.Err() != nil {
			t.Fatal("runner did not drain")
		}
	}
}

// Acknowledgements share cursor writes: fewer than half a window of them
// wait for CursorDelay (here, longer than the test) or the drain, which
// writes at once.
func TestCursorWriteWaitsForHalfTheWindowOrTheDrain(t *testing.T) {
	drain := make(chan struct{})
	h, stopped := cursorRun(t, 3, time.Hour, drain)
	time.Sleep(100 * time.Millisecond)
	if c := h.spool.Cursor("shards"); c != 0 {
		t.Fatalf("cursor written at %d for 3 of 8 acknowledgements", c)
	}
	close(drain)
	stopped()
	if c := h.spool.Cursor("shards"); c != 3 {
		t.Fatalf("cursor %d after the drain, want 3", c)
	}
}

// Half a window acknowledged is written without waiting for CursorDelay.
func TestCursorWrittenOnceHalfTheWindowIsAcknowledged(t *testing.T) {
	h, _ := cursorRun(t, 8, time.Hour, make(chan struct{}))
	waitFor(t, func() bool { return h.spool.Cursor("shards") == 8 })
}

// An idle sink's cursor reaches its last acknowledgement CursorDelay later.
func TestCursorWrittenAfterCursorDelay(t *testing.T) {
	h, _ := cursorRun(t, 3, 20*time.Millisecond, make(chan struct{}))
	waitFor(t, func() bool { return h.spool.Cursor("shards") == 3 })
}
