package plugin

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/loki/lokitest"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// benchStreams builds a 5,000-line streams answer from the corpus' feedback
// lines, spread over the streams they belong to, shaped like Loki's.
func benchStreams(b *testing.B) []byte {
	b.Helper()
	f, err := os.Open(filepath.Join(lokitest.Dir(), "events.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(`"kind":"feedback"`)) {
			lines = append(lines, sc.Text())
		}
	}
	type stream struct {
		Stream map[string]string `json:"stream"`
		Values [][2]string       `json:"values"`
	}
	byVersion := map[string]*stream{}
	var order []string
	base := time.Unix(0, 1795176000000000000)
	for i := 0; i < 5000; i++ {
		line := lines[i%len(lines)]
		var e struct {
			Model     struct{ ID, Version string } `json:"model"`
			Sentiment string                       `json:"sentiment"`
		}
		_ = json.Unmarshal([]byte(line), &e)
		k := e.Model.Version + "/" + e.Sentiment
		s, ok := byVersion[k]
		if !ok {
			s = &stream{Stream: map[string]string{"service_name": "model-feedback", "kind": "feedback", "model_id": e.Model.ID, "model_version": e.Model.Version, "sentiment": e.Sentiment}}
			byVersion[k] = s
			order = append(order, k)
		}
		s.Values = append(s.Values, [2]string{strconv.FormatInt(base.Add(-time.Duration(i)*time.Second).UnixNano(), 10), line})
	}
	result := make([]*stream, len(order))
	for i, k := range order {
		result[i] = byVersion[k]
	}
	body, err := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "streams", "result": result, "stats": map[string]any{"summary": map[string]float64{"execTime": 0.1}}}})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchMatrix builds a 500-series × 100-point matrix answer.
func benchMatrix() []byte {
	var buf bytes.Buffer
	buf.WriteString(`{"status":"success","data":{"resultType":"matrix","result":[`)
	for s := 0; s < 500; s++ {
		if s > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"metric":{"model_version":"2026-11-%02d.%d","sentiment":"negative"},"values":[`, s%30+1, s)
		for p := 0; p < 100; p++ {
			if p > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, `[%d,"%d"]`, 1795154400+p*60, (s*7+p)%13)
		}
		buf.WriteString(`]}`)
	}
	buf.WriteString(`],"stats":{"summary":{"execTime":0.1}}}}`)
	return buf.Bytes()
}

// The baselines only decode the bytes into the natural Go shape of the
// answer; the conversion benchmarks do everything the plugin does after the
// HTTP read. Their ratio is the cost of our conversion (scripts/bench.sh).

// perByte runs fn b.N times over body, reporting throughput and allocations.
func perByte(b *testing.B, body []byte, fn func() error) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLokiStreamsDecodeOnly(b *testing.B) {
	body := benchStreams(b)
	perByte(b, body, func() error {
		var r struct {
			Data struct {
				Result []struct {
					Stream map[string]string `json:"stream"`
					Values [][2]string       `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		return json.Unmarshal(body, &r)
	})
}

func BenchmarkLokiStreamsToLogFrame(b *testing.B) {
	body := benchStreams(b)
	perByte(b, body, func() error {
		f, err := logFrameFromBody(body)
		if err == nil && f.Rows() != 5000 {
			err = fmt.Errorf("%d rows", f.Rows())
		}
		return err
	})
}

func BenchmarkLokiMatrixDecodeOnly(b *testing.B) {
	body := benchMatrix()
	perByte(b, body, func() error {
		var r struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Values [][2]any          `json:"values"`
				} `json:"result"`
			} `json:"data"`
		}
		return json.Unmarshal(body, &r)
	})
}

func BenchmarkLokiMatrixToTimeseriesFrames(b *testing.B) {
	body := benchMatrix()
	q := query.Query{Type: query.Timeseries, Query: read.Query{GroupBy: []string{"model_version", "sentiment"},
		From: time.Unix(1795154400, 0), To: time.Unix(1795154400+99*60, 0), Interval: time.Minute}}
	perByte(b, body, func() error {
		fs, err := seriesFramesFromBody(body, q)
		if err == nil && len(fs) != 500 {
			err = fmt.Errorf("%d frames", len(fs))
		}
		return err
	})
}

// logFrameFromBody is the plugin's path from Loki's bytes to the log frame.
func logFrameFromBody(body []byte) (*data.Frame, error) {
	entries, meta, err := loki.DecodeEntries(body)
	if err != nil {
		return nil, err
	}
	return FeedbackFrame(entries, Links{DatasourceUID: "x"}, meta), nil
}

// seriesFramesFromBody is the plugin's path from Loki's bytes to the
// timeseries frames.
func seriesFramesFromBody(body []byte, q query.Query) ([]*data.Frame, error) {
	series, totals, err := loki.DecodeSeries(body, q.Query)
	if err != nil {
		return nil, err
	}
	return TimeseriesFrames(q.GroupBy, series, read.NewGrid(q.From, q.To, q.Step()), false, totals, read.Meta{}), nil
}
