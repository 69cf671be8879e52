// Package session provides the per-POS state machine of posagent: it turns
// the register's commands into Orders API calls, keeps each sale's state
// durably, follows open orders until the API says they are final, resolves
// creates whose answer was lost, and tells the register and the customer
// display what happened (docs/protocol.md).
//
// A Session handles one command at a time (the consumer delivers them one by
// one) and holds its lock for the whole command, API calls included, so a
// command never interleaves with another or with a poller's result. Status
// queries read a snapshot and never wait on that lock.
//
// Every step is written so that running it again gives the same result: the
// create and cancel keys are deterministic, events carry a Nats-Msg-Id, and
// records are rewritten whole. A crash at any point is repaired by the
// redelivery of the unacknowledged command, or by Start for open orders.
package session

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/printer"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/subject"
)

// OrdersAPI is the part of the Orders API client a session uses.
type OrdersAPI interface {
	Create(ctx context.Context, key string, req qrorder.CreateRequest) (*qrorder.Order, error)
	Get(ctx context.Context, orderID string) (*qrorder.Order, error)
	Cancel(ctx context.Context, key, orderID string) (*qrorder.Order, error)
	Refund(ctx context.Context, key, orderID string, r *qrorder.RefundRequest) (*qrorder.Order, error)
}

// Store keeps JSON records durably.
type Store interface {
	Get(ctx context.Context, key string, v any) (bool, error)
	Put(ctx context.Context, key string, v any) error
	Delete(ctx context.Context, key string) error
}

// Publisher sends an event and returns once it is stored.
type Publisher interface {
	// Publish stores ev and returns it as stored: the original when the
	// stream already has an event with its MsgID (events.Publisher).
	Publish(ctx context.Context, ev events.Event) (events.Event, error)
}

// EventLog reads the events stream back.
type EventLog interface {
	// Last returns the newest event the stream keeps for the POS with
	// status (its subject's last token), MsgID set; false when it keeps
	// none.
	Last(ctx context.Context, pos, status string) (events.Event, bool, error)
}

// Screens shows a screen on the POS's customer displays without blocking.
type Screens interface{ Show(display.Screen) }

// Printer prints a receipt without blocking.
type Printer interface{ Print(printer.Job) }

// Metrics counts what the session does.
type Metrics interface {
	Command(pos, verb, outcome string)
	OrdersOpen(pos string, n int)
	EventPublishFailed()
}

// Config is one POS's settings.
type Config struct {
	StoreID                 string
	StoreName               string
	Locale                  string
	POS                     string // external_pos_id
	Mode                    qrorder.Mode
	StaticQRData            string
	ExpirationTime          string // ISO 8601; "" = API default
	ExternalReferencePrefix string
	MaxCommandAge           time.Duration
	PollInterval            time.Duration
	ResolveMaxInterval      time.Duration // cap between orphan resolution tries (and on the first wait, 1s); default 30s
	// Retention is how long the store keeps a record that is not
	// rewritten (sale_retention); open orders are rewritten well within it.
	Retention time.Duration
}

// Deps are a session's collaborators; Log, Screens, Printer and Metrics
// may be nil. Without Log every created order is written to the store
// (one write more per sale), as a restart could not find it in the
// events stream.
type Deps struct {
	API     OrdersAPI
	Store   Store
	Events  Publisher
	Log     EventLog
	Screens Screens
	Printer Printer
	Metrics Metrics
	Logger  *slog.Logger
	Now     func() time.Time
}

// Delivery is one command as the intake received it.
type Delivery struct {
	Verb         string // the subject's tokens after "cmd."
	Payload      []byte
	Seq          uint64    // stream sequence: names the command's rejected/failed event
	Timestamp    time.Time // when the stream stored it
	NumDelivered uint64
}

// Session runs one POS.
type Session struct {
	cfg Config
	d   Deps
	log *slog.Logger

	mu        sync.Mutex
	posRec    posRecord
	active    *saleRecord // the sale awaiting payment, if any
	cart      *command.Display
	lastEvent *events.Event
	poller    *poller
	orphansCh chan struct{} // closed and replaced whenever the orphan list changes
	fx        effects       // side effects already carried out by this process

	snap atomic.Pointer[events.StatusReply]
	// work is background work (pollers, resolvers) for Run to start with
	// its context; wake tells Run there is some.
	work  []func(context.Context)
	wake  chan struct{}
	ready chan struct{}
}

// ErrStopped is returned by Handle when the session's context ended while a
// command waited: the command is left for redelivery.
var ErrStopped = errors.New("session stopped")

// New returns a session; call Handle once Ready is closed.
func New(cfg Config, d Deps) *Session {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.ResolveMaxInterval <= 0 {
		cfg.ResolveMaxInterval = 30 * time.Second
	}
	s := &Session{cfg: cfg, d: d, log: d.Logger.With("pos", cfg.POS), orphansCh: make(chan struct{}),
		wake: make(chan struct{}, 1), ready: make(chan struct{})}
	s.snap.Store(&events.StatusReply{State: "idle"})
	return s
}

// POS returns the session's external_pos_id.
func (s *Session) POS() string { return s.cfg.POS }

// Status returns the current state without waiting for a command to finish.
func (s *Session) Status() events.StatusReply { return *s.snap.Load() }

// Ready is closed once Run has loaded the POS's records: Handle may be
// called from then on.
func (s *Session) Ready() <-chan struct{} { return s.ready }

// Run loads the POS's record, shows the right screen and resumes tracking
// of its open order and resolution of its orphan creates; then it runs the
// session's background work until ctx ends, and waits for it. It returns
// an error only when the records cannot be loaded. Run is called once.
func (s *Session) Run(ctx context.Context) error {
	if err := s.load(ctx); err != nil {
		return err
	}
	close(s.ready)
	var bg sync.WaitGroup
	defer bg.Wait()
	for {
		s.mu.Lock()
		work := s.work
		s.work = nil
		s.mu.Unlock()
		for _, f := range work {
			bg.Go(func() { f(ctx) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
	}
}

// goBackground hands f to Run, which runs it with its context. s.mu is held.
func (s *Session) goBackground(f func(ctx context.Context)) {
	s.work = append(s.work, f)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Session) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.d.Store.Get(ctx, s.posKey(), &s.posRec); err != nil {
		return err
	}
	if id := s.posRec.Active; id != "" {
		rec, err := s.getSale(ctx, id)
		if err == nil && rec == nil {
			rec, err = s.createdFromEvents(ctx, id)
		}
		if err != nil {
			return err
		}
		if rec != nil && rec.State == stateAwaiting {
			s.active = rec
			s.startPoller(rec)
			s.showAwaiting(rec)
			s.log.Info("resumed tracking open order", "sale_id", rec.SaleID, "order_id", rec.OrderID)
		}
	}
	if s.active == nil {
		s.showIdle()
	}
	for _, id := range s.posRec.Orphans {
		s.startResolver(id)
	}
	for _, id := range s.posRec.Pending {
		s.startPending(id)
	}
	s.updateSnapshot()
	return nil
}

// createdFromEvents finds the POS's active sale, which has no record of
// its own, in the events stream: when its create went through, the POS
// record kept the request and the stream the created event. nil when the
// stream has no created event of it (the create did not go through; its
// command, not acknowledged, comes again).
func (s *Session) createdFromEvents(ctx context.Context, saleID string) (*saleRecord, error) {
	if s.d.Log == nil || !s.posRec.creating(saleID) {
		return nil, nil
	}
	ev, ok, err := s.d.Log.Last(ctx, s.cfg.POS, events.Created)
	if err != nil || !ok {
		return nil, err
	}
	return createdRecord(s.cfg.StoreID, s.cfg.POS, s.posRec.Creating, ev), nil
}

// Poke asks the poller of orderID to ask the API now (a webhook's hint).
// It reports whether this session tracks that order.
func (s *Session) Poke(orderID string) bool {
	s.mu.Lock()
	p := s.poller
	s.mu.Unlock()
	if p == nil || p.orderID != orderID {
		return false
	}
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return true
}

// Handle runs one command to its outcome. It returns nil once the outcome
// is recorded and told (the command may be acknowledged), or an error when
// it must be redelivered.
func (s *Session) Handle(ctx context.Context, d Delivery) error {
	cmd, rej := command.Decode(d.Verb, d.Payload)
	if rej != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.reject(ctx, d, rej, "")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.updateSnapshot()
	switch c := cmd.(type) {
	case command.Sale:
		return s.handleSale(ctx, d, c)
	case command.Cancel:
		return s.handleCancel(ctx, d, c)
	case command.Refund:
		return s.handleRefund(ctx, d, c)
	case command.Display:
		return s.handleDisplay(ctx, d, c)
	}
	return nil
}

func (s *Session) stale(d Delivery) bool {
	return d.NumDelivered == 1 && s.cfg.MaxCommandAge > 0 && s.d.Now().Sub(d.Timestamp) > s.cfg.MaxCommandAge
}

func (s *Session) count(verb, outcome string) {
	if s.d.Metrics != nil {
		s.d.Metrics.Command(s.cfg.POS, verb, outcome)
	}
}

// publish sends ev and remembers it as the POS's last event; it returns
// the event as the stream stores it (Publisher). The status snapshot is
// updated first: a subscriber may get the event before the stream's
// acknowledgement reaches the agent, and a status query it sends then
// must agree with it.
func (s *Session) publish(ctx context.Context, ev events.Event) (events.Event, error) {
	prev := s.lastEvent
	e := ev
	s.lastEvent = &e
	s.updateSnapshot()
	stored, err := s.d.Events.Publish(ctx, ev)
	if err != nil {
		s.lastEvent = prev
		s.updateSnapshot()
		if s.d.Metrics != nil {
			s.d.Metrics.EventPublishFailed()
		}
		return ev, err
	}
	return stored, nil
}

func (s *Session) newEvent(status, saleID string) events.Event {
	return events.Event{Status: status, SaleID: saleID, ExternalPOSID: s.cfg.POS, At: events.Stamp(s.d.Now())}
}

// reject tells the register a command was refused. The event is named by
// the command's sequence, so a redelivered command is not stored twice.
func (s *Session) reject(ctx context.Context, d Delivery, rej *command.Rejection, saleStatus string) error {
	ev := s.newEvent(events.Rejected, rej.SaleID)
	ev.Error = &events.Error{Code: rej.Code, Field: rej.Field, Message: rej.Message}
	ev.SaleStatus = saleStatus
	ev.MsgID = subject.CommandMsgID(s.cfg.StoreID, s.cfg.POS, d.Seq, events.Rejected)
	if _, err := s.publishOnce(ctx, ev); err != nil {
		return err
	}
	s.count(verbName(d.Verb), events.Rejected)
	s.log.Info("command rejected", "verb", d.Verb, "seq", d.Seq, "sale_id", rej.SaleID, "code", rej.Code, "field", rej.Field, "reason", rej.Message)
	return nil
}

// fail tells the register a command could not be completed.
func (s *Session) fail(ctx context.Context, d Delivery, verb, saleID, code, msg string) (events.Event, error) {
	ev := s.newEvent(events.Failed, saleID)
	ev.Error = &events.Error{Code: code, Message: msg}
	ev.MsgID = subject.CommandMsgID(s.cfg.StoreID, s.cfg.POS, d.Seq, events.Failed)
	ev, err := s.publishOnce(ctx, ev)
	if err != nil {
		return ev, err
	}
	s.count(verb, events.Failed)
	s.log.Warn("command failed", "verb", verb, "seq", d.Seq, "sale_id", saleID, "code", code, "reason", msg)
	return ev, nil
}

// replay re-emits a recorded event: with replay set when a different
// command asked for it, as it was when its own command is redelivered.
func (s *Session) replay(ctx context.Context, d Delivery, verb string, ev events.Event, ownSeq uint64) error {
	ev.Replay = ownSeq != d.Seq
	if _, sent := s.fx.get("evt:" + ev.MsgID); sent && !ev.Replay {
		// Its own command delivered again: the register already had it.
		s.count(verb, "replayed")
		return nil
	}
	if _, err := s.publish(ctx, ev); err != nil {
		return err
	}
	s.count(verb, "replayed")
	return nil
}

func verbName(v string) string {
	switch command.Verb(v) {
	case command.VerbSale, command.VerbCancel, command.VerbRefund, command.VerbDisplay:
		return v
	}
	return "unknown"
}

func (s *Session) updateSnapshot() {
	st := events.StatusReply{State: "idle", LastEvent: s.lastEvent}
	active := s.active
	if le := s.lastEvent; active != nil && le != nil && le.SaleID == active.SaleID && endsSale(le.Status) {
		active = nil // published, about to be recorded
	}
	switch {
	case active != nil:
		st.State, st.SaleID, st.OrderID = "awaiting_payment", active.SaleID, active.OrderID
		st.TotalAmount = active.Request.TotalAmount.String()
	case s.cart != nil:
		st.State = "display"
	}
	s.snap.Store(&st)
	if s.d.Metrics != nil {
		n := 0
		if active != nil {
			n = 1
		}
		s.d.Metrics.OrdersOpen(s.cfg.POS, n)
	}
}

// endsSale reports whether an event tells its sale's outcome: the final
// order status it names (qrorder.Status.Final), other than refunded, which
// follows an outcome already told.
func endsSale(status string) bool {
	return status != events.Refunded && qrorder.Status(status).Final()
}
