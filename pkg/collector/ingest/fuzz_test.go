package ingest

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/metrics"
	"github.com/feedbackloop/modelfeedback/pkg/collector/redact"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// FuzzIngest drives the whole write path (auth, body limits, decoding,
// validation, kind rules, filling, redaction, encoding, spooling) with
// arbitrary bodies. It checks the contract: never a 5xx for bad input,
// always a JSON answer, nothing spooled unless 202, and what is spooled is
// exactly what was acknowledged, decodes cleanly and is redacted.
func FuzzIngest(f *testing.F) {
	sp, err := spool.Open(spool.Options{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer sp.Close()
	h := New(Options{Spool: sp, Metrics: metrics.New(false), Redact: true, Logger: slog.New(slog.DiscardHandler),
		Tokens: []string{serverToken}, BrowserTokens: []string{browserToken}, CORSOrigins: []string{allowed}})
	f.Add([]byte(fb("c", `,"comment":"mail a@b.io"`)), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, endpoint, who uint8) {
		ep := Endpoints[int(endpoint)%len(Endpoints)]
		r := httptest.NewRequest(http.MethodPost, ep.Path, bytes.NewReader(body))
		switch who % 3 {
		case 0:
			r.Header.Set("Authorization", "Bearer "+serverToken)
		case 1:
			r.Header.Set("Authorization", "Bearer "+browserToken)
			r.Header.Set("Origin", allowed)
		}
		before := sp.Committed()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%d for input %q: %s", w.Code, body, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
		after := sp.Committed()
		if w.Code != http.StatusAccepted {
			if after != before {
				t.Fatalf("%d but %d events spooled", w.Code, after-before)
			}
			return
		}
		var ar AcceptedResponse
		if err := json.Unmarshal(w.Body.Bytes(), &ar); err != nil || ar.Accepted != len(ar.IDs) || ar.Accepted == 0 {
			t.Fatalf("bad 202 body %s", w.Body)
		}
		if after-before != uint64(ar.Accepted) {
			t.Fatalf("acknowledged %d, spooled %d", ar.Accepted, after-before)
		}
		entries, err := sp.Read(before+1, ar.Accepted, 1<<30)
		if err != nil || len(entries) != ar.Accepted {
			t.Fatalf("read back: %d entries, %v", len(entries), err)
		}
		for i, e := range entries {
			ev, errs := feedback.Decode(e.Line)
			if len(errs) > 0 {
				t.Fatalf("spooled event %d does not decode: %v\n%s", i, errs, e.Line)
			}
			if !kindAllowed(ep, ev.Kind) {
				t.Fatalf("kind %s accepted on %s", ev.Kind, ep.Path)
			}
			if redact.String(ev.Comment) != ev.Comment {
				t.Fatalf("stored comment still holds personal data: %q", ev.Comment)
			}
			if ev.Timestamp == nil || (ev.Kind == feedback.KindFeedback && (ev.FeedbackID == "" || ev.Severity == "")) {
				t.Fatalf("event not completed: %s", e.Line)
			}
		}
	})
}

func kindAllowed(ep Endpoint, k feedback.Kind) bool {
	for _, ek := range ep.Kinds {
		if ek == k {
			return true
		}
	}
	return false
}
