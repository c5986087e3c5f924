package loki

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Selector is the configured stream selector, split into its matchers so
// that the query's own matchers can be appended inside the braces.
type Selector struct {
	matchers []string
}

var (
	// name op "value": the value may contain escaped quotes.
	matcherRe = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*`)
	labelName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ParseSelector accepts only a plain stream selector such as
// {service_name="model-feedback"}: the admin sets it, but it still must not
// smuggle a pipeline into every query.
func ParseSelector(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return Selector{}, fmt.Errorf("%q is not a stream selector like {service_name=\"model-feedback\"}", s)
	}
	body := s[1 : len(s)-1]
	var sel Selector
	for strings.TrimSpace(body) != "" {
		m := matcherRe.FindStringSubmatch(body)
		if m == nil {
			return Selector{}, fmt.Errorf("cannot read the matcher at %q (expected name=\"value\")", body)
		}
		val, err := strconv.Unquote(m[3])
		if err != nil {
			return Selector{}, fmt.Errorf("bad quoted value %s: %v", m[3], err)
		}
		if (m[2] == "=~" || m[2] == "!~") && !validRegex(val) {
			return Selector{}, fmt.Errorf("invalid regular expression in %s", m[0])
		}
		sel.matchers = append(sel.matchers, matcher(m[1], m[2], val))
		rest := strings.TrimSpace(body[len(m[0]):])
		if rest != "" && !strings.HasPrefix(rest, ",") {
			return Selector{}, fmt.Errorf("expected a comma before %q", rest)
		}
		body = strings.TrimPrefix(rest, ",")
	}
	if len(sel.matchers) == 0 {
		return Selector{}, fmt.Errorf("%q has no matcher", s)
	}
	return sel, nil
}

func validRegex(s string) bool { _, err := regexp.Compile(s); return err == nil }

// With renders the selector with extra matchers appended.
func (s Selector) With(extra ...string) string {
	return "{" + strings.Join(append(append([]string(nil), s.matchers...), extra...), ",") + "}"
}

// matcher renders name op "value". Every value goes through strconv.Quote,
// whose output Loki's lexer reads back as exactly the same string, so no
// value can end the literal early (quotes, backslashes, backticks, braces,
// pipes all stay inside it).
func matcher(name, op, value string) string {
	return name + op + strconv.Quote(value)
}

// Duration renders a range or step the way LogQL reads it ("6h", "1m30s").
func Duration(d time.Duration) string {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return model.Duration(d).String()
}

// expr is a log query under construction: the selector and the stages after it.
type expr struct {
	selector string
	stages   []string
}

func (e expr) String() string {
	if len(e.stages) == 0 {
		return e.selector
	}
	return e.selector + " " + strings.Join(e.stages, " ")
}

// rangeOf renders the expression with a range: no space before [ when there is
// no pipeline, as Loki and Grafana print it.
func (e expr) rangeOf(d time.Duration) string {
	if len(e.stages) == 0 {
		return e.selector + "[" + Duration(d) + "]"
	}
	return e.String() + " [" + Duration(d) + "]"
}

func (e expr) with(stage string) expr {
	return expr{selector: e.selector, stages: append(append([]string(nil), e.stages...), stage)}
}

// tagPattern matches a tag inside the raw JSON array that `| json tags="tags"`
// extracts (docs/storage.md). The quotes around the alternation make "bias" not
// match "biased_tone".
func tagPattern(alternation string) string {
	return `.*"` + alternation + `".*`
}

func tagsAlternation(tags []string) string {
	quoted := make([]string, len(tags))
	for i, t := range tags {
		quoted[i] = regexp.QuoteMeta(t)
	}
	if len(quoted) == 1 {
		return quoted[0]
	}
	return "(" + strings.Join(quoted, "|") + ")"
}

// builder turns a validated query into LogQL.
type builder struct {
	sel Selector
	q   read.Query
}

// base is the log expression every query type shares: stream matchers,
// one json stage extracting only the fields needed, then the label filters.
// withTagsAny adds the "carries any of q.Tags" filter.
func (b builder) base(withTagsAny bool, extraJSON ...storage.Field) expr {
	q := b.q
	streams := []string{matcher("kind", "=", string(q.Kind))}
	if q.Sentiment != "" {
		streams = append(streams, matcher("sentiment", "=", string(q.Sentiment)))
	}
	jsonFields := map[string]string{}
	need := func(f storage.Field) {
		if !f.StreamLabel {
			jsonFields[f.LokiLabel] = f.JSONPath
		}
	}
	var filters []string
	for _, f := range q.Filters {
		fd, _ := storage.LookupField(f.Key, true) // validated by query.Parse
		switch {
		case fd.StreamLabel:
			streams = append(streams, matcher(fd.LokiLabel, f.Operator, f.Value))
		case fd.Name == "tag":
			need(fd)
			filters = append(filters, tagFilter(f))
		default:
			need(fd)
			filters = append(filters, "| "+matcher(fd.LokiLabel, f.Operator, f.Value))
		}
	}
	for _, g := range q.GroupBy {
		fd, _ := storage.LookupField(g, false)
		need(fd)
	}
	for _, f := range extraJSON {
		need(f)
	}
	if withTagsAny && len(q.Tags) > 0 {
		need(tagField)
		filters = append(filters, "| "+matcher("tags", "=~", tagPattern(tagsAlternation(q.Tags))))
	}
	switch q.Measure {
	case read.MeasureEditSimilarity:
		jsonFields["edit_similarity"] = "edit.similarity"
		filters = append(filters, "| "+matcher("edit_similarity", "!=", ""))
	case read.MeasureEditLengthRatio:
		jsonFields["edit_original_chars"] = "edit.original_chars"
		jsonFields["edit_edited_chars"] = "edit.edited_chars"
		// An absent field is "" after | json; 0 original characters has
		// no ratio (and divf would divide by zero).
		filters = append(filters, "| "+matcher("edit_original_chars", "!=", ""), "| "+matcher("edit_original_chars", "!=", "0"),
			"| "+matcher("edit_edited_chars", "!=", ""))
	}
	if q.Search != "" {
		jsonFields["comment"] = "comment"
		// (?s) because Loki only simplifies some patterns to a substring
		// match; without it '.' stops at a newline in the comment
		// (fixture logs_comment_search_ci_alternation).
		filters = append(filters, "| "+matcher("comment", "=~", "(?is).*"+regexp.QuoteMeta(q.Search)+".*"))
	}
	e := expr{selector: b.sel.With(streams...)}
	if len(jsonFields) > 0 {
		names := make([]string, 0, len(jsonFields))
		for n := range jsonFields {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = matcher(n, "=", jsonFields[n])
		}
		e = e.with("| json " + strings.Join(parts, ", "))
	}
	for _, f := range filters {
		e = e.with(f)
	}
	return e
}

var tagField, _ = storage.LookupField("tag", false)

// tagFilter: "tag = x" means the event carries x.
func tagFilter(f read.Filter) string {
	var alt string
	switch f.Operator {
	case read.OpEqual, read.OpNotEqual:
		alt = regexp.QuoteMeta(f.Value)
	default:
		alt = "(" + f.Value + ")"
	}
	op := "=~"
	if f.Operator == read.OpNotEqual || f.Operator == read.OpNotRegex {
		op = "!~"
	}
	return "| " + matcher("tags", op, tagPattern(alt))
}

// dims are the LogQL label names of the groupBy dimensions other than tag.
func (b builder) dims() []string {
	var out []string
	for _, g := range b.q.GroupBy {
		if g == "tag" {
			continue
		}
		fd, _ := storage.LookupField(g, false)
		out = append(out, fd.LokiLabel)
	}
	return out
}

// countExpr is sum [by (dims)] (count_over_time(base [r])). Grouping by tag
// becomes one label_replace leg per tag joined by `or` (docs/storage.md): an event
// with two tags counts under both, one with none under neither.
func (b builder) countExpr(r time.Duration, tags []string) string {
	return b.aggExpr(r, tags, func(e expr) string { return "count_over_time(" + e.rangeOf(r) + ")" })
}

// sumExpr is countExpr summing the query's measure instead of counting
// events. sum_over_time(... | unwrap) of each series, summed, is the true
// sum: avg_over_time would be a mean of per-series means (fixture
// metric_unwrap_avg_score_instant). A line whose value does not convert
// is dropped by the __error__ filter rather than failing the query.
func (b builder) sumExpr(r time.Duration, tags []string) string {
	return b.aggExpr(r, tags, func(e expr) string {
		switch b.q.Measure {
		case read.MeasureEditLengthRatio:
			e = e.with(`| label_format edit_length_ratio="{{ divf .edit_edited_chars .edit_original_chars }}"`).with("| unwrap edit_length_ratio")
		default:
			e = e.with("| unwrap edit_similarity")
		}
		return "sum_over_time(" + e.with(`| __error__=""`).rangeOf(r) + ")"
	})
}

func (b builder) aggExpr(r time.Duration, tags []string, inner func(expr) string) string {
	dims := b.dims()
	if !b.q.HasGroup("tag") {
		agg := "sum"
		if len(dims) > 0 {
			agg += " by (" + strings.Join(dims, ", ") + ") "
		}
		return agg + "(" + inner(b.base(true)) + ")"
	}
	by := ""
	if len(dims) > 0 {
		by = "by (" + strings.Join(dims, ", ") + ") "
	}
	base := b.base(false, tagField)
	legs := make([]string, len(tags))
	for i, t := range tags {
		leg := base.with("| " + matcher("tags", "=~", tagPattern(regexp.QuoteMeta(t))))
		legs[i] = "label_replace(sum " + by + "(" + inner(leg) + "), " +
			strconv.Quote("tag") + ", " + strconv.Quote(t) + `, "", "")`
	}
	return strings.Join(legs, " or ")
}

// totalExpr counts every matching event once, for the share denominator.
func (b builder) totalExpr(r time.Duration) string {
	return "sum(count_over_time(" + b.base(true).rangeOf(r) + "))"
}

// tagsDiscoveryExpr finds the distinct tag arrays in range: custom tags are
// open-ended, so a per-tag breakdown must first learn which ones exist.
func (b builder) tagsDiscoveryExpr(r time.Duration) string {
	e := b.base(true, tagField).with("| " + matcher("tags", "!=", "[]"))
	return "sum by (tags) (count_over_time(" + e.rangeOf(r) + "))"
}

// valuesExpr lists the values of one parsed field.
func valuesExpr(sel Selector, kind string, f storage.Field, r time.Duration) string {
	e := expr{selector: sel.With(matcher("kind", "=", kind))}
	e = e.with("| json " + matcher(f.LokiLabel, "=", f.JSONPath)).with("| " + matcher(f.LokiLabel, "!=", ""))
	return "sum by (" + f.LokiLabel + ") (count_over_time(" + e.rangeOf(r) + "))"
}

// Escape returns s escaped for use inside a double-quoted LogQL string (the
// literal's content, without the quotes).
func Escape(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
