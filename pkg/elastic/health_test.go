package elastic

import (
	"context"
	"strings"
	"testing"
)

func TestCheckHealth(t *testing.T) {
	const mappingURL = "/model-feedback-*/_mapping/field/kind,model.version,sentiment,tags,timestamp"
	for _, tc := range []struct {
		name                     string
		info, mapping, search    string // testdata files ("" = not reached)
		infoStatus, searchStatus int
		ok                       bool
		want                     []string
	}{
		{name: "healthy", info: "es/info_8.json", mapping: "es/mapping_ok.json", search: "es/health_kinds.json", ok: true,
			want: []string{"Elasticsearch 8.15.0: OK, 140 feedback event(s) in the last 24 hours in model-feedback-* (kinds: feedback, interaction, review)"}},
		{name: "wrong credentials", info: "es/error_401_security.json", infoStatus: 401,
			want: []string{"Elasticsearch: Elasticsearch refused the credentials (HTTP 401"}},
		{name: "too old", info: "es/info_7_10.json",
			want: []string{"Elasticsearch 7.10.2 is not supported: use 7.17, 8.x or 9.x"}},
		{name: "no index", info: "es/info_8.json", mapping: "-{}",
			want: []string{`no index matches "model-feedback-*"`, "PUT _index_template/model-feedback"}},
		{name: "mapping does not fit", info: "es/info_8.json", mapping: "es/mapping_bad.json",
			want: []string{
				"model.version is text in model-feedback-2026.11.18 but must be keyword",
				"tags is text in model-feedback-2026.11.18, model-feedback-2026.11.19 but must be keyword",
				"timestamp is not mapped in model-feedback-2026.11.20",
				"To fix, install deploy/elasticsearch/index-template.json (PUT _index_template/model-feedback)",
			}},
		{name: "no recent events", info: "es/info_8.json", mapping: "es/mapping_ok.json", search: "-" + emptySearch,
			want: []string{"matches 2 index(es), but none holds events of the last 24 hours", "elasticsearch.timeField (timestamp)"}},
		{name: "no feedback", info: "es/info_8.json", mapping: "es/mapping_ok.json", search: "es/health_interactions_only.json",
			want: []string{`none of kind "feedback" (kinds: interaction)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			load := func(name string) []byte {
				if strings.HasPrefix(name, "-") {
					return []byte(name[1:])
				}
				return readTestdata(t, name)
			}
			es := newFakeES(t, func(r recorded) (int, []byte) {
				switch {
				case r.Method == "GET" && r.Path == "/":
					return max(tc.infoStatus, 200), load(tc.info)
				case r.Method == "GET" && r.Path == mappingURL:
					return 200, load(tc.mapping)
				case r.Method == "POST" && r.URL() == searchURL && tc.search != "":
					return max(tc.searchStatus, 200), load(tc.search)
				}
				t.Errorf("unexpected request %s %s", r.Method, r.URL())
				return 404, []byte(`{}`)
			})
			c := newTestClient(t, es.URL)
			msg, err := c.CheckHealth(context.Background())
			got := msg
			if err != nil {
				got = err.Error()
			}
			if (err == nil) != tc.ok {
				t.Errorf("ok = %v, want %v: %s", err == nil, tc.ok, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q\nlacks %q", got, w)
				}
			}
		})
	}
}
