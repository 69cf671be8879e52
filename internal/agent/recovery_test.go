package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// TestRestartBetweenCreateAndAck stops the agent while the create's answer
// is still on its way (the order exists at the API, the command is not
// acknowledged). After the restart the redelivered command finds the same
// order: one order, one created event.
func TestRestartBetweenCreateAndAck(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1, Hang: true, AfterCommit: true})
	h.send("POS1", "sale", `{"sale_id":"k1","total_amount":"7.00"}`)
	h.simWait(func() bool { return len(h.sim.OrdersByExternalReference("k1")) == 1 })
	h.restart()
	created := h.waitSale("k1", "created").Event
	orders := h.sim.OrdersByExternalReference("k1")
	if len(orders) != 1 || orders[0].ID != created.OrderID {
		t.Fatalf("orders %+v, event %+v", orders, created)
	}
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("k1", "processed")
	n := 0
	for _, r := range h.storedEvents() {
		if r.Event.SaleID == "k1" && r.Event.Status == "created" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d created events stored", n)
	}
}

// TestRestartResumesTracking restarts the agent while an order awaits
// payment: the new process polls it and reports the payment.
func TestRestartResumesTracking(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"t1","total_amount":"8.00"}`)
	created := h.waitSale("t1", "created").Event
	h.stop()
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitSale("t1", "processed")
	if st := h.status("POS1"); st.State != "idle" || st.LastEvent == nil || st.LastEvent.SaleID != "t1" {
		t.Fatalf("status %+v", st)
	}
	// The open sale had no record of its own (the events stream held
	// it): that is not damage.
	if b, err := os.ReadFile(filepath.Join(h.cfg.StateDir, storeReportFile)); err == nil {
		t.Fatalf("store damage reported after a restart: %s", b)
	}
}

// TestNATSRestartLosesNothing restarts the NATS server under a running
// agent; commands sent after it comes back are handled.
func TestNATSRestartLosesNothing(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.send("POS1", "sale", `{"sale_id":"n1","total_amount":"1.00"}`)
	h.waitSale("n1", "created")
	dir := h.ns.JetStreamConfig().StoreDir
	port := h.ns.Addr().(interface{ String() string }).String()
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	h.waitHealth(http.StatusServiceUnavailable)
	h.ns = runNATSAt(t, strings.TrimSuffix(dir, "/jetstream"), port)
	h.waitHealth(http.StatusOK)
	h.send("POS1", "sale", `{"sale_id":"n2","total_amount":"2.00"}`)
	h.waitSale("n1", "canceled")
	h.waitSale("n2", "created")
	if !strings.Contains(h.logBuf.String(), "NATS reconnected") {
		t.Fatal("reconnect not logged")
	}
}

func (h *harness) waitHealth(code int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	want := "ok"
	if code != http.StatusOK {
		want = "unavailable"
	}
	if err := h.agent.health.waitFor(ctx, func(r healthReport) bool { return r.Status == want }); err != nil {
		h.t.Fatalf("health never became %s: %+v", want, h.agent.health.report())
	}
	if got, body := h.get("/healthz"); got != code {
		h.t.Fatalf("healthz %d %s, want %d", got, body, code)
	}
}

func TestStaleSaleRefused(t *testing.T) {
	h := newHarness(t, withConfig(func(c *config.Config) { c.POS[2].MaxCommandAge = time.Nanosecond }))
	seq := h.send("POS3", "sale", `{"sale_id":"st1","total_amount":"1.00"}`)
	ev := h.waitCmd(seq, "rejected").Event
	if ev.Error.Code != "stale_command" || ev.SaleID != "st1" {
		t.Fatalf("%+v", ev)
	}
	if h.apiRequests() != 0 {
		t.Fatal("a stale sale reached the API")
	}
	// Cancel and refund are never stale.
	seq = h.send("POS3", "cancel", `{"sale_id":"st1"}`)
	if ev := h.waitCmd(seq, "rejected").Event; ev.Error.Code != "unknown_sale" {
		t.Fatalf("%+v", ev)
	}
}

func TestExpiredFromAPI(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"e1","total_amount":"1.00"}`)
	created := h.waitSale("e1", "created").Event
	if err := h.sim.Expire(created.OrderID); err != nil {
		t.Fatal(err)
	}
	ev := h.waitSale("e1", "expired").Event
	if ev.OrderID != created.OrderID || ev.StatusDetail != "expired" {
		t.Fatalf("%+v", ev)
	}
}

func TestHealthAndTokenRefused(t *testing.T) {
	h := newHarness(t)
	code, body := h.get("/healthz")
	var r healthReport
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != 200 || r.Status != "ok" ||
		r.Checks["nats"] != "ok" || r.Checks["consumers"] != "ok" || r.Checks["api_token"] != "unknown" && r.Checks["api_token"] != "ok" {
		t.Fatalf("%d %s", code, body)
	}
	h.stop()
	h.token = "APP_USR-wrong-token-0123456789"
	h.start()
	seq := h.send("POS1", "sale", `{"sale_id":"u1","total_amount":"1.00"}`)
	ev := h.waitCmd(seq, "rejected").Event
	if ev.Error.Code != "unauthorized" {
		t.Fatalf("%+v", ev)
	}
	code, body = h.get("/healthz")
	if code != 503 || !strings.Contains(body, `"api_token":"rejected"`) {
		t.Fatalf("%d %s", code, body)
	}
	if strings.Contains(h.logBuf.String(), h.token) || strings.Contains(body, h.token) {
		t.Fatal("the token leaked into the log or health output")
	}
	// Counting follows the event within the same command: once a later
	// command on the POS is answered, the sale's count is in.
	probe := h.send("POS1", "cancel", `{"sale_id":"zz-probe"}`)
	h.waitCmd(probe, "rejected")
	code, body = h.get("/metrics")
	if code != 200 || !strings.Contains(body, `posagent_commands_total{command="sale",outcome="rejected",pos="POS1"} 1`) ||
		!strings.Contains(body, `posagent_api_request_duration_seconds_count{code="401",endpoint="create"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
}

func TestWebhookHintPollsNow(t *testing.T) {
	h := newHarness(t, withConfig(func(c *config.Config) { c.MercadoPago.PollInterval = time.Hour }), withWebhookSecret(testWebhookSecret))
	h.send("POS1", "sale", `{"sale_id":"w1","total_amount":"1.00"}`)
	created := h.waitSale("w1", "created").Event
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	if code := h.webhook(created.OrderID, "req-1", signWebhook(testWebhookSecret, created.OrderID, "req-1", ts)); code != 200 {
		t.Fatalf("webhook answered %d", code)
	}
	h.waitSale("w1", "processed")
}

// TestEventsReachLateReaders reads a sale's events from the stream after
// the fact, as a register that was offline would.
func TestEventsReachLateReaders(t *testing.T) {
	h := newHarness(t)
	h.send("POS1", "sale", `{"sale_id":"l1","total_amount":"1.00"}`)
	h.waitSale("l1", "created")
	h.settled("POS1") // stored once its command is done, not when a subscriber sees it
	var got []string
	for _, r := range h.storedEvents() {
		if r.Event.SaleID == "l1" {
			got = append(got, r.Subject)
		}
	}
	if len(got) != 1 || got[0] != "pos.S1.POS1.evt.created" {
		t.Fatalf("stored subjects %v", got)
	}
}
