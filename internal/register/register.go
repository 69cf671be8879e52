// Package register provides the register's side of posagent's NATS
// interface (docs/protocol.md): send a command and follow the events
// it causes. `posagent sale|cancel|refund`, the demo and the tests use it,
// and a Go register can too.
package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/subject"
)

// Client talks to one store's agents.
type Client struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	prefix string
	store  string
}

// New returns a client for the store's subjects under prefix.
func New(nc *nats.Conn, prefix, store string) (*Client, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Client{nc: nc, js: js, prefix: prefix, store: store}, nil
}

// Subject is the subject of a command verb for pos.
func (c *Client) Subject(pos, verb string) string {
	return subject.Command(c.prefix, c.store, pos, verb)
}

// Send publishes a command with JetStream and returns its stream sequence
// once it is stored.
func (c *Client) Send(ctx context.Context, pos, verb string, payload []byte) (uint64, error) {
	ack, err := c.js.Publish(ctx, c.Subject(pos, verb), payload)
	if err != nil {
		return 0, fmt.Errorf("register: send %s to %s: %w", verb, pos, err)
	}
	return ack.Sequence, nil
}

// SendJSON is Send with v encoded as JSON.
func (c *Client) SendJSON(ctx context.Context, pos, verb string, v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	return c.Send(ctx, pos, verb, b)
}

// Received is one event as the register got it.
type Received struct {
	Event   events.Event
	Subject string
	MsgID   string
	Raw     []byte
}

// CommandSeq returns the stream sequence of the command a rejected or
// failed event answers, from its message id, or 0.
func (r Received) CommandSeq() uint64 { return subject.CommandSeq(r.MsgID) }

// Watch subscribes to pos's events (all POS with pos "*"); start it before
// sending so nothing is missed. Events arrive on the channel until stop.
func (c *Client) Watch(pos string) (<-chan Received, func(), error) {
	ch := make(chan Received, 256)
	sub, err := c.nc.Subscribe(subject.Events(c.prefix, c.store, pos), func(m *nats.Msg) {
		r := Received{Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Raw: m.Data}
		if json.Unmarshal(m.Data, &r.Event) != nil {
			return
		}
		select {
		case ch <- r:
		default: // a reader that stopped reading must not block NATS
		}
	})
	if err != nil {
		return nil, nil, err
	}
	if err := c.nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, nil, err
	}
	return ch, func() { _ = sub.Unsubscribe() }, nil
}

// ErrNoOutcome is returned by Follow when ctx ends before a final event.
var ErrNoOutcome = errors.New("no final event before the wait ended")

// Follow passes every event of the command (about saleID, or answering
// command seq) to onEvent until final says one is the outcome, and returns
// that one.
func Follow(ctx context.Context, ch <-chan Received, saleID string, seq uint64, final func(Received) bool, onEvent func(Received)) (Received, error) {
	for {
		select {
		case <-ctx.Done():
			return Received{}, ErrNoOutcome
		case r := <-ch:
			mine := r.CommandSeq() == seq || (r.CommandSeq() == 0 && saleID != "" && r.Event.SaleID == saleID)
			if !mine {
				continue
			}
			if onEvent != nil {
				onEvent(r)
			}
			if final(r) {
				return r, nil
			}
		}
	}
}
