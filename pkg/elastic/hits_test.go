package elastic

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The one-pass reader must read every search answer exactly as
// encoding/json does.
func TestDecodeHitsMatchesEncodingJSON(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "es", "*.json"))
	bodies := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"_shards"`) {
			bodies[filepath.Base(f)] = b
		}
	}
	for name, b := range map[string]string{
		"spaces and unknown keys": " {\n \"took\" : 3 , \"fields\":{\"a\":[1,{\"b\":\"}]\\\"\"}]}, \"hits\" : { \"hits\" : [ { \"_id\" : \"x\\\"y\" , \"_source\" : {\"kind\":\"feedback\"} , \"sort\" : [ 1 , \"a\" , null ] } ] , \"total\" : 5 } , \"_shards\":{\"total\":1} }\n",
		"empty hits":              `{"hits":{"hits":[]}}`,
		"escaped key":             `{"hits":{"hi\u0074s":[{"_id":"a"}]}}`,
	} {
		bodies[name] = []byte(b)
	}
	if len(bodies) < 10 {
		t.Fatalf("only %d bodies", len(bodies))
	}
	for name, b := range bodies {
		got, err := decodeHits(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var want searchResponse
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// A RawMessage holds the same bytes either way, compacted or not.
		for _, r := range []*searchResponse{got, &want} {
			for i := range r.Hits.Hits {
				r.Hits.Hits[i].Source = json.RawMessage(compact(t, r.Hits.Hits[i].Source))
				for j := range r.Hits.Hits[i].Sort {
					r.Hits.Hits[i].Sort[j] = json.RawMessage(compact(t, r.Hits.Hits[i].Sort[j]))
				}
			}
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%s:\n got  %+v\n want %+v", name, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"hits":{"hits":[{"_source":{"a":1}`, `{"took":"x"}`, `[]`, `{"hits":{"hits":[1]}} x`} {
		if _, err := decodeHits([]byte(bad)); err == nil {
			t.Errorf("%q decoded without error", bad)
		}
	}
}

func compact(t *testing.T, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return canonical(t, b)
}
