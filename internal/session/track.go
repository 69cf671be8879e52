package session

import (
	"context"
	"errors"
	"time"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/subject"
)

// finalStatus maps a final order status to the sale's event status.
func finalStatus(o *qrorder.Order) string {
	switch {
	case o.Status.Paid():
		return events.Processed
	case o.Status == qrorder.StatusExpired:
		return events.Expired
	case o.Status == qrorder.StatusCanceled:
		return events.Canceled
	}
	return ""
}

// finish records that the API says rec's order is over (paid, expired or
// canceled) and tells the register and the customer. detail overrides the
// order's status_detail (orphan_canceled).
func (s *Session) finish(ctx context.Context, rec *saleRecord, o *qrorder.Order, detail string) error {
	status := finalStatus(o)
	if status == "" {
		return errors.New("session: finish on a non-final order status " + string(o.Status))
	}
	ev := s.newEvent(status, rec.SaleID)
	ev.OrderID, ev.Mode, ev.TotalAmount = o.ID, string(rec.Request.Config.QR.Mode), rec.Request.TotalAmount.String()
	ev.StatusDetail = o.StatusDetail
	if status == events.Processed && o.Status == qrorder.StatusProcessed && ev.StatusDetail == "" {
		ev.StatusDetail = "accredited"
	}
	if detail != "" {
		ev.StatusDetail = detail
	}
	if ev.StatusDetail == "" {
		ev.StatusDetail = status
	}
	ev.MsgID = subject.SaleMsgID(s.cfg.StoreID, s.cfg.POS, rec.SaleID, status)
	ev, err := s.publishOnce(ctx, ev)
	if err != nil {
		return err
	}
	rec.State, rec.LastEvent, rec.Orphan, rec.PendingCancel = status, ev, false, 0
	if rec.OrderID == "" {
		rec.OrderID = o.ID
	}
	if rec.PaymentID == "" {
		rec.PaymentID = o.PaymentID()
	}
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	wasActive := s.active != nil && s.active.SaleID == rec.SaleID
	if wasActive {
		s.active = nil
		s.stopPoller()
		s.showResult(rec, status)
	}
	s.log.Info("order final", "sale_id", rec.SaleID, "order_id", o.ID, "status", status, "status_detail", ev.StatusDetail)
	// The POS record keeps naming the ended sale as Active (see posRecord):
	// it is written only when an orphan is resolved.
	return s.setPOS(ctx, func(p *posRecord) { p.Orphans = removeString(p.Orphans, rec.SaleID) })
}

// cancelOrder cancels rec's order and returns the order as it now is: a
// cancel refused because the order moved on is answered by reading it.
func (s *Session) cancelOrder(ctx context.Context, rec *saleRecord) (*qrorder.Order, error) {
	o, err := s.d.API.Cancel(ctx, qrorder.SaleKey(s.cfg.POS, rec.SaleID, qrorder.OpCancel), rec.OrderID)
	if err == nil {
		if !o.Status.Final() {
			// Any 2xx to a cancel is success, whatever status it echoes.
			o.Status = qrorder.StatusCanceled
		}
		return o, nil
	}
	if apiErr, ok := qrorder.AsAPIError(err); ok && !apiErr.Retryable() && !apiErr.Unauthorized() {
		got, gerr := s.d.API.Get(ctx, rec.OrderID)
		if gerr != nil {
			return nil, gerr
		}
		if got.Status.Final() {
			return got, nil
		}
	}
	return nil, err
}

// supersede ends the active sale before a new one: a POS has at most one
// open order. The old sale's final event comes first.
func (s *Session) supersede(ctx context.Context) error {
	old := s.active
	s.log.Info("new sale cancels the open order first", "sale_id", old.SaleID, "order_id", old.OrderID)
	o, err := s.cancelOrder(ctx, old)
	if err != nil {
		if apiErr, ok := finalRefusal(err); ok {
			return s.abandon(ctx, old, apiErr)
		}
		return err
	}
	return s.finish(ctx, old, o, "")
}

// finalRefusal returns the API's answer when asking again cannot help: a
// 4xx other than 401 (a token problem) and 429.
func finalRefusal(err error) (*qrorder.APIError, bool) {
	apiErr, ok := qrorder.AsAPIError(err)
	if !ok || apiErr.Retryable() || apiErr.Unauthorized() {
		return nil, false
	}
	return apiErr, true
}

// abandon ends a sale whose order the API will neither cancel nor show
// (docs/degraded.md), so that it never blocks its POS: an order the API
// does not know (404 on reading it) cannot be paid and ends canceled
// (order_not_found); any other final refusal ends the sale failed with
// the API's code.
func (s *Session) abandon(ctx context.Context, rec *saleRecord, apiErr *qrorder.APIError) error {
	status, state := events.Failed, stateFailed
	if apiErr.NotFound() && apiErr.Endpoint == "get" {
		status, state = events.Canceled, stateCanceled
	}
	ev := s.newEvent(status, rec.SaleID)
	ev.OrderID, ev.Mode, ev.TotalAmount = rec.OrderID, string(rec.Request.Config.QR.Mode), rec.Request.TotalAmount.String()
	if status == events.Canceled {
		ev.StatusDetail = "order_not_found"
	} else {
		ev.Error = &events.Error{Code: apiErr.Code, Message: "the open order could not be canceled nor read: " + apiErr.Error()}
	}
	ev.MsgID = subject.SaleMsgID(s.cfg.StoreID, s.cfg.POS, rec.SaleID, status)
	ev, err := s.publishOnce(ctx, ev)
	if err != nil {
		return err
	}
	rec.State, rec.LastEvent, rec.Orphan = state, ev, false
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	if s.active != nil && s.active.SaleID == rec.SaleID {
		s.active = nil
		s.stopPoller()
		s.showResult(rec, status)
	}
	s.log.Error("the API refuses to cancel or show the open order for good; the sale is ended so the POS can go on",
		"sale_id", rec.SaleID, "order_id", rec.OrderID, "status", status, "err", apiErr)
	return s.setPOS(ctx, func(p *posRecord) {
		if p.Active == rec.SaleID {
			p.Active = ""
		}
	})
}

// poller follows one open order.
type poller struct {
	orderID string
	saleID  string
	poke    chan struct{}
	// cancel ends the poll's context; stopped is set by stopPoller,
	// before or after the poll starts. Both guarded by Session.mu.
	cancel  context.CancelFunc
	stopped bool
}

func (s *Session) startPoller(rec *saleRecord) {
	s.stopPoller()
	p := &poller{orderID: rec.OrderID, saleID: rec.SaleID, poke: make(chan struct{}, 1)}
	s.poller = p
	expiresAt := rec.ExpiresAt
	s.goBackground(func(ctx context.Context) {
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s.mu.Lock()
		stopped := p.stopped
		p.cancel = cancel
		s.mu.Unlock()
		if !stopped {
			s.poll(ctx, pctx, p, expiresAt)
		}
	})
}

func (s *Session) stopPoller() {
	if p := s.poller; p != nil {
		p.stopped = true
		if p.cancel != nil {
			p.cancel()
		}
		s.poller = nil
	}
}

// maxPollInterval caps the polling interval after errors, and is the
// interval once an order is well past its expected expiry (the API, not
// the local clock, says when it expired).
const maxPollInterval = 30 * time.Second

// poll asks the API about the order until it is final or the poller is
// stopped (pctx ends). It is not bounded by the retry budget: while the
// customer may pay, the agent keeps asking. ctx is the session's.
func (s *Session) poll(ctx, pctx context.Context, p *poller, expiresAt time.Time) {
	interval := s.cfg.PollInterval
	t := time.NewTimer(interval)
	defer t.Stop()
	touched := s.d.Now()
	for {
		select {
		case <-pctx.Done():
			return
		case <-t.C:
		case <-p.poke:
		}
		if now := s.d.Now(); s.cfg.Retention > 0 && now.Sub(touched) > s.cfg.Retention/2 {
			// An order may stay open longer than records are kept
			// (expiration_time up to 3600 h): rewrite its record. The
			// next rewrite counts from when this one began.
			s.touch(pctx, p.saleID)
			touched = now
		}
		o, err := s.d.API.Get(pctx, p.orderID)
		next := s.cfg.PollInterval
		if !expiresAt.IsZero() && s.d.Now().After(expiresAt.Add(2*time.Minute)) {
			next = max(next, maxPollInterval)
		}
		switch {
		case err != nil:
			if pctx.Err() != nil {
				return
			}
			interval = min(interval*2, maxPollInterval)
			next = interval
			s.log.Warn("polling the order failed", "order_id", p.orderID, "err", err, "next", next)
		case o.Status.Final():
			if s.applyFinal(ctx, pctx, p, o) {
				return
			}
			next = s.cfg.PollInterval
		default:
			interval = s.cfg.PollInterval
			if !o.Status.Known() {
				s.log.Warn("order in a status the agent does not know; not treated as paid", "order_id", p.orderID, "status", o.Status)
			}
		}
		t.Reset(next)
	}
}

// applyFinal records a final status found by the poller; it reports
// whether the poller is done.
func (s *Session) applyFinal(ctx, pctx context.Context, p *poller, o *qrorder.Order) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.updateSnapshot()
	if pctx.Err() != nil || s.active == nil || s.active.SaleID != p.saleID {
		return true // a command finished it meanwhile
	}
	// finish stops this poller: record with the session's context.
	if err := s.finish(ctx, s.active, o, ""); err != nil {
		s.log.Warn("recording the final status failed; will retry", "order_id", p.orderID, "err", err)
		return false
	}
	return true
}

// touch rewrites an open sale's record and the POS record so the store's
// retention does not forget them.
func (s *Session) touch(ctx context.Context, saleID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active == nil || s.active.SaleID != saleID {
		return
	}
	if err := s.putSale(ctx, s.active); err != nil {
		s.log.Warn("refreshing the open sale's record failed", "sale_id", saleID, "err", err)
		return
	}
	if err := s.d.Store.Put(ctx, s.posKey(), &s.posRec); err != nil {
		s.log.Warn("refreshing the POS record failed", "err", err)
	}
}
