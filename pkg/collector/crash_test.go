package collector_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/feedbackloop/modelfeedback/pkg/collector/delivery"
	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
)

// recorder stands in for Loki or Elasticsearch: it stores the feedback_id of
// every line it acknowledged and refuses every failEvery-th request with a
// retryable status, so delivery retries are part of the run.
type recorder struct {
	mu        sync.Mutex
	ids       map[string]int
	requests  int
	failEvery int
}

func newRecorder(failEvery int) *recorder {
	return &recorder{ids: map[string]int{}, failEvery: failEvery}
}

func (r *recorder) shouldFail() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	return r.failEvery > 0 && r.requests%r.failEvery == 0
}

func (r *recorder) record(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.ids[id]++
	}
}

func (r *recorder) missing(want map[string]bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id := range want {
		if r.ids[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func feedbackID(line []byte) (string, error) {
	var ev struct {
		FeedbackID string `json:"feedback_id"`
	}
	if err := json.Unmarshal(line, &ev); err != nil || ev.FeedbackID == "" {
		return "", fmt.Errorf("line without feedback_id: %q", line)
	}
	return ev.FeedbackID, nil
}

// lokiHandler answers GET /ready and Loki's push API (snappy-compressed
// protobuf, as the real sink sends it), handing each decoded push to
// accept, whose status is the answer (204 when stored).
func lokiHandler(t *testing.T, accept func(*push.PushRequest) int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/ready":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && r.URL.Path == "/loki/api/v1/push":
			body, err := io.ReadAll(r.Body)
			if err != nil {
				// feedbackd was killed while sending: the body is cut
				// short, as a real Loki or Elasticsearch would see it.
				// Nothing of it is stored, and nobody reads the answer.
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			req, err := sinktest.DecodePush(body)
			if err != nil {
				t.Errorf("loki stand-in: bad push body: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if code := accept(req); code != http.StatusNoContent {
				http.Error(w, http.StatusText(code), code)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	})
}

// lokiStandIn records the feedback ids of every push, failing the pushes
// rec says to fail.
func lokiStandIn(t *testing.T, rec *recorder) *httptest.Server {
	return httptest.NewServer(lokiHandler(t, func(req *push.PushRequest) int {
		if rec.shouldFail() {
			return http.StatusServiceUnavailable
		}
		var ids []string
		for _, s := range req.Streams {
			for _, e := range s.Entries {
				id, err := feedbackID([]byte(e.Line))
				if err != nil {
					t.Error(err)
					continue
				}
				ids = append(ids, id)
			}
		}
		rec.record(ids)
		return http.StatusNoContent
	}))
}

// esStandIn accepts the bulk API with create actions and the info endpoint.
func esStandIn(t *testing.T, rec *recorder) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/":
			io.WriteString(w, `{"name":"standin","cluster_name":"test","version":{"number":"8.15.0"},"tagline":"You Know, for Search"}`)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk"):
			body, err := io.ReadAll(r.Body)
			if err != nil {
				// feedbackd was killed while sending: the body is cut
				// short, as a real Loki or Elasticsearch would see it.
				// Nothing of it is stored, and nobody reads the answer.
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if rec.shouldFail() {
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"error":"es_rejected_execution_exception","status":429}`)
				return
			}
			sc := bufio.NewScanner(bytes.NewReader(body))
			sc.Buffer(make([]byte, 1<<20), 8<<20)
			var ids []string
			var items []string
			for sc.Scan() {
				var action struct {
					Create struct {
						ID string `json:"_id"`
					} `json:"create"`
				}
				if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action.Create.ID == "" || !sc.Scan() {
					t.Errorf("es stand-in: bad bulk action %q", sc.Bytes())
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				id, err := feedbackID(sc.Bytes())
				if err != nil || id != action.Create.ID {
					t.Errorf("es stand-in: _id %q for document %q", action.Create.ID, sc.Bytes())
				}
				ids = append(ids, id)
				items = append(items, fmt.Sprintf(`{"create":{"_id":%q,"status":201}}`, id))
			}
			rec.record(ids)
			fmt.Fprintf(w, `{"took":1,"errors":false,"items":[%s]}`, strings.Join(items, ","))
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{}`)
		}
	}))
}

// load posts batches of feedback from several clients until stop is closed
// or the daemon is gone, and records the ids of every 202.
func load(d *feedbackdtest.Daemon, workers int, stop <-chan struct{}, acked func([]string)) *sync.WaitGroup {
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := 1 + rand.IntN(20)
				var b strings.Builder
				b.WriteByte('[')
				for j := 0; j < n; j++ {
					if j > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, `{"kind":"feedback","correlation_id":"w%d-%d-%d","model":{"id":"crash-bot","version":"v1"},"sentiment":"negative","reason":"latency","comment":"slow answer %d"}`, w, i, j, j)
				}
				b.WriteByte(']')
				resp, err := client.Post(d.Base+"/v1/feedback", "application/json", strings.NewReader(b.String()))
				if err != nil {
					return // killed
				}
				var ar struct {
					IDs []string `json:"ids"`
				}
				if resp.StatusCode == http.StatusAccepted && json.NewDecoder(resp.Body).Decode(&ar) == nil {
					acked(ar.IDs)
				}
				resp.Body.Close()
			}
		}(w)
	}
	return &wg
}

// SIGKILL feedbackd several times at random moments under concurrent load,
// restart it, and check that every event ever answered with 202 reached both
// sinks.
func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	bin := feedbackdtest.Build(t)
	lokiRec, esRec := newRecorder(13), newRecorder(11)
	loki, es := lokiStandIn(t, lokiRec), esStandIn(t, esRec)
	defer loki.Close()
	defer es.Close()
	spoolDir := t.TempDir()
	const batchSize, concurrency = 200, 4
	args := []string{"--spool-dir", spoolDir, "--loki-url", loki.URL, "--elasticsearch-url", es.URL,
		"--elasticsearch-install-template=false", "--delivery-batch-size", fmt.Sprint(batchSize),
		"--delivery-concurrency", fmt.Sprint(concurrency)}

	var mu sync.Mutex
	acked := map[string]bool{}
	record := func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			acked[id] = true
		}
	}
	const kills = 5
	for round := 0; round < kills; round++ {
		d := feedbackdtest.Start(t, bin, args...)
		stop := make(chan struct{})
		before := len(acked)
		wg := load(d, 8, stop, record)
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		if err := d.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		d.Cmd.Wait()
		close(stop)
		wg.Wait()
		mu.Lock()
		gained := len(acked) - before
		mu.Unlock()
		t.Logf("round %d: %d events acknowledged before SIGKILL", round, gained)
	}
	if len(acked) == 0 {
		t.Fatal("no event was acknowledged: the test proved nothing")
	}

	d := feedbackdtest.Start(t, bin, args...)
	var lokiMissing, esMissing []string
	for i := 0; i < 1200; i++ {
		lokiMissing, esMissing = lokiRec.missing(acked), esRec.missing(acked)
		if len(lokiMissing)+len(esMissing) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := d.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Cmd.Wait(); err != nil {
		t.Errorf("graceful stop after the crashes: %v\n%s", err, d.Log)
	}
	if len(lokiMissing)+len(esMissing) > 0 {
		t.Logf("feedbackd log of the last run:\n%s", d.Log)
		t.Fatalf("of %d acknowledged events, %d never reached Loki (e.g. %v) and %d never reached Elasticsearch (e.g. %v)",
			len(acked), len(lokiMissing), first(lokiMissing), len(esMissing), first(esMissing))
	}
	dupL, dupE := duplicates(lokiRec), duplicates(esRec)
	t.Logf("%d acknowledged events all delivered to both sinks; redeliveries: loki %d, elasticsearch %d", len(acked), dupL, dupE)
	// The stand-ins store nothing of a request they refuse, so only a crash
	// makes them see an event twice, and only an event of a batch that was
	// in flight: the cursor never lags more than the window of batches.
	if bound := kills * delivery.WindowBatches(concurrency) * batchSize; dupL > bound || dupE > bound {
		t.Errorf("redeliveries loki %d, elasticsearch %d: over %d kills × %d batches in flight × %d events",
			dupL, dupE, kills, delivery.WindowBatches(concurrency), batchSize)
	}
	if _, err := os.Stat(filepath.Join(spoolDir, "deadletter")); err == nil {
		t.Error("events were dead-lettered in a run where no sink rejected anything")
	}
}

func first(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}

func duplicates(r *recorder) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.ids {
		n += c - 1
	}
	return n
}
