// Package metrics provides posagent's Prometheus metrics (prefix
// posagent_, README "Operate") on a registry of its own, with the
// small methods the session, the Orders API client, the displays and the
// printers report through, and (RegisterOps) the series read from the
// agent at scrape time.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every series.
type Metrics struct {
	reg            *prometheus.Registry
	commands       *prometheus.CounterVec
	apiDuration    *prometheus.HistogramVec
	apiRetries     *prometheus.CounterVec
	ordersOpen     *prometheus.GaugeVec
	printerErrors  *prometheus.CounterVec
	displayErrors  *prometheus.CounterVec
	natsConnected  prometheus.Gauge
	natsReconnects prometheus.Counter
	eventsFailed   prometheus.Counter
	pending        *prometheus.GaugeVec
	webhooks       *prometheus.CounterVec
}

// WebhookOutcomes are the values of posagent_webhooks_total's outcome
// label: accepted (a poller asks the API now), unknown_order (signed, but
// no order awaiting payment has that id), and the ignored ones: unsigned,
// bad_signature, stale (timestamp more than 5 minutes off), replayed (a
// signature already seen) and malformed (no usable order id).
func WebhookOutcomes() []string {
	return []string{"accepted", "unknown_order", "unsigned", "bad_signature", "stale", "replayed", "malformed"}
}

// New registers the series on a new registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posagent_commands_total",
			Help: "Register commands by POS, command and outcome (the event status emitted, or replayed/shown/stale_dropped)."},
			[]string{"pos", "command", "outcome"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "posagent_api_request_duration_seconds",
			Help:    "Orders API attempts by endpoint and HTTP status (\"error\" when no answer came).",
			Buckets: []float64{.025, .05, .1, .2, .4, .8, 1.6, 3.2, 6.4, 12.8}},
			[]string{"endpoint", "code"}),
		apiRetries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posagent_api_retries_total",
			Help: "Orders API attempts retried after a network error, 429 or 5xx."}, []string{"endpoint"}),
		ordersOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "posagent_orders_open",
			Help: "Orders awaiting payment, by POS (0 or 1)."}, []string{"pos"}),
		printerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posagent_printer_errors_total",
			Help: "Printer problems by POS and status (offline, paper_out, cover_open, paper_near_end, write_error)."},
			[]string{"pos", "status"}),
		displayErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posagent_display_errors_total",
			Help: "Customer display adapter failures by POS and display type."}, []string{"pos", "type"}),
		natsConnected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posagent_nats_connected",
			Help: "1 while the agent is connected to NATS."}),
		natsReconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "posagent_nats_reconnects_total",
			Help: "Reconnections to NATS."}),
		eventsFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "posagent_event_publish_failures_total",
			Help: "Events whose publication failed (NATS unreachable); each is retried until stored."}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "posagent_consumer_pending",
			Help: "Commands waiting in the stream for the POS's consumer (its num_pending), sampled periodically."}, []string{"pos"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posagent_webhooks_total",
			Help: "Mercado Pago webhook notifications by outcome (accepted, unknown_order, unsigned, bad_signature, stale, replayed, malformed)."},
			[]string{"outcome"}),
	}
	for _, o := range WebhookOutcomes() {
		m.webhooks.WithLabelValues(o) // from 0, so the first ignored one can fire an alert
	}
	m.reg.MustRegister(m.commands, m.apiDuration, m.apiRetries, m.ordersOpen, m.printerErrors, m.displayErrors,
		m.natsConnected, m.natsReconnects, m.eventsFailed, m.pending, m.webhooks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Command counts a command's outcome.
func (m *Metrics) Command(pos, verb, outcome string) {
	m.commands.WithLabelValues(pos, verb, outcome).Inc()
}

// outcomes are the outcomes of each command that alert rules may count.
var outcomes = map[string][]string{
	"sale":    {"created", "rejected", "failed", "replayed"},
	"cancel":  {"canceled", "processed", "expired", "rejected", "replayed"},
	"refund":  {"refunded", "rejected", "replayed"},
	"display": {"shown", "rejected", "stale_dropped"},
}

// InitPOS creates pos's counters at 0, so a rule over increase() or
// rate() sees the first failure rather than a series that only begins
// with it.
func (m *Metrics) InitPOS(pos string) {
	for verb, list := range outcomes {
		for _, o := range list {
			m.commands.WithLabelValues(pos, verb, o)
		}
	}
	m.ordersOpen.WithLabelValues(pos)
}

// OrdersOpen sets the open orders of a POS.
func (m *Metrics) OrdersOpen(pos string, n int) { m.ordersOpen.WithLabelValues(pos).Set(float64(n)) }

// ObserveRequest records one Orders API attempt.
func (m *Metrics) ObserveRequest(endpoint, code string, d time.Duration) {
	m.apiDuration.WithLabelValues(endpoint, code).Observe(d.Seconds())
}

// ObserveRetry counts a retried attempt.
func (m *Metrics) ObserveRetry(endpoint string) { m.apiRetries.WithLabelValues(endpoint).Inc() }

// PrinterError counts a printer problem.
func (m *Metrics) PrinterError(pos, status string) {
	m.printerErrors.WithLabelValues(pos, status).Inc()
}

// DisplayError counts a display adapter failure.
func (m *Metrics) DisplayError(pos, typ string) { m.displayErrors.WithLabelValues(pos, typ).Inc() }

// NATSConnected sets the connection gauge.
func (m *Metrics) NATSConnected(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.natsConnected.Set(v)
}

// NATSReconnected counts a reconnection.
func (m *Metrics) NATSReconnected() { m.natsReconnects.Inc() }

// ConsumerPending sets the commands waiting for a POS's consumer.
func (m *Metrics) ConsumerPending(pos string, n uint64) {
	m.pending.WithLabelValues(pos).Set(float64(n))
}

// EventPublishFailed counts an event whose publication failed (it is
// retried: by the command's redelivery, or by the poller).
func (m *Metrics) EventPublishFailed() { m.eventsFailed.Inc() }

// Webhook counts a webhook notification by outcome (one of
// WebhookOutcomes: the label never carries a caller's string).
func (m *Metrics) Webhook(outcome string) { m.webhooks.WithLabelValues(outcome).Inc() }
