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
	"github.com/posagent/posagent/internal/metrics"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/salestore"
	"github.com/posagent/posagent/internal/secret"
	"github.com/posagent/posagent/internal/session"
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
// left unacknowledged for redelivery), and NATS is closed.
func (a *Agent) Run(ctx context.Context) error {
	cfg := a.cfg
	nc, err := a.connect(ctx)
	if err != nil {
		return err
	}
	defer a.closeNATS()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("agent: jetstream: %w", err)
	}
	posIDs := make([]string, len(cfg.POS))
	for i, p := range cfg.POS {
		posIDs[i] = p.ExternalPOSID
	}
	streams := intake.Streams{Prefix: cfg.NATS.SubjectPrefix, Commands: cfg.NATS.Streams.Commands, Events: cfg.NATS.Streams.Events,
		EventsMaxBytes: cfg.NATS.EventsMaxBytes, CommandsMaxBytes: cfg.NATS.CommandsMaxBytes}
	setupCtx, cancelSetup := context.WithTimeout(ctx, 30*time.Second)
	defer cancelSetup()
	if err := streams.Ensure(setupCtx, js, cfg.StoreID, posIDs); err != nil {
		return err
	}
	store, err := salestore.Open(setupCtx, js, salestore.Options{Bucket: saleBucket(cfg.StoreID), TTL: cfg.SaleRetention, MaxBytes: cfg.NATS.RecordsMaxBytes})
	if err != nil {
		return err
	}
	checkCtx, cancelCheck := context.WithTimeout(ctx, time.Minute)
	store, err = a.checkStore(checkCtx, js, streams, store, posIDs)
	cancelCheck()
	if err != nil {
		return err
	}
	api, err := qrorder.New(qrorder.Options{
		BaseURL: cfg.MercadoPago.BaseURL, Token: a.o.Token, HTTPClient: a.o.HTTPClient,
		RequestTimeout: cfg.MercadoPago.RequestTimeout, RetryBudget: cfg.MercadoPago.RetryBudget,
		BackoffBase: a.o.Backoff, Logger: a.log, Observer: observers{a.metrics, a.health},
		UserAgent: "posagent/" + version.Version(),
	})
	if err != nil {
		return err
	}
	pub := events.NewPublisher(js, cfg.NATS.SubjectPrefix, cfg.StoreID)

	// Background work (pollers, displays, printers) stops with runCtx;
	// command handling gets a grace period after ctx ends.
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	g, gctx := errgroup.WithContext(runCtx)
	g.Go(func() error {
		a.probeAPI(gctx, func(ctx context.Context, id string) error { _, err := api.Get(ctx, id); return err }, a.o.ProbeEvery)
		return nil
	})
	var consumers []*intake.Consumer
	for i := range cfg.POS {
		p := &cfg.POS[i]
		parts, err := a.buildPOS(p, api, store, pub)
		if err != nil {
			return err
		}
		g.Go(func() error { return parts.screens.Run(gctx) })
		if parts.printer != nil {
			g.Go(func() error { return parts.printer.Run(gctx) })
		}
		if err := parts.session.Start(gctx); err != nil {
			return fmt.Errorf("agent: POS %s: %w", p.ExternalPOSID, err)
		}
		cons := intake.NewConsumer(js, streams, cfg.StoreID, p.ExternalPOSID, parts.session, a.log)
		cons.Grace = a.o.ShutdownGrace
		cons.StallAfter = 2*cfg.MercadoPago.RetryBudget + time.Minute
		if _, err := cons.Setup(setupCtx); err != nil {
			return err
		}
		consumers = append(consumers, cons)
		a.health.addConsumer(p.ExternalPOSID, cons)
	}
	g.Go(func() error { a.sampleConsumers(gctx, js, streams.Commands, consumers); return nil })
	a.startStrays(g, gctx, nc, js, streams, watchedEvents{a.feed.tap(pub), a.health})
	g.Go(func() error { a.reviveJetStream(gctx); return nil })
	svc, err := a.startStatusService(nc)
	if err != nil {
		return err
	}
	defer func() { _ = svc.Stop() }()
	srv, ln, err := a.listenHTTP()
	if err != nil {
		return err
	}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("agent: http: %w", err)
		}
		return nil
	})
	consCtx, stopConsumers := context.WithCancel(gctx)
	defer stopConsumers()
	var consWG sync.WaitGroup
	for _, c := range consumers {
		consWG.Add(1)
		go func() { defer consWG.Done(); _ = c.Run(consCtx) }()
	}
	for _, c := range consumers {
		select {
		case <-c.Started():
		case <-ctx.Done():
		}
	}
	a.syncStoreDirs()
	a.log.Info("posagent ready", "version", version.Version(), "store_id", cfg.StoreID, "pos", posIDs,
		"nats", a.NATSURL(), "http", a.HTTPAddr())
	close(a.ready)
	if a.o.Ready != nil {
		a.o.Ready()
	}
	g.Go(func() error { a.watchdog(gctx); return nil })

	select {
	case <-ctx.Done():
	case <-gctx.Done():
	}
	a.log.Info("shutting down: no new commands; in-flight ones get a grace period", "grace", a.o.ShutdownGrace)
	stopConsumers()
	consWG.Wait()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shutCtx)
	cancel()
	stopRun()
	for _, s := range a.allSessions() {
		s.Wait()
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
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
		subject := cfg.NATS.SubjectPrefix + "." + cfg.StoreID + "." + p.ExternalPOSID + ".status"
		err := svc.AddEndpoint("status_"+p.ExternalPOSID, micro.HandlerFunc(func(r micro.Request) {
			_ = r.RespondJSON(a.posStatus(pos))
		}), micro.WithEndpointSubject(subject), micro.WithEndpointMetadata(map[string]string{"pos": p.ExternalPOSID}))
		if err != nil {
			return nil, fmt.Errorf("agent: status endpoint %s: %w", subject, err)
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
