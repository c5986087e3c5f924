package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"strings"
	"sync"
)

// A cursor file holds two slots of cursorSlotLen bytes, written in turn:
// the sequence number, a CRC-32C of it and a magic. A cursor moves on
// with one write in place and an fdatasync, instead of a new file renamed
// over the old (two fsyncs and a journal commit of the directory), because
// every delivered batch moves a cursor and each of those fsyncs queued with
// ingest's group commits on the same disk (docs/delivery.md). The file's
// size never changes after it is made, so fdatasync has no metadata to
// write. A torn write can only damage the slot being written; the other
// still holds the previous position, whose redelivery the sinks
// de-duplicate.
const (
	cursorSlotLen = 16
	cursorMagic   = "FLc1"
)

// cursorFile is one sink's cursor on disk.
type cursorFile struct {
	mu   sync.Mutex
	path string
	f    *os.File // nil until the two-slot file exists
	next int64    // slot to write next
	last uint64   // written last; a cursor never moves back
}

func encodeSlot(seq uint64) []byte {
	b := make([]byte, cursorSlotLen)
	binary.LittleEndian.PutUint64(b, seq)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	copy(b[12:], cursorMagic)
	return b
}

func decodeSlot(b []byte) (uint64, bool) {
	if len(b) != cursorSlotLen || string(b[12:]) != cursorMagic ||
		binary.LittleEndian.Uint32(b[8:]) != crc32.Checksum(b[:8], castagnoli) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// readCursor is the position in the file at path: 0 when there is none,
// the newer valid slot of a two-slot file, or the decimal text that
// feedbackd wrote before.
func readCursor(path string) (seq uint64, slots bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(b) == 2*cursorSlotLen {
		a, okA := decodeSlot(b[:cursorSlotLen])
		c, okC := decodeSlot(b[cursorSlotLen:])
		if okA || okC {
			return max(a, c), true, nil
		}
		return 0, false, fmt.Errorf("cursor file %s: both slots are damaged", path)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("cursor file %s: %w", path, err)
	}
	return v, false, nil
}

// write makes seq the durable position.
func (c *cursorFile) write(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq <= c.last && c.f != nil {
		return nil
	}
	c.last = seq
	if c.f == nil {
		// First write, or the file is from before the slots: make it whole
		// (both slots) and durable, then keep it open.
		data := append(encodeSlot(seq), encodeSlot(seq)...)
		if err := writeFileDurable(c.path, data); err != nil {
			return err
		}
		f, err := os.OpenFile(c.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		c.f, c.next = f, 0
		return nil
	}
	if _, err := c.f.WriteAt(encodeSlot(seq), c.next*cursorSlotLen); err != nil {
		return err
	}
	if err := datasync(c.f); err != nil {
		return err
	}
	c.next = 1 - c.next
	return nil
}

func (c *cursorFile) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
