package elastic

// Internals for the tests of package elastic_test, which turn answers into
// the data source's frames and so import package plugin (which imports this
// package: an internal test could not).

type (
	Recorded = recorded
	FakeES   = fakeES
	ESDoc    = esDoc
)

var (
	WinFrom, WinTo       = winFrom, winTo
	Update               = update
	NewFakeES            = newFakeES
	NewTestClient        = newTestClient
	ParseQuery           = parseQuery
	ReadTestdata         = readTestdata
	JSONUnmarshal        = jsonUnmarshal
	LoadEvents           = loadEvents
	TimeseriesResult     = timeseriesResult
	DecodeHits           = decodeHits
	DecodeSearch         = decodeSearch
	HitsToEntries        = hitsToEntries
	HistOffsetMs         = int64(histOffsetMs)
	HistogramAfterGroups = histogramAfterGroups
)

func (f *fakeES) Requests() []recorded { return f.requests() }

// SetPageSize sets how many hits one search asks for.
func (c *Client) SetPageSize(n int) { c.pageSize = n }
