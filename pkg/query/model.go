package query

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Sources lists the backends a target can read from.
var Sources = []Source{SourceLoki, SourceElasticsearch}

// Operators lists the filter operators.
var Operators = []string{OpEqual, OpNotEqual, OpRegex, OpNotRegex}

// Sentiments lists the values a target's sentiment may take besides "" (any).
var Sentiments = []feedback.Sentiment{feedback.Positive, feedback.Negative, feedback.Neutral}

// Description is the query model as the frontend needs to know it. It is
// published as src/generated/query-model.json (go run ./pkg/cmd/modelgen) and
// the TypeScript types are tested against that file, so the two languages
// cannot drift apart unnoticed.
type Description struct {
	QueryTypes      []Type               `json:"queryTypes"`
	Sources         []Source             `json:"sources"`
	Kinds           []feedback.Kind      `json:"kinds"`
	Sentiments      []feedback.Sentiment `json:"sentiments"`
	Metrics         []Metric             `json:"metrics"`
	FilterOperators []string             `json:"filterOperators"`
	// QueryFields are the JSON keys of a target the data source reads.
	QueryFields []string `json:"queryFields"`
	// GroupByFields may be filtered on and grouped by; FilterOnlyFields only
	// filtered on. Neither lists the attributes.<key> form.
	GroupByFields       []string `json:"groupByFields"`
	FilterOnlyFields    []string `json:"filterOnlyFields"`
	AttributesPrefix    string   `json:"attributesPrefix"`
	AttributeKeyPattern string   `json:"attributeKeyPattern"`
	// ParamsPrefix starts params.<key>, a generation parameter; its key
	// follows AttributeKeyPattern too.
	ParamsPrefix string `json:"paramsPrefix"`
	// FieldValues are the known values of the enumerated fields.
	FieldValues          map[string][]string `json:"fieldValues"`
	Taxonomy             []string            `json:"taxonomy"`
	TagPattern           string              `json:"tagPattern"`
	CorrelationIDPattern string              `json:"correlationIdPattern"`
	Defaults             Defaults            `json:"defaults"`
	Limits               Limits              `json:"limits"`
}

// Defaults are the values Parse gives to absent fields (source: when the
// data source has no defaultSource either).
type Defaults struct {
	QueryType Type          `json:"queryType"`
	Source    Source        `json:"source"`
	Kind      feedback.Kind `json:"kind"`
	Metric    Metric        `json:"metric"`
	Limit     int           `json:"limit"`
}

// Limits are the bounds validate enforces.
type Limits struct {
	MinLimit      int `json:"minLimit"`
	MaxLimit      int `json:"maxLimit"`
	MaxTags       int `json:"maxTags"`
	MaxFilters    int `json:"maxFilters"`
	MaxGroupBy    int `json:"maxGroupBy"`
	MaxValueBytes int `json:"maxValueBytes"`
}

// Describe returns the query model.
func Describe() Description {
	d := Description{
		QueryTypes:           Types,
		Sources:              Sources,
		Kinds:                feedback.Kinds,
		Sentiments:           Sentiments,
		Metrics:              Metrics,
		FilterOperators:      Operators,
		QueryFields:          rawFieldNames(),
		AttributesPrefix:     storage.AttributesPrefix,
		AttributeKeyPattern:  storage.AttributeKey.String(),
		ParamsPrefix:         storage.ParamsPrefix,
		Taxonomy:             feedback.Taxonomy,
		TagPattern:           feedback.TagPattern,
		CorrelationIDPattern: read.CorrelationIDRe.String(),
		FieldValues: map[string][]string{
			"sentiment": sentimentNames(),
			"severity":  {string(feedback.SeverityInfo), string(feedback.SeverityWarning), string(feedback.SeverityCritical)},
			"source":    feedback.Sources,
			"reason":    feedback.Taxonomy,
			"tag":       feedback.Taxonomy,
		},
		Defaults: Defaults{QueryType: Breakdown, Source: SourceLoki, Kind: feedback.KindFeedback, Metric: MetricCount, Limit: DefaultLim},
		Limits: Limits{MinLimit: 1, MaxLimit: MaxLimit, MaxTags: read.MaxTags, MaxFilters: read.MaxFilters,
			MaxGroupBy: read.MaxGroupBy, MaxValueBytes: read.MaxValueLen},
	}
	for _, f := range storage.Fields() {
		if f.FilterOnly {
			d.FilterOnlyFields = append(d.FilterOnlyFields, f.Name)
		} else {
			d.GroupByFields = append(d.GroupByFields, f.Name)
		}
	}
	return d
}

// ModelJSON is Describe as indented JSON, the generated artifact's bytes.
func ModelJSON() ([]byte, error) { return json.MarshalIndent(Describe(), "", "  ") }

// rawFieldNames reads the target keys from raw's json tags, the struct Parse
// decodes into, so a new query field is published without an edit here.
func rawFieldNames() []string {
	t := reflect.TypeOf(raw{})
	out := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	return out
}

func sentimentNames() []string {
	out := make([]string, len(Sentiments))
	for i, s := range Sentiments {
		out[i] = string(s)
	}
	return out
}
