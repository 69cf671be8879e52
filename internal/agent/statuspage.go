package agent

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"

	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/natsconn"
	"github.com/posagent/posagent/internal/version"
)

// The status page for store IT is one self-contained document: markup,
// style and script, the last two hashed into its Content-Security-Policy,
// so it loads nothing and runs nothing but itself (like the customer
// display). It renders what its event stream sends.
var (
	//go:embed web/status.html
	statusHTML string
	//go:embed web/status.css
	statusCSS string
	//go:embed web/status.js
	statusJS string

	statusCSP = display.SelfContainedCSP(statusJS, statusCSS)
)

// Status stream timing: changes without an event of their own (a cart on
// the display, a printer running out of paper) are noticed by comparing
// snapshots this often; the heartbeat keeps idle proxies from closing the
// stream and lets the page notice a dead one.
const (
	statusCheckEvery   = time.Second
	statusHeartbeat    = 15 * time.Second
	statusRetry        = 2 * time.Second
	statusWriteTimeout = 30 * time.Second
)

// statusSnapshot is everything the status page shows, also served as
// /status.json.
type statusSnapshot struct {
	StoreID   string             `json:"store_id"`
	StoreName string             `json:"store_name"`
	Version   string             `json:"version"`
	Started   string             `json:"started"`
	Now       string             `json:"now,omitempty"` // the agent's clock, for uptime and ages
	Health    healthReport       `json:"health"`
	NATS      statusNATS         `json:"nats"`
	POS       map[string]posView `json:"pos"`
	POSOrder  []string           `json:"pos_order"` // the configuration's order
	Events    []eventView        `json:"events"`    // newest last
}

type statusNATS struct {
	URL    string `json:"url"`
	Domain string `json:"domain,omitempty"`
	Hub    string `json:"hub,omitempty"` // "connected" or "disconnected" with a leaf link
	// UnknownPOS counts commands for POS this agent does not serve,
	// answered unknown_pos and removed since start.
	UnknownPOS int64 `json:"unknown_pos,omitempty"`
}

type posView struct {
	events.StatusReply
	Mode       string `json:"mode"`
	AmountText string `json:"amount_text,omitempty"` // total_amount in the store's money format
	Display    string `json:"display,omitempty"`     // the web customer display's path, if any
}

type eventView struct {
	events.Event
	AmountText string `json:"amount_text,omitempty"`
}

// snapshot gathers the status page's data; Now is left empty.
func (a *Agent) snapshot() statusSnapshot {
	cfg := a.cfg
	s := statusSnapshot{
		StoreID: cfg.StoreID, StoreName: cfg.StoreName, Version: version.Version(),
		Started: events.Stamp(a.started), Health: a.health.report(),
		NATS: statusNATS{URL: natsconn.RedactURL(a.NATSURL()), Hub: a.hubLink(), UnknownPOS: a.unknownPOS.Load()},
		POS:  make(map[string]posView, len(cfg.POS)),
	}
	if cfg.NATS.URL == "" {
		s.NATS.Domain = cfg.NATS.Embedded.Domain
	}
	for _, p := range cfg.POS {
		v := posView{StatusReply: a.posStatus(p.ExternalPOSID), Mode: p.Mode}
		v.AmountText = a.formatAmount(v.TotalAmount)
		v.Display = "display/" + p.ExternalPOSID // served for every POS
		s.POS[p.ExternalPOSID] = v
		s.POSOrder = append(s.POSOrder, p.ExternalPOSID)
	}
	s.Events = []eventView{}
	for _, ev := range a.feed.events() {
		s.Events = append(s.Events, eventView{Event: ev, AmountText: a.formatAmount(ev.TotalAmount)})
	}
	return s
}

// formatAmount writes a decimal amount as the store's locale does
// ("$ 1.234,50"); "" stays "".
func (a *Agent) formatAmount(s string) string {
	if s == "" {
		return ""
	}
	c, err := money.Parse(s)
	if err != nil {
		return s
	}
	return money.Format(c, a.cfg.Locale)
}

// statusPage serves the page at /.
func (a *Agent) statusPage(w http.ResponseWriter, _ *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", statusCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	page := strings.NewReplacer(
		"{{title}}", html.EscapeString(a.cfg.StoreID),
		"{{heartbeat}}", fmt.Sprint(statusHeartbeat.Milliseconds()),
		"{{style}}", statusCSS,
		"{{script}}", statusJS,
	).Replace(statusHTML)
	_, _ = w.Write([]byte(page))
}

// statusJSON is the page's data for scripts.
func (a *Agent) statusJSON(w http.ResponseWriter, _ *http.Request) {
	s := a.snapshot()
	s.Now = events.Stamp(time.Now())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s)
}

// statusEvents is the page's Server-Sent Events stream: a "snapshot" at
// once and after every change, a "tick" as heartbeat.
func (a *Agent) statusEvents(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	send := func(prefix, event string, data []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(statusWriteTimeout))
		if _, err := fmt.Fprintf(w, "%sevent: %s\ndata: %s\n\n", prefix, event, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	prefix := fmt.Sprintf("retry: %d\n", statusRetry.Milliseconds())
	var last []byte
	// push sends the snapshot when it differs from the last one sent
	// (compared without the clock, which always differs).
	push := func() error {
		s := a.snapshot()
		key, err := json.Marshal(s)
		if err != nil || bytes.Equal(key, last) {
			return err
		}
		last = key
		s.Now = events.Stamp(time.Now())
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		err = send(prefix, "snapshot", b)
		prefix = ""
		return err
	}
	check := time.NewTicker(statusCheckEvery)
	defer check.Stop()
	beat := time.NewTicker(statusHeartbeat)
	defer beat.Stop()
	for {
		// Taken before the snapshot, so a change while it is built wakes
		// the next wait.
		fed := a.feed.wait()
		a.health.mu.Lock()
		healthChanged := a.health.changed
		a.health.mu.Unlock()
		if err := push(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-a.feed.done:
			return
		case <-fed:
		case <-healthChanged:
		case <-check.C:
		case <-beat.C:
			if send("", "tick", []byte(`{"now":"`+events.Stamp(time.Now())+`"}`)) != nil {
				return
			}
		}
	}
}
