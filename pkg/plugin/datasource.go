// Package plugin is the Grafana data source: it routes queries by type,
// answers resources for the editors and runs the health check.
package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/resource/httpadapter"

	"github.com/feedbackloop/modelfeedback/pkg/embed"
	"github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/prom"
	"github.com/feedbackloop/modelfeedback/pkg/query"
	"github.com/feedbackloop/modelfeedback/pkg/read"
	"github.com/feedbackloop/modelfeedback/pkg/submit"
)

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.CallResourceHandler   = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// Datasource is one configured instance.
type Datasource struct {
	settings *models.Settings
	// settingsErr is kept instead of failing instance creation so that the
	// health check and every query can say which setting is wrong.
	settingsErr error
	sources     map[query.Source]read.Reader
	sourceErrs  map[query.Source]error
	// logs runs trace.executionLogsQuery; nil when Loki is not configured.
	logs read.LogSearcher
	// prom is nil when Prometheus is not configured; promErr says why.
	prom    *prom.Client
	promErr error
	mux     *datasource.QueryTypeMux
	// handlers answer each query type, for the mux and for queries whose
	// type is only in their JSON.
	handlers  map[query.Type]queryFunc
	resources backend.CallResourceHandler
	// feedbackd receives reviews; nil when feedbackd.url is not set
	// (feedbackdErr says so).
	feedbackd    *submit.Client
	feedbackdErr error
	// embedder groups comments by meaning; nil: by words.
	embedder *embed.Client
}

// NewDatasource is the instance factory given to the SDK.
func NewDatasource(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	d := &Datasource{sources: map[query.Source]read.Reader{}, sourceErrs: map[query.Source]error{}}
	d.settings, d.settingsErr = models.Load(models.Instance{UID: s.UID, Name: s.Name, JSONData: s.JSONData, Secure: s.DecryptedSecureJSONData})
	if d.settingsErr == nil {
		d.connect()
	}
	d.handlers = map[query.Type]queryFunc{
		query.Breakdown: d.breakdown, query.Timeseries: d.timeseries, query.Feedback: d.feedback,
		query.Versions: d.versions, query.Trace: d.trace, query.Reviews: d.reviews, query.Clusters: d.clusters,
	}
	d.mux = datasource.NewQueryTypeMux()
	for t, fn := range d.handlers {
		d.mux.HandleFunc(string(t), d.handle(fn))
	}
	// Empty type: the query's JSON decides (breakdown by default); any other
	// type reaches here too and gets a clear error from query.Parse.
	d.mux.HandleFunc("", d.handle(d.byJSONType))
	d.resources = httpadapter.New(d.resourceRoutes())
	return d, nil
}

// connect builds a client per configured source; an unconfigured source is
// remembered so that a query for it gets an error naming the setting.
func (d *Datasource) connect() {
	d.settings.Loki.HTTPClient = sdkHTTPClient
	d.settings.Elasticsearch.HTTPClient = sdkHTTPClient
	d.settings.Prometheus.HTTPClient = sdkHTTPClient
	if c, err := loki.New(d.settings.Loki); err != nil {
		d.sourceErrs[query.SourceLoki] = err
	} else {
		d.sources[query.SourceLoki] = c
		d.logs = c
	}
	if c, err := newElastic(d.settings.Elasticsearch); err != nil {
		d.sourceErrs[query.SourceElasticsearch] = err
	} else if c != nil {
		d.sources[query.SourceElasticsearch] = c
	}
	d.prom, d.promErr = prom.New(d.settings.Prometheus)
	d.settings.Feedbackd.HTTPClient = sdkHTTPClient
	d.feedbackd, d.feedbackdErr = submit.New(d.settings.Feedbackd, "feedbackd.url")
	d.settings.Clusters.HTTPClient = sdkHTTPClient
	if e, err := embed.New(d.settings.Clusters); err != nil {
		d.settingsErr = err // models.Load checked the same; kept for safety
	} else {
		d.embedder = e
	}
}

// Dispose releases nothing: HTTP clients hold no resources beyond idle
// connections, which the GC reclaims.
func (d *Datasource) Dispose() {}

// QueryData answers all queries of a request; each query's failure stays in
// its own response.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	return d.mux.QueryData(ctx, req)
}

type queryFunc func(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse

// handle parses every query of a request and runs fn on each, classifying
// errors at this boundary: bad queries and unconfigured sources are the
// user's (downstream), panics and the rest are the plugin's.
func (d *Datasource) handle(fn queryFunc) backend.QueryDataHandlerFunc {
	return func(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
		resp := backend.NewQueryDataResponse()
		alerting := req.Headers["FromAlert"] == "true"
		for _, dq := range req.Queries {
			resp.Responses[dq.RefID] = d.one(ctx, dq, alerting, fn)
		}
		return resp, nil
	}
}

func (d *Datasource) one(ctx context.Context, dq backend.DataQuery, alerting bool, fn queryFunc) (res backend.DataResponse) {
	defer func() {
		if r := recover(); r != nil {
			res = backend.ErrorResponseWithErrorSource(backend.PluginError(fmt.Errorf("internal error in query %s: %v", dq.RefID, r)))
		}
	}()
	if d.settingsErr != nil {
		return backend.ErrorResponseWithErrorSource(backend.DownstreamError(d.settingsErr))
	}
	q, err := query.Parse(dq, d.settings.DefaultSource)
	if err != nil {
		return backend.ErrorResponseWithErrorSource(backend.DownstreamError(err))
	}
	q.Alerting = alerting
	src, err := d.source(q.Source)
	if err != nil {
		return backend.ErrorResponseWithErrorSource(backend.DownstreamError(err))
	}
	return fn(ctx, q, src)
}

func (d *Datasource) source(s query.Source) (read.Reader, error) {
	if src, ok := d.sources[s]; ok {
		return src, nil
	}
	if err := d.sourceErrs[s]; err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("source %q is not configured", s)
}

func (d *Datasource) byJSONType(ctx context.Context, q query.Query, src read.Reader) backend.DataResponse {
	if fn, ok := d.handlers[q.Type]; ok {
		return fn(ctx, q, src)
	}
	return backend.ErrorResponseWithErrorSource(backend.DownstreamError(
		fmt.Errorf("query type %q is not available in this version of the data source", q.Type)))
}

// errorResponse keeps the executed query visible next to the error, so the
// inspector shows what failed.
func errorResponse(err error, meta read.Meta) backend.DataResponse {
	var qe *query.Error
	var se *models.SettingError
	if errors.As(err, &qe) || errors.As(err, &se) || read.IsDownstream(err) {
		err = backend.DownstreamError(err)
	}
	res := backend.ErrorResponseWithErrorSource(err)
	if meta.Executed != "" {
		res.Frames = append(res.Frames, emptyWithQuery(meta))
	}
	return res
}
