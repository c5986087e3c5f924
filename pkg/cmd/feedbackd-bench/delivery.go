package main

// -mode delivery: end-to-end delivery against in-process stand-ins for Loki
// and Elasticsearch, beside pushing the very events feedbackd sent (the
// same lines, stream labels, bulk actions) straight to the same stand-ins
// with the same concurrency, in full batches of -delivery-batch: the direct
// push is the best the store allows, whatever batch sizes feedbackd cut.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"

	"github.com/feedbackloop/modelfeedback/pkg/collector"
	fdconfig "github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
)

type deliveryConfig struct {
	events, clients, perRequest int
	concurrency, batchSize      int
	batchWait                   time.Duration
	latency                     time.Duration
	rounds                      int
	dir                         string
}

// standIn is a fast Loki or Elasticsearch: it decodes each request as the
// store would have to (Loki: snappy and protobuf; Elasticsearch: the
// action/source pairs), counts the events, answers as the store does, and
// optionally keeps the bodies for the direct push.
type standIn struct {
	kind    string // "loki" or "elasticsearch"
	latency time.Duration
	count   atomic.Int64
	target  atomic.Int64
	reached chan struct{}
	once    *sync.Once
	keep    atomic.Bool
	mu      sync.Mutex
	bodies  [][]byte
}

func newStandIn(kind string, latency time.Duration) *standIn {
	return &standIn{kind: kind, latency: latency}
}

// expect resets the count and arms reached for n events.
func (s *standIn) expect(n int64, keep bool) {
	s.count.Store(0)
	s.target.Store(n)
	s.reached = make(chan struct{})
	s.once = &sync.Once{}
	s.keep.Store(keep)
	if keep {
		s.mu.Lock()
		s.bodies = nil
		s.mu.Unlock()
	}
}

func (s *standIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.latency > 0 {
		time.Sleep(s.latency)
	}
	var n int
	switch {
	case s.kind == "loki" && r.Method == http.MethodPost && r.URL.Path == "/loki/api/v1/push":
		req, err := sinktest.DecodePush(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, st := range req.Streams {
			n += len(st.Entries)
		}
		w.WriteHeader(http.StatusNoContent)
	case s.kind == "elasticsearch" && r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		n = bytes.Count(body, []byte("\n")) / 2
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		var b strings.Builder
		b.WriteString(`{"took":1,"errors":false,"items":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"create":{"status":201}}`)
		}
		b.WriteString("]}")
		io.WriteString(w, b.String())
	case s.kind == "elasticsearch" && r.Method == http.MethodGet && r.URL.Path == "/":
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		io.WriteString(w, `{"version":{"number":"8.19.7"},"tagline":"You Know, for Search"}`)
		return
	case s.kind == "loki" && r.Method == http.MethodGet && r.URL.Path == "/ready":
		return
	default:
		http.Error(w, "not implemented by the stand-in", http.StatusNotFound)
		return
	}
	if s.keep.Load() {
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
	}
	if s.count.Add(int64(n)) >= s.target.Load() {
		s.once.Do(func() { close(s.reached) })
	}
}

type deliveryResult struct {
	e2e, backlog, direct, ingest  time.Duration
	e2eCPU, backlogCPU, directCPU time.Duration
	requests                      map[string]int
}

func runDelivery(c deliveryConfig) error {
	dir := c.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(".", "feedbackd-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	loki, es := newStandIn("loki", c.latency), newStandIn("elasticsearch", c.latency)
	lokiAddr, stopLoki, err := serve(loki)
	if err != nil {
		return err
	}
	defer stopLoki()
	esAddr, stopES, err := serve(es)
	if err != nil {
		return err
	}
	defer stopES()

	requests := c.events / c.perRequest
	n := requests * c.perRequest
	events := make([]string, c.perRequest)
	var total deliveryResult
	for round := 1; round <= c.rounds; round++ {
		fmt.Fprintf(os.Stderr, "round %d/%d: %d events through feedbackd, then the same request bodies straight to the stand-ins...\n", round, c.rounds, n)
		loki.expect(int64(n), true)
		es.expect(int64(n), true)
		addr, stop, err := startFeedbackd(c, filepath.Join(dir, "spool-"+strconv.Itoa(round)), lokiAddr, esAddr)
		if err != nil {
			return err
		}
		// Bodies differ per request (ids, timestamps are set by feedbackd), but
		// the clients send prepared bytes so their own cost stays small.
		bodies := make([][]byte, requests)
		for r := range bodies {
			for i := range events {
				events[i] = event(r*c.perRequest + i)
			}
			bodies[r] = []byte("[" + strings.Join(events, ",") + "]")
		}
		start, cpu0 := time.Now(), processCPU()
		if err := postAll(addr, bodies, c.clients); err != nil {
			stop()
			return err
		}
		posted := time.Since(start)
		<-loki.reached
		tl := time.Since(start)
		<-es.reached
		e2e, e2eCPU := time.Since(start), processCPU()-cpu0
		fmt.Fprintf(os.Stderr, "  all %d events acknowledged by feedbackd after %s, by the Loki stand-in after %s, by the Elasticsearch stand-in after %s\n", n, posted.Round(time.Millisecond), tl.Round(time.Millisecond), e2e.Round(time.Millisecond))
		if err := stop(); err != nil {
			return err
		}
		if loki.count.Load() != int64(n) || es.count.Load() != int64(n) {
			return fmt.Errorf("stand-ins counted loki %d, elasticsearch %d events, want %d each", loki.count.Load(), es.count.Load(), n)
		}

		lokiBodies, err := rebatchLoki(loki.bodies, c.batchSize)
		if err != nil {
			return err
		}
		esBodies := rebatchES(es.bodies, c.batchSize)
		sent := map[string]int{"loki": len(loki.bodies), "elasticsearch": len(es.bodies)}

		// The backlog: the same events spooled while no sink was configured,
		// then delivered by a feedbackd started with both sinks, as after an
		// outage. This is delivery alone, without ingest's fsyncs.
		backlogDir := filepath.Join(dir, "backlog-"+strconv.Itoa(round))
		addr, stop, err = startFeedbackd(c, backlogDir, "", "")
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := postAll(addr, bodies, c.clients); err != nil {
			stop()
			return err
		}
		ingest := time.Since(t0)
		if err := stop(); err != nil {
			return err
		}
		loki.expect(int64(n), false)
		es.expect(int64(n), false)
		start, cpu0 = time.Now(), processCPU()
		_, stop, err = startFeedbackd(c, backlogDir, lokiAddr, esAddr)
		if err != nil {
			return err
		}
		<-loki.reached
		<-es.reached
		backlog, backlogCPU := time.Since(start), processCPU()-cpu0
		if err := stop(); err != nil {
			return err
		}
		loki.expect(int64(n), false)
		es.expect(int64(n), false)
		start, cpu0 = time.Now(), processCPU()
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, p := range []struct {
			addr, path, ctype string
			bodies            [][]byte
		}{
			{lokiAddr, "/loki/api/v1/push", "application/x-protobuf", lokiBodies},
			{esAddr, "/_bulk", "application/x-ndjson", esBodies},
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := pushAll(p.addr, p.path, p.ctype, p.bodies, c.concurrency); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		<-loki.reached
		<-es.reached
		direct, directCPU := time.Since(start), processCPU()-cpu0
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		total.e2e += e2e
		total.ingest += ingest
		total.direct += direct
		total.e2eCPU += e2eCPU
		total.backlog += backlog
		total.backlogCPU += backlogCPU
		total.directCPU += directCPU
		total.requests = sent
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "events\tclients × events/request\tdelivery concurrency\tbatch\tstore latency\tend-to-end\tingest alone\tbacklog replay\tdirect push\tend-to-end/direct\tingest alone/direct\tbacklog/direct\tcores busy (e2e/backlog/direct)\tfeedbackd requests e2e (loki/es)\ttarget\t")
	all := float64(n * c.rounds)
	rate := func(d time.Duration) float64 { return all / d.Seconds() }
	busy := func(cpu, d time.Duration) float64 { return cpu.Seconds() / d.Seconds() }
	fmt.Fprintf(tw, "%d × %d\t%d × %d\t%d\t%d\t%s\t%.0f events/s\t%.0f events/s\t%.0f events/s\t%.0f events/s\t%.2f\t%.2f\t%.2f\t%.2f / %.2f / %.2f of %d\t%d / %d\t>= 0.8\t\n",
		n, c.rounds, c.clients, c.perRequest, c.concurrency, c.batchSize, c.latency,
		rate(total.e2e), rate(total.ingest), rate(total.backlog), rate(total.direct),
		rate(total.e2e)/rate(total.direct), rate(total.ingest)/rate(total.direct), rate(total.backlog)/rate(total.direct),
		busy(total.e2eCPU, total.e2e), busy(total.backlogCPU, total.backlog), busy(total.directCPU, total.direct), runtime.NumCPU(),
		total.requests["loki"], total.requests["elasticsearch"])
	return tw.Flush()
}

// startFeedbackd runs feedbackd in this process on a free loopback port with
// the spool in dir and the sinks whose addresses are not empty; stop shuts
// it down gracefully and returns Run's error.
func startFeedbackd(c deliveryConfig, dir, lokiAddr, esAddr string) (addr string, stop func() error, err error) {
	args := []string{"--listen", "127.0.0.1:0", "--spool-dir", dir, "--elasticsearch-install-template=false",
		"--delivery-concurrency", strconv.Itoa(c.concurrency), "--delivery-batch-size", strconv.Itoa(c.batchSize), "--delivery-batch-wait", c.batchWait.String(),
		"--log-level", "error"}
	if lokiAddr != "" {
		args = append(args, "--loki-url", "http://"+lokiAddr)
	}
	if esAddr != "" {
		args = append(args, "--elasticsearch-url", "http://"+esAddr)
	}
	cfg, err := fdconfig.Load(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, cfg, slog.New(slog.DiscardHandler), nil, func(a string) { ready <- a })
	}()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("feedbackd: %v", err)
	}
	return addr, func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("feedbackd: %v", err)
		}
		return nil
	}, nil
}

// postAll sends every body to feedbackd's /v1/feedback from clients
// keep-alive connections and fails unless each is answered 202.
func postAll(addr string, bodies [][]byte, clients int) error {
	return sendAll(addr, "/v1/feedback", "application/json", bodies, clients,
		func(code int) bool { return code == http.StatusAccepted })
}

// pushAll sends bodies to path from concurrency keep-alive connections, each
// answered 2xx.
func pushAll(addr, path, ctype string, bodies [][]byte, concurrency int) error {
	return sendAll(addr, path, ctype, bodies, concurrency, func(code int) bool { return code >= 200 && code < 300 })
}

// sendAll posts bodies to path from concurrency keep-alive connections and
// fails unless ok accepts every answer's status.
func sendAll(addr, path, ctype string, bodies [][]byte, concurrency int, ok func(int) bool) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := dialRaw(addr)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			defer cl.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				req := append([]byte("POST "+path+" HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: "+ctype+"\r\nContent-Length: "+
					strconv.Itoa(len(bodies[i]))+"\r\n\r\n"), bodies[i]...)
				code, err := cl.post(req, time.Now().Add(time.Minute))
				if err == nil && !ok(code) {
					err = fmt.Errorf("%s answered %d", path, code)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

// rebatchLoki re-encodes the entries of the push bodies feedbackd sent, in
// the order sent, as pushes of size entries each (grouped by stream as the
// sink groups them), the way a client pushing directly would batch them.
func rebatchLoki(bodies [][]byte, size int) ([][]byte, error) {
	type entry struct {
		labels string
		e      push.Entry
	}
	var all []entry
	for _, b := range bodies {
		req, err := sinktest.DecodePush(b)
		if err != nil {
			return nil, err
		}
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				all = append(all, entry{st.Labels, e})
			}
		}
	}
	var out [][]byte
	for len(all) > 0 {
		n := min(size, len(all))
		var req push.PushRequest
		index := map[string]int{}
		for _, e := range all[:n] {
			i, ok := index[e.labels]
			if !ok {
				i = len(req.Streams)
				index[e.labels] = i
				req.Streams = append(req.Streams, push.Stream{Labels: e.labels})
			}
			req.Streams[i].Entries = append(req.Streams[i].Entries, e.e)
		}
		raw, err := req.Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, snappy.Encode(nil, raw))
		all = all[n:]
	}
	return out, nil
}

// rebatchES regroups the action/source line pairs of the bulk bodies
// feedbackd sent into bodies of size pairs each.
func rebatchES(bodies [][]byte, size int) [][]byte {
	var pairs [][]byte
	for _, b := range bodies {
		lines := bytes.SplitAfter(b, []byte("\n"))
		for i := 0; i+1 < len(lines); i += 2 {
			pairs = append(pairs, append(append([]byte(nil), lines[i]...), lines[i+1]...))
		}
	}
	var out [][]byte
	for len(pairs) > 0 {
		n := min(size, len(pairs))
		out = append(out, bytes.Join(pairs[:n], nil))
		pairs = pairs[n:]
	}
	return out
}
