package spool

import (
	"encoding/binary"
	"sync"
	"time"
)

// tail is the newest committed entries in memory, consecutive by Seq.
//
// Why: the library holds its lock through each group commit's write and
// fsync, so a reader of the log waits for every commit that overlaps it,
// entry by entry, and delivery stalled behind ingest. The lines are also
// copied and checksummed once here instead of once per reader.
type tail struct {
	mu      sync.RWMutex
	entries []Entry // entries[head:] are live
	head    int
	bytes   int
}

// add appends the frames of the requests just committed, then drops the
// oldest entries beyond limit bytes (limit < 0: keeps nothing).
func (t *tail) add(reqs []*appendReq, limit int) {
	if limit < 0 {
		return
	}
	n, size := 0, 0
	for _, r := range reqs {
		n += len(r.frames)
		for _, f := range r.frames {
			size += len(f) - headerLen
		}
	}
	// One allocation for the group's lines: the callers' frames are theirs
	// again once Append returns.
	buf := make([]byte, 0, size)
	added := make([]Entry, 0, n)
	for _, r := range reqs {
		seq := r.first
		for _, f := range r.frames {
			start := len(buf)
			buf = append(buf, f[headerLen:]...)
			added = append(added, Entry{
				Seq:      seq,
				Received: time.Unix(0, int64(binary.LittleEndian.Uint64(f[4:]))),
				Line:     buf[start:len(buf):len(buf)],
			})
			seq++
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) > t.head && len(added) > 0 && t.entries[len(t.entries)-1].Seq+1 != added[0].Seq {
		// Not consecutive (cannot happen with one committer): start over
		// rather than serve a gap.
		t.entries, t.head, t.bytes = nil, 0, 0
	}
	t.entries = append(t.entries, added...)
	t.bytes += size
	for t.head < len(t.entries) && t.bytes > limit {
		t.bytes -= len(t.entries[t.head].Line)
		t.entries[t.head] = Entry{}
		t.head++
	}
	// Compact once the dropped prefix is most of the slice, so its memory
	// (and the lines it pointed to) can go.
	if t.head > 1024 && t.head*2 > len(t.entries) {
		t.entries = append([]Entry(nil), t.entries[t.head:]...)
		t.head = 0
	}
}

// read returns up to max entries from from on, stopping after maxBytes of
// lines (at least one entry), and never past last. ok is false when from is
// older than the tail holds.
func (t *tail) read(from, last uint64, max, maxBytes int) (out []Entry, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	live := t.entries[t.head:]
	if len(live) == 0 || from < live[0].Seq || from > live[len(live)-1].Seq {
		return nil, false
	}
	i := int(from - live[0].Seq)
	size := 0
	for ; i < len(live) && live[i].Seq <= last && len(out) < max; i++ {
		out = append(out, live[i])
		size += len(live[i].Line)
		if size >= maxBytes {
			break
		}
	}
	return out, true
}
