package agent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/intake"
	"github.com/posagent/posagent/internal/printer/escpostest"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
)

// Degraded states (docs/degraded.md): storage refusing writes, a dead
// previous order, lost answers. Storage refuses writes through the
// server's own limits, set on the real streams while the agent runs.

const recordsStream = "KV_posagent_S1"

// limitStream changes a stream's limits (as an operator or a full disk
// would make them bite) and returns what undoes it.
func (h *harness) limitStream(name string, fn func(*jetstream.StreamConfig)) (restore func()) {
	h.t.Helper()
	js, err := jetstream.New(h.nc)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	orig := info.Config
	cfg := info.Config
	cfg.Metadata = nil
	fn(&cfg)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		h.t.Fatalf("limit stream %s: %v", name, err)
	}
	return func() {
		h.t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		orig.Metadata = nil
		if _, err := js.UpdateStream(ctx, orig); err != nil {
			h.t.Fatalf("restore stream %s: %v", name, err)
		}
	}
}

// fillStream makes the stream full at its current size: new data is
// refused (records: a record that grows).
func (h *harness) fillStream(name string) (restore func()) {
	h.t.Helper()
	js, _ := jetstream.New(h.nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, name)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	used := int64(info.State.Bytes)
	return h.limitStream(name, func(c *jetstream.StreamConfig) { c.MaxBytes = max(used, 1); c.Discard = jetstream.DiscardNew })
}

// refuseAll makes a stream refuse every write.
func (h *harness) refuseAll(name string) (restore func()) {
	return h.limitStream(name, func(c *jetstream.StreamConfig) { c.MaxMsgSize = 1 })
}

// live counts the events of a sale with a status the register received.
func (h *harness) live(saleID, status string) int {
	n := 0
	for _, r := range h.eventsOf(saleID) {
		if r.Event.Status == status {
			n++
		}
	}
	return n
}

// settled waits until every earlier command of pos is acknowledged: a
// probe command behind them is answered.
func (h *harness) settled(pos string) {
	h.t.Helper()
	probe := h.send(pos, "cancel", `{"sale_id":"zz-settled-probe"}`)
	h.waitCmd(probe, "rejected")
}

func withSpool(spool string) harnessOpt {
	return withConfig(func(c *config.Config) {
		c.POS[0].Printer = &config.Printer{Transport: "file", Device: spool, Baud: 9600, FlowControl: "none",
			WriteTimeout: 5 * time.Second, Profile: "epson", QR: "native", MaxModuleDots: 5}
	})
}

// receipts counts the QR receipts in the spool file.
func receipts(t *testing.T, spool string) int {
	t.Helper()
	b, err := os.ReadFile(spool)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	doc, err := escpostest.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, op := range doc.Ops {
		if op.Kind == escpostest.QR {
			n++
		}
	}
	return n
}

// TestEffectsOnceWhenStorageRefuses: whatever write is refused after an
// effect, the sale is announced, shown and printed once; when storage
// accepts writes again the sale goes on without a restart.
func TestEffectsOnceWhenStorageRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refuse func(h *harness) func()
		// completes: the outcome is recorded, the command done. The
		// events stream keeping the created event records it (it is the
		// created sale's record: docs/durability.md, "Writes per sale"),
		// and so do the records when the stream does not keep it. When
		// neither can, the command comes again and again.
		completes bool
	}{
		{"records bucket full", func(h *harness) func() { return h.fillStream(recordsStream) }, true},
		{"records bucket refuses", func(h *harness) func() { return h.refuseAll(recordsStream) }, true},
		{"events stream and records refuse", func(h *harness) func() {
			events, records := h.refuseAll("POS_EVT"), h.refuseAll(recordsStream)
			return func() { events(); records() }
		}, false},
		{"events stream refuses", func(h *harness) func() { return h.refuseAll("POS_EVT") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spool := filepath.Join(t.TempDir(), "receipts.bin")
			h := newHarness(t, withExternalNATS(), withSpool(spool),
				withConfig(func(c *config.Config) { c.MercadoPago.RequestTimeout = wait }))
			gate := make(chan struct{})
			h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Hold: gate})
			h.send("POS1", "sale", `{"sale_id":"fx1","total_amount":"3.00","description":"`+longText+`"}`)
			h.simWait(func() bool { return h.apiCalls("POST", "/v1/orders") >= 1 })
			restore := tc.refuse(h)
			close(gate)
			h.waitSale("fx1", "created")
			if tc.completes {
				h.settled("POS1")
			} else {
				// The command is tried again and again while nothing can
				// record its outcome (a create call each time, same key).
				h.simWait(func() bool { return h.apiCalls("POST", "/v1/orders") >= 4 })
			}
			if n := h.live("fx1", "created"); n != 1 {
				t.Fatalf("%d live created events while storage refused writes, want 1", n)
			}
			restore()
			h.settled("POS1")
			if n := receipts(t, spool); n > 1 {
				t.Fatalf("%d receipts printed, want 1", n)
			}
			created := h.waitSale("fx1", "created").Event
			if err := h.sim.Pay(created.OrderID); err != nil {
				t.Fatal(err)
			}
			h.waitSale("fx1", "processed")
			if n := h.live("fx1", "created"); n != 1 {
				t.Fatalf("%d live created events, want 1", n)
			}
			if len(h.sim.Orders()) != 1 {
				t.Fatalf("%d orders", len(h.sim.Orders()))
			}
		})
	}
}

// TestFinalEventOnceWhenStorageRefuses: the poller finds the order paid
// while the records refuse writes: the register hears processed once,
// and the record is written once storage is back.
func TestFinalEventOnceWhenStorageRefuses(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.send("POS1", "sale", `{"sale_id":"fx2","total_amount":"3.00"}`)
	created := h.waitSale("fx2", "created").Event
	h.settled("POS1")
	restore := h.refuseAll(recordsStream)
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("fx2", "processed")
	gets := h.apiCalls("GET", "/v1/orders/"+created.OrderID)
	h.simWait(func() bool { return h.apiCalls("GET", "/v1/orders/"+created.OrderID) >= gets+3 })
	if n := h.live("fx2", "processed"); n != 1 {
		t.Fatalf("%d live processed events while the records refused writes, want 1", n)
	}
	restore()
	h.waitRecord("sale.POS1.fx2", `"state":"processed"`)
	// Once the record is written, a resent sale replays processed.
	h.send("POS1", "sale", `{"sale_id":"fx2","total_amount":"3.00"}`)
	ev := h.waitEvent("replayed processed", func(r register.Received) bool {
		return r.Event.SaleID == "fx2" && r.Event.Replay && r.Event.Status == "processed"
	})
	if ev.Event.OrderID != created.OrderID {
		t.Fatalf("%+v", ev.Event)
	}
}

// waitRecord waits until the sale record at key contains want, watching
// the bucket.
func (h *harness) waitRecord(key, want string) {
	h.t.Helper()
	js, _ := jetstream.New(h.nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	kv, err := js.KeyValue(ctx, "posagent_"+h.cfg.StoreID)
	if err != nil {
		h.t.Fatal(err)
	}
	w, err := kv.Watch(ctx, key)
	if err != nil {
		h.t.Fatal(err)
	}
	defer w.Stop()
	for {
		select {
		case e := <-w.Updates():
			if e != nil && strings.Contains(string(e.Value()), want) {
				return
			}
		case <-ctx.Done():
			h.t.Fatalf("record %s never contained %s\nlog:\n%s", key, want, h.logBuf.String())
		}
	}
}

// apiRequests counts the requests the API got, the health probe's reads
// of a non-existent order aside.
func (h *harness) apiRequests() int {
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Path != "/v1/orders/"+probeOrderID {
			n++
		}
	}
	return n
}

// longText makes the sale's record large, as big carts do.
const longText = "Large cart with many lines so the record grows when the order is created and its QR is stored beside it"

// TestDeadPreviousOrderDoesNotBlock: the API answers 404 to the cancel and
// the read of the open order; a new sale ends the old one with a final
// event and goes ahead.
func TestDeadPreviousOrderDoesNotBlock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		get    int // the read's answer
		status string
	}{
		{"order not found", 404, "canceled"},
		{"refused for good", 403, "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.send("POS1", "sale", `{"sale_id":"d1","total_amount":"2.00"}`)
			h.waitSale("d1", "created")
			h.sim.Inject(qrordertest.EndpointCancel, qrordertest.Fault{Count: 1000, Status: 404})
			h.sim.Inject(qrordertest.EndpointGet, qrordertest.Fault{Count: 1000, Status: tc.get})
			h.send("POS1", "sale", `{"sale_id":"d2","total_amount":"3.00"}`)
			old := h.waitSale("d1", tc.status).Event
			if tc.status == "canceled" && old.StatusDetail != "order_not_found" || tc.status == "failed" && old.Error == nil {
				t.Fatalf("%+v", old)
			}
			h.waitSale("d2", "created")
			if st := h.status("POS1"); st.State != "awaiting_payment" || st.SaleID != "d2" {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// TestLostRefundAnswer: the API carries the refund out but its answers
// are lost past the retry budget; the register never hears failed, and
// hears refunded once the API answers again.
func TestLostRefundAnswer(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"lr","total_amount":"8.00"}`)
	created := h.waitSale("lr", "created").Event
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("lr", "processed")
	h.sim.Inject(qrordertest.EndpointRefund, qrordertest.Fault{Count: 1000, Status: 503, AfterCommit: true})
	h.send("POS1", "refund", `{"sale_id":"lr","refund_id":"r1","amount":"3.00"}`)
	h.settled("POS1") // the refund command is done: its budget ran out
	if n := h.live("lr", "failed"); n != 0 {
		t.Fatalf("%d failed events for a refund the API carried out", n)
	}
	h.sim.ClearFaults()
	ev := h.waitSale("lr", "refunded").Event
	if ev.RefundID != "r1" || ev.RefundedAmount != "3.00" || ev.StatusDetail != "partially_refunded" {
		t.Fatalf("%+v", ev)
	}
	if n := h.live("lr", "failed"); n != 0 {
		t.Fatalf("%d failed events", n)
	}
	// One refund at the API: every try used the same key.
	if o, _ := h.sim.Order(created.OrderID); len(o.Refunds) != 1 {
		t.Fatalf("refunds at the API: %+v", o.Refunds)
	}
}

// TestLostCancelAnswer: the API cancels but its answers are lost past the
// retry budget; the register hears canceled, never failed.
func TestLostCancelAnswer(t *testing.T) {
	h := newHarness(t, withConfig(func(c *config.Config) { c.MercadoPago.PollInterval = time.Hour }))
	h.send("POS1", "sale", `{"sale_id":"lc","total_amount":"8.00"}`)
	h.waitSale("lc", "created")
	h.sim.Inject(qrordertest.EndpointCancel, qrordertest.Fault{Count: 1000, Status: 503, AfterCommit: true})
	h.send("POS1", "cancel", `{"sale_id":"lc"}`)
	h.settled("POS1")
	if n := h.live("lc", "failed"); n != 0 {
		t.Fatalf("%d failed events for a cancel the API carried out", n)
	}
	h.sim.ClearFaults()
	h.waitSale("lc", "canceled")
	if n := h.live("lc", "failed"); n != 0 {
		t.Fatalf("%d failed events", n)
	}
}

// TestCrashRecoveryWithinTenSeconds: a command an agent had in hand when
// it died (here: fetched by a client that then vanishes without an ack,
// which is what the server sees of a SIGKILL) is finished within 10 s of
// the next agent being ready.
func TestCrashRecoveryWithinTenSeconds(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.stop()
	h.send("POS1", "sale", `{"sale_id":"cr1","total_amount":"1.00"}`)
	js, _ := jetstream.New(h.nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cons, err := js.Consumer(ctx, h.cfg.NATS.Streams.Commands, "posagent_S1_POS1")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(wait))
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() { // in hand, never acknowledged
	}
	h.start()
	ready := time.Now()
	h.waitSale("cr1", "created")
	if took := time.Since(ready); took > 10*time.Second {
		t.Fatalf("the command in hand at the crash took %s after the agent was ready, want at most 10s", took)
	}
}

// TestUnknownPOSRejected: with the embedded server, a command for a POS
// this agent does not serve (a typo in the subject) is answered within 5 s
// with rejected (unknown_pos) on that POS's subject and removed; metrics
// use one label for every unknown POS; the status page counts it.
func TestUnknownPOSRejected(t *testing.T) {
	h := newHarness(t)
	sent := time.Now()
	seq := h.send("STORE1POS01", "sale", `{"sale_id":"typo1","total_amount":"1.00"}`)
	ev := h.waitCmd(seq, "rejected")
	if took := time.Since(sent); took > 5*time.Second {
		t.Fatalf("answered after %s, want within 5s", took)
	}
	if ev.Subject != "pos.S1.STORE1POS01.evt.rejected" || ev.Event.Error == nil || ev.Event.Error.Code != "unknown_pos" ||
		ev.Event.SaleID != "typo1" || ev.Event.ExternalPOSID != "STORE1POS01" {
		t.Fatalf("%s %s", ev.Subject, ev.Raw)
	}
	h.waitCmd(h.send("ATTACKER-POS-X", "foo", `not json`), "rejected")
	// The echoed sale_id is cut to 64 characters, not bytes.
	long := strings.Repeat("ñ", 70)
	if got := h.waitCmd(h.send("STORE1POS01", "sale", `{"sale_id":"`+long+`"}`), "rejected").Event.SaleID; got != long[:64*len("ñ")] {
		t.Errorf("echoed sale_id %q (%d bytes), want the first 64 characters", got, len(got))
	}
	js, _ := jetstream.New(h.agentConn()) // the command stream is the agent's
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	st, err := js.Stream(ctx, "POS_CMD")
	if err != nil {
		t.Fatal(err)
	}
	// Removed right after the answer: watch the stream until nothing is
	// left for the unknown POS.
	left := func() map[string]uint64 {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter("pos.S1.*.cmd.>"))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for subjects := left(); len(subjects) > 0; subjects = left() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("commands left in the stream: %v", subjects)
		}
	}
	_, body := h.get("/metrics")
	if !strings.Contains(body, `posagent_commands_total{command="sale",outcome="rejected",pos="_unknown"} 2`) ||
		!strings.Contains(body, `posagent_commands_total{command="unknown",outcome="rejected",pos="_unknown"} 1`) ||
		strings.Contains(body, "STORE1POS01") || strings.Contains(body, "ATTACKER") {
		t.Fatalf("metrics:\n%s", body)
	}
	if _, body := h.get("/status.json"); !strings.Contains(body, `"unknown_pos":3`) {
		t.Fatalf("status.json: %s", body)
	}
}

// TestCommandsBoundedPerSubject: commands for a POS nobody serves cannot
// fill the store: past CommandsPerSubject waiting on one subject, the
// register's publish is refused (it hears of it), never silently dropped.
func TestCommandsBoundedPerSubject(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	js, _ := jetstream.New(h.nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for i := range intake.CommandsPerSubject {
		if _, err := js.Publish(ctx, "pos.S1.POS9.cmd.sale", []byte(`{"sale_id":"b`+strconv.Itoa(i)+`","total_amount":"1.00"}`)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	_, err := js.Publish(ctx, "pos.S1.POS9.cmd.sale", []byte(`{"sale_id":"over","total_amount":"1.00"}`))
	if err == nil {
		t.Fatal("a command beyond the per-subject bound was stored")
	}
	// Served POS are not affected.
	h.send("POS1", "sale", `{"sale_id":"b-ok","total_amount":"1.00"}`)
	h.waitSale("b-ok", "created")
}

// TestRefundEventOnceWhenStorageRefuses: a refund carried out while the
// records refuse writes is announced once, however often the command
// comes back, and recorded once storage is back.
func TestRefundEventOnceWhenStorageRefuses(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.send("POS1", "sale", `{"sale_id":"fx3","total_amount":"6.00"}`)
	created := h.waitSale("fx3", "created").Event
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("fx3", "processed")
	h.waitRecord("sale.POS1.fx3", `"state":"processed"`)
	restore := h.refuseAll(recordsStream)
	h.send("POS1", "refund", `{"sale_id":"fx3","refund_id":"r1","amount":"2.00"}`)
	h.waitSale("fx3", "refunded")
	path := "/v1/orders/" + created.OrderID + "/refund"
	h.simWait(func() bool { return h.apiCalls("POST", path) >= 3 })
	if n := h.live("fx3", "refunded"); n != 1 {
		t.Fatalf("%d live refunded events while the records refused writes, want 1", n)
	}
	restore()
	h.settled("POS1")
	h.waitRecord("sale.POS1.fx3", `"refund_id":"r1"`)
	if n := h.live("fx3", "refunded"); n != 1 {
		t.Fatalf("%d live refunded events, want 1", n)
	}
	if o, _ := h.sim.Order(created.OrderID); len(o.Refunds) != 1 {
		t.Fatalf("refunds at the API: %+v", o.Refunds)
	}
}
