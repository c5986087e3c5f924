package embed_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/feedbackloop/modelfeedback/pkg/embed"
	"github.com/feedbackloop/modelfeedback/pkg/embed/embedtest"
	"github.com/feedbackloop/modelfeedback/pkg/models"
)

func vectors(n int) (map[string][]float64, []string) {
	m := map[string][]float64{}
	var texts []string
	for i := 0; i < n; i++ {
		t := fmt.Sprintf("comment %d", i)
		m[t] = []float64{float64(i + 1), 2, 0}
		texts = append(texts, t)
	}
	return m, texts
}

func TestBatchesCacheAndUnitVectors(t *testing.T) {
	vecs, texts := vectors(70)
	s := embedtest.NewStandIn("nomic-embed-text", "emb-token", vecs)
	defer s.Close()
	c, err := embed.New(models.Clusters{EmbeddingsURL: s.URL, EmbeddingsModel: "nomic-embed-text", EmbeddingsToken: "emb-token"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batches()
	if len(b) != 2 || len(b[0]) != embed.BatchSize || len(b[1]) != 70-embed.BatchSize || b[1][0] != "comment 64" {
		t.Fatalf("batches: %d of sizes %d, %d", len(b), len(b[0]), len(b[len(b)-1]))
	}
	for i, v := range got {
		n := math.Hypot(float64(i+1), 2)
		if math.Abs(float64(v[0])-float64(i+1)/n) > 1e-6 || math.Abs(float64(v[1])-2/n) > 1e-6 {
			t.Fatalf("vector %d = %v, not the unit vector of its text", i, v)
		}
	}
	// A refresh with one new comment asks only for that one.
	vecs["comment new"] = []float64{0, 0, 1}
	if _, err := c.Embed(context.Background(), append(texts, "comment new")); err != nil {
		t.Fatal(err)
	}
	if b := s.Batches(); len(b) != 3 || len(b[2]) != 1 || b[2][0] != "comment new" {
		t.Fatalf("after a refresh: %v", b[2:])
	}
	if c.Requests() != 3 {
		t.Errorf("%d requests", c.Requests())
	}
}

func TestErrorsSayWhatFailed(t *testing.T) {
	vecs, texts := vectors(3)
	s := embedtest.NewStandIn("m", "tok", vecs)
	defer s.Close()
	cases := []struct {
		cfg  models.Clusters
		fail int
		want string
	}{
		{models.Clusters{EmbeddingsURL: s.URL, EmbeddingsModel: "m", EmbeddingsToken: "wrong"}, 0, "HTTP 401: invalid api key"},
		{models.Clusters{EmbeddingsURL: s.URL + "/v1", EmbeddingsModel: "other", EmbeddingsToken: "tok"}, 0, "HTTP 400"},
		{models.Clusters{EmbeddingsURL: s.URL, EmbeddingsModel: "m", EmbeddingsToken: "tok"}, 503, "HTTP 503: the model is loading"},
		{models.Clusters{EmbeddingsURL: "http://127.0.0.1:1", EmbeddingsModel: "m"}, 0, "127.0.0.1:1"},
	}
	for _, c := range cases {
		s.Fail = c.fail
		cl, err := embed.New(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Embed(context.Background(), texts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if c, err := embed.New(models.Clusters{}); c != nil || err != nil {
		t.Errorf("no URL: %v %v", c, err)
	}
}

// BenchmarkCached5000 is a refresh of a full clusters query whose 5,000
// comments are all cached (384 dimensions): hashing and look-ups only.
//
//	go test -run '^$' -bench Cached5000 -benchtime 5x ./pkg/embed
func BenchmarkCached5000(b *testing.B) {
	m := map[string][]float64{}
	texts := make([]string, 5000)
	for i := range texts {
		texts[i] = fmt.Sprintf("comment number %d about something that happened", i)
		v := make([]float64, 384)
		v[i%384] = 1
		m[texts[i]] = v
	}
	s := embedtest.NewStandIn("m", "t", m)
	defer s.Close()
	c, _ := embed.New(models.Clusters{EmbeddingsURL: s.URL, EmbeddingsModel: "m", EmbeddingsToken: "t"})
	if _, err := c.Embed(context.Background(), texts); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Embed(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
	if c.Requests() != 79 {
		b.Fatalf("%d requests: the cache missed", c.Requests())
	}
}
