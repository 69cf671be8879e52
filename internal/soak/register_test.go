//go:build soak

package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// What the register does once a sale's QR is shown.
type action string

const (
	actPay    action = "pay"    // the customer pays (simulator)
	actCancel action = "cancel" // the cashier cancels (cmd.cancel)
	actExpire action = "expire" // nobody pays until the order expires (simulator)
)

// posPlan is one POS of the soak's configuration.
type posPlan struct {
	ID     string
	Mode   string // dynamic, static or hybrid
	Prefix string // external_reference_prefix
}

// salePlan is one sale, decided up front from the seed.
type salePlan struct {
	ID     string
	POS    *posPlan
	Amount string // as sent; "12.5" style on some sales
	Total  string // normalised, as the API and the events carry it
	Action action
	// ResendOnFail: on failed/api_unavailable the cashier tries again
	// (same sale). Otherwise the register waits: the agent resolves the
	// create in the background and ends the sale (orphan_canceled).
	ResendOnFail bool
	// DupSend: the register sends the sale once more after its QR shows
	// (a register restarted and unsure what it sent): the agent must
	// answer with a replay, never a second order.
	DupSend bool
	Payload []byte
}

func (p *salePlan) Ref() string { return p.POS.Prefix + p.ID }

func planSales(rng *rand.Rand, pos []*posPlan, total int) [][]*salePlan {
	out := make([][]*salePlan, len(pos))
	for i := range total {
		p := pos[i%len(pos)]
		k := len(out[i%len(pos)]) + 1
		cents := money.Cents(100 + rng.IntN(250000))
		amount := cents.String()
		if cents%10 == 0 {
			amount = amount[:len(amount)-1] // "12.5": normalised by the agent
		}
		act := actPay
		switch r := rng.IntN(100); {
		case r < 12:
			act = actCancel
		case r < 20:
			act = actExpire
		}
		s := &salePlan{ID: fmt.Sprintf("%s-%05d", p.ID, k), POS: p, Amount: amount, Total: cents.String(), Action: act,
			ResendOnFail: rng.IntN(10) < 6, DupSend: rng.IntN(100) < 8}
		cmd := map[string]any{"sale_id": s.ID, "total_amount": amount, "description": "Soak ticket " + s.ID}
		if rng.IntN(3) == 0 {
			cmd["items"] = []map[string]any{{"title": "Café con leche", "unit_price": amount, "quantity": 1}}
		}
		s.Payload, _ = json.Marshal(cmd)
		out[i%len(pos)] = append(out[i%len(pos)], s)
	}
	return out
}

// saleResult is what the register saw of one sale.
type saleResult struct {
	Plan          *salePlan
	Sent          time.Time
	Created       *received // first created event seen
	Final         *received // first final event seen
	CreatedAfter  time.Duration
	SaleSends     int // sale commands published: 1 + resends
	FailedResends int // resends after failed/api_unavailable
	SilentResends int // resends after hearing nothing for a while
	DupSends      int // deliberate duplicates of a sale that has its QR
	CancelSends   int
	Cmds          []sentCmd // every command published for the sale, with its stream sequence
	Notes         []string
	GaveUp        string
	NotSent       bool // the register stopped before this sale
}

// sentCmd is one command the register published.
type sentCmd struct {
	Seq  uint64
	Verb string
	N    int // 1 for the first of its verb, 2.. for resends
}

func (r *saleResult) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// connWatch knows whether the register's NATS connection is up.
type connWatch struct {
	mu sync.Mutex
	up chan struct{} // closed while connected
}

func newConnWatch() *connWatch {
	c := &connWatch{up: make(chan struct{})}
	close(c.up)
	return c
}

func (c *connWatch) options() []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			c.mu.Lock()
			defer c.mu.Unlock()
			select {
			case <-c.up:
				c.up = make(chan struct{})
			default:
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			c.mu.Lock()
			defer c.mu.Unlock()
			select {
			case <-c.up:
			default:
				close(c.up)
			}
		}),
	}
}

func (c *connWatch) wait(ctx context.Context) {
	c.mu.Lock()
	ch := c.up
	c.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// publisher sends commands with JetStream until they are stored. A retried
// publish carries the same Nats-Msg-Id, so the stream keeps one copy even
// when the first attempt was stored but its PubAck was lost.
type publisher struct {
	js      jetstream.JetStream
	conn    *connWatch
	stream  string
	retries atomic.Int64 // publish attempts that failed and were repeated
	dupAcks atomic.Int64 // PubAcks saying "already stored": a retry deduplicated
}

func (p *publisher) publish(ctx context.Context, subject, msgID string, data []byte) (uint64, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ack, err := p.js.Publish(actx, subject, data, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(p.stream))
		cancel()
		if err == nil {
			if ack.Duplicate {
				p.dupAcks.Add(1)
			}
			return ack.Sequence, nil
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("publish %s (%s): %w", subject, msgID, err)
		}
		p.retries.Add(1)
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		p.conn.wait(wctx)
		wcancel()
		pace(ctx, 50*time.Millisecond)
	}
}

// register plays one POS's cash register: its sales one after another,
// each to a final outcome.
type register struct {
	pos      *posPlan
	subject  func(verb string) string
	pub      *publisher
	log      *eventLog
	sim      *qrordertest.Simulator
	silent   time.Duration // resend the sale after hearing nothing this long
	giveUp   time.Duration // a sale's whole budget
	progress *progress
}

// run rings up the sales in order. Two sales in a row without an outcome
// within giveUp mean the POS is wedged: the register stops there (its
// remaining sales are reported as not sent) rather than spend giveUp on
// each of them.
func (r *register) run(ctx context.Context, plans []*salePlan, out chan<- *saleResult) {
	stuck := 0
	for i, p := range plans {
		if stuck >= 2 || ctx.Err() != nil {
			for _, q := range plans[i:] {
				out <- &saleResult{Plan: q, NotSent: true}
				r.progress.add()
			}
			return
		}
		res := r.sale(ctx, p)
		if res.GaveUp != "" {
			stuck++
		} else {
			stuck = 0
		}
		out <- res
		r.progress.add()
	}
}

func (r *register) sendSale(ctx context.Context, res *saleResult) error {
	res.SaleSends++
	seq, err := r.pub.publish(ctx, r.subject("sale"), res.Plan.ID+".sale."+strconv.Itoa(res.SaleSends), res.Plan.Payload)
	if err == nil {
		res.Cmds = append(res.Cmds, sentCmd{Seq: seq, Verb: "sale", N: res.SaleSends})
	}
	return err
}

func (r *register) sendCancel(ctx context.Context, res *saleResult) error {
	res.CancelSends++
	data, _ := json.Marshal(map[string]string{"sale_id": res.Plan.ID})
	seq, err := r.pub.publish(ctx, r.subject("cancel"), res.Plan.ID+".cancel."+strconv.Itoa(res.CancelSends), data)
	if err == nil {
		res.Cmds = append(res.Cmds, sentCmd{Seq: seq, Verb: "cancel", N: res.CancelSends})
	}
	return err
}

// sale runs one sale: send, wait for its QR, act, wait for the outcome.
func (r *register) sale(parent context.Context, p *salePlan) *saleResult {
	res := &saleResult{Plan: p, Sent: time.Now()}
	ctx, cancel := context.WithTimeout(parent, r.giveUp)
	defer cancel()
	cursor := 0 // sale ids are unique: every event about p.ID is about this sale
	if err := r.sendSale(ctx, res); err != nil {
		res.GaveUp = err.Error()
		return res
	}
	for res.Created == nil {
		ev, err := r.waitMine(ctx, &cursor, res)
		if err != nil {
			res.GaveUp = "no created event: " + err.Error()
			return res
		}
		switch e := ev.Event; {
		case e.Status == events.Created:
			res.Created, res.CreatedAfter = &ev, time.Since(res.Sent)
		case e.Status == events.Failed && e.Error != nil && e.Error.Code == command.CodeAPIUnavailable:
			// docs/protocol.md: a sale that failed for API unavailability is
			// retried, with the same key, when sent again.
			if !p.ResendOnFail {
				res.note("failed/api_unavailable: waiting for the agent to resolve the create")
				continue
			}
			res.FailedResends++
			if err := r.sendSale(ctx, res); err != nil {
				res.GaveUp = err.Error()
				return res
			}
		case isFinal(e.Status):
			res.Final = &ev // e.g. an orphan create, found and canceled
			return res
		default:
			res.note("unexpected %s before created: %s", e.Status, ev.Raw)
			if e.Status == events.Rejected {
				return res
			}
		}
	}
	if p.DupSend {
		res.DupSends++
		if err := r.sendSale(ctx, res); err != nil {
			res.GaveUp = err.Error()
			return res
		}
	}
	if err := r.act(ctx, res); err != nil {
		res.GaveUp = err.Error()
		return res
	}
	for res.Final == nil {
		ev, err := r.waitMine(ctx, &cursor, res)
		if err != nil {
			res.GaveUp = "no final event: " + err.Error()
			return res
		}
		switch e := ev.Event; {
		case isFinal(e.Status):
			res.Final = &ev
		case e.Status == events.Created:
			// A replay, or the created of a create redone after a kill.
		case e.Status == events.Failed && p.Action == actCancel && e.Error != nil && e.Error.Code == command.CodeAPIUnavailable:
			if err := r.sendCancel(ctx, res); err != nil {
				res.GaveUp = err.Error()
				return res
			}
		default:
			res.note("unexpected %s after created: %s", e.Status, ev.Raw)
		}
	}
	return res
}

func (r *register) act(ctx context.Context, res *saleResult) error {
	id := res.Created.Event.OrderID
	switch res.Plan.Action {
	case actPay:
		if err := r.sim.Pay(id); err != nil {
			res.note("pay: %v", err)
		}
	case actExpire:
		if err := r.sim.Expire(id); err != nil {
			res.note("expire: %v", err)
		}
	case actCancel:
		return r.sendCancel(ctx, res)
	}
	return nil
}

// waitMine returns the next event about the sale. After r.silent without
// one, the register resends the sale, as a real one would: the agent
// answers a handled sale with its latest event, and handles one it never
// got.
func (r *register) waitMine(ctx context.Context, cursor *int, res *saleResult) (received, error) {
	mine := func(e received) bool { return e.Kind != events.Printer && e.Event.SaleID == res.Plan.ID }
	for {
		wctx, cancel := context.WithTimeout(ctx, r.silent)
		ev, next, err := r.log.next(wctx, *cursor, mine)
		cancel()
		if err == nil {
			*cursor = next
			return ev, nil
		}
		if ctx.Err() != nil {
			return received{}, ctx.Err()
		}
		*cursor = next
		res.SilentResends++
		res.note("nothing heard for %s: sale resent", r.silent)
		if err := r.sendSale(ctx, res); err != nil {
			return received{}, err
		}
	}
}

// progress counts finished sales; chaos strikes at planned counts.
type progress struct {
	mu      sync.Mutex
	n       int
	changed chan struct{}
}

func newProgress() *progress { return &progress{changed: make(chan struct{})} }

func (p *progress) add() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *progress) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// waitAtLeast waits until n sales are finished.
func (p *progress) waitAtLeast(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		done, ch := p.n >= n, p.changed
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
