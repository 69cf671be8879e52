package agent

import (
	"testing"
	"time"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

func TestShutdownLeavesUnfinishedCommand(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	// The create hangs past the shutdown grace period: the command must be
	// left for redelivery, not acknowledged.
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Hang: true})
	h.send("POS1", "sale", `{"sale_id":"sd1","total_amount":"1.00"}`)
	h.simWait(func() bool { return h.apiCalls("POST", "/v1/orders") == 1 })
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	h.start()
	h.waitSale("sd1", "created")
	if n := len(h.sim.OrdersByExternalReference("sd1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}
