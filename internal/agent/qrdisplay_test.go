package agent

import (
	"testing"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

func TestHybridShowsDynamicQR(t *testing.T) {
	h := newHarness(t)
	h.send("POS2", "sale", `{"sale_id":"h1","total_amount":"5.00","mode":"hybrid"}`)
	ev := h.waitSale("h1", "created").Event
	o := h.sim.OrdersByExternalReference("h1")[0]
	if ev.Mode != "hybrid" || ev.QRData == "" || ev.QRData != o.QRData || ev.QRData == staticQR {
		t.Fatalf("%+v", ev)
	}
}

func TestCorruptQRDataIsNeverShown(t *testing.T) {
	h := newHarness(t)
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{CorruptCRC: true})
	seq := h.send("POS1", "sale", `{"sale_id":"q1","total_amount":"5.00"}`)
	ev := h.waitCmd(seq, "failed").Event
	if ev.Error.Code != "invalid_qr_data" || ev.SaleID != "q1" || ev.QRData != "" {
		t.Fatalf("%+v", ev)
	}
	h.simWait(func() bool {
		o := h.sim.OrdersByExternalReference("q1")
		return len(o) == 1 && o[0].Status == "canceled"
	})
	for _, r := range h.eventsOf("q1") {
		if r.Event.Status == "created" {
			t.Fatal("a created event was sent for an order with a bad qr_data")
		}
	}
}
