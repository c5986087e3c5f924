package ctl_test

import (
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/collector/feedbackdtest"
)

// resolve against the real feedbackd: accepted with the server token,
// refused without it, field errors named by option.
func TestResolveAgainstFeedbackd(t *testing.T) {
	fd := feedbackdtest.Start(t, feedbackdtest.Build(t), "--spool-dir", t.TempDir(), "--tokens", "srv-token")
	env := map[string]string{"FEEDBACKCTL_FEEDBACKD_URL": fd.Base, "FEEDBACKCTL_FEEDBACKD_TOKEN": "srv-token"}
	r := run(t, env, "resolve", "--model", "support-bot", "--version", "2026-11-18.3", "--fixes-tags", "hallucination,bias", "--fixes-clusters", "c-0123456789ab", "--id", "res-ci-1", "--note", "sp-3")
	if r.code != 0 || r.stdout != "resolution res-ci-1 recorded: support-bot 2026-11-18.3 fixes tags [hallucination bias]; clusters [c-0123456789ab]\n" {
		t.Fatalf("exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, map[string]string{"FEEDBACKCTL_FEEDBACKD_URL": fd.Base}, "resolve", "--model", "m", "--version", "v", "--fixes-tags", "bias"); r.code != 2 || !strings.Contains(r.stderr, "HTTP 401") {
		t.Errorf("no token: exit %d %q", r.code, r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--version", "v", "--fixes-tags", "bias"}, "--model"},
		{[]string{"--model", "m", "--fixes-tags", "bias"}, "--version"},
		{[]string{"--model", "m", "--version", "v"}, "--fixes-tags"},
		{[]string{"--model", "m", "--version", "v", "--fixes-tags", "Not A Tag"}, "--fixes-tags (fixes.tags[0])"},
	} {
		r := run(t, env, append([]string{"resolve"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d %q", c.args, r.code, r.stderr)
		}
	}
}
