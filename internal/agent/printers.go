package agent

import (
	"errors"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/printer"
)

// printerPart is a POS's printer as the agent runs it.
type printerPart interface {
	runner
	Print(printer.Job)
}

func (a *Agent) newPrinter(pos string, cfg *config.Printer, pub *events.Publisher) (printerPart, error) {
	return nil, errors.New("agent: printers are not wired yet")
}

