package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// syntheticEmbeddings are n comments on topics topics: each vector is its
// topic's direction plus noise, unit length, of dimension dim.
func syntheticEmbeddings(n, topics, dim int) ([]string, [][]float32) {
	r := rand.New(rand.NewPCG(1, 2))
	axes := make([][]float32, topics)
	for t := range axes {
		axes[t] = make([]float32, dim)
		for k := range axes[t] {
			axes[t][k] = float32(r.NormFloat64())
		}
		normalize(axes[t], axes[t])
	}
	texts := make([]string, n)
	vecs := make([][]float32, n)
	for i := range texts {
		t := i % topics
		texts[i] = fmt.Sprintf("topic%d remark %d about thing%d", t, i, i%7)
		v := make([]float32, dim)
		for k := range v {
			v[k] = axes[t][k] + 0.02*float32(r.NormFloat64())
		}
		normalize(v, v)
		vecs[i] = v
	}
	return texts, vecs
}

func TestGroupVectorsFindsTheTopics(t *testing.T) {
	texts, vecs := syntheticEmbeddings(600, 12, 64)
	cs, un := GroupVectors(texts, vecs, Options{})
	if len(cs) != 12 || un != 0 {
		t.Fatalf("%d clusters, %d unclustered; want the 12 topics", len(cs), un)
	}
	for _, c := range cs {
		topic := c.Members[0] % 12
		for _, m := range c.Members {
			if m%12 != topic {
				t.Fatalf("cluster %s mixes topics %d and %d", c.ID, topic, m%12)
			}
		}
	}
	again, _ := GroupVectors(texts, vecs, Options{})
	for i := range cs {
		if cs[i].ID != again[i].ID {
			t.Fatalf("ids differ between runs: %s, %s", cs[i].ID, again[i].ID)
		}
	}
}

// BenchmarkGroupVectors5000 is the grouping of a full clusters query (5,000
// comments) once their embeddings are cached: 50 topics, 384 dimensions
// (all-minilm / bge-small size; 768-dimension models take about twice as
// long). Target: at most 200 ms per op. Run:
//
//	go test -run '^$' -bench GroupVectors5000 -benchtime 5x ./pkg/cluster
func BenchmarkGroupVectors5000(b *testing.B) {
	texts, vecs := syntheticEmbeddings(5000, 50, 384)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		GroupVectors(texts, vecs, Options{})
	}
}
