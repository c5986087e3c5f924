// Package embed gets embedding vectors for comments from an
// OpenAI-compatible POST /v1/embeddings endpoint (Ollama, vLLM,
// text-embeddings-inference, OpenAI; docs/embeddings.md), in batches and
// through a bounded cache keyed by the comment's hash, so a dashboard
// refresh only asks for comments it has not seen.
package embed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/feedbackloop/modelfeedback/pkg/models"
)

// Limits of one Embed call.
const (
	// BatchSize is the number of comments per request: small enough for
	// every server's input limit (OpenAI allows 2,048, Ollama has none).
	BatchSize = 64
	// CacheSize is the number of vectors kept: two full clusters queries.
	CacheSize = 10000
	// Timeout bounds one Embed call, so a slow endpoint degrades the panel
	// to word-based clusters instead of hanging it.
	Timeout = 20 * time.Second
)

// Client embeds texts with one model.
type Client struct {
	endpoint string
	model    string
	http     *http.Client
	cache    *lru.Cache[[32]byte, []float32]
	requests atomic.Int64
}

// Requests is the number of HTTP requests sent so far.
func (c *Client) Requests() int64 { return c.requests.Load() }

// New builds a client from the clusters settings; nil, nil when no
// endpoint is set (word-based grouping).
func New(cfg models.Clusters) (*Client, error) {
	if cfg.EmbeddingsURL == "" {
		return nil, nil
	}
	u, err := url.Parse(cfg.EmbeddingsURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &models.SettingError{Setting: "clusters.embeddingsUrl", Message: fmt.Sprintf("%q is not an http(s) URL such as http://ollama:11434", cfg.EmbeddingsURL)}
	}
	if cfg.EmbeddingsModel == "" {
		return nil, &models.SettingError{Setting: "clusters.embeddingsModel", Message: "name the embedding model"}
	}
	// The setting is the API's base; accept it with or without /v1.
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/v1") {
		p += "/v1"
	}
	u.Path = p + "/embeddings"
	auth := models.HTTPAuth{}
	if cfg.EmbeddingsToken != "" {
		auth.Authorization = "Bearer " + cfg.EmbeddingsToken
	}
	hc, err := cfg.HTTPClient.Build("embeddings", auth)
	if err != nil {
		return nil, err
	}
	cache, _ := lru.New[[32]byte, []float32](CacheSize)
	return &Client{endpoint: u.String(), model: cfg.EmbeddingsModel, http: hc, cache: cache}, nil
}

// Endpoint is where requests go, for messages.
func (c *Client) Endpoint() string { return c.endpoint }

func (c *Client) key(text string) [32]byte { return sha256.Sum256([]byte(c.model + "\x00" + text)) }

// Embed returns one unit-length vector per text, from the cache where it
// can; all of them or an error.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	out := make([][]float32, len(texts))
	var missing []int
	for i, t := range texts {
		if v, ok := c.cache.Get(c.key(t)); ok {
			out[i] = v
		} else {
			missing = append(missing, i)
		}
	}
	for len(missing) > 0 {
		n := min(BatchSize, len(missing))
		batch := missing[:n]
		missing = missing[n:]
		in := make([]string, n)
		for k, i := range batch {
			in[k] = texts[i]
		}
		vecs, err := c.request(ctx, in)
		if err != nil {
			return nil, err
		}
		for k, i := range batch {
			out[i] = vecs[k]
			c.cache.Add(c.key(texts[i]), vecs[k])
		}
	}
	for _, v := range out {
		if len(v) != len(out[0]) {
			return nil, fmt.Errorf("embeddings of different lengths (%d and %d): was the model changed?", len(out[0]), len(v))
		}
	}
	return out, nil
}

type request struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

type response struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (c *Client) request(ctx context.Context, in []string) ([][]float32, error) {
	body, _ := json.Marshal(request{Model: c.model, Input: in, EncodingFormat: "float"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("embeddings endpoint %s: %w", c.endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("embeddings endpoint %s: %w", c.endpoint, err)
	}
	var r response
	jerr := json.Unmarshal(raw, &r)
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(raw))
		if jerr == nil && r.Error != nil {
			msg = r.Error.Message
		}
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return nil, fmt.Errorf("embeddings endpoint %s answered HTTP %d: %s", c.endpoint, resp.StatusCode, msg)
	}
	if jerr != nil {
		return nil, fmt.Errorf("embeddings endpoint %s: not an embeddings answer: %w", c.endpoint, jerr)
	}
	if len(r.Data) != len(in) {
		return nil, fmt.Errorf("embeddings endpoint %s: %d embeddings for %d inputs", c.endpoint, len(r.Data), len(in))
	}
	out := make([][]float32, len(in))
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= len(in) || out[d.Index] != nil || len(d.Embedding) == 0 {
			return nil, fmt.Errorf("embeddings endpoint %s: bad or repeated index %d", c.endpoint, d.Index)
		}
		out[d.Index] = unit(d.Embedding)
	}
	return out, nil
}

// unit scales v to length 1, so a dot product is the cosine similarity.
func unit(v []float64) []float32 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	n := math.Sqrt(s)
	out := make([]float32, len(v))
	if n == 0 {
		return out
	}
	for i, x := range v {
		out[i] = float32(x / n)
	}
	return out
}
