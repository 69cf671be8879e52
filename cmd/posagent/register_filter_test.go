package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/subject"
)

// fakeAgent answers every command on pos.S1.POS1 with a fixed list of
// events, so the tests choose exactly what a register command hears,
// including events about its sale that do not answer it.
type fakeAgent struct {
	cfg     string
	answers map[string][]events.Event // by verb
}

func startFakeAgent(t *testing.T, answers map[string][]events.Event) *fakeAgent {
	t.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	ns := natstest.RunServer(&opts)
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "POS_CMD", Subjects: []string{"pos.*.*.cmd.>"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	f := &fakeAgent{answers: answers}
	_, err = nc.Subscribe("pos.S1.POS1.cmd.*", func(m *nats.Msg) {
		verb := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		for _, ev := range f.answers[verb] {
			ev.ExternalPOSID, ev.At = "POS1", "2026-11-23T14:00:00.000Z"
			msgID := ev.MsgID
			ev.MsgID = ""
			if msgID == "" {
				msgID = subject.SaleMsgID("S1", "POS1", ev.SaleID, ev.Status)
				if ev.Status == events.Refunded {
					msgID += "." + ev.RefundID
				}
			}
			data, _ := json.Marshal(ev)
			out := nats.NewMsg("pos.S1.POS1.evt." + ev.Status)
			out.Header.Set(jetstream.MsgIDHeader, msgID)
			out.Data = data
			if err := nc.PublishMsg(out); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	f.cfg = writeTestFile(t, t.TempDir(), "posagent.yaml", fmt.Sprintf("store_id: S1\nnats: {url: %q}\npos: [{external_pos_id: POS1}]\n", ns.ClientURL()), 0o600)
	return f
}

func TestRegisterPrintsOnlyItsAnswers(t *testing.T) {
	foreignRejection := events.Event{SaleID: "S8", Status: events.Rejected, Error: &events.Error{Code: "invalid_state"},
		MsgID: "S1.POS1.cmd.999999.rejected"} // another command's, about the same sale
	f := startFakeAgent(t, map[string][]events.Event{
		"sale": {
			{SaleID: "S9", Status: events.Created}, // another sale's
			{SaleID: "S8", Status: events.Created, OrderID: "ORD1"},
			foreignRejection,
			{SaleID: "S8", Status: events.Refunded, RefundID: "r1"}, // not a sale's outcome
			{SaleID: "S8", Status: events.Processed, OrderID: "ORD1"},
		},
		"cancel": {
			{SaleID: "S8", Status: events.Created, OrderID: "ORD1"}, // late, and no answer to a cancel
			{SaleID: "S9", Status: events.Canceled},
			foreignRejection,
			{SaleID: "S8", Status: events.Refunded, RefundID: "r1"},
			{SaleID: "S8", Status: events.Canceled, OrderID: "ORD1"},
		},
		"refund": {
			{SaleID: "S8", Status: events.Processed, OrderID: "ORD1"},
			{SaleID: "S8", Status: events.Refunded, RefundID: "r1", RefundedAmount: "1.00"},
			{SaleID: "S8", Status: events.Refunded, RefundID: "r2", RefundedAmount: "3.00"},
			{SaleID: "S8", Status: events.Refunded, RefundID: "total", RefundedAmount: "10.00"},
		},
	})
	tests := []struct {
		name string
		args []string
		want string // the statuses printed, with refund ids
	}{
		{"sale", []string{"sale", "-sale-id", "S8", "-amount", "10.00"}, "created processed"},
		{"cancel", []string{"cancel", "-sale-id", "S8"}, "canceled"},
		{"partial refund", []string{"refund", "-sale-id", "S8", "-amount", "2.00", "-refund-id", "r2"}, "refunded/r2"},
		{"total refund", []string{"refund", "-sale-id", "S8"}, "refunded/total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), append(tt.args, "-config", f.cfg, "-json", "-wait", "60s")...)
			if r.code != exitOK {
				t.Fatalf("want exit 0\n%s", r)
			}
			var got []string
			for _, ev := range jsonEvents(t, r) {
				s := ev.Status
				if ev.RefundID != "" {
					s += "/" + ev.RefundID
				}
				if ev.SaleID != "S8" {
					s += "(" + ev.SaleID + ")"
				}
				got = append(got, s)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("printed %q, want %q\n%s", got, tt.want, r)
			}
		})
	}
}
