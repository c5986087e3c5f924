// Package otlptest exports telemetry with the real OpenTelemetry Go SDK and
// its OTLP/HTTP exporters, for the tests of feedbackd's OTLP receiver.
// Spans and records are collected first and exported in one explicit call,
// so that a test gets the exporter's own error (a refused request, a partial
// success) instead of it going to the SDK's global error handler.
package otlptest

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Resource describes the exporting service.
func Resource(attrs ...attribute.KeyValue) *resource.Resource {
	return resource.NewSchemaless(attrs...)
}

// Spans records the spans of one tracer provider until Export.
type Spans struct {
	rec *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
}

// NewSpans is a tracer provider for res that records every span.
func NewSpans(res *resource.Resource) *Spans {
	rec := tracetest.NewSpanRecorder()
	return &Spans{rec: rec, tp: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))}
}

// Tracer is the provider's tracer.
func (s *Spans) Tracer() trace.Tracer { return s.tp.Tracer("feedbackloop-test") }

// Export sends the ended spans in one request to url (".../v1/traces") with
// the bearer token, without retries; opts may pick JSON or gzip.
func (s *Spans) Export(ctx context.Context, url, token string, opts ...otlptracehttp.Option) error {
	opts = append([]otlptracehttp.Option{otlptracehttp.WithEndpointURL(url),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}, opts...)
	if token != "" {
		opts = append(opts, otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer exp.Shutdown(ctx)
	return exp.ExportSpans(ctx, s.rec.Ended())
}

// Logs records the log records of one logger provider until Export.
type Logs struct {
	lp  *sdklog.LoggerProvider
	rec *recorder
}

type recorder struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (r *recorder) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (r *recorder) OnEmit(_ context.Context, rec *sdklog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}
func (r *recorder) Shutdown(context.Context) error   { return nil }
func (r *recorder) ForceFlush(context.Context) error { return nil }

// NewLogs is a logger provider for res that records every record.
func NewLogs(res *resource.Resource) *Logs {
	rec := &recorder{}
	return &Logs{rec: rec, lp: sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(rec))}
}

// Logger is the provider's logger.
func (l *Logs) Logger() log.Logger { return l.lp.Logger("feedbackloop-test") }

// Export sends the emitted records in one request to url (".../v1/logs")
// with the bearer token, without retries.
func (l *Logs) Export(ctx context.Context, url, token string, opts ...otlploghttp.Option) error {
	opts = append([]otlploghttp.Option{otlploghttp.WithEndpointURL(url),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false})}, opts...)
	if token != "" {
		opts = append(opts, otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}))
	}
	exp, err := otlploghttp.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer exp.Shutdown(ctx)
	l.rec.mu.Lock()
	defer l.rec.mu.Unlock()
	return exp.Export(ctx, l.rec.records)
}

// Evaluation emits a gen_ai.evaluation.result event in ctx's span context,
// as the GenAI conventions ask.
func Evaluation(ctx context.Context, logger log.Logger, at time.Time, attrs ...attribute.KeyValue) {
	var r log.Record
	r.SetEventName("gen_ai.evaluation.result")
	r.SetTimestamp(at)
	r.AddAttributes(attrs...)
	logger.Emit(ctx, r)
}
