package agent

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/intake"
)

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
