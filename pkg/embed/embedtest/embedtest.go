// Package embedtest is an OpenAI-compatible embeddings stand-in for tests.
package embedtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/feedbackloop/modelfeedback/pkg/embed"
)

// StandIn is an OpenAI-compatible embeddings endpoint for tests: it knows
// a fixed vector per text and refuses everything else — another path or
// method, another model or token, a batch over embed.BatchSize, an unknown text —
// the way a strict server would, with an OpenAI-style error body.
type StandIn struct {
	*httptest.Server
	Model, Token string
	mu           sync.Mutex
	vectors      map[string][]float64
	batches      [][]string
	// Fail, when set, is the status every request gets.
	Fail int
}

// NewStandIn serves vectors (text → embedding) for model with token.
func NewStandIn(model, token string, vectors map[string][]float64) *StandIn {
	s := &StandIn{Model: model, Token: token, vectors: vectors}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Batches returns the inputs of every request received.
func (s *StandIn) Batches() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.batches...)
}

func (s *StandIn) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"message": msg, "type": "invalid_request_error"}})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		fail(http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		fail(http.StatusUnauthorized, "invalid api key")
		return
	}
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || r.Header.Get("Content-Type") != "application/json" {
		fail(http.StatusBadRequest, fmt.Sprintf("bad request body: %v", err))
		return
	}
	s.mu.Lock()
	s.batches = append(s.batches, req.Input)
	failing := s.Fail
	s.mu.Unlock()
	if failing != 0 {
		fail(failing, "the model is loading")
		return
	}
	if req.Model != s.Model || req.EncodingFormat != "float" || len(req.Input) == 0 || len(req.Input) > embed.BatchSize {
		fail(http.StatusBadRequest, fmt.Sprintf("model %q, encoding %q, %d inputs", req.Model, req.EncodingFormat, len(req.Input)))
		return
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
	}{Object: "list", Model: s.Model}
	// Answered in reverse order: clients must place vectors by index.
	for i := len(req.Input) - 1; i >= 0; i-- {
		v, ok := s.vectors[req.Input[i]]
		if !ok {
			fail(http.StatusBadRequest, fmt.Sprintf("stand-in has no vector for %q", req.Input[i]))
			return
		}
		out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
