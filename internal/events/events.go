// Package events provides the events posagent tells the register
// (docs/protocol.md): their JSON shape, their subjects, their
// Nats-Msg-Id, and a JetStream publisher that waits for the stream's
// acknowledgement, so an event the agent has "sent" is stored.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/subject"
)

// Event statuses.
const (
	Created   = "created"
	Rejected  = "rejected"
	Processed = "processed"
	Expired   = "expired"
	Canceled  = "canceled"
	Refunded  = "refunded"
	Failed    = "failed"
	Printer   = "printer"
)

// TimeFormat is RFC 3339 UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z"

// StatusReply answers a POS's status query, <p>.<store>.<pos>.status
// (docs/protocol.md): the session's state, and as extensions the amount of
// the sale awaiting payment and the POS's printer health ("ok",
// "paper_out", ...; absent without a printer), so head office sees a
// printer out of paper without opening the store's status page. The
// session, the agent, `posagent fleet` and `posagent status` share it.
type StatusReply struct {
	State       string `json:"state"`
	SaleID      string `json:"sale_id,omitempty"`
	OrderID     string `json:"order_id,omitempty"`
	LastEvent   *Event `json:"last_event,omitempty"`
	TotalAmount string `json:"total_amount,omitempty"`
	Printer     string `json:"printer,omitempty"`
}

// Error is what a rejected or failed event says went wrong.
type Error struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message,omitempty"`
}

// Event is one message to the register. Fields that do not apply are
// omitted from the JSON.
type Event struct {
	SaleID         string `json:"sale_id,omitempty"`
	OrderID        string `json:"order_id,omitempty"`
	Status         string `json:"status"`
	StatusDetail   string `json:"status_detail,omitempty"`
	Mode           string `json:"mode,omitempty"`
	ExternalPOSID  string `json:"external_pos_id"`
	TotalAmount    string `json:"total_amount,omitempty"`
	QRData         string `json:"qr_data,omitempty"`
	ExpiresAt      string `json:"expires_at,omitempty"` // created: when the order should expire (the API decides)
	RefundID       string `json:"refund_id,omitempty"`
	RefundedAmount string `json:"refunded_amount,omitempty"`
	SaleStatus     string `json:"sale_status,omitempty"`
	Error          *Error `json:"error,omitempty"`
	Replay         bool   `json:"replay,omitempty"`
	At             string `json:"at"`

	// MsgID is the event's Nats-Msg-Id: its identity in the events stream.
	MsgID string `json:"msg_id,omitempty"`
	// Kind is the subject's last token when it is not Status ("printer").
	Kind string `json:"-"`
}

// Stamp returns t formatted for At.
func Stamp(t time.Time) string { return t.UTC().Format(TimeFormat) }

// Publisher publishes events to JetStream.
type Publisher struct {
	js     jetstream.JetStream
	prefix string
	store  string
}

// NewPublisher returns a publisher for one store's events.
func NewPublisher(js jetstream.JetStream, prefix, store string) *Publisher {
	return &Publisher{js: js, prefix: prefix, store: store}
}

// Publish sends ev with its MsgID and waits for the stream to store it (or
// to say it already has it). It returns the event as the stream keeps it:
// ev, or, when the stream already held an event with that MsgID (one the
// agent published before a restart), that original, so what the agent
// records and replays is what registers were told. On an error it
// returns ev.
func (p *Publisher) Publish(ctx context.Context, ev Event) (Event, error) {
	if ev.MsgID == "" {
		return ev, fmt.Errorf("events: %s event for %s without a message id", ev.Status, ev.ExternalPOSID)
	}
	wire := ev
	wire.MsgID = ""
	data, err := json.Marshal(wire)
	if err != nil {
		return ev, fmt.Errorf("events: encode: %w", err)
	}
	kind := ev.Kind
	if kind == "" {
		kind = ev.Status
	}
	msg := &nats.Msg{Subject: subject.Event(p.prefix, p.store, ev.ExternalPOSID, kind), Data: data, Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, ev.MsgID)
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			// The server routed the message (live subscribers have it)
			// and only the stream did not keep it.
			return ev, fmt.Errorf("events: publish %s: %w: %w", msg.Subject, ErrNotStored, err)
		}
		return ev, fmt.Errorf("events: publish %s: %w", msg.Subject, err)
	}
	if !ack.Duplicate {
		return ev, nil
	}
	return p.original(ctx, ack, ev)
}

// original reads the event the stream already held under ev's MsgID (a
// duplicate's acknowledgement names its sequence). An original no longer
// in the stream (removed by its limits while the duplicate window still
// remembers it) leaves ev with ErrNotStored: live subscribers got ev and
// the stream keeps no copy. Failing to read it is an error, so the caller
// tries again rather than record an event registers were not told.
func (p *Publisher) original(ctx context.Context, ack *jetstream.PubAck, ev Event) (Event, error) {
	st, err := p.js.Stream(ctx, ack.Stream)
	if err == nil {
		var raw *jetstream.RawStreamMsg
		raw, err = st.GetMsg(ctx, ack.Sequence)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ev, fmt.Errorf("events: publish %s: %w: the stream's copy was removed by its limits", ev.MsgID, ErrNotStored)
		}
		if err == nil {
			var orig Event
			if err = json.Unmarshal(raw.Data, &orig); err == nil && raw.Header.Get(jetstream.MsgIDHeader) == ev.MsgID {
				orig.MsgID, orig.Kind = ev.MsgID, ev.Kind
				return orig, nil
			}
			if err == nil {
				err = fmt.Errorf("sequence %d is %q", ack.Sequence, raw.Header.Get(jetstream.MsgIDHeader))
			}
		}
	}
	return ev, fmt.Errorf("events: reading the stored original of %s: %w", ev.MsgID, err)
}

// Log reads one store's events back from the events stream.
type Log struct {
	js     jetstream.JetStream
	stream string
	prefix string
	store  string
}

// NewLog returns a reader of the store's events in stream.
func NewLog(js jetstream.JetStream, stream, prefix, store string) *Log {
	return &Log{js: js, stream: stream, prefix: prefix, store: store}
}

// Last returns the newest event the stream keeps for the POS with status
// (its subject's last token), MsgID set from its Nats-Msg-Id; false when
// the stream keeps none, or only one that is not an event.
func (l *Log) Last(ctx context.Context, pos, status string) (Event, bool, error) {
	st, err := l.js.Stream(ctx, l.stream)
	if err != nil {
		return Event{}, false, fmt.Errorf("events: stream %s: %w", l.stream, err)
	}
	subj := subject.Event(l.prefix, l.store, pos, status)
	raw, err := st.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Event{}, false, nil
	}
	if err != nil {
		return Event{}, false, fmt.Errorf("events: last message on %s: %w", subj, err)
	}
	var ev Event
	if json.Unmarshal(raw.Data, &ev) != nil {
		return Event{}, false, nil
	}
	ev.MsgID = raw.Header.Get(jetstream.MsgIDHeader)
	return ev, true, nil
}

// ErrNotStored is wrapped by Publish when the server took the event and
// delivered it to live subscribers, but the stream refused to store it
// (storage full, stream missing): sending it again would show it twice.
var ErrNotStored = errors.New("event delivered live but not stored")
