package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/cluster"
	"github.com/feedbackloop/modelfeedback/pkg/embed"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// GoldRecord is one line of `export gold --format jsonl` (docs/feedbackctl.md).
type GoldRecord struct {
	FeedbackID      string            `json:"feedback_id"`
	CorrelationID   string            `json:"correlation_id"`
	ModelID         string            `json:"model_id"`
	ModelVersion    string            `json:"model_version"`
	Verdict         string            `json:"verdict"`
	Reviewer        string            `json:"reviewer"`
	ReviewedAt      string            `json:"reviewed_at"`
	Note            string            `json:"note,omitempty"`
	Sentiment       string            `json:"sentiment"`
	Reason          string            `json:"reason,omitempty"`
	Tags            []string          `json:"tags"`
	Comment         string            `json:"comment,omitempty"`
	SystemPrompt    string            `json:"system_prompt"`
	Input           string            `json:"input"`
	Output          string            `json:"output"`
	CorrectedOutput string            `json:"corrected_output,omitempty"`
	Params          json.RawMessage   `json:"params,omitempty"`
	PromptVersion   string            `json:"prompt_version,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
}

// evalsRecord is one line of `--format openai-evals`: the chat messages
// that produced the output and the ideal answer.
type evalsRecord struct {
	Input []message `json:"input"`
	Ideal string    `json:"ideal"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// lookback is how long before the window an export looks for the feedback
// and interaction a review or feedback refers to.
const lookback = 30 * 24 * time.Hour

func exportGold(ctx context.Context, args []string, env Env) error {
	f := newFlags("export gold", env.Stderr)
	model := f.fs.String("model", "", "model id (required)")
	format := f.fs.String("format", "jsonl", "jsonl (feedbackctl's gold schema) or openai-evals")
	quiet := f.fs.Bool("quiet", false, "no progress on stderr")
	w := addWindow(f.fs, 90*24*time.Hour)
	if err := parse(f, args); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("--model: required")
	}
	if *format != "jsonl" && *format != "openai-evals" {
		return fmt.Errorf("--format: %q is not jsonl or openai-evals", *format)
	}
	opts, err := f.resolve(env.Getenv)
	if err != nil {
		return err
	}
	from, to, err := w.resolve(env.Now())
	if err != nil {
		return err
	}
	src, err := reader(opts)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	p := newProgress(env.Stderr, "export gold", !*quiet)
	skipped := 0
	done := map[string]bool{} // feedback ids already exported: the newest review wins
	q := read.Query{Kind: feedback.KindReview, From: from, To: to}
	err = each(ctx, src, q, func(rv read.Entry) error {
		p.read()
		ev := rv.Event
		if (ev.Verdict != feedback.VerdictConfirmed && ev.Verdict != feedback.VerdictCorrected) || done[ev.FeedbackID] {
			return nil
		}
		done[strings.Clone(ev.FeedbackID)] = true // not the page's buffer
		rec, err := goldRecord(ctx, src, rv)
		if err != nil {
			return err
		}
		if rec == nil || rec.ModelID != *model {
			return nil
		}
		var line any = rec
		if *format == "openai-evals" {
			ideal, ok := idealOf(rec)
			if !ok {
				skipped++
				return nil
			}
			line = evalsRecord{Input: messages(rec.SystemPrompt, rec.Input), Ideal: ideal}
		}
		p.out++
		return writeLine(out, line)
	})
	p.done()
	if skipped > 0 && !*quiet {
		fmt.Fprintf(env.Stderr, "export gold: %d confirmed reviews of negative feedback have no ideal answer and are not in the openai-evals output\n", skipped)
	}
	if err != nil {
		return err
	}
	return out.Flush()
}

// idealOf is the answer a gold sample teaches: the correction, or the
// output itself when a reviewer confirmed positive feedback about it.
func idealOf(r *GoldRecord) (string, bool) {
	switch {
	case r.Verdict == feedback.VerdictCorrected:
		return r.CorrectedOutput, true
	case r.Verdict == feedback.VerdictConfirmed && r.Sentiment == string(feedback.Positive):
		return r.Output, true
	}
	return "", false
}

func messages(system, input string) []message {
	var m []message
	if system != "" {
		m = append(m, message{Role: "system", Content: system})
	}
	return append(m, message{Role: "user", Content: input})
}

// goldRecord joins a review with the feedback it judges and the interaction
// snapshot that feedback is about; nil when either is not stored.
func goldRecord(ctx context.Context, src read.Reader, rv read.Entry) (*GoldRecord, error) {
	corr := rv.Event.CorrelationID
	if corr == "" {
		// Reviews recorded from Grafana carry only the feedback id.
		fb, _, err := src.Feedback(ctx, read.Query{Kind: feedback.KindFeedback, Limit: 1,
			Filters: []read.Filter{{Key: "feedback_id", Operator: read.OpEqual, Value: rv.Event.FeedbackID}},
			From:    rv.Time.Add(-lookback), To: rv.Time.Add(time.Nanosecond)})
		if err != nil {
			return nil, err
		}
		if len(fb) == 0 {
			return nil, nil
		}
		corr = fb[0].Event.CorrelationID
	}
	trace, _, err := src.Trace(ctx, read.Query{Kind: feedback.KindFeedback, CorrelationID: corr, Limit: read.MaxLimit,
		From: rv.Time.Add(-lookback), To: rv.Time.Add(time.Nanosecond)})
	if err != nil {
		return nil, err
	}
	var fb, in *feedback.Event
	for i := range trace {
		e := &trace[i].Event
		switch {
		case e.Kind == feedback.KindFeedback && e.FeedbackID == rv.Event.FeedbackID:
			fb = e
		case e.Kind == feedback.KindInteraction && e.Context != nil:
			in = e
		}
	}
	if fb == nil || in == nil {
		return nil, nil
	}
	tags := fb.Tags
	if tags == nil {
		tags = []string{}
	}
	return &GoldRecord{
		FeedbackID: fb.FeedbackID, CorrelationID: corr, ModelID: in.Model.ID, ModelVersion: in.Model.Version,
		Verdict: rv.Event.Verdict, Reviewer: rv.Event.Reviewer, ReviewedAt: rv.Time.UTC().Format(feedback.TimeLayout), Note: rv.Event.Comment,
		Sentiment: string(fb.Sentiment), Reason: fb.Reason, Tags: tags, Comment: fb.Comment,
		SystemPrompt: in.Context.SystemPrompt, Input: in.Context.Input, Output: in.Context.Output,
		CorrectedOutput: rv.Event.CorrectedOutput, Params: in.Context.Params, PromptVersion: in.Context.PromptVersion,
		Attributes: fb.Attributes,
	}, nil
}

func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// filterFlags collects repeated --filter key=value.
type filterFlags []read.Filter

func (f *filterFlags) String() string { return "" }
func (f *filterFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("want key=value, e.g. attributes.domain=tax, got %q", v)
	}
	if _, err := storage.LookupField(k, true); err != nil {
		return err
	}
	*f = append(*f, read.Filter{Key: k, Operator: read.OpEqual, Value: val})
	return nil
}

func exportDataset(ctx context.Context, args []string, env Env) error {
	f := newFlags("export dataset", env.Stderr)
	var filters filterFlags
	f.fs.Var(&filters, "filter", "key=value condition on the feedback (repeatable), e.g. attributes.domain=tax or model_version=2026-11-10.2")
	sentiment := f.fs.String("sentiment", "", "positive, negative or neutral")
	clusterID := f.fs.String("cluster", "", "only feedback in this comment cluster, grouped as the clusters panel groups the newest 5,000 matching comments: by meaning with --embeddings-url, else by words")
	quiet := f.fs.Bool("quiet", false, "no progress on stderr")
	w := addWindow(f.fs, 30*24*time.Hour)
	if err := parse(f, args); err != nil {
		return err
	}
	q := read.Query{Kind: feedback.KindFeedback, Sentiment: feedback.Sentiment(*sentiment), Filters: filters, Limit: read.DefaultLimit}
	if err := q.Validate(); err != nil {
		if fe, ok := err.(*read.FieldError); ok {
			return fmt.Errorf("--%s: %s", strings.SplitN(strings.ReplaceAll(fe.Field, "filters", "filter"), ".", 2)[0], fe.Message)
		}
		return err
	}
	opts, err := f.resolve(env.Getenv)
	if err != nil {
		return err
	}
	from, to, err := w.resolve(env.Now())
	if err != nil {
		return err
	}
	q.From, q.To = from, to
	src, err := reader(opts)
	if err != nil {
		return err
	}
	p := newProgress(env.Stderr, "export dataset", !*quiet)
	// The correlation ids behind the matching feedback: the one set that
	// grows with the export (one entry per distinct interaction).
	want := map[string]bool{}
	if *clusterID != "" {
		emb, err := embedder(opts)
		if err != nil {
			return err
		}
		if err := clusterMembers(ctx, src, emb, env.Stderr, q, *clusterID, want); err != nil {
			return err
		}
	} else if err := each(ctx, src, q, func(e read.Entry) error {
		p.read()
		if e.Event.CorrelationID != "" {
			// A clone: the decoded string may share the page's buffer,
			// which a map key would keep alive.
			want[strings.Clone(e.Event.CorrelationID)] = true
		}
		return nil
	}); err != nil {
		return err
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	iq := read.Query{Kind: feedback.KindInteraction, From: from.Add(-lookback), To: to}
	err = each(ctx, src, iq, func(e read.Entry) error {
		p.read()
		if !want[e.Event.CorrelationID] {
			return nil
		}
		delete(want, e.Event.CorrelationID) // newest snapshot wins; later ones are duplicates
		b, err := feedback.Marshal(&e.Event)
		if err != nil {
			return err
		}
		p.out++
		_, err = out.Write(append(b, '\n'))
		return err
	})
	p.done()
	if err != nil {
		return err
	}
	if len(want) > 0 && !*quiet {
		fmt.Fprintf(env.Stderr, "export dataset: %d matching feedback events have no stored interaction snapshot\n", len(want))
	}
	return out.Flush()
}

// clusterMembers adds the correlation ids of the cluster's members, grouped
// as the data source's clusters panel groups them: by meaning when emb is
// set and answers, otherwise (said on stderr) by words. Ids of the two
// methods differ ("e-…" by meaning), so an id from the other method is not
// found rather than matched to the wrong comments.
func clusterMembers(ctx context.Context, src read.Reader, emb *embed.Client, stderr io.Writer, q read.Query, id string, want map[string]bool) error {
	q.Limit = read.MaxLimit
	entries, _, err := src.Feedback(ctx, q)
	if err != nil {
		return err
	}
	texts, events := cluster.Comments(entries)
	var cs []cluster.Cluster
	method := cluster.MethodWords
	if emb != nil && len(texts) > 0 {
		vecs, err := emb.Embed(ctx, texts)
		if err == nil {
			cs, _ = cluster.GroupVectors(texts, vecs, cluster.Options{})
			method = cluster.MethodEmbeddings
		} else {
			fmt.Fprintf(stderr, "export dataset: grouped by words: the embeddings endpoint failed (%v)\n", err)
		}
	}
	if method == cluster.MethodWords {
		cs, _ = cluster.Group(texts, cluster.Options{})
	}
	for _, c := range cs {
		if c.ID != id {
			continue
		}
		for _, m := range c.Members {
			if cid := events[m].CorrelationID; cid != "" {
				want[strings.Clone(cid)] = true
			}
		}
		return nil
	}
	return fmt.Errorf("--cluster: no cluster %q among the matching comments between %s and %s (grouped by %s)", id, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339), method)
}
