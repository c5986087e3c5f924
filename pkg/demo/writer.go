package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// WriterModelID is the simulated writing assistant: it drafts texts at a
// verbosity the application chooses per request (context.params.verbosity),
// and its users edit the drafts. The story it tells is the seed's second case
// study: at high verbosity users cut the drafts down (an edit-length ratio
// well below 1), at low verbosity they keep the length and change words.
// Its feedback is implicit (source "edit" with edit.*) and, like feedback
// from an editor widget, names only the model id and version; feedbackd's
// enrichment adds the verbosity from the interaction (docs/enrichment.md).
const WriterModelID = "writing-assistant"

// WriterVersions are the writing assistant's releases, in release order.
var WriterVersions = []Version{
	{Name: "2026-10-20.1", Label: "w1", Share: 0.5, ReleasedAt: "2026-10-20T08:00:00Z", PromptVersion: "writer-v1", Temperature: 0.7,
		SystemPrompt: "You are a writing assistant. Draft the text the user asks for in the requested verbosity.", LatencyMedian: 1.2},
	{Name: "2026-11-15.2", Label: "w2", Share: 0.5, ReleasedAt: "2026-11-15T08:00:00Z", PromptVersion: "writer-v2", Temperature: 0.7,
		SystemPrompt: "You are a writing assistant. Draft the text the user asks for in the requested verbosity; use plain words.", LatencyMedian: 1.1},
}

// Verbosity is one setting of the writing assistant and how its users edit
// what it drafts at it.
type Verbosity struct {
	Name string
	// DraftChars is the mean length of a draft.
	DraftChars int
	// EditChance is the probability that a user edits a draft.
	EditChance float64
	// KeptLength is the mean of edited ÷ original length of an edit;
	// Similarity the mean similarity of the edited text to the draft.
	KeptLength, Similarity float64
}

// Verbosities are the settings the demo's application picks from, evenly.
var Verbosities = []Verbosity{
	{Name: "low", DraftChars: 320, EditChance: 0.2, KeptLength: 1.0, Similarity: 0.9},
	{Name: "medium", DraftChars: 650, EditChance: 0.3, KeptLength: 0.85, Similarity: 0.8},
	{Name: "high", DraftChars: 1200, EditChance: 0.55, KeptLength: 0.55, Similarity: 0.6},
}

// writerEvery: every writerEvery-th interaction is the writing assistant's.
// It draws from a generator of its own, so support-bot's traffic for a seed
// stays what it was before the writing assistant joined.
const writerEvery = 4

var writerTasks = []string{
	"Write a product description for a walnut desk lamp.",
	"Draft an e-mail inviting the team to the quarterly review.",
	"Summarise the release notes of version 4.2 for customers.",
	"Write the intro paragraph of a blog post about home composting.",
}

func newWriterRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed^0x3717e2, seed+0x3717e2)) }

// nextWriter simulates one request to the writing assistant and, perhaps,
// the user's edit of its draft.
func (s *simulator) nextWriter() Interaction {
	r := s.wrng
	v := &WriterVersions[r.IntN(len(WriterVersions))]
	verb := Verbosities[r.IntN(len(Verbosities))]
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	corr := fmt.Sprintf("%x", b)
	task := writerTasks[r.IntN(len(writerTasks))]
	draftChars := max(80, int(float64(verb.DraftChars)*(1+0.15*r.NormFloat64())))
	draft := strings.Repeat("Lorem ipsum dolor sit amet. ", draftChars/28+1)[:draftChars]
	user := &feedback.User{ID: fmt.Sprintf("writer-user-%03d", r.IntN(200)), Role: "author", Geo: []string{"de", "fr", "gb", "us"}[r.IntN(4)]}
	attrs := map[string]string{"domain": "writing", "channel": "app"}
	params := fmt.Sprintf(`{"temperature":%g,"verbosity":%q,"max_tokens":%d}`, v.Temperature, verb.Name, 2*verb.DraftChars/4)
	in := Interaction{
		Version: v,
		Event: feedback.Event{
			Kind: feedback.KindInteraction, CorrelationID: corr, User: user, Attributes: attrs,
			Model: feedback.Model{ID: WriterModelID, Version: v.Name, ReleasedAt: v.ReleasedAt},
			Context: &feedback.Context{SystemPrompt: v.SystemPrompt, Input: task, Output: draft,
				Params: []byte(params), PromptVersion: v.PromptVersion},
		},
		Latency:   v.LatencyMedian * math.Exp(0.4*r.NormFloat64()) * float64(draftChars) / 650,
		TokensIn:  (len(v.SystemPrompt) + len(task)) / 4,
		TokensOut: draftChars / 4,
	}
	in.LogLines = []string{
		fmt.Sprintf("level=info msg=\"draft requested\" correlation_id=%s model_id=%s model_version=%s verbosity=%s user=%s",
			corr, WriterModelID, v.Name, verb.Name, user.ID),
		fmt.Sprintf("level=info msg=\"draft written\" correlation_id=%s latency_seconds=%.3f chars=%d",
			corr, in.Latency, draftChars),
	}
	if r.Float64() >= verb.EditChance {
		return in
	}
	kept := math.Max(0.1, verb.KeptLength+0.06*r.NormFloat64())
	similarity := math.Round(100*math.Min(1, math.Max(0, verb.Similarity+0.05*r.NormFloat64()))) / 100
	fb := feedback.Event{
		Kind: feedback.KindFeedback, FeedbackID: fmt.Sprintf("fb-w%x", b[:12]), CorrelationID: corr,
		// Only id and version, as an editor widget knows them; the rest
		// comes from the interaction through feedbackd's enrichment.
		Model: feedback.Model{ID: WriterModelID, Version: v.Name}, User: user, Attributes: attrs,
		Sentiment: feedback.Neutral, Source: feedback.SourceEdit,
		Edit: &feedback.Edit{OriginalChars: draftChars, EditedChars: int(math.Round(kept * float64(draftChars))), Similarity: similarity},
	}
	in.Feedback = &fb
	in.LogLines = append(in.LogLines, fmt.Sprintf("level=info msg=\"draft edited\" correlation_id=%s feedback_id=%s original_chars=%d edited_chars=%d",
		corr, fb.FeedbackID, fb.Edit.OriginalChars, fb.Edit.EditedChars))
	return in
}
