package session

import (
	"context"
	"slices"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/qrorder"
)

// pendingRefund is a refund sent to the API whose answer did not come
// within the retry budget.
type pendingRefund struct {
	CmdSeq uint64       `json:"cmd_seq"`
	Amount *money.Cents `json:"amount,omitempty"` // nil: the rest, in full
}

// deferCancel records a cancel whose answer was lost and resolves it in
// the background with the same key: the register hears the sale's true
// final event once the API answers (docs/degraded.md). The command is
// done: its outcome is the resolution.
func (s *Session) deferCancel(ctx context.Context, d Delivery, rec *saleRecord, cause error) error {
	rec.PendingCancel = d.Seq
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	s.log.Warn("cancel not answered within the retry budget; resolving it in the background with the same key", "sale_id", rec.SaleID, "err", cause)
	return s.addPending(ctx, rec.SaleID)
}

// deferRefund records a refund whose answer was lost, like deferCancel.
func (s *Session) deferRefund(ctx context.Context, rec *saleRecord, refundID string, p pendingRefund, cause error) error {
	if rec.PendingRefunds == nil {
		rec.PendingRefunds = map[string]pendingRefund{}
	}
	rec.PendingRefunds[refundID] = p
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	s.log.Warn("refund not answered within the retry budget; resolving it in the background with the same key", "sale_id", rec.SaleID, "refund_id", refundID, "err", cause)
	return s.addPending(ctx, rec.SaleID)
}

func (s *Session) addPending(ctx context.Context, saleID string) error {
	if slices.Contains(s.posRec.Pending, saleID) {
		return nil // its resolver runs
	}
	if err := s.setPOS(ctx, func(p *posRecord) { p.Pending = append(p.Pending, saleID) }); err != nil {
		return err
	}
	s.startPending(saleID)
	return nil
}

// startPending asks again, at the create resolver's backoff, until the
// sale has nothing pending.
func (s *Session) startPending(saleID string) {
	s.startRetrying(saleID, "resolving a lost cancel or refund failed; will retry", s.pendingOnce)
}

// pendingOnce makes one attempt at each pending operation of the sale; it
// reports whether nothing is left.
func (s *Session) pendingOnce(ctx context.Context, saleID string) (bool, error) {
	s.mu.Lock()
	rec, err := s.getSale(ctx, saleID)
	s.mu.Unlock()
	if err != nil {
		return false, err
	}
	if rec != nil && rec.PendingCancel != 0 {
		if err := s.resolveCancel(ctx, rec); err != nil {
			return false, err
		}
	}
	if rec != nil {
		for id, p := range rec.PendingRefunds {
			if err := s.resolveRefund(ctx, saleID, id, p); err != nil {
				return false, err
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.updateSnapshot()
	if rec, err = s.getSale(ctx, saleID); err != nil {
		return false, err
	}
	if rec != nil && (rec.PendingCancel != 0 || len(rec.PendingRefunds) > 0) {
		return false, nil
	}
	return true, s.setPOS(ctx, func(p *posRecord) { p.Pending = removeString(p.Pending, saleID) })
}

func (s *Session) resolveCancel(ctx context.Context, rec *saleRecord) error {
	var o *qrorder.Order
	var err error
	if rec.State == stateAwaiting {
		o, err = s.cancelOrder(ctx, rec)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.updateSnapshot()
	cur, gerr := s.getSale(ctx, rec.SaleID)
	if gerr != nil || cur == nil || cur.PendingCancel == 0 {
		return gerr
	}
	seq := cur.PendingCancel
	if s.active != nil && s.active.SaleID == cur.SaleID {
		cur = s.active
	}
	switch {
	case cur.State != stateAwaiting:
		// Something else ended the sale (the poller, a new sale): its
		// final event is the cancel's answer.
		cur.PendingCancel = 0
		return s.putSale(ctx, cur)
	case err == nil && o != nil:
		if err := s.finish(ctx, cur, o, ""); err != nil {
			return err
		}
		s.count(string(command.VerbCancel), finalStatus(o))
		return nil
	}
	apiErr, final := finalRefusal(err)
	if !final {
		return err
	}
	if apiErr.NotFound() && apiErr.Endpoint == "get" {
		return s.abandon(ctx, cur, apiErr)
	}
	d := Delivery{Verb: string(command.VerbCancel), Seq: seq}
	if err := s.reject(ctx, d, &command.Rejection{Code: apiErr.Code, SaleID: cur.SaleID, Message: apiErr.Error()}, cur.saleStatus()); err != nil {
		return err
	}
	cur.PendingCancel = 0
	return s.putSale(ctx, cur)
}

func (s *Session) resolveRefund(ctx context.Context, saleID, refundID string, p pendingRefund) error {
	s.mu.Lock()
	rec, err := s.getSale(ctx, saleID)
	s.mu.Unlock()
	if err != nil || rec == nil {
		return err
	}
	o, err := s.refundOrder(ctx, rec, refundID, p.Amount)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, gerr := s.getSale(ctx, saleID)
	if gerr != nil || rec == nil {
		return gerr
	}
	if _, still := rec.PendingRefunds[refundID]; !still {
		return nil // a resent refund command settled it meanwhile
	}
	if _, done := rec.Refunds[refundID]; done {
		delete(rec.PendingRefunds, refundID)
		return s.putSale(ctx, rec)
	}
	if err == nil {
		return s.recordRefund(ctx, rec, refundID, p, o)
	}
	apiErr, final := finalRefusal(err)
	if !final {
		return err
	}
	// The API refuses the refund outright: it was not carried out.
	d := Delivery{Verb: string(command.VerbRefund), Seq: p.CmdSeq}
	if err := s.reject(ctx, d, &command.Rejection{Code: apiErr.Code, SaleID: saleID, Message: apiErr.Error()}, rec.saleStatus()); err != nil {
		return err
	}
	delete(rec.PendingRefunds, refundID)
	return s.putSale(ctx, rec)
}
