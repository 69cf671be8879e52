// Package agent provides the posagent daemon: it wires the configuration
// to NATS (embedded or external), the Orders API client, one session,
// consumer, customer display and printer per POS, the status service and
// the HTTP listener, and runs them until its context ends.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"golang.org/x/sync/errgroup"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/intake"
	"github.com/posagent/posagent/internal/memtrim"
	"github.com/posagent/posagent/internal/metrics"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/salestore"
	"github.com/posagent/posagent/internal/secret"
	"github.com/posagent/posagent/internal/session"
	"github.com/posagent/posagent/internal/subject"
	"github.com/posagent/posagent/internal/version"
)

// Options are what the agent needs besides its configuration.
type Options struct {
	Config *config.Config
	Token  secret.String // the Mercado Pago access token
	Logger *slog.Logger
	// Terminal is where a "terminal" display draws (stdout); PlainTerminal
	// draws plain frames without ANSI codes (not a TTY).
	Terminal      io.Writer
	PlainTerminal bool
	// HTTPClient talks to the Orders API; nil = a default client.
	HTTPClient *http.Client
	// Backoff overrides the API client's first retry delay (tests).
	Backoff time.Duration
	// ShutdownGrace is how long in-flight commands may run after the
	// context ends; default 10s.
	ShutdownGrace time.Duration
	// ReadFile reads secret files (NATS passwords); nil = os.ReadFile.
	ReadFile func(string) ([]byte, error)
	// Ready is called once NATS is connected and every consumer runs
	// (systemd READY=1); Watchdog every few seconds while healthy.
	Ready         func()
	Watchdog      func()
	WatchdogEvery time.Duration // default 2s
	// HTTPListener, when set, is used instead of listening on http.listen
	// (tests pass a random-port listener).
	HTTPListener net.Listener
	// ProbeEvery is how often the Orders API is probed while the token is
	// rejected or the API unreachable; default 30s.
	ProbeEvery time.Duration
}

// Agent is the running daemon.
type Agent struct {
	o       Options
	cfg     *config.Config
	log     *slog.Logger
	metrics *metrics.Metrics
	health  *health
	web     *display.Web
	feed    *statusFeed // recent events and status page streams
	// webhookSecret checks webhook signatures; empty: no webhooks.
	webhookSecret string

	mu        sync.Mutex
	sessions  map[string]*session.Session
	embedded  *embeddednats.Server
	nc        *nats.Conn
	httpAddr  string
	httpConns *connLimiter
	ready     chan struct{}
	started   time.Time
	// unknownPOS counts commands answered unknown_pos (status page).
	unknownPOS atomic.Int64
}

// New checks the options; Run does the work.
func New(o Options) (*Agent, error) {
	if o.Config == nil {
		return nil, errors.New("agent: no configuration")
	}
	if o.Token.Empty() {
		return nil, errors.New("agent: no Mercado Pago access token")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Terminal == nil {
		o.Terminal = io.Discard
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 10 * time.Second
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.ProbeEvery <= 0 {
		o.ProbeEvery = 30 * time.Second
	}
	a := &Agent{o: o, cfg: o.Config, log: o.Logger, metrics: metrics.New(), sessions: map[string]*session.Session{}, ready: make(chan struct{}), started: time.Now()}
	a.health = newHealth(o.Config.MercadoPago.RetryBudget, time.Now)
	if f := o.Config.MercadoPago.WebhookSecretFile; f != "" {
		sec, err := a.readSecret("mercadopago.webhook_secret_file", f)
		if err != nil {
			return nil, err
		}
		a.webhookSecret = sec.Reveal()
	}
	a.web = display.NewWeb(o.Logger, time.Now)
	a.initOperations()
	return a, nil
}

// Ready is closed once the agent serves every POS.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// HTTPAddr is the HTTP listener's address, once ready.
func (a *Agent) HTTPAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.httpAddr
}

// NATSURL is where a register connects: the embedded server's client URL,
// or the configured one.
func (a *Agent) NATSURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.embedded != nil {
		return a.embedded.ClientURL()
	}
	return a.cfg.NATS.URL
}

// Session returns the session of pos (tests, status).
func (a *Agent) Session(pos string) *session.Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[pos]
}

// Run serves until ctx ends, then drains: consumers stop taking commands,
// in-flight commands get ShutdownGrace to finish (what does not finish is
// left unacknowledged for redelivery), and NATS is closed. A start-up that
// fails tears down everything it started, waits for it, and returns one
// error naming the part.
func (a *Agent) Run(ctx context.Context) error {
	w, err := a.setUp(ctx)
	if err != nil {
		return err
	}
	defer w.tearDown()
	return a.serve(ctx, w)
}

// wiring is what set-up opened and serve runs on: the bus, the stores, the
// API client and the HTTP listener. tearDown closes what serve did not.
type wiring struct {
	a       *Agent
	nc      *nats.Conn
	js      jetstream.JetStream
	streams intake.Streams
	store   *salestore.Store
	api     *qrorder.Client
	pub     *events.Publisher
	evlog   *events.Log
	posIDs  []string
	srv     *http.Server
	ln      net.Listener
}

func (w *wiring) tearDown() {
	if w.ln != nil {
		_ = w.ln.Close() // a server that never served does not own it yet
	}
	w.a.closeNATS()
}

// setUp connects and opens everything the agent needs before anything
// runs, the HTTP listener included (its port being taken is the likeliest
// start-up failure, and it must stop the agent before any goroutine
// starts). On an error it closes what it opened.
func (a *Agent) setUp(ctx context.Context) (w *wiring, err error) {
	cfg := a.cfg
	w = &wiring{a: a}
	defer func() {
		if err != nil {
			w.tearDown()
			w = nil
		}
	}()
	if w.nc, err = a.connect(ctx); err != nil {
		return w, err
	}
	if w.js, err = jetstream.New(w.nc); err != nil {
		return w, fmt.Errorf("agent: jetstream: %w", err)
	}
	for _, p := range cfg.POS {
		w.posIDs = append(w.posIDs, p.ExternalPOSID)
	}
	w.streams = intake.Streams{Prefix: cfg.NATS.SubjectPrefix, Commands: cfg.NATS.Streams.Commands, Events: cfg.NATS.Streams.Events,
		EventsMaxBytes: cfg.NATS.EventsMaxBytes, CommandsMaxBytes: cfg.NATS.CommandsMaxBytes}
	setupCtx, cancelSetup := context.WithTimeout(ctx, 30*time.Second)
	defer cancelSetup()
	if err := w.streams.Ensure(setupCtx, w.js, cfg.StoreID, w.posIDs); err != nil {
		return w, err
	}
	store, err := salestore.Open(setupCtx, w.js, a.storeOptions())
	if err != nil {
		return w, err
	}
	checkCtx, cancelCheck := context.WithTimeout(ctx, time.Minute)
	w.store, err = a.checkStore(checkCtx, w.js, w.streams, store, w.posIDs)
	cancelCheck()
	if err != nil {
		return w, err
	}
	w.api, err = qrorder.New(qrorder.Options{
		BaseURL: cfg.MercadoPago.BaseURL, Token: a.o.Token, HTTPClient: a.o.HTTPClient,
		RequestTimeout: cfg.MercadoPago.RequestTimeout, RetryBudget: cfg.MercadoPago.RetryBudget,
		BackoffBase: a.o.Backoff, Logger: a.log, Observer: observers{a.metrics, a.health},
		UserAgent: "posagent/" + version.Version(),
	})
	if err != nil {
		return w, err
	}
	w.pub = events.NewPublisher(w.js, cfg.NATS.SubjectPrefix, cfg.StoreID)
	w.evlog = events.NewLog(w.js, cfg.NATS.Streams.Events, cfg.NATS.SubjectPrefix, cfg.StoreID)
	w.srv, w.ln, err = a.listenHTTP()
	return w, err
}

// storeOptions is the sale records bucket as the configuration sizes it:
// the same whether it is opened at start or remade after damage.
func (a *Agent) storeOptions() salestore.Options {
	return salestore.Options{Bucket: saleBucket(a.cfg.StoreID), TTL: a.cfg.SaleRetention, MaxBytes: a.cfg.NATS.RecordsMaxBytes}
}

// serve runs every part of the daemon in one errgroup that is always
// waited for, and drains it when ctx ends or a part fails.
func (a *Agent) serve(ctx context.Context, w *wiring) error {
	// Background work (pollers, displays, printers) stops with runCtx;
	// command handling gets a grace period after ctx ends.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	g, gctx := errgroup.WithContext(runCtx)
	consCtx, stopConsumers := context.WithCancel(gctx)
	defer stopConsumers()
	var consWG sync.WaitGroup
	// stop ends everything serve started, in order, and waits for it.
	stop := func(err error) error {
		stopConsumers()
		consWG.Wait()
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = w.srv.Shutdown(shutCtx)
		cancel()
		stopRun()
		if gerr := g.Wait(); err == nil && !errors.Is(gerr, context.Canceled) {
			err = gerr
		}
		return err
	}
	g.Go(func() error {
		a.probeAPI(gctx, func(ctx context.Context, id string) error { _, err := w.api.Get(ctx, id); return err }, a.o.ProbeEvery)
		return nil
	})
	consumers, err := a.startPOS(g, gctx, w)
	if err != nil {
		return stop(err)
	}
	g.Go(func() error { a.sampleConsumers(gctx, w.js, w.streams.Commands, consumers); return nil })
	a.startStrays(g, gctx, w.nc, w.js, w.streams, watchedEvents{a.feed.tap(w.pub), a.health})
	g.Go(func() error { a.reviveJetStream(gctx); return nil })
	g.Go(func() error {
		memtrim.Run(gctx, memtrim.Options{Trimmed: func(before, after uint64) {
			a.log.Debug("free heap memory returned to the system", "held_before", before, "held_after", after)
		}})
		return nil
	})
	svc, err := a.startStatusService(w.nc)
	if err != nil {
		return stop(err)
	}
	defer func() { _ = svc.Stop() }()
	ln := w.ln
	w.ln = nil // the server owns it from here
	g.Go(func() error {
		if err := w.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("agent: http: %w", err)
		}
		return nil
	})
	for _, c := range consumers {
		consWG.Add(1)
		go func() { defer consWG.Done(); _ = c.Run(consCtx) }()
	}
	if a.waitConsumers(ctx, gctx, consumers) {
		a.becomeReady(w.posIDs)
		g.Go(func() error { a.watchdog(gctx); return nil })
		select {
		case <-ctx.Done():
		case <-gctx.Done():
		}
	}
	a.log.Info("shutting down: no new commands; in-flight ones get a grace period", "grace", a.o.ShutdownGrace)
	return stop(nil)
}

// startPOS starts each POS's displays, printer and session, and sets up
// (but does not start) its consumer.
func (a *Agent) startPOS(g *errgroup.Group, gctx context.Context, w *wiring) ([]*intake.Consumer, error) {
	cfg := a.cfg
	setupCtx, cancel := context.WithTimeout(gctx, 30*time.Second)
	defer cancel()
	var consumers []*intake.Consumer
	for i := range cfg.POS {
		p := &cfg.POS[i]
		parts, err := a.buildPOS(p, w.api, w.store, w.pub, w.evlog)
		if err != nil {
			return nil, err
		}
		g.Go(func() error { return parts.screens.Run(gctx) })
		if parts.printer != nil {
			g.Go(func() error { return parts.printer.Run(gctx) })
		}
		g.Go(func() error {
			if err := parts.session.Run(gctx); err != nil {
				return fmt.Errorf("agent: POS %s: %w", p.ExternalPOSID, err)
			}
			return nil
		})
		select {
		case <-parts.session.Ready():
		case <-gctx.Done():
			return nil, context.Cause(gctx) // the part that failed, or the stop
		}
		cons := intake.NewConsumer(w.js, w.streams, cfg.StoreID, p.ExternalPOSID, parts.session, a.log)
		cons.Grace = a.o.ShutdownGrace
		cons.StallAfter = 2*cfg.MercadoPago.RetryBudget + time.Minute
		if _, err := cons.Setup(setupCtx); err != nil {
			return nil, err
		}
		consumers = append(consumers, cons)
		a.health.addConsumer(p.ExternalPOSID, cons)
	}
	return consumers, nil
}

// waitConsumers waits until every consumer runs; false when the agent was
// stopped (or a part failed) first, so it never reports ready then.
func (a *Agent) waitConsumers(ctx, gctx context.Context, consumers []*intake.Consumer) bool {
	for _, c := range consumers {
		select {
		case <-c.Started():
		case <-ctx.Done():
			return false
		case <-gctx.Done():
			return false
		}
	}
	return ctx.Err() == nil && gctx.Err() == nil
}

// becomeReady tells the log, Ready's waiters and systemd.
func (a *Agent) becomeReady(posIDs []string) {
	a.syncStoreDirs()
	a.log.Info("posagent ready", "version", version.Version(), "store_id", a.cfg.StoreID, "pos", posIDs,
		"nats", a.NATSURL(), "http", a.HTTPAddr())
	close(a.ready)
	if a.o.Ready != nil {
		a.o.Ready()
	}
}

func (a *Agent) allSessions() []*session.Session {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*session.Session, 0, len(a.sessions))
	for _, s := range a.sessions {
		out = append(out, s)
	}
	return out
}

func (a *Agent) watchdog(ctx context.Context) {
	if a.o.Watchdog == nil {
		return
	}
	every := a.o.WatchdogEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// The watchdog is fed while the agent's core answers: systemd
			// restarts a hung agent, never a merely degraded one.
			if a.health.responsive() {
				a.o.Watchdog()
			}
		}
	}
}

// startStatusService serves the per-POS status query with the micro
// framework, so $SRV.PING/INFO/STATS discovery finds every agent.
func (a *Agent) startStatusService(nc *nats.Conn) (micro.Service, error) {
	cfg := a.cfg
	svc, err := micro.AddService(nc, micro.Config{
		Name:        "posagent",
		Version:     version.Version(),
		Description: "posagent: Mercado Pago QR orders for the POS of store " + cfg.StoreID,
		Metadata:    map[string]string{"store_id": cfg.StoreID, "store_name": cfg.StoreName, "started": a.started.UTC().Format(time.RFC3339)},
	})
	if err != nil {
		return nil, fmt.Errorf("agent: status service: %w", err)
	}
	for _, p := range cfg.POS {
		pos := p.ExternalPOSID
		subj := subject.Status(cfg.NATS.SubjectPrefix, cfg.StoreID, p.ExternalPOSID)
		err := svc.AddEndpoint("status_"+p.ExternalPOSID, micro.HandlerFunc(func(r micro.Request) {
			_ = r.RespondJSON(a.posStatus(pos))
		}), micro.WithEndpointSubject(subj), micro.WithEndpointMetadata(map[string]string{"pos": p.ExternalPOSID}))
		if err != nil {
			return nil, fmt.Errorf("agent: status endpoint %s: %w", subj, err)
		}
	}
	return svc, nil
}

type observers struct {
	m *metrics.Metrics
	h *health
}

func (o observers) ObserveRequest(endpoint, code string, d time.Duration) {
	o.m.ObserveRequest(endpoint, code, d)
	o.h.apiAnswer(code)
}
func (o observers) ObserveRetry(endpoint string) { o.m.ObserveRetry(endpoint) }
