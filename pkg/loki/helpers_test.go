package loki

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/query"
)

// The corpus window of the recorded fixtures.
var (
	winFrom = time.Unix(0, 1795154400000000000).UTC()
	winTo   = time.Unix(0, 1795176000000000000).UTC()
)

func mustQuery(t testing.TB, js string, interval time.Duration) query.Query {
	t.Helper()
	q, err := query.Parse(backend.DataQuery{RefID: "A", JSON: json.RawMessage(js), Interval: interval,
		TimeRange: backend.TimeRange{From: winFrom, To: winTo}}, query.SourceLoki)
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return q
}

func replay(t testing.TB) (*lokitest.Server, *Client) {
	t.Helper()
	srv, err := lokitest.New(lokitest.Dir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := New(models.Loki{URL: srv.URL, Selector: models.DefaultLokiSelector})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}
