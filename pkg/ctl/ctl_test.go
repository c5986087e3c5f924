package ctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/ctl"
	"github.com/feedbackloop/modelfeedback/pkg/elastic/estest"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
)

var update = flag.Bool("update", false, "rewrite the golden exports in testdata/")

// The recorded corpus window (pkg/loki/testdata/README.md).
var (
	winFrom = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	winTo   = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	window  = []string{"--from", winFrom.Format(time.RFC3339), "--to", winTo.Format(time.RFC3339)}
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := ctl.Run(context.Background(), args, ctl.Env{Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return env[k] },
		Now:    func() time.Time { return winTo }})
	return result{code, out.String(), errOut.String()}
}

func esDouble(t *testing.T) *estest.Server {
	t.Helper()
	srv, err := estest.New(lokitest.CorpusPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r := srv.Refused(); len(r) > 0 {
			t.Errorf("the Elasticsearch double refused: %v", r)
		}
		srv.Close()
	})
	return srv
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the export:\n got %s\nwant %s", name, got, want)
	}
}

// The gold exports of the corpus, one golden file each: written from the
// Elasticsearch double here (-update), and the Loki export must equal them
// (TestExportGoldFromLoki).
var goldCases = []struct{ model, format, file string }{
	{"support-bot", "jsonl", "gold_support-bot.jsonl"},
	{"support-bot", "openai-evals", "gold_support-bot_openai-evals.jsonl"},
	{"tax-assistant", "jsonl", "gold_tax-assistant.jsonl"},
}

func TestExportGoldFromElasticsearch(t *testing.T) {
	es := esDouble(t)
	env := map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL}
	for _, c := range goldCases {
		r := run(t, env, append([]string{"export", "gold", "--model", c.model, "--format", c.format}, window...)...)
		if r.code != 0 {
			t.Fatalf("%s %s: exit %d: %s", c.model, c.format, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "export gold: done, ") {
			t.Errorf("no progress on stderr: %q", r.stderr)
		}
		golden(t, c.file, r.stdout)
	}
}

// Every gold line is a confirmed or corrected review of the corpus, joined
// with the snapshot of its correlation id: checked against the events file.
func TestExportGoldAgreesWithTheCorpus(t *testing.T) {
	es := esDouble(t)
	r := run(t, map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL}, append([]string{"export", "gold", "--model", "support-bot", "--quiet"}, window...)...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	events := lokitest.Corpus(t)
	want := map[string]string{} // feedback id → verdict
	interactionOf := map[string]string{}
	for _, e := range events {
		if e.Kind == "review" && (e.Verdict == "confirmed" || e.Verdict == "corrected") && e.Model.ID == "support-bot" {
			want[e.FeedbackID] = e.Verdict
		}
		if e.Kind == "interaction" && e.Context != nil {
			interactionOf[e.CorrelationID] = e.Context.Output
		}
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) || len(want) == 0 {
		t.Fatalf("%d lines, the corpus has %d gold reviews of support-bot", len(lines), len(want))
	}
	for _, l := range lines {
		var g ctl.GoldRecord
		if err := json.Unmarshal([]byte(l), &g); err != nil {
			t.Fatal(err)
		}
		if want[g.FeedbackID] != g.Verdict {
			t.Errorf("%s: verdict %s, corpus %s", g.FeedbackID, g.Verdict, want[g.FeedbackID])
		}
		if g.Output != interactionOf[g.CorrelationID] || g.Output == "" {
			t.Errorf("%s: output %q is not its interaction's", g.FeedbackID, g.Output)
		}
	}
}

func TestExportDatasetFromElasticsearch(t *testing.T) {
	es := esDouble(t)
	env := map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL}
	r := run(t, env, append([]string{"export", "dataset", "--filter", "attributes.domain=tax", "--sentiment", "negative", "--quiet"}, window...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	golden(t, "dataset_tax_negative.jsonl", r.stdout)
	// Truth from the events file: distinct correlation ids of negative tax
	// feedback in the window that have an interaction.
	events := lokitest.Corpus(t)
	has := withInteraction(events)
	want := map[string]bool{}
	for _, e := range events {
		if e.Kind == "feedback" && e.Sentiment == "negative" && e.Attributes["domain"] == "tax" && e.At().After(winFrom) && !e.At().After(winTo) && has[e.CorrelationID] {
			want[e.CorrelationID] = true
		}
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		var e struct {
			Kind          string `json:"kind"`
			CorrelationID string `json:"correlation_id"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Kind != "interaction" || !want[e.CorrelationID] || seen[e.CorrelationID] {
			t.Errorf("unexpected line (kind %s, %s, repeated %v)", e.Kind, e.CorrelationID, seen[e.CorrelationID])
		}
		seen[e.CorrelationID] = true
	}
	if len(seen) != len(want) || len(want) == 0 {
		t.Errorf("%d interactions exported, the corpus has %d", len(seen), len(want))
	}

	for _, bad := range [][]string{
		{"--filter", "password=x"},
		{"--filter", "domain"},
		{"--sentiment", "angry"},
	} {
		r := run(t, env, append(append([]string{"export", "dataset"}, bad...), window...)...)
		if r.code != 2 || !strings.Contains(r.stderr, strings.TrimPrefix(bad[0], "--")) {
			t.Errorf("%v: exit %d %q", bad, r.code, r.stderr)
		}
	}
}

// versionsVerdict is the data source's verdict for one version on the same
// data, from its versions frame.
func versionsVerdict(t *testing.T, jsonData, baseline, version string) string {
	t.Helper()
	inst, err := plugin.NewDatasource(context.Background(), backend.DataSourceInstanceSettings{UID: "u", Name: "n", JSONData: json.RawMessage(jsonData)})
	if err != nil {
		t.Fatal(err)
	}
	ds := inst.(*plugin.Datasource)
	js := `{"queryType":"versions","tags":["hallucination","factually_incorrect","formatting_error","latency","bias","offensive","harmful","not_helpful","other","outdated_rates","biased_tone"]`
	if baseline != "" {
		js += `,"baseline":"` + baseline + `"`
	}
	js += "}"
	resp, err := ds.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", JSON: json.RawMessage(js), Interval: time.Hour, MaxDataPoints: 1000,
		TimeRange: backend.TimeRange{From: winFrom, To: winTo}}}})
	if err != nil {
		t.Fatal(err)
	}
	res := resp.Responses["A"]
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	vf, _ := f.FieldByName("model_version")
	df, _ := f.FieldByName("verdict")
	for i := 0; i < f.Rows(); i++ {
		if vf.At(i).(string) == version {
			return df.At(i).(string)
		}
	}
	t.Fatalf("no row for %s in %v", version, data.Frames{f})
	return ""
}

func TestGateMatchesTheVersionsFrame(t *testing.T) {
	es := esDouble(t)
	loki, err := lokitest.New(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(loki.Close)
	cases := []struct {
		version, baseline, verdict string
		code                       int
	}{
		{"2026-11-10.2", "", "insufficient_data", 2},     // v1 has 22 feedback events, below the sample
		{"2026-11-10.2", "2026-11-05.1", "regressed", 1}, // 0.64 against 0.33, both ≥ 30
		{"2026-11-05.1", "2026-11-10.2", "improved", 0},  // the other way round
		{"2026-11-05.1", "2026-11-05.1", "no_change", 0}, // against itself
		{"2026-11-18.3", "", "insufficient_data", 2},     // 23 feedback events
	}
	for _, src := range []struct{ name, jsonData, env, url string }{
		{"loki", `{"loki":{"url":"` + loki.URL + `"}}`, "FEEDBACKCTL_LOKI_URL", loki.URL},
		{"elasticsearch", `{"elasticsearch":{"url":"` + es.URL + `"}}`, "FEEDBACKCTL_ELASTICSEARCH_URL", es.URL},
	} {
		for _, c := range cases {
			model := "support-bot"
			if c.version == "2026-11-05.1" {
				model = "tax-assistant"
			}
			if got := versionsVerdict(t, src.jsonData, c.baseline, c.version); got != c.verdict {
				t.Fatalf("%s: the versions frame says %s for %s vs %q, the test expects %s", src.name, got, c.version, c.baseline, c.verdict)
			}
			args := append([]string{"gate", "--model", model, "--version", c.version, "--json"}, window...)
			if c.baseline != "" {
				args = append(args, "--baseline", c.baseline)
			}
			if m := loki.Missed(); len(m) > 0 {
				t.Fatalf("the data source sent Loki requests the recording does not hold:\n%s", lokitest.Decode(strings.Join(m, "\n")))
			}
			loki.Reset()
			r := run(t, map[string]string{src.env: src.url}, args...)
			if src.name == "loki" {
				// The counts and the release times, exactly as recorded
				// for the data source's versions query.
				sentExactly(t, loki, "versions_plan_01", "versions_plan_02")
			}
			if r.code != c.code {
				t.Errorf("%s %s vs %q: exit %d, want %d\n%s%s", src.name, c.version, c.baseline, r.code, c.code, r.stdout, r.stderr)
				continue
			}
			reason, js, _ := strings.Cut(r.stdout, "\n")
			var rep ctl.GateReport
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatalf("report: %v\n%s", err, r.stdout)
			}
			if rep.Verdict != c.verdict || rep.Reason != reason || rep.ModelVersion != c.version {
				t.Errorf("%s %s: report %+v", src.name, c.version, rep)
			}
		}
	}

	// The bound: v2's interval (0.50..0.76) is above 0.5, tax's upper bound
	// 0.48 is not. Then the errors, from both sources.
	loki.Reset()
	for _, env := range []map[string]string{{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL}, {"FEEDBACKCTL_LOKI_URL": loki.URL}} {
		if r := run(t, env, append([]string{"gate", "--model", "tax-assistant", "--version", "2026-11-05.1", "--baseline", "2026-11-10.2", "--max-negative-rate", "0.5"}, window...)...); r.code != 0 {
			t.Errorf("%v: tax under the bound: exit %d %s", env, r.code, r.stdout)
		}
		r := run(t, env, append([]string{"gate", "--model", "tax-assistant", "--version", "2026-11-05.1", "--baseline", "2026-11-10.2", "--max-negative-rate", "0.45"}, window...)...)
		if r.code != 1 || !strings.Contains(r.stdout, "above the bound 0.450") {
			t.Errorf("%v: tax over 0.45: exit %d %s", env, r.code, r.stdout)
		}
		for _, bad := range []struct {
			args  []string
			field string
		}{
			{[]string{"gate", "--version", "v"}, "--model"},
			{[]string{"gate", "--model", "m"}, "--version"},
			{[]string{"gate", "--model", "m", "--version", "v", "--max-negative-rate", "2"}, "--max-negative-rate"},
			{[]string{"gate", "--model", "m", "--version", "v", "--from", "yesterday"}, "--from"},
			{[]string{"gate", "--model", "support-bot", "--version", "2026-11-10.2", "--baseline", "nope", "--from", winFrom.Format(time.RFC3339), "--to", winTo.Format(time.RFC3339)}, "baseline nope"},
			{[]string{"gate", "--model", "support-bot", "--version", "9.9", "--from", winFrom.Format(time.RFC3339), "--to", winTo.Format(time.RFC3339)}, "no feedback"},
		} {
			r := run(t, env, bad.args...)
			if r.code != 2 || !strings.Contains(r.stderr+r.stdout, bad.field) {
				t.Errorf("%v %v: exit %d %q %q", env, bad.args, r.code, r.stdout, r.stderr)
			}
		}
	}
	// Four gate runs read Loki (the bounds, the unknown baseline, the
	// unknown version), each the two recorded requests.
	var four []string
	for i := 0; i < 4; i++ {
		four = append(four, "versions_plan_01", "versions_plan_02")
	}
	sentExactly(t, loki, four...)
	if r := run(t, nil, "gate", "--model", "m", "--version", "v"); r.code != 2 || !strings.Contains(r.stderr, "--loki-url") {
		t.Errorf("no source: exit %d %q", r.code, r.stderr)
	}
}

// Flags win over the environment, which wins over the file.
func TestConfigLayers(t *testing.T) {
	es := esDouble(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "feedbackctl.yaml")
	if err := os.WriteFile(file, []byte("elasticsearch_url: http://127.0.0.1:1\nsource: elasticsearch\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"gate", "--model", "tax-assistant", "--version", "2026-11-05.1", "--baseline", "2026-11-05.1", "--config", file}, window...)
	if r := run(t, nil, args...); r.code != 2 || !strings.Contains(r.stdout, "127.0.0.1:1") {
		t.Errorf("file only: exit %d %q", r.code, r.stdout)
	}
	if r := run(t, map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": es.URL}, args...); r.code != 0 {
		t.Errorf("env over file: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, map[string]string{"FEEDBACKCTL_ELASTICSEARCH_URL": "http://127.0.0.1:1"}, append(args, "--elasticsearch-url", es.URL)...); r.code != 0 {
		t.Errorf("flag over env: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(file, []byte("elasticsearch_uri: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, args...); r.code != 2 || !strings.Contains(r.stderr, "unknown key(s) elasticsearch_uri") {
		t.Errorf("typo in the file: exit %d %q", r.code, r.stderr)
	}
}

// withInteraction is the set of correlation ids that have an interaction
// among events: the truth of which feedback an export can pair.
func withInteraction(events []feedback.Event) map[string]bool {
	has := map[string]bool{}
	for _, e := range events {
		if e.Kind == "interaction" {
			has[e.CorrelationID] = true
		}
	}
	return has
}
