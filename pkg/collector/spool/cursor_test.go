package spool

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func appendN(t *testing.T, s *Spool, n int) {
	t.Helper()
	if _, err := s.Append(context.Background(), lines("c", n)); err != nil {
		t.Fatal(err)
	}
}

// A cursor written by an earlier feedbackd (decimal text) is read, and the
// next acknowledgement turns it into the two-slot file.
func TestCursorFromDecimalText(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sinks: []string{"loki"}})
	appendN(t, s, 10)
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, "cursors", "loki"), []byte("7\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, Options{Sinks: []string{"loki"}})
	if c := s.Cursor("loki"); c != 7 {
		t.Fatalf("cursor %d, want 7 from the text file", c)
	}
	for _, seq := range []uint64{8, 9, 10} {
		if err := s.Ack("loki", seq); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	b, err := os.ReadFile(filepath.Join(dir, "cursors", "loki"))
	if err != nil || len(b) != 2*cursorSlotLen {
		t.Fatalf("cursor file is %d bytes (%v), want two slots", len(b), err)
	}
	s = open(t, dir, Options{Sinks: []string{"loki"}})
	defer s.Close()
	if c := s.Cursor("loki"); c != 10 {
		t.Fatalf("cursor %d after reopen, want 10", c)
	}
}

// A damaged slot (a torn write) leaves the other slot's position, one
// acknowledgement older; two damaged slots are an error naming the sink.
func TestCursorSurvivesOneDamagedSlot(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sinks: []string{"es"}})
	appendN(t, s, 10)
	for _, seq := range []uint64{3, 5, 9} {
		if err := s.Ack("es", seq); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	path := filepath.Join(dir, "cursors", "es")
	b, _ := os.ReadFile(path)
	// 3 made the file (both slots), 5 went to slot 0, 9 to slot 1.
	for i, want := range []uint64{5, 9} {
		if got, ok := decodeSlot(b[i*cursorSlotLen : (i+1)*cursorSlotLen]); !ok || got != want {
			t.Fatalf("slot %d holds %d (valid %v), want %d", i, got, ok, want)
		}
	}
	b[cursorSlotLen+3] ^= 0xff // tear the newer slot
	os.WriteFile(path, b, 0o640)
	s = open(t, dir, Options{Sinks: []string{"es"}})
	if c := s.Cursor("es"); c != 5 {
		t.Fatalf("cursor %d with the newer slot torn, want the older 5", c)
	}
	s.Close()
	b[3] ^= 0xff
	os.WriteFile(path, b, 0o640)
	if _, err := Open(Options{Dir: dir, Sinks: []string{"es"}}); err == nil || !strings.Contains(err.Error(), "sink es") || !strings.Contains(err.Error(), "both slots") {
		t.Fatalf("both slots torn: %v", err)
	}
}

// Acknowledgements in place never move the durable cursor back, whatever
// order racing callers arrive in.
func TestCursorNeverMovesBack(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sinks: []string{"a"}})
	appendN(t, s, 20)
	for _, seq := range []uint64{10, 15, 12, 15, 11} {
		if err := s.Ack("a", seq); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if v, _, err := readCursor(filepath.Join(dir, "cursors", "a")); err != nil || v != 15 {
		t.Fatalf("durable cursor %d (%v), want 15", v, err)
	}
}
