// Command feedbackd-bench measures feedbackd's durable ingest on this machine
// and compares it with the plain cost of the same durability: appending the
// same bytes to a file with the same fsync policy (group commit).
//
//	go run ./pkg/cmd/feedbackd-bench -duration 30s
//	go run ./pkg/cmd/feedbackd-bench -mode delivery
//
// -mode delivery is described in delivery.go and docs/delivery.md; the rest
// of this comment is about the default mode, ingest.
//
// feedbackd runs in-process on a loopback port with no sinks, so what is
// measured is the ingest path a client waits for: HTTP, decoding, validation,
// redaction, encoding, the write-ahead log and its fsync.
//
// Three things are measured for each load, in interleaved rounds so that all
// three see the same disk (this machine's fsync latency drifts by a factor of
// 1.5 within a minute, which made back-to-back runs incomparable):
//   - feedbackd;
//   - the HTTP floor: a net/http server on the same loopback that does nothing
//     but read the body and group-commit the same bytes with fsync; no HTTP
//     service, however thin, can beat it, so it tells how much of the gap to
//     the baseline is feedbackd's and how much is HTTP's;
//   - the baseline: writers handing the same bytes to the same group-commit
//     appender directly, with no network at all.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
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
	duration := flag.Duration("duration", 30*time.Second, "how long each load runs against each of feedbackd, the HTTP floor and the baseline")
	rounds := flag.Int("rounds", 6, "interleaved rounds the duration is split into")
	batchClients := flag.Int("batch-clients", 8, "concurrent clients sending 100-event requests")
	singleClients := flag.String("single-clients", "32", "concurrent clients sending single-event requests; a comma-separated list runs one load per count")
	batchSize := flag.Int("batch", 100, "events per batched request")
	only := flag.String("only", "", `run one kind of load: "batched" or "single" (default both)`)
	dir := flag.String("dir", "", "directory for the spool and the baseline files (default: a temporary directory on the working directory's file system)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	mode := flag.String("mode", "ingest", `"ingest": durable ingest against the HTTP floor and the file baseline; "delivery": events posted to feedbackd until Loki and Elasticsearch stand-ins acknowledged all, against pushing the same request bodies to them directly`)
	events := flag.Int("events", 200000, "-mode delivery: events per round")
	clients := flag.Int("clients", 4, "-mode delivery: concurrent clients posting -batch events per request to feedbackd")
	concurrency := flag.Int("concurrency", 4, "-mode delivery: feedbackd's --delivery-concurrency, and the connections per stand-in of the direct push")
	deliveryBatch := flag.Int("delivery-batch", 500, "-mode delivery: feedbackd's --delivery-batch-size")
	batchWait := flag.Duration("batch-wait", 10*time.Millisecond, "-mode delivery: feedbackd's --delivery-batch-wait")
	latency := flag.Duration("store-latency", 0, "-mode delivery: time each stand-in takes to answer a request, as a store's round trip")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "feedbackd-bench: -cpuprofile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *mode == "delivery" {
		r := *rounds
		if !isFlagSet("rounds") {
			r = 2
		}
		var err error
		if *events < *batchSize || *batchSize < 1 || *clients < 1 || *concurrency < 1 || *deliveryBatch < 1 || r < 1 {
			err = errors.New("-events must be at least -batch, and -batch, -clients, -concurrency, -delivery-batch and -rounds positive")
		} else {
			err = runDelivery(deliveryConfig{events: *events, clients: *clients, perRequest: *batchSize, concurrency: *concurrency,
				batchSize: *deliveryBatch, batchWait: *batchWait, latency: *latency, rounds: r, dir: *dir})
		}
		if err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintln(os.Stderr, "feedbackd-bench:", err)
			os.Exit(1)
		}
		return
	}
	if *mode != "ingest" {
		fmt.Fprintf(os.Stderr, "feedbackd-bench: -mode: %q is neither ingest nor delivery\n", *mode)
		os.Exit(2)
	}
	cfg := config{duration: *duration, rounds: *rounds, batchClients: *batchClients, batchSize: *batchSize, dir: *dir}
	err := cfg.parse(*singleClients, *only)
	if err == nil {
		err = run(cfg)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "feedbackd-bench:", err)
		os.Exit(1)
	}
}

func isFlagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

type config struct {
	duration      time.Duration
	rounds        int
	batchClients  int
	batchSize     int
	singleClients []int
	batched       bool
	dir           string
}

func (c *config) parse(single, only string) error {
	switch only {
	case "", "batched", "single":
	default:
		return fmt.Errorf("-only: %q is neither batched nor single", only)
	}
	c.batched = only != "single"
	if only != "batched" {
		for _, f := range strings.Split(single, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("-single-clients: %q is not a positive number", f)
			}
			c.singleClients = append(c.singleClients, n)
		}
	}
	if c.rounds < 1 || c.duration/time.Duration(c.rounds) < 100*time.Millisecond {
		return errors.New("-rounds: each round must last at least 100ms (-duration / -rounds)")
	}
	if c.batchClients < 1 || c.batchSize < 1 {
		return errors.New("-batch-clients and -batch must be positive")
	}
	return nil
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

func (r *result) add(o result) {
	r.ops += o.ops
	r.events += o.events
	r.elapsed += o.elapsed
	r.cpu += o.cpu
	r.latencies = append(r.latencies, o.latencies...)
	r.errors += o.errors
}

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

// load is one line of the table: the same work done three ways.
type load struct {
	name            string
	clients, perReq int
	target          string
	fd, floor, base result
	runFD, runFloor func(time.Duration) (result, error)
	runBase         func(time.Duration) (result, error)
}

func run(c config) error {
	dir := c.dir
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
	addr, stop, err := serve(h)
	if err != nil {
		return err
	}
	defer stop()

	events := make([]string, c.batchSize)
	for i := range events {
		events[i] = event(i)
	}
	batchBody := []byte("[" + strings.Join(events, ",") + "]")
	singleBody := []byte(events[0])

	// The floor and the baseline write exactly the bytes the spool wrote for
	// one request: the log's records (length prefix, CRC, receive time, line)
	// as they are in the segment file, not the bare lines. One batch through
	// feedbackd puts them there.
	if r, err := httpLoad(addr, "/v1/feedback", batchBody, c.batchSize, 1, 0); err != nil || r.ops != 1 {
		return fmt.Errorf("first request to feedbackd: %v", err)
	}
	records, err := spooledRecords(filepath.Join(dir, "spool", "wal"), c.batchSize)
	if err != nil {
		return fmt.Errorf("reading back the spooled batch: %v", err)
	}
	batchBytes, singleBytes := bytes.Join(records, nil), records[0]

	floorBatch, err := openAppender(filepath.Join(dir, "floor-batched"))
	if err != nil {
		return err
	}
	defer floorBatch.close()
	floorSingle, err := openAppender(filepath.Join(dir, "floor-single"))
	if err != nil {
		return err
	}
	defer floorSingle.close()
	floorAddr, stopFloor, err := serve(floorHandler(map[string]floorPath{
		"/batched": {floorBatch, batchBytes, c.batchSize},
		"/single":  {floorSingle, singleBytes, 1},
	}))
	if err != nil {
		return err
	}
	defer stopFloor()

	var loads []*load
	if c.batched {
		base, err := openAppender(filepath.Join(dir, "baseline-batched"))
		if err != nil {
			return err
		}
		defer base.close()
		n, b := c.batchClients, c.batchSize
		loads = append(loads, &load{
			name: fmt.Sprintf("batched, %d events/request", b), clients: n, perReq: b,
			target:   ">= 20000 events/s, ratio >= 0.5",
			runFD:    func(d time.Duration) (result, error) { return httpLoad(addr, "/v1/feedback", batchBody, b, n, d) },
			runFloor: func(d time.Duration) (result, error) { return httpLoad(floorAddr, "/batched", batchBody, b, n, d) },
			runBase:  func(d time.Duration) (result, error) { return fileLoad(base, batchBytes, b, n, d) },
		})
	}
	for _, n := range c.singleClients {
		base, err := openAppender(filepath.Join(dir, "baseline-single-"+strconv.Itoa(n)))
		if err != nil {
			return err
		}
		defer base.close()
		loads = append(loads, &load{
			name: "single-event requests", clients: n, perReq: 1,
			target:   ">= 2000 req/s, p99 <= 25 ms, ratio >= 0.5",
			runFD:    func(d time.Duration) (result, error) { return httpLoad(addr, "/v1/feedback", singleBody, 1, n, d) },
			runFloor: func(d time.Duration) (result, error) { return httpLoad(floorAddr, "/single", singleBody, 1, n, d) },
			runBase:  func(d time.Duration) (result, error) { return fileLoad(base, singleBytes, 1, n, d) },
		})
	}

	slice := c.duration / time.Duration(c.rounds)
	for round := 1; round <= c.rounds; round++ {
		for _, l := range loads {
			fmt.Fprintf(os.Stderr, "round %d/%d: %s, %d clients, %s each for feedbackd, the HTTP floor and the baseline...\n", round, c.rounds, l.name, l.clients, slice)
			for _, m := range []struct {
				into *result
				run  func(time.Duration) (result, error)
			}{{&l.fd, l.runFD}, {&l.floor, l.runFloor}, {&l.base, l.runBase}} {
				r, err := m.run(slice)
				if err != nil {
					return err
				}
				m.into.add(r)
			}
		}
	}
	return report(os.Stdout, loads)
}

func report(w io.Writer, loads []*load) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "load\tclients\tfeedbackd\tHTTP floor\tbaseline\tfeedbackd/baseline\tfloor/baseline\tfeedbackd/floor\tfeedbackd p50 / p99\tfloor p99\tbaseline p99\tcores busy (fd/floor/base)\tfailed\ttarget\t")
	rate := func(l *load, r result) string {
		if l.perReq > 1 {
			return fmt.Sprintf("%.0f events/s", r.eventsPerSec())
		}
		return fmt.Sprintf("%.0f req/s", r.opsPerSec())
	}
	for _, l := range loads {
		fd, fl, b := l.fd.eventsPerSec(), l.floor.eventsPerSec(), l.base.eventsPerSec()
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s / %s\t%s\t%s\t%.2f / %.2f / %.2f of %d\t%d\t%s\t\n",
			l.name, l.clients, rate(l, l.fd), rate(l, l.floor), rate(l, l.base), fd/b, fl/b, fd/fl,
			ms(l.fd.percentile(0.50)), ms(l.fd.percentile(0.99)), ms(l.floor.percentile(0.99)), ms(l.base.percentile(0.99)),
			l.fd.coresBusy(), l.floor.coresBusy(), l.base.coresBusy(), runtime.NumCPU(), l.fd.errors+l.floor.errors, l.target)
	}
	return tw.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// serve runs h on a fresh loopback port with net/http's defaults, as feedbackd
// does.
func serve(h http.Handler) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}

type floorPath struct {
	app     *appender
	payload []byte
	events  int
}

// floorHandler answers POST <path> by reading the body and making the
// path's payload durable through the group-commit appender: the least any
// HTTP ingest must do. Its 202 body has the size of feedbackd's.
func floorHandler(paths map[string]floorPath) http.Handler {
	mux := http.NewServeMux()
	for path, p := range paths {
		ids := make([]string, p.events)
		for i := range ids {
			ids[i] = `"01JD3Z6Q5W2V9E8R7T6Y5U4I3O"`
		}
		answer := []byte(`{"accepted":` + strconv.Itoa(p.events) + `,"ids":[` + strings.Join(ids, ",") + "]}\n")
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := p.app.append(p.payload); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			w.Write(answer)
		})
	}
	return mux
}

// httpLoad posts body from clients goroutines until d has passed (or, with
// d == 0, once per client); each 202 counts perRequest events. Each client is one keep-alive connection speaking
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
			for first := true; first && d == 0 || time.Now().Before(deadline); first = false {
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
	case code == http.StatusNoContent || code == http.StatusNotModified:
		return code, nil // no body by definition
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

// appender is the floor for the same durability without feedbackd: callers
// hand payloads to one committer that appends whatever is queued with a
// single write and fsync, exactly the group-commit policy of the spool.
type appender struct {
	f    *os.File
	reqs chan appendReq
	stop context.CancelFunc
}

type appendReq struct {
	payload []byte
	done    chan error
}

func openAppender(path string) (*appender, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &appender{f: f, reqs: make(chan appendReq, 1024), stop: cancel}
	go a.commit(ctx)
	return a, nil
}

func (a *appender) commit(ctx context.Context) {
	var buf []byte
	var group []appendReq
	for {
		select {
		case r := <-a.reqs:
			group = append(group[:0], r)
		case <-ctx.Done():
			return
		}
	more:
		for {
			select {
			case r := <-a.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		buf = buf[:0]
		for _, r := range group {
			buf = append(buf, r.payload...)
		}
		_, err := a.f.Write(buf)
		if err == nil {
			err = a.f.Sync()
		}
		for _, r := range group {
			r.done <- err
		}
	}
}

var donePool = sync.Pool{New: func() any { return make(chan error, 1) }}

func (a *appender) append(payload []byte) error {
	done := donePool.Get().(chan error)
	a.reqs <- appendReq{payload: payload, done: done}
	err := <-done
	donePool.Put(done)
	return err
}

func (a *appender) close() {
	a.stop()
	a.f.Close()
}

// fileLoad is the baseline: writers append payload through a with no network
// in between, for d.
func fileLoad(a *appender, payload []byte, perOp, writers int, d time.Duration) (result, error) {
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
			local := make([]time.Duration, 0, 1<<14)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if err := a.append(payload); err != nil {
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
	return result{ops: ops.Load(), events: ops.Load() * int64(perOp), elapsed: time.Since(start), cpu: processCPU() - cpu0, latencies: lat}, nil
}
