package collector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector"
	"github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
)

type memSink struct {
	name    string
	mu      sync.Mutex
	lines   []string
	pingErr error
}

func (m *memSink) Name() string                   { return m.name }
func (m *memSink) Ping(ctx context.Context) error { return m.pingErr }
func (m *memSink) Deliver(ctx context.Context, batch []sink.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range batch {
		m.lines = append(m.lines, string(r.Line))
	}
	return nil
}

func (m *memSink) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.lines)
}

// runWith starts collector.Run with the given sinks on spoolDir and returns
// its base URL and a stop function that returns Run's error.
func runWith(t *testing.T, spoolDir string, sinks ...sink.Sink) (string, func() error) {
	t.Helper()
	return runArgs(t, []string{"--spool-dir", spoolDir}, sinks...)
}

// runArgs is runWith for any options.
func runArgs(t *testing.T, args []string, sinks ...sink.Sink) (string, func() error) {
	t.Helper()
	cfg, err := config.Load(append([]string{"--listen", "127.0.0.1:0"}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, cfg, collector.NewLogger("error", io.Discard), sinks, func(a string) { addr <- a })
	}()
	select {
	case a := <-addr:
		return "http://" + a, func() error { cancel(); return <-done }
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	return "", nil
}

// A graceful stop delivers everything acknowledged before returning, and the
// persisted cursors keep a restart from delivering any of it again.
func TestGracefulShutdownFlushesAndRestartResumes(t *testing.T) {
	dir := t.TempDir()
	first := &memSink{name: "mem"}
	base, stop := runWith(t, dir, first)
	for i := 0; i < 10; i++ {
		var evs []string
		for j := 0; j < 5; j++ {
			evs = append(evs, fmt.Sprintf(`{"kind":"feedback","correlation_id":"c%d-%d","model":{"id":"m","version":"v"},"sentiment":"positive"}`, i, j))
		}
		postJSON(t, base+"/v1/feedback", "["+strings.Join(evs, ",")+"]")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := first.count(); n != 50 {
		t.Fatalf("after a graceful stop the sink has %d of 50 events", n)
	}
	second := &memSink{name: "mem"}
	base, stop = runWith(t, dir, second)
	postJSON(t, base+"/v1/feedback", `{"kind":"feedback","correlation_id":"after","model":{"id":"m","version":"v"},"sentiment":"neutral"}`)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := second.count(); n != 1 || !strings.Contains(second.lines[0], `"correlation_id":"after"`) {
		t.Fatalf("after restart the sink got %d events (want only the new one): %v", n, second.lines)
	}
}

func TestReadinessNamesTheFailingSink(t *testing.T) {
	down := &memSink{name: "elasticsearch", pingErr: errors.New("connection refused")}
	base, stop := runWith(t, t.TempDir(), &memSink{name: "loki"}, down)
	defer stop()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"elasticsearch":{"ok":false,"error":"connection refused"}`) ||
		!strings.Contains(string(body), `"loki":{"ok":true}`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestReadyWithoutSinksSaysSo(t *testing.T) {
	base, stop := runWith(t, t.TempDir())
	defer stop()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "no sinks configured") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// The escalation rule end to end: a harmful thumbs-down posted to the API
// opens one ticket, and the escalation event recording it reaches the sinks
// beside the feedback; a positive one opens none.
func TestHarmfulFeedbackIsEscalatedThroughTheSpool(t *testing.T) {
	var mu sync.Mutex
	var tickets []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		tickets = append(tickets, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"key":"SAFE-42","url":"https://tickets.example.com/SAFE-42"}`)
	}))
	defer hook.Close()
	mem := &memSink{name: "loki"}
	base, stop := runArgs(t, []string{"--spool-dir", t.TempDir(), "--escalate-url", hook.URL, "--escalate-system", "jira",
		"--grafana-url", "http://grafana:3000"}, mem)
	postJSON(t, base+"/v1/feedback", `[{"kind":"feedback","correlation_id":"trace-1","model":{"id":"m","version":"v2"},"sentiment":"negative","tags":["harmful"],"comment":"dangerous advice"},`+
		`{"kind":"feedback","correlation_id":"trace-2","model":{"id":"m","version":"v2"},"sentiment":"positive"}]`)
	deadline := time.Now().Add(10 * time.Second)
	for mem.count() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if len(tickets) != 1 || !strings.Contains(tickets[0], `"correlation_id":"trace-1"`) ||
		!strings.Contains(tickets[0], `"trace_url":"http://grafana:3000/d/feedbackloop-trace?`) {
		t.Fatalf("tickets %q", tickets)
	}
	var esc []string
	for _, l := range mem.lines {
		if strings.Contains(l, `"kind":"escalation"`) {
			esc = append(esc, l)
		}
	}
	if len(mem.lines) != 3 || len(esc) != 1 || !strings.Contains(esc[0], `"correlation_id":"trace-1"`) ||
		!strings.Contains(esc[0], `"ticket":{"system":"jira","key":"SAFE-42","url":"https://tickets.example.com/SAFE-42"}`) {
		t.Fatalf("the sink got %q", mem.lines)
	}
}

// Close-the-loop end to end: a resolution posted to the API makes feedbackd
// read the reports back from Loki and notify their user once, and the
// notification event is spooled and delivered.
func TestResolutionNotifiesReportersThroughTheSpool(t *testing.T) {
	report := `{"schema":"feedback/v1","kind":"feedback","feedback_id":"01JD0000000000000000000009","correlation_id":"trace-9",` +
		`"timestamp":"2026-11-20T09:00:00.000000000Z","model":{"id":"m","version":"v1"},"sentiment":"negative","tags":["hallucination"],"user":{"id":"u-7"}}`
	var mu sync.Mutex
	var queries []string
	var pushes int
	lk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/loki/api/v1/push":
			pushes++
			w.WriteHeader(http.StatusNoContent)
		case "/loki/api/v1/query_range":
			queries = append(queries, r.URL.Query().Get("query"))
			w.Header().Set("Content-Type", "application/json")
			b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "streams", "stats": map[string]any{},
				"result": []any{map[string]any{"stream": map[string]string{"kind": "feedback"}, "values": [][2]string{{"1795165200000000000", report}}}}}})
			_, _ = w.Write(b)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer lk.Close()
	var notices []string
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		notices = append(notices, r.Header.Get("Idempotency-Key")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer svc.Close()
	mem := &memSink{name: "mem"}
	base, stop := runArgs(t, []string{"--spool-dir", t.TempDir(), "--loki-url", lk.URL, "--notify-url", svc.URL, "--notify-channel", "in_app"}, mem)
	postJSON(t, base+"/v1/resolutions", `{"kind":"resolution","resolution_id":"res-9","timestamp":"2026-11-21T00:00:00Z","model":{"id":"m","version":"v2"},"fixes":{"tags":["hallucination"]}}`)
	deadline := time.Now().Add(10 * time.Second)
	for mem.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if len(queries) != 1 || queries[0] != `{service_name="model-feedback",kind="feedback",sentiment="negative",model_id="m"} | json tags="tags" | tags=~".*\"hallucination\".*"` {
		t.Errorf("queries %q", queries)
	}
	if len(notices) != 1 || !strings.HasPrefix(notices[0], "res-9:u-7 ") || !strings.Contains(notices[0], `"feedback_id":"01JD0000000000000000000009"`) {
		t.Fatalf("notices %q", notices)
	}
	var got []string
	for _, l := range mem.lines {
		if strings.Contains(l, `"kind":"notification"`) {
			got = append(got, l)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0], `"feedback_id":"01JD0000000000000000000009"`) || !strings.Contains(got[0], `"resolution_id":"res-9"`) ||
		!strings.Contains(got[0], `"channel":"in_app"`) || !strings.Contains(got[0], `"user":{"id":"u-7"}`) {
		t.Fatalf("the sink got %q", mem.lines)
	}
}
