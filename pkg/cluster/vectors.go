package cluster

import (
	"math"
)

// Methods say which grouping made the clusters (the frame reports it).
const (
	MethodWords      = "words"
	MethodEmbeddings = "embeddings"
)

// DefaultVectorThreshold is the least cosine similarity between a comment's
// embedding and a cluster's centroid for the comment to join it. Sentence
// embeddings of unrelated short texts sit around 0.2–0.5 and paraphrases
// above 0.7 for the common models; 0.75 keeps paraphrases together without
// merging neighbouring topics.
const DefaultVectorThreshold = 0.75

// GroupVectors clusters texts by their embeddings (unit length, one per
// text, all of one dimension) with the same deterministic procedure as
// Group: a leader pass in the given order, one reassignment pass, clusters
// under MinSize dropped. Labels are the members' heaviest TF-IDF terms, and
// the id ("e-" and 12 hex digits) is derived from them, so a topic keeps
// its id across refreshes as the word-based ids do.
func GroupVectors(texts []string, vectors [][]float32, opts Options) (clusters []Cluster, unclustered int) {
	opts = opts.withDefaults()
	threshold := opts.VectorThreshold
	if threshold <= 0 {
		threshold = DefaultVectorThreshold
	}
	dim := 0
	if len(vectors) > 0 {
		dim = len(vectors[0])
	}
	// Centroids are kept as sums and as unit vectors (for the dot product);
	// the unit copy is refreshed when a member joins.
	var sums, units [][]float32
	best := func(v []float32) int {
		at, top := -1, float32(threshold)
		for c, u := range units {
			if s := dot(v, u); s >= top && (at < 0 || s > top) {
				at, top = c, s
			}
		}
		return at
	}
	assign := make([]int, len(texts))
	for i, v := range vectors {
		if len(v) != dim || isZero(v) {
			assign[i] = -1
			continue
		}
		c := best(v)
		if c < 0 {
			c = len(sums)
			sums = append(sums, make([]float32, dim))
			units = append(units, make([]float32, dim))
		}
		assign[i] = c
		for k, x := range v {
			sums[c][k] += x
		}
		normalize(units[c], sums[c])
	}
	for i, v := range vectors {
		if assign[i] < 0 {
			continue
		}
		if c := best(v); c >= 0 {
			assign[i] = c
		}
	}

	terms, words := termVectors(texts)
	return assemble(assign, len(sums), terms, words, opts, "e-", func(ms []int) int { return vectorExample(ms, vectors) })
}

func dot(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	n := len(a) &^ 3
	for i := 0; i < n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for i := n; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

func normalize(dst, src []float32) {
	var s float64
	for _, x := range src {
		s += float64(x) * float64(x)
	}
	n := float32(math.Sqrt(s))
	if n == 0 {
		return
	}
	for i, x := range src {
		dst[i] = x / n
	}
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// vectorExample is the member closest to the members' mean direction;
// the lowest index wins a tie.
func vectorExample(ms []int, vectors [][]float32) int {
	mean := make([]float32, len(vectors[ms[0]]))
	for _, i := range ms {
		for k, x := range vectors[i] {
			mean[k] += x
		}
	}
	at, top := ms[0], float32(math.Inf(-1))
	for _, i := range ms {
		if s := dot(vectors[i], mean); s > top {
			at, top = i, s
		}
	}
	return at
}
