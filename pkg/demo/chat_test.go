package demo_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
	"github.com/feedbackloop/modelfeedback/pkg/demo"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func postChat(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/chat", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST /chat %s: answer is not JSON: %v", body, err)
	}
	return resp.StatusCode, out
}

// The chat page serves the widget as sdk/js builds it, configured for the
// browser, and each answer is first stored in the real feedbackd as an
// interaction snapshot carrying the visitor's question.
func TestChatRecordsEachAnswerAndServesTheWidget(t *testing.T) {
	lokiGot := newDelivered()
	loki := lokiStandIn(t, lokiGot)
	base := feedbackdtest.Start(t, feedbackdtest.Build(t), "--spool-dir", filepath.Join(t.TempDir(), "spool"),
		"--loki-url", loki.URL, "--tokens", "server-token", "--browser-tokens", "browser-token",
		"--cors-origins", "http://localhost:9464").Base
	chat := httptest.NewServer(demo.NewChat(demo.ChatConfig{
		Config:         demo.Config{FeedbackdURL: base, Token: "server-token", Seed: 7},
		WidgetEndpoint: "http://localhost:8787/", WidgetToken: "browser-token",
	}))
	defer chat.Close()

	resp, page := get(t, chat.URL+"/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<body data-endpoint="http://localhost:8787" data-token="browser-token">`, `<script src="/feedback-thumbs.js"></script>`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the chat page lacks %s", want)
		}
	}
	resp, js := get(t, chat.URL+"/feedback-thumbs.js")
	built, err := os.ReadFile("chat/feedback-thumbs.js")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || !bytes.Equal(js, built) ||
		!bytes.Contains(js, []byte(`customElements.define("feedback-thumbs"`)) {
		t.Fatalf("GET /feedback-thumbs.js: %s %s, %d bytes: not the widget as built", resp.Status, resp.Header.Get("Content-Type"), len(js))
	}
	if resp, _ := get(t, chat.URL+"/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: %s", resp.Status)
	}

	code, ans := postChat(t, chat.URL, `{"question": " Can I pay by invoice? ", "user_id": "visitor-1"}`)
	if code != http.StatusOK {
		t.Fatalf("POST /chat: %d %v", code, ans)
	}
	cid, _ := ans["correlation_id"].(string)
	model, _ := ans["model"].(map[string]any)
	versions := []string{}
	for _, v := range demo.Versions {
		versions = append(versions, v.Name)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(cid) || model["id"] != demo.ModelID || !slices.Contains(versions, model["version"].(string)) || ans["answer"] == "" {
		t.Fatalf("POST /chat answered %v", ans)
	}

	var got []feedback.Event
	for deadline := time.Now().Add(20 * time.Second); len(got) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the interaction did not reach Loki within 20 s")
		}
		for _, e := range lokiGot.snapshot() {
			if e.CorrelationID == cid {
				got = append(got, e)
			}
		}
	}
	e := got[0]
	if len(got) != 1 || e.Kind != feedback.KindInteraction || e.Model.ID != demo.ModelID || e.Model.Version != model["version"] ||
		e.Context == nil || e.Context.Input != "Can I pay by invoice?" || e.Context.Output != ans["answer"] ||
		e.User == nil || *e.User != (feedback.User{ID: "visitor-1"}) || e.Model.EffectiveVersion == "" {
		t.Fatalf("feedbackd stored %+v", got)
	}

	for body, want := range map[string]string{
		`{"question": "  "}`:                                "question: required",
		`{"question": "hi", "extra": 1}`:                    `want a JSON body {"question": "...", "user_id": "..."}: json: unknown field "extra"`,
		`{"question": "` + strings.Repeat("x", 2049) + `"}`: "question: at most 2048 bytes of UTF-8",
	} {
		if code, ans := postChat(t, chat.URL, body); code != http.StatusBadRequest || ans["error"] != want {
			t.Errorf("POST /chat %.40s: %d %v, want 400 %q", body, code, ans, want)
		}
	}

	// A refusal by feedbackd is the visitor's to see, not an answer without a snapshot.
	wrong := httptest.NewServer(demo.NewChat(demo.ChatConfig{Config: demo.Config{FeedbackdURL: base, Token: "wrong"}}))
	defer wrong.Close()
	if code, ans := postChat(t, wrong.URL, `{"question": "hi"}`); code != http.StatusBadGateway ||
		!strings.Contains(ans["error"].(string), "HTTP 401: {\"error\":\"missing or invalid bearer token\"}") {
		t.Errorf("POST /chat with feedbackd refusing: %d %v", code, ans)
	}
}

// The page's configuration is HTML-escaped, whatever an operator puts there.
func TestChatPageEscapesItsConfiguration(t *testing.T) {
	chat := httptest.NewServer(demo.NewChat(demo.ChatConfig{Config: demo.Config{FeedbackdURL: "http://f\"><script>x</script>"}, WidgetToken: `t"<`}))
	defer chat.Close()
	_, page := get(t, chat.URL+"/")
	if want := `<body data-endpoint="http://f&#34;&gt;&lt;script&gt;x&lt;/script&gt;" data-token="t&#34;&lt;">`; !bytes.Contains(page, []byte(want)) {
		t.Fatalf("the chat page lacks %s", want)
	}
}

func TestWidgetOptions(t *testing.T) {
	env := map[string]string{"FEEDBACK_DEMO_WIDGET_ENDPOINT": "http://localhost:8787", "FEEDBACK_DEMO_WIDGET_TOKEN": "dev-browser-token"}
	o, err := demo.ParseOptions(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.WidgetEndpoint != "http://localhost:8787" || o.WidgetToken != "dev-browser-token" {
		t.Fatalf("options %+v", o)
	}
}
