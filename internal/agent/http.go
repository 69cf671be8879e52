package agent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", a.health)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.Handle("/display/", a.web)
	mux.HandleFunc("POST /webhooks/mercadopago", a.webhook)
	mux.HandleFunc("GET /{$}", a.statusPage)
	mux.HandleFunc("GET /status.json", a.statusJSON)
	mux.HandleFunc("GET /status/events", a.statusEvents)
	return mux
}

// webhook takes Mercado Pago's order notifications as hints: the order's
// poller asks the API now. Nothing in a webhook is trusted; an unsigned or
// badly signed one (when a secret is configured) is ignored. The answer is
// always 200 so Mercado Pago does not keep retrying.
func (a *Agent) webhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
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
	w.WriteHeader(http.StatusOK)
	if id == "" {
		return
	}
	if sec := a.webhookSecret; sec != "" && !validSignature(sec, r.Header.Get("x-signature"), r.Header.Get("x-request-id"), id) {
		a.log.Warn("webhook ignored: bad or missing x-signature", "order_id", id)
		return
	}
	for _, s := range a.allSessions() {
		if s.Poke(id) || s.Poke(strings.ToUpper(id)) {
			a.log.Debug("webhook: polling now", "order_id", id, "pos", s.POS())
			return
		}
	}
}

// validSignature checks x-signature "ts=...,v1=..." = HMAC-SHA256 over
// "id:<data.id>;request-id:<x-request-id>;ts:<ts>;". The id's casing
// changed over time, so both the id as sent and lowercased are tried.
func validSignature(secret, header, requestID, id string) bool {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "ts":
			ts = v
		case "v1":
			v1 = v
		}
	}
	if ts == "" || v1 == "" {
		return false
	}
	want, err := hex.DecodeString(v1)
	if err != nil {
		return false
	}
	for _, cand := range []string{id, strings.ToLower(id)} {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("id:" + cand + ";request-id:" + requestID + ";ts:" + ts + ";"))
		if hmac.Equal(m.Sum(nil), want) {
			return true
		}
	}
	return false
}
