package demo

import (
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// ModelID is the simulated chatbot.
const ModelID = "support-bot"

// Version is one simulated release of the chatbot and how its users react to
// it. The numbers are the story the demo tells: v1 is good, v2 changed the
// system prompt and raised the temperature and users report hallucinations
// and bias, v3 reverted the prompt and fixed it.
type Version struct {
	Name  string
	Label string // v1, v2, v3: for people reading the logs
	Share float64
	// ReleasedAt is model.released_at (RFC 3339), the version timestamp
	// the data source orders versions by; the application sends it with its
	// interaction snapshots.
	ReleasedAt    string
	SystemPrompt  string
	PromptVersion string
	Temperature   float64
	// Negative and Neutral are the probabilities of each sentiment when a
	// user gives feedback; the rest is positive.
	Negative, Neutral float64
	// Reasons is the distribution of the reason a user picks in the
	// feedback modal after a thumbs-down.
	Reasons []Weighted
	// LatencyMedian is the median answer time in seconds.
	LatencyMedian float64
}

// Weighted is one choice of a discrete distribution.
type Weighted struct {
	Value  string
	Weight float64
}

// Versions are the three releases, in release order.
var Versions = []Version{
	{
		Name: "2026-11-01.1", Label: "v1", Share: 0.35, ReleasedAt: "2026-11-01T09:00:00Z", PromptVersion: "support-v1", Temperature: 0.2,
		SystemPrompt: "You are the support assistant of Example Shop. Answer only from the help center articles; " +
			"if they do not cover the question, say so and offer a human agent.",
		Negative: 0.15, Neutral: 0.08, LatencyMedian: 0.8,
		Reasons: []Weighted{{"not_helpful", 0.3}, {"factually_incorrect", 0.25}, {"latency", 0.2},
			{"formatting_error", 0.15}, {"hallucination", 0.1}},
	},
	{
		Name: "2026-11-10.2", Label: "v2", Share: 0.4, ReleasedAt: "2026-11-10T09:00:00Z", PromptVersion: "support-v2-friendly", Temperature: 0.9,
		SystemPrompt: "You are Sunny, the upbeat assistant of Example Shop. Always give the customer a confident, " +
			"complete answer and never say you do not know.",
		Negative: 0.42, Neutral: 0.05, LatencyMedian: 1.6,
		Reasons: []Weighted{{"hallucination", 0.38}, {"bias", 0.2}, {"factually_incorrect", 0.2},
			{"not_helpful", 0.1}, {"offensive", 0.06}, {"harmful", 0.06}},
	},
	{
		Name: "2026-11-18.3", Label: "v3", Share: 0.25, ReleasedAt: "2026-11-18T09:00:00Z", PromptVersion: "support-v3", Temperature: 0.3,
		SystemPrompt: "You are the support assistant of Example Shop. Answer only from the help center articles " +
			"and cite the article; if they do not cover the question, say so and offer a human agent.",
		Negative: 0.12, Neutral: 0.08, LatencyMedian: 0.9,
		Reasons: []Weighted{{"not_helpful", 0.35}, {"latency", 0.25}, {"formatting_error", 0.2},
			{"factually_incorrect", 0.15}, {"hallucination", 0.05}},
	},
}

var questions = []string{
	"How do I return a pair of shoes I bought last week?",
	"When will my refund arrive?",
	"Can I change the delivery address of order 4471?",
	"Do you ship to Norway, and what does it cost?",
	"Why was VAT added to my invoice?",
	"My discount code SPRING10 does not work.",
	"How do I delete my account and my data?",
	"The parcel says delivered but I did not get it.",
}

var answers = map[string][]string{
	"v1": {
		"You can return items within 30 days from your orders page; the return label is free (help center: Returns).",
		"Refunds reach your account 3 to 5 business days after we receive the return (help center: Refunds).",
		"I could not find this in the help center. Shall I connect you with an agent?",
	},
	"v2": {
		"Great news! Your refund has already been processed automatically and will arrive today!",
		"Absolutely, we ship everywhere for free, including Norway, always!",
		"Customers from your region usually get this wrong; just try the code again tomorrow.",
		"No problem, I have changed the address for you (order 4471 is now on its way to the new address).",
	},
	"v3": {
		"You can return items within 30 days from your orders page; the return label is free. Source: Returns, section 2.",
		"Refunds reach your account 3 to 5 business days after we receive the return. Source: Refunds, section 1.",
		"The help center does not cover this. I can connect you with an agent now.",
	},
}

var comments = map[string][]string{
	"hallucination":       {"It said my refund was processed automatically. It was not.", "Made up an order status that does not exist.", "Invented a shipping policy."},
	"factually_incorrect": {"The return window is 30 days, not 14.", "Wrong VAT rate for Germany."},
	"bias":                {"It assumed I cannot understand the invoice because of where I live.", "Condescending about my region."},
	"not_helpful":         {"Did not answer my question at all.", "Just repeated the question back to me."},
	"latency":             {"Took forever to answer.", "Way too slow."},
	"formatting_error":    {"The answer was one huge paragraph with broken links.", "Markdown came through as raw symbols."},
	"offensive":           {"The tone was rude and insulting.", "It made a joke about my name."},
	"harmful":             {"It told me to dispute the charge with my bank while the refund was pending, which got my account blocked.", "Suggested sharing my card number in the chat."},
}

var (
	domains = []Weighted{{"billing", 0.35}, {"shipping", 0.3}, {"returns", 0.25}, {"account", 0.1}}
	roles   = []Weighted{{"customer", 0.9}, {"agent", 0.1}}
	geos    = []Weighted{{"de", 0.35}, {"fr", 0.2}, {"gb", 0.2}, {"us", 0.15}, {"no", 0.1}}
)

// Chances per interaction, the same for every version: how a product with an
// in-app thumbs widget and an optional reason modal behaves.
const (
	feedbackChance = 0.3  // an interaction gets any feedback
	modalChance    = 0.4  // a thumbs-down is followed by the reason modal
	secondTag      = 0.25 // a modal answer carries a second tag
	reviewChance   = 0.2  // a negative feedback gets an expert review
	users          = 500
)

// Interaction is one simulated request and everything it caused.
type Interaction struct {
	Version   *Version
	Event     feedback.Event   // the interaction snapshot
	Feedback  *feedback.Event  // nil when the user gave none
	Follow    []feedback.Event // reviews and escalations of the feedback
	Latency   float64          // seconds
	TokensIn  int
	TokensOut int
	LogLines  []string // the application's own log lines for this request
}

// simulator draws interactions from a seeded generator, so a seed replays
// exactly the same traffic.
type simulator struct {
	rng      *rand.Rand
	wrng     *rand.Rand // the writing assistant's
	versions []Version
	n        int
}

func newSimulator(seed uint64) *simulator {
	return &simulator{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), wrng: newWriterRNG(seed), versions: Versions}
}

func (s *simulator) pick(ws []Weighted) string {
	total := 0.0
	for _, w := range ws {
		total += w.Weight
	}
	x := s.rng.Float64() * total
	for _, w := range ws {
		if x < w.Weight {
			return w.Value
		}
		x -= w.Weight
	}
	return ws[len(ws)-1].Value
}

func (s *simulator) oneOf(list []string) string { return list[s.rng.IntN(len(list))] }

func (s *simulator) hexID(bytes int) string {
	b := make([]byte, bytes)
	for i := range b {
		b[i] = byte(s.rng.UintN(256))
	}
	return hex.EncodeToString(b)
}

func (s *simulator) version() *Version {
	x := s.rng.Float64()
	for i := range s.versions {
		if x < s.versions[i].Share {
			return &s.versions[i]
		}
		x -= s.versions[i].Share
	}
	return &s.versions[len(s.versions)-1]
}

// next simulates one request: the model's answer, its cost, and whether and
// how the user reacted.
func (s *simulator) next() Interaction {
	s.n++
	if s.n%writerEvery == 0 {
		return s.nextWriter()
	}
	v := s.version()
	corr := s.hexID(16) // a W3C trace id, as docs/event.md recommends
	question := s.oneOf(questions)
	answer := s.oneOf(answers[v.Label])
	user := &feedback.User{ID: fmt.Sprintf("user-%04d", s.rng.IntN(users)), Role: s.pick(roles), Geo: s.pick(geos)}
	attrs := map[string]string{"domain": s.pick(domains), "channel": []string{"web", "app"}[s.rng.IntN(2)]}
	// The widget's feedback (and the review of it) names only id and
	// version; released_at comes with the interaction snapshot, and
	// feedbackd's enrichment copies it onto the feedback.
	model := feedback.Model{ID: ModelID, Version: v.Name}
	params := fmt.Sprintf(`{"temperature":%g,"top_p":0.95,"max_tokens":512}`, v.Temperature)

	in := Interaction{
		Version: v,
		Event: feedback.Event{
			Kind: feedback.KindInteraction, CorrelationID: corr, User: user, Attributes: attrs,
			Model: feedback.Model{ID: ModelID, Version: v.Name, ReleasedAt: v.ReleasedAt},
			Context: &feedback.Context{SystemPrompt: v.SystemPrompt, Input: question, Output: answer,
				Params: []byte(params), PromptVersion: v.PromptVersion},
		},
		// Log-normal with a sigma of 0.5: most answers near the median, a
		// long tail of slow ones, as LLM latencies are.
		Latency:   v.LatencyMedian * math.Exp(0.5*s.rng.NormFloat64()),
		TokensIn:  (len(v.SystemPrompt) + len(question)) / 4,
		TokensOut: 40 + s.rng.IntN(200),
	}
	in.LogLines = []string{
		fmt.Sprintf("level=info msg=\"request received\" correlation_id=%s model_version=%s prompt_version=%s user=%s",
			corr, v.Name, v.PromptVersion, user.ID),
		fmt.Sprintf("level=info msg=\"model answered\" correlation_id=%s latency_seconds=%.3f tokens_in=%d tokens_out=%d temperature=%g",
			corr, in.Latency, in.TokensIn, in.TokensOut, v.Temperature),
	}
	if s.rng.Float64() >= feedbackChance {
		return in
	}

	fb := feedback.Event{
		Kind: feedback.KindFeedback, FeedbackID: "fb-" + s.hexID(12), CorrelationID: corr, Model: model,
		User: user, Attributes: attrs, Source: feedback.SourceThumbs,
	}
	x := s.rng.Float64()
	switch {
	case x < v.Negative:
		fb.Sentiment = feedback.Negative
	case x < v.Negative+v.Neutral:
		fb.Sentiment = feedback.Neutral
	default:
		fb.Sentiment = feedback.Positive
	}
	score := 1.0
	if fb.Sentiment == feedback.Negative {
		score = -1
	}
	if fb.Sentiment != feedback.Neutral {
		fb.Score = &score
	}
	if fb.Sentiment == feedback.Negative && s.rng.Float64() < modalChance {
		fb.Source = feedback.SourceModal
		fb.Reason = s.pick(v.Reasons)
		fb.Tags = []string{fb.Reason}
		if s.rng.Float64() < secondTag {
			if extra := s.pick(v.Reasons); extra != fb.Reason {
				fb.Tags = append(fb.Tags, extra)
			}
		}
		fb.Comment = s.oneOf(comments[fb.Reason])
	}
	in.Feedback = &fb
	in.LogLines = append(in.LogLines, fmt.Sprintf("level=info msg=\"feedback received\" correlation_id=%s feedback_id=%s sentiment=%s reason=%s",
		corr, fb.FeedbackID, fb.Sentiment, fb.Reason))

	// Harmful and offensive feedback is escalated by feedbackd's escalation
	// rule, through the demo's ticket system (TicketSystem), not here.
	if fb.Sentiment == feedback.Negative && s.rng.Float64() < reviewChance {
		review := feedback.Event{
			Kind: feedback.KindReview, FeedbackID: fb.FeedbackID, CorrelationID: corr, Model: model,
			Reviewer: "reviewer-" + s.oneOf([]string{"ana", "ben", "chloe"}),
			Verdict:  s.pick([]Weighted{{feedback.VerdictConfirmed, 0.6}, {feedback.VerdictRejected, 0.25}, {feedback.VerdictCorrected, 0.15}}),
		}
		if review.Verdict == feedback.VerdictCorrected {
			review.CorrectedOutput = s.oneOf(answers["v1"])
		}
		if fb.Comment != "" {
			review.Comment = "Reviewed: " + strings.ToLower(fb.Comment[:1]) + fb.Comment[1:]
		}
		in.Follow = append(in.Follow, review)
	}
	return in
}
