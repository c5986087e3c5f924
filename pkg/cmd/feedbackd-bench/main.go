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
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	cpu         time.Duration // user+system CPU time of the whole process
	latencies   []time.Duration
	errors      int64
}

func (r result) eventsPerSec() float64 { return float64(r.events) / r.elapsed.Seconds() }
func (r result) opsPerSec() float64    { return float64(r.ops) / r.elapsed.Seconds() }
func (r result) coresBusy() float64    { return r.cpu.Seconds() / r.elapsed.Seconds() }

// processCPU is the user+system time the process has used so far: with the
// client in the same process, it tells whether a measurement was CPU-bound
// (about runtime.NumCPU() cores busy) or waited on the disk.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
	addr := ln.Addr().String()

	events := make([]string, batchSize)
	for i := range events {
		events[i] = event(i)
	}
	batchBody := []byte("[" + strings.Join(events, ",") + "]")
	singleBody := []byte(events[0])

	fmt.Fprintf(os.Stderr, "batched ingest: %d clients x %d events/request for %s...\n", batchClients, batchSize, d)
	batched, err := httpLoad(addr, "/v1/feedback", batchBody, batchSize, batchClients, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "single-event ingest: %d clients for %s...\n", singleClients, d)
	single, err := httpLoad(addr, "/v1/feedback", singleBody, 1, singleClients, d)
	if err != nil {
		return err
	}

	// The baseline appends exactly the bytes the spool wrote for one request:
	// the log's records (length prefix, CRC, receive time, line) as they are
	// in the segment file, not the bare lines.
	records, err := spooledRecords(filepath.Join(dir, "spool", "wal"), batchSize)
	if err != nil {
		return fmt.Errorf("reading back the spooled batch: %v", err)
	}
	fmt.Fprintf(os.Stderr, "baseline, batched: file append + fsync, group commit, %d writers for %s...\n", batchClients, d)
	baseBatched, err := fileLoad(filepath.Join(dir, "baseline-batched"), records, batchClients, d)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "baseline, single: file append + fsync, group commit, %d writers for %s...\n", singleClients, d)
	baseSingle, err := fileLoad(filepath.Join(dir, "baseline-single"), records[:1], singleClients, d)
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
	fmt.Fprintf(tw, "cores busy, batched / single\t%.2f / %.2f\t%.2f / %.2f\t\tof %d\t\n",
		batched.coresBusy(), single.coresBusy(), baseBatched.coresBusy(), baseSingle.coresBusy(), runtime.NumCPU())
	fmt.Fprintf(tw, "failed requests\t%d\t\t\t0\t\n", batched.errors+single.errors)
	return tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// httpLoad posts body from clients goroutines until d has passed; each 202
// counts perRequest events. Each client is one keep-alive connection speaking
// plain HTTP/1.1 with the request bytes encoded once: the client shares the
// CPU with feedbackd, and net/http's client (two goroutines per connection, a
// timer per request, header maps) took a quarter of it. The server still
// parses every request in full.
func httpLoad(addr, path string, body []byte, perRequest, clients int, d time.Duration) (result, error) {
	req := []byte("POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: feedbackd-bench\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	req = append(req, body...)
	var ops, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	start, cpu0 := time.Now(), processCPU()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			var cl *rawClient
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if cl == nil {
					var err error
					if cl, err = dialRaw(addr); err != nil {
						errs.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				code, err := cl.post(req, t0.Add(30*time.Second))
				if err != nil {
					cl.close()
					cl = nil
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				if code != http.StatusAccepted {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, strconv.Itoa(code)+" "+http.StatusText(code))
					if cl.closing {
						cl.close()
						cl = nil
					}
					continue
				}
				local = append(local, time.Since(t0))
				ops.Add(1)
				if cl.closing {
					cl.close()
					cl = nil
				}
			}
			if cl != nil {
				cl.close()
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := result{ops: ops.Load(), events: ops.Load() * int64(perRequest), elapsed: time.Since(start), cpu: processCPU() - cpu0, latencies: lat, errors: errs.Load()}
	if r.ops == 0 {
		return r, fmt.Errorf("no request succeeded: %v", firstErr.Load())
	}
	return r, nil
}

// rawClient is one keep-alive HTTP/1.1 connection. It understands the
// responses net/http's server sends: a status line, headers, and a body
// framed by Content-Length or chunked encoding.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
	// closing is set when the server said it will close the connection.
	closing bool
	// deadline is the one last set on conn.
	deadline time.Time
}

// slack is how much earlier than wanted the deadline may be: half the time
// left until deadline.
func (c *rawClient) slack(deadline time.Time) time.Duration {
	return time.Until(deadline) / 2
}

func dialRaw(addr string) (*rawClient, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawClient{conn: conn, br: bufio.NewReaderSize(conn, 16<<10)}, nil
}

func (c *rawClient) close() { c.conn.Close() }

// post writes the complete request and reads the whole response; it returns
// the status code. Any error leaves the connection unusable.
func (c *rawClient) post(req []byte, deadline time.Time) (int, error) {
	// Moving the deadline re-arms a runtime timer on both directions of the
	// connection; doing it for every request cost the shared CPU more than
	// the client's parsing. A deadline at least half as far out still bounds
	// a hung request.
	if c.deadline.Sub(deadline) < -c.slack(deadline) {
		if err := c.conn.SetDeadline(deadline); err != nil {
			return 0, err
		}
		c.deadline = deadline
	}
	if _, err := c.conn.Write(req); err != nil {
		return 0, err
	}
	line, err := c.line()
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 202 Accepted"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	length, chunked := -1, false
	for {
		h, err := c.line()
		if err != nil {
			return 0, err
		}
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, fmt.Errorf("malformed Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			c.closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			h, err := c.line()
			if err != nil {
				return 0, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(h, []byte(";"), 2)[0])), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("malformed chunk size %q", h)
			}
			if size == 0 {
				for { // trailers up to the empty line
					t, err := c.line()
					if err != nil {
						return 0, err
					}
					if len(t) == 0 {
						return code, nil
					}
				}
			}
			if _, err := c.br.Discard(int(size)); err != nil {
				return 0, err
			}
			if t, err := c.line(); err != nil || len(t) != 0 {
				return 0, fmt.Errorf("malformed chunk end: %v", err)
			}
		}
	case length >= 0:
		_, err = c.br.Discard(length)
		return code, err
	default:
		return 0, errors.New("response without Content-Length on a keep-alive connection")
	}
}

// line reads one CRLF-terminated line without the CRLF.
func (c *rawClient) line() ([]byte, error) {
	l, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	l = bytes.TrimSuffix(l[:len(l)-1], []byte("\r"))
	return l, nil
}

// spooledRecords returns the first n records of the spool's oldest segment
// file, byte for byte (each a uvarint length and the frame it announces).
func spooledRecords(walDir string, n int) ([][]byte, error) {
	des, err := os.ReadDir(walDir)
	if err != nil {
		return nil, err
	}
	var first string
	for _, de := range des {
		if len(de.Name()) == 20 && (first == "" || de.Name() < first) {
			first = de.Name()
		}
	}
	if first == "" {
		return nil, errors.New("no segment file")
	}
	data, err := os.ReadFile(filepath.Join(walDir, first))
	if err != nil {
		return nil, err
	}
	records := make([][]byte, 0, n)
	for len(records) < n {
		size, k := binary.Uvarint(data)
		if k <= 0 || uint64(len(data)-k) < size {
			return nil, fmt.Errorf("%d records in %s, want %d", len(records), first, n)
		}
		records = append(records, data[:k+int(size)])
		data = data[k+int(size):]
	}
	return records, nil
}

// fileLoad is the floor for the same durability without feedbackd: writers
// hand records to one committer that appends whatever is queued with a
// single write and fsync, exactly the group-commit policy of the spool.
func fileLoad(path string, lines [][]byte, writers int, d time.Duration) (result, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	var payload []byte
	for _, l := range lines {
		payload = append(payload, l...)
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
	start, cpu0 := time.Now(), processCPU()
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
	return result{ops: ops.Load(), events: ops.Load() * int64(len(lines)), elapsed: time.Since(start), cpu: processCPU() - cpu0, latencies: lat}, nil
}
