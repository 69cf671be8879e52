package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/subject"
)

func (s *Session) unknownSale(ctx context.Context, d Delivery, saleID string) error {
	return s.reject(ctx, d, &command.Rejection{Code: command.CodeUnknownSale, Field: "sale_id", SaleID: saleID,
		Message: "no sale with this sale_id on this POS (or it is older than sale_retention)"}, "")
}

func (s *Session) invalidState(ctx context.Context, d Delivery, rec *saleRecord, what string) error {
	return s.reject(ctx, d, &command.Rejection{Code: command.CodeInvalidState, SaleID: rec.SaleID,
		Message: fmt.Sprintf("%s: the sale is %s", what, rec.saleStatus())}, rec.saleStatus())
}

func (s *Session) handleCancel(ctx context.Context, d Delivery, c command.Cancel) error {
	rec, err := s.getSale(ctx, c.SaleID)
	if err != nil {
		return err
	}
	if rec == nil {
		return s.unknownSale(ctx, d, c.SaleID)
	}
	if rec.State != stateAwaiting {
		if d.NumDelivered > 1 && endsSale(rec.LastEvent.Status) {
			// This very cancel may have ended the sale before the agent
			// stopped (or the poller saw the outcome first): answer with
			// the sale's final event rather than a refusal. If this
			// process already sent that event live (its record could not
			// be written), the register has it: never send it twice.
			if _, sent := s.fx.get("evt:" + rec.LastEvent.MsgID); sent {
				s.count(string(command.VerbCancel), "replayed")
				return nil
			}
			return s.replay(ctx, d, string(command.VerbCancel), rec.LastEvent, 0)
		}
		return s.invalidState(ctx, d, rec, "only an unpaid order can be canceled")
	}
	if s.active != nil && s.active.SaleID == rec.SaleID {
		rec = s.active
	}
	o, err := s.cancelOrder(ctx, rec)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if apiErr, ok := finalRefusal(err); ok && apiErr.NotFound() && apiErr.Endpoint == "get" {
			// The API does not know the order: nobody can pay it.
			if err := s.abandon(ctx, rec, apiErr); err != nil {
				return err
			}
			s.count(string(command.VerbCancel), events.Canceled)
			return nil
		}
		if apiErr, ok := qrorder.AsAPIError(err); ok && !apiErr.Retryable() {
			return s.reject(ctx, d, &command.Rejection{Code: apiErr.Code, SaleID: rec.SaleID, Message: apiErr.Error()}, rec.saleStatus())
		}
		// The cancel may have been carried out with its answer lost:
		// resolved in the background with the same key, never failed.
		return s.deferCancel(ctx, d, rec, err)
	}
	if err := s.finish(ctx, rec, o, ""); err != nil {
		return err
	}
	s.count(string(command.VerbCancel), finalStatus(o))
	return nil
}

func (s *Session) handleRefund(ctx context.Context, d Delivery, c command.Refund) error {
	rec, err := s.getSale(ctx, c.SaleID)
	if err != nil {
		return err
	}
	if rec == nil {
		return s.unknownSale(ctx, d, c.SaleID)
	}
	if rej := refundIDReused(rec, c); rej != nil {
		return s.reject(ctx, d, rej, rec.saleStatus())
	}
	if done, ok := rec.Refunds[c.RefundID]; ok {
		return s.replay(ctx, d, string(command.VerbRefund), done.Event, done.CmdSeq)
	}
	if rej, invalid := refundRefusal(rec, c); rej != nil {
		return s.reject(ctx, d, rej, rec.saleStatus())
	} else if invalid != "" {
		return s.invalidState(ctx, d, rec, invalid)
	}
	o, err := s.refundOrder(ctx, rec, c.RefundID, c.Amount)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if apiErr, ok := qrorder.AsAPIError(err); ok && !apiErr.Retryable() {
			return s.reject(ctx, d, &command.Rejection{Code: apiErr.Code, SaleID: rec.SaleID, Message: apiErr.Error()}, rec.saleStatus())
		}
		var fe *qrorder.FieldError
		if errors.As(err, &fe) {
			return s.reject(ctx, d, &command.Rejection{Code: fe.Code, SaleID: rec.SaleID, Message: fe.Error()}, rec.saleStatus())
		}
		// The refund may have been carried out with its answer lost:
		// resolved in the background with the same key, never failed.
		return s.deferRefund(ctx, rec, c.RefundID, pendingRefund{CmdSeq: d.Seq, Amount: c.Amount}, err)
	}
	return s.recordRefund(ctx, rec, c.RefundID, pendingRefund{CmdSeq: d.Seq, Amount: c.Amount}, o)
}

// refundOrder asks the API for the refund and returns the order as it
// then is. A refund refused with 409 (the order's state moved on) is
// answered by reading the order: if it shows the refund carried out, that
// order is the answer; otherwise the refusal stands.
func (s *Session) refundOrder(ctx context.Context, rec *saleRecord, refundID string, amount *money.Cents) (*qrorder.Order, error) {
	o, err := s.d.API.Refund(ctx, qrorder.SaleRefundKey(s.cfg.POS, rec.SaleID, refundID), rec.OrderID, refundRequest(rec, amount))
	if apiErr, ok := qrorder.AsAPIError(err); !ok || !apiErr.Conflict() {
		return o, err
	}
	got, gerr := s.d.API.Get(ctx, rec.OrderID)
	if gerr != nil {
		return nil, gerr
	}
	if got.Status == qrorder.StatusRefunded || amount != nil && got.RefundedCents() >= refundedSoFar(rec)+*amount {
		return got, nil
	}
	return nil, err
}

// refundRequest is the refund of amount (nil: the rest, in full).
func refundRequest(rec *saleRecord, amount *money.Cents) *qrorder.RefundRequest {
	if amount == nil {
		return nil
	}
	return &qrorder.RefundRequest{Transactions: []qrorder.RefundTransaction{{ID: rec.PaymentID, Amount: *amount}}}
}

// recordRefund tells the register and records a refund the API carried out.
func (s *Session) recordRefund(ctx context.Context, rec *saleRecord, refundID string, p pendingRefund, o *qrorder.Order) error {
	total := rec.Request.TotalAmount
	refunded := refundedSoFar(rec)
	// The API's own refunds list is the truth when it has one; otherwise
	// add up what was asked.
	now := o.RefundedCents()
	if now == 0 {
		now = total
		if p.Amount != nil {
			now = refunded + *p.Amount
		}
	}
	detail := "partially_refunded"
	if o.Status == qrorder.StatusRefunded || now >= total {
		detail = "refunded"
	}
	ev := s.newEvent(events.Refunded, rec.SaleID)
	ev.OrderID, ev.Mode, ev.TotalAmount = rec.OrderID, string(rec.Request.Config.QR.Mode), total.String()
	ev.StatusDetail, ev.RefundID, ev.RefundedAmount = detail, refundID, now.String()
	ev.MsgID = subject.RefundMsgID(s.cfg.StoreID, s.cfg.POS, rec.SaleID, refundID)
	ev, err := s.publishOnce(ctx, ev)
	if err != nil {
		return err
	}
	if rec.Refunds == nil {
		rec.Refunds = map[string]refundRec{}
	}
	rec.Refunds[refundID] = refundRec{CmdSeq: p.CmdSeq, Event: ev, Asked: refundAsked(p.Amount)}
	delete(rec.PendingRefunds, refundID)
	rec.State, rec.LastEvent = stateRefunded, ev
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	s.count(string(command.VerbRefund), events.Refunded)
	s.log.Info("refunded", "sale_id", rec.SaleID, "order_id", rec.OrderID, "refund_id", refundID, "refunded_amount", ev.RefundedAmount)
	return nil
}

// refundAsked is what a refund asks for: its amount, or "total".
func refundAsked(amount *money.Cents) string {
	if amount == nil {
		return command.TotalRefundID
	}
	return amount.String()
}

// refundIDReused is the rejection of a refund whose refund_id was already
// used on the sale (done or pending) for another amount; nil otherwise.
// Records written before refunds remembered their amount never refuse.
func refundIDReused(rec *saleRecord, c command.Refund) *command.Rejection {
	before := ""
	if done, ok := rec.Refunds[c.RefundID]; ok {
		before = done.Asked
	} else if p, ok := rec.PendingRefunds[c.RefundID]; ok {
		before = refundAsked(p.Amount)
	}
	if asked := refundAsked(c.Amount); before != "" && before != asked {
		return &command.Rejection{Code: command.CodeDuplicateRefund, Field: "refund_id", SaleID: rec.SaleID,
			Message: fmt.Sprintf("refund_id was already used on this sale for %s, not %s: use a new refund_id", before, asked)}
	}
	return nil
}

// refundRefusal says why a new refund of rec cannot be sent to the API
// (invalid is true for a state problem); nil rejection and false: go.
func refundRefusal(rec *saleRecord, c command.Refund) (rej *command.Rejection, invalid string) {
	if rec.State != stateProcessed && rec.State != stateRefunded {
		return nil, "only a paid sale can be refunded"
	}
	total := rec.Request.TotalAmount
	rest := total - refundedSoFar(rec)
	switch {
	case rest <= 0:
		return nil, "the sale is already refunded in full"
	case c.Amount == nil:
		return nil, ""
	case *c.Amount > rest:
		return &command.Rejection{Code: qrorder.CodeValue, Field: "amount", SaleID: rec.SaleID,
			Message: fmt.Sprintf("%s exceeds what is left to refund (%s of %s)", c.Amount.String(), rest, total)}, ""
	case rec.PaymentID == "":
		return nil, "the order has no payment id to refund partially"
	}
	return nil, ""
}

// refundedSoFar is the running refunded total recorded for rec.
func refundedSoFar(rec *saleRecord) money.Cents {
	var best money.Cents
	for _, r := range rec.Refunds {
		if c, err := money.Parse(r.Event.RefundedAmount); err == nil && c > best {
			best = c
		}
	}
	return best
}

func (s *Session) handleDisplay(ctx context.Context, d Delivery, c command.Display) error {
	if s.stale(d) {
		s.count(string(command.VerbDisplay), "stale_dropped")
		s.log.Info("stale display command dropped", "seq", d.Seq)
		return nil
	}
	if s.active != nil {
		return s.reject(ctx, d, &command.Rejection{Code: command.CodeInvalidState, SaleID: s.active.SaleID,
			Message: "a QR awaits payment on this POS; the display keeps showing it"}, events.Created)
	}
	if c.Empty() {
		s.cart = nil
		s.showIdle()
	} else {
		s.cart = &c
		s.showCart(c)
	}
	s.count(string(command.VerbDisplay), "shown")
	return nil
}
