package enrich

import (
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Change is what Enrich set on one event, so that Revert can take it back.
type Change struct {
	Index                                       int
	effective, released, prompt, params, newCtx bool
}

// lacks reports whether a feedback event is missing any attribute the index
// can supply.
func lacks(e *feedback.Event) bool {
	return e.Model.EffectiveVersion == "" || e.Model.ReleasedAt == "" ||
		e.Context == nil || e.Context.PromptVersion == "" || len(e.Context.Params) == 0
}

// Enrich copies onto each feedback event the attributes it lacks, from the
// newest interaction with its correlation id: one earlier in the same
// request, else one the index holds. The interaction must name the same
// model.id and model.version, or the attributes would be another model's.
// Feedback that comes before its interaction (in an earlier request, or
// earlier in the same request) stays as it is. It runs after FillDefaults,
// so a feedback event's own context still decides its effective_version.
func (x *Index) Enrich(events []feedback.Event) ([]Change, error) {
	var ids []string
	for i := range events {
		if e := &events[i]; e.Kind == feedback.KindFeedback && e.CorrelationID != "" && lacks(e) {
			ids = append(ids, e.CorrelationID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	stored, err := x.Lookup(ids)
	if err != nil {
		x.opts.Logger.Error("enrichment index lookup failed; feedback is delivered unenriched", "err", err)
		stored = nil
	}
	var inRequest map[string]Attrs
	var changes []Change
	for i := range events {
		e := &events[i]
		switch {
		case e.Kind == feedback.KindInteraction && e.CorrelationID != "":
			if a, ok := attrsOf(e); ok {
				if inRequest == nil {
					inRequest = map[string]Attrs{}
				}
				inRequest[e.CorrelationID] = a
			}
		case e.Kind == feedback.KindFeedback && e.CorrelationID != "" && lacks(e):
			a, ok := inRequest[e.CorrelationID]
			if !ok {
				a, ok = stored[e.CorrelationID]
			}
			switch {
			case !ok:
				x.lookups.WithLabelValues("miss").Inc()
			case a.ModelID != e.Model.ID || a.ModelVersion != e.Model.Version:
				x.lookups.WithLabelValues("mismatch").Inc()
			default:
				x.lookups.WithLabelValues("hit").Inc()
				if ch := copyAttrs(e, a); ch != (Change{}) {
					ch.Index = i
					changes = append(changes, ch)
				}
			}
		}
	}
	return changes, nil
}

func copyAttrs(e *feedback.Event, a Attrs) Change {
	var ch Change
	if e.Model.EffectiveVersion == "" && a.EffectiveVersion != "" {
		e.Model.EffectiveVersion, ch.effective = a.EffectiveVersion, true
	}
	if e.Model.ReleasedAt == "" && a.ReleasedAt != "" {
		e.Model.ReleasedAt, ch.released = a.ReleasedAt, true
	}
	if a.PromptVersion == "" && len(a.Params) == 0 {
		return ch
	}
	if e.Context == nil {
		e.Context, ch.newCtx = &feedback.Context{}, true
	}
	if e.Context.PromptVersion == "" && a.PromptVersion != "" {
		e.Context.PromptVersion, ch.prompt = a.PromptVersion, true
	}
	if len(e.Context.Params) == 0 && len(a.Params) > 0 {
		e.Context.Params, ch.params = a.Params, true
	}
	if ch.newCtx && !ch.prompt && !ch.params {
		e.Context, ch.newCtx = nil, false
	}
	return ch
}

// Revert takes back what Enrich set on e (the event ch names), for an event
// that enrichment would push over the size limit: the client's feedback is
// then delivered as sent rather than refused for what feedbackd added.
func (x *Index) Revert(e *feedback.Event, ch Change) {
	if ch.effective {
		e.Model.EffectiveVersion = ""
	}
	if ch.released {
		e.Model.ReleasedAt = ""
	}
	if ch.newCtx {
		e.Context = nil
	} else if e.Context != nil {
		if ch.prompt {
			e.Context.PromptVersion = ""
		}
		if ch.params {
			e.Context.Params = nil
		}
	}
	x.lookups.WithLabelValues("oversize").Inc()
}
