package session

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
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
	h.must(h.sim.Pay(id))
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
// and recording its outcome (the created event, which the events stream
// did not get); the redelivered sale finishes it with the same key,
// finding the order as it is now.
func TestRestartFinishesCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		between func(t *testing.T, h *harness)
		want    []string
	}{
		{"still open", func(t *testing.T, h *harness) {}, []string{"created"}},
		{"paid meanwhile", func(t *testing.T, h *harness) { h.must(h.sim.Pay(h.order("A").ID)) }, []string{"created", "processed/accredited"}},
		// An upgrade or a configuration change meanwhile: the request sent
		// again is the one kept, byte for byte.
		{"configuration changed", func(t *testing.T, h *harness) { h.cfg.ExpirationTime = "PT20M" }, []string{"created"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			// The create goes through; recording it does not.
			h.pub.setFail(func(ev events.Event) error {
				if ev.Status == events.Created {
					return errRefused
				}
				return nil
			})
			d := h.delivery("sale", sale("A", "10"))
			if err := h.handle(d); !errors.Is(err, errRefused) {
				t.Fatalf("Handle = %v", err)
			}
			// Only the POS record, with the request, was written.
			if r := h.record("A"); r != nil {
				t.Fatalf("record = %+v", r)
			}
			if p := h.posRecord(); p.Active != "A" || p.Creating == nil || p.Creating.State != stateCreating || p.Creating.Request.TotalAmount.String() != "10.00" {
				t.Fatalf("POS record = %+v", p)
			}
			h.pub.setFail(nil)
			tc.between(t, h)
			h.restart()
			h.must(h.handle(again(d)))
			if got := h.statuses("A"); !slices.Equal(got, tc.want) {
				t.Fatalf("events = %v, want %v", got, tc.want)
			}
			if n := len(h.sim.OrdersByExternalReference("A")); n != 1 {
				t.Fatalf("%d orders", n)
			}
			var creates [][]byte
			for _, r := range h.sim.Requests() {
				if r.Method == http.MethodPost && r.Path == "/v1/orders" {
					creates = append(creates, r.Body)
				}
			}
			if len(creates) != 2 || !bytes.Equal(creates[0], creates[1]) {
				t.Fatalf("create requests differ:\n%s", bytes.Join(creates, []byte("\n")))
			}
		})
	}
}

// TestRestartAfterFinalPublished: the agent stopped after the stream
// stored a sale's final event and before the sale's record said so. The
// restarted agent publishes that event again, which the stream keeps only
// once (same Nats-Msg-Id); what it records, and replays to a resent sale,
// is the stored original, its at included (found by the chaos soak).
func TestRestartAfterFinalPublished(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("A", "10"))
	h.store.setRefuse(func(op, key string, _ int) error {
		if op == "put" && key == saleKey(testPOS, "A") {
			return errRefused
		}
		return nil
	})
	h.must(h.sim.Pay(h.order("A").ID))
	h.poke("A")
	first := h.waitEvent(events.Processed, "A")
	h.stop()
	h.store.setRefuse(nil)
	h.clock.Advance(5 * time.Second)
	h.start()
	h.poke("A")
	h.waitFor("the final record", func() bool { return h.recordedFinal("A") })
	orig, ok := h.pub.original(first.MsgID)
	if !ok || orig.At != first.At {
		t.Fatalf("stored original = %+v (%v), first published %+v", orig, ok, first)
	}
	if r := h.record("A"); r.LastEvent.At != orig.At {
		t.Fatalf("recorded final event at %s, the stream's at %s", r.LastEvent.At, orig.At)
	}
	h.send("sale", sale("A", "10"))
	evs := h.eventsOf("A")
	replay := evs[len(evs)-1]
	if !replay.Replay || replay.MsgID != orig.MsgID || replay.At != orig.At || replay.Status != orig.Status {
		t.Fatalf("replay %+v differs from the stored original %+v", replay, orig)
	}
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

// TestStopMidCommand: a command whose API call is cut short by shutdown
// is left for redelivery, which finishes it with the same key.
func TestStopMidCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, endpoint, path string
		setup                func(t *testing.T, h *harness)
		verb, payload        string
		want                 []string
	}{
		{"sale", "create", "/v1/orders", func(t *testing.T, h *harness) {}, "sale", sale("A", "10"), []string{"created"}},
		{"cancel", "cancel", "/cancel", func(t *testing.T, h *harness) { h.send("sale", sale("A", "10")) }, "cancel", cancelCmd("A"),
			[]string{"created", "canceled/canceled"}},
		{"refund", "refund", "/refund", func(t *testing.T, h *harness) { paidSale(t, h, "A") }, "refund", refundCmd("A", "", ""),
			[]string{"created", "processed/accredited", "refunded/refunded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tc.setup(t, h)
			h.sim.Inject(tc.endpoint, qrordertest.Fault{Hang: true})
			ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, true))
			d := h.delivery(tc.verb, tc.payload)
			done := make(chan error, 1)
			go func() { done <- h.s.Handle(ctx, d) }()
			h.waitFor("the call in flight", func() bool {
				for _, r := range h.sim.Requests() {
					if strings.HasSuffix(r.Path, tc.path) && r.Status == 0 {
						return true
					}
				}
				return false
			})
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Handle while stopping = %v", err)
			}
			h.restart()
			h.must(h.handle(again(d)))
			h.wantStatuses("A", tc.want...)
		})
	}
}
