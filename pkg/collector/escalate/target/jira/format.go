package jira

import (
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate/target"
)

// node is an Atlassian Document Format node.
type node struct {
	Type    string         `json:"type"`
	Attrs   map[string]any `json:"attrs,omitempty"`
	Content []node         `json:"content,omitempty"`
	Text    string         `json:"text,omitempty"`
	Marks   []mark         `json:"marks,omitempty"`
}

type mark struct {
	Type  string         `json:"type"`
	Attrs map[string]any `json:"attrs,omitempty"`
}

func text(s string, marks ...mark) node { return node{Type: "text", Text: s, Marks: marks} }

func paragraph(ns ...node) node { return node{Type: "paragraph", Content: ns} }

// ADF is the description for Jira Cloud: every user value is a text node,
// which ADF never interprets.
func ADF(is *target.Issue) Doc {
	var items []node
	for _, f := range is.Fields() {
		if f[1] == "" {
			continue // ADF refuses empty text nodes
		}
		items = append(items, node{Type: "listItem", Content: []node{
			paragraph(text(f[0]+": ", mark{Type: "strong"}), text(f[1], mark{Type: "code"})),
		}})
	}
	doc := []node{paragraph(text("User feedback escalated by feedbackd.")), {Type: "bulletList", Content: items}}
	if is.TraceURL != "" {
		doc = append(doc, paragraph(text("Open the trace in Grafana", mark{Type: "link", Attrs: map[string]any{"href": is.TraceURL}})))
	}
	if is.Comment != "" {
		doc = append(doc,
			node{Type: "heading", Attrs: map[string]any{"level": 3}, Content: []node{text("Comment")}},
			node{Type: "codeBlock", Content: []node{text(is.Comment)}})
	}
	return Doc{Type: "doc", Version: 1, Content: doc}
}

// Doc is the root of an ADF document; only the root has a version.
type Doc struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	Content []node `json:"content"`
}

// Wiki is the description for Jira Data Center/Server, in wiki markup with
// every user value escaped.
func Wiki(is *target.Issue) string {
	var b strings.Builder
	b.WriteString("User feedback escalated by feedbackd.\n\n")
	for _, f := range is.Fields() {
		b.WriteString("* *" + f[0] + ":* " + escapeWiki(f[1]) + "\n")
	}
	if is.TraceURL != "" {
		b.WriteString("\n[Open the trace in Grafana|" + strings.NewReplacer("|", "%7C", "]", "%5D", "[", "%5B", " ", "%20").Replace(is.TraceURL) + "]\n")
	}
	if is.Comment != "" {
		// Nothing inside {noformat} is markup except its own closing tag,
		// which a comment must not be able to write.
		c := strings.ReplaceAll(is.Comment, "{noformat}", "{ noformat}")
		b.WriteString("\nh3. Comment\n{noformat}\n" + c + "\n{noformat}\n")
	}
	return b.String()
}

var wikiEscaper = func() *strings.Replacer {
	var pairs []string
	for _, c := range `\*_+-^~?{}[]|!#` {
		pairs = append(pairs, string(c), `\`+string(c))
	}
	pairs = append(pairs, "\n", " ", "\r", " ")
	return strings.NewReplacer(pairs...)
}()

func escapeWiki(s string) string { return wikiEscaper.Replace(s) }
