package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// health is what /healthz reports (README "Operate"; what each check
// means and how it recovers: docs/degraded.md).
type health struct {
	mu       sync.Mutex
	nats     string // "ok" or why not
	apiToken string // "unknown", "ok", or "rejected"
	// apiDown is when the Orders API stopped answering (network errors,
	// 5xx, 429 since the last real answer); zero while it answers.
	apiDown     time.Time
	apiAnswered bool
	retryBudget time.Duration
	now         func() time.Time
	storage     map[string]string // "records", "events" -> why writes are refused
	storageDown time.Time         // since when storage fails without a success
	// refused: the parts ("commands", "events", "records") the server
	// says took a write error; they refuse every write, whoever writes,
	// until JetStream is reloaded (reviveJetStream).
	refused   map[string]string
	consumers map[string]consumerHealth
	printers  map[string]interface{ Health() string }
	store     func() string // the state directory check (storecheck.go); informational
	changed   chan struct{} // closed and replaced when a check changes
}

// consumerHealth is what the health asks a POS's consumer.
type consumerHealth interface {
	Running() bool
	Stalled() string // "" or why the POS does not get through its commands
}

func newHealth(retryBudget time.Duration, now func() time.Time) *health {
	return &health{nats: "connecting", apiToken: "unknown", retryBudget: retryBudget, now: now,
		storage: map[string]string{}, refused: map[string]string{}, consumers: map[string]consumerHealth{},
		printers: map[string]interface{ Health() string }{}, changed: make(chan struct{})}
}

func (h *health) notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifyLocked()
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
		// Consumers and printers are asked, not heard from: look again
		// now and then too.
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// apiAnswer follows the API's answers: a 401 means the token is rejected
// until an answer shows it is accepted again; network errors, 5xx and 429
// since the last real answer make the API unreachable once they last
// longer than the retry budget.
func (h *health) apiAnswer(code string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prevToken, prevDown := h.apiToken, h.apiDown
	switch {
	case code == "error" || code == "429" || strings.HasPrefix(code, "5"):
		if h.apiDown.IsZero() {
			h.apiDown = h.now()
			// Past the budget the check turns unreachable: wake waiters.
			time.AfterFunc(h.retryBudget+time.Millisecond, h.notify)
		}
	default:
		h.apiAnswered, h.apiDown = true, time.Time{}
		switch {
		case code == "401":
			h.apiToken = "rejected"
		case strings.HasPrefix(code, "2"), code == "404", code == "409", code == "400":
			h.apiToken = "ok"
		}
	}
	if h.apiToken != prevToken || h.apiDown != prevDown {
		h.notifyLocked()
	}
}

// storageResult follows writes to part ("records", "events"): a write the
// server refused makes storage fail until a write succeeds again.
func (h *health) storageResult(part string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev, had := h.storage[part]
	if err == nil {
		delete(h.storage, part)
	} else {
		h.storage[part] = "refusing writes (" + part + "): " + err.Error()
	}
	switch {
	case len(h.storage) == 0:
		h.storageDown = time.Time{}
	case h.storageDown.IsZero():
		h.storageDown = h.now()
	}
	if now, has := h.storage[part]; had != has || now != prev {
		h.notifyLocked()
	}
}

// storageRefused records that the server put part in its write-error
// state: writes to it are refused until JetStream is reloaded, whatever
// the agent's own writes to other parts show meanwhile.
func (h *health) storageRefused(part, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refused[part] == why {
		return
	}
	h.refused[part] = why
	h.notifyLocked()
}

// storageReloaded forgets the write errors a reload of JetStream clears:
// the parts the server reported, and the agent's own writes that went
// unanswered or hit the full disk (left standing, they would make
// storage look stuck again with nobody writing). A limit such as maximum
// bytes stays until a write succeeds. A part that fails again is
// reported again.
func (h *health) storageReloaded() {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.refused) + len(h.storage)
	clear(h.refused)
	for part, why := range h.storage {
		if stuckReason(why) {
			delete(h.storage, part)
		}
	}
	if len(h.storage) == 0 {
		h.storageDown = time.Time{}
	}
	if len(h.refused)+len(h.storage) != n {
		h.notifyLocked()
	}
}

// stuckReason tells a write the server did not answer, or that hit a
// full disk, from one it refused for a limit.
func stuckReason(why string) bool {
	return strings.Contains(why, "no answer from JetStream") || strings.Contains(why, "no space left")
}

// storageStuck reports a part the server says took a write error, or
// writes the server did not answer or that hit a full disk with no
// success for at least stuckAfter: the sign of a stream stuck on a write
// error (a slow disk has successes in between).
func (h *health) storageStuck(stuckAfter time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.refused) > 0 {
		return true
	}
	if h.storageDown.IsZero() || h.now().Sub(h.storageDown) < stuckAfter {
		return false
	}
	for _, why := range h.storage {
		if stuckReason(why) {
			return true
		}
	}
	return false
}

func (h *health) addConsumer(pos string, c consumerHealth) {
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
	r := healthReport{Status: "ok", Checks: map[string]string{"nats": h.nats, "api_token": h.apiToken,
		"api": h.apiCheck(), "storage": h.storageCheck()}}
	r.Checks["consumers"] = h.consumersCheck()
	for pos, p := range h.printers {
		r.Checks["printer:"+pos] = p.Health()
	}
	if h.store != nil {
		if st := h.store(); st != "ok" {
			r.Checks["store"] = st // only while there is damage to acknowledge
		}
	}
	// The token and the API may be "unknown" before the first answer;
	// printers do not make the agent unhealthy (the order flow never
	// waits on them).
	if h.nats != "ok" || r.Checks["consumers"] != "ok" || h.apiToken == "rejected" ||
		r.Checks["api"] == "unreachable" || r.Checks["storage"] != "ok" {
		r.Status = "unavailable"
	}
	return r
}

func (h *health) apiCheck() string {
	switch {
	case !h.apiDown.IsZero() && h.now().Sub(h.apiDown) > h.retryBudget:
		return "unreachable"
	case h.apiAnswered:
		return "ok"
	}
	return "unknown"
}

func (h *health) storageCheck() string {
	if len(h.storage) == 0 && len(h.refused) == 0 {
		return "ok"
	}
	parts := make([]string, 0, len(h.storage)+len(h.refused))
	for part, why := range h.refused {
		parts = append(parts, "refusing writes ("+part+"): "+why)
	}
	for part, why := range h.storage {
		if _, ok := h.refused[part]; !ok {
			parts = append(parts, why)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func (h *health) consumersCheck() string {
	var stopped, stalled []string
	for pos, c := range h.consumers {
		if !c.Running() {
			stopped = append(stopped, pos)
		} else if why := c.Stalled(); why != "" {
			stalled = append(stalled, pos+" ("+why+")")
		}
	}
	sort.Strings(stopped)
	sort.Strings(stalled)
	switch {
	case len(h.consumers) == 0:
		return "not started"
	case len(stopped) > 0:
		return "stopped: " + strings.Join(stopped, ",")
	case len(stalled) > 0:
		return "stalled: " + strings.Join(stalled, ", ")
	}
	return "ok"
}

// responsive reports that the agent's core still answers: the health
// state can be read. The watchdog is fed on it, not on the checks: a
// degraded agent (API down, storage full, token rejected) is reported,
// not restarted (docs/degraded.md).
func (h *health) responsive() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return true
}

func (h *health) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r := h.report()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(r)
}
