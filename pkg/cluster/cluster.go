// Package cluster groups similar feedback comments, so that a team sees "the
// refund-policy complaints" as one row instead of forty.
//
// Comments are short, few (a query clusters at most 5,000) and must group the
// same way on every refresh, because a resolution event may name a cluster id
// it fixes. So the method is deliberately plain and deterministic: TF-IDF
// vectors, one leader pass that opens a cluster whenever a comment is not
// similar enough to any existing one, and one reassignment pass against the
// resulting centroids. It is written here rather than taken from a library
// because the Go text-mining libraries found either pull in a full NLP stack
// (models, stemmers for many languages) or use randomized k-means, whose
// clusters and ids would change between refreshes.
package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sort"
	"strings"
	"unicode"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
)

// Options tune Group; the zero value means the defaults.
type Options struct {
	// Threshold is the least cosine similarity between a comment and a
	// cluster's centroid for the comment to join it; default 0.3.
	Threshold float64
	// MinSize drops clusters smaller than this; default 2 (a comment that
	// resembles no other is not a cluster).
	MinSize int
	// LabelTerms is how many top terms make the label; default 3.
	LabelTerms int
	// VectorThreshold replaces Threshold for GroupVectors; default
	// DefaultVectorThreshold.
	VectorThreshold float64
}

func (o Options) withDefaults() Options {
	if o.Threshold <= 0 {
		o.Threshold = 0.3
	}
	if o.MinSize <= 0 {
		o.MinSize = 2
	}
	if o.LabelTerms <= 0 {
		o.LabelTerms = 3
	}
	return o
}

// Cluster is one group of similar comments.
type Cluster struct {
	// ID is derived from the label terms, so the same topic keeps its id
	// across refreshes and time ranges: "c-" and 12 hex digits.
	ID string
	// Terms are the label: the heaviest terms of the centroid, heaviest first.
	Terms []string
	// Members are indexes into the texts given to Group, ascending.
	Members []int
	// Example is the member closest to the centroid.
	Example int
}

// Label is the terms joined for display.
func (c Cluster) Label() string { return strings.Join(c.Terms, ", ") }

type vec struct {
	terms []int // ascending term ids
	w     []float64
}

// Group clusters texts. The result depends only on texts and their order;
// callers pass them in a stable order (oldest first). Clusters come largest
// first (then by id); unclustered counts the texts in no cluster.
func Group(texts []string, opts Options) (clusters []Cluster, unclustered int) {
	opts = opts.withDefaults()
	vecs, words := termVectors(texts)

	// Leader pass, with an inverted index from term to the clusters whose
	// centroid has it, so a comment is compared only with clusters it shares
	// a term with.
	var cents []map[int]float64
	var sumsq []float64 // squared norm of each centroid, kept as terms are added
	byTerm := map[int][]int{}
	assign := make([]int, len(texts))
	scores := []float64{}
	best := func(v vec) int {
		for len(scores) < len(cents) {
			scores = append(scores, 0)
		}
		touched := []int{}
		for k, t := range v.terms {
			for _, c := range byTerm[t] {
				if scores[c] == 0 {
					touched = append(touched, c)
				}
				scores[c] += v.w[k] * cents[c][t]
			}
		}
		at, top := -1, 0.0
		sort.Ints(touched)
		for _, c := range touched {
			if s := scores[c] / math.Sqrt(sumsq[c]); s >= opts.Threshold && s > top {
				at, top = c, s
			}
			scores[c] = 0
		}
		return at
	}
	addTo := func(c int, v vec) {
		for k, t := range v.terms {
			old, ok := cents[c][t]
			if !ok {
				byTerm[t] = append(byTerm[t], c)
			}
			w := old + v.w[k]
			cents[c][t] = w
			sumsq[c] += w*w - old*old
		}
	}
	for i, v := range vecs {
		if len(v.terms) == 0 {
			assign[i] = -1
			continue
		}
		c := best(v)
		if c < 0 {
			c = len(cents)
			cents = append(cents, map[int]float64{})
			sumsq = append(sumsq, 0)
		}
		assign[i] = c
		addTo(c, v)
	}

	// Reassignment: a comment that opened a cluster early may fit a later,
	// fuller one better. The centroids stay those of the leader pass.
	for i, v := range vecs {
		if assign[i] < 0 {
			continue
		}
		if c := best(v); c >= 0 {
			assign[i] = c
		}
	}

	return assemble(assign, len(cents), vecs, words, opts, "c-", func(ms []int) int { return example(ms, vecs) })
}

// assemble turns the assignment of each comment to one of n groups into
// clusters, the same way whatever grouped them: a group's label is the top
// terms of its members' TF-IDF vectors, its id prefix plus a hash of that
// label (so two groups with one label are one cluster), groups smaller than
// opts.MinSize are dropped, and the largest come first.
func assemble(assign []int, n int, vecs []vec, words []string, opts Options, prefix string, pick func([]int) int) (clusters []Cluster, unclustered int) {
	members := make([][]int, n)
	for i, c := range assign {
		if c >= 0 {
			members[c] = append(members[c], i)
		}
	}
	byID := map[string]int{}
	for _, ms := range members {
		if len(ms) == 0 {
			continue
		}
		cent := map[int]float64{}
		for _, i := range ms {
			for k, t := range vecs[i].terms {
				cent[t] += vecs[i].w[k]
			}
		}
		terms := topTerms(cent, words, opts.LabelTerms)
		id := prefix + clusterID(terms)[2:]
		if at, ok := byID[id]; ok { // the same topic opened twice: one cluster
			clusters[at].Members = append(clusters[at].Members, ms...)
			continue
		}
		byID[id] = len(clusters)
		clusters = append(clusters, Cluster{ID: id, Terms: terms, Members: ms})
	}
	kept := clusters[:0]
	for _, c := range clusters {
		sort.Ints(c.Members)
		if len(c.Members) < opts.MinSize {
			continue
		}
		c.Example = pick(c.Members)
		kept = append(kept, c)
	}
	clusters = kept
	sort.SliceStable(clusters, func(i, j int) bool {
		if len(clusters[i].Members) != len(clusters[j].Members) {
			return len(clusters[i].Members) > len(clusters[j].Members)
		}
		return clusters[i].ID < clusters[j].ID
	})
	unclustered = len(assign)
	for _, c := range clusters {
		unclustered -= len(c.Members)
	}
	return clusters, unclustered
}

// termVectors are the TF-IDF vectors of texts over their vocabulary.
func termVectors(texts []string) ([]vec, []string) {
	vocab := map[string]int{}
	var words []string
	docs := make([][]int, len(texts))
	df := []int{}
	for i, t := range texts {
		seen := map[int]bool{}
		for _, tok := range Tokens(t) {
			id, ok := vocab[tok]
			if !ok {
				id = len(words)
				vocab[tok] = id
				words = append(words, tok)
				df = append(df, 0)
			}
			docs[i] = append(docs[i], id)
			if !seen[id] {
				seen[id] = true
				df[id]++
			}
		}
	}
	n := float64(len(texts))
	vecs := make([]vec, len(texts))
	for i, d := range docs {
		vecs[i] = tfidf(d, df, n)
	}
	return vecs, words
}

// tfidf is the L2-normalized TF-IDF vector of one document (smoothed IDF, so
// a term in every comment still weighs a little).
func tfidf(doc []int, df []int, n float64) vec {
	tf := map[int]float64{}
	for _, t := range doc {
		tf[t]++
	}
	v := vec{}
	for t := range tf {
		v.terms = append(v.terms, t)
	}
	sort.Ints(v.terms)
	var sum float64
	for _, t := range v.terms {
		w := tf[t] * (math.Log((1+n)/(1+float64(df[t]))) + 1)
		v.w = append(v.w, w)
		sum += w * w
	}
	for k := range v.w {
		v.w[k] /= math.Sqrt(sum)
	}
	return v
}

func topTerms(cent map[int]float64, words []string, n int) []string {
	ids := make([]int, 0, len(cent))
	for t := range cent {
		ids = append(ids, t)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := cent[ids[i]], cent[ids[j]]
		if math.Abs(a-b) > 1e-9 {
			return a > b
		}
		return words[ids[i]] < words[ids[j]]
	})
	if len(ids) > n {
		ids = ids[:n]
	}
	out := make([]string, len(ids))
	for i, t := range ids {
		out[i] = words[t]
	}
	return out
}

func clusterID(terms []string) string {
	sorted := append([]string(nil), terms...)
	sort.Strings(sorted)
	sum := sha256.Sum256([]byte(strings.Join(sorted, "\x00")))
	return "c-" + hex.EncodeToString(sum[:6])
}

// example is the member with the highest cosine to the members' centroid;
// the earliest wins a tie.
func example(ms []int, vecs []vec) int {
	cent := map[int]float64{}
	for _, i := range ms {
		for k, t := range vecs[i].terms {
			cent[t] += vecs[i].w[k]
		}
	}
	at, top := ms[0], -1.0
	for _, i := range ms {
		var s float64
		for k, t := range vecs[i].terms {
			s += vecs[i].w[k] * cent[t]
		}
		if s > top+1e-12 {
			at, top = i, s
		}
	}
	return at
}

// Tokens are the words of a comment that carry its topic: lower-cased runs
// of letters and digits of at least three characters, without a plural "s",
// English function words, the collector's redaction markers, or "answer",
// which nearly every comment on a model's answer has.
func Tokens(text string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(f) > 4 && strings.HasSuffix(f, "s") && !strings.HasSuffix(f, "ss") {
			f = f[:len(f)-1]
		}
		if len([]rune(f)) < 3 || stopwords[f] || isNumber(f) {
			continue
		}
		out = append(out, f)
	}
	return out
}

func isNumber(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		about above after again against all also and any are aren because been before being below between both
		but can cannot could couldn did didn does doesn doing don down during each even ever every few for from
		further had hadn has hasn have haven having her here hers herself him himself his how i'm into isn its
		itself just let more most much must mustn myself nor not now off once only other ought our ours ourselves
		out over own really same shan she should shouldn some such than that the their theirs them themselves then
		there these they this those through too under until very was wasn were weren what when where which while
		who whom why will with won would wouldn you your yours yourself yourselves yes answer answered
		redacted email phone card`) {
		m[w] = true
	}
	return m
}()

// Comments lists the commented events of entries oldest first, the order
// Group is run in everywhere (the plugin's clusters query and feedbackd's
// close-the-loop rule), so the same events give the same cluster ids.
// entries are in read.SortEntries order, as every source returns them.
func Comments(entries []read.Entry) (texts []string, events []*feedback.Event) {
	for i := len(entries) - 1; i >= 0; i-- {
		if e := &entries[i].Event; e.Comment != "" {
			texts = append(texts, e.Comment)
			events = append(events, e)
		}
	}
	return texts, events
}
