package agent

import (
	"context"
	"time"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/printer"
	"github.com/posagent/posagent/internal/subject"
)

// printerPart is a POS's printer as the agent runs it.
type printerPart interface {
	runner
	Print(printer.Job)
	Health() string
}

// newPrinter makes a POS's print worker: problems and recoveries become
// `printer` events, metrics and health.
func (a *Agent) newPrinter(pos string, cfg *printer.Config, pub *events.Publisher) (printerPart, error) {
	log := a.log.With("pos", pos, "component", "printer")
	p := printer.New(*cfg, log,
		func(st printer.Status) { a.printerEvent(pub, pos, st) },
		func(status string) { a.metrics.PrinterError(pos, status) })
	a.health.addPrinter(pos, p)
	return p, nil
}

// printerEvent tells the register about a printer problem or recovery.
func (a *Agent) printerEvent(pub *events.Publisher, pos string, st printer.Status) {
	now := time.Now()
	ev := events.Event{Status: string(st), Kind: events.Printer, ExternalPOSID: pos, At: events.Stamp(now),
		MsgID: subject.PrinterMsgID(a.cfg.StoreID, pos, now)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.feed.tap(pub).Publish(ctx, ev); err != nil {
		a.log.Warn("printer event not published", "pos", pos, "status", st, "err", err)
	}
}
