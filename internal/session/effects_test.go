package session

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// effectScenarios are commands whose outcome takes several writes; setup
// brings the POS to where the command starts.
var effectScenarios = []struct {
	name    string
	setup   func(t *testing.T, h *harness)
	verb    string
	payload string
	after   func(h *harness) // once the command is done
}{
	{"sale", func(t *testing.T, h *harness) {}, "sale", sale("A", "10"), nil},
	{"sale superseding another", func(t *testing.T, h *harness) { h.send("sale", sale("OLD", "10")) }, "sale", sale("A", "10"), nil},
	{"sale with a lost create", func(t *testing.T, h *harness) { h.closeGate(); h.outage("create", true) }, "sale", sale("A", "10"), func(h *harness) { h.recover(); h.openGate() }},
	{"cancel", func(t *testing.T, h *harness) { h.send("sale", sale("A", "10")) }, "cancel", cancelCmd("A"), nil},
	{"cancel with a lost answer", func(t *testing.T, h *harness) {
		h.send("sale", sale("A", "10"))
		h.closeGate()
		h.outage("cancel", true)
	}, "cancel", cancelCmd("A"), func(h *harness) { h.recover(); h.openGate() }},
	{"refund", func(t *testing.T, h *harness) { paidSale(t, h, "A") }, "refund", refundCmd("A", "r1", "5"), nil},
	{"refund with a lost answer", func(t *testing.T, h *harness) {
		paidSale(t, h, "A")
		h.closeGate()
		h.outage("refund", true)
	}, "refund", refundCmd("A", "r1", "5"), func(h *harness) { h.recover(); h.openGate() }},
	{"refused sale", func(t *testing.T, h *harness) { h.sim.Inject("create", qrordertest.Fault{Status: 400, Count: 1 << 30}) }, "sale", sale("A", "10"), nil},
	{"sale with a bad QR", func(t *testing.T, h *harness) { h.sim.Inject("create", qrordertestFaultCorrupt()) }, "sale", sale("A", "10"), nil},
}

// TestEffectsAtMostOnce: whichever write of a command the store refuses,
// the command delivered again (until the store accepts writes) ends as it
// would have, and every event, receipt and QR screen happened once.
func TestEffectsAtMostOnce(t *testing.T) {
	t.Parallel()
	for _, sc := range effectScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			clean := newHarness(t)
			sc.setup(t, clean)
			clean.store.setRefuse(nil)
			clean.send(sc.verb, sc.payload)
			writes := clean.store.putCount()
			if sc.after != nil {
				sc.after(clean)
			}
			want := settle(t, clean)
			if writes == 0 {
				t.Fatal("the command wrote nothing")
			}
			for n := 1; n <= writes; n++ {
				t.Run(fmt.Sprint("write ", n, " refused"), func(t *testing.T) {
					t.Parallel()
					h := newHarness(t)
					sc.setup(t, h)
					h.store.setRefuse(func(op, key string, w int) error {
						if op != "get" && w >= n {
							return errRefused
						}
						return nil
					})
					d := h.delivery(sc.verb, sc.payload)
					if err := h.handle(d); !errors.Is(err, errRefused) {
						t.Fatalf("Handle with write %d refused = %v", n, err)
					}
					// Still refused: delivered again, still no repeat. (It
					// may succeed when what is left to write does not
					// matter any more, e.g. the POS record of a sale whose
					// record already says it ended.)
					err := h.handle(again(d))
					if err != nil && !errors.Is(err, errRefused) {
						t.Fatalf("second delivery = %v", err)
					}
					h.store.setRefuse(nil)
					if err != nil {
						h.must(h.handle(again(again(d))))
					}
					if sc.after != nil {
						sc.after(h)
					}
					if got := settle(t, h); !slices.Equal(got, want) {
						t.Fatalf("events %v, want %v as without refusals", got, want)
					}
					checkOnce(t, h)
				})
			}
		})
	}
}

// settle waits until the POS has nothing left to resolve and returns the
// events about sale "A".
func settle(t *testing.T, h *harness) []string {
	t.Helper()
	h.waitFor("nothing left to resolve", func() bool {
		p := h.posRecord()
		return len(p.Orphans) == 0 && len(p.Pending) == 0
	})
	return h.statuses("A")
}

// checkOnce checks that no event was published twice, and no receipt
// printed or QR shown twice.
func checkOnce(t *testing.T, h *harness) {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range h.pub.all() {
		if seen[ev.MsgID] {
			t.Fatalf("event %s published twice: %s", ev.MsgID, h.eventList())
		}
		seen[ev.MsgID] = true
	}
	prints := map[string]int{}
	for _, j := range h.printer.all() {
		if prints[j.Receipt.OrderID]++; prints[j.Receipt.OrderID] > 1 {
			t.Fatalf("receipt of order %s printed twice", j.Receipt.OrderID)
		}
	}
	shown := map[string]int{}
	for _, sc := range h.screens.all() {
		if sc.State != display.StateAwaitingPayment {
			continue
		}
		if shown[sc.OrderID]++; shown[sc.OrderID] > 1 {
			t.Fatalf("QR of order %s shown twice", sc.OrderID)
		}
	}
}

// TestPublishFails: an event the stream did not take is sent again with
// the command's redelivery; one it delivered live but did not store is
// not.
func TestPublishFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		publish int // created events published in all
	}{
		{"not delivered", errors.New("no answer (test)"), 1},
		{"delivered live, not stored", fmt.Errorf("test: %w", events.ErrNotStored), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.pub.setFail(func(events.Event) error { return tc.err })
			d := h.delivery("sale", sale("A", "10"))
			if err := h.handle(d); !errors.Is(err, tc.err) {
				t.Fatalf("Handle = %v", err)
			}
			h.metrics.mu.Lock()
			failed := h.metrics.pubFailed
			h.metrics.mu.Unlock()
			if failed != 1 {
				t.Fatalf("publish failures counted = %d", failed)
			}
			st := h.s.Status()
			if errors.Is(tc.err, events.ErrNotStored) != (st.LastEvent != nil) {
				t.Fatalf("status after the failed publish = %+v", st)
			}
			h.pub.setFail(nil)
			h.must(h.handle(again(d)))
			if got := len(h.eventsOf("A")); got != tc.publish {
				t.Fatalf("%d created events, want %d", got, tc.publish)
			}
			if st := h.s.Status(); st.State != "awaiting_payment" || st.LastEvent == nil || st.LastEvent.Status != events.Created {
				t.Fatalf("status = %+v", st)
			}
			checkOnce(t, h)
		})
	}
}

// TestRejectPublishFails: a refusal that could not be told is told on
// redelivery.
func TestRejectPublishFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.pub.setFail(func(events.Event) error { return errors.New("no answer (test)") })
	d := h.delivery("cancel", cancelCmd("X"))
	if err := h.handle(d); err == nil {
		t.Fatal("Handle succeeded without telling the register")
	}
	d2 := h.delivery("sale", `{"sale_id":"X"}`)
	if err := h.handle(d2); err == nil {
		t.Fatal("Handle succeeded without telling the register")
	}
	h.pub.setFail(nil)
	h.must(h.handle(again(d)))
	h.must(h.handle(again(d2)))
	h.wantStatuses("X", "rejected/unknown_sale", "rejected/required_properties")
}

// TestStoreReadFails: a store that cannot be read leaves every command
// for redelivery, and Start fails.
func TestStoreReadFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	paidSale(t, h, "A")
	h.store.setRefuse(func(op, key string, _ int) error { return errRefused })
	for _, c := range []struct{ verb, payload string }{
		{"sale", sale("B", "1")}, {"cancel", cancelCmd("A")}, {"refund", refundCmd("A", "", "")},
	} {
		if err := h.handle(h.delivery(c.verb, c.payload)); !errors.Is(err, errRefused) {
			t.Fatalf("%s with the store unreadable = %v", c.verb, err)
		}
	}
	d := h.delivery("sale", sale("B", "1"))
	d.NumDelivered = 2 // asks the store whether it was refused as stale
	if err := h.handle(d); !errors.Is(err, errRefused) {
		t.Fatalf("redelivered sale with the store unreadable = %v", err)
	}
	h.stop()
	s := New(h.cfg, Deps{API: h.api, Store: h.store, Events: h.pub})
	if err := s.Run(t.Context()); !errors.Is(err, errRefused) {
		t.Fatalf("Run = %v", err)
	}
	h.store.setRefuse(nil)
	h.start()
	if st := h.s.Status(); st.State != "idle" {
		t.Fatalf("status = %+v", st)
	}
}

// TestEffectMemoryBounded: the memory of effects carried out keeps the
// latest ones only.
func TestEffectMemoryBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.send("cancel", cancelCmd("X"))
	h.must(h.handle(again(first))) // remembered: not told twice
	if n := len(h.eventsOf("X")); n != 1 {
		t.Fatalf("%d events", n)
	}
	for range effectMemory {
		h.send("cancel", cancelCmd("Y"))
	}
	h.s.mu.Lock()
	n := len(h.s.fx.order)
	h.s.mu.Unlock()
	if n != effectMemory {
		t.Fatalf("%d effects remembered, want %d", n, effectMemory)
	}
	// Forgotten: a redelivery tells it again, under the same message id.
	h.must(h.handle(again(first)))
	if evs := h.eventsOf("X"); len(evs) != 2 || evs[0].MsgID != evs[1].MsgID {
		t.Fatalf("events = %+v", evs)
	}
}
