package session

import (
	"testing"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
)

// TestCancel covers the cancel command in every state of its sale.
func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		before func(t *testing.T, h *harness) // "C1" exists unless it says otherwise
		want   string                         // last event about C1: status/detail or status/code
		status string                         // its sale_status when rejected
	}{
		{"awaiting payment", func(t *testing.T, h *harness) {}, "canceled/canceled", ""},
		{"paid just before", func(t *testing.T, h *harness) { h.must(h.sim.Pay(h.order("C1").ID)) }, "processed/accredited", ""},
		{"expired just before", func(t *testing.T, h *harness) { h.must(h.sim.Expire(h.order("C1").ID)) }, "expired/expired", ""},
		{"already paid", func(t *testing.T, h *harness) {
			h.must(h.sim.Pay(h.order("C1").ID))
			h.poke("C1")
			h.waitEvent(events.Processed, "C1")
		}, "rejected/invalid_state", "processed"},
		{"order unknown to the API", func(t *testing.T, h *harness) {
			h.sim.Inject("cancel", qrordertestFault(404))
			h.sim.Inject("get", qrordertestFault(404))
		}, "canceled/order_not_found", ""},
		{"cancel refused for good", func(t *testing.T, h *harness) {
			h.sim.Inject("cancel", qrordertestFault(400))
		}, "rejected/bad_request", "created"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.send("sale", sale("C1", "10"))
			tc.before(t, h)
			h.send("cancel", cancelCmd("C1"))
			evs := h.eventsOf("C1")
			ev := evs[len(evs)-1]
			got := ev.Status + "/" + ev.StatusDetail
			if ev.Error != nil {
				got = ev.Status + "/" + ev.Error.Code
			}
			if got != tc.want || ev.SaleStatus != tc.status {
				t.Fatalf("last event = %s (sale_status %q), want %s (%q); all: %s", got, ev.SaleStatus, tc.want, tc.status, h.eventList())
			}
			if ev.Status == events.Rejected {
				return
			}
			if st := h.s.Status(); st.State != "idle" {
				t.Fatalf("status = %+v", st)
			}
			if sc := h.lastScreen(); sc.State == display.StateAwaitingPayment {
				t.Fatal("the QR is still shown")
			}
		})
	}
}

// TestCancelUnknown: a cancel of a sale the POS does not have.
func TestCancelUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("cancel", cancelCmd("X"))
	h.wantStatuses("X", "rejected/unknown_sale")
	if h.commandCount("cancel/rejected") != 1 {
		t.Fatalf("metrics = %v", h.metrics.all())
	}
	h.sim.Inject("create", qrordertestFaultCorrupt())
	h.send("sale", sale("C2", "10"))
	h.send("cancel", cancelCmd("C2"))
	h.wantStatuses("C2", "failed/invalid_qr_data", "rejected/invalid_state")
	if ev := h.eventsOf("C2")[1]; ev.SaleStatus != "failed" || ev.Error.Code != command.CodeInvalidState {
		t.Fatalf("rejected = %+v", ev)
	}
}

// TestCancelRedelivered: a cancel delivered again after it ended the sale
// is answered with the sale's final event, not refused.
func TestCancelRedelivered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("C1", "10"))
	d := h.send("cancel", cancelCmd("C1"))
	h.restart() // the agent stopped before acknowledging it
	h.must(h.handle(again(d)))
	h.wantStatuses("C1", "created", "canceled/canceled", "canceled/canceled")
	if ev := h.eventsOf("C1")[2]; !ev.Replay {
		t.Fatal("the replayed final event is not marked replay")
	}
}

// TestCancelLostAnswer: a cancel whose answers are lost is resolved in
// the background with the same key; the register hears the sale's true
// final event.
func TestCancelLostAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		committed bool
		then      func(t *testing.T, h *harness)
		want      string
	}{
		{"carried out", true, func(t *testing.T, h *harness) {}, "canceled/canceled"},
		{"not carried out", false, func(t *testing.T, h *harness) {}, "canceled/canceled"},
		{"paid meanwhile", false, func(t *testing.T, h *harness) { h.must(h.sim.Pay(h.order("C1").ID)) }, "processed/accredited"},
		{"order unknown", false, func(t *testing.T, h *harness) {
			h.sim.Inject("cancel", qrordertestAlways(404))
			h.sim.Inject("get", qrordertestAlways(404))
		}, "canceled/order_not_found"},
		{"refused on resolution", false, func(t *testing.T, h *harness) { h.sim.Inject("cancel", qrordertestAlways(400)) }, "rejected/bad_request"},
		{"ended by a new sale", false, func(t *testing.T, h *harness) { h.send("sale", sale("C2", "10")) }, "canceled/canceled"},
		{"after a restart", true, func(t *testing.T, h *harness) { h.restart() }, "canceled/canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.send("sale", sale("C1", "10"))
			h.closeGate()
			h.outage("cancel", tc.committed)
			h.send("cancel", cancelCmd("C1"))
			h.recover()
			h.wantStatuses("C1", "created")
			if r := h.record("C1"); r.PendingCancel == 0 {
				t.Fatal("the lost cancel is not pending")
			}
			tc.then(t, h)
			h.openGate()
			h.waitFor("the cancel resolved", func() bool { return len(h.posRecord().Pending) == 0 })
			h.wantStatuses("C1", "created", tc.want)
			if r := h.record("C1"); r.PendingCancel != 0 {
				t.Fatalf("record = %+v", r)
			}
		})
	}
}

// TestCancelLostTwice: a second cancel of a sale with a cancel pending
// joins the same resolution.
func TestCancelLostTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("C1", "10"))
	h.closeGate()
	h.outage("cancel", false)
	h.send("cancel", cancelCmd("C1"))
	h.send("cancel", cancelCmd("C1"))
	h.recover()
	if p := h.posRecord(); len(p.Pending) != 1 {
		t.Fatalf("POS record = %+v", p)
	}
	h.openGate()
	h.waitFor("the cancel resolved", func() bool { return len(h.posRecord().Pending) == 0 })
	h.wantStatuses("C1", "created", "canceled/canceled")
	if h.commandCount("cancel/canceled") != 1 {
		t.Fatalf("metrics = %v", h.metrics.all())
	}
}
