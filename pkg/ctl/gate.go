package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/stats"
	"github.com/feedbackloop/modelfeedback/pkg/versions"
)

// GateReport is gate's --json output (docs/feedbackctl.md).
type GateReport struct {
	Result          string   `json:"result"` // pass | fail | insufficient_data | error
	Reason          string   `json:"reason"`
	ModelID         string   `json:"model_id"`
	ModelVersion    string   `json:"model_version"`
	Baseline        string   `json:"baseline,omitempty"`
	Verdict         string   `json:"verdict,omitempty"`
	Feedback        float64  `json:"feedback"`
	Negative        float64  `json:"negative"`
	NegativeRate    *float64 `json:"negative_rate"`
	NegativeLow     *float64 `json:"negative_rate_low"`
	NegativeHigh    *float64 `json:"negative_rate_high"`
	Delta           *float64 `json:"delta_vs_baseline"`
	PValue          *float64 `json:"p_value"`
	MaxNegativeRate *float64 `json:"max_negative_rate,omitempty"`
	From            string   `json:"from"`
	To              string   `json:"to"`
}

func num(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// gate exits 0 when the version passes, 1 when it regressed against its
// baseline or its negative-rate interval reaches above --max-negative-rate,
// 2 when there is not enough data to judge or the check could not run.
func gate(ctx context.Context, args []string, env Env) (int, error) {
	f := newFlags("gate", env.Stderr)
	model := f.fs.String("model", "", "model id (required)")
	version := f.fs.String("version", "", "model version to judge (required)")
	baseline := f.fs.String("baseline", "", "version to compare with; default: the previous version of the model by first feedback, as the data source does")
	maxRate := f.fs.Float64("max-negative-rate", -1, "also fail when the upper bound of the negative rate's 95 % interval is above this rate (0..1)")
	asJSON := f.fs.Bool("json", false, "print the JSON report on stdout after the reason line")
	step := f.fs.Duration("step", time.Hour, "step of the first-seen series that orders versions (the panel interval of the version comparison)")
	w := addWindow(f.fs, 7*24*time.Hour)
	if err := parse(f, args); err != nil {
		return ExitError, err
	}
	switch {
	case *model == "":
		return ExitError, fmt.Errorf("--model: required")
	case *version == "":
		return ExitError, fmt.Errorf("--version: required")
	case f.fs.Lookup("max-negative-rate").Value.String() != "-1" && (*maxRate < 0 || *maxRate > 1 || math.IsNaN(*maxRate)):
		return ExitError, fmt.Errorf("--max-negative-rate: want a rate between 0 and 1, got %g", *maxRate)
	case *step <= 0:
		return ExitError, fmt.Errorf("--step: must be positive")
	}
	opts, err := f.resolve(env.Getenv)
	if err != nil {
		return ExitError, err
	}
	from, to, err := w.resolve(env.Now())
	if err != nil {
		return ExitError, err
	}
	src, err := reader(opts)
	if err != nil {
		return ExitError, err
	}
	rep := GateReport{ModelID: *model, ModelVersion: *version, From: from.Format(time.RFC3339Nano), To: to.Format(time.RFC3339Nano)}
	if *maxRate >= 0 {
		rep.MaxNegativeRate = maxRate
	}
	code := judge(ctx, src, read.Query{Kind: feedback.KindFeedback, Limit: read.DefaultLimit, From: from, To: to, Interval: *step}, *baseline, *maxRate, &rep)
	fmt.Fprintln(env.Stdout, rep.Reason)
	if *asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintln(env.Stdout, string(b))
	}
	return code, nil
}

func judge(ctx context.Context, src read.Reader, q read.Query, baseline string, maxRate float64, rep *GateReport) int {
	fail := func(result string, code int, format string, args ...any) int {
		rep.Result, rep.Reason = result, fmt.Sprintf(format, args...)
		return code
	}
	// Every version in the window, as the versions panel reads them: the
	// default baseline is the model's previous version among these.
	rows, _, err := versions.Collect(ctx, src, q, versions.Options{})
	if err != nil {
		return fail("error", ExitError, "error: %v", err)
	}
	if baseline != "" && !versions.HasBaseline(rows, baseline) {
		return fail("error", ExitError, "error: baseline %s has no feedback between %s and %s", baseline, rep.From, rep.To)
	}
	judged := versions.Judge(rows, baseline)
	for i, r := range rows {
		if r.ModelID != rep.ModelID || r.Version != rep.ModelVersion {
			continue
		}
		j := judged[i]
		rep.Baseline, rep.Verdict, rep.Feedback, rep.Negative = j.Baseline, j.Verdict, r.Feedback, r.Negative
		rep.NegativeRate, rep.NegativeLow, rep.NegativeHigh, rep.Delta, rep.PValue = num(j.Rate), num(j.Low), num(j.High), num(j.Delta), num(j.P)
		name := rep.ModelID + " " + rep.ModelVersion
		against := "no baseline"
		if j.Baseline != "" {
			against = "baseline " + j.Baseline
		}
		switch {
		case j.Verdict == stats.Regressed:
			return fail("fail", ExitFail, "fail: %s regressed against %s: negative rate %.3f, difference %+.3f, p = %.4g", name, j.Baseline, j.Rate, j.Delta, j.P)
		case maxRate >= 0 && r.Feedback > 0 && j.High > maxRate:
			return fail("fail", ExitFail, "fail: %s negative rate %.3f, 95 %% interval up to %.3f, is above the bound %.3f", name, j.Rate, j.High, maxRate)
		case j.Verdict == stats.InsufficientData:
			return fail("insufficient_data", ExitError, "insufficient data: %s has %g feedback events against %s; a verdict needs %d on each side", name, r.Feedback, against, stats.MinSample)
		}
		return fail("pass", ExitOK, "pass: %s is %s against %s: negative rate %.3f, difference %+.3f, p = %.4g", name, j.Verdict, j.Baseline, j.Rate, j.Delta, j.P)
	}
	return fail("insufficient_data", ExitError, "insufficient data: %s %s has no feedback between %s and %s", rep.ModelID, rep.ModelVersion, rep.From, rep.To)
}
