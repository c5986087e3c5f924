// Package spool is feedbackd's on-disk write-ahead log: every accepted event
// is appended and fsynced here before the client gets its 202, and each sink
// reads it back from its own durable cursor.
//
// The log itself is github.com/tidwall/wal (a maintained segment log with
// crash-safe front truncation). This package adds what the library leaves to
// its user:
//   - group commit: concurrent Append calls are gathered into one WriteBatch,
//     which is one write and one fsync, so throughput scales with concurrency
//     instead of being capped at one fsync per request;
//   - a CRC per entry and a tail repair at open, because the library's binary
//     frames carry only a length: a SIGKILL in the middle of a write(2) leaves
//     a torn last frame that would otherwise make Open fail forever (such an
//     entry was never acknowledged, so dropping it loses nothing);
//   - per-sink cursors in their own small files, and truncation only behind
//     the slowest sink's persisted cursor;
//   - the newest entries kept in memory as well (tail.go), so that readers
//     that keep up, as the sinks do, never wait on the log's lock, which a
//     group commit holds through its fsync.
package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/wal"
)

var (
	// ErrFull means accepting the events would exceed MaxBytes; the caller
	// answers 429 and nothing was written.
	ErrFull = errors.New("spool is full")
	// ErrClosed means the spool is shutting down.
	ErrClosed = errors.New("spool is closed")
	// ErrTruncated means the requested position was already truncated away.
	ErrTruncated = errors.New("spool position already truncated")
)

// Options configures Open.
type Options struct {
	// Dir holds the log (Dir/wal), the cursors (Dir/cursors).
	Dir string
	// MaxBytes bounds the on-disk log; 0 means 1 GiB.
	MaxBytes int64
	// SegmentSize is the target size of one log file; 0 means 2 MiB.
	// Space is reclaimed a segment at a time (or all at once when every sink
	// has caught up), so this is also the reclaim granularity.
	SegmentSize int
	// Sinks names the sinks whose cursors hold back truncation. With none,
	// nothing is ever truncated: the events wait for a sink to be configured.
	Sinks []string
	// TailBytes bounds the newest lines kept in memory for readers; 0 means
	// DefaultTailBytes, negative means none.
	TailBytes int
	// ReclaimBytes is how much every sink must have acknowledged, in whole
	// segments, before those segments are removed; 0 means
	// min(DefaultReclaimBytes, MaxBytes/8), and at least one segment.
	// Space not yet reclaimed counts against MaxBytes.
	ReclaimBytes int64
}

// DefaultReclaimBytes: the library removes old segments only by rewriting,
// and fsyncing, the whole segment that stays, under the lock every group
// commit needs. Reclaiming each segment as soon as the sinks had passed it
// rewrote one segment per segment written, each a stall of the clients'
// commits (docs/delivery.md, "Reclaiming space"). Waiting for 32 MiB
// rewrites one segment per sixteen.
const DefaultReclaimBytes = 32 << 20

// DefaultTailBytes holds several times what the delivery loops keep in
// flight (delivery.WindowBatches of 4 MiB batches at most, usually far
// less), so a sink that keeps up reads only from memory.
const DefaultTailBytes = 32 << 20

// Entry is one spooled event. Its Line may be shared with other readers
// and must not be modified.
type Entry struct {
	Seq      uint64
	Received time.Time
	Line     []byte
}

const headerLen = 4 + 8 // crc32c, received unix nanos

// FrameHeaderLen is the room AppendFrames needs in front of each line.
const FrameHeaderLen = headerLen

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Spool is safe for concurrent use.
type Spool struct {
	opts    Options
	log     *wal.Log
	walDir  string
	curDir  string
	reqs    chan *appendReq
	sendMu  sync.RWMutex // held shared while sending on reqs, exclusively to close it
	closed  bool
	done    chan struct{}
	broken  atomic.Pointer[error]
	bytes   atomic.Int64
	commit  atomic.Uint64
	notifyM sync.Mutex
	notify  chan struct{}

	curMu   sync.Mutex
	cursors map[string]uint64
	files   map[string]*cursorFile // fixed at Open
	truncMu sync.Mutex
	// readMu serializes reads: the library lazily loads old segments into
	// its cache under a shared lock, which is not safe for parallel readers.
	readMu sync.Mutex
	// tailBytes over-estimates the newest segment's size (committer only).
	tailBytes int64
	tail      tail
	// first is the oldest seq on disk, kept as the log's FirstIndex is
	// after Open and each truncation, so Read can refuse what the log no
	// longer holds without the log's lock.
	first atomic.Uint64
}

type appendReq struct {
	frames [][]byte
	size   int64
	first  uint64
	err    error
	done   chan struct{}
}

// Open opens or creates the spool, repairing a torn tail left by a crash.
func Open(opts Options) (*Spool, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 30
	}
	if opts.TailBytes == 0 {
		opts.TailBytes = DefaultTailBytes
	}
	if opts.ReclaimBytes <= 0 {
		opts.ReclaimBytes = min(DefaultReclaimBytes, opts.MaxBytes/8)
	}
	if opts.SegmentSize <= 0 {
		// The library keeps the tail segment in one growing buffer, and each
		// doubling copies it inside a group commit. feedbackd-bench -duration
		// 30s put the batched request p99 at 16.6 ms with 16 MiB segments
		// (README at commit e0f7704) and 10.6 ms with 2 MiB.
		opts.SegmentSize = 2 << 20
	}
	opts.ReclaimBytes = max(opts.ReclaimBytes, int64(opts.SegmentSize))
	s := &Spool{
		opts:    opts,
		walDir:  filepath.Join(opts.Dir, "wal"),
		curDir:  filepath.Join(opts.Dir, "cursors"),
		reqs:    make(chan *appendReq, 4096),
		done:    make(chan struct{}),
		notify:  make(chan struct{}),
		cursors: map[string]uint64{},
		files:   map[string]*cursorFile{},
	}
	if err := os.MkdirAll(s.curDir, 0o750); err != nil {
		return nil, err
	}
	wopts := &wal.Options{
		SegmentSize:      opts.SegmentSize,
		LogFormat:        wal.Binary,
		SegmentCacheSize: 4, // the tail plus one segment per lagging sink
		NoCopy:           true,
		AllowEmpty:       true,
		DirPerms:         0o750,
		FilePerms:        0o640,
	}
	// The first open lets the library finish an interrupted front truncation
	// (its START files); only then is the last plain segment the real tail.
	if l, err := wal.Open(s.walDir, wopts); err == nil {
		if err := l.Close(); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, wal.ErrCorrupt) {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	if err := repairTail(s.walDir); err != nil {
		return nil, fmt.Errorf("repair spool tail: %w", err)
	}
	l, err := wal.Open(s.walDir, wopts)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s.log = l
	last, err := l.LastIndex()
	if err != nil {
		return nil, err
	}
	s.commit.Store(last)
	first, err := l.FirstIndex()
	if err != nil {
		return nil, err
	}
	s.first.Store(first)
	for _, name := range opts.Sinks {
		c, err := s.loadCursor(name)
		if err != nil {
			return nil, err
		}
		// A sink seen for the first time gets everything still spooled.
		if c < first-1 {
			c = first - 1
		}
		s.cursors[name] = c
		s.files[name] = &cursorFile{path: s.cursorPath(name)}
	}
	if err := s.refreshBytes(); err != nil {
		return nil, err
	}
	if segs, err := segments(s.walDir); err == nil && len(segs) > 0 {
		s.tailBytes = segs[len(segs)-1].size
	}
	go s.committer()
	return s, nil
}

// repairTail cuts the newest segment file at its first frame that is torn or
// fails its CRC. A torn frame can only come from a write that had not been
// fsynced, i.e. from an Append that never returned success.
func repairTail(dir string) error {
	segs, err := segments(dir)
	if err != nil || len(segs) == 0 {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("%020d", segs[len(segs)-1].start))
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	good := 0
	for good < len(data) {
		size, n := binary.Uvarint(data[good:])
		if n <= 0 || uint64(len(data)-good-n) < size {
			break
		}
		if !frameOK(data[good+n : good+n+int(size)]) {
			break
		}
		good += n + int(size)
	}
	if good == len(data) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(good)); err != nil {
		return err
	}
	return f.Sync()
}

func frameOK(frame []byte) bool {
	return len(frame) >= headerLen &&
		binary.LittleEndian.Uint32(frame) == crc32.Checksum(frame[4:], castagnoli)
}

type segment struct {
	start uint64
	size  int64
}

// segments lists the plain segment files, oldest first.
func segments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []segment
	for _, de := range des {
		name := de.Name()
		if len(name) != 20 || de.IsDir() {
			continue
		}
		start, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed by a concurrent truncation
		}
		out = append(out, segment{start: start, size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out, nil
}

func (s *Spool) refreshBytes() error {
	segs, err := segments(s.walDir)
	if err != nil {
		return err
	}
	var total int64
	for _, sg := range segs {
		total += sg.size
	}
	s.bytes.Store(total)
	return nil
}

// putHeader fills in the header of f, whose line is already in place.
func putHeader(f []byte, received time.Time) {
	binary.LittleEndian.PutUint64(f[4:], uint64(received.UnixNano()))
	binary.LittleEndian.PutUint32(f, crc32.Checksum(f[4:], castagnoli))
}

// frameCost is what a frame adds to the segment file: its uvarint length
// prefix plus the frame.
func frameCost(frame []byte) int64 {
	return int64(len(frame) + uvarintLen(uint64(len(frame))))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// Append makes lines durable (written and fsynced) and returns the sequence
// number of the first; the others follow consecutively. It returns ErrFull
// without writing anything when the lines do not fit.
func (s *Spool) Append(ctx context.Context, lines [][]byte) (uint64, error) {
	if len(lines) == 0 {
		return 0, nil
	}
	n := 0
	for _, l := range lines {
		n += headerLen + len(l)
	}
	// All frames of a request share one allocation.
	buf := make([]byte, n)
	frames := make([][]byte, len(lines))
	for i, l := range lines {
		f := buf[: headerLen+len(l) : headerLen+len(l)]
		buf = buf[len(f):]
		copy(f[headerLen:], l)
		frames[i] = f
	}
	return s.AppendFrames(ctx, frames)
}

// AppendFrames is Append for callers that build each line behind
// FrameHeaderLen spare bytes, which AppendFrames fills in: the line is then
// not copied once more. The frames are not used after it returns.
func (s *Spool) AppendFrames(ctx context.Context, frames [][]byte) (uint64, error) {
	if len(frames) == 0 {
		return 0, nil
	}
	now := time.Now()
	r := &appendReq{frames: frames, done: make(chan struct{})}
	for _, f := range frames {
		putHeader(f, now)
		r.size += frameCost(f)
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	// Reject early when obviously full so an overloaded spool costs no queueing;
	// the committer re-checks exactly.
	if s.bytes.Load()+r.size > s.opts.MaxBytes {
		return 0, ErrFull
	}
	s.sendMu.RLock()
	if s.closed {
		s.sendMu.RUnlock()
		return 0, ErrClosed
	}
	s.reqs <- r
	s.sendMu.RUnlock()
	// The request is queued and will be written: waiting for it regardless of
	// ctx keeps the answer truthful (a caller that gave up never sees a false
	// "not written").
	<-r.done
	return r.first, r.err
}

// maxGroupBytes bounds one group commit so a burst does not build one huge
// write; later requests simply form the next group.
const maxGroupBytes = 16 << 20

func (s *Spool) committer() {
	defer close(s.done)
	var batch wal.Batch
	group := make([]*appendReq, 0, 256)
	for r := range s.reqs {
		group = append(group[:0], r)
		groupBytes := r.size
	gather:
		for groupBytes < maxGroupBytes {
			select {
			case r2, ok := <-s.reqs:
				if !ok {
					break gather
				}
				group = append(group, r2)
				groupBytes += r2.size
			default:
				break gather
			}
		}
		s.commitGroup(&batch, group)
	}
}

func (s *Spool) commitGroup(batch *wal.Batch, group []*appendReq) {
	if errp := s.broken.Load(); errp != nil {
		for _, r := range group {
			r.err = *errp
			close(r.done)
		}
		return
	}
	next := s.commit.Load() + 1
	bytes := s.bytes.Load()
	var added int64
	written := group[:0:0]
	for _, r := range group {
		if bytes+added+r.size > s.opts.MaxBytes {
			r.err = ErrFull
			close(r.done)
			continue
		}
		r.first = next
		for _, f := range r.frames {
			batch.Write(next, f)
			next++
		}
		added += r.size
		written = append(written, r)
	}
	if len(written) == 0 {
		return
	}
	err := s.log.WriteBatch(batch)
	s.tailBytes += added
	if err == nil && s.tailBytes >= int64(s.opts.SegmentSize) {
		// The library may have started a new segment file; its directory
		// entry must be durable too, or a power loss could forget the file.
		err = syncDir(s.walDir)
		if segs, lerr := segments(s.walDir); lerr == nil && len(segs) > 0 {
			s.tailBytes = segs[len(segs)-1].size
		}
	}
	if err != nil {
		// A failed write leaves the library's in-memory tail out of step with
		// the file; refuse everything from now on rather than guess.
		err = fmt.Errorf("spool write failed: %w", err)
		s.broken.Store(&err)
		batch.Clear()
		for _, r := range written {
			r.err = err
			close(r.done)
		}
		return
	}
	s.bytes.Add(added)
	// Into the tail before the commit is published: a reader that sees the
	// new commit finds the entries there.
	s.tail.add(written, s.opts.TailBytes)
	s.commit.Store(next - 1)
	for _, r := range written {
		close(r.done)
	}
	s.notifyM.Lock()
	close(s.notify)
	s.notify = make(chan struct{})
	s.notifyM.Unlock()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Err reports a failed spool (a write error); it is then no longer writable.
func (s *Spool) Err() error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// Committed is the sequence number of the last durable entry.
func (s *Spool) Committed() uint64 { return s.commit.Load() }

// Bytes is the on-disk size of the log.
func (s *Spool) Bytes() int64 { return s.bytes.Load() }

// MaxBytes is the configured bound.
func (s *Spool) MaxBytes() int64 { return s.opts.MaxBytes }

// Wait blocks until an entry after seq is durable or ctx ends.
func (s *Spool) Wait(ctx context.Context, seq uint64) error {
	for {
		s.notifyM.Lock()
		ch := s.notify
		s.notifyM.Unlock()
		if s.commit.Load() > seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Changed returns a channel that is closed once an entry after seq is
// durable (at once if one already is): Wait for callers that must also
// wait on something else.
func (s *Spool) Changed(seq uint64) <-chan struct{} {
	s.notifyM.Lock()
	ch := s.notify
	s.notifyM.Unlock()
	if s.commit.Load() > seq {
		return closedChan
	}
	return ch
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Read returns up to max durable entries starting at from, stopping early
// once maxBytes of lines are gathered (at least one entry is returned).
func (s *Spool) Read(from uint64, max int, maxBytes int) ([]Entry, error) {
	last := s.commit.Load()
	if from > last {
		return nil, nil
	}
	if from >= s.first.Load() {
		if out, ok := s.tail.read(from, last, max, maxBytes); ok {
			return out, nil
		}
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	var out []Entry
	size := 0
	for seq := from; seq <= last && len(out) < max; seq++ {
		data, err := s.log.Read(seq)
		if err != nil {
			if errors.Is(err, wal.ErrNotFound) {
				if first, _ := s.log.FirstIndex(); seq < first {
					return nil, ErrTruncated
				}
			}
			return nil, err
		}
		if !frameOK(data) {
			return nil, fmt.Errorf("spool entry %d fails its checksum", seq)
		}
		line := make([]byte, len(data)-headerLen)
		copy(line, data[headerLen:])
		out = append(out, Entry{
			Seq:      seq,
			Received: time.Unix(0, int64(binary.LittleEndian.Uint64(data[4:]))),
			Line:     line,
		})
		size += len(line)
		if size >= maxBytes {
			break
		}
	}
	return out, nil
}

// First is the oldest entry still on disk (Committed()+1 when empty).
func (s *Spool) First() uint64 {
	f, _ := s.log.FirstIndex()
	return f
}

// Cursor is the last sequence number the sink acknowledged.
func (s *Spool) Cursor(sink string) uint64 {
	s.curMu.Lock()
	defer s.curMu.Unlock()
	return s.cursors[sink]
}

func (s *Spool) cursorPath(sink string) string {
	return filepath.Join(s.curDir, sink)
}

func (s *Spool) loadCursor(sink string) (uint64, error) {
	if strings.ContainsAny(sink, `/\`) || sink == "" || sink[0] == '.' {
		return 0, fmt.Errorf("invalid sink name %q", sink)
	}
	v, _, err := readCursor(s.cursorPath(sink))
	if err != nil {
		return 0, fmt.Errorf("sink %s: %w", sink, err)
	}
	return v, nil
}

// Ack durably moves the sink's cursor to seq (every entry up to seq was
// delivered or dead-lettered) and reclaims space no sink needs any more.
func (s *Spool) Ack(sink string, seq uint64) error {
	s.curMu.Lock()
	if _, ok := s.cursors[sink]; !ok {
		s.curMu.Unlock()
		return fmt.Errorf("unknown sink %q", sink)
	}
	if seq <= s.cursors[sink] {
		s.curMu.Unlock()
		return nil
	}
	s.curMu.Unlock()
	if err := s.files[sink].write(seq); err != nil {
		return err
	}
	s.curMu.Lock()
	s.cursors[sink] = seq
	s.curMu.Unlock()
	return s.truncate()
}

func writeFileDurable(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// truncateAllThreshold: once every sink has caught up, the whole log is
// dropped (cheap: the library rewrites an empty tail) but only when that
// frees enough to be worth the extra fsyncs.
const truncateAllThreshold = 1 << 20

func (s *Spool) truncate() error {
	s.truncMu.Lock()
	defer s.truncMu.Unlock()
	s.curMu.Lock()
	if len(s.cursors) == 0 {
		s.curMu.Unlock()
		return nil
	}
	min := ^uint64(0)
	for _, c := range s.cursors {
		if c < min {
			min = c
		}
	}
	s.curMu.Unlock()
	first, err := s.log.FirstIndex()
	if err != nil {
		return err
	}
	last, err := s.log.LastIndex()
	if err != nil {
		return err
	}
	var cut uint64
	if min >= last && s.bytes.Load() >= truncateAllThreshold {
		// Everything goes and nothing is rewritten.
		cut = last + 1
	} else {
		if s.bytes.Load() < s.opts.ReclaimBytes {
			return nil
		}
		segs, err := segments(s.walDir)
		if err != nil {
			return err
		}
		// Cut at the start of the segment holding min+1: whole older segments
		// go, and the library rewrites only the segment that stays.
		for _, sg := range segs {
			if sg.start <= min+1 && sg.start > first {
				cut = sg.start
			}
		}
		var behind int64
		for _, sg := range segs {
			if sg.start < cut {
				behind += sg.size
			}
		}
		if behind < s.opts.ReclaimBytes {
			return nil
		}
	}
	if cut <= first {
		return nil
	}
	if err := s.log.TruncateFront(cut); err != nil {
		return fmt.Errorf("truncate spool: %w", err)
	}
	s.first.Store(cut)
	if err := syncDir(s.walDir); err != nil {
		return err
	}
	return s.refreshBytes()
}

// Close stops accepting, commits everything already queued, and closes the
// log. Appends racing with Close either complete or get ErrClosed.
func (s *Spool) Close() error {
	s.sendMu.Lock()
	if s.closed {
		s.sendMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.sendMu.Unlock()
	<-s.done
	s.truncMu.Lock()
	defer s.truncMu.Unlock()
	err := s.log.Close()
	for _, c := range s.files {
		err = errors.Join(err, c.close())
	}
	return err
}
