// Package ctl is feedbackctl (docs/feedbackctl.md): gold and regression
// datasets exported from the stored events, a deployment gate computing the
// versions verdict exactly as the data source does (pkg/versions), and
// resolutions posted to feedbackd. It reads through pkg/read only, so it
// links no Grafana code.
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

// Exit codes of every command; gate documents its own meaning of 1.
const (
	ExitOK    = 0
	ExitFail  = 1
	ExitError = 2
)

// Env is what a run sees of the world.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Now is the end of the default time window.
	Now func() time.Time
}

const usage = `feedbackctl: datasets, deployment gates and resolutions from Feedback Loop events.

Commands:
  export gold     --model M [--format jsonl|openai-evals]   reviewed samples with their interaction snapshot
  export dataset  --filter key=value … [--cluster ID] [--sentiment negative]   interactions behind matching feedback
  gate            --model M --version V [--baseline B] [--max-negative-rate R] [--json]
  resolve         --model M --version V (--fixes-tags t,… | --fixes-clusters c,…)

Every command takes the connection options (flag, FEEDBACKCTL_* variable or key of --config) and a time
window (--since, --from, --to); "feedbackctl <command> -h" lists them. docs/feedbackctl.md has examples.
`

// Main runs feedbackctl with args (without the program name) and returns
// the exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return Run(ctx, args, Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now})
}

// Run is Main with its surroundings given.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stderr, usage)
		if len(args) == 0 {
			return ExitError
		}
		return ExitOK
	}
	var err error
	code := ExitOK
	switch {
	case args[0] == "export" && len(args) > 1 && args[1] == "gold":
		err = exportGold(ctx, args[2:], env)
	case args[0] == "export" && len(args) > 1 && args[1] == "dataset":
		err = exportDataset(ctx, args[2:], env)
	case args[0] == "gate":
		code, err = gate(ctx, args[1:], env)
	case args[0] == "resolve":
		err = resolve(ctx, args[1:], env)
	default:
		err = fmt.Errorf("unknown command %q\n\n%s", strings.Join(args[:min(2, len(args))], " "), usage)
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintln(env.Stderr, "feedbackctl:", err)
		return ExitError
	}
	return code
}

// window is the time range of a command: --from/--to (RFC 3339) or the
// last --since up to now.
type window struct {
	since    *time.Duration
	from, to *string
}

func addWindow(fs *flag.FlagSet, since time.Duration) window {
	return window{
		since: fs.Duration("since", since, "read the events of this long before --to"),
		from:  fs.String("from", "", "start of the time range, RFC 3339 (instead of --since)"),
		to:    fs.String("to", "", "end of the time range, RFC 3339; default now"),
	}
}

func (w window) resolve(now time.Time) (time.Time, time.Time, error) {
	to := now.UTC()
	if *w.to != "" {
		t, err := time.Parse(time.RFC3339Nano, *w.to)
		if err != nil {
			return to, to, fmt.Errorf("--to: %q is not an RFC 3339 time such as 2026-11-20T12:00:00Z", *w.to)
		}
		to = t.UTC()
	}
	from := to.Add(-*w.since)
	if *w.from != "" {
		t, err := time.Parse(time.RFC3339Nano, *w.from)
		if err != nil {
			return from, to, fmt.Errorf("--from: %q is not an RFC 3339 time such as 2026-11-20T06:00:00Z", *w.from)
		}
		from = t.UTC()
	}
	if *w.since <= 0 && *w.from == "" {
		return from, to, fmt.Errorf("--since: must be positive")
	}
	if !to.After(from) {
		return from, to, fmt.Errorf("--to must be after --from")
	}
	return from, to, nil
}

// parse parses args and refuses stray arguments.
func parse(f *flags, args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", f.fs.Arg(0))
	}
	return nil
}

// list splits a comma-separated option.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
