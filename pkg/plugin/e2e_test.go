package plugin_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/experimental"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/plugin"
)

var update = plugin.Update

const pluginID = "feedbackloop-modelfeedback-datasource"

var (
	winFrom = time.Unix(0, 1795154400000000000).UTC()
	winTo   = time.Unix(0, 1795176000000000000).UTC()
)

const allTagsJSON = `["hallucination","factually_incorrect","formatting_error","latency","bias","offensive","harmful","not_helpful","other","outdated_rates","biased_tone"]`

// binary is the plugin executable built once for all end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "gpx")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gpx_modelfeedback")
	build := exec.Command("go", "build", "-o", binary, "../") // pkg/ holds main.go
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the plugin binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	for _, f := range sharedCleanups {
		f()
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// pluginClient holds the three gRPC services Grafana dispenses from a backend
// data source plugin.
type pluginClient struct {
	data        pluginv2.DataClient
	diagnostics pluginv2.DiagnosticsClient
	resource    pluginv2.ResourceClient
}

// start launches the binary the way Grafana does: go-plugin's handshake with
// Grafana's magic cookie, protocol version 2, gRPC only.
func start(t *testing.T) *pluginClient {
	t.Helper()
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  grpcplugin.ProtocolVersion,
			MagicCookieKey:   grpcplugin.MagicCookieKey,
			MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		VersionedPlugins: map[int]goplugin.PluginSet{grpcplugin.ProtocolVersion: {
			"data":        &grpcplugin.DataGRPCPlugin{},
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
		}},
		Cmd:              exec.Command(binary),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		StartTimeout:     30 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	pc := &pluginClient{}
	for name, dst := range map[string]any{"data": &pc.data, "diagnostics": &pc.diagnostics, "resource": &pc.resource} {
		raw, err := rpc.Dispense(name)
		if err != nil {
			t.Fatalf("dispense %s: %v", name, err)
		}
		switch d := dst.(type) {
		case *pluginv2.DataClient:
			*d = raw.(pluginv2.DataClient)
		case *pluginv2.DiagnosticsClient:
			*d = raw.(pluginv2.DiagnosticsClient)
		case *pluginv2.ResourceClient:
			*d = raw.(pluginv2.ResourceClient)
		}
	}
	return pc
}

// settingsVersion stands for Grafana's "updated" stamp: the SDK caches one
// instance per data source until that stamp changes.
var settingsVersion int64

func pluginContext(jsonData string, secure map[string]string) backend.PluginContext {
	settingsVersion++
	return backend.PluginContext{
		OrgID:    1,
		PluginID: pluginID,
		User:     &backend.User{Login: "admin", Role: "Admin"},
		DataSourceInstanceSettings: &backend.DataSourceInstanceSettings{
			ID: 7, UID: "fl-uid", Name: "Feedback Loop", Type: pluginID,
			JSONData: json.RawMessage(jsonData), DecryptedSecureJSONData: secure, Updated: time.Unix(settingsVersion, 0),
		},
	}
}

func replayServer(t *testing.T) *lokitest.Server {
	t.Helper()
	srv, err := lokitest.New(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func (pc *pluginClient) query(t *testing.T, pctx backend.PluginContext, headers map[string]string, queries ...backend.DataQuery) *backend.QueryDataResponse {
	t.Helper()
	req := &backend.QueryDataRequest{PluginContext: pctx, Queries: queries, Headers: headers}
	resp, err := pc.data.QueryData(context.Background(), backend.ToProto().QueryDataRequest(req))
	if err != nil {
		t.Fatalf("QueryData over gRPC: %v", err)
	}
	out, err := backend.FromProto().QueryDataResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// target builds a DataQuery as Grafana sends it from a panel: queryType is
// both a top-level field and in the JSON.
func target(refID, js string, interval time.Duration) backend.DataQuery {
	var m map[string]any
	_ = json.Unmarshal([]byte(js), &m)
	qt, _ := m["queryType"].(string)
	m["refId"] = refID
	m["datasource"] = map[string]string{"type": pluginID, "uid": "fl-uid"}
	m["intervalMs"] = interval.Milliseconds()
	m["maxDataPoints"] = 1200
	b, _ := json.Marshal(m)
	return backend.DataQuery{RefID: refID, QueryType: qt, JSON: b, Interval: interval, MaxDataPoints: 1200,
		TimeRange: backend.TimeRange{From: winFrom, To: winTo}}
}

func TestBinaryAnswersEveryQueryTypeFromRecordedLoki(t *testing.T) {
	srv := replayServer(t)
	pc := start(t)
	pctx := pluginContext(`{"loki":{"url":"`+srv.URL+`"}}`, nil)
	allTags := allTagsJSON
	// golden names the in-process golden (testdata/golden/loki) the binary
	// must answer exactly, but for the refId the protocol adds.
	cases := []struct {
		name     string
		query    string
		interval time.Duration
		golden   string
	}{
		{"breakdown_by_version", `{"queryType":"breakdown","groupBy":["model_version"]}`, time.Minute, "breakdown_by_version"},
		{"breakdown_by_tag", `{"queryType":"breakdown","groupBy":["tag"],"tags":` + allTags + `}`, time.Minute, "breakdown_by_tag"},
		{"timeseries_by_version", `{"queryType":"timeseries","groupBy":["model_version"]}`, time.Hour, "timeseries_by_version_1h"},
		{"timeseries_by_version_tag", `{"queryType":"timeseries","groupBy":["model_version","tag"],"tags":` + allTags + `}`, time.Hour, "timeseries_by_version_tag_1h"},
		{"feedback_tags_any", `{"queryType":"feedback","tags":["hallucination","bias"]}`, time.Minute, "feedback_tags_any"},
		{"feedback_search", `{"queryType":"feedback","search":"refund"}`, time.Minute, "feedback_search"},
	}
	var queries []backend.DataQuery
	for _, c := range cases {
		queries = append(queries, target(c.name, c.query, c.interval))
	}
	// One request with every query, as a dashboard sends them.
	resp := pc.query(t, pctx, nil, queries...)
	if missed := srv.Missed(); len(missed) > 0 {
		t.Fatalf("the binary sent requests that differ from the recorded ones:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
	}
	for _, c := range cases {
		res, ok := resp.Responses[c.name]
		if !ok {
			t.Fatalf("no response for %s", c.name)
		}
		if res.Error != nil {
			t.Fatalf("%s: %v", c.name, res.Error)
		}
		if len(res.Frames) == 0 {
			t.Fatalf("%s: no frames", c.name)
		}
		for _, f := range res.Frames {
			if f.Meta == nil || f.Meta.ExecutedQueryString == "" {
				t.Errorf("%s: frame without ExecutedQueryString", c.name)
			}
		}
		for _, f := range res.Frames {
			if f.RefID != c.name {
				t.Errorf("%s: frame refId %q", c.name, f.RefID)
			}
			f.RefID = ""
		}
		// Never -update: the in-process test owns these files.
		experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden", "loki"), c.golden, &res, false)
	}
}

func TestBinaryReportsBadQueriesAsDownstreamErrors(t *testing.T) {
	srv := replayServer(t)
	pc := start(t)
	pctx := pluginContext(`{"loki":{"url":"`+srv.URL+`"}}`, nil)
	resp := pc.query(t, pctx, nil,
		target("unknownType", `{"queryType":"sentiment-magic"}`, time.Minute),
		target("unknownField", `{"queryType":"breakdown","groupBy":["user_email"]}`, time.Minute),
		target("typo", `{"queryType":"breakdown","groupby":["model_version"]}`, time.Minute),
		target("lokiError", `{"queryType":"timeseries","groupBy":["model_version"]}`, 7*time.Minute),
		target("esUnconfigured", `{"queryType":"breakdown","source":"elasticsearch"}`, time.Minute),
	)
	want := map[string]string{
		"unknownType":    `query field "queryType": unknown query type "sentiment-magic"`,
		"unknownField":   `query field "groupBy[0]": unknown field "user_email"`,
		"typo":           `query field "groupby": unknown query field`,
		"lokiError":      `Loki answered HTTP 404`,
		"esUnconfigured": `setting elasticsearch.url`,
	}
	for ref, msg := range want {
		res := resp.Responses[ref]
		if res.Error == nil || !strings.Contains(res.Error.Error(), msg) {
			t.Errorf("%s: error %v, want it to contain %q", ref, res.Error, msg)
			continue
		}
		if res.ErrorSource != backend.ErrorSourceDownstream {
			t.Errorf("%s: error source %q, want downstream", ref, res.ErrorSource)
		}
	}
}

// Alert rules send no user, no variables, a huge maxDataPoints and a
// 1 s interval; the request must still run and give alertable frames.
func TestBinaryAnswersAlertRuleRequest(t *testing.T) {
	srv := replayServer(t)
	pc := start(t)
	pctx := pluginContext(`{"loki":{"url":"`+srv.URL+`"}}`, nil)
	pctx.User = nil
	q := backend.DataQuery{RefID: "A", QueryType: "breakdown", MaxDataPoints: 43200, Interval: time.Second,
		TimeRange: backend.TimeRange{From: winFrom, To: winTo},
		JSON:      json.RawMessage(`{"refId":"A","queryType":"breakdown","groupBy":["model_version"],"datasource":{"uid":"fl-uid"},"intervalMs":1000,"maxDataPoints":43200}`)}
	resp := pc.query(t, pctx, map[string]string{"FromAlert": "true"}, q)
	res := resp.Responses["A"]
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	f := res.Frames[0]
	if f.Meta.Type != "numeric-long" {
		t.Fatalf("frame type %q, want numeric-long (alertable)", f.Meta.Type)
	}
	got := map[string]float64{}
	for i := 0; i < f.Rows(); i++ {
		got[f.Fields[0].At(i).(string)] = f.Fields[1].At(i).(float64)
	}
	// Feedback per version in the corpus (fixtures README table).
	want := map[string]float64{"2026-11-01.1": 22, "2026-11-10.2": 50, "2026-11-18.3": 23, "2026-11-05.1": 45}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
}

func TestBinaryHealthCheck(t *testing.T) {
	srv := replayServer(t)
	pc := start(t)
	check := func(pctx backend.PluginContext) *backend.CheckHealthResult {
		t.Helper()
		resp, err := pc.diagnostics.CheckHealth(context.Background(),
			&pluginv2.CheckHealthRequest{PluginContext: backend.ToProto().PluginContext(pctx)})
		if err != nil {
			t.Fatal(err)
		}
		return backend.FromProto().CheckHealthResponse(resp)
	}
	ok := check(pluginContext(`{"loki":{"url":"`+srv.URL+`"}}`, nil))
	if ok.Status != backend.HealthStatusOk || !strings.Contains(ok.Message, "Loki: OK, 23 feedback stream(s)") {
		t.Errorf("healthy Loki: %v %q", ok.Status, ok.Message)
	}
	// A selector matching nothing: Loki answers, but there is no feedback.
	empty := check(pluginContext(`{"loki":{"url":"`+srv.URL+`","selector":"{service_name=\"nothing-here\"}"}}`, nil))
	if empty.Status != backend.HealthStatusError || !strings.Contains(empty.Message, "Loki") || !strings.Contains(empty.Message, "404") {
		t.Errorf("unknown selector: %v %q", empty.Status, empty.Message)
	}
	down := check(pluginContext(`{"loki":{"url":"http://127.0.0.1:1"}}`, nil))
	if down.Status != backend.HealthStatusError || !strings.Contains(down.Message, "unreachable") {
		t.Errorf("unreachable Loki: %v %q", down.Status, down.Message)
	}
	none := check(pluginContext(`{}`, nil))
	if none.Status != backend.HealthStatusError || !strings.Contains(none.Message, "set loki.url or elasticsearch.url") {
		t.Errorf("nothing configured: %v %q", none.Status, none.Message)
	}
	bad := check(pluginContext(`{"loki":{"url":"loki:3100"}}`, nil))
	if bad.Status != backend.HealthStatusError || !strings.Contains(bad.Message, "loki.url") {
		t.Errorf("bad URL: %v %q", bad.Status, bad.Message)
	}
}

func (pc *pluginClient) resourceCall(t *testing.T, pctx backend.PluginContext, path string) (int, string) {
	t.Helper()
	stream, err := pc.resource.CallResource(context.Background(), backend.ToProto().CallResourceRequest(&backend.CallResourceRequest{
		PluginContext: pctx, Path: strings.SplitN(path, "?", 2)[0], Method: "GET", URL: path,
	}))
	if err != nil {
		t.Fatal(err)
	}
	var status int
	var body []byte
	for {
		r, err := stream.Recv()
		if err != nil {
			break
		}
		if r.Code != 0 {
			status = int(r.Code)
		}
		body = append(body, r.Body...)
	}
	return status, strings.TrimSpace(string(body))
}

func TestBinaryResources(t *testing.T) {
	srv := replayServer(t)
	pc := start(t)
	pctx := pluginContext(`{"loki":{"url":"`+srv.URL+`"}}`, nil)
	win := fmt.Sprintf("from=%d&to=%d", winFrom.UnixMilli(), winTo.UnixMilli())
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"model-ids?" + win, 200, `["support-bot","tax-assistant"]`},
		{"model-versions?model_id=tax-assistant&" + win, 200, `["2026-11-05.1"]`},
		{"model-versions?" + win, 200, `["2026-11-01.1","2026-11-05.1","2026-11-10.2","2026-11-18.3"]`},
		{"field-values?field=reason&" + win, 200, `["bias","factually_incorrect","formatting_error","hallucination","harmful","latency","not_helpful","other"]`},
		{"field-values?field=sentiment&" + win, 200, `["negative","neutral","positive"]`},
		{"fields?" + win, 200, `["attributes.channel","attributes.domain","attributes.jurisdiction","correlation_id","effective_version","feedback_id","model_id","model_version","prompt_version","reason","sentiment","severity","source","tag","user_geo","user_id","user_role"]`},
		{"field-values?field=password&" + win, 400, ""},
		{"field-values?" + win, 400, ""},
		{"model-ids?from=yesterday", 400, ""},
		{"model-ids?source=mysql&" + win, 400, ""},
		{"no-such-thing", 404, ""},
	}
	for _, c := range cases {
		status, body := pc.resourceCall(t, pctx, c.path)
		if status != c.status {
			t.Errorf("%s: HTTP %d (%s), want %d", c.path, status, body, c.status)
			continue
		}
		if c.body != "" && body != c.body {
			t.Errorf("%s:\n got %s\nwant %s", c.path, body, c.body)
		}
		if c.status >= 400 && !strings.Contains(body, `"error"`) {
			t.Errorf("%s: error without a message: %s", c.path, body)
		}
	}
	if missed := srv.Missed(); len(missed) > 0 {
		t.Fatalf("resource requests without a recorded answer:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
	}
}

func TestBinaryTraceDrillDown(t *testing.T) {
	srv := replayServer(t)
	pc := start(t)
	pctx := pluginContext(`{"loki":{"url":"`+srv.URL+`"},"trace":{"tempoDatasourceUid":"tempo-uid"}}`, nil)
	resp := pc.query(t, pctx, nil, target("T", `{"queryType":"trace","correlationId":"4bf92f3577b34da6a3ce929d0e0e4736"}`, time.Minute))
	res := resp.Responses["T"]
	if res.Error != nil {
		t.Fatal(res.Error)
	}
	if missed := srv.Missed(); len(missed) > 0 {
		t.Fatalf("unrecorded requests:\n%s", lokitest.Decode(strings.Join(missed, "\n")))
	}
	if len(res.Frames) != 2 || res.Frames[0].Name != "snapshot" || res.Frames[1].Name != "feedback" {
		t.Fatalf("frames %v", res.Frames)
	}
	snap := res.Frames[0]
	if snap.Rows() != 1 {
		t.Fatalf("snapshot rows %d", snap.Rows())
	}
	get := func(name string) any {
		f, _ := snap.FieldByName(name)
		return f.At(0)
	}
	if get("model_version") != "2026-11-10.2" || get("output") != "Refunds are processed automatically within 24 hours under policy RF-99." ||
		get("params") != `{"temperature":0.9,"top_p":1.0,"max_tokens":1024}` || get("prompt_version") != "sp-2" {
		t.Errorf("snapshot %v %v %v %v", get("model_version"), get("output"), get("params"), get("prompt_version"))
	}
	corr, _ := snap.FieldByName("correlation_id")
	if corr.Config == nil || len(corr.Config.Links) != 1 || corr.Config.Links[0].Internal.DatasourceUID != "tempo-uid" {
		t.Errorf("Tempo link missing: %+v", corr.Config)
	}
	events := res.Frames[1]
	var kinds []string
	for i := 0; i < events.Rows(); i++ {
		var l map[string]string
		_ = json.Unmarshal(events.Fields[4].At(i).(json.RawMessage), &l)
		kinds = append(kinds, l["kind"])
	}
	// The corpus README: thumbs-down, modal, review, escalation, notification.
	if strings.Join(kinds, ",") != "feedback,feedback,review,escalation,notification" {
		t.Errorf("events in time order: %v", kinds)
	}
	experimental.CheckGoldenJSONResponse(t, filepath.Join("testdata", "golden"), "trace_showcase", &res, *update)
}
