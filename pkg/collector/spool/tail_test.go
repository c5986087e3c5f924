package spool

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// Every read answers the same whether it is served from the in-memory tail
// or from the log on disk: the same entries (seq, receive time, line), the
// same limits by count and bytes, including reads that start before the
// tail and ones that run into its end.
func TestTailAnswersAsTheLog(t *testing.T) {
	dir := t.TempDir()
	// Every line is {"n":"w<w>-<i>-<j>"}, all of one length; a tail of 40
	// of the 100 lines: reads from 1 go to disk.
	lineLen := len(`{"n":"w0-0-0"}`)
	s := open(t, dir, Options{Sinks: []string{"a"}, TailBytes: 40 * lineLen})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if _, err := s.Append(context.Background(), lines(fmt.Sprintf("w%d-%d", w, i), 5)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	type read struct {
		from          uint64
		max, maxBytes int
	}
	var reads []read
	for from := uint64(1); from <= 101; from += 7 {
		reads = append(reads, read{from, 10, 1 << 20}, read{from, 1000, 100}, read{from, 1, 1}, read{from, 10, 2 * lineLen})
	}
	var live [][]Entry
	fromTail := 0
	for _, r := range reads {
		es, err := s.Read(r.from, r.max, r.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.tail.read(r.from, s.Committed(), r.max, r.maxBytes); ok {
			fromTail++
		}
		live = append(live, es)
	}
	if fromTail == 0 || fromTail == len(reads) {
		t.Fatalf("%d of %d reads came from the tail: the comparison needs both kinds", fromTail, len(reads))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	disk := open(t, dir, Options{Sinks: []string{"a"}, TailBytes: -1})
	defer disk.Close()
	for i, r := range reads {
		es, err := disk.Read(r.from, r.max, r.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		for j := range es {
			// Monotonic clock readings are not on disk.
			live[i][j].Received = live[i][j].Received.Round(0)
			es[j].Received = es[j].Received.Round(0)
		}
		if !reflect.DeepEqual(live[i], es) {
			t.Fatalf("Read(%d, %d, %d): from memory %d entries, from disk %d:\n%v\n%v", r.from, r.max, r.maxBytes, len(live[i]), len(es), live[i], es)
		}
	}
}

// The tail keeps its own copy: a caller reusing its frames after Append
// returned does not change what readers get.
func TestTailOwnsItsLines(t *testing.T) {
	s := open(t, t.TempDir(), Options{Sinks: []string{"a"}})
	defer s.Close()
	frame := append(make([]byte, FrameHeaderLen), `{"n":"original"}`...)
	first, err := s.AppendFrames(context.Background(), [][]byte{frame})
	if err != nil {
		t.Fatal(err)
	}
	copy(frame[FrameHeaderLen:], `{"n":"overwrite"}`)
	es := readAll(t, s, first)
	if len(es) != 1 || string(es[0].Line) != `{"n":"original"}` {
		t.Fatalf("read %v", es)
	}
	if _, ok := s.tail.read(first, s.Committed(), 1, 1); !ok {
		t.Fatal("the entry just appended is not in the tail")
	}
}

// The tail never holds more than its bound, however much is appended.
func TestTailIsBounded(t *testing.T) {
	const limit = 10 << 10
	s := open(t, t.TempDir(), Options{Sinks: []string{"a"}, TailBytes: limit})
	defer s.Close()
	for i := 0; i < 300; i++ {
		if _, err := s.Append(context.Background(), lines(fmt.Sprint(i), 20)); err != nil {
			t.Fatal(err)
		}
		s.tail.mu.RLock()
		b, n, held := s.tail.bytes, len(s.tail.entries)-s.tail.head, len(s.tail.entries)
		s.tail.mu.RUnlock()
		if b > limit || n == 0 || held > 2*n+1024 {
			t.Fatalf("after %d appends the tail holds %d bytes in %d entries (%d slots), bound %d", i+1, b, n, held, limit)
		}
	}
}
