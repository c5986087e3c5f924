package enrich_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/feedbackloop/modelfeedback/pkg/collector/enrich"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

type fixture struct {
	dir   string
	sp    *spool.Spool
	index *enrich.Index
	reg   *prometheus.Registry
	now   time.Time
}

func open(t *testing.T, dir string, opts enrich.Options) *fixture {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: dir, Sinks: []string{"loki", enrich.CursorName}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, sp: sp, now: time.Now()}
	opts.Path = filepath.Join(dir, "enrich.db")
	opts.Source, opts.Cursor = sp, true
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Now == nil {
		opts.Now = func() time.Time { return f.now }
	}
	if f.index, err = enrich.Open(opts); err != nil {
		t.Fatal(err)
	}
	f.reg = prometheus.NewRegistry()
	f.reg.MustRegister(f.index.Collectors()...)
	t.Cleanup(func() { f.close() })
	return f
}

func (f *fixture) close() {
	if f.index != nil {
		f.index.Close()
		f.sp.Close()
		f.index = nil
	}
}

func decode(t *testing.T, js string) feedback.Event {
	t.Helper()
	e, errs := feedback.Decode([]byte(js))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", js, errs)
	}
	e.FillDefaults(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC))
	return e
}

// spoolEvents appends events as ingest does (completed, then marshalled)
// and returns the sequence number of the last.
func (f *fixture) spoolEvents(t *testing.T, events ...string) uint64 {
	t.Helper()
	var lines [][]byte
	for _, js := range events {
		e := decode(t, js)
		line, err := feedback.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	first, err := f.sp.Append(context.Background(), lines)
	if err != nil {
		t.Fatal(err)
	}
	return first + uint64(len(lines)) - 1
}

func (f *fixture) enrich(t *testing.T, events ...string) []string {
	t.Helper()
	evs := make([]feedback.Event, len(events))
	for i, js := range events {
		evs[i] = decode(t, js)
	}
	if _, err := f.index.Enrich(evs); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i := range evs {
		b, err := feedback.Marshal(&evs[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

func (f *fixture) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

const interactionA = `{"kind":"interaction","correlation_id":"corr-a","timestamp":"2026-11-20T05:59:00Z",` +
	`"model":{"id":"writer","version":"2026-11-01.1","released_at":"2026-11-01T09:00:00Z"},` +
	`"context":{"system_prompt":"Be brief.","input":"Write a haiku","output":"Leaves fall",` +
	`"params":{"temperature":0.7,"verbosity":"high","top_p":1.0},"prompt_version":"brief-v2"}}`

// The feedback line as stored: the interaction's four attributes (params
// byte for byte, effective_version as the collector computed it) and
// nothing of its prompt, input or output.
func TestFeedbackGetsTheInteractionsAttributes(t *testing.T) {
	f := open(t, t.TempDir(), enrich.Options{})
	seq := f.spoolEvents(t, interactionA)
	if err := f.index.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.index.Applied() != seq {
		t.Fatalf("applied %d, want %d", f.index.Applied(), seq)
	}
	wantEV := feedback.EffectiveVersion("writer", &feedback.Context{SystemPrompt: "Be brief.", Params: []byte(`{"temperature":0.7,"verbosity":"high","top_p":1.0}`)})
	// A feedback event with a context of its own has the effective_version
	// the collector computes from it (FillDefaults), and keeps it.
	ownEV := feedback.EffectiveVersion("writer", &feedback.Context{PromptVersion: "mine"})
	got := f.enrich(t,
		`{"kind":"feedback","feedback_id":"fb-1","correlation_id":"corr-a","timestamp":"2026-11-20T06:00:00Z","model":{"id":"writer","version":"2026-11-01.1"},"sentiment":"neutral","source":"edit","edit":{"original_chars":400,"edited_chars":220,"similarity":0.61}}`,
		// Its own values win, field by field.
		`{"kind":"feedback","feedback_id":"fb-2","correlation_id":"corr-a","timestamp":"2026-11-20T06:00:00Z","model":{"id":"writer","version":"2026-11-01.1","released_at":"2026-11-02T00:00:00Z"},"sentiment":"positive","context":{"prompt_version":"mine"}}`,
		// Another version under the same correlation id: not this interaction's.
		`{"kind":"feedback","feedback_id":"fb-3","correlation_id":"corr-a","timestamp":"2026-11-20T06:00:00Z","model":{"id":"writer","version":"2026-11-10.2"},"sentiment":"positive"}`,
		// Unknown correlation id.
		`{"kind":"feedback","feedback_id":"fb-4","correlation_id":"corr-zz","timestamp":"2026-11-20T06:00:00Z","model":{"id":"writer","version":"2026-11-01.1"},"sentiment":"positive"}`,
	)
	want := []string{
		`{"schema":"feedback/v1","kind":"feedback","feedback_id":"fb-1","correlation_id":"corr-a","timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"writer","version":"2026-11-01.1","released_at":"2026-11-01T09:00:00Z","effective_version":"` + wantEV + `"},"sentiment":"neutral","severity":"info","source":"edit","context":{"params":{"temperature":0.7,"verbosity":"high","top_p":1.0},"prompt_version":"brief-v2"},"edit":{"original_chars":400,"edited_chars":220,"similarity":0.61}}`,
		`{"schema":"feedback/v1","kind":"feedback","feedback_id":"fb-2","correlation_id":"corr-a","timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"writer","version":"2026-11-01.1","released_at":"2026-11-02T00:00:00Z","effective_version":"` + ownEV + `"},"sentiment":"positive","severity":"info","context":{"params":{"temperature":0.7,"verbosity":"high","top_p":1.0},"prompt_version":"mine"}}`,
		`{"schema":"feedback/v1","kind":"feedback","feedback_id":"fb-3","correlation_id":"corr-a","timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"writer","version":"2026-11-10.2"},"sentiment":"positive","severity":"info"}`,
		`{"schema":"feedback/v1","kind":"feedback","feedback_id":"fb-4","correlation_id":"corr-zz","timestamp":"2026-11-20T06:00:00.000000000Z","model":{"id":"writer","version":"2026-11-01.1"},"sentiment":"positive","severity":"info"}`,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	for outcome, n := range map[string]float64{"hit": 2, "mismatch": 1, "miss": 1, "oversize": 0} {
		if c := f.counter(t, "feedbackd_enrich_lookups_total", "outcome", outcome); c != n {
			t.Errorf("lookups %s = %v, want %v", outcome, c, n)
		}
	}
}

// In one request (OTLP traces can carry a span and its evaluation), the
// interaction lends its attributes to the feedback after it, not before.
func TestSameRequestInRequestOrder(t *testing.T) {
	f := open(t, t.TempDir(), enrich.Options{})
	fb := `{"kind":"feedback","feedback_id":"fb-%d","correlation_id":"corr-a","timestamp":"2026-11-20T06:00:00Z","model":{"id":"writer","version":"2026-11-01.1"},"sentiment":"negative"}`
	got := f.enrich(t, fmt.Sprintf(fb, 1), interactionA, fmt.Sprintf(fb, 2))
	if strings.Contains(got[0], "brief-v2") || strings.Contains(got[0], "effective_version") {
		t.Errorf("feedback before its interaction was enriched: %s", got[0])
	}
	if !strings.Contains(got[2], `"context":{"params":{"temperature":0.7,"verbosity":"high","top_p":1.0},"prompt_version":"brief-v2"}`) {
		t.Errorf("feedback after its interaction in the same request: %s", got[2])
	}
	if strings.Contains(got[2], "Leaves fall") || strings.Contains(got[2], "Be brief") || strings.Contains(got[2], "haiku") {
		t.Errorf("prompt, input or output copied: %s", got[2])
	}
}

// The index stores its position with its records: what it had not applied
// when it stopped is applied from the spool at the next start, and the spool
// kept it because the index's cursor held truncation back.
func TestRestartAppliesTheSpoolTail(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir, enrich.Options{})
	f.spoolEvents(t, interactionA)
	if err := f.index.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Appended while no index loop runs (as if killed before it applied).
	last := f.spoolEvents(t, strings.ReplaceAll(interactionA, "corr-a", "corr-b"))
	// The sink has delivered everything; only the index's cursor holds.
	if err := f.sp.Ack("loki", last); err != nil {
		t.Fatal(err)
	}
	f.close()

	g := open(t, dir, enrich.Options{})
	if g.index.Applied() != last-1 {
		t.Fatalf("reopened index applied %d, want %d", g.index.Applied(), last-1)
	}
	if err := g.index.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := g.enrich(t, `{"kind":"feedback","correlation_id":"corr-b","feedback_id":"fb-1","model":{"id":"writer","version":"2026-11-01.1"},"sentiment":"positive"}`)
	if !strings.Contains(got[0], `"prompt_version":"brief-v2"`) {
		t.Fatalf("interaction appended before the restart not found: %s", got[0])
	}
}

// Run applies what is committed, wakes WaitApplied, and acknowledges its
// progress on the spool so the spool can truncate behind it.
func TestRunAppliesAndAcknowledges(t *testing.T) {
	f := open(t, t.TempDir(), enrich.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.index.Run(ctx); close(done) }()
	seq := f.spoolEvents(t, interactionA)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := f.index.WaitApplied(wctx, seq); err != nil {
		t.Fatalf("WaitApplied(%d): %v (applied %d)", seq, err, f.index.Applied())
	}
	cancel()
	<-done
	if c := f.sp.Cursor(enrich.CursorName); c != seq {
		t.Errorf("spool cursor of the index %d, want %d", c, seq)
	}
}

// Entries without an interaction cost the index no write of its own: a
// restart reads them again from the last written position (storing
// nothing), and Run writes the position when it acknowledges the spool.
func TestFeedbackAloneIsNotWrittenAtOnce(t *testing.T) {
	dir := t.TempDir()
	f := open(t, dir, enrich.Options{})
	inter := f.spoolEvents(t, interactionA)
	if err := f.index.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	fb := `{"kind":"feedback","feedback_id":"fb-%d","correlation_id":"corr-a","model":{"id":"writer","version":"2026-11-01.1"},"sentiment":"negative"}`
	last := f.spoolEvents(t, fmt.Sprintf(fb, 1), fmt.Sprintf(fb, 2))
	if err := f.index.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.index.Applied() != last {
		t.Fatalf("applied %d, want %d", f.index.Applied(), last)
	}
	f.close() // as if killed: Run never acknowledged

	g := open(t, dir, enrich.Options{})
	if g.index.Applied() != inter {
		t.Fatalf("reopened index at %d, want the last write's %d", g.index.Applied(), inter)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.index.Run(ctx); close(done) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := g.index.WaitApplied(wctx, last); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if c := g.sp.Cursor(enrich.CursorName); c != last {
		t.Errorf("spool cursor of the index %d, want %d", c, last)
	}
	got := g.enrich(t, fmt.Sprintf(fb, 3))
	if !strings.Contains(got[0], `"prompt_version":"brief-v2"`) {
		t.Errorf("interaction lost over the restart: %s", got[0])
	}
	g.close()

	h := open(t, dir, enrich.Options{})
	if h.index.Applied() != last {
		t.Fatalf("after Run stopped, the file's position is %d, want %d", h.index.Applied(), last)
	}
}

// Interactions older than the retention are forgotten, and beyond the size
// bound the oldest go first; each eviction is counted by reason.
func TestRetentionAndSizeBound(t *testing.T) {
	f := open(t, t.TempDir(), enrich.Options{Retention: time.Hour, MaxBytes: 700})
	for i := 0; i < 6; i++ {
		f.spoolEvents(t, strings.ReplaceAll(interactionA, "corr-a", fmt.Sprintf("corr-%d", i)))
	}
	if err := f.index.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	fb := `{"kind":"feedback","feedback_id":"fb","correlation_id":"corr-%d","model":{"id":"writer","version":"2026-11-01.1"},"sentiment":"positive"}`
	var kept []int
	for i := 0; i < 6; i++ {
		if strings.Contains(f.enrich(t, fmt.Sprintf(fb, i))[0], "brief-v2") {
			kept = append(kept, i)
		}
	}
	// One record costs 163 bytes (record, expiry entry, keys); 700 keep four.
	if fmt.Sprint(kept) != "[2 3 4 5]" {
		t.Errorf("kept %v, want the newest [2 3 4 5]", kept)
	}
	if n := f.counter(t, "feedbackd_enrich_evictions_total", "reason", "size"); n != 2 {
		t.Errorf("size evictions %v, want 2", n)
	}
	if n := testutil.ToFloat64(gauge(t, f, "feedbackd_enrich_interactions")); n != 4 {
		t.Errorf("feedbackd_enrich_interactions %v, want 4", n)
	}

	// Two hours on (by the index's clock; the spool stamps entries with the
	// wall clock) every interaction is past the retention: none is lent,
	// and the next write evicts them all, the one it writes included.
	f.now = f.now.Add(2 * time.Hour)
	if got := f.enrich(t, fmt.Sprintf(fb, 5))[0]; strings.Contains(got, "brief-v2") {
		t.Errorf("an interaction past the retention was used: %s", got)
	}
	f.spoolEvents(t, strings.ReplaceAll(interactionA, "corr-a", "corr-new"))
	if err := f.index.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.counter(t, "feedbackd_enrich_evictions_total", "reason", "retention"); n != 5 {
		t.Errorf("retention evictions %v, want 5", n)
	}
	if n := testutil.ToFloat64(gauge(t, f, "feedbackd_enrich_interactions")); n != 0 {
		t.Errorf("feedbackd_enrich_interactions %v after the retention, want 0", n)
	}
}

func gauge(t *testing.T, f *fixture, name string) prometheus.Collector {
	t.Helper()
	for _, c := range f.index.Collectors() {
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		if d := <-ch; strings.Contains(d.String(), `"`+name+`"`) {
			return c
		}
	}
	t.Fatalf("no collector %s", name)
	return nil
}

// The loop recognises interaction lines by their first bytes; that holds
// only while the encoder writes schema and kind first.
func TestInteractionLinesStartWithSchemaAndKind(t *testing.T) {
	e := decode(t, interactionA)
	line, err := feedback.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(line, []byte(`{"schema":"feedback/v1","kind":"interaction"`)) {
		t.Fatalf("encoded interaction starts %q", line[:60])
	}
}
