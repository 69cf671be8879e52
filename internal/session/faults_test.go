package session

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/subject"
)

// loseCreate sends a sale whose create answers are lost past the retry
// budget (carried out at the API when committed); background resolution
// is held at the gate until the test opens it.
func loseCreate(t *testing.T, h *harness, saleID string, committed bool, extra ...string) Delivery {
	t.Helper()
	h.closeGate()
	h.outage("create", committed)
	d := h.send("sale", sale(saleID, "25", extra...))
	h.recover()
	f := h.waitEvent(events.Failed, saleID)
	if f.Error.Code != command.CodeAPIUnavailable || f.MsgID != subject.CommandMsgID(testStore, testPOS, d.Seq, events.Failed) {
		t.Fatalf("failed = %+v", f)
	}
	if r := h.record(saleID); r == nil || r.State != stateFailed || !r.Orphan {
		t.Fatalf("record after a lost create = %+v", r)
	}
	if p := h.posRecord(); !slices.Equal(p.Orphans, []string{saleID}) || p.Active != "" {
		t.Fatalf("POS record = %+v", p)
	}
	if st := h.s.Status(); st.State != "idle" {
		t.Fatalf("status = %+v", st)
	}
	return d
}

// TestLostCreate: a create whose answer was lost is resolved in the
// background with the same key: an order found open is canceled, one
// found paid is reported processed, and none found is created and
// canceled.
func TestLostCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		committed bool
		meanwhile func(h *harness) // before the resolver gets through
		want      string
		orderEnd  string
	}{
		{"orphan canceled", true, func(h *harness) {}, "canceled/orphan_canceled", "canceled"},
		{"orphan paid through the POS's QR", true, func(h *harness) { h.must(h.sim.Pay(h.order("L1").ID)) }, "processed/accredited", "processed"},
		{"orphan expired", true, func(h *harness) { h.must(h.sim.Expire(h.order("L1").ID)) }, "expired/expired", "expired"},
		{"orphan canceled by an earlier lost cancel", true, func(h *harness) { h.must(h.sim.CancelAtMP(h.order("L1").ID)) }, "canceled/orphan_canceled", "canceled"},
		{"never created", false, func(h *harness) {}, "canceled/orphan_canceled", "canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			loseCreate(t, h, "L1", tc.committed, `"mode":"hybrid"`)
			tc.meanwhile(h)
			h.openGate()
			h.waitFor("the orphan resolved", func() bool { return len(h.posRecord().Orphans) == 0 })
			h.wantStatuses("L1", "failed/api_unavailable", tc.want)
			if o := h.order("L1"); o.Status != tc.orderEnd {
				t.Fatalf("order is %s, want %s", o.Status, tc.orderEnd)
			}
			if r := h.record("L1"); r.Orphan || r.OrderID == "" {
				t.Fatalf("record = %+v", r)
			}
			wantOneCreateKey(t, h)
		})
	}
}

// TestLostCreateRefused: when the API refuses the create outright on
// resolution, no order exists and the orphan is dropped quietly.
func TestLostCreateRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	loseCreate(t, h, "L1", false)
	h.sim.Inject("create", qrordertestAlways(400))
	h.openGate()
	h.waitFor("the orphan dropped", func() bool { return len(h.posRecord().Orphans) == 0 })
	if r := h.record("L1"); r.Orphan || r.State != stateFailed {
		t.Fatalf("record = %+v", r)
	}
	h.wantStatuses("L1", "failed/api_unavailable")
	if n := len(h.sim.Orders()); n != 0 {
		t.Fatalf("%d orders", n)
	}
}

// TestLostCreateResolverRetries: resolution keeps asking while the API
// refuses the token, also after a restart.
func TestLostCreateResolverRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	loseCreate(t, h, "L1", true)
	h.sim.Inject("create", qrordertestAlways(401)) // token trouble: asked again
	h.openGate()
	h.waitFor("a failed resolution", func() bool { return h.logs.logged("resolving a lost create failed; will retry") > 0 })
	h.restart()
	h.recover()
	h.waitFor("the orphan resolved after the restart", func() bool { return len(h.posRecord().Orphans) == 0 })
	h.wantStatuses("L1", "failed/api_unavailable", "canceled/orphan_canceled")
}

// TestResolutionStoreRefuses: background resolution whose outcome cannot
// be recorded tries again, and tells the register once.
func TestResolutionStoreRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lose  func(t *testing.T, h *harness)
		retry string // the resolver's log line when it failed
		want  []string
	}{
		{"lost create", func(t *testing.T, h *harness) { loseCreate(t, h, "A", true) },
			"resolving a lost create failed; will retry", []string{"failed/api_unavailable", "canceled/orphan_canceled"}},
		{"lost cancel", func(t *testing.T, h *harness) {
			h.send("sale", sale("A", "10"))
			h.closeGate()
			h.outage("cancel", true)
			h.send("cancel", cancelCmd("A"))
			h.recover()
		}, "resolving a lost cancel or refund failed; will retry", []string{"created", "canceled/canceled"}},
		{"lost refund", func(t *testing.T, h *harness) {
			paidSale(t, h, "A")
			h.closeGate()
			h.outage("refund", true)
			h.send("refund", refundCmd("A", "r1", "5"))
			h.recover()
		}, "resolving a lost cancel or refund failed; will retry", []string{"created", "processed/accredited", "refunded/partially_refunded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tc.lose(t, h)
			for _, op := range []string{"put", "get"} {
				h.store.setRefuse(func(o, key string, _ int) error {
					if o == op {
						return errRefused
					}
					return nil
				})
				before := h.logs.logged(tc.retry)
				h.openGate()
				h.waitFor("a failed resolution ("+op+" refused)", func() bool { return h.logs.logged(tc.retry) > before+1 })
				h.closeGate()
			}
			h.store.setRefuse(nil)
			h.openGate()
			h.waitFor("resolved", func() bool {
				p := h.posRecord()
				return len(p.Orphans) == 0 && len(p.Pending) == 0
			})
			h.wantStatuses("A", tc.want...)
			checkOnce(t, h)
		})
	}
}

// TestRetrySale: a sale that failed api_unavailable, sent again before
// the orphan is resolved, is retried with the same key and goes on.
func TestRetrySale(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	loseCreate(t, h, "L1", true)
	h.send("sale", sale("L1", "25"))
	ev := h.waitEvent(events.Created, "L1")
	if ev.Replay || ev.OrderID != h.order("L1").ID {
		t.Fatalf("created = %+v", ev)
	}
	if p := h.posRecord(); len(p.Orphans) != 0 || p.Active != "L1" {
		t.Fatalf("POS record = %+v", p)
	}
	// The resolver, let go, finds the sale taken over and leaves it.
	h.openGate()
	h.must(h.sim.Pay(h.order("L1").ID))
	h.poke("L1")
	h.waitEvent(events.Processed, "L1")
	h.wantStatuses("L1", "failed/api_unavailable", "created", "processed/accredited")
	if n := len(h.sim.OrdersByExternalReference("L1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
	wantOneCreateKey(t, h)
}

// wantOneCreateKey checks that every create carried the same key.
func wantOneCreateKey(t *testing.T, h *harness) {
	t.Helper()
	keys := map[string]bool{}
	for _, r := range h.sim.Requests() {
		if r.Path == "/v1/orders" {
			keys[r.Header.Get("X-Idempotency-Key")] = true
		}
	}
	if len(keys) != 1 {
		t.Fatalf("create keys = %v", keys)
	}
}

// TestStaticWaitsForOrphans: a static or hybrid sale waits until the
// POS's lost creates are resolved (the fixed QR could pay them); a
// dynamic one does not.
func TestStaticWaitsForOrphans(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"static", "hybrid"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			loseCreate(t, h, "L1", true)
			h.send("sale", sale("D1", "5", `"mode":"dynamic"`))
			h.waitEvent(events.Created, "D1")
			h.send("cancel", cancelCmd("D1"))

			// Stopping while it waits leaves the command for redelivery.
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, true))
			cancel()
			if err := h.s.Handle(ctx, h.delivery("sale", sale("S1", "5", `"mode":"`+mode+`"`))); !errors.Is(err, ErrStopped) {
				t.Fatalf("Handle while stopping = %v, want ErrStopped", err)
			}

			done := make(chan error, 1)
			d := h.delivery("sale", sale("S1", "5", `"mode":"`+mode+`"`))
			go func() { done <- h.handle(d) }()
			h.waitFor("the sale waiting", func() bool {
				return h.logs.logged("static/hybrid sale waits for unresolved creates") == 2
			})
			h.openGate()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			h.waitEvent(events.Created, "S1")
			var order []string
			for _, ev := range h.pub.all() {
				if ev.SaleID == "L1" || ev.SaleID == "S1" {
					order = append(order, ev.SaleID+":"+ev.Status)
				}
			}
			if !slices.Equal(order, []string{"L1:failed", "L1:canceled", "S1:created"}) {
				t.Fatalf("events in order: %v", order)
			}
		})
	}
}

// TestPollerFaults: the poller keeps asking through errors, and retries
// recording a final status the store refused.
func TestPollerFaults(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("P1", "10"))
	id := h.order("P1").ID
	h.sim.Inject("get", qrordertestFault(404))
	h.poke("P1")
	h.waitFor("the failed poll", func() bool { return lastStatus(h) == 404 })
	h.poke("P1")
	h.waitFor("an open poll", func() bool { return lastStatus(h) == 200 })
	h.must(h.sim.Pay(id))
	h.store.setRefuse(func(op, key string, put int) error {
		if op == "put" {
			return errRefused
		}
		return nil
	})
	h.poke("P1")
	h.waitEvent(events.Processed, "P1")
	h.waitFor("the refused record", func() bool { return h.store.putCount() > 0 })
	if r := h.record("P1"); r.State != stateAwaiting {
		t.Fatalf("record = %s", r.State)
	}
	h.store.setRefuse(nil)
	h.poke("P1")
	h.waitFor("the final record", func() bool { return h.record("P1").State == stateProcessed })
	if evs := h.eventsOf("P1"); len(evs) != 2 {
		t.Fatalf("events = %s", h.eventList())
	}
}

func lastStatus(h *harness) int {
	rs := h.sim.Requests()
	if len(rs) == 0 {
		return 0
	}
	return rs[len(rs)-1].Status
}
