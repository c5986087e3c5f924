package feedback

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeBatch checks that no input panics the decoder, that every error
// names an event inside the request, and that every accepted event survives
// Marshal → Decode unchanged (and Marshal is stable), which is what lets the
// collector store the re-encoded line instead of the client's bytes.
// Seeds live in testdata/fuzz/FuzzDecodeBatch.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(minFeedback))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 64<<10 {
			// Size limits have their own tests; big inputs only slow the fuzzer.
			return
		}
		events, errs := DecodeBatch(body)
		if len(errs) > 0 {
			if events != nil {
				t.Fatalf("events returned along with %d errors", len(errs))
			}
			for _, fe := range errs {
				if fe.Index < 0 || fe.Index > MaxBatchEvents || fe.Message == "" {
					t.Fatalf("bad FieldError %+v", fe)
				}
			}
			return
		}
		if len(events) == 0 {
			t.Fatal("no events and no errors")
		}
		for i := range events {
			e := &events[i]
			line, err := Marshal(e)
			if err != nil {
				t.Fatalf("event %d accepted but Marshal failed: %v", i, err)
			}
			again, errs := Decode(line)
			if len(errs) > 0 {
				t.Fatalf("event %d: re-decode of %s: %v", i, line, errs)
			}
			if !reflect.DeepEqual(*e, again) {
				t.Fatalf("event %d changed on round trip:\n%#v\n%#v", i, *e, again)
			}
			line2, err := Marshal(&again)
			if err != nil || !bytes.Equal(line, line2) {
				t.Fatalf("event %d: Marshal not stable:\n%s\n%s", i, line, line2)
			}
		}
	})
}
