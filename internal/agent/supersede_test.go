package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// TestNewSaleFindsOldOnePaid: the open order was paid just before the next
// sale; canceling it is refused, and the register hears the truth
// (processed) before the new sale's events.
func TestNewSaleFindsOldOnePaid(t *testing.T) {
	h := newHarness(t, withConfig(func(c *config.Config) { c.MercadoPago.PollInterval = time.Hour }))
	h.send("POS1", "sale", `{"sale_id":"old","total_amount":"10.00"}`)
	old := h.waitSale("old", "created").Event
	if err := h.sim.Pay(old.OrderID); err != nil {
		t.Fatal(err)
	}
	h.send("POS1", "sale", `{"sale_id":"new","total_amount":"11.00"}`)
	h.waitSale("new", "created")
	var order []string
	h.evMu.Lock()
	for _, r := range h.events {
		order = append(order, r.Event.SaleID+":"+r.Event.Status)
	}
	h.evMu.Unlock()
	if got := strings.Join(order, ","); got != "old:created,old:processed,new:created" {
		t.Fatalf("events %s", got)
	}
}

// TestRedeliveredCancelAnswersWithTheOutcome: the agent stops after the
// API canceled the order but before the cancel was acknowledged. The
// redelivered cancel answers with the sale's canceled event, never with a
// refusal.
func TestRedeliveredCancelAnswersWithTheOutcome(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.send("POS1", "sale", `{"sale_id":"rc","total_amount":"3.00"}`)
	created := h.waitSale("rc", "created").Event
	h.sim.Inject(qrordertest.EndpointCancel, qrordertest.Fault{Hang: true, AfterCommit: true})
	seq := h.send("POS1", "cancel", `{"sale_id":"rc"}`)
	h.simWait(func() bool { o, _ := h.sim.Order(created.OrderID); return o.Status == "canceled" })
	h.restart()
	h.waitSale("rc", "canceled")
	// Commands run in order per POS: once a later command is answered,
	// the redelivered cancel has been handled (whether it ran again or was
	// answered from the record).
	probe := h.send("POS1", "cancel", `{"sale_id":"zz-probe"}`)
	h.waitCmd(probe, "rejected")
	for _, r := range h.eventsOf("rc") {
		if r.Event.Status == "rejected" || r.Event.Status == "failed" || r.CommandSeq() == seq {
			t.Fatalf("the cancel was refused: %s", r.Raw)
		}
	}
}

// TestOrphanCancelAnswerLost: the resolver's cancel of a lost create's
// order goes through but its answer is lost; the next try finds the order
// canceled and still reports orphan_canceled.
func TestOrphanCancelAnswerLost(t *testing.T) {
	h := newHarness(t)
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1000, Status: 503, AfterCommit: true})
	seq := h.send("POS1", "sale", `{"sale_id":"oc","total_amount":"4.00"}`)
	h.waitCmd(seq, "failed")
	h.sim.ClearFaults()
	h.sim.Inject(qrordertest.EndpointCancel, qrordertest.Fault{Count: 1000, Status: 502, AfterCommit: true})
	// Wait until the resolver gave up on the cancel (its retry budget ran
	// out) and tried again from the create: it now finds the order
	// canceled.
	h.simWait(func() bool {
		canceled := -1
		for i, r := range h.sim.Requests() {
			switch {
			case r.Method == "POST" && strings.HasSuffix(r.Path, "/cancel") && canceled < 0:
				canceled = i
			case r.Method == "POST" && r.Path == "/v1/orders" && canceled >= 0:
				return true
			}
		}
		return false
	})
	h.sim.ClearFaults()
	ev := h.waitSale("oc", "canceled").Event
	if ev.StatusDetail != "orphan_canceled" {
		t.Fatalf("%+v", ev)
	}
}
