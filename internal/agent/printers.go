package agent

import (
	"context"
	"time"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/printer"
)

// printerPart is a POS's printer as the agent runs it.
type printerPart interface {
	runner
	Print(printer.Job)
	Health() string
}

// PrinterConfig maps a POS's printer section to the printer package.
func PrinterConfig(c *config.Printer) printer.Config {
	return printer.Config{
		Transport: c.Transport, Device: c.Device, Baud: c.Baud, FlowControl: c.FlowControl,
		WriteTimeout: c.WriteTimeout, Profile: c.Profile, QR: c.QR, PaperWidthDots: c.PaperWidthDots,
		CodePage: c.CodePage, MaxModuleDots: c.MaxModuleDots, StatusQuery: c.StatusQuery,
		StatusTimeout: c.StatusTimeout, StatusInterval: c.StatusInterval, RetryMin: c.RetryMin, RetryMax: c.RetryMax,
		RasterBandRows: c.RasterBandRows,
	}
}

// newPrinter makes a POS's print worker: problems and recoveries become
// `printer` events, metrics and health.
func (a *Agent) newPrinter(pos string, c *config.Printer, pub *events.Publisher) (printerPart, error) {
	cfg := PrinterConfig(c)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := a.log.With("pos", pos, "component", "printer")
	p := printer.New(cfg, log,
		func(st printer.Status) { a.printerEvent(pub, pos, st) },
		func(status string) { a.metrics.PrinterError(pos, status) })
	a.health.addPrinter(pos, p)
	return p, nil
}

// printerEvent tells the register about a printer problem or recovery.
func (a *Agent) printerEvent(pub *events.Publisher, pos string, st printer.Status) {
	now := time.Now()
	ev := events.Event{Status: string(st), Kind: events.Printer, ExternalPOSID: pos, At: events.Stamp(now),
		MsgID: events.PrinterMsgID(a.cfg.StoreID, pos, now)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.feed.tap(pub).Publish(ctx, ev); err != nil {
		a.log.Warn("printer event not published", "pos", pos, "status", st, "err", err)
	}
}
