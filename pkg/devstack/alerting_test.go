package devstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"gopkg.in/yaml.v3"

	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
	"github.com/feedbackloop/modelfeedback/pkg/prom/promtest"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/versions"
)

type alertQuery struct {
	RefID             string `yaml:"refId"`
	QueryType         string `yaml:"queryType"`
	RelativeTimeRange struct {
		From int64 `yaml:"from"`
		To   int64 `yaml:"to"`
	} `yaml:"relativeTimeRange"`
	DatasourceUID string         `yaml:"datasourceUid"`
	Model         map[string]any `yaml:"model"`
}

type alertRule struct {
	UID          string            `yaml:"uid"`
	Title        string            `yaml:"title"`
	Condition    string            `yaml:"condition"`
	For          string            `yaml:"for"`
	NoDataState  string            `yaml:"noDataState"`
	ExecErrState string            `yaml:"execErrState"`
	DashboardUID string            `yaml:"dashboardUid"`
	PanelID      int               `yaml:"panelId"`
	Labels       map[string]string `yaml:"labels"`
	Annotations  map[string]string `yaml:"annotations"`
	Data         []alertQuery      `yaml:"data"`
}

type ruleFile struct {
	APIVersion int `yaml:"apiVersion"`
	Groups     []struct {
		OrgID    int         `yaml:"orgId"`
		Name     string      `yaml:"name"`
		Folder   string      `yaml:"folder"`
		Interval string      `yaml:"interval"`
		Rules    []alertRule `yaml:"rules"`
	} `yaml:"groups"`
}

const exprUID = "__expr__"

func loadRules(t *testing.T) []alertRule {
	t.Helper()
	var f ruleFile
	if err := yaml.Unmarshal(readFile(t, "provisioning/alerting/feedbackloop-rules.yml"), &f); err != nil {
		t.Fatal(err)
	}
	if f.APIVersion != 1 || len(f.Groups) == 0 {
		t.Fatalf("rule file: apiVersion %d, %d groups", f.APIVersion, len(f.Groups))
	}
	var rules []alertRule
	for _, g := range f.Groups {
		if g.Name == "" || g.Folder == "" {
			t.Errorf("group %+v needs a name and a folder", g.Name)
		}
		if _, err := time.ParseDuration(g.Interval); err != nil {
			t.Errorf("group %s interval %q: %v", g.Name, g.Interval, err)
		}
		rules = append(rules, g.Rules...)
	}
	return rules
}

var mathRef = regexp.MustCompile(`\$\{?([A-Za-z][A-Za-z0-9_]*)\}?`)

// expressionInputs returns the refIds an expression reads.
func expressionInputs(t *testing.T, q alertQuery) []string {
	t.Helper()
	expr, _ := q.Model["expression"].(string)
	switch q.Model["type"] {
	case "math":
		var refs []string
		for _, m := range mathRef.FindAllStringSubmatch(expr, -1) {
			refs = append(refs, m[1])
		}
		return refs
	case "reduce", "threshold", "resample":
		return []string{expr}
	}
	t.Errorf("expression %s: unknown type %v", q.RefID, q.Model["type"])
	return nil
}

// Grafana's file provisioning format and the wiring of each rule: condition,
// expression inputs, states and the link to a shipped dashboard.
func TestAlertRulesAreWellFormed(t *testing.T) {
	ds := loadDatasource(t)
	uids := map[string]bool{}
	dashboards := map[string]bool{}
	for _, d := range loadDashboards(t) {
		dashboards[d.UID] = true
	}
	states := map[string][]string{
		"noDataState":  {"NoData", "Alerting", "OK", "KeepLast"},
		"execErrState": {"Error", "Alerting", "OK", "KeepLast"},
	}
	for _, r := range loadRules(t) {
		if r.UID == "" || r.Title == "" || uids[r.UID] {
			t.Errorf("rule %q/%q: needs a unique uid and a title", r.UID, r.Title)
		}
		uids[r.UID] = true
		for field, val := range map[string]string{"noDataState": r.NoDataState, "execErrState": r.ExecErrState} {
			if !contains(states[field], val) {
				t.Errorf("%s: %s %q, want one of %v", r.UID, field, val, states[field])
			}
		}
		if _, err := time.ParseDuration(r.For); err != nil {
			t.Errorf("%s: for %q: %v", r.UID, r.For, err)
		}
		if r.DashboardUID != "" && !dashboards[r.DashboardUID] {
			t.Errorf("%s: dashboardUid %q is not a shipped dashboard", r.UID, r.DashboardUID)
		}
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
			t.Errorf("%s: needs a severity label and a summary annotation", r.UID)
		}
		refs := map[string]alertQuery{}
		for _, q := range r.Data {
			if _, dup := refs[q.RefID]; dup || q.RefID == "" {
				t.Errorf("%s: refId %q empty or used twice", r.UID, q.RefID)
			}
			refs[q.RefID] = q
			if q.Model["refId"] != q.RefID {
				t.Errorf("%s: %s: model.refId %v differs", r.UID, q.RefID, q.Model["refId"])
			}
			switch q.DatasourceUID {
			case exprUID:
			case ds.UID:
				if q.RelativeTimeRange.From <= q.RelativeTimeRange.To {
					t.Errorf("%s: %s: relativeTimeRange %+v is empty", r.UID, q.RefID, q.RelativeTimeRange)
				}
			default:
				t.Errorf("%s: %s: datasourceUid %q is neither the provisioned %q nor %s", r.UID, q.RefID, q.DatasourceUID, ds.UID, exprUID)
			}
		}
		if _, ok := refs[r.Condition]; !ok {
			t.Errorf("%s: condition %q is not one of its queries", r.UID, r.Condition)
		}
		for _, q := range r.Data {
			if q.DatasourceUID != exprUID {
				continue
			}
			for _, in := range expressionInputs(t, q) {
				if _, ok := refs[in]; !ok {
					t.Errorf("%s: expression %s reads %q, which the rule does not define", r.UID, q.RefID, in)
				}
			}
		}
	}
	if len(uids) < 3 {
		t.Fatalf("%d rules, want the negative spike, harmful/offensive and regression rules", len(uids))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// evalAt is the moment the rules are evaluated at: the end of the recorded
// corpus window, so instant queries ask Loki for exactly the recorded time.
var evalAt = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func ns(t time.Time) string { return fmt.Sprint(t.UnixNano()) }

// aliases answer the rules' Loki requests. pkg/loki/testdata holds answers
// recorded from a real Loki for the corpus over 06:00–12:00; the rules ask
// over 15 minutes and 24 hours, with other filters. Each alias serves, for
// the rule's exact request, a RECORDED REAL ANSWER TO A QUERY OF THE SAME
// SHAPE (same endpoint, same result type, same labels on each series), so the
// frames built from it are the frames the rule gets from a real Loki; the
// numbers are the corpus', not what these filters would count.
func aliases(t *testing.T, srv *lokitest.Server) {
	t.Helper()
	day := evalAt.Add(-24 * time.Hour)
	instant := func(logql string) url.Values { return url.Values{"query": {logql}, "time": {ns(evalAt)}} }
	add := func(fixture, endpoint string, params url.Values) {
		if err := srv.Alias(fixture, endpoint, params); err != nil {
			t.Fatal(err)
		}
	}
	const sel = `{service_name="model-feedback",kind="feedback"}`
	harmful := sel + ` | json tags="tags" | tags=~".*\"(harmful|offensive)\".*"`
	// Rules 1 and 2: sum by (model_version) instant vectors, answered with the
	// recorded sum by (model_version) count over 6 h; the negative rate
	// (rule 1) asks by version and sentiment.
	for _, q := range []string{
		`sum by (model_version) (count_over_time(` + sel + `[15m]))`,
		`sum by (model_version) (count_over_time(` + harmful + ` [15m]))`,
	} {
		add("metric_count_by_version_instant", "/loki/api/v1/query", instant(q))
	}
	add("metric_count_by_version_sentiment_instant", "/loki/api/v1/query",
		instant(`sum by (model_version, sentiment) (count_over_time(`+sel+`[15m]))`))
	add("metric_count_by_version_sentiment_instant", "/loki/api/v1/query",
		instant(`sum by (model_version, sentiment) (count_over_time(`+sel+`[1d]))`))
	// Rule 3 (versions over 24 h): counts by model, version and sentiment
	// (instant) and the release times over the fixed look-back
	// (versions.ReleaseWindow), each answered with the recording of the same
	// query over 6 h (versions_plan_*). Alert evaluation sends no tags query.
	add("versions_plan_01", "/loki/api/v1/query",
		instant(`sum by (model_id, model_version, sentiment) (count_over_time(`+sel+`[1d]))`))
	from, to := versions.ReleaseWindow(read.Query{From: day, To: evalAt})
	add("versions_plan_02", "/loki/api/v1/query",
		instant(`min_over_time(`+sel+` | json released_at="model.released_at" | label_format first_seen_ms="{{ __timestamp__ | unixEpochMillis }}" | unwrap first_seen_ms | __error__="" [`+loki.Duration(to.Sub(from))+`]) by (model_id, model_version, released_at)`))
}

// alertValue is one labelled value as Grafana's server-side expressions read
// a data source's answer (pkg/expr with the dataplane readers of
// github.com/grafana/dataplane/sdata): a numeric-long frame gives one number
// per row AND per numeric column (named after the column, labelled by the
// row's string columns); a timeseries-multi frame gives one series per frame.
type alertValue struct {
	name   string
	labels data.Labels
	series bool
}

func alertValues(t *testing.T, where string, fs data.Frames) []alertValue {
	t.Helper()
	var out []alertValue
	for _, f := range fs {
		if f.Meta == nil {
			t.Errorf("%s: frame %q has no type: Grafana cannot read it as numbers or series", where, f.Name)
			continue
		}
		switch f.Meta.Type {
		case data.FrameTypeNumericLong:
			for row := 0; row < f.Rows(); row++ {
				l := data.Labels{}
				for _, fd := range f.Fields {
					if fd.Type() == data.FieldTypeString {
						l[fd.Name] = fd.At(row).(string)
					}
				}
				for _, fd := range f.Fields {
					if fd.Type().Numeric() {
						out = append(out, alertValue{name: fd.Name, labels: l})
					}
				}
			}
		case data.FrameTypeTimeSeriesMulti:
			var times, values int
			for _, fd := range f.Fields {
				switch {
				case fd.Type() == data.FieldTypeTime:
					times++
				case fd.Type().Numeric():
					values++
					out = append(out, alertValue{name: fd.Name, labels: fd.Labels, series: true})
				}
			}
			if times != 1 || values == 0 {
				t.Errorf("%s: timeseries frame with %d time and %d value fields", where, times, values)
			}
		default:
			t.Errorf("%s: frame type %q is not alertable", where, f.Meta.Type)
		}
	}
	return out
}

// uniqueInstances fails when two values carry the same labels: Grafana
// refuses such an evaluation ("frame cannot uniquely be identified by its
// labels").
func uniqueInstances(t *testing.T, where string, vals []alertValue) {
	t.Helper()
	seen := map[string]string{}
	for _, v := range vals {
		k := v.labels.String()
		if prev, dup := seen[k]; dup {
			t.Errorf("%s: values %q and %q both have labels %s: Grafana would reject the rule as duplicate results; use a query with one numeric column", where, prev, v.name, k)
			return
		}
		seen[k] = v.name
	}
}

// Each rule's data source queries run through the backend's QueryData
// (in-process, with the provisioned jsonData, Loki replaced by the replay
// server and Prometheus by a real one) and come back as frames Grafana can
// alert on through the rule's own expressions.
func TestAlertRuleQueriesRunThroughTheBackend(t *testing.T) {
	ds := loadDatasource(t)
	srv, err := lokitest.New(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	aliases(t, srv)
	prom := startPrometheus(t)

	var cfg map[string]any
	if err := json.Unmarshal(ds.JSONData, &cfg); err != nil {
		t.Fatal(err)
	}
	lokiCfg, _ := cfg["loki"].(map[string]any)
	promCfg, _ := cfg["prometheus"].(map[string]any)
	if lokiCfg == nil || promCfg == nil {
		t.Fatalf("provisioned jsonData has no loki or prometheus section: %s", ds.JSONData)
	}
	lokiCfg["url"] = srv.URL
	promCfg["url"] = prom.URL
	// The dev stack's Elasticsearch is not replayed: the rules read Loki.
	delete(cfg, "elasticsearch")
	js, _ := json.Marshal(cfg)
	inst, err := plugin.NewDatasource(context.Background(), backend.DataSourceInstanceSettings{
		UID: ds.UID, Name: ds.Name, JSONData: js, Updated: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	fl := inst.(*plugin.Datasource)

	for _, r := range loadRules(t) {
		t.Run(r.UID, func(t *testing.T) {
			answers := map[string]data.Frames{}
			for _, q := range r.Data {
				if q.DatasourceUID == exprUID {
					continue
				}
				model, _ := json.Marshal(q.Model)
				interval := time.Second
				if ms, ok := q.Model["intervalMs"].(int); ok {
					interval = time.Duration(ms) * time.Millisecond
				}
				// As Grafana's alert evaluation sends it (pkg/expr DSNode):
				// the model as JSON, the query's queryType, the relative
				// range made absolute at evaluation time.
				dq := backend.DataQuery{RefID: q.RefID, QueryType: q.QueryType, JSON: model, Interval: interval,
					MaxDataPoints: 43200, TimeRange: backend.TimeRange{
						From: evalAt.Add(-time.Duration(q.RelativeTimeRange.From) * time.Second),
						To:   evalAt.Add(-time.Duration(q.RelativeTimeRange.To) * time.Second)}}
				srv.Reset()
				resp, err := fl.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{dq},
					Headers: map[string]string{"FromAlert": "true"}})
				if err != nil {
					t.Fatal(err)
				}
				if missed := srv.Missed(); len(missed) > 0 {
					t.Fatalf("%s: Loki requests with no alias to a recorded answer:\n%s", q.RefID, lokitest.Decode(strings.Join(missed, "\n")))
				}
				res := resp.Responses[q.RefID]
				if res.Error != nil {
					t.Fatalf("%s: %v", q.RefID, res.Error)
				}
				if len(res.Frames) == 0 || res.Frames[0].Rows() == 0 {
					t.Fatalf("%s: no rows: the recorded answer should give some, or the check proves nothing", q.RefID)
				}
				answers[q.RefID] = res.Frames
			}
			for _, q := range r.Data {
				if q.DatasourceUID != exprUID {
					continue
				}
				where := r.UID + " " + q.RefID
				for _, in := range expressionInputs(t, q) {
					fs, fromDS := answers[in]
					if !fromDS {
						continue // an expression's output, checked as that expression
					}
					vals := alertValues(t, where+" input "+in, fs)
					uniqueInstances(t, where+" input "+in, vals)
					if q.Model["type"] == "math" || q.Model["type"] == "threshold" {
						for _, v := range vals {
							if v.series {
								t.Errorf("%s: %s is a time series; %s needs a reduce first", where, in, q.Model["type"])
								break
							}
						}
					}
					if len(vals) > 0 && vals[0].labels["model_version"] == "" {
						t.Errorf("%s: %s values are not labelled by model_version: one instance per version is the point", where, in)
					}
				}
			}
		})
	}
}

// startPrometheus runs a real Prometheus with request counters for the
// corpus' versions, so the versions rule's requestsQuery and latencyQuery
// (as provisioned) run on Prometheus' own engine.
func startPrometheus(t *testing.T) *promtest.Server {
	t.Helper()
	var series []promtest.Series
	for i, v := range []string{"2026-11-01.1", "2026-11-10.2", "2026-11-18.3"} {
		series = append(series, promtest.Counter("llm_requests_total", map[string]string{"model_id": "support-bot", "model_version": v},
			evalAt.Add(-25*time.Hour), evalAt.Add(time.Hour), 15*time.Second, float64(i+1)))
	}
	return promtest.Start(t, series)
}
