package agent

import (
	"testing"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// TestCancelUnavailableKeepsSale: a cancel the API does not answer within
// the retry budget is not failed: the sale awaits payment until the
// cancel, resolved in the background with the same key, goes through.
func TestCancelUnavailableKeepsSale(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"cu","total_amount":"5.00"}`)
	created := h.waitSale("cu", "created").Event
	h.sim.Inject(qrordertest.EndpointCancel, qrordertest.Fault{Count: 1000, Status: 503})
	h.send("POS1", "cancel", `{"sale_id":"cu"}`)
	h.settled("POS1")
	if st := h.status("POS1"); st.State != "awaiting_payment" || st.SaleID != "cu" {
		t.Fatalf("status %+v", st)
	}
	if n := h.live("cu", "failed"); n != 0 {
		t.Fatalf("%d failed events for a cancel still being resolved", n)
	}
	h.sim.ClearFaults()
	h.waitSale("cu", "canceled")
	if o, _ := h.sim.Order(created.OrderID); o.Status != "canceled" {
		t.Fatalf("%s", o.Status)
	}
}

// TestStaticSaleWaitsForLostCreate: while a lost create is unresolved, a
// static sale on the POS waits (the fixed QR could pay the orphan).
func TestStaticSaleWaitsForLostCreate(t *testing.T) {
	h := newHarness(t)
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1000, Status: 503, AfterCommit: true})
	seq := h.send("POS2", "sale", `{"sale_id":"w1","total_amount":"1.00","mode":"dynamic"}`)
	h.waitCmd(seq, "failed")
	h.send("POS2", "sale", `{"sale_id":"w2","total_amount":"2.00"}`)
	// w2 cannot be created before w1 is resolved; let the API come back.
	h.simWait(func() bool { return len(h.sim.OrdersByExternalReference("w1")) >= 1 })
	if n := len(h.sim.OrdersByExternalReference("w2")); n != 0 {
		t.Fatalf("static sale created while a lost create was unresolved (%d orders)", n)
	}
	h.sim.ClearFaults()
	orphan := h.waitSale("w1", "canceled")
	created := h.waitSale("w2", "created")
	if orphan.Event.StatusDetail != "orphan_canceled" {
		t.Fatalf("%+v", orphan.Event)
	}
	// The orphan's end came first.
	h.evMu.Lock()
	defer h.evMu.Unlock()
	iOrphan, iCreated := -1, -1
	for i, r := range h.events {
		if r.MsgID == orphan.MsgID {
			iOrphan = i
		}
		if r.MsgID == created.MsgID {
			iCreated = i
		}
	}
	if iOrphan > iCreated {
		t.Fatalf("w2 created (event %d) before the orphan was resolved (event %d)", iCreated, iOrphan)
	}
}
