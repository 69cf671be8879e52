package session

import (
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/subject"
)

// TestSaleToFinal walks a sale from created to each final state the API
// can report, in each mode.
func TestSaleToFinal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, mode string
		end        func(h *harness, orderID string) // what the customer or Mercado Pago does
		want       string                           // final event status/detail
		screen     display.State
	}{
		{"dynamic paid", "dynamic", func(h *harness, id string) { h.must(h.sim.Pay(id)) }, "processed/accredited", display.StatePaid},
		{"static paid", "static", func(h *harness, id string) { h.must(h.sim.Pay(id)) }, "processed/accredited", display.StatePaid},
		{"hybrid paid", "hybrid", func(h *harness, id string) { h.must(h.sim.Pay(id)) }, "processed/accredited", display.StatePaid},
		{"expired by the clock", "dynamic", func(h *harness, id string) { h.clock.Advance(16 * time.Minute) }, "expired/expired", display.StateExpired},
		{"expired at the API", "hybrid", func(h *harness, id string) { h.must(h.sim.Expire(id)) }, "expired/expired", display.StateExpired},
		{"canceled at Mercado Pago", "dynamic", func(h *harness, id string) { h.must(h.sim.CancelAtMP(id)) }, "canceled/canceled", display.StateCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.send("sale", sale("A1", "150", `"mode":"`+tc.mode+`"`, `"description":"Café"`))
			created := h.waitEvent(events.Created, "A1")
			o := h.order("A1")
			checkCreated(t, h, created, o.ID, tc.mode)
			if st := h.s.Status(); st.State != "awaiting_payment" || st.SaleID != "A1" || st.OrderID != o.ID || st.TotalAmount != "150.00" {
				t.Fatalf("status while awaiting = %+v", st)
			}
			if h.metrics.ordersOpen() != 1 {
				t.Fatal("orders open gauge is not 1 while awaiting payment")
			}
			tc.end(h, o.ID)
			h.poke("A1")
			final := h.waitEvent(strings.Split(tc.want, "/")[0], "A1")
			h.wantStatuses("A1", "created", tc.want)
			if final.OrderID != o.ID || final.TotalAmount != "150.00" || final.Mode != tc.mode || final.MsgID != "STORE1.POS1.A1."+final.Status {
				t.Fatalf("final event = %+v", final)
			}
			h.waitFor("the result on screen", func() bool {
				sc := h.lastScreen()
				return sc.State == tc.screen && sc.SaleID == "A1" && h.recordedFinal("A1")
			})
			if st := h.s.Status(); st.State != "idle" || st.LastEvent == nil || st.LastEvent.Status != final.Status {
				t.Fatalf("status after the end = %+v", st)
			}
			if h.metrics.ordersOpen() != 0 {
				t.Fatal("orders open gauge is not 0 after the end")
			}
			if r := h.record("A1"); r.State != final.Status || r.OrderID != o.ID {
				t.Fatalf("record = %s %s", r.State, r.OrderID)
			}
			if h.commandCount("sale/created") != 1 {
				t.Fatalf("metrics = %v", h.metrics.all())
			}
		})
	}
}

// checkCreated checks a created event, the screen and the receipt.
func checkCreated(t *testing.T, h *harness, ev events.Event, orderID, mode string) {
	t.Helper()
	if ev.OrderID != orderID || ev.Mode != mode || ev.TotalAmount != "150.00" || ev.StatusDetail != "created" ||
		ev.ExternalPOSID != testPOS || ev.MsgID != "STORE1.POS1.A1.created" || ev.ExpiresAt == "" {
		t.Fatalf("created event = %+v", ev)
	}
	if mode == "static" {
		if ev.QRData != h.cfg.StaticQRData {
			t.Fatalf("static sale shows %q, want the POS's static QR", ev.QRData)
		}
	} else if err := emvco.Check(ev.QRData); err != nil {
		t.Fatalf("qr_data: %v", err)
	}
	h.waitFor("the QR on screen", func() bool {
		for _, sc := range h.screens.all() {
			if sc.State == display.StateAwaitingPayment && sc.QRData == ev.QRData && sc.OrderID == orderID && sc.Amount == 15000 {
				return true
			}
		}
		return false
	})
	jobs := h.printer.all()
	if len(jobs) != 1 || jobs[0].Receipt.QRData != ev.QRData || jobs[0].Receipt.OrderID != orderID {
		t.Fatalf("printer jobs = %+v", jobs)
	}
	if !jobs[0].Wanted() {
		t.Fatal("the receipt of the awaiting sale is not wanted")
	}
}

// TestSalePolled finds the payment by polling, without a poke.
func TestSalePolled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.PollInterval = 5 * time.Millisecond })
	h.send("sale", sale("P1", "10"))
	h.must(h.sim.Pay(h.order("P1").ID))
	h.waitEvent(events.Processed, "P1")
	if jobs := h.printer.all(); len(jobs) != 1 || jobs[0].Wanted() {
		t.Fatal("a paid sale's receipt is still wanted")
	}
}

// TestSaleResent: the same sale again is answered with its recorded
// event; other content under the same sale_id is refused.
func TestSaleResent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.send("sale", sale("R1", "20"))
	h.send("sale", sale("R1", "20")) // the register sends it again
	h.wantStatuses("R1", "created", "created")
	evs := h.eventsOf("R1")
	if evs[0].Replay || !evs[1].Replay || evs[1].OrderID != evs[0].OrderID {
		t.Fatalf("resent sale events = %+v", evs)
	}
	if n := len(h.sim.OrdersByExternalReference("R1")); n != 1 {
		t.Fatalf("%d orders for one sale", n)
	}
	// Its own command delivered again: the register had the event.
	h.must(h.handle(again(first)))
	h.wantStatuses("R1", "created", "created")
	// After a restart the agent no longer knows what it sent: it sends it
	// again, as it was.
	h.restart()
	h.must(h.handle(again(first)))
	h.wantStatuses("R1", "created", "created", "created")
	if ev := h.eventsOf("R1")[2]; ev.Replay {
		t.Fatal("a redelivered command's own event is marked replay")
	}

	h.send("sale", sale("R1", "21"))
	rej := h.waitEvent(events.Rejected, "R1")
	if rej.Error.Code != command.CodeDuplicateSale || rej.Error.Field != "sale_id" || rej.SaleStatus != "created" {
		t.Fatalf("rejected = %+v", rej)
	}
	if h.commandCount("sale/replayed") != 3 {
		t.Fatalf("metrics = %v", h.metrics.all())
	}
	// A final sale resent: its final event again.
	h.must(h.sim.Pay(h.order("R1").ID))
	h.poke("R1")
	h.waitEvent(events.Processed, "R1")
	h.send("sale", sale("R1", "20"))
	if evs := h.eventsOf("R1"); evs[len(evs)-1].Status != events.Processed || !evs[len(evs)-1].Replay {
		t.Fatalf("events = %s", h.eventList())
	}
}

// TestSupersede: a new sale cancels the open one first; the old sale's
// final event comes before the new sale's.
func TestSupersede(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		before  func(h *harness, oldOrder string) // what happens to the old order first
		wantOld string
	}{
		{"canceled", func(h *harness, id string) {}, "canceled/canceled"},
		{"paid meanwhile", func(h *harness, id string) { h.must(h.sim.Pay(id)) }, "processed/accredited"},
		{"unknown to the API", func(h *harness, id string) {
			h.sim.Inject("cancel", qrordertestFault(404))
			h.sim.Inject("get", qrordertestFault(404))
		}, "canceled/order_not_found"},
		{"refused for good", func(h *harness, id string) {
			h.sim.Inject("cancel", qrordertestFault(400))
			h.sim.Inject("get", qrordertestFault(403))
		}, "failed/forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.send("sale", sale("OLD", "30"))
			old := h.order("OLD")
			tc.before(h, old.ID)
			h.send("sale", sale("NEW", "40"))
			h.wantStatuses("OLD", "created", tc.wantOld)
			h.wantStatuses("NEW", "created")
			all := h.pub.all()
			if all[1].SaleID != "OLD" || all[2].SaleID != "NEW" {
				t.Fatalf("events in order: %s", h.eventList())
			}
			if st := h.s.Status(); st.SaleID != "NEW" {
				t.Fatalf("status = %+v", st)
			}
			if p := h.posRecord(); p.Active != "NEW" {
				t.Fatalf("POS record active = %q", p.Active)
			}
			if o, _ := h.sim.Order(old.ID); tc.name == "canceled" && o.Status != "canceled" {
				t.Fatalf("old order is %s", o.Status)
			}
			// The old order's poller is gone; the new one's follows.
			if h.s.Poke(old.ID) {
				t.Fatal("the old order is still polled")
			}
			h.poke("NEW")
		})
	}
}

// TestSupersedeCancelUnavailable: when the open order cannot be canceled
// the new sale fails, and the open one stays.
func TestSupersedeCancelUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("OLD", "30"))
	h.outage("cancel", false)
	h.send("sale", sale("NEW", "40"))
	h.recover()
	f := h.waitEvent(events.Failed, "NEW")
	if f.Error.Code != command.CodeAPIUnavailable || !strings.Contains(f.Error.Message, "OLD") {
		t.Fatalf("failed = %+v", f.Error)
	}
	if st := h.s.Status(); st.SaleID != "OLD" {
		t.Fatalf("status = %+v", st)
	}
	if len(h.sim.OrdersByExternalReference("NEW")) != 0 {
		t.Fatal("a second order was created while one is open")
	}
	// Resent once the API is back, it goes through.
	h.send("sale", sale("NEW", "40"))
	h.wantStatuses("OLD", "created", "canceled/canceled")
	h.wantStatuses("NEW", "failed/api_unavailable", "created")
}

// TestSaleRefused covers sales that never become an order.
func TestSaleRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload string
		edit          func(*Config)
		inject        func(h *harness)
		verb          string // "" = sale
		code, field   string
	}{
		{name: "bad payload", payload: `{"sale_id":"B1","total_amount":12.5}`, code: "property_type", field: "total_amount"},
		{name: "unknown verb", verb: "pay", payload: `{}`, code: command.CodeUnknownCommand},
		{name: "prefix too long", payload: sale("B1", "10"), edit: func(c *Config) { c.ExternalReferencePrefix = strings.Repeat("p", 63) },
			code: qrorder.CodeValue, field: "sale_id"},
		{name: "static without static_qr_data", payload: sale("B1", "10", `"mode":"static"`),
			edit: func(c *Config) { c.StaticQRData = "" }, code: qrorder.CodeValue, field: "mode"},
		{name: "API refuses", payload: sale("B1", "10"), inject: func(h *harness) { h.sim.Inject("create", qrordertestFault(400)) }, code: "bad_request"},
		{name: "API refuses the token", payload: sale("B1", "10"), inject: func(h *harness) { h.sim.Inject("create", qrordertestFault(401)) }, code: "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var edits []func(*Config)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			h := newHarness(t, edits...)
			if tc.inject != nil {
				tc.inject(h)
			}
			verb := tc.verb
			if verb == "" {
				verb = "sale"
			}
			d := h.send(verb, tc.payload)
			if tc.code == "" {
				// Nothing to refuse: the sale goes through.
				h.waitEvent(events.Created, "B1")
				return
			}
			evs := h.pub.all()
			if len(evs) != 1 || evs[0].Status != events.Rejected || evs[0].Error.Code != tc.code || evs[0].Error.Field != tc.field {
				t.Fatalf("events = %+v", evs)
			}
			if evs[0].MsgID != subject.CommandMsgID(testStore, testPOS, d.Seq, events.Rejected) {
				t.Fatalf("msg id = %s", evs[0].MsgID)
			}
			if h.record("B1") != nil {
				t.Fatal("a refused sale is remembered")
			}
			if st := h.s.Status(); st.State != "idle" || st.LastEvent == nil || st.LastEvent.Status != events.Rejected {
				t.Fatalf("status = %+v", st)
			}
			// A redelivery is answered once (same event id).
			h.must(h.handle(again(d)))
			if tc.inject != nil {
				// Corrected on the API's side: the same sale now goes through.
				h.send("sale", tc.payload)
				h.waitEvent(events.Created, "B1")
			}
		})
	}
}

// TestSaleBadQR: an order whose qr_data fails the EMVCo check is canceled
// and the sale fails.
func TestSaleBadQR(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.sim.Inject("create", qrordertestFaultCorrupt())
	h.send("sale", sale("Q1", "10"))
	f := h.waitEvent(events.Failed, "Q1")
	if f.Error.Code != command.CodeInvalidQRData {
		t.Fatalf("failed = %+v", f.Error)
	}
	if o := h.order("Q1"); o.Status != "canceled" {
		t.Fatalf("order with a bad QR is %s", o.Status)
	}
	if sc := h.lastScreen(); sc.State != display.StateError {
		t.Fatalf("screen = %s", sc.State)
	}
	if st := h.s.Status(); st.State != "idle" {
		t.Fatalf("status = %+v", st)
	}
	// Resent: its failure again, no new order.
	h.send("sale", sale("Q1", "10"))
	h.wantStatuses("Q1", "failed/invalid_qr_data", "failed/invalid_qr_data")
}

// TestSaleStale: a first delivery older than max_command_age is refused,
// and stays refused when redelivered.
func TestSaleStale(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxCommandAge = time.Minute })
	d := h.delivery("sale", sale("S1", "10"))
	h.clock.Advance(2 * time.Minute)
	h.must(h.handle(d))
	rej := h.waitEvent(events.Rejected, "S1")
	if rej.Error.Code != command.CodeStale || !strings.Contains(rej.Error.Message, "2m0s") {
		t.Fatalf("rejected = %+v", rej.Error)
	}
	h.must(h.handle(again(d)))
	if n := len(h.sim.Orders()); n != 0 {
		t.Fatalf("%d orders for a stale sale", n)
	}
	// A redelivered command that was never refused is not stale: it may
	// be one the agent was working on.
	d2 := h.delivery("sale", sale("S2", "10"))
	h.clock.Advance(2 * time.Minute)
	h.must(h.handle(again(d2)))
	h.waitEvent(events.Created, "S2")
	// A stale cart update is dropped silently.
	h.send("cancel", cancelCmd("S2"))
	d3 := h.delivery("display", `{"message":"hola"}`)
	h.clock.Advance(2 * time.Minute)
	h.must(h.handle(d3))
	if h.commandCount("display/stale_dropped") != 1 || h.s.Status().State != "idle" {
		t.Fatalf("metrics = %v", h.metrics.all())
	}
}

// TestStaleResendOfFailedSale: a sale that failed for API unavailability
// is retried when sent again, but not by a resend that waited longer than
// max_command_age before its first delivery: that one is refused as stale
// and creates no order, like any stale sale.
func TestStaleResendOfFailedSale(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxCommandAge = time.Minute })
	h.outage("create", false)
	h.send("sale", sale("F1", "10"))
	h.waitEvent(events.Failed, "F1")
	h.recover()
	d := h.delivery("sale", sale("F1", "10"))
	h.clock.Advance(2 * time.Minute)
	h.must(h.handle(d))
	if rej := h.waitEvent(events.Rejected, "F1"); rej.Error.Code != command.CodeStale {
		t.Fatalf("rejected = %+v", rej.Error)
	}
	h.must(h.handle(again(d))) // its redelivery stays refused
	if n := len(h.sim.OrdersByExternalReference("F1")); n != 0 {
		t.Fatalf("%d orders for a stale resend", n)
	}
	// Sent again in time, it is retried with the same key.
	h.send("sale", sale("F1", "10"))
	h.waitEvent(events.Created, "F1")
}

// TestSaleExpiryCountdown: expires_at follows the sale's, the POS's or
// the API's expiration_time, capped for static orders.
func TestSaleExpiryCountdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, extra, posExp string
		want                time.Duration
	}{
		{"api default", `"mode":"dynamic"`, "", 15 * time.Minute},
		{"pos setting", `"mode":"dynamic"`, "PT5M", 5 * time.Minute},
		{"sale setting", `"expiration_time":"PT2M"`, "PT5M", 2 * time.Minute},
		{"static cap", `"mode":"static","expiration_time":"PT30M"`, "", 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) { c.ExpirationTime = tc.posExp })
			h.send("sale", sale("E1", "10", tc.extra))
			ev := h.waitEvent(events.Created, "E1")
			if want := events.Stamp(h.clock.Now().Add(tc.want)); ev.ExpiresAt != want {
				t.Fatalf("expires_at = %s, want %s", ev.ExpiresAt, want)
			}
		})
	}
}
