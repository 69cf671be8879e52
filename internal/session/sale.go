package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/isoduration"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/subject"
)

const verbSale = string(command.VerbSale)

func (s *Session) handleSale(ctx context.Context, d Delivery, sale command.Sale) error {
	rec, err := s.getSale(ctx, sale.SaleID)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = s.creatingSale(sale.SaleID)
	}
	if rec != nil {
		// A record rebuilt from the events stream (RebuildRecords) has no
		// fingerprint: the sale is answered from it, never created again.
		if rec.Fingerprint != "" && rec.Fingerprint != sale.Fingerprint() {
			return s.reject(ctx, d, &command.Rejection{Code: command.CodeDuplicateSale, Field: "sale_id", SaleID: sale.SaleID,
				Message: "this sale_id was already used for a sale with different content; use a new sale_id"}, rec.saleStatus())
		}
		switch {
		case rec.State == stateCreating:
			// The agent stopped between sending the create and recording its
			// outcome: finish it with the same key.
			return s.create(ctx, d, rec)
		case rec.State == stateFailed && rec.LastEvent.Error != nil && rec.LastEvent.Error.Code == command.CodeAPIUnavailable && rec.Request.Type != "":
			// A retry makes an order: not for a resend the cashier gave
			// up on long ago.
			if stale, err := s.staleDelivery(ctx, d); err != nil {
				return err
			} else if stale {
				return s.rejectStale(ctx, d, sale.SaleID)
			}
			return s.retrySale(ctx, d, rec)
		}
		return s.replay(ctx, d, verbSale, rec.LastEvent, rec.CmdSeq)
	}
	if stale, err := s.staleDelivery(ctx, d); err != nil {
		return err
	} else if stale {
		return s.rejectStale(ctx, d, sale.SaleID)
	}
	req, rej := s.buildRequest(sale)
	if rej != nil {
		return s.reject(ctx, d, rej, "")
	}
	rec = &saleRecord{SaleID: sale.SaleID, Fingerprint: sale.Fingerprint(), CmdSeq: d.Seq, State: stateCreating, Request: req}
	return s.startSale(ctx, d, rec)
}

// staleDelivery reports whether d is to be refused as stale: a first
// delivery older than max_command_age, or a redelivery of one refused so.
func (s *Session) staleDelivery(ctx context.Context, d Delivery) (bool, error) {
	if s.stale(d) {
		return true, nil
	}
	if d.NumDelivered <= 1 {
		return false, nil
	}
	var marked bool
	return s.d.Store.Get(ctx, s.staleKey(d.Seq), &marked)
}

// rejectStale refuses a sale that waited too long in the stream. The
// refusal is recorded first: its redelivery is not "first delivery" any
// more, and must not turn into an order.
func (s *Session) rejectStale(ctx context.Context, d Delivery, saleID string) error {
	if err := s.d.Store.Put(ctx, s.staleKey(d.Seq), true); err != nil {
		return err
	}
	age := s.d.Now().Sub(d.Timestamp).Round(time.Second)
	return s.reject(ctx, d, &command.Rejection{Code: command.CodeStale, SaleID: saleID,
		Message: fmt.Sprintf("the command waited %s in the stream, more than max_command_age %s: no order was created", age, s.cfg.MaxCommandAge)}, "")
}

// buildRequest maps a sale to the create request with the POS's defaults.
func (s *Session) buildRequest(sale command.Sale) (qrorder.CreateRequest, *command.Rejection) {
	ref := s.cfg.ExternalReferencePrefix + sale.SaleID
	if len(ref) > qrorder.MaxExternalReference {
		return qrorder.CreateRequest{}, &command.Rejection{Code: qrorder.CodeValue, Field: "sale_id", SaleID: sale.SaleID,
			Message: fmt.Sprintf("external_reference_prefix %q + sale_id is %d characters, at most 64", s.cfg.ExternalReferencePrefix, len(ref))}
	}
	mode := sale.Mode
	if mode == "" {
		mode = s.cfg.Mode
	}
	if mode == qrorder.ModeStatic && s.cfg.StaticQRData == "" {
		return qrorder.CreateRequest{}, &command.Rejection{Code: qrorder.CodeValue, Field: "mode", SaleID: sale.SaleID,
			Message: "static mode needs the POS's static_qr_data in the agent's config"}
	}
	req := qrorder.NewCreateRequest(s.cfg.POS, mode, ref, sale.TotalAmount)
	req.Description = sale.Description
	req.ExpirationTime = sale.ExpirationTime
	if req.ExpirationTime == "" {
		req.ExpirationTime = s.cfg.ExpirationTime
	}
	req.MarketplaceFee = sale.MarketplaceFee
	req.Items = sale.Items
	req.Discounts = sale.Discounts
	if err := req.Validate(); err != nil {
		var fe *qrorder.FieldError
		if errors.As(err, &fe) {
			field := fe.Field
			if field == "external_reference" {
				field = "sale_id"
			}
			return req, &command.Rejection{Code: fe.Code, Field: field, Message: fe.Message, SaleID: sale.SaleID}
		}
		return req, &command.Rejection{Code: qrorder.CodeValue, Message: err.Error(), SaleID: sale.SaleID}
	}
	return req, nil
}

// startSale makes room for a new order on the POS and creates it.
func (s *Session) startSale(ctx context.Context, d Delivery, rec *saleRecord) error {
	if rec.Request.Config.QR.Mode != qrorder.ModeDynamic {
		// The POS's fixed QR could pay an order whose create answer was
		// lost: wait until those are resolved.
		if err := s.waitOrphans(ctx); err != nil {
			return err
		}
	}
	if s.active != nil && s.active.SaleID != rec.SaleID {
		if err := s.supersede(ctx); err != nil {
			if errors.Is(err, qrorder.ErrUnavailable) {
				// The old order could not be canceled: creating another would
				// leave two open on one POS.
				return s.failSale(ctx, d, rec, false, "the open order of sale "+s.active.SaleID+" could not be canceled first: "+err.Error())
			}
			return err
		}
	}
	// One write before the create: the POS's active sale and the request.
	rec.UpdatedAt = s.d.Now().UTC()
	creating := *rec
	if err := s.setPOS(ctx, func(p *posRecord) { p.Active, p.Creating = rec.SaleID, &creating }); err != nil {
		return err
	}
	s.cart = nil
	return s.create(ctx, d, rec)
}

func (s *Session) retrySale(ctx context.Context, d Delivery, rec *saleRecord) error {
	s.log.Info("retrying a sale that failed for API unavailability, with the same key", "sale_id", rec.SaleID)
	rec.State, rec.CmdSeq, rec.Orphan = stateCreating, d.Seq, false
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	if err := s.setPOS(ctx, func(p *posRecord) { p.Orphans = removeString(p.Orphans, rec.SaleID) }); err != nil {
		return err
	}
	return s.startSale(ctx, d, rec)
}

// waitOrphans blocks, with the lock released, until the POS has no
// unresolved create. The command stays unacknowledged meanwhile.
func (s *Session) waitOrphans(ctx context.Context) error {
	for len(s.posRec.Orphans) > 0 {
		ch := s.orphansCh
		s.log.Info("static/hybrid sale waits for unresolved creates", "orphans", s.posRec.Orphans)
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrStopped, ctx.Err())
		}
	}
	return nil
}

// create sends the create with the sale's key and records the outcome.
func (s *Session) create(ctx context.Context, d Delivery, rec *saleRecord) error {
	key := qrorder.SaleKey(s.cfg.POS, rec.SaleID, qrorder.OpCreate)
	order, err := s.d.API.Create(ctx, key, rec.Request)
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: leave the command for redelivery
		}
		if apiErr, ok := qrorder.AsAPIError(err); ok && !apiErr.Retryable() {
			return s.refused(ctx, d, rec, apiErr)
		}
		var fe *qrorder.FieldError
		if errors.As(err, &fe) {
			return s.refused(ctx, d, rec, &qrorder.APIError{Code: fe.Code, Message: fe.Error()})
		}
		return s.failSale(ctx, d, rec, true, err.Error())
	}
	qr := order.QRData()
	if rec.Request.Config.QR.Mode == qrorder.ModeStatic {
		qr = s.cfg.StaticQRData
	} else if err := emvco.Check(qr); err != nil {
		return s.badQR(ctx, d, rec, order, err)
	}
	rec.OrderID, rec.PaymentID, rec.QRData = order.ID, order.PaymentID(), qr
	rec.ExpiresAt = s.expiresAt(rec.Request, order)
	ev := s.newEvent(events.Created, rec.SaleID)
	ev.OrderID, ev.StatusDetail, ev.Mode = order.ID, string(qrorder.StatusCreated), string(rec.Request.Config.QR.Mode)
	ev.TotalAmount, ev.QRData = rec.Request.TotalAmount.String(), qr
	if !rec.ExpiresAt.IsZero() {
		ev.ExpiresAt = events.Stamp(rec.ExpiresAt)
	}
	ev.MsgID = subject.SaleMsgID(s.cfg.StoreID, s.cfg.POS, rec.SaleID, events.Created)
	rec.State, rec.CmdSeq, rec.LastEvent = stateAwaiting, d.Seq, ev
	s.active = rec
	// Each effect at most once, however often recording the outcome fails
	// and the command comes again (docs/degraded.md).
	effect := rec.SaleID + "." + order.ID
	s.fx.once("show:"+effect, func() { s.showAwaiting(rec) })
	sent, err := s.publishOnce(ctx, ev)
	if err != nil {
		return err
	}
	rec.LastEvent = sent
	// After publish: the job asks the status snapshot whether the sale
	// still awaits payment, and publish is what updates it.
	s.fx.once("print:"+effect, func() { s.printReceipt(rec) })
	// The events stream keeps the created event: with the POS record's
	// request it is the sale's record until the sale ends, one write fewer
	// per sale (docs/durability.md, "Writes per sale"). An event the
	// stream did not keep is recorded here, and so is a sale the store
	// has an older record of (a failed create retried).
	rec.inEvents = s.d.Log != nil && !rec.stored && !s.fx.unstored(sent.MsgID)
	if !rec.inEvents {
		if err := s.putSale(ctx, rec); err != nil {
			return err
		}
	}
	// Normally already so; not when the agent stopped between recording
	// the create and recording the POS's active sale.
	if err := s.setPOS(ctx, func(p *posRecord) { p.Active = rec.SaleID }); err != nil {
		return err
	}
	s.count(verbSale, events.Created)
	s.log.Info("order created", "sale_id", rec.SaleID, "order_id", order.ID, "mode", rec.Request.Config.QR.Mode, "total_amount", ev.TotalAmount)
	if order.Status.Final() {
		// A create replayed after a restart may find the order already
		// paid, expired or canceled.
		return s.finish(ctx, rec, order, "")
	}
	s.startPoller(rec)
	return nil
}

// expiresAt is when the order should expire, for the countdown: the
// sale's (or POS's) expiration_time, the API's default otherwise, capped at
// 10 minutes for static orders. The API alone decides that it did.
func (s *Session) expiresAt(req qrorder.CreateRequest, o *qrorder.Order) time.Time {
	exp := req.ExpirationTime
	if o.ExpirationTime != "" {
		exp = o.ExpirationTime
	}
	d, err := isoduration.Parse(exp)
	if err != nil || exp == "" {
		d = 15 * time.Minute
	}
	if req.Config.QR.Mode == qrorder.ModeStatic && d > qrorder.StaticExpirationCap {
		d = qrorder.StaticExpirationCap
	}
	return s.d.Now().Add(d).UTC()
}

// refused handles a final API refusal: the sale is not remembered, so a
// corrected resend (or the same after a token fix) can go through.
func (s *Session) refused(ctx context.Context, d Delivery, rec *saleRecord, apiErr *qrorder.APIError) error {
	if err := s.reject(ctx, d, &command.Rejection{Code: apiErr.Code, SaleID: rec.SaleID, Message: apiErr.Error()}, ""); err != nil {
		return err
	}
	if apiErr.Unauthorized() {
		s.log.Error("the Orders API refused the access token: check the token source", "status", apiErr.Status)
	}
	if err := s.d.Store.Delete(ctx, s.saleKey(rec.SaleID)); err != nil {
		return err
	}
	if s.active == rec {
		s.active = nil
	}
	s.showIdle()
	return s.setPOS(ctx, func(p *posRecord) {
		if p.Active == rec.SaleID {
			p.Active = ""
		}
		if p.creating(rec.SaleID) {
			p.Creating = nil // a corrected resend is a new sale
		}
	})
}

// failSale records a create that ran out of retry budget. When the create
// may have happened (orphan), it is resolved in the background.
func (s *Session) failSale(ctx context.Context, d Delivery, rec *saleRecord, orphan bool, msg string) error {
	ev, err := s.fail(ctx, d, verbSale, rec.SaleID, command.CodeAPIUnavailable, msg)
	if err != nil {
		return err
	}
	rec.State, rec.CmdSeq, rec.LastEvent, rec.Orphan = stateFailed, d.Seq, ev, orphan
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	if s.active == rec {
		s.active = nil
	}
	s.showIdle()
	if err := s.setPOS(ctx, func(p *posRecord) {
		if p.Active == rec.SaleID {
			p.Active = ""
		}
		if orphan {
			p.Orphans = append(removeString(p.Orphans, rec.SaleID), rec.SaleID)
		}
	}); err != nil {
		return err
	}
	if orphan {
		s.startResolver(rec.SaleID)
	}
	return nil
}

// badQR handles an order whose qr_data fails the EMVCo check: nobody can
// pay what nobody sees, so the order is canceled.
func (s *Session) badQR(ctx context.Context, d Delivery, rec *saleRecord, order *qrorder.Order, cause error) error {
	s.log.Error("qr_data failed the EMVCo check; canceling the order", "sale_id", rec.SaleID, "order_id", order.ID, "err", cause)
	if _, err := s.d.API.Cancel(ctx, qrorder.SaleKey(s.cfg.POS, rec.SaleID, qrorder.OpCancel), order.ID); err != nil {
		s.log.Error("could not cancel the order with a bad qr_data", "order_id", order.ID, "err", err)
	}
	ev, err := s.fail(ctx, d, verbSale, rec.SaleID, command.CodeInvalidQRData, "the order's qr_data failed the EMVCo check: "+cause.Error())
	if err != nil {
		return err
	}
	rec.State, rec.CmdSeq, rec.LastEvent, rec.OrderID = stateFailed, d.Seq, ev, order.ID
	if err := s.putSale(ctx, rec); err != nil {
		return err
	}
	s.active = nil
	s.showError(rec, "QR")
	return s.setPOS(ctx, func(p *posRecord) { p.Active = "" })
}
