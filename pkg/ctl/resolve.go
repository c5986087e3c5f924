package ctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/submit"
)

// resolve posts a resolution event: feedbackd's close-the-loop rule then
// notifies the users whose reports it fixes.
func resolve(ctx context.Context, args []string, env Env) error {
	f := newFlags("resolve", env.Stderr)
	model := f.fs.String("model", "", "model id (required)")
	version := f.fs.String("version", "", "the version that fixes it (required)")
	tags := f.fs.String("fixes-tags", "", "comma-separated tags the version fixes")
	clusters := f.fs.String("fixes-clusters", "", "comma-separated cluster ids the version fixes")
	ids := f.fs.String("fixes-feedback", "", "comma-separated feedback ids the version fixes")
	id := f.fs.String("id", "", "resolution id; default: res- and 16 random hex digits")
	note := f.fs.String("note", "", "what changed, shown with the resolution")
	if err := parse(f, args); err != nil {
		return err
	}
	switch {
	case *model == "":
		return fmt.Errorf("--model: required")
	case *version == "":
		return fmt.Errorf("--version: required")
	case *tags == "" && *clusters == "" && *ids == "":
		return fmt.Errorf("--fixes-tags, --fixes-clusters or --fixes-feedback: name what the version fixes")
	}
	opts, err := f.resolve(env.Getenv)
	if err != nil {
		return err
	}
	c, err := feedbackd(opts)
	if err != nil {
		return err
	}
	rid := *id
	if rid == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		rid = "res-" + hex.EncodeToString(b)
	}
	now := feedback.Time{Time: env.Now().UTC()}
	ev := feedback.Event{Kind: feedback.KindResolution, ResolutionID: rid, Timestamp: &now,
		Model: feedback.Model{ID: *model, Version: *version}, Comment: *note,
		Fixes: &feedback.Fixes{Tags: list(*tags), ClusterIDs: list(*clusters), FeedbackIDs: list(*ids)}}
	got, err := c.Send(ctx, ev)
	if rej, ok := submit.IsRejected(err); ok && len(rej.Details) > 0 {
		return fmt.Errorf("%s: %s", fieldFlag(rej.Details[0].Field), rej.Details[0].Message)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "resolution %s recorded: %s %s fixes %s\n", got, *model, *version, fixesText(ev.Fixes))
	return nil
}

func fieldFlag(field string) string {
	switch {
	case field == "model.id":
		return "--model"
	case field == "model.version":
		return "--version"
	case field == "resolution_id":
		return "--id"
	case field == "comment":
		return "--note"
	case len(field) > 10 && field[:10] == "fixes.tags":
		return "--fixes-tags (" + field + ")"
	case len(field) > 17 && field[:17] == "fixes.cluster_ids":
		return "--fixes-clusters (" + field + ")"
	case len(field) > 18 && field[:18] == "fixes.feedback_ids":
		return "--fixes-feedback (" + field + ")"
	}
	return field
}

func fixesText(f *feedback.Fixes) string {
	s := ""
	add := func(name string, v []string) {
		if len(v) == 0 {
			return
		}
		if s != "" {
			s += "; "
		}
		s += fmt.Sprintf("%s %v", name, v)
	}
	add("tags", f.Tags)
	add("clusters", f.ClusterIDs)
	add("feedback", f.FeedbackIDs)
	return s
}
