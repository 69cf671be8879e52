package agent

import (
	"github.com/posagent/posagent/internal/events"
)

// posStatus answers the status query for pos: the session's status and
// the printer's health.
func (a *Agent) posStatus(pos string) events.StatusReply {
	var st events.StatusReply
	if s := a.Session(pos); s != nil {
		st = s.Status()
	}
	st.Printer = a.printerHealth(pos)
	return st
}

// printerHealth is pos's printer health, "" without a printer.
func (a *Agent) printerHealth(pos string) string {
	a.health.mu.Lock()
	p := a.health.printers[pos]
	a.health.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.Health()
}
