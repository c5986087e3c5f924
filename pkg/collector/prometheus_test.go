package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector"
	"github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
)

// startFeedbackd runs the real assembly (collector.Run) on a free loopback
// port and returns its base URL; it stops when the test ends.
func startFeedbackd(t *testing.T, args ...string) string {
	t.Helper()
	cfg, err := config.Load(append([]string{"--listen", "127.0.0.1:0", "--spool-dir", t.TempDir()}, args...),
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, cfg, collector.NewLogger("error", io.Discard), nil, func(a string) { addr <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feedbackd: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatalf("feedbackd did not start: %v", err)
	}
	return ""
}

func postJSON(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}

func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/prometheus"); err == nil {
		return "/usr/bin/prometheus"
	}
	t.Fatal("the prometheus binary is required for this test and was not found on PATH or at /usr/bin/prometheus; " +
		"install it with: apt-get update && apt-get install -y prometheus")
	return ""
}

type promVector struct {
	Status string `json:"status"`
	Data   struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// A real Prometheus scrapes feedbackd (OpenMetrics, so exemplars come along)
// and the counters are read back through its HTTP API.
func TestPrometheusScrapesFeedbackCounters(t *testing.T) {
	bin := prometheusBinary(t)
	base := startFeedbackd(t)

	fbk := func(cid, version, sentiment, extra string) string {
		return fmt.Sprintf(`{"kind":"feedback","correlation_id":%q,"model":{"id":"promtest-bot","version":%q},"sentiment":%q%s}`,
			cid, version, sentiment, extra)
	}
	postJSON(t, base+"/v1/feedback", "["+
		fbk("trace-1", "v1", "negative", `,"reason":"hallucination","tags":["hallucination","bias"]`)+","+
		fbk("trace-2", "v1", "negative", `,"reason":"hallucination","tags":["bias"]`)+","+
		fbk("trace-3", "v2", "positive", "")+"]")
	postJSON(t, base+"/v1/feedback", fbk("trace-4", "v1", "negative", `,"reason":"hallucination"`))
	postJSON(t, base+"/v1/interactions", `[{"kind":"interaction","correlation_id":"trace-5","model":{"id":"promtest-bot","version":"v1"}},`+
		`{"kind":"interaction","correlation_id":"trace-6","model":{"id":"promtest-bot","version":"v1"}}]`)

	dir := t.TempDir()
	promCfg := filepath.Join(dir, "prometheus.yml")
	target := strings.TrimPrefix(base, "http://")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: feedbackd
    static_configs:
      - targets: [%q]
`, target)), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := feedbackdtest.FreeAddr(t)
	var promLog strings.Builder
	cmd := exec.Command(bin,
		"--config.file="+promCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr,
		"--enable-feature=exemplar-storage",
	)
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", promLog.String())
		}
	})

	want := map[string]float64{
		`feedback|v1|negative|hallucination`: 3,
		`feedback|v2|positive|`:              1,
		`interaction|v1||`:                   2,
	}
	query := `feedback_events_total{model_id="promtest-bot"}`
	var got map[string]float64
	client := &http.Client{Timeout: 2 * time.Second}
	for attempt := 0; attempt < 60; attempt++ {
		got = map[string]float64{}
		resp, err := client.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(query))
		if err == nil {
			var v promVector
			if json.NewDecoder(resp.Body).Decode(&v) == nil && v.Status == "success" {
				for _, r := range v.Data.Result {
					m := r.Metric
					var f float64
					fmt.Sscan(fmt.Sprint(r.Value[1]), &f)
					got[m["kind"]+"|"+m["model_version"]+"|"+m["sentiment"]+"|"+m["reason"]] = f
				}
			}
			resp.Body.Close()
		}
		if len(got) == len(want) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(got) != len(want) {
		t.Fatalf("Prometheus did not return the series within 30 s; got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("feedback_events_total{%s} = %v, want %v", k, got[k], v)
		}
	}

	// The tag counter: an event with two tags counts once under each.
	var tags promVector
	getJSON(t, client, "http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(`feedback_tags_total{model_id="promtest-bot"}`), &tags)
	tagVals := map[string]string{}
	for _, r := range tags.Data.Result {
		tagVals[r.Metric["tag"]] = fmt.Sprint(r.Value[1])
	}
	if tagVals["bias"] != "2" || tagVals["hallucination"] != "1" || len(tagVals) != 2 {
		t.Errorf("feedback_tags_total by tag = %v, want bias 2, hallucination 1", tagVals)
	}

	// Exemplars survive the scrape, so a spike leads to a conversation.
	var ex struct {
		Status string `json:"status"`
		Data   []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	now := time.Now()
	getJSON(t, client, "http://"+promAddr+"/api/v1/query_exemplars?query="+url.QueryEscape(query)+
		fmt.Sprintf("&start=%d&end=%d", now.Add(-time.Hour).Unix(), now.Add(time.Minute).Unix()), &ex)
	ids := map[string]bool{}
	for _, d := range ex.Data {
		for _, e := range d.Exemplars {
			ids[e.Labels["correlation_id"]] = true
		}
	}
	if !ids["trace-4"] || !ids["trace-3"] || !ids["trace-6"] {
		t.Errorf("exemplars with the last correlation_id of each series not found: %v (status %s)", ids, ex.Status)
	}
}

func getJSON(t *testing.T, c *http.Client, u string, v any) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
