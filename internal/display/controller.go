package display

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Sink is one display adapter. Show draws s and returns when it is on the
// device (or failed). The Controller calls each sink from one goroutine of
// its own, so a Sink need not be safe for concurrent use.
type Sink interface {
	Show(ctx context.Context, s Screen) error
}

// Refresher is implemented by sinks that draw a countdown themselves (the
// terminal, the framebuffer): while a screen with an expiry is up, the
// Controller shows it to them again every interval, on the second boundary
// of the countdown.
type Refresher interface {
	RefreshInterval() time.Duration
}

// Settler is implemented by sinks for which a frame is costly (the png and
// framebuffer displays): a result screen (paid, expired, canceled, error)
// waits ResultSettle before such a sink draws it, and is never drawn if
// another screen replaces it meanwhile. A sale canceled by the next sale
// shows "canceled" for only the API round trip before the next QR: that
// frame is skipped. QR, cart and idle screens are never delayed.
type Settler interface {
	ResultSettle() time.Duration
}

// NamedSink is a sink with its type name (terminal, web, png, framebuffer),
// which labels logs and the OnError callback (metrics).
type NamedSink struct {
	Type string
	Sink Sink
}

// ControllerConfig configures a Controller. Only Sinks is required.
type ControllerConfig struct {
	POS        string // for logs
	Sinks      []NamedSink
	ResultHold time.Duration // how long paid/expired/canceled/error stay up; default 5 s
	// Idle is shown at start and after a result's hold. Its StoreName,
	// Locale and POS also fill those fields of any shown Screen that leaves
	// them empty.
	Idle    Screen
	Logger  *slog.Logger
	OnError func(sinkType string, err error) // every failed Show, e.g. a metric
	Clock   func() time.Time
	// After returns a channel that receives after d (default time.After);
	// the hold, the retry backoff and the countdown ticks all wait on it.
	After func(d time.Duration) <-chan time.Time
	// MinBackoff and MaxBackoff bound the wait before a failed sink is
	// tried again, doubling per failure; defaults 1 s and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// ShowTimeout bounds one Show call through its context; default 10 s.
	ShowTimeout time.Duration
}

// Controller fans the screens of one POS out to its sinks. Show never
// blocks; each sink has a worker that always draws the latest screen, so a
// stuck or failing device delays nobody.
type Controller struct {
	cfg     ControllerConfig
	log     *slog.Logger
	workers []*worker

	holdWake chan struct{} // a Show happened: the hold loop looks again

	mu  sync.Mutex
	cur Screen
	gen uint64 // bumped by every screen change
	// lastQR is the modules of the last QR shown, kept for the next sale:
	// a POS in static mode shows the same payload every time.
	lastQR     *qrMemo
	lastQRData string
}

// NewController makes a Controller showing cfg.Idle; call Run to start
// drawing.
func NewController(cfg ControllerConfig) *Controller {
	if cfg.ResultHold <= 0 {
		cfg.ResultHold = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnError == nil {
		cfg.OnError = func(string, error) {}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.ShowTimeout <= 0 {
		cfg.ShowTimeout = 10 * time.Second
	}
	if cfg.Idle.State == "" {
		cfg.Idle.State = StateIdle
	}
	if cfg.Idle.POS == "" {
		cfg.Idle.POS = cfg.POS
	}
	c := &Controller{
		cfg:      cfg,
		log:      cfg.Logger.With("pos", cfg.POS),
		holdWake: make(chan struct{}, 1),
		cur:      cfg.Idle.clone(),
	}
	for _, ns := range cfg.Sinks {
		w := &worker{typ: ns.Type, sink: ns.Sink, wake: make(chan struct{}, 1)}
		w.set(c.cur)
		c.workers = append(c.workers, w)
	}
	return c
}

// Show puts s on every sink, replacing whatever they have not drawn yet.
// A paid, expired, canceled or error screen goes back to idle after
// ResultHold unless another screen replaces it first.
func (c *Controller) Show(s Screen) {
	s = s.clone()
	if s.State == "" {
		s.State = StateIdle
	}
	if s.StoreName == "" {
		s.StoreName = c.cfg.Idle.StoreName
	}
	if s.Locale == "" {
		s.Locale = c.cfg.Idle.Locale
	}
	if s.POS == "" {
		s.POS = c.cfg.Idle.POS
	}
	c.mu.Lock()
	c.setLocked(s)
	c.mu.Unlock()
	select {
	case c.holdWake <- struct{}{}:
	default:
	}
}

func (c *Controller) setLocked(s Screen) {
	if s.State == StateAwaitingPayment {
		// The sinks encode the QR once between them, and not again for
		// the next sale with the same payload.
		if c.lastQR == nil || c.lastQRData != s.QRData {
			c.lastQR, c.lastQRData = &qrMemo{}, s.QRData
		}
		s.qr = c.lastQR
	}
	c.cur = s
	c.gen++
	for _, w := range c.workers {
		w.set(s)
	}
}

// Current returns the screen the sinks are (or are about to be) showing.
func (c *Controller) Current() Screen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur.clone()
}

// stopGrace is how long Run waits, after ctx is done, for sinks whose Show
// ignores its context.
const stopGrace = 2 * time.Second

// Run draws screens until ctx is done, then returns nil. Call it once.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.work(ctx, w)
		}()
	}
	c.holdLoop(ctx)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopGrace):
		c.log.Warn("display sink still busy at shutdown; leaving it")
	}
	return nil
}

// holdLoop returns result screens to idle after the hold.
func (c *Controller) holdLoop(ctx context.Context) {
	var timer <-chan time.Time
	var timerGen uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.holdWake:
			c.mu.Lock()
			if c.cur.State.IsResult() {
				if timer == nil || timerGen != c.gen {
					timerGen = c.gen
					timer = c.cfg.After(c.cfg.ResultHold)
				}
			} else {
				timer = nil
			}
			c.mu.Unlock()
		case <-timer:
			timer = nil
			c.mu.Lock()
			if c.gen == timerGen {
				c.setLocked(c.cfg.Idle.clone())
			}
			c.mu.Unlock()
		}
	}
}

// worker holds the latest screen for one sink.
type worker struct {
	typ  string
	sink Sink
	wake chan struct{} // cap 1: "there is a newer screen"

	mu     sync.Mutex
	screen Screen
}

func (w *worker) set(s Screen) {
	w.mu.Lock()
	w.screen = s
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) latest() Screen {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.screen
}

// work draws the latest screen on one sink: on failure it reports, waits
// out a growing backoff (newer screens just replace the one to retry), and
// while a countdown is up on a Refresher it redraws every tick.
func (c *Controller) work(ctx context.Context, w *worker) {
	log := c.log.With("type", w.typ)
	refresh, settle := time.Duration(0), time.Duration(0)
	if r, ok := w.sink.(Refresher); ok {
		refresh = r.RefreshInterval()
	}
	if st, ok := w.sink.(Settler); ok {
		settle = st.ResultSettle()
	}
	var retry, tick, settled <-chan time.Time
	backoff := time.Duration(0)
	failures := 0
	for {
		waited := false
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
			if retry != nil {
				continue // the retry will take the newest screen
			}
		case <-retry:
			retry = nil
		case <-tick:
			tick = nil
		case <-settled:
			waited = true
		}
		if !waited && settle > 0 && w.latest().State.IsResult() {
			if settled == nil {
				settled, tick = c.cfg.After(settle), nil
			}
			continue // drawn when settled, unless replaced first
		}
		settled = nil
		s := w.latest()
		err := c.showOnce(ctx, w.sink, s)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			backoff = min(max(backoff*2, c.cfg.MinBackoff), c.cfg.MaxBackoff)
			c.cfg.OnError(w.typ, err)
			if failures == 1 {
				log.Warn("display sink failed; retrying", "err", err, "retry_in", backoff)
			} else {
				log.Debug("display sink failed again", "err", err, "failures", failures, "retry_in", backoff)
			}
			retry, tick = c.cfg.After(backoff), nil
			continue
		}
		if failures > 0 {
			log.Info("display sink recovered", "failures", failures)
		}
		failures, backoff, tick = 0, 0, nil
		if d := c.nextTick(s, refresh); d > 0 {
			tick = c.cfg.After(d)
		}
	}
}

func (c *Controller) showOnce(ctx context.Context, sink Sink, s Screen) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ShowTimeout)
	defer cancel()
	defer func() {
		// A sink is outside code as far as the Controller is concerned: one
		// that panics is a failed sink, not a dead POS.
		if r := recover(); r != nil {
			err = fmt.Errorf("display sink panicked: %v", r)
		}
	}()
	return sink.Show(ctx, s.clone())
}

// nextTick is how long until the countdown on s shows a different second,
// or 0 when s has no running countdown or the sink does not refresh.
func (c *Controller) nextTick(s Screen, refresh time.Duration) time.Duration {
	if refresh <= 0 || s.State != StateAwaitingPayment || s.ExpiresAt.IsZero() {
		return 0
	}
	left := s.ExpiresAt.Sub(c.cfg.Clock())
	if left <= 0 {
		return 0
	}
	if refresh != time.Second {
		return refresh
	}
	// The countdown rounds up, so it changes when left crosses a whole second.
	d := left % time.Second
	if d == 0 {
		d = time.Second
	}
	return d + time.Millisecond
}
