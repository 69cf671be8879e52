package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/events"
)

// eventStream starts a real server with an events stream like the
// agent's (24 h duplicate window) and returns its JetStream context.
func eventStream(t *testing.T) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	s, err := embeddednats.Start(embeddednats.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir(),
		MaxMemory: 8 << 20, MaxStore: 64 << 20, Sync: embeddednats.SyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "POS_EVT", Subjects: []string{"pos.*.*.evt.>"},
		Storage: jetstream.FileStorage, Duplicates: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return js, st
}

// TestPublishReturnsStored: an event published again under the same
// Nats-Msg-Id (the agent restarted between publishing and recording it)
// is stored once, and Publish returns the stream's original, its at
// included, so the agent records and replays what registers were told.
func TestPublishReturnsStored(t *testing.T) {
	js, st := eventStream(t)
	pub := events.NewPublisher(js, "pos", "S1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := events.Event{Status: events.Processed, SaleID: "A", ExternalPOSID: "P1", OrderID: "ORD1",
		StatusDetail: "accredited", At: "2026-12-05T10:00:00.000Z", MsgID: "S1.P1.A.processed"}
	got, err := pub.Publish(ctx, first)
	if err != nil || got != first {
		t.Fatalf("first Publish = %+v, %v", got, err)
	}
	again := first
	again.At = "2026-12-05T10:00:05.000Z"
	got, err = pub.Publish(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if got != first {
		t.Fatalf("Publish of a duplicate returned %+v, want the stored original %+v", got, first)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stream holds %d messages, want 1", info.State.Msgs)
	}
	// A printer event, whose subject's last token is its kind, keeps it.
	pe := events.Event{Status: "paper_out", Kind: events.Printer, ExternalPOSID: "P1", At: "2026-12-05T10:00:01.000Z", MsgID: "S1.P1.printer.1"}
	if _, err := pub.Publish(ctx, pe); err != nil {
		t.Fatal(err)
	}
	pe2 := pe
	pe2.At = "2026-12-05T10:00:09.000Z"
	if got, err := pub.Publish(ctx, pe2); err != nil || got != pe {
		t.Fatalf("duplicate printer event: Publish = %+v, %v; want %+v", got, err, pe)
	}
}

// TestPublishOriginalGone: the duplicate window still remembers an id
// whose message the stream no longer holds (its limits removed it):
// Publish returns the event it was given with ErrNotStored, since live
// subscribers got it and the stream keeps no copy: a caller that counts
// on the stream's copy as its record must write its own.
func TestPublishOriginalGone(t *testing.T) {
	js, st := eventStream(t)
	pub := events.NewPublisher(js, "pos", "S1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ev := events.Event{Status: events.Expired, SaleID: "B", ExternalPOSID: "P1", At: "2026-12-05T10:00:00.000Z", MsgID: "S1.P1.B.expired"}
	if _, err := pub.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(ctx, 1); err != nil {
		t.Fatal(err)
	}
	again := ev
	again.At = "2026-12-05T10:00:07.000Z"
	got, err := pub.Publish(ctx, again)
	if !errors.Is(err, events.ErrNotStored) || got != again {
		t.Fatalf("Publish = %+v, %v; want %+v, ErrNotStored", got, err, again)
	}
	// The stream took it as a duplicate: it stored nothing.
	if info, err := st.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Fatalf("stream info %+v, %v: want no message", info, err)
	}
}

// TestPublishWithoutID: an event without a message id is refused before
// anything is sent.
func TestPublishWithoutID(t *testing.T) {
	js, _ := eventStream(t)
	pub := events.NewPublisher(js, "pos", "S1")
	_, err := pub.Publish(context.Background(), events.Event{Status: events.Created, ExternalPOSID: "P1"})
	if err == nil || errors.Is(err, events.ErrNotStored) {
		t.Fatalf("Publish = %v", err)
	}
}

// TestLogLast: the newest event of a POS with a status, as the stream
// keeps it, with its message id; none for a POS or status without one.
func TestLogLast(t *testing.T) {
	js, _ := eventStream(t)
	pub := events.NewPublisher(js, "pos", "S1")
	log := events.NewLog(js, "POS_EVT", "pos", "S1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, ok, err := log.Last(ctx, "P1", events.Created); ok || err != nil {
		t.Fatalf("Last on an empty stream = %v, %v", ok, err)
	}
	for _, ev := range []events.Event{
		{Status: events.Created, SaleID: "A", ExternalPOSID: "P1", OrderID: "ORD1", QRData: "qr-A", At: "2026-12-05T10:00:00.000Z", MsgID: "S1.P1.A.created"},
		{Status: events.Created, SaleID: "B", ExternalPOSID: "P1", OrderID: "ORD2", QRData: "qr-B", At: "2026-12-05T10:01:00.000Z", MsgID: "S1.P1.B.created"},
		{Status: events.Canceled, SaleID: "B", ExternalPOSID: "P1", OrderID: "ORD2", At: "2026-12-05T10:02:00.000Z", MsgID: "S1.P1.B.canceled"},
		{Status: events.Created, SaleID: "C", ExternalPOSID: "P2", OrderID: "ORD3", At: "2026-12-05T10:03:00.000Z", MsgID: "S1.P2.C.created"},
	} {
		if _, err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got, ok, err := log.Last(ctx, "P1", events.Created)
	if err != nil || !ok || got.SaleID != "B" || got.OrderID != "ORD2" || got.QRData != "qr-B" || got.MsgID != "S1.P1.B.created" {
		t.Fatalf("Last(P1, created) = %+v, %v, %v", got, ok, err)
	}
	if _, ok, err := log.Last(ctx, "P3", events.Created); ok || err != nil {
		t.Fatalf("Last(P3, created) = %v, %v", ok, err)
	}
}
