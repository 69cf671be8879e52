package session

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/printer"
	"github.com/posagent/posagent/internal/qrorder"
)

// The fakes at the session's edges: what the session's own tests use
// instead of NATS (harness_test.go puts them together).

// notifier wakes waiters whenever a part of the harness changes.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

func (n *notifier) changed() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

func (n *notifier) current() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// fakeClock is the session's and the simulator's clock; the
// simulator's may lag behind.
type fakeClock struct {
	mu  sync.Mutex
	t   time.Time
	lag time.Duration
}

// APINow is the simulator's time.
func (c *fakeClock) APINow() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.Add(-c.lag)
}

// Lag sets how far the simulator's clock is behind.
func (c *fakeClock) Lag(d time.Duration) {
	c.mu.Lock()
	c.lag = d
	c.mu.Unlock()
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memStore keeps records as JSON, as the real store does, so a record
// read back is a copy. refuse, when set, may refuse any operation; it is
// told how many writes (puts and deletes) came since it was set.
type memStore struct {
	n      *notifier
	mu     sync.Mutex
	data   map[string][]byte
	puts   int
	refuse func(op, key string, put int) error
}

var errRefused = errors.New("memstore: write refused (test)")

func (m *memStore) check(op, key string) error {
	if op != "get" {
		m.puts++
	}
	if m.refuse != nil {
		return m.refuse(op, key, m.puts)
	}
	return nil
}

func (m *memStore) Get(_ context.Context, key string, v any) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("get", key); err != nil {
		return false, err
	}
	b, ok := m.data[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(b, v)
}

func (m *memStore) Put(_ context.Context, key string, v any) error {
	m.mu.Lock()
	defer m.n.changed()
	defer m.mu.Unlock()
	if err := m.check("put", key); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m.data[key] = b
	return nil
}

func (m *memStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.n.changed()
	defer m.mu.Unlock()
	if err := m.check("delete", key); err != nil {
		return err
	}
	delete(m.data, key)
	return nil
}

func (m *memStore) setRefuse(f func(op, key string, put int) error) {
	m.mu.Lock()
	m.refuse, m.puts = f, 0
	m.mu.Unlock()
}

func (m *memStore) putCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

// recorder is a list of what a fake received, in order.
type recorder[T any] struct {
	n     *notifier
	mu    sync.Mutex
	items []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	r.items = append(r.items, v)
	r.mu.Unlock()
	r.n.changed()
}

func (r *recorder[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

// recPublisher records every event it is asked to publish; fail, when
// set, decides whether the publish fails (the event is recorded either
// way, as a live subscriber would have seen it). Like a JetStream stream
// it stores the first event with a given MsgID and keeps it: stored
// returns it.
type recPublisher struct {
	recorder[events.Event]
	fmu     sync.Mutex
	fail    func(events.Event) error
	stored  map[string]events.Event
	order   []string // stored MsgIDs, oldest first
	lastErr error    // Last fails with it when set
}

func (p *recPublisher) Publish(_ context.Context, ev events.Event) (events.Event, error) {
	p.fmu.Lock()
	f := p.fail
	p.fmu.Unlock()
	if f != nil {
		if err := f(ev); err != nil {
			if errors.Is(err, events.ErrNotStored) {
				p.add(ev)
			}
			return ev, err
		}
	}
	p.fmu.Lock()
	stored, dup := p.stored[ev.MsgID]
	if !dup {
		if p.stored == nil {
			p.stored = map[string]events.Event{}
		}
		p.stored[ev.MsgID], stored = ev, ev
		p.order = append(p.order, ev.MsgID)
	}
	p.fmu.Unlock()
	p.add(ev)
	return stored, nil
}

// Last is the EventLog: the newest stored event of the POS with status.
func (p *recPublisher) Last(_ context.Context, pos, status string) (events.Event, bool, error) {
	p.fmu.Lock()
	defer p.fmu.Unlock()
	if p.lastErr != nil {
		return events.Event{}, false, p.lastErr
	}
	for _, id := range slices.Backward(p.order) {
		if ev := p.stored[id]; ev.ExternalPOSID == pos && ev.Status == status && ev.Kind == "" {
			return ev, true, nil
		}
	}
	return events.Event{}, false, nil
}

func (p *recPublisher) setLastErr(err error) {
	p.fmu.Lock()
	p.lastErr = err
	p.fmu.Unlock()
}

// original is the event the stream keeps under msgID.
func (p *recPublisher) original(msgID string) (events.Event, bool) {
	p.fmu.Lock()
	defer p.fmu.Unlock()
	ev, ok := p.stored[msgID]
	return ev, ok
}

func (p *recPublisher) setFail(f func(events.Event) error) {
	p.fmu.Lock()
	p.fail = f
	p.fmu.Unlock()
}

type recScreens struct{ recorder[display.Screen] }

func (r *recScreens) Show(sc display.Screen) { r.add(sc) }

type recPrinter struct{ recorder[printer.Job] }

func (r *recPrinter) Print(j printer.Job) { r.add(j) }

// recMetrics records commands as "verb/outcome".
type recMetrics struct {
	recorder[string]
	mu        sync.Mutex
	open      int
	pubFailed int
}

func (m *recMetrics) Command(pos, verb, outcome string) { m.add(verb + "/" + outcome) }

func (m *recMetrics) OrdersOpen(pos string, n int) {
	m.mu.Lock()
	m.open = n
	m.mu.Unlock()
}

func (m *recMetrics) ordersOpen() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open
}

func (m *recMetrics) EventPublishFailed() {
	m.mu.Lock()
	m.pubFailed++
	m.mu.Unlock()
}

// recLogs records the session's log messages.
type recLogs struct{ recorder[string] }

func (l *recLogs) Enabled(context.Context, slog.Level) bool      { return true }
func (l *recLogs) Handle(_ context.Context, r slog.Record) error { l.add(r.Message); return nil }
func (l *recLogs) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *recLogs) WithGroup(string) slog.Handler                 { return l }

// logged reports how many times msg was logged.
func (l *recLogs) logged(msg string) int {
	n := 0
	for _, m := range l.all() {
		if m == msg {
			n++
		}
	}
	return n
}

// ctxKey marks the context of a command, so background calls (pollers
// and resolvers) can be told apart.
type ctxKey struct{}

// switchAPI is the session's OrdersAPI: a real client with a long retry
// budget, or, while the test plays an outage, the outage's client with a
// short one (fast, nil otherwise), and a gate that holds every background
// call until the test opens it.
type switchAPI struct {
	n            *notifier
	normal, fast *qrorder.Client
	mu           sync.Mutex
	gate         chan struct{} // nil: open
	held         int           // background calls waiting at the gate
}

func (a *switchAPI) client(ctx context.Context) (*qrorder.Client, error) {
	a.mu.Lock()
	gate := a.gate
	if gate != nil && ctx.Value(ctxKey{}) == nil {
		a.held++
		a.mu.Unlock()
		a.n.changed()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		a.mu.Lock()
		a.held--
		if ctx.Err() != nil {
			a.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	defer a.mu.Unlock()
	if a.fast != nil {
		return a.fast, nil
	}
	return a.normal, nil
}

func (a *switchAPI) Create(ctx context.Context, key string, req qrorder.CreateRequest) (*qrorder.Order, error) {
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Create(ctx, key, req)
}

func (a *switchAPI) Get(ctx context.Context, id string) (*qrorder.Order, error) {
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Get(ctx, id)
}

func (a *switchAPI) Cancel(ctx context.Context, key, id string) (*qrorder.Order, error) {
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Cancel(ctx, key, id)
}

func (a *switchAPI) Refund(ctx context.Context, key, id string, r *qrorder.RefundRequest) (*qrorder.Order, error) {
	c, err := a.client(ctx)
	if err != nil {
		return nil, err
	}
	return c.Refund(ctx, key, id, r)
}
