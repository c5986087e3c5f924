package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/submit"
)

// reviewBody is what the review queue's actions send (docs/review.md).
// There is deliberately no reviewer: it is the signed-in Grafana user.
type reviewBody struct {
	FeedbackID      string `json:"feedback_id"`
	Verdict         string `json:"verdict"`
	CorrectedOutput string `json:"corrected_output"`
	Note            string `json:"note"`
}

// maxReviewBody bounds the request: a corrected output of at most 64 KiB
// plus a note of 4 KiB, JSON-escaped, fits.
const maxReviewBody = 512 << 10

// reviewRoles may record reviews: the Editor role or above in the org.
var reviewRoles = map[string]bool{"Editor": true, "Admin": true}

// fieldError answers 400 naming the field; status says who is at fault.
func fieldError(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": field + ": " + msg, "field": field})
}

// serveReview forwards one review to feedbackd's POST /v1/reviews with the
// data source's server token; the reviewer is the Grafana user on whose
// behalf Grafana called the resource.
func (d *Datasource) serveReview(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	user := backend.UserFromContext(r.Context())
	if user == nil || user.Login == "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "reviews need a signed-in Grafana user"})
		return
	}
	if !reviewRoles[user.Role] {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("recording a review needs the Editor role or above; %s has the %s role", user.Login, roleName(user.Role))})
		return
	}
	if d.settingsErr != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": d.settingsErr.Error()})
		return
	}
	if d.feedbackd == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": d.feedbackdErr.Error()})
		return
	}
	body, ok := readReview(w, r)
	if !ok {
		return
	}
	if field, msg := body.check(); field != "" {
		fieldError(w, field, msg)
		return
	}
	ev := feedback.Event{
		Kind: feedback.KindReview, FeedbackID: body.FeedbackID, Verdict: body.Verdict,
		Reviewer: user.Login, CorrectedOutput: body.CorrectedOutput, Comment: body.Note,
	}
	_, err := d.feedbackd.Send(r.Context(), ev)
	if rej, ok := submit.IsRejected(err); ok {
		if rej.Status == http.StatusBadRequest && len(rej.Details) > 0 {
			// The collector names event fields; answer with the body's names.
			fieldError(w, bodyField(rej.Details[0].Field), rej.Details[0].Message)
			return
		}
		if rej.Status == http.StatusUnauthorized || rej.Status == http.StatusForbidden {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": "feedbackd refused the data source's token: check the feedbackdToken setting (a server token of feedbackd)"})
			return
		}
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"feedback_id": body.FeedbackID, "verdict": body.Verdict, "reviewer": user.Login})
}

// readReview takes the review from a JSON body or, without a body, from
// the query parameters: dashboard actions send the reviewer's typed
// correction there, URL-encoded, because their body template would splice
// it into JSON unescaped. Answers the error itself when it returns false.
func readReview(w http.ResponseWriter, r *http.Request) (reviewBody, bool) {
	var body reviewBody
	var raw []byte
	var err error
	if r.Body != nil { // the SDK's adapter passes no body for an empty one
		raw, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxReviewBody))
	}
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("the review is larger than %d bytes", maxReviewBody)})
		return body, false
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		q := r.URL.Query()
		fields := map[string]*string{"feedback_id": &body.FeedbackID, "verdict": &body.Verdict, "corrected_output": &body.CorrectedOutput, "note": &body.Note}
		for k, v := range q {
			dst, ok := fields[k]
			switch {
			case k == "reviewer":
				fieldError(w, k, "not accepted: the reviewer is the signed-in Grafana user")
				return body, false
			case !ok:
				fieldError(w, k, "unknown parameter; send feedback_id, verdict, corrected_output and note")
				return body, false
			case len(v) != 1:
				fieldError(w, k, "given more than once")
				return body, false
			}
			*dst = v[0]
		}
		return body, true
	}
	if len(r.URL.RawQuery) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "send the review either as a JSON body or as query parameters, not both"})
		return body, false
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		switch {
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			if f == "reviewer" {
				fieldError(w, f, "not accepted: the reviewer is the signed-in Grafana user")
				return body, false
			}
			fieldError(w, f, "unknown field; send feedback_id, verdict, corrected_output and note")
		default:
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field != "" {
				fieldError(w, te.Field, "must be a string")
				return body, false
			}
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be one JSON object: " + err.Error()})
		}
		return body, false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body must be one JSON object"})
		return body, false
	}
	return body, true
}

// check applies the rules the event contract leaves to the review itself:
// a correction carries the corrected output and nothing else does.
func (b reviewBody) check() (field, msg string) {
	switch {
	case strings.TrimSpace(b.FeedbackID) == "":
		return "feedback_id", "required: the id of the feedback being reviewed"
	case b.Verdict == "":
		return "verdict", "required: confirmed, rejected or corrected"
	case b.Verdict != feedback.VerdictConfirmed && b.Verdict != feedback.VerdictRejected && b.Verdict != feedback.VerdictCorrected:
		return "verdict", fmt.Sprintf("must be confirmed, rejected or corrected, got %q", b.Verdict)
	case b.Verdict == feedback.VerdictCorrected && strings.TrimSpace(b.CorrectedOutput) == "":
		return "corrected_output", "required when the verdict is corrected: the output the model should have given"
	case b.Verdict != feedback.VerdictCorrected && b.CorrectedOutput != "":
		return "corrected_output", "only with the verdict corrected"
	}
	ev := feedback.Event{Kind: feedback.KindReview, FeedbackID: b.FeedbackID, Verdict: b.Verdict, CorrectedOutput: b.CorrectedOutput, Comment: b.Note}
	if errs := ev.Validate(); len(errs) > 0 {
		return bodyField(errs[0].Field), errs[0].Message
	}
	return "", ""
}

func bodyField(eventField string) string {
	if eventField == "comment" {
		return "note"
	}
	return eventField
}

func roleName(r string) string {
	if r == "" {
		return "no"
	}
	return r
}
