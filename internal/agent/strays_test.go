package agent

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestForeignPOSCommandsWait: on an external server (nats.unknown_pos
// keep, the default), commands for a POS this agent does not serve are
// left in the stream for whoever serves it.
func TestForeignPOSCommandsWait(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.send("POS9", "sale", `{"sale_id":"f9","total_amount":"1.00"}`)
	h.send("POS1", "sale", `{"sale_id":"f1","total_amount":"1.00"}`)
	h.waitSale("f1", "created")
	js, _ := jetstream.New(h.agentConn()) // the command stream is the agent's
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, "POS_CMD")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("pos.S1.POS9.cmd.>"))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects["pos.S1.POS9.cmd.sale"]; n != 1 {
		t.Fatalf("%d messages for POS9 in the stream, want 1 (%v)", n, info.State.Subjects)
	}
	if len(h.eventsOf("f9")) != 0 {
		t.Fatal("an event for a POS this agent does not serve")
	}
}
