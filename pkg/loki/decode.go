package loki

import "github.com/feedbackloop/modelfeedback/pkg/read"

// DecodeEntries is what Feedback does with a log query's answer once it is
// read: the entries, newest first, and the answer's statistics. It is the
// measured path of the conversion benchmarks (scripts/bench.sh).
func DecodeEntries(body []byte) ([]read.Entry, read.Meta, error) {
	resp, err := parseLogResponse(body)
	if err != nil {
		return nil, read.Meta{}, err
	}
	entries, _, err := toEntries(resp)
	if err != nil {
		return nil, read.Meta{}, err
	}
	read.SortEntries(entries)
	return entries, read.Meta{Stats: resp.Stats()}, nil
}

// DecodeSeries is what Timeseries does with a range query's answer once it
// is read: the series of q's groups and the per-step totals.
func DecodeSeries(body []byte, q read.Query) ([]read.Series, map[int64]float64, error) {
	resp, err := parseResponse(body)
	if err != nil {
		return nil, nil, err
	}
	ms, err := resp.Metric()
	if err != nil {
		return nil, nil, err
	}
	series, totals := toSeries(q, ms)
	return series, totals, nil
}
