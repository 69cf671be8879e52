package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// health is what /healthz reports (CONTRACT.md section 6).
type health struct {
	mu        sync.Mutex
	nats      string // "ok" or why not
	apiToken  string // "unknown", "ok", or "refused (401)"
	consumers map[string]interface{ Running() bool }
	printers  map[string]interface{ Health() string }
	store     func() string // the state directory check (storecheck.go); informational
	changed   chan struct{} // closed and replaced when nats or api_token change
}

func newHealth() *health {
	return &health{nats: "connecting", apiToken: "unknown", consumers: map[string]interface{ Running() bool }{},
		printers: map[string]interface{ Health() string }{}, changed: make(chan struct{})}
}

// notifyLocked wakes whoever waits for a change.
func (h *health) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *health) natsUp() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nats = "ok"
	h.notifyLocked()
}

func (h *health) natsDown(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nats = "disconnected"
	if err != nil {
		h.nats = "disconnected: " + err.Error()
	}
	h.notifyLocked()
}

// waitFor waits until cond holds for the report or ctx ends.
func (h *health) waitFor(ctx context.Context, cond func(healthReport) bool) error {
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if cond(h.report()) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// apiAnswer follows the API's answers: a 401 means the token is refused
// until an answer shows it is accepted again.
func (h *health) apiAnswer(code string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev := h.apiToken
	switch {
	case code == "401":
		h.apiToken = "refused (401 unauthorized)"
	case strings.HasPrefix(code, "2"), code == "404", code == "409", code == "400":
		h.apiToken = "ok"
	}
	if h.apiToken != prev {
		h.notifyLocked()
	}
}

func (h *health) addConsumer(pos string, c interface{ Running() bool }) {
	h.mu.Lock()
	h.consumers[pos] = c
	h.mu.Unlock()
}

func (h *health) addPrinter(pos string, p interface{ Health() string }) {
	h.mu.Lock()
	h.printers[pos] = p
	h.mu.Unlock()
}

func (h *health) setStore(f func() string) {
	h.mu.Lock()
	h.store = f
	h.mu.Unlock()
}

type healthReport struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (h *health) report() healthReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := healthReport{Status: "ok", Checks: map[string]string{"nats": h.nats, "api_token": h.apiToken}}
	var stopped []string
	for pos, c := range h.consumers {
		if !c.Running() {
			stopped = append(stopped, pos)
		}
	}
	sort.Strings(stopped)
	switch {
	case len(h.consumers) == 0:
		r.Checks["consumers"] = "not started"
	case len(stopped) > 0:
		r.Checks["consumers"] = "stopped: " + strings.Join(stopped, ",")
	default:
		r.Checks["consumers"] = "ok"
	}
	for pos, p := range h.printers {
		r.Checks["printer:"+pos] = p.Health()
	}
	if h.store != nil {
		if st := h.store(); st != "ok" {
			r.Checks["store"] = st // only while there is damage to acknowledge
		}
	}
	// The token may be "unknown" before the first answer; printers do not
	// make the agent unhealthy (the order flow never waits on them).
	if h.nats != "ok" || r.Checks["consumers"] != "ok" || strings.HasPrefix(h.apiToken, "refused") {
		r.Status = "unavailable"
	}
	return r
}

// alive reports whether the watchdog should be fed.
func (h *health) alive() bool { return h.report().Status == "ok" }

func (h *health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r := h.report()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(r)
}
