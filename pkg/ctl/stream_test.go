package ctl_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/ctl"
)

// generatedLoki answers Loki's query_range for log queries over a corpus it
// computes on the fly, so the answer can be far larger than the test's
// memory bound: ni interactions with a large snapshot and two negative
// feedback events per interaction. Events come in pairs sharing one
// nanosecond timestamp, so paging must handle ties. It refuses anything
// but a backward log query of the feedback or interaction stream, and,
// as a real Loki does by default, a range longer than 721h.
type generatedLoki struct {
	ni       int
	base     time.Time
	requests atomic.Int64
	refused  atomic.Int64
	pad      string
}

func (g *generatedLoki) ts(i int) int64 {
	return g.base.UnixNano() + int64(i/2)*int64(time.Millisecond)
}

func (g *generatedLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	q := r.URL.Query()
	query := q.Get("query")
	refuse := func(msg string) {
		g.refused.Add(1)
		http.Error(w, msg, http.StatusBadRequest)
	}
	if r.URL.Path != "/loki/api/v1/query_range" || q.Get("direction") != "backward" || !strings.HasPrefix(query, `{service_name="model-feedback"`) {
		refuse("generated loki: only backward log queries of the feedback streams")
		return
	}
	start, err1 := strconv.ParseInt(q.Get("start"), 10, 64)
	end, err2 := strconv.ParseInt(q.Get("end"), 10, 64)
	limit, err3 := strconv.Atoi(q.Get("limit"))
	if err1 != nil || err2 != nil || err3 != nil || limit < 1 || limit > 5000 || end <= start {
		refuse("generated loki: bad start/end/limit")
		return
	}
	if time.Duration(end-start) > 721*time.Hour { // Loki's default max_query_length
		refuse("generated loki: the query time range exceeds the limit")
		return
	}
	var n int
	var line func(i int) string
	var labels string
	switch {
	case strings.Contains(query, `kind="interaction"`):
		n, labels = g.ni, `{"service_name":"model-feedback","kind":"interaction","model_id":"m","model_version":"v1"}`
		line = func(i int) string {
			return fmt.Sprintf(`{"schema":"feedback/v1","kind":"interaction","correlation_id":"c%08d","timestamp":"%s","model":{"id":"m","version":"v1"},"context":{"input":"question %d","output":"%s"}}`,
				i, time.Unix(0, g.ts(i)).UTC().Format("2006-01-02T15:04:05.000000000Z"), i, g.pad)
		}
	case strings.Contains(query, `kind="feedback"`):
		n, labels = 2*g.ni, `{"service_name":"model-feedback","kind":"feedback","model_id":"m","model_version":"v1","sentiment":"negative"}`
		line = func(i int) string {
			return fmt.Sprintf(`{"schema":"feedback/v1","kind":"feedback","feedback_id":"f%08d","correlation_id":"c%08d","timestamp":"%s","model":{"id":"m","version":"v1"},"sentiment":"negative"}`,
				i, i/2, time.Unix(0, g.ts(i)).UTC().Format("2006-01-02T15:04:05.000000000Z"))
		}
	default:
		refuse("generated loki: unknown stream")
		return
	}
	// The newest `limit` events in [start, end): Loki's end is exclusive.
	hi := sort.Search(n, func(i int) bool { return g.ts(i) >= end }) // first index at or after end
	var b bytes.Buffer
	b.WriteString(`{"status":"success","data":{"resultType":"streams","result":[{"stream":` + labels + `,"values":[`)
	for i, k := hi-1, 0; i >= 0 && k < limit && g.ts(i) >= start; i, k = i-1, k+1 {
		if k > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `["%d",%s]`, g.ts(i), strconv.Quote(line(i)))
	}
	b.WriteString(`]}],"stats":{}}}`)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}

// countingWriter checks each exported interaction without keeping it.
type countingWriter struct {
	seen  []bool
	lines int
	bad   int
	buf   []byte
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			break
		}
		l := c.buf[:i]
		j := bytes.Index(l, []byte(`"correlation_id":"c`))
		if j < 0 {
			c.bad++
		} else if n, err := strconv.Atoi(string(l[j+19 : j+27])); err != nil || n >= len(c.seen) || c.seen[n] {
			c.bad++
		} else {
			c.seen[n] = true
		}
		c.lines++
		c.buf = c.buf[i+1:]
	}
	return len(p), nil
}

// peakExport runs export dataset over a generated Loki of ni interactions
// and returns how far the heap grew above where it started.
func peakExport(t *testing.T, ni int) (growth, generated int64) {
	t.Helper()
	g := &generatedLoki{ni: ni, base: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), pad: strings.Repeat("x", 2048)}
	srv := httptest.NewServer(g)
	defer srv.Close()
	generated = int64(ni) * int64(len(g.pad)+200)
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(samples)
	before := samples[0].Value.Uint64()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	out := &countingWriter{seen: make([]bool, ni)}
	var errOut bytes.Buffer
	code := ctl.Run(context.Background(), []string{"export", "dataset", "--loki-url", srv.URL,
		"--from", "2026-11-20T05:00:00Z", "--to", "2026-11-20T08:00:00Z"},
		ctl.Env{Stdout: out, Stderr: &errOut, Getenv: func(string) string { return "" }, Now: time.Now})
	close(stop)
	<-sampled
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if out.lines != ni || out.bad != 0 {
		t.Fatalf("%d lines (%d bad), want each of the %d interactions once", out.lines, out.bad, ni)
	}
	if g.refused.Load() > 0 {
		t.Fatalf("the generated Loki refused %d requests", g.refused.Load())
	}
	if !strings.Contains(errOut.String(), fmt.Sprintf("export dataset: done, %d events read, %d written", 3*ni, ni)) {
		t.Errorf("progress: %q", errOut.String())
	}
	growth = int64(peak.Load()) - int64(before)
	t.Logf("%d interactions (%d MiB) in %d requests: heap grew at most %.1f MiB", ni, generated>>20, g.requests.Load(), float64(growth)/(1<<20))
	return growth, generated
}

// Four times the events need no more memory, apart from the set of
// correlation ids (some 60 bytes per interaction): each page is dropped
// before the next is read.
func TestExportDatasetStreamsInBoundedMemory(t *testing.T) {
	defer ctl.SetPageSize(250)()
	// Collect often, so the heap follows what is live rather than what
	// the default GC target lets accumulate between collections.
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	small, _ := peakExport(t, 4000)
	large, generated := peakExport(t, 16000)
	idSet := int64(16000 * 64)
	if large > small+idSet+2<<20 {
		t.Errorf("heap grew %.1f MiB for 16,000 interactions against %.1f MiB for 4,000: memory follows the export's size", float64(large)/(1<<20), float64(small)/(1<<20))
	}
	if large > generated/3 {
		t.Errorf("heap grew %d MiB for a %d MiB export", large>>20, generated>>20)
	}
}
