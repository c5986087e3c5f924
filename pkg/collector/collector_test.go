package collector_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

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
	cfg, err := config.Load([]string{"--listen", "127.0.0.1:0", "--spool-dir", spoolDir}, func(string) string { return "" }, io.Discard)
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
