package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

func parseModel(t *testing.T, target map[string]any) (Query, error) {
	t.Helper()
	b, err := json.Marshal(target)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(backend.DataQuery{RefID: "A", JSON: b, Interval: time.Minute,
		TimeRange: backend.TimeRange{From: from, To: to}}, "")
}

// listedInError reads the values an error message offers ("use a, b or c")
// so the published lists can be held against what validate accepts.
var useList = regexp.MustCompile(`use (?:one of )?(.*)$`)

func listedInError(t *testing.T, err error) []string {
	t.Helper()
	var qe *Error
	if !errors.As(err, &qe) {
		t.Fatalf("error %v is not a *query.Error", err)
	}
	m := useList.FindStringSubmatch(qe.Message)
	if m == nil {
		t.Fatalf("error %q offers no list of values", qe.Message)
	}
	parts := strings.Split(strings.ReplaceAll(m[1], " or ", ", "), ", ")
	sort.Strings(parts)
	return parts
}

func sortedStrings[T ~string](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = string(v)
	}
	sort.Strings(out)
	return out
}

// TestModelEnumsAreWhatParseAccepts: every published value parses, and the
// values the rejection of an unknown one offers are exactly the published
// list, so a value accepted in validate but not published (or the reverse)
// fails here.
func TestModelEnumsAreWhatParseAccepts(t *testing.T) {
	d := Describe()
	cases := []struct {
		field  string
		values []string
		target func(v string) map[string]any
	}{
		{"queryType", sortedStrings(d.QueryTypes), func(v string) map[string]any {
			return map[string]any{"queryType": v, "correlationId": "abc"}
		}},
		{"source", sortedStrings(d.Sources), func(v string) map[string]any { return map[string]any{"source": v} }},
		{"kind", sortedStrings(d.Kinds), func(v string) map[string]any { return map[string]any{"kind": v} }},
		{"sentiment", sortedStrings(d.Sentiments), func(v string) map[string]any { return map[string]any{"sentiment": v} }},
		{"metric", sortedStrings(d.Metrics), func(v string) map[string]any { return map[string]any{"metric": v} }},
		{"filters[0].operator", append([]string(nil), d.FilterOperators...), func(v string) map[string]any {
			return map[string]any{"filters": []map[string]string{{"key": "model_id", "operator": v, "value": "m"}}}
		}},
	}
	for _, c := range cases {
		for _, v := range c.values {
			if _, err := parseModel(t, c.target(v)); err != nil {
				t.Errorf("%s %q is published but Parse says %v", c.field, v, err)
			}
		}
		_, err := parseModel(t, c.target("no_such_value"))
		var qe *Error
		if !errors.As(err, &qe) || qe.Field != c.field {
			t.Fatalf("%s: unknown value not rejected by field: %v", c.field, err)
		}
		if c.field == "kind" {
			// The kind message does not list values; Kinds is the
			// feedback package's own list, checked there.
			if !reflect.DeepEqual(d.Kinds, feedback.Kinds) {
				t.Errorf("kinds %v, feedback.Kinds %v", d.Kinds, feedback.Kinds)
			}
			continue
		}
		want := append([]string(nil), c.values...)
		sort.Strings(want)
		if got := listedInError(t, err); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Parse offers %v, the model publishes %v", c.field, got, want)
		}
	}
}

func TestModelQueryFieldsAreParsedKeys(t *testing.T) {
	var keys []string
	for k := range rawKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	got := append([]string(nil), Describe().QueryFields...)
	sort.Strings(got)
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("published query fields %v, Parse knows %v", got, keys)
	}
	for _, k := range got {
		if _, err := parseModel(t, map[string]any{k: 12}); err != nil && strings.Contains(err.Error(), "unknown query field") {
			t.Errorf("%s: %v", k, err)
		}
	}
}

func TestModelFieldNames(t *testing.T) {
	d := Describe()
	placeholder, params := d.AttributesPrefix+"<key>", d.ParamsPrefix+"<key>"
	if got, want := append(append(append([]string(nil), d.GroupByFields...), d.FilterOnlyFields...), placeholder, params), storage.FieldNames(true); !reflect.DeepEqual(got, want) {
		t.Errorf("filter fields %v, storage.FieldNames(true) %v", got, want)
	}
	if got, want := append(append([]string(nil), d.GroupByFields...), placeholder, params), storage.FieldNames(false); !reflect.DeepEqual(got, want) {
		t.Errorf("groupBy fields %v, storage.FieldNames(false) %v", got, want)
	}
	for _, f := range d.FilterOnlyFields {
		if _, err := storage.LookupField(f, false); err == nil {
			t.Errorf("%s is published as filter-only but can be grouped by", f)
		}
	}
	key := regexp.MustCompile(d.AttributeKeyPattern)
	for _, k := range []string{"domain", "_x", "A1"} {
		if !key.MatchString(k) {
			t.Fatalf("pattern refuses %s", k)
		}
		if _, err := storage.LookupField(d.AttributesPrefix+k, false); err != nil {
			t.Errorf("attributes key %s: %v", k, err)
		}
	}
	for _, k := range []string{"1x", "a-b", "", strings.Repeat("a", 65)} {
		_, err := storage.LookupField(d.AttributesPrefix+k, true)
		if key.MatchString(k) || err == nil {
			t.Errorf("attributes key %q: pattern match %v, LookupField error %v; want both to refuse", k, key.MatchString(k), err)
		}
	}
}

func TestModelDefaultsAreParseDefaults(t *testing.T) {
	d := Describe().Defaults
	q, err := parseModel(t, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	got := Defaults{QueryType: q.Type, Source: q.Source, Kind: q.Kind, Metric: q.Metric, Limit: q.Limit}
	if got != d {
		t.Errorf("Parse defaults %+v, published %+v", got, d)
	}
}

func TestModelLimitsAreEnforced(t *testing.T) {
	l := Describe().Limits
	tags := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("t%d", i)
		}
		return out
	}
	filters := func(n int) []map[string]string {
		out := make([]map[string]string, n)
		for i := range out {
			out[i] = map[string]string{"key": "model_id", "operator": "=", "value": "m"}
		}
		return out
	}
	groupBy := func(n int) []string { return append(storage.FieldNames(false)[:n-1:n-1], "attributes.a") }
	cases := []struct {
		field string
		ok    map[string]any
		bad   map[string]any
	}{
		{"limit", map[string]any{"limit": l.MaxLimit}, map[string]any{"limit": l.MaxLimit + 1}},
		{"limit", map[string]any{"limit": l.MinLimit}, map[string]any{"limit": l.MinLimit - 1}},
		{"tags", map[string]any{"tags": tags(l.MaxTags)}, map[string]any{"tags": tags(l.MaxTags + 1)}},
		{"filters", map[string]any{"filters": filters(l.MaxFilters)}, map[string]any{"filters": filters(l.MaxFilters + 1)}},
		{"groupBy", map[string]any{"groupBy": groupBy(l.MaxGroupBy)}, map[string]any{"groupBy": groupBy(l.MaxGroupBy + 1)}},
		{"search", map[string]any{"search": strings.Repeat("s", l.MaxValueBytes)}, map[string]any{"search": strings.Repeat("s", l.MaxValueBytes+1)}},
	}
	for _, c := range cases {
		if _, err := parseModel(t, c.ok); err != nil {
			t.Errorf("%s at the limit: %v", c.field, err)
		}
		_, err := parseModel(t, c.bad)
		var qe *Error
		if !errors.As(err, &qe) || qe.Field != c.field {
			t.Errorf("%s over the limit: %v", c.field, err)
		}
	}
}

func TestModelPatterns(t *testing.T) {
	d := Describe()
	if d.TagPattern != "^[a-z][a-z0-9_]{0,39}$" {
		t.Errorf("tag pattern %s", d.TagPattern)
	}
	id := regexp.MustCompile(d.CorrelationIDPattern)
	for _, v := range []string{"4bf92f3577b34da6a3ce929d0e0e4736", "a.b:c-d_e"} {
		if _, err := parseModel(t, map[string]any{"queryType": "trace", "correlationId": v}); err != nil || !id.MatchString(v) {
			t.Errorf("%s: %v", v, err)
		}
	}
	if _, err := parseModel(t, map[string]any{"queryType": "trace", "correlationId": "a b"}); err == nil || id.MatchString("a b") {
		t.Errorf("correlation id with a space accepted")
	}
}
