package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
)

func TestHybridShowsDynamicQR(t *testing.T) {
	h := newHarness(t)
	h.send("POS2", "sale", `{"sale_id":"h1","total_amount":"5.00","mode":"hybrid"}`)
	ev := h.waitSale("h1", "created").Event
	o := h.sim.OrdersByExternalReference("h1")[0]
	if ev.Mode != "hybrid" || ev.QRData == "" || ev.QRData != o.QRData || ev.QRData == staticQR {
		t.Fatalf("%+v", ev)
	}
}

func TestCorruptQRDataIsNeverShown(t *testing.T) {
	h := newHarness(t)
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{CorruptCRC: true})
	seq := h.send("POS1", "sale", `{"sale_id":"q1","total_amount":"5.00"}`)
	ev := h.waitCmd(seq, "failed").Event
	if ev.Error.Code != "invalid_qr_data" || ev.SaleID != "q1" || ev.QRData != "" {
		t.Fatalf("%+v", ev)
	}
	h.simWait(func() bool {
		o := h.sim.OrdersByExternalReference("q1")
		return len(o) == 1 && o[0].Status == "canceled"
	})
	for _, r := range h.eventsOf("q1") {
		if r.Event.Status == "created" {
			t.Fatal("a created event was sent for an order with a bad qr_data")
		}
	}
}

// TestCancelUnavailableKeepsSale: a cancel the API does not answer within
// the retry budget is not failed: the sale awaits payment until the
// cancel, resolved in the background with the same key, goes through.
func TestCancelUnavailableKeepsSale(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"cu","total_amount":"5.00"}`)
	created := h.waitSale("cu", "created").Event
	h.sim.Inject(qrordertest.EndpointCancel, qrordertest.Fault{Count: 1000, Status: 503})
	h.send("POS1", "cancel", `{"sale_id":"cu"}`)
	h.settled("POS1")
	if st := h.status("POS1"); st.State != "awaiting_payment" || st.SaleID != "cu" {
		t.Fatalf("status %+v", st)
	}
	if n := h.live("cu", "failed"); n != 0 {
		t.Fatalf("%d failed events for a cancel still being resolved", n)
	}
	h.sim.ClearFaults()
	h.waitSale("cu", "canceled")
	if o, _ := h.sim.Order(created.OrderID); o.Status != "canceled" {
		t.Fatalf("%s", o.Status)
	}
}

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

// TestStaticSaleWaitsForLostCreate: while a lost create is unresolved, a
// static sale on the POS waits (the fixed QR could pay the orphan).
func TestStaticSaleWaitsForLostCreate(t *testing.T) {
	h := newHarness(t)
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1000, Status: 503, AfterCommit: true})
	seq := h.send("POS2", "sale", `{"sale_id":"w1","total_amount":"1.00","mode":"dynamic"}`)
	h.waitCmd(seq, "failed")
	h.send("POS2", "sale", `{"sale_id":"w2","total_amount":"2.00"}`)
	// w2 cannot be created before w1 is resolved; let the API come back.
	h.simWait(func() bool { return len(h.sim.OrdersByExternalReference("w1")) >= 1 })
	if n := len(h.sim.OrdersByExternalReference("w2")); n != 0 {
		t.Fatalf("static sale created while a lost create was unresolved (%d orders)", n)
	}
	h.sim.ClearFaults()
	orphan := h.waitSale("w1", "canceled")
	created := h.waitSale("w2", "created")
	if orphan.Event.StatusDetail != "orphan_canceled" {
		t.Fatalf("%+v", orphan.Event)
	}
	// The orphan's end came first.
	h.evMu.Lock()
	defer h.evMu.Unlock()
	iOrphan, iCreated := -1, -1
	for i, r := range h.events {
		if r.MsgID == orphan.MsgID {
			iOrphan = i
		}
		if r.MsgID == created.MsgID {
			iCreated = i
		}
	}
	if iOrphan > iCreated {
		t.Fatalf("w2 created (event %d) before the orphan was resolved (event %d)", iCreated, iOrphan)
	}
}

func TestEmbeddedNATSAuthForRegisters(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "nats-password")
	if err := os.WriteFile(pwFile, []byte("register-secret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarnessNoRegister(t, withConfig(func(c *config.Config) {
		c.NATS.Embedded.Auth.User = "register"
		c.NATS.Embedded.Auth.PasswordFile = pwFile
	}))
	url := h.agent.NATSURL()
	if _, err := nats.Connect(url); err == nil {
		t.Fatal("anonymous client accepted by an embedded server with auth")
	}
	// The register-side tools connect with the configured user.
	cfg := *h.cfg
	_, port, _ := splitHostPort(url)
	cfg.NATS.Embedded.Listen = "127.0.0.1:" + port
	u, opts, err := RegisterConnection(&cfg, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(u, opts...)
	if err != nil {
		t.Fatalf("register with credentials refused: %v", err)
	}
	defer nc.Close()
	rc, err := register.New(nc, "pos", "S1")
	if err != nil {
		t.Fatal(err)
	}
	ch, stop, err := rc.Watch("POS1")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	seq, err := rc.Send(ctx, "POS1", "sale", []byte(`{"sale_id":"au1","total_amount":"1.00"}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := register.Follow(ctx, ch, "au1", seq, func(r register.Received) bool { return r.Event.Status == "created" }, nil)
	if err != nil || r.Event.Status != "created" {
		t.Fatalf("%+v %v", r, err)
	}
	if contains(h.logBuf.String(), "register-secret-pw") {
		t.Fatal("NATS password in the log")
	}
}

func TestShutdownLeavesUnfinishedCommand(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	// The create hangs past the shutdown grace period: the command must be
	// left for redelivery, not acknowledged.
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Hang: true})
	h.send("POS1", "sale", `{"sale_id":"sd1","total_amount":"1.00"}`)
	h.simWait(func() bool { return h.apiCalls("POST", "/v1/orders") == 1 })
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	h.start()
	h.waitSale("sd1", "created")
	if n := len(h.sim.OrdersByExternalReference("sd1")); n != 1 {
		t.Fatalf("%d orders", n)
	}
}
