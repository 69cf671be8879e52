package session

import (
	"testing"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
)

// TestDisplay drives display commands between sales.
func TestDisplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if sc := h.lastScreen(); sc.State != display.StateIdle || sc.POS != testPOS || sc.StoreName != "Kiosco" {
		t.Fatalf("screen at start = %+v", sc)
	}
	h.send("display", `{"lines":[{"title":"Café","quantity":2,"amount":"3.00"}],"total_amount":"6.00","message":"hola"}`)
	sc := h.lastScreen()
	if sc.State != display.StateCart || len(sc.Lines) != 1 || sc.Lines[0].Title != "Café" || sc.Lines[0].Quantity != 2 ||
		sc.Lines[0].Amount != 300 || sc.Amount != 600 || sc.Message != "hola" {
		t.Fatalf("cart screen = %+v", sc)
	}
	if st := h.s.Status(); st.State != "display" {
		t.Fatalf("status = %+v", st)
	}
	h.send("display", `{}`)
	if sc := h.lastScreen(); sc.State != display.StateIdle {
		t.Fatalf("screen after {} = %s", sc.State)
	}
	if st := h.s.Status(); st.State != "idle" {
		t.Fatalf("status = %+v", st)
	}

	// A sale replaces the cart; while its QR awaits payment the display
	// keeps it.
	h.send("display", `{"message":"un momento"}`)
	h.send("sale", sale("A", "6"))
	if st := h.s.Status(); st.State != "awaiting_payment" {
		t.Fatalf("status = %+v", st)
	}
	h.send("display", `{"message":"otra cosa"}`)
	rej := h.waitEvent(events.Rejected, "A")
	if rej.Error.Code != command.CodeInvalidState || rej.SaleStatus != "created" {
		t.Fatalf("rejected = %+v %+v", rej, rej.Error)
	}
	if sc := h.lastScreen(); sc.State != display.StateAwaitingPayment {
		t.Fatalf("screen = %s", sc.State)
	}
	if h.commandCount("display/shown") != 3 || h.commandCount("display/rejected") != 1 {
		t.Fatalf("metrics = %v", h.metrics.all())
	}
	if h.s.POS() != testPOS {
		t.Fatalf("POS() = %q", h.s.POS())
	}
}
