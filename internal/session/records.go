package session

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/subject"
)

// Sale record states.
const (
	stateCreating  = "creating"         // create sent (or about to be); its command is not acked yet
	stateAwaiting  = "awaiting_payment" // order created, customer may pay
	stateProcessed = "processed"
	stateExpired   = "expired"
	stateCanceled  = "canceled"
	stateRefunded  = "refunded"
	stateFailed    = "failed"
)

// saleRecord is everything the agent must remember about one sale.
type saleRecord struct {
	SaleID      string                `json:"sale_id"`
	Fingerprint string                `json:"fingerprint"`
	CmdSeq      uint64                `json:"cmd_seq"` // the command whose outcome LastEvent is
	State       string                `json:"state"`
	Request     qrorder.CreateRequest `json:"request"` // sent again, byte for byte, on every retry of the create
	OrderID     string                `json:"order_id,omitempty"`
	PaymentID   string                `json:"payment_id,omitempty"`
	QRData      string                `json:"qr_data,omitempty"` // what the customer scans
	ExpiresAt   time.Time             `json:"expires_at,omitzero"`
	Orphan      bool                  `json:"orphan,omitempty"` // the create ran out of budget: resolving in the background
	Refunds     map[string]refundRec  `json:"refunds,omitempty"`
	// PendingCancel is the cancel command (its sequence) and
	// PendingRefunds the refunds whose answer was lost: resolved in the
	// background.
	PendingCancel  uint64                   `json:"pending_cancel,omitempty"`
	PendingRefunds map[string]pendingRefund `json:"pending_refunds,omitempty"`
	LastEvent      events.Event             `json:"last_event"`
	UpdatedAt      time.Time                `json:"updated_at"`

	// inEvents: the sale awaits payment and has no record of its own yet;
	// the POS record's Creating and the created event in the events
	// stream hold it (docs/durability.md, "Writes per sale").
	inEvents bool
	// stored: the store has a record of the sale (read from or written
	// to it); a create then records its outcome there too, or the older
	// record would be what a restart finds.
	stored bool
}

type refundRec struct {
	CmdSeq uint64       `json:"cmd_seq"`
	Event  events.Event `json:"event"`
	// Asked is the command's amount or "total": the same refund_id for
	// another amount is refused, not replayed. Empty in records written
	// before it was kept (those replay).
	Asked string `json:"asked,omitempty"`
}

// posRecord is a POS's open work. It is written once per sale, before the
// create, and carries the sale being created, so that a sale costs two
// writes of the records (this and the final status; the created order is
// in the events stream) instead of five (docs/durability.md, "Writes per
// sale").
type posRecord struct {
	// Active is the sale last started on the POS: creating, awaiting
	// payment, or already final (it is not cleared when the sale ends:
	// Run resumes only a sale that awaits payment, and the next sale
	// replaces it).
	Active string `json:"active,omitempty"`
	// Creating is Active's record as it was when its create was sent: a
	// command redelivered after a crash finds the request it must send
	// again, byte for byte, before the sale has a record of its own.
	Creating *saleRecord `json:"creating,omitempty"`
	Orphans  []string    `json:"orphans,omitempty"` // sales whose create is being resolved
	Pending  []string    `json:"pending,omitempty"` // sales with a cancel or refund being resolved
}

// creating reports whether saleID is the sale whose create request the
// record holds.
func (p *posRecord) creating(saleID string) bool {
	return p.Creating != nil && p.Creating.SaleID == saleID
}

// saleStatus is the sale's status as an event status, for sale_status.
func (r *saleRecord) saleStatus() string {
	switch {
	case r.open():
		return events.Created
	case r.State == stateFailed:
		return events.Failed
	}
	return r.State
}

// open reports whether the sale is being created or awaits payment.
func (r *saleRecord) open() bool { return r.State == stateAwaiting || r.State == stateCreating }

// saleKey and posKey name a POS's records in the store.
func saleKey(pos, saleID string) string { return "sale." + pos + "." + saleID }
func posKey(pos string) string          { return "pos." + pos }

func (s *Session) saleKey(saleID string) string { return saleKey(s.cfg.POS, saleID) }
func (s *Session) posKey() string               { return posKey(s.cfg.POS) }
func (s *Session) staleKey(seq uint64) string {
	return "stale." + s.cfg.POS + "." + strconv.FormatUint(seq, 10)
}

// getSale returns a copy of the sale's record: the stored one, or the
// open sale's when the events stream holds it (inEvents); nil when there
// is none.
func (s *Session) getSale(ctx context.Context, saleID string) (*saleRecord, error) {
	var r saleRecord
	ok, err := s.d.Store.Get(ctx, s.saleKey(saleID), &r)
	if err != nil {
		return nil, err
	}
	if !ok {
		if a := s.active; a != nil && a.SaleID == saleID && a.inEvents {
			r = *a
			return &r, nil
		}
		return nil, nil
	}
	r.stored = true
	return &r, nil
}

// createdRecord is the record of a sale whose create succeeded, made from
// what the POS record kept when the create was sent and the created event
// the events stream kept; nil when ev is not that sale's created event.
func createdRecord(store, pos string, creating *saleRecord, ev events.Event) *saleRecord {
	if creating == nil || ev.SaleID != creating.SaleID || ev.Status != events.Created ||
		ev.MsgID != subject.SaleMsgID(store, pos, creating.SaleID, events.Created) || ev.OrderID == "" {
		return nil
	}
	r := *creating
	r.State, r.OrderID, r.QRData, r.LastEvent, r.inEvents = stateAwaiting, ev.OrderID, ev.QRData, ev, true
	r.ExpiresAt, _ = time.Parse(time.RFC3339Nano, ev.ExpiresAt)
	return &r
}

// creatingSale returns the POS record's sale being created when it is
// saleID and younger than the records' retention, else nil.
func (s *Session) creatingSale(saleID string) *saleRecord {
	c := s.posRec.Creating
	if c == nil || c.SaleID != saleID || c.State != stateCreating ||
		(s.cfg.Retention > 0 && s.d.Now().Sub(c.UpdatedAt) > s.cfg.Retention) {
		return nil
	}
	r := *c
	return &r
}

func (s *Session) putSale(ctx context.Context, r *saleRecord) error {
	r.UpdatedAt = s.d.Now().UTC()
	if err := s.d.Store.Put(ctx, s.saleKey(r.SaleID), r); err != nil {
		return err
	}
	r.stored = true
	return nil
}

// setPOS writes the POS record after fn changed a copy of it; the
// in-memory record changes only once the write succeeded.
func (s *Session) setPOS(ctx context.Context, fn func(*posRecord)) error {
	next := posRecord{Active: s.posRec.Active, Creating: s.posRec.Creating, Orphans: slices.Clone(s.posRec.Orphans), Pending: slices.Clone(s.posRec.Pending)}
	fn(&next)
	if next.Active == s.posRec.Active && next.Creating == s.posRec.Creating &&
		slices.Equal(next.Orphans, s.posRec.Orphans) && slices.Equal(next.Pending, s.posRec.Pending) {
		return nil
	}
	if err := s.d.Store.Put(ctx, s.posKey(), &next); err != nil {
		return err
	}
	orphansChanged := !slices.Equal(next.Orphans, s.posRec.Orphans)
	s.posRec = next
	if orphansChanged {
		close(s.orphansCh)
		s.orphansCh = make(chan struct{})
	}
	return nil
}

func removeString(list []string, v string) []string {
	return slices.DeleteFunc(list, func(x string) bool { return x == v })
}
