package display

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The page is three static parts: markup, style and script. The style and
// script are hashed into the Content-Security-Policy, so the page can load
// nothing and run nothing but itself.
var (
	//go:embed web/page.html
	pageHTML string
	//go:embed web/page.css
	pageCSS string
	//go:embed web/page.js
	pageJS string
)

// Web timing. The heartbeat keeps idle proxies from closing the stream,
// refreshes the page's clock offset and feeds its watchdog, which restarts
// a stream silent for three heartbeats (a half-open connection).
const (
	webHeartbeat    = 15 * time.Second
	webRetry        = 2 * time.Second  // EventSource reconnect delay after a drop
	webWriteTimeout = 30 * time.Second // one event to a stuck client
)

// Web serves the customer display page for kiosk browsers: GET
// /display/<pos> is a self-contained page (no external resource of any
// kind), and GET /display/<pos>/events is its Server-Sent Events stream,
// which starts with the current screen, so a page that reconnects (after
// an agent restart, say) is up to date at once. Any number of browsers may
// watch a POS; each POS's page and stream carry only that POS's screens.
//
// Mount it on the daemon's mux at "/display/". Register
// srv.RegisterOnShutdown(web.Close): event streams never end by themselves,
// and http.Server.Shutdown waits for them. Each event write sets its own
// deadline, so a server WriteTimeout does not cut the streams.
type Web struct {
	log       *slog.Logger
	clock     func() time.Time
	heartbeat time.Duration
	version   string // changes with the page; an open page reloads on a new one
	csp       string

	mu     sync.Mutex
	hubs   map[string]*hub
	closed bool
}

// NewWeb returns a Web with no POS; Sink registers them. clock stamps the
// events, so pages can correct their countdown for the offset between
// their clock and the agent's.
func NewWeb(logger *slog.Logger, clock func() time.Time) *Web {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if clock == nil {
		clock = time.Now
	}
	sum := sha256.Sum256([]byte(pageHTML + pageCSS + pageJS))
	return &Web{
		log:       logger,
		clock:     clock,
		heartbeat: webHeartbeat,
		version:   hex.EncodeToString(sum[:6]),
		csp:       SelfContainedCSP(pageJS, pageCSS),
		hubs:      make(map[string]*hub),
	}
}

// SelfContainedCSP is the Content-Security-Policy of a page that is one
// document: only its own script and style (by hash) run, it talks only to
// its own origin (its event stream), and nothing may frame it. The status
// page for store IT uses it too.
func SelfContainedCSP(script, style string) string {
	return "default-src 'none'; script-src '" + cspHash(script) + "'; style-src '" + cspHash(style) +
		"'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Sink registers pos, so /display/<pos> answers, and returns the sink that
// feeds its pages. Calling it again for the same pos returns a sink for the
// same pages.
func (w *Web) Sink(pos string) Sink {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.hubs[pos]
	if !ok {
		h = &hub{subs: make(map[*subscriber]struct{}), lang: english().Lang}
		h.screen, _ = json.Marshal(webView{State: StateIdle, POS: pos, Lang: "en", Welcome: english().Welcome})
		w.hubs[pos] = h
	}
	return webSink{h: h, pos: pos}
}

// DropStreams ends every open event stream (the pages reconnect by
// themselves and get the current screen first).
func (w *Web) DropStreams() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range w.hubs {
		h.dropAll()
	}
}

// Close ends every event stream and refuses new ones (503, which the
// page retries), for shutdown.
func (w *Web) Close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.DropStreams()
}

// Streams is how many event streams are open for pos (status page, tests).
func (w *Web) Streams(pos string) int {
	h := w.hub(pos)
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (w *Web) hub(pos string) *hub {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hubs[pos]
}

// ServeHTTP answers /display/<pos> and /display/<pos>/events; everything
// else under /display/, and any POS not registered, is 404.
func (w *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/display/")
	pos, sub, slash := strings.Cut(rest, "/")
	h := w.hub(pos)
	if !ok || pos == "" || h == nil || (slash && sub != "events") {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if sub == "events" {
		w.stream(rw, r, pos, h)
		return
	}
	w.page(rw, pos, h.language())
}

// page writes the display page; lang is its <html lang>, the language of
// the screen on display (the script follows the screens that come later).
func (w *Web) page(rw http.ResponseWriter, pos, lang string) {
	hd := rw.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", w.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	// The page sits at /display/<pos>, so a relative URL names its stream
	// wherever the daemon's mux puts /display/.
	attrs := fmt.Sprintf(`data-state="connecting" data-events="%s" data-version="%s" data-heartbeat="%d"`,
		html.EscapeString(url.PathEscape(pos)+"/events"), w.version, w.heartbeat.Milliseconds())
	page := strings.NewReplacer(
		"{{lang}}", html.EscapeString(lang),
		"{{title}}", html.EscapeString(pos),
		"{{body}}", attrs,
		"{{style}}", pageCSS,
		"{{script}}", pageJS,
	).Replace(pageHTML)
	_, _ = rw.Write([]byte(page))
}

func (w *Web) stream(rw http.ResponseWriter, r *http.Request, pos string, h *hub) {
	hd := rw.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // no proxy buffering of the stream
	// Checked and subscribed under w.mu, so Close cannot miss a stream
	// that is just starting.
	w.mu.Lock()
	closed := w.closed
	var sub *subscriber
	var current []byte
	if !closed && r.Method != http.MethodHead {
		sub, current = h.subscribe()
	}
	w.mu.Unlock()
	if closed {
		http.Error(rw, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if sub == nil {
		return // HEAD
	}
	defer h.unsubscribe(sub)
	log := w.log.With("pos", pos, "remote", r.RemoteAddr)
	log.Debug("display stream opened")
	defer log.Debug("display stream closed")

	rc := http.NewResponseController(rw)
	send := func(prefix string, event string, screen []byte) error {
		// The server's time goes with every event, stamped as it is written,
		// for the page's clock offset.
		data := `{"now":` + strconv.FormatInt(w.clock().UnixMilli(), 10) + `,"v":"` + w.version + `"`
		if screen != nil {
			data += `,"screen":` + string(screen)
		}
		data += "}"
		_ = rc.SetWriteDeadline(time.Now().Add(webWriteTimeout))
		if _, err := fmt.Fprintf(rw, "%sevent: %s\ndata: %s\n\n", prefix, event, data); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := send("retry: "+strconv.FormatInt(webRetry.Milliseconds(), 10)+"\n", "screen", current); err != nil {
		return
	}
	beat := time.NewTicker(w.heartbeat)
	defer beat.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-sub.done:
			return
		case screen := <-sub.ch:
			err = send("", "screen", screen)
		case <-beat.C:
			err = send("", "tick", nil)
		}
		if err != nil {
			log.Debug("display stream write failed", "err", err)
			return
		}
	}
}

// hub is one POS's current screen and the streams watching it.
type hub struct {
	mu     sync.Mutex
	screen []byte // JSON of the current webView
	lang   string // its language
	subs   map[*subscriber]struct{}
}

func (h *hub) language() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lang
}

// subscriber is one open stream: ch holds the latest screen not yet
// written (older ones are dropped: only the newest matters), done closes
// when the server drops the stream.
type subscriber struct {
	ch       chan []byte
	done     chan struct{}
	doneOnce sync.Once
}

func (h *hub) subscribe() (*subscriber, []byte) {
	s := &subscriber{ch: make(chan []byte, 1), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	return s, h.screen
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

func (h *hub) dropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.doneOnce.Do(func() { close(s.done) })
		delete(h.subs, s)
	}
}

func (h *hub) publish(screen []byte, lang string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.screen, h.lang = screen, lang
	for s := range h.subs {
		select {
		case <-s.ch: // drop the older screen nobody has written yet
		default:
		}
		s.ch <- screen // cannot block: only publish sends, under h.mu
	}
}

// webSink feeds one POS's pages.
type webSink struct {
	h   *hub
	pos string
}

// Show publishes s to every page watching its POS; it never waits for a
// browser.
func (ws webSink) Show(ctx context.Context, s Screen) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, err := newWebView(s, ws.pos)
	if err != nil {
		return fmt.Errorf("web %s: %w", ws.pos, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("web %s: %w", ws.pos, err)
	}
	ws.h.publish(b, v.Lang)
	return nil
}
