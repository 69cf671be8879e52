package intake

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/session"
)

// fakeMsg is a command as a consumer hands it over; its acknowledgement
// is confirmed or not as the test says.
type fakeMsg struct {
	jetstream.Msg // the methods the consumer does not call
	seq, count    uint64
	ackErr        error
	acked         bool
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq, Consumer: m.count},
		NumDelivered: m.count, Timestamp: time.Now()}, nil
}
func (m *fakeMsg) Subject() string                  { return "pos.S1.P1.cmd.cancel" }
func (m *fakeMsg) Data() []byte                     { return []byte(`{"sale_id":"s1"}`) }
func (m *fakeMsg) InProgress() error                { return nil }
func (m *fakeMsg) Nak() error                       { return nil }
func (m *fakeMsg) NakWithDelay(time.Duration) error { return nil }
func (m *fakeMsg) DoubleAck(context.Context) error {
	m.acked = m.ackErr == nil
	return m.ackErr
}

type recordingHandler struct{ got []session.Delivery }

func (h *recordingHandler) Handle(_ context.Context, d session.Delivery) error {
	h.got = append(h.got, d)
	return nil
}

// TestUnconfirmedAckCountsAsDelivered: a command whose acknowledgement was
// not confirmed (the server went away) comes back from a consumer the
// server made afresh as a first delivery; the session must see it as
// delivered again. A command whose ack was confirmed is not affected.
func TestUnconfirmedAckCountsAsDelivered(t *testing.T) {
	h := &recordingHandler{}
	c := NewConsumer(nil, Streams{Prefix: "pos"}, "S1", "P1", h, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	c.handle(ctx, &fakeMsg{seq: 7, count: 1, ackErr: errors.New("nats: timeout")})
	c.handle(ctx, &fakeMsg{seq: 8, count: 1})
	c.handle(ctx, &fakeMsg{seq: 7, count: 1}) // the fresh consumer's first delivery
	c.handle(ctx, &fakeMsg{seq: 9, count: 1})
	want := []uint64{1, 1, 2, 1}
	for i, d := range h.got {
		if d.NumDelivered != want[i] {
			t.Errorf("delivery %d (seq %d): NumDelivered %d, want %d", i, d.Seq, d.NumDelivered, want[i])
		}
	}
	if len(h.got) != len(want) {
		t.Fatalf("%d deliveries handled, want %d", len(h.got), len(want))
	}
	if c.unacked.has(7) {
		t.Error("seq 7 still counted as unacknowledged after its confirmed ack")
	}
}

// TestRecentSetForgetsTheOldest: the set stays small when acks that were
// carried out go unconfirmed and their commands never come back.
func TestRecentSetForgetsTheOldest(t *testing.T) {
	var r recentSet
	for seq := uint64(1); seq <= recentMax+10; seq++ {
		r.add(seq)
	}
	r.add(recentMax + 10) // already there
	if r.has(10) || !r.has(11) || !r.has(recentMax+10) || len(r.order) != recentMax {
		t.Errorf("has(10) %v, has(11) %v, %d kept", r.has(10), r.has(11), len(r.order))
	}
}
