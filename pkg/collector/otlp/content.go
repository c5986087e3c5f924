package otlp

import (
	"encoding/json"
	"strings"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// content finds the captured prompt and answer of a GenAI span, from the
// first of these forms that has them:
//
//  1. the span attributes gen_ai.system_instructions, gen_ai.input.messages
//     and gen_ai.output.messages (current conventions);
//  2. the same attributes on a gen_ai.client.inference.operation.details
//     span event;
//  3. the older per-message span events: gen_ai.system.message,
//     gen_ai.user.message (the last one) and gen_ai.choice with a content
//     attribute, or gen_ai.content.prompt / gen_ai.content.completion with
//     gen_ai.prompt / gen_ai.completion.
//
// Instrumentations capture content only when asked to (it is opt-in), so all
// three may be empty.
func content(sp *tracepb.Span) (system, input, output string) {
	pick := func(kvs []*commonpb.KeyValue) {
		if system == "" {
			system = instructionsText(find(kvs, attrSystemInstr))
		}
		if input == "" {
			input = messagesText(find(kvs, attrInputMessages))
		}
		if output == "" {
			output = messagesText(find(kvs, attrOutputMessages))
		}
	}
	pick(sp.GetAttributes())
	for _, ev := range sp.GetEvents() {
		if ev.GetName() == eventDetails {
			pick(ev.GetAttributes())
		}
	}
	var lastUser string
	for _, ev := range sp.GetEvents() {
		kvs := ev.GetAttributes()
		switch ev.GetName() {
		case "gen_ai.system.message":
			if system == "" {
				system = text(find(kvs, "content"))
			}
		case "gen_ai.user.message":
			if s := text(find(kvs, "content")); s != "" {
				lastUser = s
			}
		case "gen_ai.choice":
			if output == "" {
				output = choiceText(kvs)
			}
		case "gen_ai.content.prompt":
			if lastUser == "" {
				lastUser = text(find(kvs, "gen_ai.prompt"))
			}
		case "gen_ai.content.completion":
			if output == "" {
				output = text(find(kvs, "gen_ai.completion"))
			}
		}
	}
	if input == "" {
		input = lastUser
	}
	return system, input, output
}

// part is a message part of the GenAI conventions' JSON schemas.
type part struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

type message struct {
	Role  string `json:"role"`
	Parts []part `json:"parts"`
}

// textOf joins text parts; ok is false when any part is not text, since
// then only the JSON as sent keeps everything.
func textOf(parts []part) (string, bool) {
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		var s string
		if p.Type != "text" || json.Unmarshal(p.Content, &s) != nil {
			return "", false
		}
		texts = append(texts, s)
	}
	return strings.Join(texts, "\n"), len(texts) > 0
}

// jsonText is the value as JSON text: spans carry these attributes as JSON
// strings, events may carry them structured.
func jsonText(v *commonpb.AnyValue) string {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	return text(v)
}

// instructionsText is gen_ai.system_instructions (an array of parts) as
// plain text when it is only text, else the JSON as sent.
func instructionsText(v *commonpb.AnyValue) string {
	raw := jsonText(v)
	var parts []part
	if json.Unmarshal([]byte(raw), &parts) == nil {
		if s, ok := textOf(parts); ok {
			return s
		}
	}
	return raw
}

// messagesText is gen_ai.input.messages or gen_ai.output.messages as plain
// text when it is a single message of text parts (one question, one answer),
// else the JSON as sent: a conversation or tool calls keep their structure.
func messagesText(v *commonpb.AnyValue) string {
	raw := jsonText(v)
	var msgs []message
	if json.Unmarshal([]byte(raw), &msgs) == nil && len(msgs) == 1 {
		if s, ok := textOf(msgs[0].Parts); ok {
			return s
		}
	}
	return raw
}

// choiceText reads the older gen_ai.choice event: a message attribute (a
// map, or JSON) with content, or a content attribute.
func choiceText(kvs []*commonpb.KeyValue) string {
	if s := text(find(kvs, "content")); s != "" {
		return s
	}
	msg := find(kvs, "message")
	if kv, ok := msg.GetValue().(*commonpb.AnyValue_KvlistValue); ok {
		return text(find(kv.KvlistValue.GetValues(), "content"))
	}
	var m struct {
		Content string `json:"content"`
	}
	if raw := jsonText(msg); raw != "" && json.Unmarshal([]byte(raw), &m) == nil && m.Content != "" {
		return m.Content
	}
	return jsonText(msg)
}
