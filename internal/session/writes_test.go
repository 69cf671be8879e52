package session

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/events"
)

// TestSaleWritesItsRecordsTwice: a paid sale writes the records twice,
// the POS record before the create and the sale's record at the end; in
// between, the created event in the events stream holds the order. A
// resent sale and a restart find it there.
func TestSaleWritesItsRecordsTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.store.setRefuse(nil) // counts the writes from here
	h.send("sale", sale("A", "10"))
	id := h.order("A").ID
	if r := h.storedRecord("A"); r != nil {
		t.Fatalf("the created order was written to the store: %+v", r)
	}
	if r := h.record("A"); r == nil || r.State != stateAwaiting || r.OrderID != id || r.QRData == "" || r.ExpiresAt.IsZero() {
		t.Fatalf("record from the POS record and the events = %+v", r)
	}
	h.send("sale", sale("A", "10"))
	if got := h.statuses("A"); !slices.Equal(got, []string{"created", "created"}) || !h.eventsOf("A")[1].Replay {
		t.Fatalf("resent sale: events %v, want created then created replayed", got)
	}
	h.restart()
	if st := h.s.Status(); st.State != "awaiting_payment" || st.OrderID != id {
		t.Fatalf("status after restart = %+v", st)
	}
	h.must(h.sim.Pay(id))
	h.poke("A")
	h.waitFor("the final record", func() bool { return h.recordedFinal("A") })
	if n := h.store.putCount(); n != 2 {
		t.Fatalf("%d writes of the records for one paid sale, want 2", n)
	}
	if r := h.storedRecord("A"); r.State != stateProcessed || r.Fingerprint == "" || r.Request.TotalAmount.String() != "10.00" {
		t.Fatalf("final record = %+v", r)
	}
	if n := len(h.sim.OrdersByExternalReference("A")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}

// TestCreatedEventNotStoredIsRecorded: when the events stream does not
// keep the created event, the sale's record holds the order.
func TestCreatedEventNotStoredIsRecorded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.pub.setFail(func(ev events.Event) error {
		if ev.Status == events.Created {
			return events.ErrNotStored
		}
		return nil
	})
	d := h.delivery("sale", sale("A", "10"))
	if err := h.handle(d); !errors.Is(err, events.ErrNotStored) {
		t.Fatalf("Handle = %v", err)
	}
	h.pub.setFail(nil)
	h.must(h.handle(again(d)))
	if r := h.storedRecord("A"); r == nil || r.State != stateAwaiting || r.OrderID != h.order("A").ID {
		t.Fatalf("stored record = %+v", r)
	}
}

// TestRestartEventsUnreadable: a session that cannot read the events
// stream when its open sale has no record of its own does not start
// (it would leave the order unfollowed).
func TestRestartEventsUnreadable(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.send("sale", sale("A", "10"))
	h.stop()
	h.pub.setLastErr(errors.New("stream unreachable (test)"))
	s := New(h.cfg, Deps{API: h.api, Store: h.store, Events: h.pub, Log: h.pub, Logger: slog.New(slog.DiscardHandler), Now: h.clock.Now})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Run(ctx); err == nil {
		t.Fatal("Run started without the open sale")
	}
	h.pub.setLastErr(nil)
	h.start()
	if st := h.s.Status(); st.State != "awaiting_payment" || st.SaleID != "A" {
		t.Fatalf("status once the stream reads = %+v", st)
	}
}

// TestRebuildLeavesTheSaleBeingCreated: the start-up check does not take
// the POS's sale being created, which has no record of its own, for one a
// damaged store lost.
func TestRebuildLeavesTheSaleBeingCreated(t *testing.T) {
	ctx := context.Background()
	st := mapStore{}
	creating := &saleRecord{SaleID: "s1", Fingerprint: "fp1", State: stateCreating}
	if err := st.Put(ctx, posKey("P1"), &posRecord{Active: "s1", Creating: creating}); err != nil {
		t.Fatal(err)
	}
	latest := map[string][]events.Event{
		"s1": {{SaleID: "s1", OrderID: "O1", Status: events.Created}},
		"s0": {{SaleID: "s0", OrderID: "O0", Status: events.Created}}, // lost with a damaged store
	}
	rebuilt, updated, err := RebuildRecords(ctx, st, "P1", latest, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rebuilt, []string{"s0"}) || len(updated) != 0 {
		t.Fatalf("rebuilt %v, updated %v; want [s0], []", rebuilt, updated)
	}
	if _, ok := st[saleKey("P1", "s1")]; ok {
		t.Fatal("the sale being created got a record rebuilt from its events")
	}
	var pr posRecord
	if _, err := st.Get(ctx, posKey("P1"), &pr); err != nil || pr.Active != "s1" {
		t.Fatalf("POS record = %+v (%v): the open sale must stay the active one", pr, err)
	}
	// The agent stopped between s1's final event and its record: the
	// record is made from the events and the POS record's request.
	latest["s1"] = append(latest["s1"], events.Event{SaleID: "s1", OrderID: "O1", Status: events.Processed})
	if rebuilt, updated, err = RebuildRecords(ctx, st, "P1", latest, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(rebuilt) != 0 || !slices.Equal(updated, []string{"s1"}) {
		t.Fatalf("rebuilt %v, updated %v; want [], [s1]", rebuilt, updated)
	}
	var r saleRecord
	if ok, err := st.Get(ctx, saleKey("P1", "s1"), &r); !ok || err != nil || r.State != stateProcessed || r.Fingerprint != "fp1" {
		t.Fatalf("s1's record = %+v (%v, %v): want processed, fingerprint kept", r, ok, err)
	}
}
