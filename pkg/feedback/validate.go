package feedback

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validate checks the contract rules of docs/event.md: required fields per kind,
// enums, tags, formats and sizes. It works on hand-built events as well as
// decoded ones; every FieldError has Index 0 (DecodeBatch sets the index).
// Fields the collector fills in (feedback_id, timestamp, severity,
// model.effective_version) are not required.
func (e *Event) Validate() []FieldError {
	if e == nil {
		return []FieldError{{Message: "no event"}}
	}
	v := &validator{}

	if e.Schema != "" && e.Schema != Schema {
		v.fail("schema", "must be "+strconv.Quote(Schema)+", got "+quote(e.Schema))
	}
	kindOK := e.Kind.Valid()
	switch {
	case e.Kind == "":
		v.fail("kind", "required: one of "+joinKinds())
	case !kindOK:
		v.fail("kind", "must be one of "+joinKinds()+", got "+quote(string(e.Kind)))
	}
	is := func(kinds ...Kind) bool {
		for _, k := range kinds {
			if e.Kind == k {
				return true
			}
		}
		return false
	}
	// only reports a field that belongs to other kinds; skipped when the kind
	// itself is broken, since then every such report would be noise.
	only := func(field string, present bool, kinds ...Kind) {
		if present && kindOK && !is(kinds...) {
			names := make([]string, len(kinds))
			for i, k := range kinds {
				names[i] = string(k)
			}
			v.fail(field, "not allowed on kind "+string(e.Kind)+" (only on "+strings.Join(names, ", ")+")")
		}
	}
	required := func(field string, present bool, kinds ...Kind) {
		if !present && is(kinds...) {
			v.fail(field, "required on kind "+string(e.Kind))
		}
	}

	required("feedback_id", e.FeedbackID != "", KindReview, KindEscalation, KindNotification)
	v.id("feedback_id", e.FeedbackID)
	required("correlation_id", e.CorrelationID != "", KindInteraction, KindFeedback)
	v.id("correlation_id", e.CorrelationID)
	if e.Timestamp != nil {
		if y := e.Timestamp.UTC().Year(); y < 0 || y > 9999 {
			v.fail("timestamp", "year must be within 0000..9999")
		}
	}

	required("model.id", e.Model.ID != "", KindInteraction, KindFeedback, KindResolution)
	v.id("model.id", e.Model.ID)
	required("model.version", e.Model.Version != "", KindInteraction, KindFeedback, KindResolution)
	v.id("model.version", e.Model.Version)
	if e.Model.ReleasedAt != "" {
		if _, err := ParseTime(e.Model.ReleasedAt); err != nil {
			v.fail("model.released_at", err.Error())
		}
	}
	v.id("model.effective_version", e.Model.EffectiveVersion)

	required("sentiment", e.Sentiment != "", KindFeedback)
	only("sentiment", e.Sentiment != "", KindFeedback)
	if e.Sentiment != "" && !e.Sentiment.Valid() {
		v.fail("sentiment", "must be one of positive, negative, neutral, got "+quote(string(e.Sentiment)))
	}
	only("score", e.Score != nil, KindFeedback)
	if e.Score != nil && (math.IsNaN(*e.Score) || math.IsInf(*e.Score, 0)) {
		v.fail("score", "must be a finite number")
	}
	if e.Reason != "" && !ValidTag(e.Reason) {
		v.fail("reason", "must be a taxonomy tag or a custom tag matching ^[a-z][a-z0-9_]{0,39}$, got "+quote(e.Reason))
	}
	v.tags("tags", e.Tags)
	if e.Severity != "" && !e.Severity.Valid() {
		v.fail("severity", "must be one of info, warning, critical, got "+quote(string(e.Severity)))
	}
	v.text("comment", e.Comment, MaxCommentBytes, "4 KiB")
	if e.Source != "" && !oneOf(e.Source, Sources) {
		v.fail("source", "must be one of "+strings.Join(Sources, ", ")+", got "+quote(e.Source))
	}

	if u := e.User; u != nil {
		v.id("user.id", u.ID)
		v.id("user.role", u.Role)
		v.id("user.geo", u.Geo)
	}
	v.attributes(e.Attributes)
	if c := e.Context; c != nil {
		v.text("context.system_prompt", c.SystemPrompt, MaxContextFieldBytes, "64 KiB")
		v.text("context.input", c.Input, MaxContextFieldBytes, "64 KiB")
		v.text("context.output", c.Output, MaxContextFieldBytes, "64 KiB")
		v.params(c.Params)
		v.id("context.prompt_version", c.PromptVersion)
	}
	only("edit", e.Edit != nil, KindFeedback)
	if ed := e.Edit; ed != nil {
		if ed.OriginalChars < 0 {
			v.fail("edit.original_chars", "must not be negative")
		}
		if ed.EditedChars < 0 {
			v.fail("edit.edited_chars", "must not be negative")
		}
		if !(ed.Similarity >= 0 && ed.Similarity <= 1) {
			v.fail("edit.similarity", "must be within 0..1, got "+strconv.FormatFloat(ed.Similarity, 'g', -1, 64))
		}
	}

	required("verdict", e.Verdict != "", KindReview)
	only("verdict", e.Verdict != "", KindReview)
	if e.Verdict != "" && !oneOf(e.Verdict, Verdicts) {
		v.fail("verdict", "must be one of confirmed, rejected, corrected, got "+quote(e.Verdict))
	}
	only("reviewer", e.Reviewer != "", KindReview)
	v.id("reviewer", e.Reviewer)
	only("corrected_output", e.CorrectedOutput != "", KindReview)
	v.text("corrected_output", e.CorrectedOutput, MaxContextFieldBytes, "64 KiB")

	required("ticket", e.Ticket != nil, KindEscalation)
	only("ticket", e.Ticket != nil, KindEscalation)
	if t := e.Ticket; t != nil {
		required("ticket.system", t.System != "", KindEscalation)
		v.id("ticket.system", t.System)
		required("ticket.key", t.Key != "", KindEscalation)
		v.id("ticket.key", t.Key)
		if t.URL != "" {
			if !utf8.ValidString(t.URL) {
				v.fail("ticket.url", "invalid UTF-8")
			} else if u, err := url.Parse(t.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.fail("ticket.url", "must be an absolute http(s) URL")
			}
		}
	}

	required("resolution_id", e.ResolutionID != "", KindResolution, KindNotification)
	only("resolution_id", e.ResolutionID != "", KindResolution, KindNotification)
	v.id("resolution_id", e.ResolutionID)
	required("fixes", e.Fixes != nil, KindResolution)
	only("fixes", e.Fixes != nil, KindResolution)
	if f := e.Fixes; f != nil {
		if len(f.Tags)+len(f.FeedbackIDs)+len(f.ClusterIDs) == 0 {
			v.fail("fixes", "names nothing: give at least one of tags, feedback_ids, cluster_ids")
		}
		v.tags("fixes.tags", f.Tags)
		v.ids("fixes.feedback_ids", f.FeedbackIDs)
		v.ids("fixes.cluster_ids", f.ClusterIDs)
	}
	only("channel", e.Channel != "", KindNotification)
	v.id("channel", e.Channel)
	return v.errs
}

type validator struct{ errs []FieldError }

func (v *validator) fail(field, msg string) {
	v.errs = append(v.errs, FieldError{Field: field, Message: msg})
}

// id checks an identifier or label-like value: these end up as Loki labels,
// Elasticsearch _ids and keyword fields, where control characters and huge
// values break queries or delivery.
func (v *validator) id(field, s string) {
	switch {
	case s == "":
	case len(s) > MaxIDBytes:
		v.fail(field, tooLargePrefix+strconv.Itoa(len(s))+" bytes, the limit is "+strconv.Itoa(MaxIDBytes))
	case !utf8.ValidString(s):
		v.fail(field, "invalid UTF-8")
	case hasControl(s):
		v.fail(field, "must not contain control characters")
	}
}

func (v *validator) ids(field string, list []string) {
	for i, s := range list {
		if s == "" {
			v.fail(indexPath(field, i), "must not be empty")
			continue
		}
		if !idOK(s) {
			v.id(indexPath(field, i), s)
		}
	}
}

// idOK is id's check without a report, so that paths are built only for
// values that fail.
func idOK(s string) bool {
	return len(s) <= MaxIDBytes && utf8.ValidString(s) && !hasControl(s)
}

func (v *validator) text(field, s string, limit int, limitName string) {
	switch {
	case len(s) > limit:
		v.fail(field, tooLargePrefix+strconv.Itoa(len(s))+" bytes, the limit is "+limitName)
	case !utf8.ValidString(s):
		v.fail(field, "invalid UTF-8")
	}
}

func (v *validator) tags(field string, tags []string) {
	for i, t := range tags {
		if !ValidTag(t) {
			v.fail(indexPath(field, i), "must be a taxonomy tag or a custom tag matching ^[a-z][a-z0-9_]{0,39}$, got "+quote(t))
			continue
		}
		for _, prev := range tags[:i] {
			if prev == t {
				v.fail(indexPath(field, i), "duplicate tag "+quote(t))
				break
			}
		}
	}
}

func (v *validator) attributes(a map[string]string) {
	if len(a) > MaxAttributes {
		v.fail("attributes", tooLargePrefix+strconv.Itoa(len(a))+" keys, the limit is "+strconv.Itoa(MaxAttributes))
	}
	ok := true
	for k, val := range a {
		ok = ok && k != "" && len(k) <= MaxIDBytes && utf8.ValidString(k) && !hasControl(k) && utf8.ValidString(val)
	}
	if ok {
		// Sorting is only for a stable order of the reports.
		return
	}
	for _, k := range sortedAttrKeys(nil, a) {
		f := joinPath("attributes", k)
		switch {
		case k == "":
			v.fail(f, "key must not be empty")
		case len(k) > MaxIDBytes:
			v.fail(f, tooLargePrefix+"key is "+strconv.Itoa(len(k))+" bytes, the limit is "+strconv.Itoa(MaxIDBytes))
		case !utf8.ValidString(k) || hasControl(k):
			v.fail(f, "key must be valid UTF-8 without control characters")
		case !utf8.ValidString(a[k]):
			v.fail(f, "invalid UTF-8")
		}
	}
}

// params checks context.params: an object whose values are numbers or
// strings, the shape the effective_version hash and the trace panel expect.
func (v *validator) params(raw []byte) {
	if len(raw) == 0 {
		return
	}
	val, p := parseJSON(raw)
	defer p.release()
	if val == nil || val.kind != jObject {
		v.fail("context.params", "must be a JSON object")
		return
	}
	for _, je := range p.errs {
		v.fail("context.params"+pathSuffix(je.path), je.msg)
	}
	for _, m := range val.members {
		switch m.val.kind {
		case jString:
		case jNumber:
			if _, err := strconv.ParseFloat(m.val.str, 64); err != nil {
				v.fail(joinPath("context.params", m.key), "number out of range")
			}
		default:
			v.fail(joinPath("context.params", m.key), "must be a number or a string, got "+m.val.kind.String())
		}
	}
}

func pathSuffix(path []seg) string {
	if len(path) == 0 {
		return ""
	}
	s := formatPath(append([]seg{{key: "x"}}, path...))
	return s[1:]
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

func joinKinds() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// quote echoes a bad value in a message, cut short so that a hostile value
// does not blow up the error response.
func quote(s string) string {
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
