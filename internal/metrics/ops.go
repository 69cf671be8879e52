package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Ops is what the agent knows but does not count, read at scrape time.
type Ops interface {
	// Checks are the /healthz checks by name and state.
	Checks() map[string]string
	// PrinterHealth is each POS printer's health ("ok", "paper_out: ...");
	// POS without a printer are absent.
	PrinterHealth() map[string]string
	// HubLink is "connected" or "disconnected" with a leaf link, else "".
	HubLink() string
}

// RegisterOps exports o at scrape time, with the build's version and the
// store: posagent_check_failing, posagent_printer_status,
// posagent_build_info and posagent_hub_connected.
func (m *Metrics) RegisterOps(o Ops, version, storeID string) {
	m.reg.MustRegister(&opsCollector{
		ops: o, version: version, storeID: storeID,
		failing: prometheus.NewDesc("posagent_check_failing",
			"1 while a /healthz check reports a problem (not ok and not unknown): nats, consumers, api_token, printer:<pos>.",
			[]string{"check"}, nil),
		printer: prometheus.NewDesc("posagent_printer_status",
			"1 for each POS printer's current status (ok, paper_out, paper_near_end, cover_open, offline, unknown).",
			[]string{"pos", "status"}, nil),
		build: prometheus.NewDesc("posagent_build_info", "Always 1, labelled with the agent's version and store.",
			[]string{"version", "store_id"}, nil),
		hubLinked: prometheus.NewDesc("posagent_hub_connected",
			"1 while the embedded server's leaf link to the hub is up (only with nats.embedded.leaf).", nil, nil),
	})
}

type opsCollector struct {
	ops                                Ops
	version, storeID                   string
	failing, printer, build, hubLinked *prometheus.Desc
}

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.failing
	ch <- c.printer
	ch <- c.build
	ch <- c.hubLinked
}

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	for check, state := range c.ops.Checks() {
		v := 0.0
		if state != "ok" && state != "unknown" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, v, check)
	}
	for pos, h := range c.ops.PrinterHealth() {
		status, _, _ := strings.Cut(h, ":")
		ch <- prometheus.MustNewConstMetric(c.printer, prometheus.GaugeValue, 1, pos, status)
	}
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, c.version, c.storeID)
	switch c.ops.HubLink() {
	case "connected":
		ch <- prometheus.MustNewConstMetric(c.hubLinked, prometheus.GaugeValue, 1)
	case "disconnected":
		ch <- prometheus.MustNewConstMetric(c.hubLinked, prometheus.GaugeValue, 0)
	}
}
