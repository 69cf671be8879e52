package agent

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/posagent/posagent/internal/metrics"
	"github.com/posagent/posagent/internal/qrorder"
)

// Webhook limits (README "Security"): a signature older or newer than
// webhookWindow is stale; signatures seen within it are remembered (at
// most webhookSeenMax) so a captured notification cannot be replayed;
// ignored notifications are logged at most once per webhookLogEvery, with
// the order id cut to webhookIDMax characters.
const (
	webhookWindow   = 5 * time.Minute
	webhookSeenMax  = 4096
	webhookLogEvery = time.Minute
	webhookIDMax    = 64
	webhookBodyMax  = 64 << 10
)

// webhooks takes Mercado Pago's order notifications as hints: the order's
// poller asks the API now. It exists only when a signing secret is
// configured. Nothing in a notification is trusted: the order is always
// read back, and only a notification with a valid, fresh, unseen
// signature for an order awaiting payment causes that read. The answer is
// always 200, so Mercado Pago does not keep retrying.
type webhooks struct {
	secret   string
	log      *slog.Logger
	metrics  *metrics.Metrics
	sessions func() []poker
	now      func() time.Time

	mu         sync.Mutex
	seen       map[string]time.Time // signature -> its timestamp
	lastLog    time.Time
	suppressed int // ignored notifications not logged since lastLog
}

// poker is the session's side of a webhook.
type poker interface {
	Poke(orderID string) bool
	POS() string
}

func (h *webhooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, webhookBodyMax))
	w.WriteHeader(http.StatusOK)
	id := r.URL.Query().Get("data.id")
	if id == "" {
		var n struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &n)
		id = n.Data.ID
	}
	outcome := h.check(r, id)
	if outcome == "" {
		outcome = h.poke(id)
	}
	h.metrics.Webhook(outcome)
	if outcome != "accepted" && outcome != "unknown_order" {
		h.ignored(outcome, id, r.RemoteAddr)
	}
}

// check returns why a notification is ignored, "" if it counts.
func (h *webhooks) check(r *http.Request, id string) string {
	if id == "" || len(id) > webhookIDMax {
		return "malformed"
	}
	header := r.Header.Get("x-signature")
	if header == "" {
		return "unsigned"
	}
	sig, ok := qrorder.VerifyWebhook(h.secret, header, r.Header.Get("x-request-id"), id)
	if !ok {
		return "bad_signature"
	}
	now := h.now()
	if sig.At.IsZero() || sig.At.Before(now.Add(-webhookWindow)) || sig.At.After(now.Add(webhookWindow)) {
		return "stale"
	}
	if !h.remember(sig.V1, sig.At, now) {
		return "replayed"
	}
	return ""
}

// remember records a fresh signature; false if it was seen already (or
// too many fresh ones are remembered: a flood of valid signatures means
// the secret leaked, and the poller polls anyway).
func (h *webhooks) remember(v1 string, at, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.seen[v1]; dup {
		return false
	}
	if len(h.seen) >= webhookSeenMax {
		for k, t := range h.seen {
			if t.Before(now.Add(-webhookWindow)) {
				delete(h.seen, k)
			}
		}
		if len(h.seen) >= webhookSeenMax {
			return false
		}
	}
	h.seen[v1] = at
	return true
}

func (h *webhooks) poke(id string) string {
	for _, s := range h.sessions() {
		if s.Poke(id) || s.Poke(strings.ToUpper(id)) {
			h.log.Debug("webhook: polling now", "order_id", id, "pos", s.POS())
			return "accepted"
		}
	}
	h.log.Debug("webhook for no order awaiting payment", "order_id", id)
	return "unknown_order"
}

// ignored logs an ignored notification, at most once per webhookLogEvery
// (each one is counted in posagent_webhooks_total): a flood of forged
// notifications must not fill the journal.
func (h *webhooks) ignored(outcome, id, remote string) {
	h.mu.Lock()
	now := h.now()
	if !h.lastLog.IsZero() && now.Sub(h.lastLog) < webhookLogEvery {
		h.suppressed++
		h.mu.Unlock()
		return
	}
	n := h.suppressed
	h.lastLog, h.suppressed = now, 0
	h.mu.Unlock()
	h.log.Warn("webhook ignored", "outcome", outcome, "order_id", clipString(id, webhookIDMax), "remote", clipString(remote, 64),
		"ignored_since_last_log", n)
}

// clipString cuts s to n bytes (whole UTF-8 characters), marking the cut.
func clipString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
