package agent

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/salestore"
	"github.com/posagent/posagent/internal/session"
)

type posParts struct {
	session *session.Session
	screens *display.Controller
	printer runner
}

// buildPOS makes one POS's display controller, printer and session.
func (a *Agent) buildPOS(p *config.POS, api *qrorder.Client, store *salestore.Store, pub *events.Publisher, evlog *events.Log) (*posParts, error) {
	cfg := a.cfg
	pos := p.ExternalPOSID
	log := a.log.With("pos", pos)
	a.metrics.InitPOS(pos)
	sinks, err := DisplaySinks(p, a.o.Terminal, a.o.PlainTerminal, a.web)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(sinks, func(s display.NamedSink) bool { return s.Type == "web" }) {
		// /display/<pos> serves every configured POS, so a kiosk browser can
		// be pointed at any of them without a configuration change.
		sinks = append(sinks, display.NamedSink{Type: "web", Sink: a.web.Sink(pos)})
	}
	screens := display.NewController(display.ControllerConfig{
		POS: pos, Sinks: sinks, ResultHold: p.ResultHold, Logger: log,
		Idle:    display.Screen{State: display.StateIdle, POS: pos, StoreName: cfg.StoreName, Locale: cfg.Locale},
		OnError: func(typ string, err error) { a.metrics.DisplayError(pos, typ) },
	})
	parts := &posParts{screens: screens}
	deps := session.Deps{API: api, Store: watchedStore{store, a.health}, Events: watchedEvents{a.feed.tap(pub), a.health},
		Log: evlog, Screens: screens, Metrics: a.metrics, Logger: a.log}
	if p.Printer != nil {
		pr, err := a.newPrinter(pos, p.Printer, pub)
		if err != nil {
			return nil, err
		}
		parts.printer = pr
		deps.Printer = pr
	}
	parts.session = session.New(session.Config{
		StoreID: cfg.StoreID, StoreName: cfg.StoreName, Locale: cfg.Locale, POS: pos,
		Mode: qrorder.Mode(p.Mode), StaticQRData: p.StaticQRData, ExpirationTime: p.ExpirationTime,
		ExternalReferencePrefix: p.ExternalReferencePrefix, MaxCommandAge: p.MaxCommandAge,
		PollInterval: cfg.MercadoPago.PollInterval, Retention: cfg.SaleRetention,
	}, deps)
	a.mu.Lock()
	a.sessions[pos] = parts.session
	a.mu.Unlock()
	return parts, nil
}

// runner is a part with its own loop.
type runner interface {
	Run(ctx context.Context) error
}

// DisplaySinks makes the display adapters a POS's config lists; web
// displays register the POS on web.
func DisplaySinks(p *config.POS, terminal io.Writer, plain bool, web *display.Web) ([]display.NamedSink, error) {
	var sinks []display.NamedSink
	for i, d := range p.Displays {
		ecc, err := display.ParseECC(d.ECC)
		if err != nil {
			return nil, fmt.Errorf("agent: pos %s displays[%d].ecc: %w", p.ExternalPOSID, i, err)
		}
		opt := display.RenderOptions{ECC: ecc}
		var sink display.Sink
		switch d.Type {
		case "terminal":
			t := display.NewTerminal(terminal)
			if plain {
				t = t.WithoutANSI()
			}
			sink = t
		case "png":
			sink = display.NewPNG(d.Path, d.Size, opt)
		case "framebuffer":
			sink = display.NewFramebuffer(d.Device, opt)
		case "web":
			sink = web.Sink(p.ExternalPOSID)
		default:
			return nil, fmt.Errorf("agent: pos %s displays[%d]: unknown type %q", p.ExternalPOSID, i, d.Type)
		}
		sinks = append(sinks, display.NamedSink{Type: d.Type, Sink: sink})
	}
	return sinks, nil
}
