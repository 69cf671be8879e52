package agent

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/intake"
	"github.com/posagent/posagent/internal/version"
)

// initOperations sets up what the status page, the status query and the
// extra metrics share.
func (a *Agent) initOperations() {
	a.feed = newStatusFeed()
	a.metrics.RegisterOps(opsView{a}, version.Version(), a.cfg.StoreID)
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

// opsView is what the ops metrics read from the agent at scrape time.
type opsView struct{ a *Agent }

func (v opsView) Checks() map[string]string { return v.a.health.report().Checks }

func (v opsView) PrinterHealth() map[string]string {
	out := map[string]string{}
	for _, p := range v.a.cfg.POS {
		if h := v.a.printerHealth(p.ExternalPOSID); h != "" {
			out[p.ExternalPOSID] = h
		}
	}
	return out
}

func (v opsView) HubLink() string { return v.a.hubLink() }
