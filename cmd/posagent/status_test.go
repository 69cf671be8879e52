package main

import (
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/fleet"
)

// `posagent status` knows every row before it prints: its columns fit the
// widest value, so a 64-character sale id does not push the amount, the
// last event and the rest out of their columns.
func TestStatusColumnsFitLongValues(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	agent := fleet.Agent{ID: "a1", Version: "1.2.3", StoreID: "S1", Started: now.Add(-time.Hour)}
	long := strings.Repeat("7", 64)
	last := &events.Event{Status: "created", At: now.Add(-5 * time.Second).Format(events.TimeFormat)}
	rows := []fleet.Row{
		{Agent: agent, POS: "STORE001POS001", Status: &events.StatusReply{State: "awaiting_payment", SaleID: long, TotalAmount: "1234567.89", Printer: "ok", LastEvent: last}},
		{Agent: agent, POS: "P2", Status: &events.StatusReply{State: "idle", Printer: "paper_near_end"}},
		{Agent: agent, POS: "P3", Status: &events.StatusReply{State: "awaiting_payment", SaleID: "9", TotalAmount: "1.00", LastEvent: last}},
	}
	var b strings.Builder
	printStatus(&b, storeStatus{StoreID: "S1", Agent: &agentStatus{Version: "1.2.3"}, Health: &healthStatus{Status: "ok"}}, rows, now)
	var table []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "STORE ") || strings.HasPrefix(l, "S1 ") {
			table = append(table, l)
		}
	}
	if len(table) != 4 {
		t.Fatalf("no table:\n%s", b.String())
	}
	// Every column starts where its title does, on every line.
	header := table[0]
	for _, title := range []string{"AMOUNT", "LAST EVENT", "VERSION", "UPTIME", "PRINTER"} {
		col := strings.Index(header, title)
		for _, l := range table[1:] {
			if col >= len(l) || l[col] == ' ' || l[col-1] != ' ' {
				t.Errorf("column %s (at %d) is not aligned on %q\n%s", title, col, l, b.String())
			}
		}
	}
}
