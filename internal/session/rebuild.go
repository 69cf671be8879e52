package session

import (
	"context"
	"time"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/qrorder"
)

// RebuildRecords checks the records of pos against its sales' events
// (latest: sale id -> its events in stream order) and returns the sales
// whose record was missing (rebuilt) and those whose record was behind
// its events (brought up to date).
//
// A missing record means the sale store lost it (a damaged disk, a store
// moved aside): the rebuilt one holds what the events say (order, state,
// QR, refunds) and no fingerprint, so a resent sale is answered with its
// latest event instead of a second order. A record behind its events is
// the agent stopping between publishing an event and recording it, or a
// damaged store giving back an older version: it takes the events' state
// and keeps its fingerprint and request. An order still open becomes the
// POS's active one again so that it is followed to its end.
//
// Sales whose events are only failed or rejected are left alone: a failed
// create is redone with the same idempotency key when the sale is resent.
// So is the POS's sale being created while its events say it is open: it
// has no record of its own until it ends, and the session finds it in the
// events stream (Run). Once its events say it ended, its record is made
// from them and the POS record's request (the agent stopped between the
// final event and the record), as for a record behind its events.
func RebuildRecords(ctx context.Context, store Store, pos string, latest map[string][]events.Event, now time.Time) (rebuilt, updated []string, err error) {
	var pr posRecord
	if _, err := store.Get(ctx, posKey(pos), &pr); err != nil {
		return nil, nil, err
	}
	prBefore := pr
	// The POS record names the last sale started; once that sale ended
	// (its name is kept, see posRecord) a rebuilt open sale takes its place.
	open, err := activeOpen(ctx, store, pos, &pr)
	if err != nil {
		return nil, nil, err
	}
	for saleID, evs := range latest {
		rec := rebuildRecord(saleID, evs, now)
		if rec == nil {
			continue
		}
		key := saleKey(pos, saleID)
		var cur saleRecord
		ok, err := store.Get(ctx, key, &cur)
		if err != nil {
			return rebuilt, updated, err
		}
		switch {
		case !ok && pr.creating(saleID):
			if rec.State == stateAwaiting {
				continue
			}
			c := pr.Creating
			rec.Fingerprint, rec.Request, rec.CmdSeq = c.Fingerprint, c.Request, c.CmdSeq
			updated = append(updated, saleID)
		case !ok:
			rebuilt = append(rebuilt, saleID)
		case behind(&cur, rec):
			rec.Fingerprint, rec.Request, rec.CmdSeq, rec.PaymentID = cur.Fingerprint, cur.Request, cur.CmdSeq, cur.PaymentID
			updated = append(updated, saleID)
		default:
			continue
		}
		if err := store.Put(ctx, key, rec); err != nil {
			return rebuilt, updated, err
		}
		switch {
		case rec.State == stateAwaiting && !open:
			pr.Active, open = saleID, true
		case rec.State != stateAwaiting && pr.Active == saleID:
			pr.Active, open = "", false
		}
	}
	if pr.Active != prBefore.Active {
		if err := store.Put(ctx, posKey(pos), &pr); err != nil {
			return rebuilt, updated, err
		}
	}
	return rebuilt, updated, nil
}

// activeOpen reports whether the POS's active sale is still open: being
// created or awaiting payment (with no record of its own yet, it is).
func activeOpen(ctx context.Context, store Store, pos string, pr *posRecord) (bool, error) {
	if pr.Active == "" {
		return false, nil
	}
	var r saleRecord
	ok, err := store.Get(ctx, saleKey(pos, pr.Active), &r)
	if err != nil {
		return false, err
	}
	if !ok {
		return pr.creating(pr.Active), nil
	}
	return r.open(), nil
}

// behind reports whether the stored record misses events: it has not
// recorded the latest sale event, or fewer refunds.
func behind(cur, ev *saleRecord) bool {
	if cur.State == stateFailed {
		return false // a failed create: redone with its own key on a resend
	}
	if cur.LastEvent.Status != ev.LastEvent.Status && (cur.State == stateCreating || cur.State == stateAwaiting) {
		return true
	}
	return len(cur.Refunds) < len(ev.Refunds)
}

// rebuildRecord makes a record from a sale's events, or nil when they do
// not describe a sale with an order.
func rebuildRecord(saleID string, evs []events.Event, now time.Time) *saleRecord {
	rec := &saleRecord{SaleID: saleID, UpdatedAt: now.UTC()}
	for _, ev := range evs {
		switch ev.Status {
		case events.Created:
			rec.State, rec.OrderID, rec.QRData = stateAwaiting, ev.OrderID, ev.QRData
			rec.ExpiresAt, _ = time.Parse(time.RFC3339Nano, ev.ExpiresAt)
		case events.Processed, events.Expired, events.Canceled:
			rec.State = ev.Status
		case events.Refunded:
			rec.State = stateRefunded
			if rec.Refunds == nil {
				rec.Refunds = map[string]refundRec{}
			}
			rec.Refunds[ev.RefundID] = refundRec{Event: ev}
		default:
			continue // failed, rejected: not the sale's state
		}
		if ev.OrderID != "" {
			rec.OrderID = ev.OrderID
		}
		// What the events that follow (and the screens) say about the
		// sale comes from the request: its amount and mode, nothing else.
		if c, err := money.Parse(ev.TotalAmount); err == nil && ev.TotalAmount != "" {
			rec.Request.TotalAmount = c
		}
		if ev.Mode != "" {
			rec.Request.Config.QR.Mode = qrorder.Mode(ev.Mode)
		}
		if ev.Status != events.Refunded {
			rec.LastEvent = ev
		}
	}
	if rec.State == "" || rec.OrderID == "" {
		return nil
	}
	if rec.State == stateRefunded && rec.LastEvent.Status == "" {
		return nil
	}
	return rec
}
