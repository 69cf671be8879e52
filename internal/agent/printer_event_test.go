package agent

import (
	"io"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/netgate"
	"github.com/posagent/posagent/internal/register"
)

// TestPrinterProblemAndRecoveryEvents: a network printer that is off makes
// a printer event (offline); once it answers, the receipt of the sale that
// still awaits payment comes out and an "ok" event follows.
func TestPrinterProblemAndRecoveryEvents(t *testing.T) {
	gate := netgate.New(t) // the printer is off: connections refused
	addr := gate.Addr()
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.POS[0].Printer = &config.Printer{Transport: "tcp", Device: addr, WriteTimeout: 2 * time.Second,
			Profile: "epson", QR: "auto", MaxModuleDots: 5}
	}))
	h.send("POS1", "sale", `{"sale_id":"pe1","total_amount":"2.00"}`)
	h.waitSale("pe1", "created")
	off := h.waitEvent("printer offline", func(r register.Received) bool {
		return r.Subject == "pos.S1.POS1.evt.printer" && r.Event.Status == "offline"
	})
	if off.Event.ExternalPOSID != "POS1" || off.Event.At == "" || off.Event.SaleID != "" {
		t.Fatalf("%s", off.Raw)
	}
	// The printer comes back.
	ln, err := gate.Listener()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- len(b)
	}()
	h.waitEvent("printer ok", func(r register.Received) bool {
		return r.Subject == "pos.S1.POS1.evt.printer" && r.Event.Status == "ok"
	})
	select {
	case n := <-got:
		if n < 100 {
			t.Fatalf("receipt of %d bytes", n)
		}
	case <-time.After(wait):
		t.Fatal("no receipt after the printer came back")
	}
	if _, body := h.get("/metrics"); !contains(body, `posagent_printer_errors_total{pos="POS1",status="offline"}`) {
		t.Fatal("printer error not counted")
	}
}
