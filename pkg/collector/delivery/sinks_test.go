package delivery_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/feedbackloop/modelfeedback/pkg/collector/delivery"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/esbulk"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/lokipush"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
)

func openSpool(t *testing.T, dir string, lines []string, sinks ...string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	ls := make([][]byte, len(lines))
	for i, l := range lines {
		ls[i] = []byte(l)
	}
	if _, err := sp.Append(context.Background(), ls); err != nil {
		t.Fatal(err)
	}
	return sp
}

func drain(t *testing.T, sp *spool.Spool, s sink.Sink, dir string, batchSize, concurrency int) {
	t.Helper()
	r := delivery.New(sp, []sink.Sink{s}, delivery.Metrics{}, delivery.Options{
		BatchSize: batchSize, Concurrency: concurrency, DeadLetterDir: filepath.Join(dir, "deadletter"),
		Logger:     slog.New(slog.DiscardHandler),
		NewBackOff: func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }})
	done := make(chan struct{})
	close(done)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r.Run(ctx, done)
	if ctx.Err() != nil {
		t.Fatal("delivery did not drain")
	}
}

func deadLetters(t *testing.T, path string) []delivery.DeadLetter {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []delivery.DeadLetter
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var d delivery.DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b delivery.DeadLetter) int { return int(a.Seq) - int(b.Seq) })
	return out
}

func feedbackLine(id, model string, ts time.Time) string {
	return fmt.Sprintf(`{"schema":"feedback/v1","kind":"feedback","feedback_id":%q,"timestamp":%q,"model":{"id":%q,"version":"v1"},"sentiment":"negative"}`,
		id, ts.Format(time.RFC3339Nano), model)
}

// strictLoki keeps Loki's out-of-order rule per stream: an entry older than
// the stream's newest stored entry minus an hour (max_chunk_age/2 with the
// default max_chunk_age of 2h) is refused with 400 "entry too far behind",
// the others of the push are stored. fail decides a 503 for a push.
type strictLoki struct {
	t      *testing.T
	mu     sync.Mutex
	newest map[string]time.Time
	stored map[string]int // feedback_id → times stored
	order  []string       // first feedback_id of each stored push
	fail   func(firstID string) bool
}

func (l *strictLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/loki/api/v1/push" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		l.t.Errorf("strict Loki: unexpected %s %s", r.Method, r.URL)
		http.Error(w, "not implemented", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	req, err := sinktest.DecodePush(body)
	if err != nil {
		l.t.Errorf("strict Loki: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := func(line string) string {
		var ev struct {
			ID string `json:"feedback_id"`
		}
		json.Unmarshal([]byte(line), &ev)
		return ev.ID
	}
	first := id(req.Streams[0].Entries[0].Line)
	if l.fail != nil && l.fail(first) {
		http.Error(w, "ingester unavailable", http.StatusServiceUnavailable)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var refused []string
	for _, st := range req.Streams {
		for _, e := range st.Entries {
			if n, ok := l.newest[st.Labels]; ok && e.Timestamp.Before(n.Add(-time.Hour)) {
				refused = append(refused, fmt.Sprintf("entry with timestamp %s ignored, reason: 'entry too far behind, oldest acceptable timestamp is: %s' for stream: %s",
					e.Timestamp.UTC().Format(time.RFC3339Nano), n.Add(-time.Hour).UTC().Format(time.RFC3339), st.Labels))
				continue
			}
			if e.Timestamp.After(l.newest[st.Labels]) {
				l.newest[st.Labels] = e.Timestamp
			}
			l.stored[id(e.Line)]++
		}
	}
	l.order = append(l.order, first)
	if len(refused) > 0 {
		http.Error(w, strings.Join(refused, "\n"), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Concurrent pushes never make Loki refuse an entry it would have taken from
// sequential delivery: a batch of a stream whose entries are more than the
// order window newer than those of an unacknowledged earlier batch waits for
// it, while batches of other streams go on.
func TestConcurrentPushesStayInsideLokisOrderWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var lines []string
	for i := 0; i < 5; i++ { // stream a, 08:00 (seq 1-5)
		lines = append(lines, feedbackLine(fmt.Sprintf("a-early-%d", i), "model-a", t0.Add(time.Duration(i)*time.Second)))
	}
	for i := 0; i < 5; i++ { // stream b, 08:00 (seq 6-10)
		lines = append(lines, feedbackLine(fmt.Sprintf("b-%d", i), "model-b", t0.Add(time.Duration(i)*time.Second)))
	}
	for i := 0; i < 5; i++ { // stream a, 10:00 (seq 11-15): two hours after its first batch
		lines = append(lines, feedbackLine(fmt.Sprintf("a-late-%d", i), "model-a", t0.Add(2*time.Hour+time.Duration(i)*time.Second)))
	}
	loki := &strictLoki{t: t, newest: map[string]time.Time{}, stored: map[string]int{}}
	// The early batch of stream a is refused until stream b's batch is
	// stored, so it is still unacknowledged while the later batches are
	// ready to go.
	loki.fail = func(first string) bool {
		loki.mu.Lock()
		defer loki.mu.Unlock()
		return first == "a-early-0" && loki.stored["b-0"] == 0
	}
	srv := httptest.NewServer(loki)
	defer srv.Close()
	s, err := lokipush.New(lokipush.Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sp := openSpool(t, dir, lines, lokipush.Name)
	drain(t, sp, s, dir, 5, 4)

	if dl := deadLetters(t, filepath.Join(dir, "deadletter", "loki.jsonl")); len(dl) > 0 {
		t.Fatalf("Loki refused %d entries, first: %s", len(dl), dl[0].Reason)
	}
	for _, l := range lines {
		var ev struct {
			ID string `json:"feedback_id"`
		}
		json.Unmarshal([]byte(l), &ev)
		if loki.stored[ev.ID] != 1 {
			t.Errorf("%s stored %d times", ev.ID, loki.stored[ev.ID])
		}
	}
	if want := []string{"b-0", "a-early-0", "a-late-0"}; !slices.Equal(loki.order, want) {
		t.Fatalf("pushes stored in order %v, want %v: stream b goes on while stream a's late batch waits", loki.order, want)
	}
	if c := sp.Cursor(lokipush.Name); c != 15 {
		t.Fatalf("cursor %d, want 15", c)
	}
}

// strictES answers _bulk like Elasticsearch 8 does for create actions:
// per-item statuses, 409 for an _id it already has. bad ids are refused with
// a mapping error every time; busy ids with 429 the first time.
type strictES struct {
	t       *testing.T
	mu      sync.Mutex
	docs    map[string]string
	bad     map[string]bool
	busy    map[string]bool
	arrived chan struct{} // one receive per bulk request
	release chan struct{} // closed once two bulks were under way at once
	bulks   int
}

func (e *strictES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" || r.Header.Get("Content-Type") != "application/x-ndjson" {
		e.t.Errorf("strict Elasticsearch: unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.bulks++
	firstTwo := e.bulks <= 2
	e.mu.Unlock()
	if firstTwo {
		// The first two bulks must be under way together: each waits here
		// for the other.
		e.arrived <- struct{}{}
		select {
		case <-e.release:
		case <-time.After(20 * time.Second):
			e.t.Error("the second bulk never arrived while the first was under way")
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	e.mu.Lock()
	defer e.mu.Unlock()
	var items []string
	for i := 0; i+1 < len(lines); i += 2 {
		var a struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &a); err != nil || a.Create.ID == "" {
			e.t.Errorf("strict Elasticsearch: bad action %q", lines[i])
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		id, idx := a.Create.ID, a.Create.Index
		switch {
		case e.bad[id]:
			items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [score] of type [double] in document with id '%s'"}}}`, idx, id, id))
		case e.busy[id]:
			delete(e.busy, id)
			items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}}`, idx, id))
		case e.docs[id] != "":
			items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[%s]: version conflict, document already exists (current version [1])"}}}`, idx, id, id))
		default:
			e.docs[id] = lines[i+1]
			items = append(items, fmt.Sprintf(`{"create":{"_index":%q,"_id":%q,"_version":1,"result":"created","status":201}}`, idx, id))
		}
	}
	fmt.Fprintf(w, `{"took":3,"errors":true,"items":[%s]}`, strings.Join(items, ","))
}

// Two bulks under way at once, each with a document Elasticsearch refuses
// for good and one it is too busy for: each refused document is
// dead-lettered once with its reason, each busy one is stored on the retry,
// and nothing else is lost or stored twice.
func TestConcurrentBulksWithPartialFailures(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	var lines []string
	for i := 0; i < 10; i++ {
		lines = append(lines, feedbackLine(fmt.Sprintf("doc-%d", i), "support-bot", t0.Add(time.Duration(i)*time.Second)))
	}
	es := &strictES{t: t, docs: map[string]string{},
		bad:     map[string]bool{"doc-1": true, "doc-8": true},
		busy:    map[string]bool{"doc-3": true, "doc-6": true},
		arrived: make(chan struct{}), release: make(chan struct{})}
	go func() {
		<-es.arrived
		<-es.arrived
		close(es.release)
	}()
	srv := httptest.NewServer(es)
	defer srv.Close()
	s, err := esbulk.New(esbulk.Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sp := openSpool(t, dir, lines, esbulk.Name)
	drain(t, sp, s, dir, 5, 2) // batches doc-0..4 and doc-5..9

	dl := deadLetters(t, filepath.Join(dir, "deadletter", "elasticsearch.jsonl"))
	if len(dl) != 2 || dl[0].Seq != 2 || dl[1].Seq != 9 ||
		dl[0].Reason != "elasticsearch: 400 mapper_parsing_exception: failed to parse field [score] of type [double] in document with id 'doc-1'" ||
		string(dl[1].Event) != lines[8] {
		t.Fatalf("dead letters %+v", dl)
	}
	var stored []string
	for id, src := range es.docs {
		stored = append(stored, id)
		if !slices.Contains(lines, src) {
			t.Errorf("%s stored as %s", id, src)
		}
	}
	slices.Sort(stored)
	if want := []string{"doc-0", "doc-2", "doc-3", "doc-4", "doc-5", "doc-6", "doc-7", "doc-9"}; !slices.Equal(stored, want) {
		t.Fatalf("stored %v, want %v", stored, want)
	}
	if es.bulks != 4 {
		t.Fatalf("%d bulk requests, want 4 (two batches, each retried once for its busy document)", es.bulks)
	}
	if c := sp.Cursor(esbulk.Name); c != 10 {
		t.Fatalf("cursor %d, want 10", c)
	}
}
