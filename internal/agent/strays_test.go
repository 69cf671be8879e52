package agent

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
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

// TestPrefixOfSeveralTokens: with nats.subject_prefix "a.b" the agent's
// own POS are served and only an unknown one is answered unknown_pos (the
// sweep once read the store token as the POS, and so answered every
// command of the store unknown_pos and removed it).
func TestPrefixOfSeveralTokens(t *testing.T) {
	h := newHarness(t, withConfig(func(c *config.Config) { c.NATS.SubjectPrefix = "a.b" }))
	h.send("POS1", "sale", `{"sale_id":"ab1","total_amount":"1.00"}`)
	h.waitSale("ab1", "created")
	ev := h.waitCmd(h.send("POS9", "sale", `{"sale_id":"ab9","total_amount":"1.00"}`), "rejected")
	if ev.Subject != "a.b.S1.POS9.evt.rejected" || ev.Event.Error == nil || ev.Event.Error.Code != "unknown_pos" {
		t.Fatalf("%s %s", ev.Subject, ev.Raw)
	}
	for _, e := range h.eventsOf("ab1") {
		if e.Event.Status == "rejected" {
			t.Fatalf("a command of a served POS was answered %s", e.Raw)
		}
	}
}
