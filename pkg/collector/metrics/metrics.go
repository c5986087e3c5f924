// Package metrics holds feedbackd's Prometheus series (docs/storage.md). The
// feedback counters are the Prometheus "sink": they count at acceptance,
// after the events are durable, and carry the correlation id as an exemplar
// so a spike on a dashboard leads to one concrete conversation.
package metrics

import (
	"net/http"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/feedbackloop/modelfeedback/pkg/feedback"
)

// Metrics is one registry with every series feedbackd exports.
type Metrics struct {
	Registry       *prometheus.Registry
	Events         *prometheus.CounterVec
	Tags           *prometheus.CounterVec
	IngestRequests *prometheus.CounterVec
	Delivery       *prometheus.CounterVec
	// OTLPSkipped and OTLPRejected count OTLP records (spans, span events,
	// log records) that made no event.
	OTLPSkipped  *prometheus.CounterVec
	OTLPRejected *prometheus.CounterVec

	// The delivery loops' own series (docs/delivery.md).
	DeliveryInFlight     *prometheus.GaugeVec
	DeliveryConcurrency  *prometheus.GaugeVec
	DeliveryBatchEvents  *prometheus.HistogramVec
	DeliveryBatchBytes   *prometheus.HistogramVec
	DeliverySendDuration *prometheus.HistogramVec
}

// New registers the series; processCollectors adds the Go runtime and
// process series (left out in tests that compare whole outputs).
func New(processCollectors bool) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedback_events_total",
			Help: "Events accepted (durably spooled), by model version, kind, sentiment and reason. Exemplars carry correlation_id.",
		}, []string{"model_id", "model_version", "kind", "sentiment", "reason"}),
		Tags: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedback_tags_total",
			Help: "Tags on accepted events; an event with two tags counts once under each. Exemplars carry correlation_id.",
		}, []string{"model_id", "model_version", "tag"}),
		IngestRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedbackd_ingest_requests_total",
			Help: "Requests to the ingest endpoints by HTTP status code.",
		}, []string{"code"}),
		Delivery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedbackd_delivery_total",
			Help: "Events per sink by outcome: delivered (acknowledged), rejected (dead-lettered), failed (in an attempt that will be retried).",
		}, []string{"sink", "outcome"}),
		OTLPSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedbackd_otlp_skipped_total",
			Help: "OTLP records accepted without making an event, by signal (traces, logs) and reason: no_gen_ai (a span without gen_ai.* attributes, a log record not named gen_ai.evaluation.result) or operation (a GenAI span outside otlp-operations).",
		}, []string{"signal", "reason"}),
		OTLPRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "feedbackd_otlp_rejected_total",
			Help: "OTLP records whose event broke the event contract, refused in the partial-success answer, by signal.",
		}, []string{"signal"}),
		DeliveryInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "feedbackd_delivery_inflight_batches",
			Help: "Batches sent to the sink (or waiting to be resent) whose acknowledgement the cursor has not passed yet.",
		}, []string{"sink"}),
		DeliveryConcurrency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "feedbackd_delivery_concurrency",
			Help: "Batches the sink may have in flight right now: delivery-concurrency, halved while the sink refuses, fails or times out, raised again as it acknowledges.",
		}, []string{"sink"}),
		DeliveryBatchEvents: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "feedbackd_delivery_batch_events",
			Help:    "Events per batch cut for the sink (by delivery-batch-size or delivery-batch-bytes).",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
		}, []string{"sink"}),
		DeliveryBatchBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "feedbackd_delivery_batch_bytes",
			Help:    "Bytes of the events of one batch cut for the sink, before the sink's encoding.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 9), // 1 KiB .. 64 MiB
		}, []string{"sink"}),
		DeliverySendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "feedbackd_delivery_send_duration_seconds",
			Help:    "Duration of each delivery attempt to the sink, successful or not.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
	}
	m.Registry.MustRegister(m.Events, m.Tags, m.IngestRequests, m.Delivery, m.OTLPSkipped, m.OTLPRejected,
		m.DeliveryInFlight, m.DeliveryConcurrency, m.DeliveryBatchEvents, m.DeliveryBatchBytes, m.DeliverySendDuration)
	if processCollectors {
		m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// RegisterSpool exports feedbackd_spool_bytes, read at scrape time.
func (m *Metrics) RegisterSpool(bytes func() int64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "feedbackd_spool_bytes",
		Help: "Size of the on-disk write-ahead log.",
	}, func() float64 { return float64(bytes()) }))
}

// Handler serves /metrics. OpenMetrics must be negotiable: the classic text
// format has no exemplars.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

type eventKey struct{ modelID, version, kind, sentiment, reason string }

type tagKey struct{ modelID, version, tag string }

type tally struct {
	n          float64
	correlated string // the last correlation id seen for the series
}

// Accepted counts durably accepted events. A request's events are summed per
// series first, so a 1,000-event batch costs one update (and one exemplar)
// per distinct series instead of one per event.
func (m *Metrics) Accepted(events []feedback.Event) {
	var evs series[eventKey]
	var tags series[tagKey]
	for i := range events {
		e := &events[i]
		t := evs.tally(eventKey{e.Model.ID, e.Model.Version, string(e.Kind), string(e.Sentiment), e.Reason})
		t.n++
		if e.CorrelationID != "" {
			t.correlated = e.CorrelationID
		}
		for _, tag := range e.Tags {
			tt := tags.tally(tagKey{e.Model.ID, e.Model.Version, tag})
			tt.n++
			if e.CorrelationID != "" {
				tt.correlated = e.CorrelationID
			}
		}
	}
	for i, k := range evs.keys {
		add(m.Events.WithLabelValues(k.modelID, k.version, k.kind, k.sentiment, k.reason), &evs.tallies[i])
	}
	for i, k := range tags.keys {
		add(m.Tags.WithLabelValues(k.modelID, k.version, k.tag), &tags.tallies[i])
	}
}

// series keeps tallies in first-seen order. A request has a handful of
// distinct series, so a linear search beats a map until there are many.
type series[K comparable] struct {
	keys    []K
	tallies []tally
	index   map[K]int
}

func (s *series[K]) tally(k K) *tally {
	if s.index != nil {
		if i, ok := s.index[k]; ok {
			return &s.tallies[i]
		}
	} else {
		// Backwards: consecutive events usually share their series.
		for i := len(s.keys) - 1; i >= 0; i-- {
			if s.keys[i] == k {
				return &s.tallies[i]
			}
		}
	}
	s.keys = append(s.keys, k)
	s.tallies = append(s.tallies, tally{})
	switch {
	case s.index != nil:
		s.index[k] = len(s.keys) - 1
	case len(s.keys) > 16:
		s.index = make(map[K]int, 2*len(s.keys))
		for i, k := range s.keys {
			s.index[k] = i
		}
	}
	return &s.tallies[len(s.tallies)-1]
}

func add(c prometheus.Counter, t *tally) {
	ex := exemplar(t.correlated)
	if ex == nil {
		c.Add(t.n)
		return
	}
	// The exemplar stands for one event, the one whose id it carries.
	if t.n > 1 {
		c.Add(t.n - 1)
	}
	c.(prometheus.ExemplarAdder).AddWithExemplar(1, ex)
}

// maxExemplarRunes is the OpenMetrics limit on an exemplar's label names and
// values together; client_golang panics beyond it.
const maxExemplarRunes = 128

func exemplar(correlationID string) prometheus.Labels {
	if correlationID == "" {
		return nil
	}
	const name = "correlation_id"
	if utf8.RuneCountInString(name)+utf8.RuneCountInString(correlationID) > maxExemplarRunes {
		// A cut id would point at the wrong conversation; better none.
		return nil
	}
	return prometheus.Labels{name: correlationID}
}
