package elastic

import (
	"bytes"
	"encoding/json"
	"errors"
)

// decodeHits reads a feedback-list answer. encoding/json would scan the
// whole body twice (validation, then decoding, where each _source is
// scanned again to be copied as a RawMessage) before the event parser
// reads every _source a third time; on 5,000 hits that alone cost more
// than decoding the body into map/any. Here one pass finds the values
// this package needs and hands out sub-slices of the body: each _source
// is validated by the strict event parser, and the small sections
// (_shards, hits.total, sort values) by encoding/json. A body this pass
// cannot follow is decoded by encoding/json instead, so odd but valid
// answers still work and invalid ones fail with encoding/json's message.
func decodeHits(body []byte) (*searchResponse, error) { return decodeSearch(body, true) }

// decodeSearch reads any search answer; withHits takes the one-pass reader,
// which only pays off when there are hits: for an aggregation answer it
// would add a pass to encoding/json's.
func decodeSearch(body []byte, withHits bool) (*searchResponse, error) {
	var r searchResponse
	if withHits {
		if err := scanHits(body, &r); err == nil {
			return &r, nil
		}
		r = searchResponse{}
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

var errScan = errors.New("not a search answer this scanner follows")

func scanHits(b []byte, r *searchResponse) error {
	i, err := object(b, skipSpace(b, 0), func(key []byte, v []byte) error {
		switch string(key) {
		case "took":
			return json.Unmarshal(v, &r.Took)
		case "timed_out":
			return json.Unmarshal(v, &r.TimedOut)
		case "_shards":
			return json.Unmarshal(v, &r.Shards)
		case "aggregations":
			return json.Unmarshal(v, &r.Aggregations)
		case "hits":
			_, err := object(v, 0, func(key []byte, v []byte) error {
				switch string(key) {
				case "total":
					return r.Hits.Total.UnmarshalJSON(v)
				case "hits":
					return scanHitList(v, r)
				}
				return nil
			})
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if skipSpace(b, i) != len(b) {
		return errScan
	}
	return nil
}

func scanHitList(v []byte, r *searchResponse) error {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return errScan
	}
	i = skipSpace(v, i+1)
	if i < len(v) && v[i] == ']' {
		r.Hits.Hits = []hit{}
		return nil
	}
	for {
		var h hit
		end, err := object(v, i, func(key []byte, val []byte) error {
			var err error
			switch string(key) {
			case "_index":
				h.Index, err = plainString(val)
			case "_id":
				h.ID, err = plainString(val)
			case "_source":
				h.Source = val
			case "sort":
				h.Sort, err = rawArray(val)
			}
			return err
		})
		if err != nil {
			return err
		}
		r.Hits.Hits = append(r.Hits.Hits, h)
		i = skipSpace(v, end)
		if i >= len(v) {
			return errScan
		}
		if v[i] == ']' {
			return nil
		}
		if v[i] != ',' {
			return errScan
		}
		i = skipSpace(v, i+1)
	}
}

// object walks the JSON object starting at b[i], calling f with each key
// and the raw value,
// and returns the index after the closing brace.
func object(b []byte, i int, f func(key, val []byte) error) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return 0, errScan
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errScan
		}
		kEnd, err := skipString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[i+1 : kEnd-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			return 0, errScan // an escaped key: let encoding/json read it
		}
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return 0, errScan
		}
		i = skipSpace(b, i+1)
		vEnd, err := skipValue(b, i)
		if err != nil {
			return 0, err
		}
		if err := f(key, b[i:vEnd]); err != nil {
			return 0, err
		}
		i = skipSpace(b, vEnd)
		if i >= len(b) {
			return 0, errScan
		}
		switch b[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = skipSpace(b, i+1)
		default:
			return 0, errScan
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errScan
}

// skipValue returns the index after the value starting at b[i]. Nested
// values are only matched bracket for bracket; whatever is used of them is
// validated by its own decoder.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errScan
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errScan
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errScan
	}
	return j, nil
}

// plainString reads a JSON string without escapes directly, as ids and
// index names are; anything else goes through encoding/json.
func plainString(v []byte) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 {
		for _, c := range v[1 : len(v)-1] {
			if c < 0x20 || c == '"' {
				return "", errScan
			}
		}
		return string(v[1 : len(v)-1]), nil
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err
}

// rawArray splits a JSON array into its raw elements, which stay sub-slices
// of the body. Each sort value is checked where it is read (sortTime) or
// sent back verbatim as search_after.
func rawArray(v []byte) ([]json.RawMessage, error) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '[' {
		return nil, errScan
	}
	out := make([]json.RawMessage, 0, 3)
	i = skipSpace(v, i+1)
	if i < len(v) && v[i] == ']' {
		return out, nil
	}
	for {
		end, err := skipValue(v, i)
		if err != nil {
			return nil, err
		}
		if !json.Valid(v[i:end]) {
			return nil, errScan
		}
		out = append(out, json.RawMessage(v[i:end]))
		i = skipSpace(v, end)
		if i >= len(v) {
			return nil, errScan
		}
		if v[i] == ']' {
			return out, nil
		}
		if v[i] != ',' {
			return nil, errScan
		}
		i = skipSpace(v, i+1)
	}
}
