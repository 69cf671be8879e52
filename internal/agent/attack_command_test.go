package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/register"
	"github.com/posagent/posagent/internal/secret"
)

// Attacks through commands (README "Security"), each on the agent's own
// POS subjects: ambiguous JSON, a reused refund_id and invisible text are
// refused before any Orders API call; legitimate commands still work.

// TestAttackDuplicateKeys: a sale whose total_amount appears twice (a
// register whose JSON library keeps the first key would show the
// customer another amount than the order's) creates no order.
func TestAttackDuplicateKeys(t *testing.T) {
	h := newHarness(t)
	attacks := []struct{ verb, payload, field string }{
		{"sale", `{"sale_id":"dk1","total_amount":"1.00","total_amount":"999.00"}`, "total_amount"},
		{"sale", `{"sale_id":"dk2","total_amount":"2.00","items":[{"title":"a","unit_price":"1.00","quantity":2},{"title":"b","unit_price":"1.00","quantity":1,"quantity":9}]}`, "items[1].quantity"},
		{"refund", `{"sale_id":"dk3","refund_id":"r","amount":"1.00","amount":"100.00"}`, "amount"},
		{"display", `{"message":"hola","message":"chau"}`, "message"},
	}
	for _, a := range attacks {
		ev := h.waitCmd(h.send("POS1", a.verb, a.payload), "rejected").Event
		if ev.Error == nil || ev.Error.Code != "json_syntax_error" || ev.Error.Field != a.field {
			t.Errorf("%s: %+v, want json_syntax_error at %s", a.payload, ev.Error, a.field)
		}
	}
	if n := h.orderCalls(); n != 0 {
		t.Fatalf("duplicate-key commands made %d API calls", n)
	}
	h.send("POS1", "sale", `{"sale_id":"dk-ok","total_amount":"1.00","items":[{"title":"a","unit_price":"0.50","quantity":2}]}`)
	if ev := h.waitSale("dk-ok", "created").Event; ev.TotalAmount != "1.00" {
		t.Fatalf("%+v", ev)
	}
}

// TestAttackRefundIDReuse: a refund_id already used for 5.00 cannot be
// reused for another amount (it is refused, not replayed, and the API is
// not asked); the same refund resent is replayed; a new id refunds.
func TestAttackRefundIDReuse(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"ru1","total_amount":"20.00"}`)
	created := h.waitSale("ru1", "created").Event
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("ru1", "processed")
	refunds := func() int { return h.apiCalls("POST", "/v1/orders/"+created.OrderID+"/refund") }
	h.send("POS1", "refund", `{"sale_id":"ru1","amount":"5.00","refund_id":"r1"}`)
	h.waitEvent("refund r1", func(r register.Received) bool { return r.Event.RefundID == "r1" && r.Event.Status == "refunded" })
	for _, other := range []string{`"amount":"15.00",`, `"amount":"5.01",`, ``} {
		seq := h.send("POS1", "refund", `{"sale_id":"ru1",`+other+`"refund_id":"r1"}`)
		ev := h.waitCmd(seq, "rejected").Event
		if ev.Error == nil || ev.Error.Code != "duplicate_refund_id" || ev.Error.Field != "refund_id" || ev.SaleStatus != "refunded" {
			t.Fatalf("refund_id r1 reused with %q: %+v", other, ev)
		}
	}
	if n := refunds(); n != 1 {
		t.Fatalf("%d refund calls, want 1", n)
	}
	h.send("POS1", "refund", `{"sale_id":"ru1","amount":"5.00","refund_id":"r1"}`)
	if ev := h.waitEvent("refund r1 replayed", func(r register.Received) bool { return r.Event.RefundID == "r1" && r.Event.Replay }).Event; ev.RefundedAmount != "5.00" {
		t.Fatalf("same refund resent: %+v", ev)
	}
	h.send("POS1", "refund", `{"sale_id":"ru1","amount":"3.00","refund_id":"r2"}`)
	ev := h.waitEvent("refund r2", func(r register.Received) bool { return r.Event.RefundID == "r2" && r.Event.Status == "refunded" }).Event
	if ev.RefundedAmount != "8.00" || refunds() != 2 {
		t.Fatalf("%+v, %d refund calls", ev, refunds())
	}
}

// TestAttackInvisibleText: right-to-left overrides and zero-width
// characters never reach a screen, a receipt or the API.
func TestAttackInvisibleText(t *testing.T) {
	h := newHarness(t)
	for i, r := range []string{"\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\u00ad"} {
		text, _ := json.Marshal("Total 1.00" + r + "0")
		attacks := []struct{ verb, payload, field string }{
			{"sale", `{"sale_id":"inv` + string(rune('a'+i)) + `","total_amount":"1.00","description":` + string(text) + `}`, "description"},
			{"sale", `{"sale_id":"inv` + string(rune('a'+i)) + `","total_amount":"1.00","items":[{"title":` + string(text) + `,"unit_price":"1.00","quantity":1}]}`, "items[0].title"},
			{"display", `{"lines":[{"title":` + string(text) + `,"amount":"1.00"}]}`, "lines[0].title"},
			{"display", `{"message":` + string(text) + `}`, "message"},
		}
		for _, a := range attacks {
			ev := h.waitCmd(h.send("POS1", a.verb, a.payload), "rejected").Event
			if ev.Error == nil || ev.Error.Code != "property_value" || ev.Error.Field != a.field {
				t.Errorf("%q in %s: %+v", r, a.field, ev.Error)
			}
		}
	}
	if n := h.orderCalls(); n != 0 {
		t.Fatalf("invisible text made %d API calls", n)
	}
	if st := h.status("POS1"); st.State != "idle" {
		t.Fatalf("POS1 after the attack: %+v", st)
	}
	h.send("POS1", "sale", `{"sale_id":"inv-ok","total_amount":"1.00","description":"Café con leche — São Paulo"}`)
	h.waitSale("inv-ok", "created")
}

// TestAttackSecretInBaseURL: an agent given a base_url with a token in its
// query or user information refuses to start without printing it.
func TestAttackSecretInBaseURL(t *testing.T) {
	const tok = "APP_USR-leaked-in-url-42"
	for _, base := range []string{"https://api.mercadopago.com/?access_token=" + tok, "https://" + tok + "@api.mercadopago.com"} {
		cfg := config.Default()
		cfg.StoreID = "S1"
		cfg.MercadoPago.BaseURL = base
		cfg.StateDir = t.TempDir()
		cfg.NATS.Embedded.StoreDir = filepath.Join(cfg.StateDir, "nats")
		cfg.NATS.Embedded.Listen = "127.0.0.1:0"
		cfg.POS[0].Displays = nil
		cfg.POS[0].Printer = nil
		var log syncBuffer
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(Options{Config: cfg, Token: secret.New("TEST-x"), HTTPListener: ln,
			Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			err = a.Run(ctx)
			cancel()
		}
		ln.Close()
		if err == nil || !strings.Contains(err.Error(), "base_url") {
			t.Fatalf("%s: agent ran (%v)", base, err)
		}
		if strings.Contains(err.Error(), tok) || strings.Contains(log.String(), tok) {
			t.Fatalf("the token in base_url was echoed: %v\n%s", err, log.String())
		}
	}
}
