package target

import (
	"strings"
)

// Markdown is the ticket description for trackers that render Markdown
// (Linear, GitHub). User text (the comment, tags, ids) goes into code spans
// and a fenced block, so it can neither format the ticket nor mention people
// or issues; marker ends it, on a line of its own, for the look-up.
func Markdown(is *Issue, marker string) string {
	var b strings.Builder
	b.WriteString("User feedback escalated by feedbackd.\n\n")
	for _, f := range is.Fields() {
		b.WriteString("- **" + f[0] + ":** " + CodeSpan(f[1]) + "\n")
	}
	if is.TraceURL != "" {
		b.WriteString("\n[Open the trace in Grafana](" + markdownURL(is.TraceURL) + ")\n")
	}
	if is.Comment != "" {
		b.WriteString("\n**Comment:**\n\n" + Fenced(is.Comment) + "\n")
	}
	b.WriteString("\n" + marker + "\n")
	return b.String()
}

// CodeSpan renders s literally inside inline code: the fence is one backtick
// longer than the longest run in s (CommonMark's rule).
func CodeSpan(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ")
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}

// Fenced renders s literally as a fenced code block.
func Fenced(s string) string {
	n := longestRun(s, '`') + 1
	if n < 3 {
		n = 3
	}
	fence := strings.Repeat("`", n)
	return fence + "text\n" + strings.TrimRight(s, "\n") + "\n" + fence
}

func longestRun(s string, c byte) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			if run > best {
				best = run
			}
		} else {
			run = 0
		}
	}
	return best
}

// markdownURL keeps a URL from closing the link it is in.
func markdownURL(u string) string {
	return strings.NewReplacer("(", "%28", ")", "%29", " ", "%20").Replace(u)
}
