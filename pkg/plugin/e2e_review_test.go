package plugin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/sinktest"
)

// pushedLines is a Loki push stand-in: it decodes what the real feedbackd
// delivers and keeps each line with its stream labels.
type pushedLines struct {
	mu    sync.Mutex
	lines []string
	ls    []string
}

func lokiPushStandIn(t *testing.T, p *pushedLines) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/ready":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodPost && r.URL.Path == "/loki/api/v1/push":
			body, _ := io.ReadAll(r.Body)
			req, err := sinktest.DecodePush(body)
			if err != nil {
				t.Errorf("loki stand-in: %v", err)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			p.mu.Lock()
			for _, s := range req.Streams {
				for _, e := range s.Entries {
					p.lines = append(p.lines, e.Line)
					p.ls = append(p.ls, s.Labels)
				}
			}
			p.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Errorf("loki stand-in: unexpected %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (pc *pluginClient) resourcePost(t *testing.T, pctx backend.PluginContext, path, body string) (int, string) {
	t.Helper()
	stream, err := pc.resource.CallResource(context.Background(), backend.ToProto().CallResourceRequest(&backend.CallResourceRequest{
		PluginContext: pctx, Path: path, Method: "POST", URL: path, Body: []byte(body),
		Headers: map[string][]string{"Content-Type": {"application/json"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	var status int
	var out []byte
	for {
		r, err := stream.Recv()
		if err != nil {
			break
		}
		if r.Code != 0 {
			status = int(r.Code)
		}
		out = append(out, r.Body...)
	}
	return status, strings.TrimSpace(string(out))
}

// A review clicked in Grafana travels plugin protocol → plugin binary →
// the real feedbackd (server token) → its spool → Loki, with the Grafana
// user's login as reviewer.
func TestBinaryReviewReachesFeedbackd(t *testing.T) {
	pushed := &pushedLines{}
	loki := lokiPushStandIn(t, pushed)
	fd := feedbackdtest.Start(t, feedbackdtest.Build(t), "--spool-dir", t.TempDir(), "--tokens", "srv-token", "--loki-url", loki.URL)
	pc := start(t)
	pctx := pluginContext(`{"feedbackd":{"url":"`+fd.Base+`"}}`, map[string]string{"feedbackdToken": "srv-token"})
	pctx.User = &backend.User{Login: "rev-carol", Role: "Editor"}

	status, body := pc.resourcePost(t, pctx, "review",
		`{"feedback_id":"01M7VT6DM7G0ZF3SDW4JBEGQ6D","verdict":"corrected","corrected_output":"Refunds take 5–7 days.","note":"policy KB-12"}`)
	if status != 200 || body != `{"feedback_id":"01M7VT6DM7G0ZF3SDW4JBEGQ6D","reviewer":"rev-carol","verdict":"corrected"}` {
		t.Fatalf("HTTP %d %s", status, body)
	}

	viewer := pctx
	viewer.User = &backend.User{Login: "vic", Role: "Viewer"}
	if status, body := pc.resourcePost(t, viewer, "review", `{"feedback_id":"01M7VZ2BASSDC8ZXKMJ39Y1GDZ","verdict":"confirmed"}`); status != 403 {
		t.Errorf("viewer: HTTP %d %s", status, body)
	}
	if status, body := pc.resourcePost(t, pctx, "review", `{"feedback_id":"01M7VZ2BASSDC8ZXKMJ39Y1GDZ","verdict":"approve"}`); status != 400 || !strings.Contains(body, `"field":"verdict"`) {
		t.Errorf("bad verdict: HTTP %d %s", status, body)
	}

	// Delivery is asynchronous: wait for the line (the deadline only bounds a
	// broken run; nothing here measures speed).
	deadline := time.Now().Add(30 * time.Second)
	for {
		pushed.mu.Lock()
		n := len(pushed.lines)
		pushed.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	pushed.mu.Lock()
	defer pushed.mu.Unlock()
	if len(pushed.lines) != 1 {
		t.Fatalf("feedbackd delivered %d lines, want the one review: %v", len(pushed.lines), pushed.lines)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(pushed.lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if _, ok := ev["timestamp"].(string); !ok {
		t.Errorf("feedbackd set no timestamp: %s", pushed.lines[0])
	}
	delete(ev, "timestamp")
	got, _ := json.Marshal(ev)
	want := `{"comment":"policy KB-12","corrected_output":"Refunds take 5–7 days.","feedback_id":"01M7VT6DM7G0ZF3SDW4JBEGQ6D","kind":"review","reviewer":"rev-carol","schema":"feedback/v1","verdict":"corrected"}`
	if string(got) != want {
		t.Errorf("delivered review:\n got %s\nwant %s", got, want)
	}
	if !strings.Contains(pushed.ls[0], `kind="review"`) {
		t.Errorf("stream labels %s", pushed.ls[0])
	}
}
