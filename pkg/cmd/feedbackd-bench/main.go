// Command feedbackd-bench measures feedbackd's durable ingest on this machine
// and compares it with the plain cost of the same durability: appending the
// same bytes to a file with the same fsync policy (group commit).
//
//	go run ./pkg/cmd/feedbackd-bench -duration 30s
//
// feedbackd runs in-process on a loopback port with no sinks, so what is
// measured is the ingest path a client waits for: HTTP, decoding, validation,
// redaction, encoding, the write-ahead log and its fsync.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/ingest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/metrics"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
)

func main() {
	duration := flag.Duration("duration", 30*time.Second, "length of each of the four measurements")
	batchClients := flag.Int("batch-clients", 8, "concurrent clients sending 100-event requests")
	singleClients := flag.Int("single-clients", 32, "concurrent clients sending single-event requests")
	batchSize := flag.Int("batch", 100, "events per batched request")
	dir := flag.String("dir", "", "directory for the spool and the baseline file (default: a temporary directory on the working directory's file system)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "feedbackd-bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*duration, *batchClients, *singleClients, *batchSize, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "feedbackd-bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func event(i int) string {
	return fmt.Sprintf(`{"kind":"feedback","correlation_id":"4bf92f3577b34da6a3ce929d0e0e%04d","model":{"id":"support-bot","version":"2026-11-01.3"},`+
		`"sentiment":"negative","reason":"hallucination","tags":["hallucination"],"source":"modal","user":{"id":"u-%d","role":"customer","geo":"DE"},`+
		`"attributes":{"domain":"tax"},"comment":"The answer cited a rule that does not exist; please check section %d again."}`, i%10000, i, i)
}

type result struct {
	ops, events int64
	elapsed     time.Duration
	latencies   []time.Duration
	errors      int64
}

func (r result) eventsPerSec() float64 { return float64(r.events) / r.elapsed.Seconds() }
func (r result) opsPerSec() float64    { return float64(r.ops) / r.elapsed.Seconds() }

func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	return r.latencies[int(float64(len(r.latencies)-1)*p)]
}

func run(d time.Duration, batchClients, singleClients, batchSize int, dir string) error {
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp(".", "feedbackd-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool"), MaxBytes: 1 << 40})
	if err != nil {
		return err
	}
	defer sp.Close()
	h := ingest.New(ingest.Options{Spool: sp, Redact: true, Metrics: metrics.New(false), Logger: slog.New(slog.DiscardHandler)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/v1/feedback"

	events := make([]string, batchSize)
	for i := range events {
		events[i] = event(i)
	}
	batchBody := []byte("[" + strings.Join(events, ",") + "]")
	singleBody := []byte(events[0])

	fmt.Fprintf(os.Stderr, "batched ingest: %d clients x %d events/request for %s...\n", batchClients, batchSize, d)
	batched, err := httpLoad(url, batchBody, batchSize, batchClients, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "single-event ingest: %d clients for %s...\n", singleClients, d)
	single, err := httpLoad(url, singleBody, 1, singleClients, d)
	if err != nil {
		return err
	}

	// The baseline appends exactly what the spool stored for one request.
	entries, err := sp.Read(1, batchSize, 1<<30)
	if err != nil || len(entries) != batchSize {
		return fmt.Errorf("reading back the spooled batch: %v", err)
	}
	lines := make([][]byte, len(entries))
	for i, e := range entries {
		lines[i] = e.Line
	}
	fmt.Fprintf(os.Stderr, "baseline, batched: file append + fsync, group commit, %d writers for %s...\n", batchClients, d)
	baseBatched, err := fileLoad(filepath.Join(dir, "baseline-batched"), lines, batchClients, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "baseline, single: file append + fsync, group commit, %d writers for %s...\n", singleClients, d)
	baseSingle, err := fileLoad(filepath.Join(dir, "baseline-single"), lines[:1], singleClients, d)
	if err != nil {
		return err
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tfeedbackd\tbaseline (file append+fsync, group commit)\tratio\ttarget\t")
	fmt.Fprintf(tw, "batched, %d events/request\t%.0f events/s\t%.0f events/s\t%.2f\t>= 20000 events/s, ratio >= 0.5\t\n",
		batchSize, batched.eventsPerSec(), baseBatched.eventsPerSec(), batched.eventsPerSec()/baseBatched.eventsPerSec())
	fmt.Fprintf(tw, "single-event requests\t%.0f req/s\t%.0f appends/s\t%.2f\t>= 2000 req/s, ratio >= 0.5\t\n",
		single.opsPerSec(), baseSingle.opsPerSec(), single.opsPerSec()/baseSingle.opsPerSec())
	fmt.Fprintf(tw, "single-event ack latency p50\t%s\t%s\t\t\t\n", ms(single.percentile(0.50)), ms(baseSingle.percentile(0.50)))
	fmt.Fprintf(tw, "single-event ack latency p99\t%s\t%s\t\t<= 25 ms\t\n", ms(single.percentile(0.99)), ms(baseSingle.percentile(0.99)))
	fmt.Fprintf(tw, "batched request latency p99\t%s\t%s\t\t\t\n", ms(batched.percentile(0.99)), ms(baseBatched.percentile(0.99)))
	fmt.Fprintf(tw, "failed requests\t%d\t\t\t0\t\n", batched.errors+single.errors)
	return tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// httpLoad posts body from clients goroutines until d has passed; each 202
// counts perRequest events.
func httpLoad(url string, body []byte, perRequest, clients int, d time.Duration) (result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var ops, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status)
					continue
				}
				local = append(local, time.Since(t0))
				ops.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := result{ops: ops.Load(), events: ops.Load() * int64(perRequest), elapsed: time.Since(start), latencies: lat, errors: errs.Load()}
	if r.ops == 0 {
		return r, fmt.Errorf("no request succeeded: %v", firstErr.Load())
	}
	return r, nil
}

// fileLoad is the floor for the same durability without feedbackd: writers
// hand lines to one committer that appends whatever is queued with a single
// write and fsync, exactly the group-commit policy of the spool.
func fileLoad(path string, lines [][]byte, writers int, d time.Duration) (result, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	var payload []byte
	for _, l := range lines {
		payload = append(append(payload, l...), '\n')
	}
	type req struct{ done chan error }
	reqs := make(chan req, writers)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		var buf []byte
		var group []req
		for {
			select {
			case r := <-reqs:
				group = append(group[:0], r)
			case <-ctx.Done():
				return
			}
		more:
			for {
				select {
				case r := <-reqs:
					group = append(group, r)
				default:
					break more
				}
			}
			buf = buf[:0]
			for range group {
				buf = append(buf, payload...)
			}
			_, err := f.Write(buf)
			if err == nil {
				err = f.Sync()
			}
			for _, r := range group {
				r.done <- err
			}
		}
	}()
	var ops atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Value
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			local := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				reqs <- req{done: done}
				if err := <-done; err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				local = append(local, time.Since(t0))
				ops.Add(1)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return result{}, errors.Join(errors.New("baseline write failed"), err)
	}
	return result{ops: ops.Load(), events: ops.Load() * int64(len(lines)), elapsed: time.Since(start), latencies: lat}, nil
}
