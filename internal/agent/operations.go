package agent

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/intake"
	"github.com/posagent/posagent/internal/version"
)

// initOperations sets up what the status page, the status query and the
// extra metrics share.
func (a *Agent) initOperations() {
	a.feed = newStatusFeed()
	a.metrics.Registry().MustRegister(newOpsCollector(a))
}

// posStatus answers the status query for pos: the session's status and
// the printer's health.
func (a *Agent) posStatus(pos string) events.StatusReply {
	var st events.StatusReply
	if s := a.Session(pos); s != nil {
		st = s.Status()
	}
	st.Printer = a.printerHealth(pos)
	return st
}

// printerHealth is pos's printer health, "" without a printer.
func (a *Agent) printerHealth(pos string) string {
	a.health.mu.Lock()
	p := a.health.printers[pos]
	a.health.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.Health()
}

// pendingEvery is how often the consumers' backlogs are sampled: lag is a
// matter of minutes, and each sample is one request per POS.
const pendingEvery = 15 * time.Second

// sampleConsumers keeps posagent_consumer_pending current until ctx ends.
func (a *Agent) sampleConsumers(ctx context.Context, js jetstream.JetStream, stream string, consumers []*intake.Consumer) {
	names := map[string]string{} // pos -> durable consumer
	for _, c := range consumers {
		names[c.POS()] = c.Name()
	}
	t := time.NewTicker(pendingEvery)
	defer t.Stop()
	for {
		a.samplePending(ctx, js, stream, names)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// samplePending reads each consumer's num_pending: commands stored for
// the POS and not yet delivered to the agent.
func (a *Agent) samplePending(ctx context.Context, js jetstream.JetStream, stream string, names map[string]string) {
	for pos, name := range names {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := js.Consumer(ictx, stream, name)
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(ictx)
		}
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Debug("consumer backlog not sampled", "pos", pos, "err", err)
			}
			continue
		}
		a.metrics.ConsumerPending(pos, info.NumPending)
	}
}

// opsCollector exports, at scrape time, what the agent knows but does not
// count: the health checks, each printer's current status, the build and
// the hub link.
type opsCollector struct {
	a                                  *Agent
	failing, printer, build, hubLinked *prometheus.Desc
}

func newOpsCollector(a *Agent) *opsCollector {
	return &opsCollector{
		a: a,
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
	}
}

func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.failing
	ch <- c.printer
	ch <- c.build
	ch <- c.hubLinked
}

func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	for check, state := range a.health.report().Checks {
		v := 0.0
		if state != "ok" && state != "unknown" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, v, check)
	}
	for _, p := range a.cfg.POS {
		if h := a.printerHealth(p.ExternalPOSID); h != "" {
			status, _, _ := strings.Cut(h, ":")
			ch <- prometheus.MustNewConstMetric(c.printer, prometheus.GaugeValue, 1, p.ExternalPOSID, status)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.build, prometheus.GaugeValue, 1, version.Version(), a.cfg.StoreID)
	switch a.hubLink() {
	case "connected":
		ch <- prometheus.MustNewConstMetric(c.hubLinked, prometheus.GaugeValue, 1)
	case "disconnected":
		ch <- prometheus.MustNewConstMetric(c.hubLinked, prometheus.GaugeValue, 0)
	}
}
