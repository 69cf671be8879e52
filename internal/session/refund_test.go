package session

import (
	"testing"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/subject"
)

// paidSale creates sale saleID for 100.00 and has the customer pay it.
func paidSale(t *testing.T, h *harness, saleID string) string {
	t.Helper()
	h.send("sale", sale(saleID, "100"))
	id := h.order(saleID).ID
	h.must(h.sim.Pay(id))
	h.poke(saleID)
	h.waitEvent(events.Processed, saleID)
	// The event goes out first; wait for the records too.
	h.waitFor("the sale recorded as paid", func() bool {
		return h.record(saleID).State == stateProcessed
	})
	return id
}

// TestRefund runs sequences of refund commands against a paid sale; each
// step names the event it must produce.
func TestRefund(t *testing.T) {
	t.Parallel()
	type step struct {
		refundID, amount string
		want             string // status/detail or status/code of the event produced
		refunded         string // refunded_amount of a refunded event
		replay           bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"total", []step{{"", "", "refunded/refunded", "100.00", false}}},
		{"total with an id", []step{{"r1", "", "refunded/refunded", "100.00", false}}},
		{"partial then the rest", []step{
			{"r1", "30", "refunded/partially_refunded", "30.00", false},
			{"r2", "20.50", "refunded/partially_refunded", "50.50", false},
			{"r3", "49.50", "refunded/refunded", "100.00", false},
		}},
		{"partial then total", []step{
			{"r1", "30", "refunded/partially_refunded", "30.00", false},
			{"", "", "refunded/refunded", "100.00", false},
		}},
		{"resent refund_id", []step{
			{"r1", "30", "refunded/partially_refunded", "30.00", false},
			{"r1", "30", "refunded/partially_refunded", "30.00", true},
			{"r1", "99", "rejected/duplicate_refund_id", "", false}, // the same id for another amount
		}},
		{"more than is left", []step{
			{"r1", "60", "refunded/partially_refunded", "60.00", false},
			{"r2", "50", "rejected/property_value", "", false},
		}},
		{"after a full refund", []step{
			{"", "", "refunded/refunded", "100.00", false},
			{"r2", "1", "rejected/invalid_state", "", false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			orderID := paidSale(t, h, "F1")
			for i, st := range tc.steps {
				before := len(h.pub.all())
				h.send("refund", refundCmd("F1", st.refundID, st.amount))
				evs := h.pub.all()
				if len(evs) != before+1 {
					t.Fatalf("step %d: events %s", i, h.eventList())
				}
				ev := evs[len(evs)-1]
				got := ev.Status + "/" + ev.StatusDetail
				if ev.Error != nil {
					got = ev.Status + "/" + ev.Error.Code
				}
				if got != st.want || ev.RefundedAmount != st.refunded || ev.Replay != st.replay {
					t.Fatalf("step %d: event %s refunded %q replay %v, want %s %q %v", i, got, ev.RefundedAmount, ev.Replay, st.want, st.refunded, st.replay)
				}
				if ev.Status == events.Refunded {
					id := st.refundID
					if id == "" {
						id = command.TotalRefundID
					}
					if ev.RefundID != id || ev.OrderID != orderID || ev.MsgID != subject.RefundMsgID(testStore, testPOS, "F1", id) {
						t.Fatalf("step %d: refunded event = %+v", i, ev)
					}
				}
				if ev.Status == events.Rejected && ev.SaleStatus == "" {
					t.Fatalf("step %d: rejection without sale_status", i)
				}
			}
			if r := h.record("F1"); r.State != stateRefunded && r.State != stateProcessed {
				t.Fatalf("record state = %s", r.State)
			}
		})
	}
}

// TestRefundRefused covers refunds of unknown, unpaid or refused sales.
func TestRefundRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("refund", refundCmd("NOPE", "", ""))
	rej := h.waitEvent(events.Rejected, "NOPE")
	if rej.Error.Code != command.CodeUnknownSale || rej.Error.Field != "sale_id" || rej.SaleStatus != "" {
		t.Fatalf("unknown sale = %+v %+v", rej, rej.Error)
	}

	h.send("sale", sale("U1", "10"))
	h.send("refund", refundCmd("U1", "", ""))
	rej = h.waitEvent(events.Rejected, "U1")
	if rej.Error.Code != command.CodeInvalidState || rej.SaleStatus != "created" {
		t.Fatalf("unpaid sale = %+v %+v", rej, rej.Error)
	}

	paidSale(t, h, "F1")
	h.sim.Inject("refund", qrordertestFault(400))
	h.send("refund", refundCmd("F1", "r1", "10"))
	rej = h.waitEvent(events.Rejected, "F1")
	if rej.Error.Code != "bad_request" || rej.SaleStatus != "processed" {
		t.Fatalf("refused refund = %+v %+v", rej, rej.Error)
	}
	// The refused refund was not recorded: the same refund_id may go.
	h.send("refund", refundCmd("F1", "r1", "10"))
	h.wantStatuses("F1", "created", "processed/accredited", "rejected/bad_request", "refunded/partially_refunded")
}

// TestRefundConflictReadsTheOrder: a refund the API answers 409 (the
// order's state moved on) is answered by reading the order: refunded if
// the order shows the refund carried out, refused with the API's code if
// it does not.
func TestRefundConflictReadsTheOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	paidSale(t, h, "C1")
	h.sim.Inject("refund", qrordertest.Fault{Status: 409, AfterCommit: true})
	h.send("refund", refundCmd("C1", "r1", "30"))
	if ev := h.waitEvent(events.Refunded, "C1"); ev.RefundedAmount != "30.00" || ev.RefundID != "r1" {
		t.Fatalf("refunded = %+v", ev)
	}
	h.sim.Inject("refund", qrordertest.Fault{Status: 409})
	h.send("refund", refundCmd("C1", "r2", "10"))
	h.wantStatuses("C1", "created", "processed/accredited", "refunded/partially_refunded", "rejected/conflict")
}

// TestRefundWithoutPaymentID: a partial refund needs the payment's id.
func TestRefundWithoutPaymentID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	paidSale(t, h, "F1")
	r := h.record("F1")
	r.PaymentID = ""
	h.must(h.store.Put(t.Context(), h.s.saleKey("F1"), r))
	h.send("refund", refundCmd("F1", "r1", "10"))
	rej := h.waitEvent(events.Rejected, "F1")
	if rej.Error.Code != command.CodeInvalidState {
		t.Fatalf("rejected = %+v", rej.Error)
	}
}

// TestRefundLostAnswer: a refund whose answers are lost is resolved in the
// background with the same key, never failed.
func TestRefundLostAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		committed bool
		then      func(h *harness) // after the outage
		want      string
	}{
		{"carried out", true, func(h *harness) {}, "refunded/partially_refunded"},
		{"not carried out", false, func(h *harness) {}, "refunded/partially_refunded"},
		{"refused on resolution", false, func(h *harness) { h.sim.Inject("refund", qrordertestAlways(400)) }, "rejected/bad_request"},
		{"resent meanwhile", true, func(h *harness) { h.send("refund", refundCmd("F1", "r1", "10")) }, "refunded/partially_refunded"},
		{"after a restart", true, func(h *harness) { h.restart() }, "refunded/partially_refunded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			paidSale(t, h, "F1")
			h.closeGate()
			h.outage("refund", tc.committed)
			h.send("refund", refundCmd("F1", "r1", "10"))
			h.recover()
			h.wantStatuses("F1", "created", "processed/accredited")
			if r := h.record("F1"); len(r.PendingRefunds) != 1 {
				t.Fatalf("pending refunds = %v", r.PendingRefunds)
			}
			if p := h.posRecord(); len(p.Pending) != 1 {
				t.Fatalf("POS record = %+v", p)
			}
			tc.then(h)
			h.openGate()
			h.waitFor("the refund resolved", func() bool { return len(h.posRecord().Pending) == 0 })
			h.wantStatuses("F1", "created", "processed/accredited", tc.want)
			o, _ := h.sim.Order(h.record("F1").OrderID)
			if tc.want == "rejected/bad_request" {
				if len(o.Refunds) != 0 {
					t.Fatalf("refunds at the API = %+v", o.Refunds)
				}
				return
			}
			if len(o.Refunds) != 1 || o.Refunds[0].Amount != "10.00" {
				t.Fatalf("refunds at the API = %+v", o.Refunds)
			}
			if r := h.record("F1"); len(r.PendingRefunds) != 0 || r.State != stateRefunded {
				t.Fatalf("record = %+v", r)
			}
		})
	}
}

// TestRefundClientRefuses: a refund the client refuses before sending is
// rejected with its code.
func TestRefundClientRefuses(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	paidSale(t, h, "F1")
	r := h.record("F1")
	r.OrderID = "bad order id!"
	h.must(h.store.Put(t.Context(), h.s.saleKey("F1"), r))
	h.send("refund", refundCmd("F1", "", ""))
	rej := h.waitEvent(events.Rejected, "F1")
	if rej.Error.Code != qrorder.CodeValue {
		t.Fatalf("rejected = %+v", rej.Error)
	}
}
