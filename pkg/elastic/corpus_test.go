package elastic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// esDoc is one event of the corpus, for the benchmarks and the corpus
// checks; searching it is estest's job.
type esDoc struct {
	Src map[string]any
	NS  int64 // timestamp, nanoseconds
}

func loadEvents(t testing.TB, path string) []esDoc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []esDoc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var src map[string]any
		if err := dec.Decode(&src); err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse(time.RFC3339Nano, src["timestamp"].(string))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, esDoc{Src: src, NS: ts.UnixNano()})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}
