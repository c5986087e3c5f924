package devstack_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/plugin"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// The dashboards the product promises (docs/index.md), by uid. The data links on
// correlation_id point at feedbackloop-trace and those of the versions frame
// at feedbackloop-overview, so these uids are API.
var wantDashboards = map[string]string{
	"feedbackloop-overview":     "Model feedback overview",
	"feedbackloop-versions":     "Version comparison",
	"feedbackloop-trace":        "Trace drill-down",
	"feedbackloop-review-queue": "Review queue",
}

// Grafana 12.4's current dashboard schema version (@grafana/schema 12.4
// defaultDashboard.schemaVersion). An older one makes Grafana migrate the
// JSON on load, so what is stored would not be what is shown.
const schemaVersion = 42

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Datasource *dsRef          `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Options    []struct {
		Value string `json:"value"`
	} `json:"options"`
}

type transformation struct {
	ID      string          `json:"id"`
	Options json.RawMessage `json:"options"`
}

type panel struct {
	ID              int               `json:"id"`
	Type            string            `json:"type"`
	Title           string            `json:"title"`
	Datasource      *dsRef            `json:"datasource"`
	Targets         []json.RawMessage `json:"targets"`
	Transformations []transformation  `json:"transformations"`
	Options         map[string]any    `json:"options"`
	Panels          []panel           `json:"panels"` // collapsed rows
}

type dashboard struct {
	file          string
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels      []panel `json:"panels"`
	Annotations struct {
		List []struct {
			Name       string          `json:"name"`
			Datasource *dsRef          `json:"datasource"`
			Target     json.RawMessage `json:"target"`
		} `json:"list"`
	} `json:"annotations"`
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(), "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in dashboards/: %v", err)
	}
	var out []dashboard
	for _, f := range files {
		var d dashboard
		rel, _ := filepath.Rel(root(), f)
		if err := json.Unmarshal(readFile(t, rel), &d); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		d.file = rel
		out = append(out, d)
	}
	return out
}

func (d dashboard) variable(name string) *variable {
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			return &d.Templating.List[i]
		}
	}
	return nil
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// resolves reports whether a panel's or target's data source reference
// reaches the provisioned Feedback Loop data source: directly by uid, or
// through the dashboard's data source variable of the plugin's type.
func (d dashboard) resolves(ref *dsRef, ds provisioned) error {
	if ref == nil {
		return fmt.Errorf("no datasource reference (it would use the default data source)")
	}
	if ref.Type != ds.Type {
		return fmt.Errorf("datasource type %q, want %q", ref.Type, ds.Type)
	}
	if ref.UID == ds.UID {
		return nil
	}
	name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ref.UID, "${"), "$"), "}")
	v := d.variable(name)
	if v == nil || v.Type != "datasource" {
		return fmt.Errorf("datasource uid %q is neither %q nor a data source variable", ref.UID, ds.UID)
	}
	var q string
	if err := json.Unmarshal(v.Query, &q); err != nil || q != ds.Type {
		return fmt.Errorf("variable %s lists data sources of type %s, want %s", name, v.Query, ds.Type)
	}
	return nil
}

// substitutions are the values a dashboard's variables take in the checks:
// every value of the source variable, the All selection of the multi-value
// variables (their custom all value) and a multi-value selection as the
// frontend renders it for a regex operator (an alternation).
func substitutions(d dashboard) []map[string]string {
	var sources []string
	if v := d.variable("source"); v != nil {
		for _, o := range v.Options {
			sources = append(sources, o.Value)
		}
	}
	var out []map[string]string
	for _, src := range sources {
		for _, versions := range []string{".*", `2026-11-01\.1|2026-11-10\.2`} {
			out = append(out, map[string]string{
				"source":         src,
				"model_id":       ".*",
				"model_version":  versions,
				"correlation_id": "4bf92f3577b34da6a3ce929d0e0e4736",
				"baseline":       "",
			})
		}
	}
	return out
}

// substitute replaces $name and ${name} inside the JSON string values of a
// target (the values are JSON-escaped first, so a regex backslash stays
// valid JSON).
func substitute(t *testing.T, target json.RawMessage, vals map[string]string) []byte {
	t.Helper()
	s := string(target)
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	// Longest first, so $model_version is not cut by a shorter name.
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, k := range names {
		esc, _ := json.Marshal(vals[k])
		v := string(esc[1 : len(esc)-1])
		s = strings.ReplaceAll(s, "${"+k+"}", v)
		s = strings.ReplaceAll(s, "$"+k, v)
	}
	return []byte(s)
}

// leftoverVariable returns the first query field (the data source
// reference aside, which Grafana resolves itself) still holding a $.
func leftoverVariable(js []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(js, &m) != nil {
		return "(not an object)"
	}
	for k, v := range m {
		if k != "datasource" && strings.Contains(string(v), "$") {
			return k + ": " + string(v)
		}
	}
	return ""
}

type targetJSON struct {
	RefID      string         `json:"refId"`
	QueryType  string         `json:"queryType"`
	Source     string         `json:"source"`
	Datasource *dsRef         `json:"datasource"`
	Filters    []query.Filter `json:"filters"`
	GroupBy    []string       `json:"groupBy"`
	Metric     string         `json:"metric"`
}

// implemented are the query types this version of the backend answers; the
// others are an error, which a shipped panel must not be.
var implemented = map[string]bool{"breakdown": true, "timeseries": true, "feedback": true, "versions": true, "trace": true, "reviews": true, "clusters": true}

func TestDashboardsAreTheShippedSet(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range loadDashboards(t) {
		want, ok := wantDashboards[d.UID]
		if !ok {
			t.Errorf("%s: uid %q is not one of the shipped dashboards", d.file, d.UID)
			continue
		}
		if seen[d.UID] {
			t.Errorf("%s: uid %q used twice", d.file, d.UID)
		}
		seen[d.UID] = true
		if d.Title != want {
			t.Errorf("%s: title %q, want %q", d.file, d.Title, want)
		}
		if d.SchemaVersion != schemaVersion {
			t.Errorf("%s: schemaVersion %d, want %d", d.file, d.SchemaVersion, schemaVersion)
		}
		ids := map[int]bool{}
		for _, p := range allPanels(d.Panels) {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", d.file, p.ID)
			}
			ids[p.ID] = true
		}
	}
	for uid := range wantDashboards {
		if !seen[uid] {
			t.Errorf("dashboard %s is missing from dashboards/", uid)
		}
	}
}

// The plugin ships every dashboard (src/plugin.json includes), at the path
// the build copies it to (webpack.config.ts: dashboards/*.json →
// dist/dashboards/).
func TestPluginIncludesEveryDashboard(t *testing.T) {
	var pj struct {
		Includes []struct {
			Type string `json:"type"`
			Name string `json:"name"`
			Path string `json:"path"`
		} `json:"includes"`
	}
	if err := json.Unmarshal(readFile(t, "src/plugin.json"), &pj); err != nil {
		t.Fatal(err)
	}
	included := map[string]string{}
	for _, inc := range pj.Includes {
		if inc.Type != "dashboard" {
			continue
		}
		if _, dup := included[inc.Path]; dup {
			t.Errorf("plugin.json includes %s twice", inc.Path)
		}
		included[inc.Path] = inc.Name
	}
	for _, d := range loadDashboards(t) {
		name, ok := included[filepath.ToSlash(d.file)]
		if !ok {
			t.Errorf("src/plugin.json does not include %s", d.file)
			continue
		}
		if name != d.Title {
			t.Errorf("plugin.json names %s %q, the dashboard is titled %q", d.file, name, d.Title)
		}
		delete(included, filepath.ToSlash(d.file))
	}
	for path := range included {
		t.Errorf("src/plugin.json includes %s, which is not in dashboards/", path)
	}
	cfg := string(readFile(t, "webpack.config.ts"))
	if !strings.Contains(cfg, "'dashboards', '*.json'") || !strings.Contains(cfg, "to: 'dashboards/[name][ext]'") {
		t.Error("webpack.config.ts no longer copies dashboards/*.json to dist/dashboards/")
	}
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	if err := json.Unmarshal(readFile(t, "package.json"), &pkg); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"build", "dev"} {
		if !strings.Contains(pkg.Scripts[s], "-c ./webpack.config.ts") {
			t.Errorf("npm run %s does not use webpack.config.ts (so the dashboards are not copied): %q", s, pkg.Scripts[s])
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	ds := loadDatasource(t)
	for _, d := range loadDashboards(t) {
		if v := d.variable("datasource"); v == nil || v.Type != "datasource" || string(v.Query) != `"`+pluginID+`"` {
			t.Errorf("%s: no data source variable of type %s", d.file, pluginID)
		}
		src := d.variable("source")
		if src == nil || src.Type != "custom" || len(src.Options) != 2 || src.Options[0].Value != "loki" || src.Options[1].Value != "elasticsearch" {
			t.Errorf("%s: source must be a custom variable with loki and elasticsearch", d.file)
		}
		for name, resource := range map[string]string{"model_id": "model-ids", "model_version": "model-versions"} {
			v := d.variable(name)
			if v == nil {
				if d.UID != "feedbackloop-trace" {
					t.Errorf("%s: no %s variable", d.file, name)
				}
				continue
			}
			if v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != ".*" {
				t.Errorf("%s: %s must be a multi-value query variable with All = .*", d.file, name)
			}
			if err := d.resolves(v.Datasource, ds); err != nil {
				t.Errorf("%s: variable %s: %v", d.file, name, err)
			}
			// The frontend's metricFindQuery reads {resource, modelId, field, source}.
			var q map[string]string
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Errorf("%s: %s query is not the variable query object: %s", d.file, name, v.Query)
				continue
			}
			if q["resource"] != resource {
				t.Errorf("%s: %s asks for resource %q, want %q", d.file, name, q["resource"], resource)
			}
			if q["source"] != "$source" {
				t.Errorf("%s: %s does not follow $source", d.file, name)
			}
			if name == "model_version" && q["modelId"] != "$model_id" {
				t.Errorf("%s: model_version does not depend on $model_id: %v", d.file, q)
			}
			for k := range q {
				if k != "resource" && k != "modelId" && k != "source" && k != "field" && k != "refId" {
					t.Errorf("%s: %s query has key %q the frontend does not read", d.file, name, k)
				}
			}
		}
	}
}

// Every panel target parses with the backend's own query.Parse once the
// dashboard's variables are substituted, reaches the provisioned data source,
// follows $source and filters on the model variables.
func TestDashboardTargetsParse(t *testing.T) {
	ds := loadDatasource(t)
	tr := backend.TimeRange{From: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}
	targets := 0
	for _, d := range loadDashboards(t) {
		hasModelVars := d.variable("model_id") != nil && d.variable("model_version") != nil
		for _, p := range allPanels(d.Panels) {
			if p.Type == "row" {
				continue
			}
			where := fmt.Sprintf("%s panel %d %q", d.file, p.ID, p.Title)
			if err := d.resolves(p.Datasource, ds); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no targets", where)
			}
			for _, raw := range p.Targets {
				targets++
				var tj targetJSON
				if err := json.Unmarshal(raw, &tj); err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				where := where + " target " + tj.RefID
				if err := d.resolves(tj.Datasource, ds); err != nil {
					t.Errorf("%s: %v", where, err)
				}
				if !implemented[tj.QueryType] {
					t.Errorf("%s: queryType %q is not answered by this backend", where, tj.QueryType)
				}
				if tj.Source != "$source" {
					t.Errorf("%s: source %q, want $source", where, tj.Source)
				}
				if hasModelVars && tj.QueryType != "trace" {
					for _, want := range []query.Filter{{Key: "model_id", Operator: "=~", Value: "$model_id"}, {Key: "model_version", Operator: "=~", Value: "$model_version"}} {
						found := false
						for _, f := range tj.Filters {
							found = found || f == want
						}
						if !found {
							t.Errorf("%s: no filter %s %s %s", where, want.Key, want.Operator, want.Value)
						}
					}
				}
				for _, vals := range substitutions(d) {
					js := substitute(t, raw, vals)
					if left := leftoverVariable(js); left != "" {
						t.Errorf("%s: variable left after substitution in %s", where, left)
					}
					q, err := query.Parse(backend.DataQuery{RefID: tj.RefID, JSON: js, TimeRange: tr, Interval: time.Minute}, query.SourceLoki)
					if err != nil {
						t.Errorf("%s with %v: %v", where, vals, err)
						continue
					}
					if string(q.Source) != vals["source"] {
						t.Errorf("%s: source %q after substitution, want %q", where, q.Source, vals["source"])
					}
				}
				checkTransformations(t, where, p, tj)
			}
		}
	}
	if targets < 12 {
		t.Fatalf("only %d targets checked", targets)
	}
}

// Feedback annotations (escalations, resolutions) are feedback queries of the
// data source: they must parse for each source, like panel targets.
func TestDashboardAnnotationsParse(t *testing.T) {
	ds := loadDatasource(t)
	tr := backend.TimeRange{From: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)}
	found := map[string]bool{}
	for _, d := range loadDashboards(t) {
		for _, a := range d.Annotations.List {
			if a.Datasource == nil || a.Datasource.Type != pluginID {
				continue
			}
			where := fmt.Sprintf("%s annotation %q", d.file, a.Name)
			if err := d.resolves(a.Datasource, ds); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			for _, vals := range substitutions(d) {
				q, err := query.Parse(backend.DataQuery{RefID: "Anno", JSON: substitute(t, a.Target, vals), TimeRange: tr, Interval: time.Minute}, query.SourceLoki)
				if err != nil {
					t.Errorf("%s with %v: %v", where, vals, err)
					continue
				}
				if q.Type != query.Feedback {
					t.Errorf("%s: queryType %q; annotations read the feedback frame", where, q.Type)
				}
				found[d.UID+"/"+string(q.Kind)] = true
			}
		}
	}
	for _, want := range []string{"feedbackloop-overview/escalation", "feedbackloop-overview/resolution"} {
		if !found[want] {
			t.Errorf("no %s annotation", want)
		}
	}
}

// fieldsOf lists the fields the backend's frame builders produce for a
// target (for the query types plugin.Columns knows), so that the
// transformations and overrides of a panel cannot silently drift from the
// frames after a rename.
func fieldsOf(tj targetJSON) (map[string]bool, bool) {
	cols, ok := plugin.Columns(query.Type(tj.QueryType), query.Metric(tj.Metric), tj.GroupBy)
	if !ok {
		return nil, false
	}
	out := map[string]bool{}
	for _, c := range cols {
		out[c] = true
	}
	return out, true
}

func checkTransformations(t *testing.T, where string, p panel, tj targetJSON) {
	t.Helper()
	fields, known := fieldsOf(tj)
	if !known {
		return
	}
	for _, tr := range p.Transformations {
		switch tr.ID {
		case "groupingToMatrix":
			var o struct{ ColumnField, RowField, ValueField string }
			if err := json.Unmarshal(tr.Options, &o); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			for _, f := range []string{o.ColumnField, o.RowField, o.ValueField} {
				if !fields[f] {
					t.Errorf("%s: groupingToMatrix uses field %q; the frame has %v", where, f, keys(fields))
				}
			}
			// The matrix replaces the frame: later steps see its columns.
			fields = map[string]bool{o.RowField + `\` + o.ColumnField: true}
			return
		case "organize":
			var o struct {
				ExcludeByName map[string]bool `json:"excludeByName"`
			}
			if err := json.Unmarshal(tr.Options, &o); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			for f := range o.ExcludeByName {
				if !fields[f] {
					t.Errorf("%s: organize hides field %q; the frame has %v", where, f, keys(fields))
				}
			}
		}
	}
	if x, ok := p.Options["xField"].(string); ok && p.Type == "barchart" && len(p.Transformations) == 0 && !fields[x] {
		t.Errorf("%s: bar chart x field %q is not in the frame %v", where, x, keys(fields))
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// The Review queue's row actions call the data source's review resource
// with the parameters it accepts: the row's feedback id and one verdict each.
func TestReviewQueueActions(t *testing.T) {
	var d struct {
		Panels []struct {
			Title       string `json:"title"`
			FieldConfig struct {
				Defaults struct {
					Actions []struct {
						Type      string              `json:"type"`
						Title     string              `json:"title"`
						Variables []map[string]string `json:"variables"`
						Fetch     struct {
							Method      string      `json:"method"`
							URL         string      `json:"url"`
							Body        string      `json:"body"`
							QueryParams [][2]string `json:"queryParams"`
						} `json:"fetch"`
					} `json:"actions"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, "dashboards/review-queue.json"), &d); err != nil {
		t.Fatal(err)
	}
	accepted := map[string]bool{"feedback_id": true, "verdict": true, "corrected_output": true, "note": true}
	verdicts := map[string]bool{}
	for _, p := range d.Panels {
		if p.Title != "Awaiting review" {
			continue
		}
		for _, a := range p.FieldConfig.Defaults.Actions {
			f := a.Fetch
			if a.Type != "fetch" || f.Method != "POST" || f.URL != "/api/datasources/uid/${datasource}/resources/review" || f.Body != "" {
				t.Errorf("action %s: %+v", a.Title, a)
			}
			params := map[string]string{}
			for _, kv := range f.QueryParams {
				if !accepted[kv[0]] {
					t.Errorf("action %s sends %s, which the review resource refuses", a.Title, kv[0])
				}
				params[kv[0]] = kv[1]
			}
			if params["feedback_id"] != "${__data.fields.id}" {
				t.Errorf("action %s: feedback_id %q, want the row's id", a.Title, params["feedback_id"])
			}
			verdicts[params["verdict"]] = true
			if params["verdict"] == "corrected" && params["corrected_output"] != "${corrected_output}" {
				t.Errorf("Correct does not send the typed output: %v", params)
			}
			for _, v := range a.Variables {
				if params[v["key"]] != "${"+v["key"]+"}" {
					t.Errorf("action %s: variable %s is not sent", a.Title, v["key"])
				}
			}
		}
	}
	if len(verdicts) != 3 || !verdicts["confirmed"] || !verdicts["rejected"] || !verdicts["corrected"] {
		t.Fatalf("verdicts offered: %v", verdicts)
	}
}
