// Package sinktest holds what the tests of the sinks (and of feedbackd
// against stand-ins) share: spooled lines read from a JSON-lines file,
// records made of them, and Loki's push encoding read back.
package sinktest

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"

	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
)

// Lines reads every line of the JSON-lines file at path, as spooled lines.
func Lines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, slices.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// Records are lines as the delivery loop hands them over, at spool
// positions 100, 101, …
func Records(lines ...[]byte) []sink.Record {
	recs := make([]sink.Record, len(lines))
	for i, l := range lines {
		recs[i] = sink.Record{Seq: uint64(100 + i), Line: l}
	}
	return recs
}

// CorpusBatch is n records of the corpus lines (repeated as needed), at
// spool positions 1, 2, …, the way the benchmarks deliver them.
func CorpusBatch(t testing.TB, n int) []sink.Record {
	t.Helper()
	lines := Lines(t, CorpusPath)
	batch := make([]sink.Record, n)
	for i := range batch {
		batch[i] = sink.Record{Seq: uint64(i + 1), Line: lines[i%len(lines)]}
	}
	return batch
}

// DecodePush reads a Loki push body as Loki does: snappy block encoding
// around a protobuf PushRequest.
func DecodePush(body []byte) (*push.PushRequest, error) {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("not snappy block encoded: %w", err)
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("not a PushRequest: %w", err)
	}
	return &req, nil
}

// CorpusPath is the event corpus the Loki answers were recorded from.
var CorpusPath = lokitest.CorpusPath()
