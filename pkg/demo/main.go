package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// EnvPrefix starts the environment variable of every flag: FEEDBACK_DEMO_
// and the flag name in upper case with _ for - (-feedbackd-url is
// FEEDBACK_DEMO_FEEDBACKD_URL), so the compose file needs no command line.
const EnvPrefix = "FEEDBACK_DEMO_"

// Options are the command line: the run's Config and where /metrics listens.
type Options struct {
	Config
	// Listen is the address of the chat page, /metrics, /tickets and
	// /notifications; empty serves none.
	Listen string
	// WidgetEndpoint and WidgetToken configure the chat page's widget
	// (ChatConfig).
	WidgetEndpoint string
	WidgetToken    string
}

// ErrHelp is returned by ParseOptions for -h.
var ErrHelp = flag.ErrHelp

// ParseOptions reads flags, falling back to the environment (getenv); flags
// win. Errors and usage go to out.
func ParseOptions(args []string, getenv func(string) string, out io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("feedback-demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.FeedbackdURL, "feedbackd-url", "http://127.0.0.1:8787", "feedbackd base URL")
	fs.StringVar(&o.Token, "token", "", "bearer token for feedbackd (its --tokens); empty: none")
	fs.StringVar(&o.LokiURL, "loki-url", "", "Loki base URL for the app's execution logs; empty: no logs")
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:9464", "address of the chat page (/), /metrics and of the ticket system and notification service feedbackd's rules call (/tickets, /notifications); empty: none")
	fs.StringVar(&o.WidgetEndpoint, "widget-endpoint", "", "feedbackd's base URL as a visitor's browser reaches it, for the chat page's widget; empty: feedbackd-url")
	fs.StringVar(&o.WidgetToken, "widget-token", "", "browser token for the chat page's widget (feedbackd --browser-tokens, with the page's origin in --cors-origins); empty: none")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed; the same seed replays the same traffic")
	fs.Float64Var(&o.Rate, "rate", 2, "interactions per second; 0: as fast as feedbackd accepts")
	fs.IntVar(&o.Count, "count", 0, "stop after this many interactions; 0: no limit")
	fs.DurationVar(&o.Duration, "duration", 0, "stop after this long; 0: no limit")
	fs.IntVar(&o.BatchSize, "batch", 100, "most events per request to feedbackd")
	fs.IntVar(&o.ResolveAfter, "resolve-after", 600, "post the resolution \"v3 fixes hallucination and bias\" after this many interactions; 0: never")
	// The environment is applied as if given first on the command line, so
	// a bad value is reported like a bad flag and real flags override it.
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvPrefix + envName(f.Name)
		if v := getenv(name); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	if err != nil {
		return o, err
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.Rate < 0 || o.Count < 0 || o.Duration < 0 || o.BatchSize < 1 || o.ResolveAfter < 0 {
		return o, errors.New("rate, count, duration and resolve-after must not be negative, batch at least 1")
	}
	return o, nil
}

func envName(flagName string) string {
	b := []byte(flagName)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Main is feedback-demo's whole program; it returns the process exit code.
func Main(args []string) int {
	o, err := ParseOptions(args, os.Getenv, os.Stderr)
	if errors.Is(err, ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "feedback-demo:", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.Metrics = NewMetrics(reg)
	o.Log = log
	if o.Listen != "" {
		l, err := net.Listen("tcp", o.Listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, "feedback-demo:", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
		// The systems feedbackd's rules call: a jira target with url
		// …/tickets, and --notify-url …/notifications.
		mux.Handle("/tickets/", http.StripPrefix("/tickets", NewTicketSystem(reg)))
		mux.Handle("POST /notifications", NewInbox(reg))
		// A person's own feedback, through the widget, on top of the simulated traffic.
		mux.Handle("/", NewChat(ChatConfig{Config: o.Config, WidgetEndpoint: o.WidgetEndpoint, WidgetToken: o.WidgetToken}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer srv.Close()
		log.Info("serving the chat page (/), /metrics, /tickets and /notifications", "addr", l.Addr().String())
	}
	log.Info("simulating support-bot traffic", "feedbackd", o.FeedbackdURL, "loki", o.LokiURL, "seed", o.Seed,
		"rate", strconv.FormatFloat(o.Rate, 'g', -1, 64), "count", o.Count, "duration", o.Duration.String())
	if _, err := Run(ctx, o.Config); err != nil {
		fmt.Fprintln(os.Stderr, "feedback-demo:", err)
		return 1
	}
	return 0
}
