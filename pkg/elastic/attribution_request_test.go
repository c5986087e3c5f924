package elastic

import (
	"context"
	"testing"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// The exact bodies of the attribution dimensions, the edit measures and
// the versions plan's release and tag searches.
func TestAttributionRequests(t *testing.T) {
	from, to := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	measured := func(js string, m read.Measure) read.Query {
		q := parseQuery(t, js, time.Minute).Query
		q.Measure = m
		return q
	}
	for _, tc := range []struct {
		name string
		call func(c *Client) error
		body string
	}{
		{"params and prompt_version", func(c *Client) error {
			_, _, err := c.Breakdown(context.Background(), parseQuery(t, `{"queryType":"breakdown","groupBy":["params.temperature"],"filters":[{"key":"prompt_version","operator":"=","value":"sp-2"},{"key":"effective_version","operator":"!=","value":"ev-1"}]}`, time.Minute).Query)
			return err
		}, `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `,{"term":{"context.prompt_version":"sp-2"}}],
			"must_not":[{"term":{"model.effective_version":"ev-1"}}]}},
			"aggs":{"by":{"terms":{"field":"context.params.temperature","size":10000,"missing":""}}}}`},
		{"edit similarity: a sum in every group", func(c *Client) error {
			_, _, err := c.Breakdown(context.Background(), measured(`{"queryType":"breakdown","groupBy":["params.verbosity"]}`, read.MeasureEditSimilarity))
			return err
		}, `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `,{"exists":{"field":"edit.similarity"}}]}},
			"aggs":{"by":{"terms":{"field":"context.params.verbosity","size":10000,"missing":""},"aggs":{"sum":{"sum":{"field":"edit.similarity"}}}}}}`},
		{"edit length ratio without groups: the script's sum at the top", func(c *Client) error {
			_, _, err := c.Breakdown(context.Background(), measured(`{"queryType":"breakdown"}`, read.MeasureEditLengthRatio))
			return err
		}, `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `,{"exists":{"field":"edit.edited_chars"}},{"range":{"edit.original_chars":{"gt":0}}}]}},
			"aggs":{"sum":{"sum":{"script":{"lang":"painless","source":"doc['edit.edited_chars'].value / (double) doc['edit.original_chars'].value"}}}}}`},
		{"release times", func(c *Client) error {
			_, _, err := c.Releases(context.Background(), read.Query{Kind: "feedback", From: from, To: to, Filters: []read.Filter{{Key: "model_version", Operator: "=~", Value: "2026-11-.*"}}})
			return err
		}, `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `,{"regexp":{"model.version":{"value":"2026\\-11\\-(.)*","flags":"NONE"}}}]}},
			"aggs":{"by":{"terms":{"field":"model.id","size":100,"missing":""},"aggs":{"by":{"terms":{"field":"model.version","size":100,"missing":""},
			"aggs":{"released":{"min":{"field":"model.released_at"}},"first":{"min":{"field":"timestamp"}}}}}}}}`},
		{"tags per version", func(c *Client) error {
			_, _, err := c.VersionTags(context.Background(), parseQuery(t, `{"queryType":"breakdown","tags":["bias"]}`, time.Minute).Query)
			return err
		}, `{"size":0,"track_total_hits":true,"query":{"bool":{"filter":[` + rangeInstant + `,` + kindFeedback + `,{"terms":{"tags":["bias"]}}]}},
			"aggs":{"by":{"terms":{"field":"model.version","size":10000,"missing":""},"aggs":{"by":{"terms":{"field":"tags","size":1,"include":["bias"]}}}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := newFakeES(t, func(recorded) (int, []byte) { return 200, []byte(emptySearch) })
			c := newTestClient(t, es.URL)
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			reqs := es.requests()
			if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].URL() != searchURL {
				t.Fatalf("requests %+v, want one POST %s", reqs, searchURL)
			}
			assertJSON(t, "body", reqs[0].Body, tc.body)
		})
	}
}

// The client's script is the one the double runs (it refuses any other).
func TestLengthRatioScriptIsTheDoubles(t *testing.T) {
	if lengthRatioScript != "doc['edit.edited_chars'].value / (double) doc['edit.original_chars'].value" {
		t.Fatal(lengthRatioScript)
	}
}
