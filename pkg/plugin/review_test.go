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

	"github.com/feedbackloop/modelfeedback/pkg/plugin"
)

// feedbackdStandIn records what reaches POST /v1/reviews and answers as
// feedbackd does; it refuses any other path, method, content type or token,
// and any body that is not exactly one review event.
type feedbackdStandIn struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	auth   []string
	answer func(body string) (int, string)
}

func newFeedbackdStandIn(t *testing.T, token string) *feedbackdStandIn {
	s := &feedbackdStandIn{answer: func(string) (int, string) { return 202, "" }}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/reviews" || r.URL.RawQuery != "" {
			t.Errorf("feedbackd stand-in: unexpected %s %s", r.Method, r.URL)
			http.NotFound(w, r)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("feedbackd stand-in: Content-Type %q", ct)
			http.Error(w, `{"error":"content type"}`, http.StatusUnsupportedMediaType)
			return
		}
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(body))
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"missing or invalid token"}`)
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil || ev["kind"] != "review" {
			t.Errorf("feedbackd stand-in: not one review event: %s", body)
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"not a review"}`)
			return
		}
		code, out := s.answer(string(body))
		if out == "" {
			out = `{"accepted":1,"ids":["` + ev["feedback_id"].(string) + `"]}`
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, out)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *feedbackdStandIn) received() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...), append([]string(nil), s.auth...)
}

func reviewDS(t *testing.T, jsonData string, secure map[string]string) *plugin.Datasource {
	t.Helper()
	settingsVersion++
	inst, err := plugin.NewDatasource(context.Background(), backend.DataSourceInstanceSettings{
		UID: "fl-uid", Name: "Feedback Loop", JSONData: json.RawMessage(jsonData), DecryptedSecureJSONData: secure,
		Updated: time.Unix(settingsVersion, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return inst.(*plugin.Datasource)
}

type captured struct {
	status int
	body   []byte
}

func (c *captured) Send(r *backend.CallResourceResponse) error {
	if r.Status != 0 {
		c.status = r.Status
	}
	c.body = append(c.body, r.Body...)
	return nil
}

func postReview(t *testing.T, ds *plugin.Datasource, user *backend.User, body string) (int, map[string]any) {
	t.Helper()
	c := &captured{}
	err := ds.CallResource(context.Background(), &backend.CallResourceRequest{
		PluginContext: backend.PluginContext{OrgID: 1, User: user},
		Path:          "review", Method: http.MethodPost, URL: "review", Body: []byte(body),
		Headers: map[string][]string{"Content-Type": {"application/json"}},
	}, c)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(c.body, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %q", c.status, c.body)
	}
	return c.status, out
}

func TestReviewIsForwardedWithTheGrafanaUserAsReviewer(t *testing.T) {
	fd := newFeedbackdStandIn(t, "srv-token")
	ds := reviewDS(t, `{"feedbackd":{"url":"`+fd.URL+`/"}}`, map[string]string{"feedbackdToken": "srv-token"})
	editor := &backend.User{Login: "rev-carol", Name: "Carol", Email: "carol@example.com", Role: "Editor"}
	status, out := postReview(t, ds, editor,
		`{"feedback_id":"01M7VT6DM7G0ZF3SDW4JBEGQ6D","verdict":"corrected","corrected_output":"Refunds take 5–7 days.","note":"policy KB-12"}`)
	if status != 200 || out["reviewer"] != "rev-carol" || out["feedback_id"] != "01M7VT6DM7G0ZF3SDW4JBEGQ6D" || out["verdict"] != "corrected" {
		t.Fatalf("HTTP %d %v", status, out)
	}
	status, _ = postReview(t, ds, &backend.User{Login: "admin", Role: "Admin"}, `{"feedback_id":"01M7VZ2BASSDC8ZXKMJ39Y1GDZ","verdict":"confirmed"}`)
	if status != 200 {
		t.Fatalf("admin: HTTP %d", status)
	}
	bodies, auth := fd.received()
	want := []string{
		`{"schema":"feedback/v1","kind":"review","feedback_id":"01M7VT6DM7G0ZF3SDW4JBEGQ6D","verdict":"corrected","reviewer":"rev-carol","corrected_output":"Refunds take 5–7 days.","comment":"policy KB-12"}`,
		`{"schema":"feedback/v1","kind":"review","feedback_id":"01M7VZ2BASSDC8ZXKMJ39Y1GDZ","verdict":"confirmed","reviewer":"admin"}`,
	}
	if len(bodies) != len(want) {
		t.Fatalf("feedbackd got %d requests: %v", len(bodies), bodies)
	}
	for i := range want {
		if bodies[i] != want[i] {
			t.Errorf("request %d:\n got %s\nwant %s", i, bodies[i], want[i])
		}
		if auth[i] != "Bearer srv-token" {
			t.Errorf("request %d: Authorization %q", i, auth[i])
		}
	}
}

func TestReviewRefusals(t *testing.T) {
	fd := newFeedbackdStandIn(t, "srv-token")
	ds := reviewDS(t, `{"feedbackd":{"url":"`+fd.URL+`"}}`, map[string]string{"feedbackdToken": "srv-token"})
	editor := &backend.User{Login: "rev-carol", Role: "Editor"}
	ok := `{"feedback_id":"01M7VT6DM7G0ZF3SDW4JBEGQ6D","verdict":"confirmed"}`
	cases := []struct {
		name   string
		user   *backend.User
		body   string
		status int
		field  string
	}{
		{"viewer", &backend.User{Login: "vic", Role: "Viewer"}, ok, 403, ""},
		{"no role", &backend.User{Login: "nobody"}, ok, 403, ""},
		{"no user", nil, ok, 403, ""},
		{"reviewer in the body", editor, `{"feedback_id":"x","verdict":"confirmed","reviewer":"mallory"}`, 400, "reviewer"},
		{"no feedback_id", editor, `{"verdict":"confirmed"}`, 400, "feedback_id"},
		{"no verdict", editor, `{"feedback_id":"x"}`, 400, "verdict"},
		{"bad verdict", editor, `{"feedback_id":"x","verdict":"approved"}`, 400, "verdict"},
		{"correction without output", editor, `{"feedback_id":"x","verdict":"corrected"}`, 400, "corrected_output"},
		{"output without correction", editor, `{"feedback_id":"x","verdict":"rejected","corrected_output":"y"}`, 400, "corrected_output"},
		{"note too long", editor, `{"feedback_id":"x","verdict":"rejected","note":"` + strings.Repeat("n", 5000) + `"}`, 400, "note"},
		{"control character in id", editor, `{"feedback_id":"a\u0007b","verdict":"rejected"}`, 400, "feedback_id"},
		{"wrong type", editor, `{"feedback_id":7,"verdict":"rejected"}`, 400, "feedback_id"},
		{"unknown field", editor, `{"feedback_id":"x","verdict":"rejected","score":1}`, 400, "score"},
	}
	for _, c := range cases {
		status, out := postReview(t, ds, c.user, c.body)
		if status != c.status {
			t.Errorf("%s: HTTP %d %v, want %d", c.name, status, out, c.status)
			continue
		}
		if msg, _ := out["error"].(string); msg == "" {
			t.Errorf("%s: no error message: %v", c.name, out)
		}
		if c.field != "" && out["field"] != c.field {
			t.Errorf("%s: field %v, want %s (%v)", c.name, out["field"], c.field, out["error"])
		}
	}
	if bodies, _ := fd.received(); len(bodies) != 0 {
		t.Fatalf("refused reviews reached feedbackd: %v", bodies)
	}

	// feedbackd's own refusals: a field error keeps its field, a bad token
	// names the setting.
	fd.answer = func(string) (int, string) {
		return 400, `{"error":"invalid event","details":[{"index":0,"field":"comment","message":"too large"}]}`
	}
	if status, out := postReview(t, ds, editor, ok); status != 400 || out["field"] != "note" {
		t.Errorf("feedbackd field error: HTTP %d %v", status, out)
	}
	wrong := reviewDS(t, `{"feedbackd":{"url":"`+fd.URL+`"}}`, map[string]string{"feedbackdToken": "stale"})
	if status, out := postReview(t, wrong, editor, ok); status != 502 || !strings.Contains(out["error"].(string), "feedbackdToken") {
		t.Errorf("bad token: HTTP %d %v", status, out)
	}
	unset := reviewDS(t, `{}`, nil)
	if status, out := postReview(t, unset, editor, ok); status != 400 || !strings.Contains(out["error"].(string), "feedbackd.url") {
		t.Errorf("no feedbackd: HTTP %d %v", status, out)
	}
	if status, _ := postReview(t, ds, editor, ok+" {}"); status != 400 {
		t.Errorf("two objects: HTTP %d", status)
	}
}

// Dashboard actions send the review as query parameters (URL-encoded, so a
// typed correction with quotes survives).
func TestReviewFromQueryParameters(t *testing.T) {
	fd := newFeedbackdStandIn(t, "srv-token")
	ds := reviewDS(t, `{"feedbackd":{"url":"`+fd.URL+`"}}`, map[string]string{"feedbackdToken": "srv-token"})
	editor := &backend.User{Login: "rev-carol", Role: "Editor"}
	call := func(rawQuery string) (int, map[string]any) {
		c := &captured{}
		if err := ds.CallResource(context.Background(), &backend.CallResourceRequest{
			PluginContext: backend.PluginContext{OrgID: 1, User: editor},
			Path:          "review", Method: http.MethodPost, URL: "review?" + rawQuery,
		}, c); err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.Unmarshal(c.body, &out)
		return c.status, out
	}
	if status, out := call(`feedback_id=01M7VT6DM7G0ZF3SDW4JBEGQ6D&verdict=corrected&corrected_output=Say+%22no%22.`); status != 200 {
		t.Fatalf("HTTP %d %v", status, out)
	}
	bodies, _ := fd.received()
	if len(bodies) != 1 || bodies[0] != `{"schema":"feedback/v1","kind":"review","feedback_id":"01M7VT6DM7G0ZF3SDW4JBEGQ6D","verdict":"corrected","reviewer":"rev-carol","corrected_output":"Say \"no\"."}` {
		t.Fatalf("forwarded %v", bodies)
	}
	for q, field := range map[string]string{
		"feedback_id=x&verdict=confirmed&reviewer=mallory": "reviewer",
		"feedback_id=x&verdict=confirmed&extra=1":          "extra",
		"feedback_id=x&verdict=confirmed&verdict=rejected": "verdict",
		"verdict=confirmed":                                "feedback_id",
	} {
		if status, out := call(q); status != 400 || out["field"] != field {
			t.Errorf("%s: HTTP %d %v, want 400 naming %s", q, status, out, field)
		}
	}
}
