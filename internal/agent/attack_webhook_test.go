package agent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
)

// Attacks on POST /webhooks/mercadopago (README "Security"): each one is
// bounded in count, stays on loopback and must add no Orders API read.

const testWebhookSecret = "whsec-attack-test"

// withWebhookSecret writes sec to a 0600 file and configures it.
func withWebhookSecret(sec string) harnessOpt {
	return func(h *harness) {
		path := filepath.Join(h.t.TempDir(), "webhook-secret")
		if err := os.WriteFile(path, []byte(sec+"\n"), 0o600); err != nil {
			h.t.Fatal(err)
		}
		h.cfg.MercadoPago.WebhookSecretFile = path
	}
}

// signWebhook signs a notification as Mercado Pago does.
func signWebhook(sec, id, requestID, ts string) string {
	m := hmac.New(sha256.New, []byte(sec))
	m.Write([]byte("id:" + strings.ToLower(id) + ";request-id:" + requestID + ";ts:" + ts + ";"))
	return "ts=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// webhook posts an order notification for id and returns the status.
func (h *harness) webhook(id, requestID, signature string) int {
	h.t.Helper()
	return h.webhookTo("/webhooks/mercadopago?type=order&data.id="+id, id, requestID, signature)
}

// webhookTo posts a notification for id to path (the id in the body).
func (h *harness) webhookTo(path, id, requestID, signature string) int {
	h.t.Helper()
	req, err := http.NewRequest("POST", "http://"+h.agent.HTTPAddr()+path,
		strings.NewReader(`{"action":"order.processed","type":"order","data":{"id":"`+id+`"}}`))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("x-signature", signature)
		req.Header.Set("x-request-id", requestID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// awaitingOrder starts a sale on POS1 that nothing polls for an hour and
// returns its order id.
func awaitingOrder(t *testing.T, h *harness, saleID string) string {
	t.Helper()
	h.send("POS1", "sale", `{"sale_id":"`+saleID+`","total_amount":"3.00"}`)
	return h.waitSale(saleID, "created").Event.OrderID
}

func slowPoll(c *config.Config) { c.MercadoPago.PollInterval = time.Hour }

// TestAttackWebhookWithoutSecret: with no webhook_secret_file (the
// default) there is no webhook endpoint: unsigned notifications get 404
// and cause no API read.
func TestAttackWebhookWithoutSecret(t *testing.T) {
	h := newHarness(t, withConfig(slowPoll))
	id := awaitingOrder(t, h, "wh-off")
	reads := h.apiCalls("GET", "/v1/orders/")
	for i := range 200 {
		if code := h.webhook(id, fmt.Sprint("r", i), ""); code != http.StatusNotFound {
			t.Fatalf("unsigned webhook without a secret answered %d, want 404", code)
		}
	}
	if got := h.apiCalls("GET", "/v1/orders/"); got != reads {
		t.Fatalf("200 unsigned webhooks made %d API reads", got-reads)
	}
	if code, body := h.get("/metrics"); code != 200 || !strings.Contains(body, `posagent_webhooks_total{outcome="unsigned"} 0`) {
		t.Fatalf("metrics %d:\n%s", code, body)
	}
}

// TestAttackWebhookForged: with a secret, unsigned, badly signed, stale
// (2001, and 10 minutes ahead), replayed and oversized notifications are
// ignored: no API read, counted by outcome, one log line a minute with a
// bounded order id. A signed, fresh notification still makes the agent
// read the order at once.
func TestAttackWebhookForged(t *testing.T) {
	h := newHarness(t, withConfig(slowPoll), withWebhookSecret(testWebhookSecret))
	id := awaitingOrder(t, h, "wh-forged")
	reads := h.apiCalls("GET", "/v1/orders/")
	now := time.Now()
	fresh := strconv.FormatInt(now.Unix(), 10)
	attacks := []struct {
		outcome string
		n       int
		send    func(i int) int
	}{
		{"unsigned", 50, func(i int) int { return h.webhook(id, fmt.Sprint("u", i), "") }},
		{"bad_signature", 50, func(i int) int {
			return h.webhook(id, fmt.Sprint("b", i), signWebhook("guessed", id, fmt.Sprint("b", i), fresh))
		}},
		{"stale", 20, func(i int) int {
			return h.webhook(id, fmt.Sprint("s", i), signWebhook(testWebhookSecret, id, fmt.Sprint("s", i), "978307200"))
		}},
		{"stale", 20, func(i int) int {
			ahead := strconv.FormatInt(now.Add(10*time.Minute).UnixMilli(), 10)
			return h.webhook(id, fmt.Sprint("f", i), signWebhook(testWebhookSecret, id, fmt.Sprint("f", i), ahead))
		}},
		{"malformed", 20, func(i int) int {
			long := strings.Repeat("A", 60<<10) // at full length this would be 1 MB of log
			return h.webhookTo("/webhooks/mercadopago?type=order", long, "m", signWebhook("guessed", long, "m", fresh))
		}},
	}
	for _, a := range attacks {
		for i := range a.n {
			if code := a.send(i); code != 200 {
				t.Fatalf("%s webhook answered %d, want 200 (ignored)", a.outcome, code)
			}
		}
	}
	if got := h.apiCalls("GET", "/v1/orders/"); got != reads {
		t.Fatalf("ignored webhooks made %d API reads", got-reads)
	}
	// An id too long for the headers does not get that far.
	long := strings.Repeat("A", 60<<10)
	if code := h.webhook(long, "q", "ts=1,v1=00"); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a 60 KiB query answered %d, want 431", code)
	}
	// The legitimate notification, then its replay.
	if err := h.sim.Pay(id); err != nil {
		t.Fatal(err)
	}
	sig := signWebhook(testWebhookSecret, id, "legit", fresh)
	if code := h.webhook(id, "legit", sig); code != 200 {
		t.Fatalf("signed webhook answered %d", code)
	}
	h.waitSale("wh-forged", "processed")
	h.simWait(func() bool { return h.apiCalls("GET", "/v1/orders/") > reads })
	afterLegit := h.apiCalls("GET", "/v1/orders/")
	for range 20 {
		h.webhook(id, "legit", sig)
	}
	if got := h.apiCalls("GET", "/v1/orders/"); got != afterLegit {
		t.Fatalf("replayed webhooks made %d API reads", got-afterLegit)
	}
	_, body := h.get("/metrics")
	for outcome, n := range map[string]int{"unsigned": 50, "bad_signature": 50, "stale": 40, "malformed": 20, "replayed": 20, "accepted": 1} {
		if want := fmt.Sprintf("posagent_webhooks_total{outcome=%q} %d\n", outcome, n); !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var lines []string
	for _, l := range strings.Split(h.logBuf.String(), "\n") {
		if strings.Contains(l, "webhook ignored") {
			lines = append(lines, l)
		}
	}
	if allowed := 1 + int(time.Since(now)/webhookLogEvery); len(lines) == 0 || len(lines) > allowed || len(lines[0]) > 400 {
		t.Fatalf("ignored webhooks logged %d lines (want 1 a minute, short):\n%.2000s", len(lines), strings.Join(lines, "\n"))
	}
	if strings.Contains(h.logBuf.String(), strings.Repeat("A", 100)) {
		t.Fatal("an attacker's id reached the log at full length")
	}
}

// TestWebhookLogOncePerMinute: whatever the flood, ignored notifications
// make one log line per minute, saying how many went unlogged.
func TestWebhookLogOncePerMinute(t *testing.T) {
	var buf syncBuffer
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w := &webhooks{log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return clock }}
	for i := range 1000 {
		w.ignored("bad_signature", strings.Repeat("x", 100_000), "127.0.0.1:1")
		if i%100 == 99 {
			clock = clock.Add(10 * time.Second) // 1000 notifications over 100 s
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "ignored_since_last_log=599") || len(buf.String()) > 1000 {
		t.Fatalf("log:\n%.3000s", buf.String())
	}
}
