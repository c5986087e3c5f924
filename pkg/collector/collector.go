// Package collector assembles feedbackd: configuration, spool, sinks,
// delivery loops and the HTTP API, and runs them until a signal.
package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/feedbackloop/modelfeedback/pkg/collector/config"
	"github.com/feedbackloop/modelfeedback/pkg/collector/delivery"
	"github.com/feedbackloop/modelfeedback/pkg/collector/enrich"
	"github.com/feedbackloop/modelfeedback/pkg/collector/escalate"
	"github.com/feedbackloop/modelfeedback/pkg/collector/ingest"
	"github.com/feedbackloop/modelfeedback/pkg/collector/metrics"
	"github.com/feedbackloop/modelfeedback/pkg/collector/notify"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/esbulk"
	"github.com/feedbackloop/modelfeedback/pkg/collector/sink/lokipush"
	"github.com/feedbackloop/modelfeedback/pkg/collector/spool"
	esread "github.com/feedbackloop/modelfeedback/pkg/elastic"
	lokiread "github.com/feedbackloop/modelfeedback/pkg/loki"
	"github.com/feedbackloop/modelfeedback/pkg/models"
	"github.com/feedbackloop/modelfeedback/pkg/storage"
)

// Main is feedbackd's whole program; it returns the process exit code.
func Main(args []string) int {
	cfg, err := config.Load(args, os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, config.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "feedbackd:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, cfg, NewLogger(cfg.LogLevel, os.Stderr), nil); err != nil {
		fmt.Fprintln(os.Stderr, "feedbackd:", err)
		return 1
	}
	return 0
}

// NewLogger makes the JSON logger feedbackd writes to stderr.
func NewLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// Sinks builds the sinks the configuration names.
func Sinks(cfg *config.Config) ([]sink.Sink, error) {
	var out []sink.Sink
	if cfg.LokiURL != "" {
		s, err := lokipush.New(lokipush.Config{URL: cfg.LokiURL, Tenant: cfg.LokiTenant, Username: cfg.LokiUsername,
			Password: cfg.LokiPassword, BearerToken: cfg.LokiBearerToken, Timeout: cfg.DeliveryTimeout})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if cfg.ElasticsearchURL != "" {
		s, err := esbulk.New(esbulk.Config{URL: cfg.ElasticsearchURL, Index: cfg.ElasticsearchIndex,
			Username: cfg.ElasticsearchUsername, Password: cfg.ElasticsearchPassword, APIKey: cfg.ElasticsearchAPIKey,
			InstallTemplate: cfg.ElasticsearchInstallTemplate, Timeout: cfg.DeliveryTimeout})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ReportReader reads feedback back for the close-the-loop rule, with the data
// source's own query code, from where the sinks deliver it.
func ReportReader(cfg *config.Config) (notify.Reader, error) {
	if cfg.NotifySource == "elasticsearch" {
		return esread.New(models.Elastic{URL: cfg.ElasticsearchURL, Index: cfg.ElasticsearchIndex + "-*", // the daily indices of storage.DailyIndex
			BasicAuthUser: cfg.ElasticsearchUsername, Password: cfg.ElasticsearchPassword, APIKey: cfg.ElasticsearchAPIKey})
	}
	// Every stream feedbackd writes matches the storage contract's selector.
	return lokiread.New(models.Loki{URL: cfg.LokiURL, Selector: storage.Selector, Tenant: cfg.LokiTenant,
		BasicAuthUser: cfg.LokiUsername, Password: cfg.LokiPassword, Token: cfg.LokiBearerToken})
}

// Run serves until ctx ends, then shuts down gracefully: stop accepting,
// finish in-flight requests (their events are committed), let the sinks catch
// up within the shutdown timeout, persist cursors, close the spool. When
// sinks is nil they are built from cfg. ready, if not nil, receives the bound
// address once the API is listening.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger, sinks []sink.Sink, ready ...func(addr string)) error {
	if sinks == nil {
		var err error
		if sinks, err = Sinks(cfg); err != nil {
			return err
		}
	}
	sinks = append([]sink.Sink(nil), sinks...)
	// The escalator and the notifier append to the spool, opened below.
	var spoolRef *spool.Spool
	escCfg, escalating, err := escalate.Build(cfg.Escalation, escalate.Options{URL: cfg.EscalateURL, Token: cfg.EscalateToken,
		System: cfg.EscalateSystem, MinSeverity: cfg.EscalateSeverity, GrafanaURL: cfg.GrafanaURL,
		Timeout: cfg.DeliveryTimeout, Getenv: os.Getenv})
	if err != nil {
		return err
	}
	var esc *escalate.Escalator
	if escalating {
		// Delivery starts after the spool is open, so spoolRef is set by then.
		escCfg.Append = func(ctx context.Context, lines [][]byte) error { _, err := spoolRef.Append(ctx, lines); return err }
		if esc, err = escalate.New(escCfg); err != nil {
			return err
		}
		sinks = append(sinks, esc)
	}
	if cfg.NotifyURL != "" {
		reader, err := ReportReader(cfg)
		if err != nil {
			return err
		}
		n, err := notify.New(notify.Config{URL: cfg.NotifyURL, Token: cfg.NotifyToken, Channel: cfg.NotifyChannel,
			Lookback: cfg.NotifyLookback, Timeout: cfg.DeliveryTimeout, Reader: reader,
			Logger: log, Append: func(ctx context.Context, lines [][]byte) error { _, err := spoolRef.Append(ctx, lines); return err }})
		if err != nil {
			return err
		}
		sinks = append(sinks, n)
	}
	log.Info("starting feedbackd", "config", cfg.Redacted())
	names := make([]string, len(sinks))
	for i, s := range sinks {
		names[i] = s.Name()
	}
	if escalating && cfg.GrafanaURL == "" {
		log.Warn("escalation without grafana-url: tickets carry the correlation id but no link to the trace drill-down")
	}
	if len(sinks) == 0 {
		log.Warn("no sinks configured (loki-url, elasticsearch-url): events are accepted and kept in the spool until a sink is configured")
	}
	if len(cfg.Tokens)+len(cfg.BrowserTokens) == 0 {
		log.Warn("no tokens configured: the ingest API accepts requests without authentication")
	}
	cursors := names
	if cfg.Enrich && len(names) > 0 {
		// The index reads the spool like a sink, so the spool keeps what the
		// index has not applied yet. Without sinks nothing is truncated.
		cursors = append(append([]string(nil), names...), enrich.CursorName)
	}
	sp, err := spool.Open(spool.Options{Dir: cfg.SpoolDir, MaxBytes: cfg.SpoolMaxBytes, Sinks: cursors})
	if err != nil {
		return err
	}
	spoolRef = sp
	log.Info("spool open", "dir", cfg.SpoolDir, "committed", sp.Committed(), "first", sp.First(), "bytes", sp.Bytes())
	m := metrics.New(true)
	m.RegisterSpool(sp.Bytes)
	var index *enrich.Index
	var enricher ingest.Enricher
	if cfg.Enrich {
		if index, err = openIndex(ctx, cfg, sp, len(names) > 0, log); err != nil {
			sp.Close()
			return err
		}
		defer index.Close()
		enricher = index
		m.Registry.MustRegister(index.Collectors()...)
	}
	runner := delivery.New(sp, sinks, delivery.Metrics{Delivery: m.Delivery, InFlight: m.DeliveryInFlight,
		Concurrency: m.DeliveryConcurrency, BatchEvents: m.DeliveryBatchEvents, BatchBytes: m.DeliveryBatchBytes,
		SendDuration: m.DeliverySendDuration}, delivery.Options{
		BatchSize: cfg.DeliveryBatchSize, BatchBytes: cfg.DeliveryBatchBytes, Concurrency: cfg.DeliveryConcurrency,
		Timeout: cfg.DeliveryTimeout, BatchWait: cfg.DeliveryBatchWait,
		DeadLetterDir: filepath.Join(cfg.SpoolDir, "deadletter"), Logger: log,
	})
	m.Registry.MustRegister(runner.LagCollectors()...)
	if esc != nil {
		m.Registry.MustRegister(esc.Collectors()...)
	}

	otlpMapping := cfg.OTLPMapping()
	handler := ingest.New(ingest.Options{
		Spool: sp, Tokens: cfg.Tokens, BrowserTokens: cfg.BrowserTokens, CORSOrigins: cfg.CORSOrigins,
		Redact: cfg.Redact, RedactContext: cfg.RedactContext, Metrics: m, Logger: log,
		Ready: Readiness(sp, sinks), OTLP: &otlpMapping, Enrich: enricher,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		sp.Close()
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	log.Info("listening", "addr", ln.Addr().String(), "sinks", names)
	for _, f := range ready {
		f(ln.Addr().String())
	}

	indexCtx, stopIndex := context.WithCancel(context.Background())
	indexDone := make(chan struct{})
	if index != nil {
		go func() { index.Run(indexCtx); close(indexDone) }()
	} else {
		close(indexDone)
	}
	defer func() { stopIndex(); <-indexDone }()
	deliverCtx, stopDelivery := context.WithCancel(context.Background())
	defer stopDelivery()
	drain := make(chan struct{})
	delivered := make(chan struct{})
	go func() { runner.Run(deliverCtx, drain); close(delivered) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		log.Error("HTTP server failed", "err", err)
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	deadline := time.Now().Add(cfg.ShutdownTimeout)
	shCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if serr := srv.Shutdown(shCtx); serr != nil {
		log.Warn("in-flight requests did not finish in time", "err", serr)
	}
	// Everything acknowledged is committed now (and every acknowledged
	// interaction indexed); what is left is delivery.
	stopIndex()
	<-indexDone
	close(drain)
	select {
	case <-delivered:
	case <-time.After(time.Until(deadline)):
		log.Warn("sinks did not catch up before the shutdown timeout; the rest stays spooled for the next start")
		stopDelivery()
		<-delivered
	}
	for _, n := range names {
		log.Info("sink cursor", "sink", n, "cursor", sp.Cursor(n), "committed", sp.Committed())
	}
	if cerr := sp.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

// openIndex opens the enrichment index and applies what the spool holds
// beyond it, before the API listens: feedback accepted after a restart must
// find every interaction acknowledged before it.
func openIndex(ctx context.Context, cfg *config.Config, sp *spool.Spool, cursor bool, log *slog.Logger) (*enrich.Index, error) {
	index, err := enrich.Open(enrich.Options{Path: filepath.Join(cfg.SpoolDir, "enrich.db"), Retention: cfg.EnrichRetention,
		MaxBytes: cfg.EnrichMaxBytes, Source: sp, Cursor: cursor, Logger: log})
	if err != nil {
		return nil, err
	}
	from, start := index.Applied(), time.Now()
	if err := index.CatchUp(ctx); err != nil {
		index.Close()
		return nil, fmt.Errorf("enrichment index: %w", err)
	}
	log.Info("enrichment index ready", "applied_from", from, "applied", index.Applied(), "took", time.Since(start).String())
	return index, nil
}

// Readiness is /readyz: the spool is writable (not failed, not full) and
// every sink answers its ping. With no sinks it is ready and says so.
func Readiness(sp *spool.Spool, sinks []sink.Sink) func(context.Context) (bool, any) {
	return func(ctx context.Context) (bool, any) {
		type check struct {
			OK    bool   `json:"ok"`
			Error string `json:"error,omitempty"`
		}
		report := struct {
			Status string           `json:"status"`
			Spool  check            `json:"spool"`
			Sinks  map[string]check `json:"sinks"`
			Note   string           `json:"note,omitempty"`
		}{Status: "ready", Spool: check{OK: true}, Sinks: map[string]check{}}
		ok := true
		if err := sp.Err(); err != nil {
			report.Spool, ok = check{Error: err.Error()}, false
		} else if sp.Bytes() >= sp.MaxBytes() {
			report.Spool, ok = check{Error: "spool is full"}, false
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, s := range sinks {
			wg.Add(1)
			go func(s sink.Sink) {
				defer wg.Done()
				err := s.Ping(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					report.Sinks[s.Name()], ok = check{Error: err.Error()}, false
				} else {
					report.Sinks[s.Name()] = check{OK: true}
				}
			}(s)
		}
		wg.Wait()
		if len(sinks) == 0 {
			report.Note = "no sinks configured: events are spooled until loki-url or elasticsearch-url is set"
		}
		if !ok {
			report.Status = "not ready"
		}
		return ok, report
	}
}
