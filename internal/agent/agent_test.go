package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
)

func TestSaleCreatedThenPaid(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"000123","total_amount":"150.00","description":"Ticket 000123",
		"items":[{"title":"Coffee","unit_price":"75.00","quantity":2}]}`)
	created := h.waitSale("000123", "created").Event
	orders := h.sim.OrdersByExternalReference("000123")
	if len(orders) != 1 {
		t.Fatalf("%d orders", len(orders))
	}
	o := orders[0]
	if created.OrderID != o.ID || created.QRData != o.QRData || created.TotalAmount != "150.00" || created.Mode != "dynamic" ||
		created.ExternalPOSID != "POS1" || created.StatusDetail != "created" || created.ExpiresAt == "" {
		t.Fatalf("created event %+v vs order %+v", created, o)
	}
	if err := emvco.Check(created.QRData); err != nil {
		t.Fatal(err)
	}
	if o.IdempotencyKey != qrorder.SaleKey("POS1", "000123", qrorder.OpCreate) {
		t.Fatalf("idempotency key %s", o.IdempotencyKey)
	}
	if st := h.status("POS1"); st.State != "awaiting_payment" || st.SaleID != "000123" || st.OrderID != o.ID {
		t.Fatalf("status %+v", st)
	}
	if err := h.sim.Pay(o.ID); err != nil {
		t.Fatal(err)
	}
	paid := h.waitSale("000123", "processed").Event
	if paid.OrderID != o.ID || paid.StatusDetail != "accredited" || paid.TotalAmount != "150.00" {
		t.Fatalf("processed event %+v", paid)
	}
	st := h.status("POS1")
	if st.State != "idle" || st.LastEvent == nil || st.LastEvent.Status != "processed" {
		t.Fatalf("status after payment %+v", st)
	}
	// Exactly one stored event per status, each with its message id.
	stored := map[string]int{}
	for _, r := range h.storedEvents() {
		if r.Event.SaleID == "000123" {
			stored[r.MsgID]++
		}
	}
	if stored["S1.POS1.000123.created"] != 1 || stored["S1.POS1.000123.processed"] != 1 || len(stored) != 2 {
		t.Fatalf("stored events %v", stored)
	}
}

func TestCancelSale(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"c1","total_amount":"10.00"}`)
	created := h.waitSale("c1", "created").Event
	h.send("POS1", "cancel", `{"sale_id":"c1"}`)
	ev := h.waitSale("c1", "canceled").Event
	if ev.OrderID != created.OrderID {
		t.Fatalf("%+v", ev)
	}
	if o, _ := h.sim.Order(created.OrderID); o.Status != "canceled" {
		t.Fatalf("order %s at the API", o.Status)
	}
	// A second cancel does not fit the sale's state.
	seq := h.send("POS1", "cancel", `{"sale_id":"c1"}`)
	rej := h.waitCmd(seq, "rejected").Event
	if rej.Error.Code != "invalid_state" || rej.SaleStatus != "canceled" || rej.SaleID != "c1" {
		t.Fatalf("%+v", rej)
	}
	seq = h.send("POS1", "cancel", `{"sale_id":"nope"}`)
	if rej := h.waitCmd(seq, "rejected").Event; rej.Error.Code != "unknown_sale" {
		t.Fatalf("%+v", rej)
	}
}

func TestCancelOfPaidOrderTellsTheTruth(t *testing.T) {
	h := newHarness(t)
	h.cfg.MercadoPago.PollInterval = 0 // keep the value; the poller may race, the outcome may not
	h.send("POS1", "sale", `{"sale_id":"p1","total_amount":"10.00"}`)
	created := h.waitSale("p1", "created").Event
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.send("POS1", "cancel", `{"sale_id":"p1"}`)
	h.waitSale("p1", "processed")
	for _, r := range h.eventsOf("p1") {
		if r.Event.Status == "canceled" {
			t.Fatalf("a paid sale was reported canceled: %s", r.Raw)
		}
	}
}

func TestRefunds(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"r1","total_amount":"20.00"}`)
	created := h.waitSale("r1", "created").Event
	seq := h.send("POS1", "refund", `{"sale_id":"r1"}`)
	if rej := h.waitCmd(seq, "rejected").Event; rej.Error.Code != "invalid_state" || rej.SaleStatus != "created" {
		t.Fatalf("refund of unpaid: %+v", rej)
	}
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("r1", "processed")
	h.send("POS1", "refund", `{"sale_id":"r1","amount":"5.00","refund_id":"part1"}`)
	part := h.waitEvent("partial refund", func(r register.Received) bool {
		return r.Event.Status == "refunded" && r.Event.RefundID == "part1"
	}).Event
	if part.StatusDetail != "partially_refunded" || part.RefundedAmount != "5.00" {
		t.Fatalf("%+v", part)
	}
	// The same refund again is not executed again.
	h.send("POS1", "refund", `{"sale_id":"r1","amount":"5.00","refund_id":"part1"}`)
	h.waitEvent("replayed refund", func(r register.Received) bool {
		return r.Event.Status == "refunded" && r.Event.RefundID == "part1" && r.Event.Replay
	})
	seq = h.send("POS1", "refund", `{"sale_id":"r1","amount":"15.01","refund_id":"toomuch"}`)
	if rej := h.waitCmd(seq, "rejected").Event; rej.Error.Code != "property_value" || rej.Error.Field != "amount" {
		t.Fatalf("%+v", rej)
	}
	h.send("POS1", "refund", `{"sale_id":"r1"}`)
	full := h.waitEvent("total refund", func(r register.Received) bool {
		return r.Event.Status == "refunded" && r.Event.RefundID == "total"
	}).Event
	if full.StatusDetail != "refunded" || full.RefundedAmount != "20.00" {
		t.Fatalf("%+v", full)
	}
	o, _ := h.sim.Order(created.OrderID)
	if o.Status != "refunded" || len(o.Refunds) != 2 {
		t.Fatalf("order at API: %s, %d refunds", o.Status, len(o.Refunds))
	}
	if n := h.apiCalls("POST", "/v1/orders/"+created.OrderID+"/refund"); n != 2 {
		t.Fatalf("%d refund calls, want 2", n)
	}
}

func TestNewSaleCancelsActiveFirst(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"a","total_amount":"10.00"}`)
	a := h.waitSale("a", "created").Event
	h.send("POS1", "sale", `{"sale_id":"b","total_amount":"11.00"}`)
	h.waitSale("b", "created")
	var order []string
	h.evMu.Lock()
	for _, r := range h.events {
		order = append(order, r.Event.SaleID+":"+r.Event.Status)
	}
	h.evMu.Unlock()
	want := "a:created,a:canceled,b:created"
	if got := strings.Join(order, ","); got != want {
		t.Fatalf("event order %s, want %s", got, want)
	}
	if o, _ := h.sim.Order(a.OrderID); o.Status != "canceled" {
		t.Fatalf("old order %s", o.Status)
	}
}

func TestDuplicateSaleID(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"d1","total_amount":"12.5"}`)
	first := h.waitSale("d1", "created")
	h.send("POS1", "sale", `{ "total_amount":"12.50", "sale_id":"d1" }`)
	replay := h.waitEvent("replay", func(r register.Received) bool {
		return r.Event.SaleID == "d1" && r.Event.Replay
	})
	if replay.Event.At != first.Event.At || replay.MsgID != first.MsgID || replay.Event.Status != "created" {
		t.Fatalf("replay %s vs %s", replay.Raw, first.Raw)
	}
	seq := h.send("POS1", "sale", `{"sale_id":"d1","total_amount":"13.00"}`)
	rej := h.waitCmd(seq, "rejected").Event
	if rej.Error.Code != "duplicate_sale_id" || rej.SaleID != "d1" || rej.SaleStatus != "created" {
		t.Fatalf("%+v", rej)
	}
	if n := len(h.sim.OrdersByExternalReference("d1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
	if n := h.apiCalls("POST", "/v1/orders"); n != 1 {
		t.Fatalf("%d create calls", n)
	}
}

func TestRejectionsReachNoAPI(t *testing.T) {
	h := newHarness(t)
	cases := []struct{ verb, payload, code, field, saleID string }{
		{"sale", `{"sale_id":"x1","total_amount":12.5}`, "property_type", "total_amount", "x1"},
		{"sale", `{"sale_id":"x1","total_amount":"0.00"}`, "property_value", "total_amount", "x1"},
		{"sale", `{"sale_id":"x1"}`, "required_properties", "total_amount", "x1"},
		{"sale", `{"sale_id":"x 1","total_amount":"1.00"}`, "property_value", "sale_id", "x 1"},
		{"sale", `{"sale_id":"x1","total_amount":"1.00","tip":"1"}`, "unsupported_properties", "tip", "x1"},
		{"sale", `nope`, "json_syntax_error", "", ""},
		{"sale", `{"sale_id":"x1","total_amount":"1.00","items":[` + strings.Repeat(`{"title":"a","unit_price":"1.00","quantity":1},`, 10) + `{"title":"a","unit_price":"1.00","quantity":1}]}`, "maximum_items", "items", "x1"},
		{"sale", `{"sale_id":"` + strings.Repeat("y", 64) + `","total_amount":"1.00"}`, "", "", ""},
		{"bogus", `{}`, "unknown_command", "", ""},
		{"sale", `{"sale_id":"x1","total_amount":"1.00","description":"` + strings.Repeat("z", 70000) + `"}`, "payload_too_large", "", ""},
		{"sale", `{"sale_id":"x1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1,"external_categories":[{"id":"c"}]}],"discounts":{"payment_methods":[{"type":"debit_card","new_total_amount":"0.50"}]}}`, "property_value", "discounts", "x1"},
	}
	for _, c := range cases {
		if c.code == "" {
			continue
		}
		seq := h.send("POS3", c.verb, c.payload)
		ev := h.waitCmd(seq, "rejected").Event
		if ev.Error == nil || ev.Error.Code != c.code || ev.Error.Field != c.field || ev.SaleID != c.saleID || ev.StatusDetail != "" {
			t.Errorf("%s %.60s: got %+v %+v", c.verb, c.payload, ev, ev.Error)
		}
	}
	if n := h.apiRequests(); n != 0 {
		t.Fatalf("%d API requests for invalid commands", n)
	}
	// The agent is still fine.
	h.send("POS3", "sale", `{"sale_id":"ok1","total_amount":"1.00"}`)
	h.waitSale("ok1", "created")
}

func TestStaticModeShowsPOSQR(t *testing.T) {
	h := newHarness(t)
	h.send("POS2", "sale", `{"sale_id":"s1","total_amount":"9.99","expiration_time":"PT20M"}`)
	ev := h.waitSale("s1", "created").Event
	if ev.Mode != "static" || ev.QRData != staticQR {
		t.Fatalf("%+v", ev)
	}
	var body map[string]any
	for _, r := range h.sim.Requests() {
		if r.Method == "POST" && r.Path == "/v1/orders" {
			_ = json.Unmarshal(r.Body, &body)
		}
	}
	if body["config"].(map[string]any)["qr"].(map[string]any)["mode"] != "static" {
		t.Fatalf("body %v", body)
	}
}

func TestDisplayCommand(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "display", `{"lines":[{"title":"Coffee","quantity":2,"amount":"150.00"}],"total_amount":"150.00"}`)
	h.waitStatus("POS1", "display")
	h.send("POS1", "display", `{}`)
	h.waitStatus("POS1", "idle")
	h.send("POS1", "sale", `{"sale_id":"ds","total_amount":"1.00"}`)
	h.waitSale("ds", "created")
	seq := h.send("POS1", "display", `{}`)
	rej := h.waitCmd(seq, "rejected").Event
	if rej.Error.Code != "invalid_state" || rej.SaleID != "ds" || rej.SaleStatus != "created" {
		t.Fatalf("%+v", rej)
	}
	if st := h.status("POS1"); st.State != "awaiting_payment" {
		t.Fatalf("%+v", st)
	}
}

// waitStatus waits for pos's status to reach state; the display command
// emits no event, so the status query is how a register sees it.
func (h *harness) waitStatus(pos, state string) {
	h.t.Helper()
	// A status query after a later command's event has been seen is
	// ordered after the display command (commands run in order per POS).
	seq := h.send(pos, "cancel", `{"sale_id":"zz-status-probe"}`)
	h.waitCmd(seq, "rejected")
	if st := h.status(pos); st.State != state {
		h.t.Fatalf("status %+v, want %s", st, state)
	}
}

func TestAPIFaultsStillOneOrder(t *testing.T) {
	h := newHarness(t)
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 2, Status: 500})
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1, Status: 429})
	h.send("POS1", "sale", `{"sale_id":"f1","total_amount":"3.00"}`)
	h.waitSale("f1", "created")
	if n := len(h.sim.OrdersByExternalReference("f1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
	keys := map[string]bool{}
	for _, r := range h.sim.Requests() {
		if r.Method == "POST" && r.Path == "/v1/orders" {
			keys[r.Header.Get("X-Idempotency-Key")] = true
		}
	}
	if len(keys) != 1 || h.apiCalls("POST", "/v1/orders") < 3 {
		t.Fatalf("keys %v, %d calls", keys, h.apiCalls("POST", "/v1/orders"))
	}
}

func TestLostCreateIsResolved(t *testing.T) {
	h := newHarness(t)
	// Every create attempt makes the order, then the answer is lost.
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1000, Status: 503, AfterCommit: true})
	seq := h.send("POS1", "sale", `{"sale_id":"o1","total_amount":"4.00"}`)
	failed := h.waitCmd(seq, "failed").Event
	if failed.Error.Code != "api_unavailable" || failed.SaleID != "o1" {
		t.Fatalf("%+v", failed)
	}
	h.sim.ClearFaults()
	ev := h.waitSale("o1", "canceled").Event
	if ev.StatusDetail != "orphan_canceled" {
		t.Fatalf("%+v", ev)
	}
	orders := h.sim.OrdersByExternalReference("o1")
	if len(orders) != 1 || orders[0].Status != "canceled" {
		t.Fatalf("orders %+v", orders)
	}
	// A resend gets the same (canceled) outcome back.
	h.send("POS1", "sale", `{"sale_id":"o1","total_amount":"4.00"}`)
	h.waitEvent("replayed orphan", func(r register.Received) bool {
		return r.Event.SaleID == "o1" && r.Event.Status == "canceled" && r.Event.Replay
	})
	if n := len(h.sim.OrdersByExternalReference("o1")); n != 1 {
		t.Fatalf("%d orders after resend", n)
	}
}
