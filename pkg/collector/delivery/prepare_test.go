package delivery

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
)

// preparingSink counts Prepare and Send calls; every batch's first Send
// fails once.
type preparingSink struct {
	*fakeSink
	mu              sync.Mutex
	prepares, sends int
	failed          map[uint64]bool
}

func (p *preparingSink) Prepare(batch []sink.Record) sink.Prepared {
	p.mu.Lock()
	p.prepares++
	p.mu.Unlock()
	return preparedBatch{p, batch}
}

type preparedBatch struct {
	p     *preparingSink
	batch []sink.Record
}

func (b preparedBatch) Send(ctx context.Context) error {
	b.p.mu.Lock()
	b.p.sends++
	first := !b.p.failed[b.batch[0].Seq]
	b.p.failed[b.batch[0].Seq] = true
	b.p.mu.Unlock()
	if first {
		return errors.New("503")
	}
	return b.p.fakeSink.Deliver(ctx, b.batch)
}

// A Preparer's batch is prepared once and resent as prepared on retry;
// the loop goes through Prepare and Send only.
func TestPreparedOnceRetriedAsPrepared(t *testing.T) {
	h := newHarness(t, t.TempDir(), "p")
	defer h.spool.Close()
	h.append(t, 21)
	p := &preparingSink{fakeSink: newFake("p", nil), failed: map[uint64]bool{}}
	h.runUntilDrained(t, p)
	if got := len(p.received()); got != 21 {
		t.Fatalf("delivered %d of 21", got)
	}
	if p.prepares != 3 || p.sends != 6 {
		t.Fatalf("%d prepares and %d sends for 3 batches of 7 failing once each, want 3 and 6", p.prepares, p.sends)
	}
	if p.calls != 3 {
		t.Fatalf("the fake recorded %d deliveries, want the 3 successful Sends", p.calls)
	}
}
