package session

import (
	"errors"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
)

// TestRestartResumes: a restarted session shows the open order's QR
// again and follows it to its end.
func TestRestartResumes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("A", "10"))
	id := h.order("A").ID
	h.restart()
	if st := h.s.Status(); st.State != "awaiting_payment" || st.SaleID != "A" || st.OrderID != id {
		t.Fatalf("status after restart = %+v", st)
	}
	if sc := h.lastScreen(); sc.State != display.StateAwaitingPayment || sc.OrderID != id {
		t.Fatalf("screen after restart = %+v", sc)
	}
	must(t, h.sim.Pay(id))
	h.poke("A")
	h.waitEvent(events.Processed, "A")
	// Once over, a restart shows the idle screen.
	h.restart()
	if sc := h.lastScreen(); sc.State != display.StateIdle {
		t.Fatalf("screen after restart = %s", sc.State)
	}
	if h.s.Poke(id) {
		t.Fatal("a final order is polled")
	}
}

// TestRestartFinishesCreate: the agent stopped between sending the create
// and recording its outcome; the redelivered sale finishes it with the
// same key, finding the order as it is now.
func TestRestartFinishesCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		between func(t *testing.T, h *harness)
		want    []string
	}{
		{"still open", func(t *testing.T, h *harness) {}, []string{"created"}},
		{"paid meanwhile", func(t *testing.T, h *harness) { must(t, h.sim.Pay(h.order("A").ID)) }, []string{"created", "processed/accredited"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			// The create goes through; recording it does not.
			h.store.setRefuse(func(op, key string, w int) error {
				if op != "get" && w > 2 {
					return errRefused
				}
				return nil
			})
			d := h.delivery("sale", sale("A", "10"))
			if err := h.handle(d); !errors.Is(err, errRefused) {
				t.Fatalf("Handle = %v", err)
			}
			if r := h.record("A"); r.State != stateCreating {
				t.Fatalf("record = %s", r.State)
			}
			h.store.setRefuse(nil)
			tc.between(t, h)
			h.restart()
			must(t, h.handle(again(d)))
			got := h.statuses("A")
			if want := append([]string{"created"}, tc.want...); !equal(got, want) {
				t.Fatalf("events = %v, want %v", got, want)
			}
			if n := len(h.sim.OrdersByExternalReference("A")); n != 1 {
				t.Fatalf("%d orders", n)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestTouch: an order open longer than half the records' retention has
// its records rewritten, so the store does not forget them.
func TestTouch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Retention, c.ExpirationTime = time.Hour, "PT3H" })
	h.send("sale", sale("A", "10"))
	pollAnswered(h, "A") // the poller runs: it has read the clock
	h.clock.Advance(31 * time.Minute)
	h.poke("A")
	want := h.clock.Now().UTC()
	h.waitFor("the record rewritten", func() bool { return h.record("A").UpdatedAt.Equal(want) })
	h.wantStatuses("A", "created")
	if p := h.posRecord(); p.Active != "A" {
		t.Fatalf("POS record = %+v", p)
	}
	// Refused rewrites are logged and tried again later.
	h.store.setRefuse(func(op, key string, _ int) error {
		if op == "put" && key == h.s.posKey() {
			return errRefused
		}
		return nil
	})
	h.clock.Advance(31 * time.Minute)
	h.poke("A")
	h.waitFor("the refused rewrite logged", func() bool { return h.logs.logged("refreshing the POS record failed") == 1 })
	h.store.setRefuse(func(op, key string, _ int) error {
		if op == "put" {
			return errRefused
		}
		return nil
	})
	h.clock.Advance(31 * time.Minute)
	h.poke("A")
	h.waitFor("the refused rewrite logged", func() bool { return h.logs.logged("refreshing the open sale's record failed") == 1 })
}

// TestWellPastExpiry: an order the API still says is open long after
// its expected expiry is not ended by the local clock.
func TestWellPastExpiry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("A", "10"))
	h.clock.Lag(time.Hour) // the API's clock stays behind
	h.clock.Advance(20 * time.Minute)
	pollAnswered(h, "A")
	h.wantStatuses("A", "created")
	if st := h.s.Status(); st.State != "awaiting_payment" {
		t.Fatalf("status = %+v", st)
	}
	h.clock.Lag(0)
	h.poke("A")
	h.waitEvent(events.Expired, "A")
}

// pollAnswered pokes the poller of saleID and waits until the API
// answered its read (so the poller has started and read the clock).
func pollAnswered(h *harness, saleID string) {
	h.t.Helper()
	before := len(h.sim.Requests())
	h.poke(saleID)
	h.waitFor("the poll answered", func() bool {
		rs := h.sim.Requests()
		return len(rs) > before && rs[len(rs)-1].Status == 200
	})
}
