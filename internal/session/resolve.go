package session

import (
	"context"
	"time"

	"github.com/posagent/posagent/internal/qrorder"
)

// startResolver resolves a create whose answer was lost: the same key is
// sent again until the API answers. An order it finds is canceled (or, if
// the customer paid it through the POS's fixed QR, reported as processed).
func (s *Session) startResolver(saleID string) {
	s.startRetrying(saleID, "resolving a lost create failed; will retry", s.resolveOnce)
}

// startRetrying runs once for the sale in the background, at the create
// resolver's backoff (1 s doubling up to ResolveMaxInterval), until it
// reports done or the session stops.
func (s *Session) startRetrying(saleID, failure string, once func(ctx context.Context, saleID string) (bool, error)) {
	s.goBackground(func(ctx context.Context) { s.retryUntilDone(ctx, saleID, failure, once) })
}

func (s *Session) retryUntilDone(ctx context.Context, saleID, failure string, once func(ctx context.Context, saleID string) (bool, error)) {
	wait := min(time.Second, s.cfg.ResolveMaxInterval)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		done, err := once(ctx, saleID)
		if done || ctx.Err() != nil {
			return
		}
		s.log.Warn(failure, "sale_id", saleID, "err", err, "next", wait)
		wait = min(wait*2, s.cfg.ResolveMaxInterval)
		t.Reset(wait)
	}
}

// resolveOnce makes one attempt; it reports whether resolution is over.
func (s *Session) resolveOnce(ctx context.Context, saleID string) (bool, error) {
	s.mu.Lock()
	rec, err := s.getSale(ctx, saleID)
	s.mu.Unlock()
	if err != nil {
		return false, err
	}
	if rec == nil || !rec.Orphan {
		return true, nil
	}
	order, err := s.d.API.Create(ctx, qrorder.SaleKey(s.cfg.POS, saleID, qrorder.OpCreate), rec.Request)
	if err != nil {
		if apiErr, ok := qrorder.AsAPIError(err); ok && !apiErr.Retryable() && !apiErr.Unauthorized() {
			// The API refuses the create outright: no order exists.
			s.log.Warn("lost create refused on resolution: no order exists", "sale_id", saleID, "err", err)
			return s.dropOrphan(ctx, saleID)
		}
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.updateSnapshot()
	// A resend of the sale may have taken it over while the lock was free.
	if rec, err = s.getSale(ctx, saleID); err != nil || rec == nil || !rec.Orphan {
		return err == nil, err
	}
	rec.OrderID, rec.PaymentID = order.ID, order.PaymentID()
	if order.Status.Open() {
		if order, err = s.cancelOrder(ctx, rec); err != nil {
			return false, err
		}
	}
	// Canceled now or by an earlier attempt whose answer was lost: either
	// way the orphan was canceled.
	detail := ""
	if order.Status == qrorder.StatusCanceled {
		detail = "orphan_canceled"
	}
	if !order.Status.Final() {
		return false, nil
	}
	s.log.Info("lost create resolved", "sale_id", saleID, "order_id", order.ID, "status", order.Status)
	if err := s.finish(ctx, rec, order, detail); err != nil {
		return false, err
	}
	return true, nil
}

func (s *Session) dropOrphan(ctx context.Context, saleID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.getSale(ctx, saleID)
	if err != nil {
		return false, err
	}
	if rec != nil && rec.Orphan {
		rec.Orphan = false
		if err := s.putSale(ctx, rec); err != nil {
			return false, err
		}
	}
	if err := s.setPOS(ctx, func(p *posRecord) { p.Orphans = removeString(p.Orphans, saleID) }); err != nil {
		return false, err
	}
	return true, nil
}
