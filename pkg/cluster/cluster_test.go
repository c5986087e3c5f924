package cluster

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var comments = []string{
	"The refund policy it quoted does not exist", // 0 refund
	"Too slow, took 40 seconds to respond",       // 1 slow
	"Invented a refund policy for annual plans",  // 2 refund
	"Great, thanks!", // 3 alone
	"Slow again: 30 seconds before anything appeared",   // 4 slow
	"It made up a refund policy, again",                 // 5 refund
	"Responses are slow, seconds of waiting every time", // 6 slow
	"",                            // 7 nothing to cluster
	"call me at [redacted:phone]", // 8 only a marker and stopwords
}

func members(t *testing.T, cs []Cluster) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for _, c := range cs {
		out[c.Label()] = c.Members
	}
	return out
}

func TestGroupsCommentsByTopic(t *testing.T) {
	cs, unclustered := Group(comments, Options{})
	if len(cs) != 2 {
		t.Fatalf("want 2 clusters, got %d: %+v", len(cs), cs)
	}
	var refund, slow *Cluster
	for i := range cs {
		switch {
		case strings.Contains(cs[i].Label(), "refund"):
			refund = &cs[i]
		case strings.Contains(cs[i].Label(), "slow"):
			slow = &cs[i]
		}
	}
	if refund == nil || slow == nil {
		t.Fatalf("labels should name refund and slow: %v", members(t, cs))
	}
	if !reflect.DeepEqual(refund.Members, []int{0, 2, 5}) || !reflect.DeepEqual(slow.Members, []int{1, 4, 6}) {
		t.Fatalf("members: %v", members(t, cs))
	}
	if unclustered != 3 {
		t.Errorf("unclustered = %d, want 3 (the thanks, the empty comment, the marker)", unclustered)
	}
	for _, c := range cs {
		if !strings.HasPrefix(c.ID, "c-") || len(c.ID) != 14 {
			t.Errorf("id %q", c.ID)
		}
		found := false
		for _, m := range c.Members {
			found = found || m == c.Example
		}
		if !found {
			t.Errorf("example %d is not a member of %v", c.Example, c.Members)
		}
	}
}

// A resolution names the cluster ids it fixes, so a topic keeps its id when
// the time range (and so the set of comments around it) changes.
func TestIDsAreStableAcrossRanges(t *testing.T) {
	all, _ := Group(comments, Options{})
	part, _ := Group(append([]string{"Nothing else to report", "Fine"}, comments[:6]...), Options{})
	ids := func(cs []Cluster) map[string]string {
		m := map[string]string{}
		for _, c := range cs {
			m[c.Label()] = c.ID
		}
		return m
	}
	if len(ids(part)) == 0 {
		t.Fatal("the part of the comments forms no cluster; the comparison below would be empty")
	}
	for label, id := range ids(part) {
		if ids(all)[label] != id {
			t.Errorf("cluster %q: id %s, over the whole range %s", label, id, ids(all)[label])
		}
	}
	again, _ := Group(comments, Options{})
	if !reflect.DeepEqual(all, again) {
		t.Error("the same comments grouped differently")
	}
}

func TestLargestFirstAndMinSize(t *testing.T) {
	texts := []string{"refund refund policy", "refund policy wrong", "refund policy missing", "slow reply", "slow reply again"}
	cs, _ := Group(texts, Options{})
	if len(cs) != 2 || len(cs[0].Members) != 3 || len(cs[1].Members) != 2 {
		t.Fatalf("%v", members(t, cs))
	}
	cs, unclustered := Group(texts, Options{MinSize: 3})
	if len(cs) != 1 || unclustered != 2 {
		t.Fatalf("MinSize 3: %v, unclustered %d", members(t, cs), unclustered)
	}
}

func TestTokens(t *testing.T) {
	got := Tokens("The ANSWERS cited rules — 42 times! Ünïcödé e-mail: [redacted:email]; class")
	want := []string{"cited", "rule", "time", "ünïcödé", "mail", "class"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkGroup5000 is the largest input the clusters query gives: 5,000
// comments of 8 to 20 words over a vocabulary of 2,000, in 40 topics.
func BenchmarkGroup5000(b *testing.B) {
	rng := uint64(1)
	next := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % n
	}
	texts := make([]string, 5000)
	for i := range texts {
		topic := next(40)
		words := make([]string, 8+next(13))
		for j := range words {
			if next(2) == 0 {
				words[j] = "topic" + strconv.Itoa(topic) + "word" + strconv.Itoa(next(5))
			} else {
				words[j] = "common" + strconv.Itoa(next(2000))
			}
		}
		texts[i] = strings.Join(words, " ")
	}
	b.ReportAllocs()
	for b.Loop() {
		cs, _ := Group(texts, Options{})
		if len(cs) == 0 {
			b.Fatal("no clusters")
		}
	}
}
