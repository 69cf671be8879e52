//go:build soak

package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// Kinds of chaos, as counted in the report.
const (
	chaosKill        = "agent SIGKILL + restart"
	chaosKillStartup = "agent SIGKILL during startup"
	chaosNATS        = "NATS server restart"
	chaosOutage      = "API outage (create 503 until cleared)"
)

// chaos plays the unreliable world: it kills the agent and restarts NATS
// when the registers reach planned sale counts (so a run of any size gets
// its share, spread over the whole run), and injects Orders API faults at
// random moments the whole time.
type chaos struct {
	agent    *agentProc
	nats     *natsServer
	sim      *qrordertest.Simulator
	progress *progress
	logf     func(format string, args ...any)

	mu       sync.Mutex
	counts   map[string]int
	timeline []string
	errs     []string
	start    time.Time
}

type strike struct {
	at   int // finished sales
	kind string
}

func (c *chaos) record(kind, detail string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[kind]++
	line := fmt.Sprintf("%7.1fs  %s  %s (sales done: %d)", time.Since(c.start).Seconds(), kind, detail, c.progress.count())
	c.timeline = append(c.timeline, line)
	c.logf("chaos: %s", line)
}

func (c *chaos) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

// plan spreads kills, NATS restarts and outages over 5%..90% of the sales.
func planStrikes(rng *rand.Rand, sales, kills, natsRestarts, outages int) []strike {
	var out []strike
	pick := func(n int, kind string) {
		for range n {
			out = append(out, strike{at: sales*5/100 + rng.IntN(max(1, sales*85/100)), kind: kind})
		}
	}
	pick(kills, chaosKill)
	pick(natsRestarts, chaosNATS)
	pick(outages, chaosOutage)
	slices.SortStableFunc(out, func(a, b strike) int { return a.at - b.at })
	return out
}

// runStrikes carries out the planned strikes in order, each at a random
// moment shortly after its sale count is reached.
func (c *chaos) runStrikes(ctx context.Context, rng *rand.Rand, plan []strike) {
	for _, s := range plan {
		if c.progress.waitAtLeast(ctx, s.at) != nil {
			return
		}
		pace(ctx, time.Duration(rng.IntN(1500))*time.Millisecond) // a random moment, not a wait for anything
		if ctx.Err() != nil {
			return
		}
		switch s.kind {
		case chaosKill:
			c.kill(ctx, rng)
		case chaosNATS:
			outage := time.Duration(500+rng.IntN(4500)) * time.Millisecond
			down := make(chan struct{})
			time.AfterFunc(outage, func() { close(down) })
			c.record(chaosNATS, fmt.Sprintf("down for %s", outage))
			if err := c.nats.restart(down); err != nil {
				c.fail("NATS restart: %v", err)
				return
			}
		case chaosOutage:
			d := time.Duration(6000+rng.IntN(3000)) * time.Millisecond
			lost := rng.IntN(2) == 0
			c.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1 << 20, Status: http.StatusServiceUnavailable, AfterCommit: lost})
			c.record(chaosOutage, fmt.Sprintf("%s, orders made but answers lost: %v", d, lost))
			time.AfterFunc(d, c.sim.ClearFaults)
		}
	}
}

// kill sends SIGKILL at a random moment and restarts the agent; now and
// then it kills the new process again while it starts up.
func (c *chaos) kill(ctx context.Context, rng *rand.Rand) {
	c.record(chaosKill, fmt.Sprintf("run %d", c.agent.current().n))
	if err := c.agent.killAndRestart(ctx); err != nil {
		c.fail("kill: %v", err)
		return
	}
	if rng.IntN(4) == 0 {
		pace(ctx, time.Duration(rng.IntN(400))*time.Millisecond)
		c.record(chaosKillStartup, fmt.Sprintf("run %d", c.agent.current().n))
		if err := c.agent.killAndRestart(ctx); err != nil {
			c.fail("kill during startup: %v", err)
			return
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := c.agent.waitReady(rctx); err != nil && ctx.Err() == nil {
		c.fail("after kill: %v", err)
	}
}

// fault is one kind of small API misbehaviour.
type fault struct {
	name string
	make func(rng *rand.Rand) (endpoint string, f qrordertest.Fault)
}

var endpoints = []string{qrordertest.EndpointCreate, qrordertest.EndpointGet, qrordertest.EndpointCancel}

func faults() []fault {
	anyOf := func(rng *rand.Rand, eps ...string) string { return eps[rng.IntN(len(eps))] }
	return []fault{
		{"500 burst", func(rng *rand.Rand) (string, qrordertest.Fault) {
			return anyOf(rng, endpoints...), qrordertest.Fault{Count: 1 + rng.IntN(4), Status: http.StatusInternalServerError}
		}},
		{"429 burst (Retry-After 1s)", func(rng *rand.Rand) (string, qrordertest.Fault) {
			return anyOf(rng, endpoints...), qrordertest.Fault{Count: 1 + rng.IntN(3), Status: http.StatusTooManyRequests, RetryAfter: time.Second}
		}},
		{"hang until the client times out", func(rng *rand.Rand) (string, qrordertest.Fault) {
			return anyOf(rng, endpoints...), qrordertest.Fault{Count: 1 + rng.IntN(2), Hang: true}
		}},
		{"create done, answer lost (500)", func(rng *rand.Rand) (string, qrordertest.Fault) {
			return qrordertest.EndpointCreate, qrordertest.Fault{Count: 1 + rng.IntN(2), Status: http.StatusInternalServerError, AfterCommit: true}
		}},
		{"create done, answer lost (hang)", func(rng *rand.Rand) (string, qrordertest.Fault) {
			return qrordertest.EndpointCreate, qrordertest.Fault{Count: 1, Hang: true, AfterCommit: true}
		}},
		{"cancel done, answer lost (502)", func(rng *rand.Rand) (string, qrordertest.Fault) {
			return qrordertest.EndpointCancel, qrordertest.Fault{Count: 1, Status: http.StatusBadGateway, AfterCommit: true}
		}},
		{"slow answer (200-900ms)", func(rng *rand.Rand) (string, qrordertest.Fault) {
			return anyOf(rng, endpoints...), qrordertest.Fault{Count: 1 + rng.IntN(3), Delay: time.Duration(200+rng.IntN(700)) * time.Millisecond}
		}},
	}
}

// runFaults injects a random small fault every 0.2-2 s until ctx ends.
func (c *chaos) runFaults(ctx context.Context, rng *rand.Rand) {
	menu := faults()
	for {
		pace(ctx, time.Duration(200+rng.IntN(1800))*time.Millisecond) // schedules the next fault
		if ctx.Err() != nil {
			return
		}
		f := menu[rng.IntN(len(menu))]
		ep, fl := f.make(rng)
		c.sim.Inject(ep, fl)
		c.mu.Lock()
		c.counts["API fault: "+f.name]++
		c.mu.Unlock()
	}
}

// latency is the simulator's per-request delay: 10-60 ms, and one request
// in twenty 150-400 ms, like a real API on a shop's link.
func latency(seed uint64) func() time.Duration {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	return func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(20) == 0 {
			return time.Duration(150+rng.IntN(250)) * time.Millisecond
		}
		return time.Duration(10+rng.IntN(50)) * time.Millisecond
	}
}
