package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
)

// TestNewSaleFindsOldOnePaid: the open order was paid just before the next
// sale; canceling it is refused, and the register hears the truth
// (processed) before the new sale's events.
func TestNewSaleFindsOldOnePaid(t *testing.T) {
	h := newHarness(t, withConfig(func(c *config.Config) { c.MercadoPago.PollInterval = time.Hour }))
	h.send("POS1", "sale", `{"sale_id":"old","total_amount":"10.00"}`)
	old := h.waitSale("old", "created").Event
	if err := h.sim.Pay(old.OrderID); err != nil {
		t.Fatal(err)
	}
	h.send("POS1", "sale", `{"sale_id":"new","total_amount":"11.00"}`)
	h.waitSale("new", "created")
	var order []string
	h.evMu.Lock()
	for _, r := range h.events {
		order = append(order, r.Event.SaleID+":"+r.Event.Status)
	}
	h.evMu.Unlock()
	if got := strings.Join(order, ","); got != "old:created,old:processed,new:created" {
		t.Fatalf("events %s", got)
	}
}
