package spool

import (
	"context"
	"sync"
	"testing"
)

// BenchmarkAppend100 measures group-committed appends of 100-line batches
// from 8 concurrent writers (the batched ingest shape without HTTP).
func BenchmarkAppend100(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir(), MaxBytes: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	line := make([]byte, 450)
	for i := range line {
		line[i] = 'x'
	}
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = line
	}
	b.SetBytes(int64(len(line) * len(batch)))
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/8 + 1
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := s.Append(context.Background(), batch); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
