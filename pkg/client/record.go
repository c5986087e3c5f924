package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/otel/trace"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Snapshot is what Record sends about one model call. Fields left empty are
// left out; Model defaults to the client's.
type Snapshot struct {
	// CorrelationID is set by Record before the call: the one given, else
	// CorrelationID(ctx). Hand it to the UI (the widget's correlation-id).
	CorrelationID string            `json:"correlation_id"`
	Model         feedback.Model    `json:"model"`
	SystemPrompt  string            `json:"system_prompt"`
	Input         string            `json:"input"`
	Output        string            `json:"output"`
	Params        map[string]any    `json:"params"` // numbers or strings
	PromptVersion string            `json:"prompt_version"`
	User          *feedback.User    `json:"user"`
	Attributes    map[string]string `json:"attributes"`
}

// Record runs call, which makes the model call and sets s.Output (and
// anything else learnt), and then queues the interaction snapshot. It
// returns the correlation id. When call fails nothing is recorded (there is
// no answer to give feedback on) and its error is returned; an invalid
// snapshot or a full queue is returned as the error too, with the id, for
// the caller to log: the model's answer is still good.
func (c *Client) Record(ctx context.Context, s Snapshot, call func(ctx context.Context, s *Snapshot) error) (string, error) {
	if s.CorrelationID == "" {
		s.CorrelationID = CorrelationID(ctx)
	}
	if err := call(ctx, &s); err != nil {
		return s.CorrelationID, err
	}
	ev := feedback.Event{CorrelationID: s.CorrelationID, Model: s.Model, User: s.User, Attributes: s.Attributes}
	ctxt := &feedback.Context{SystemPrompt: s.SystemPrompt, Input: s.Input, Output: s.Output, PromptVersion: s.PromptVersion}
	if len(s.Params) > 0 {
		raw, err := json.Marshal(s.Params)
		if err != nil {
			return s.CorrelationID, &InvalidEventError{[]feedback.FieldError{{Field: "context.params", Message: fmt.Sprintf("not representable as JSON: %v", err)}}}
		}
		ctxt.Params = raw
	}
	if s.SystemPrompt != "" || s.Input != "" || s.Output != "" || s.PromptVersion != "" || ctxt.Params != nil {
		ev.Context = ctxt
	}
	_, err := c.Interaction(ctx, ev)
	return s.CorrelationID, err
}

// CorrelationID is the trace id of the OpenTelemetry span in ctx (32 hex
// digits) when ctx carries a valid span context, recording or not (a
// sampled-out trace still ties the services' logs together), else a new
// random id of the same form.
func CorrelationID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return NewCorrelationID()
}

// NewCorrelationID is a W3C trace-id-shaped id: 32 lowercase hex digits, not
// all zero.
func NewCorrelationID() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		if b != [16]byte{} {
			return hex.EncodeToString(b[:])
		}
	}
}
