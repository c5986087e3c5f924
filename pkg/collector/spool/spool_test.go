package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func open(t *testing.T, dir string, opts Options) *Spool {
	t.Helper()
	opts.Dir = dir
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func lines(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf(`{"n":"%s-%d"}`, prefix, i))
	}
	return out
}

func readAll(t *testing.T, s *Spool, from uint64) []Entry {
	t.Helper()
	es, err := s.Read(from, 1<<30, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sinks: []string{"a"}})
	first, err := s.Append(context.Background(), lines("x", 3))
	if err != nil {
		t.Fatal(err)
	}
	if first != 1 || s.Committed() != 3 {
		t.Fatalf("first=%d committed=%d", first, s.Committed())
	}
	if err := s.Ack("a", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Sinks: []string{"a", "b"}})
	defer s.Close()
	if got := s.Cursor("a"); got != 2 {
		t.Fatalf("cursor a after reopen = %d, want 2", got)
	}
	if got := s.Cursor("b"); got != 0 {
		t.Fatalf("new sink b must start before the oldest entry, cursor = %d", got)
	}
	es := readAll(t, s, 1)
	if len(es) != 3 || string(es[2].Line) != `{"n":"x-2"}` || es[2].Seq != 3 {
		t.Fatalf("entries after reopen: %+v", es)
	}
	if es[0].Received.IsZero() {
		t.Fatal("received time not stored")
	}
}

// Concurrent appends get distinct, gap-free sequence numbers and each caller's
// lines stay consecutive.
func TestConcurrentAppendsAreGapFree(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	const writers, per = 16, 20
	var wg sync.WaitGroup
	firsts := make(chan uint64, writers*per)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				f, err := s.Append(context.Background(), lines(fmt.Sprintf("w%d.%d", w, i), 3))
				if err != nil {
					t.Error(err)
					return
				}
				firsts <- f
			}
		}(w)
	}
	wg.Wait()
	close(firsts)
	if s.Committed() != writers*per*3 {
		t.Fatalf("committed = %d", s.Committed())
	}
	es := readAll(t, s, 1)
	seen := map[uint64]bool{}
	for f := range firsts {
		if seen[f] {
			t.Fatalf("first %d handed out twice", f)
		}
		seen[f] = true
		a, b := string(es[f-1].Line), string(es[f+1].Line)
		if a[:len(a)-3] != b[:len(b)-3] {
			t.Fatalf("lines of one append not consecutive: %s / %s", a, b)
		}
	}
}

func TestFullRejectsWithoutWriting(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 200})
	defer s.Close()
	if _, err := s.Append(context.Background(), lines("a", 2)); err != nil {
		t.Fatal(err)
	}
	before, bytes := s.Committed(), s.Bytes()
	_, err := s.Append(context.Background(), lines("b", 10))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if s.Committed() != before || s.Bytes() != bytes {
		t.Fatalf("a rejected append changed the spool: %d/%d -> %d/%d", before, bytes, s.Committed(), s.Bytes())
	}
}

// A SIGKILL during write(2) can leave half a frame, or a frame whose bytes are
// not what was written; Open must drop exactly that tail and keep the rest.
func TestTornTailIsRepaired(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"half frame":   func(b []byte) []byte { return b[:len(b)-5] },
		"garbage tail": func(b []byte) []byte { return append(b, 0x10, 1, 2, 3) },
		"flipped byte": func(b []byte) []byte { b[len(b)-2] ^= 0xff; return b },
		"zero filled":  func(b []byte) []byte { return append(b, make([]byte, 64)...) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{})
			for i := 0; i < 3; i++ {
				if _, err := s.Append(context.Background(), lines(fmt.Sprint(i), 1)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			seg := filepath.Join(dir, "wal", fmt.Sprintf("%020d", 1))
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(seg, damage(b), 0o640); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, Options{})
			defer s.Close()
			want := uint64(3)
			if name == "half frame" || name == "flipped byte" {
				want = 2
			}
			if s.Committed() != want {
				t.Fatalf("committed after repair = %d, want %d", s.Committed(), want)
			}
			if f, err := s.Append(context.Background(), lines("after", 1)); err != nil || f != want+1 {
				t.Fatalf("append after repair: first=%d err=%v", f, err)
			}
			if es := readAll(t, s, 1); len(es) != int(want)+1 {
				t.Fatalf("read %d entries", len(es))
			}
		})
	}
}

// Space is reclaimed only behind the slowest sink, and what a sink has not
// acknowledged stays readable across a restart.
func TestTruncationFollowsSlowestSink(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 1024, ReclaimBytes: 1, Sinks: []string{"fast", "slow"}}
	s := open(t, dir, opts)
	for i := 0; i < 100; i++ {
		if _, err := s.Append(context.Background(), lines(fmt.Sprint(i), 5)); err != nil {
			t.Fatal(err)
		}
	}
	last := s.Committed()
	if err := s.Ack("fast", last); err != nil {
		t.Fatal(err)
	}
	if s.First() != 1 {
		t.Fatalf("truncated to %d although sink slow acknowledged nothing", s.First())
	}
	if err := s.Ack("slow", 300); err != nil {
		t.Fatal(err)
	}
	first := s.First()
	if first <= 1 || first > 301 {
		t.Fatalf("after slow acked 300, first = %d, want in (1, 301]", first)
	}
	if _, err := s.Read(1, 1, 1<<20); !errors.Is(err, ErrTruncated) {
		t.Fatalf("reading a truncated position: %v", err)
	}
	bytes := s.Bytes()
	s.Close()

	s = open(t, dir, opts)
	defer s.Close()
	if s.First() != first || s.Cursor("slow") != 300 || s.Cursor("fast") != last {
		t.Fatalf("after reopen first=%d slow=%d fast=%d", s.First(), s.Cursor("slow"), s.Cursor("fast"))
	}
	if s.Bytes() != bytes {
		t.Fatalf("bytes %d after reopen, %d before", s.Bytes(), bytes)
	}
	es := readAll(t, s, 301)
	if len(es) != int(last-300) || es[0].Seq != 301 {
		t.Fatalf("unacknowledged entries after reopen: %d from %d", len(es), es[0].Seq)
	}
	if err := s.Ack("slow", last); err != nil {
		t.Fatal(err)
	}
	if s.First() <= first {
		t.Fatalf("nothing reclaimed once both sinks caught up: first %d", s.First())
	}
}

func TestNoSinksNeverTruncates(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentSize: 256})
	defer s.Close()
	for i := 0; i < 50; i++ {
		if _, err := s.Append(context.Background(), lines(fmt.Sprint(i), 2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.truncate(); err != nil {
		t.Fatal(err)
	}
	if s.First() != 1 {
		t.Fatalf("first = %d", s.First())
	}
}

func TestWaitWakesOnCommit(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	errc := make(chan error, 1)
	go func() { errc <- s.Wait(context.Background(), 0) }()
	if _, err := s.Append(context.Background(), lines("w", 1)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx, s.Committed()); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with cancelled ctx: %v", err)
	}
}

func TestClosedRejects(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	s.Close()
	if _, err := s.Append(context.Background(), lines("c", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v", err)
	}
}

// Old segments go only once ReclaimBytes of them are behind every sink:
// each removal rewrites the segment that stays.
func TestTruncationWaitsForReclaimBytes(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentSize: 1024, ReclaimBytes: 8192, Sinks: []string{"a", "b"}})
	defer s.Close()
	for i := 0; i < 250; i++ {
		if _, err := s.Append(context.Background(), lines(fmt.Sprint(i), 5)); err != nil {
			t.Fatal(err)
		}
	}
	last := s.Committed()
	if s.Bytes() < 3*8192 {
		t.Fatalf("the test needs more than %d bytes spooled", s.Bytes())
	}
	ackBoth := func(seq uint64) {
		t.Helper()
		for _, name := range []string{"a", "b"} {
			if err := s.Ack(name, seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	ackBoth(last / 5)
	if s.First() != 1 {
		t.Fatalf("truncated to %d with less than ReclaimBytes behind the sinks", s.First())
	}
	before := s.Bytes()
	ackBoth(last * 4 / 5)
	if s.First() <= 1 || s.First() > last*4/5+1 {
		t.Fatalf("after both acked %d of %d, first = %d", last*4/5, last, s.First())
	}
	if freed := before - s.Bytes(); freed < 8192 {
		t.Fatalf("freed %d bytes, want at least ReclaimBytes", freed)
	}
	if es := readAll(t, s, last*4/5+1); len(es) != int(last-last*4/5) {
		t.Fatalf("read %d unacknowledged entries, want %d", len(es), last-last*4/5)
	}
}
