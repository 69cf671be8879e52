package agent

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Reading JetStream streams in tests. The connections are often a
// register's, which may create consumers on the events stream but not
// delete them; a stream holds at most 1,000 consumers (idle ones expire
// after minutes). An ordered consumer makes a new server-side consumer for
// every Fetch or Next, so reading message by message with Next would leave
// one consumer behind per message and stall the reader once the stream is
// full of them: these helpers fetch in batches, or follow the stream with
// one iterator.

// readBatch is the most messages one fetch asks for.
const readBatch = 500

// readMessages reads, in order, every message the stream holds when it is
// called: one ordered consumer, one fetch per batch of up to readBatch.
func readMessages(t testing.TB, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	state := info.State
	if state.Msgs == 0 {
		return nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", stream, err)
	}
	var out []jetstream.Msg
	for uint64(len(out)) < state.Msgs {
		// Never more than the stream still holds: a fetch waits until its
		// batch is full (or its deadline passes).
		batch, err := cons.Fetch(int(min(state.Msgs-uint64(len(out)), readBatch)), jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatalf("reading %s: %v", stream, err)
		}
		before := len(out)
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatalf("reading %s: %v", stream, err)
			}
			if md.Sequence.Stream > state.LastSeq {
				return out // stored after the call
			}
			out = append(out, m)
		}
		if err := batch.Error(); err != nil {
			t.Fatalf("reading %s: %d of %d messages, then %v", stream, len(out), state.Msgs, err)
		}
		if len(out) == before {
			t.Fatalf("reading %s: %d of %d messages, then nothing within %s", stream, len(out), state.Msgs, wait)
		}
	}
	return out
}

// waitStored waits until the stream holds a message match accepts and
// returns it. It follows the stream from its start with one ordered
// consumer's iterator (one server-side consumer, made again only if it
// fails), so it sees each message as the stream stores it; the deadline
// only bounds a failing test.
func waitStored(t testing.TB, js jetstream.JetStream, stream, what string, match func(jetstream.Msg) bool) jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer on %s: %v", stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		t.Fatalf("reading %s: %v", stream, err)
	}
	defer it.Stop()
	deadline := time.Now().Add(wait)
	for {
		m, err := it.Next(jetstream.NextMaxWait(time.Until(deadline)))
		if err != nil {
			t.Fatalf("%s: not in %s within %s: %v", what, stream, wait, err)
		}
		if match(m) {
			return m
		}
	}
}
