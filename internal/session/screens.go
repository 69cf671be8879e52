package session

import (
	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/printer"
)

func (s *Session) screen(state display.State) display.Screen {
	return display.Screen{State: state, POS: s.cfg.POS, StoreName: s.cfg.StoreName, Locale: s.cfg.Locale}
}

func (s *Session) show(sc display.Screen) {
	if s.d.Screens != nil {
		s.d.Screens.Show(sc)
	}
}

func (s *Session) showIdle() { s.show(s.screen(display.StateIdle)) }

func (s *Session) showCart(c command.Display) {
	sc := s.screen(display.StateCart)
	for _, l := range c.Lines {
		sc.Lines = append(sc.Lines, display.Line{Title: l.Title, Quantity: l.Quantity, Amount: l.Amount})
	}
	if c.TotalAmount != nil {
		sc.Amount = *c.TotalAmount
	}
	sc.Message = c.Message
	s.show(sc)
}

func (s *Session) saleScreen(state display.State, rec *saleRecord) display.Screen {
	sc := s.screen(state)
	sc.Amount = rec.Request.TotalAmount
	sc.SaleID, sc.OrderID, sc.Mode = rec.SaleID, rec.OrderID, string(rec.Request.Config.QR.Mode)
	return sc
}

func (s *Session) showAwaiting(rec *saleRecord) {
	sc := s.saleScreen(display.StateAwaitingPayment, rec)
	sc.QRData, sc.ExpiresAt = rec.QRData, rec.ExpiresAt
	s.show(sc)
}

func (s *Session) showResult(rec *saleRecord, status string) {
	state := map[string]display.State{"processed": display.StatePaid, "expired": display.StateExpired, "canceled": display.StateCanceled}[status]
	if state == "" {
		state = display.StateError
	}
	s.show(s.saleScreen(state, rec))
}

func (s *Session) showError(rec *saleRecord, msg string) {
	sc := s.saleScreen(display.StateError, rec)
	sc.Message = msg
	s.show(sc)
}

// printReceipt hands the receipt to the printer; the job is dropped if the
// sale no longer awaits payment when the printer gets to it.
func (s *Session) printReceipt(rec *saleRecord) {
	if s.d.Printer == nil {
		return
	}
	saleID := rec.SaleID
	s.d.Printer.Print(printer.Job{
		Receipt: printer.Receipt{
			StoreName: s.cfg.StoreName, Locale: s.cfg.Locale, Amount: rec.Request.TotalAmount, QRData: rec.QRData,
			Mode: string(rec.Request.Config.QR.Mode), OrderID: rec.OrderID, SaleID: rec.SaleID, ExpiresAt: rec.ExpiresAt,
		},
		Wanted: func() bool {
			st := s.Status()
			return st.State == "awaiting_payment" && st.SaleID == saleID
		},
	})
}
