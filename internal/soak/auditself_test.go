//go:build soak

package soak

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// TestSoakAuditCatches proves the verdict can fail: each broken run below must
// be reported, and the clean one must not.
func TestSoakAuditCatches(t *testing.T) {
	const qr = "00020101021243650016COM.MERCADOLIBRE020130636cd8fce34-5045-43f2-96ff-ab36b717bbad5204000053039865802BR5909Test Test6009SAO PAULO62070503***63045742" // internal/emvco/testdata
	pos := &posPlan{ID: "P1", Mode: "dynamic"}
	plan := &salePlan{ID: "s1", POS: pos, Amount: "12.5", Total: "12.50", Action: actPay}
	order := qrordertest.Order{ID: "ORD1", ExternalReference: "s1", POS: "P1", Mode: "dynamic", Status: "processed",
		TotalAmount: "12.50", QRData: qr, IdempotencyKey: qrorder.SaleKey("P1", "s1", qrorder.OpCreate)}
	ev := func(seq uint64, status, detail, msgID string, mut func(*events.Event)) received {
		e := events.Event{SaleID: "s1", OrderID: "ORD1", Status: status, StatusDetail: detail, Mode: "dynamic",
			ExternalPOSID: "P1", TotalAmount: "12.50", At: "2026-01-01T00:00:00.000Z"}
		if status == events.Created {
			e.QRData = qr
		}
		if mut != nil {
			mut(&e)
		}
		raw, _ := json.Marshal(e)
		return received{Event: e, Raw: raw, MsgID: msgID, POS: "P1", Kind: status, Seq: seq}
	}
	created := ev(1, events.Created, "created", "S.P1.s1.created", nil)
	paid := ev(2, events.Processed, "accredited", "S.P1.s1.processed", nil)
	cases := []struct {
		name   string
		stored []received
		orders []qrordertest.Order
		want   string // "" = clean
	}{
		{"clean", []received{created, paid}, []qrordertest.Order{order}, ""},
		{"two orders", []received{created, paid}, []qrordertest.Order{order, order}, "several orders"},
		{"no order", []received{created, paid}, nil, "orders at the simulator 0 != sales 1"},
		{"lost", []received{created}, []qrordertest.Order{order}, "lost sales"},
		{"two finals", []received{created, paid, ev(3, events.Processed, "accredited", "x", nil)}, []qrordertest.Order{order}, "several stored final"},
		{"same msg id twice", []received{created, paid, ev(3, events.Created, "created", "S.P1.s1.created", nil)}, []qrordertest.Order{order}, "sharing a Nats-Msg-Id"},
		{"paid reported canceled", []received{created, ev(2, events.Canceled, "canceled", "c", nil)}, []qrordertest.Order{order}, "wrong events"},
		{"wrong qr", []received{ev(1, events.Created, "created", "a", func(e *events.Event) { e.QRData = "000201" }), paid}, []qrordertest.Order{order}, "QR payloads verified 0 of 1"},
		{"wrong amount", []received{created, ev(2, events.Processed, "accredited", "b", func(e *events.Event) { e.TotalAmount = "12.00" })}, []qrordertest.Order{order}, "wrong events"},
		{"rejected", []received{created, paid, ev(3, events.Rejected, "", "S.P1.cmd.9.rejected", nil)}, []qrordertest.Order{order}, "wrong events"},
		{"open order left", []received{created, paid}, []qrordertest.Order{func() qrordertest.Order { o := order; o.Status = "created"; return o }()}, "orders left open"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := runAudit([]*salePlan{plan}, nil, c.stored, nil, c.orders, staticQR)
			got := strings.Join(a.failures(), "\n")
			switch {
			case c.want == "" && got != "":
				t.Fatalf("clean run reported:\n%s", got)
			case c.want != "" && !strings.Contains(got, c.want):
				t.Fatalf("want a failure containing %q, got:\n%s", c.want, got)
			}
		})
	}
}
