// Package promtest starts a real Prometheus (Debian's prometheus package) on
// 127.0.0.1 for tests, loaded with known samples through promtool's
// OpenMetrics backfill, so queries run on Prometheus' own engine.
package promtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Sample is one point of a series.
type Sample struct {
	T time.Time
	V float64
}

// Series is one labelled series of the backfill.
type Series struct {
	Metric  string // e.g. llm_requests_total
	Labels  map[string]string
	Samples []Sample
}

// Server is a running Prometheus.
type Server struct {
	URL string
	cmd *exec.Cmd
}

func binary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	t.Fatalf("%s not found: install Debian's prometheus package (apt-get install -y prometheus); scripts/test.sh does this", name)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// OpenMetrics renders counters in the OpenMetrics text format promtool
// backfills from (timestamps in seconds, # EOF at the end).
func OpenMetrics(series []Series) string {
	var b strings.Builder
	byMetric := map[string][]Series{}
	var names []string
	for _, s := range series {
		if _, ok := byMetric[s.Metric]; !ok {
			names = append(names, s.Metric)
		}
		byMetric[s.Metric] = append(byMetric[s.Metric], s)
	}
	sort.Strings(names)
	for _, name := range names {
		family := strings.TrimSuffix(name, "_total")
		fmt.Fprintf(&b, "# TYPE %s counter\n", family)
		for _, s := range byMetric[name] {
			keys := make([]string, 0, len(s.Labels))
			for k := range s.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			lbl := make([]string, len(keys))
			for i, k := range keys {
				lbl[i] = fmt.Sprintf("%s=%q", k, s.Labels[k])
			}
			for _, p := range s.Samples {
				fmt.Fprintf(&b, "%s{%s} %g %d\n", name, strings.Join(lbl, ","), p.V, p.T.Unix())
			}
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

// Start backfills the series into a fresh TSDB and starts Prometheus on it,
// listening on a free port of 127.0.0.1; it is killed when the test ends.
func Start(t testing.TB, series []Series) *Server {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	om := filepath.Join(dir, "backfill.om")
	if err := os.WriteFile(om, []byte(OpenMetrics(series)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary(t, "promtool"), "tsdb", "create-blocks-from", "openmetrics", om, data).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool backfill: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 15s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t, "prometheus"),
		"--config.file="+cfg, "--storage.tsdb.path="+data, "--web.listen-address="+addr,
		// The backfilled samples are days old: keep them whatever the date.
		"--storage.tsdb.retention.time=100y")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Fatalf("prometheus did not become ready on %s:\n%s", addr, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Counter builds a linear counter sampled every step from start to end: the
// value at t is rate × (t - start). Linear counters make Prometheus'
// increase() exact (its extrapolation assumes linearity), so expected values
// can be computed from the samples alone.
func Counter(metric string, labels map[string]string, start, end time.Time, step time.Duration, perSecond float64) Series {
	s := Series{Metric: metric, Labels: labels}
	for t := start; !t.After(end); t = t.Add(step) {
		s.Samples = append(s.Samples, Sample{T: t, V: perSecond * t.Sub(start).Seconds()})
	}
	return s
}

// ValueAt returns the sample value at t (exact match).
func (s Series) ValueAt(t time.Time) float64 {
	for _, p := range s.Samples {
		if p.T.Equal(t) {
			return p.V
		}
	}
	panic(fmt.Sprintf("no sample at %s", t))
}
