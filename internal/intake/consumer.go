package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/session"
	"github.com/posagent/posagent/internal/subject"
)

// Handler runs one command to its recorded outcome; an error means "do
// not acknowledge, deliver it again".
type Handler interface {
	Handle(ctx context.Context, d session.Delivery) error
}

// AckWait is how long the server waits for an acknowledgement before it
// redelivers (the contract's 30 s); long API retries are kept alive with
// in-progress acks (every AckWait/3). A command in hand when the agent was
// killed does not wait it out: the agent takes it back when it starts
// (Setup; docs/degraded.md, "Crash recovery"; measured in BENCHMARKS.md).
const AckWait = 30 * time.Second

// Consumer feeds one POS's commands to its handler, one at a time.
type Consumer struct {
	js      jetstream.JetStream
	streams Streams
	store   string
	pos     string
	h       Handler
	log     *slog.Logger
	running atomic.Bool
	started chan struct{} // closed once the consumer first runs
	once    sync.Once

	// Grace is how long a command being handled when Run's context ends may
	// still run (its API calls finish); 0 stops it at once.
	Grace time.Duration
	// StallAfter is how long one command may be in hand before the POS
	// counts as stalled; 0 = 5 minutes.
	StallAfter time.Duration

	current atomic.Pointer[inHand]
	// setUp is set once Setup has made the consumer in this process: only
	// the first Setup takes back a command left in hand (takeBack).
	setUp atomic.Bool
	// takenBack holds the stream sequences (lo, hi] the replaced consumer
	// had delivered without an acknowledgement: the new consumer delivers
	// them as if for the first time, but they are redeliveries.
	takenBack atomic.Pointer[[2]uint64]
	// unacked holds commands this process was handed and did not see
	// acknowledged: a consumer the server made afresh (it restarted and
	// lost the consumer with its memory) delivers them again as if for the
	// first time.
	unacked recentSet
}

// recentSet is a small set of stream sequences that forgets the oldest
// past recentMax (an ack that was carried out but not confirmed leaves its
// sequence here for good; that command never comes back).
type recentSet struct {
	mu    sync.Mutex
	order []uint64
}

const recentMax = 64

func (r *recentSet) add(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Contains(r.order, seq) {
		return
	}
	if len(r.order) == recentMax {
		r.order = r.order[1:]
	}
	r.order = append(r.order, seq)
}

func (r *recentSet) remove(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.order = slices.DeleteFunc(r.order, func(s uint64) bool { return s == seq })
}

func (r *recentSet) has(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.order, seq)
}

// inHand is the command being handled.
type inHand struct {
	seq       uint64
	delivered uint64
	since     time.Time
}

// stallDeliveries is how many deliveries of one command make its POS
// stalled: the command keeps failing (storage refusing its outcome, ...).
const stallDeliveries = 5

// Stalled says why the POS does not get through its commands: one command
// delivered again and again, or in hand for longer than StallAfter; ""
// otherwise. It clears by itself once that command is done.
func (c *Consumer) Stalled() string {
	cur := c.current.Load()
	if cur == nil {
		return ""
	}
	limit := c.StallAfter
	if limit <= 0 {
		limit = 5 * time.Minute
	}
	switch {
	case cur.delivered >= stallDeliveries:
		return fmt.Sprintf("command %d delivered %d times", cur.seq, cur.delivered)
	case time.Since(cur.since) > limit:
		return fmt.Sprintf("command %d in hand for %s", cur.seq, time.Since(cur.since).Round(time.Second))
	}
	return ""
}

// NewConsumer returns a consumer for pos's commands.
func NewConsumer(js jetstream.JetStream, s Streams, store, pos string, h Handler, log *slog.Logger) *Consumer {
	return &Consumer{js: js, streams: s, store: store, pos: pos, h: h, log: log.With("pos", pos), started: make(chan struct{})}
}

// Name is the durable consumer's name.
func (c *Consumer) Name() string { return subject.Consumer(c.store, c.pos) }

// POS is the external_pos_id whose commands the consumer reads.
func (c *Consumer) POS() string { return c.pos }

// Started is closed once the consumer first fetches commands.
func (c *Consumer) Started() <-chan struct{} { return c.started }

// Running reports whether the consumer is fetching commands.
func (c *Consumer) Running() bool { return c.running.Load() }

// Setup creates or updates the durable consumer; Run calls it, and the
// agent calls it before reporting ready.
//
// The consumer keeps its state (what it delivered, what was acknowledged)
// in the server's memory, not on disk: on a work-queue stream that state
// says nothing the stream does not. An acknowledged command is removed from
// the stream, durably; whatever is still in it is, by that very fact, not
// done, and a consumer made afresh after a server restart delivers it at
// once. On disk, with sync: always, the state cost up to four synced
// writes per command (its file, O_SYNC, and its directory, at delivery and
// at acknowledgement): twice what the sale records now cost (docs/durability.md).
// A consumer an earlier version made on disk is replaced once, and so is,
// at the first Setup, one with a command in hand (takeBack).
func (c *Consumer) Setup(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Name(),
		Description:   "posagent commands of POS " + c.pos,
		FilterSubject: c.streams.CommandFilter(c.store, c.pos),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MemoryStorage: true,
	}
	if err := c.replaceStale(ctx, !c.setUp.Load()); err != nil {
		return nil, err
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.streams.Commands, cfg)
	if err != nil {
		return nil, fmt.Errorf("intake: consumer %s: %w", c.Name(), err)
	}
	c.setUp.Store(true)
	return cons, nil
}

// replaceStale deletes the POS's consumer, so that Setup makes it afresh,
// when it keeps its state on disk (made by an earlier version: the server
// cannot change a consumer's storage) or, at the process's first Setup
// (takeBack), when it has a command in hand: the process that fetched it
// is gone (one agent serves a store), and the server would otherwise hand
// it out again only when its ack wait ran out. The commands the consumer
// had not seen acknowledged stay in the stream and go to its replacement
// at once, the one in hand first.
func (c *Consumer) replaceStale(ctx context.Context, takeBack bool) error {
	old, err := c.js.Consumer(ctx, c.streams.Commands, c.Name())
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("intake: consumer %s: %w", c.Name(), err)
	}
	info := old.CachedInfo()
	switch {
	case !info.Config.MemoryStorage:
		c.log.Info("replacing the command consumer an earlier version kept on disk", "consumer", c.Name())
	case takeBack && info.NumAckPending > 0:
		c.log.Info("taking back the command the last run had in hand", "consumer", c.Name(), "seq", info.Delivered.Stream)
		c.takenBack.Store(&[2]uint64{info.AckFloor.Stream, info.Delivered.Stream})
	default:
		return nil
	}
	if err := c.js.DeleteConsumer(ctx, c.streams.Commands, c.Name()); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("intake: replacing consumer %s: %w", c.Name(), err)
	}
	return nil
}

// Run fetches and handles commands until ctx ends. Connection trouble is
// logged and waited out; it never ends Run.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.running.Store(false)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.consume(ctx)
		c.running.Store(false)
		if ctx.Err() != nil {
			break
		}
		c.log.Warn("command consumer interrupted; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

// fetchWait bounds one pull request: an idle consumer asks again this
// often, so a request lost with a connection is replaced quickly.
const fetchWait = 5 * time.Second

// consume pulls one command at a time (the consumer allows one
// unacknowledged command anyway) and handles it. Plain pull requests are
// used rather than the continuous Messages iterator: each is simple to
// reason about across reconnects, and a command never waits behind a
// stalled request for more than fetchWait.
func (c *Consumer) consume(ctx context.Context) error {
	cons, err := c.Setup(ctx)
	if err != nil {
		return err
	}
	c.running.Store(true)
	c.once.Do(func() { close(c.started) })
	for {
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return err
			}
			if consumerGone(err) {
				return err // Run sets it up again
			}
			// NATS away: the connection reconnects by itself.
			c.log.Debug("fetch failed; asking again", "err", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		for msg := range batch.Messages() {
			c.handle(ctx, msg)
		}
		cancel()
		if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) && ctx.Err() == nil {
			if consumerGone(err) {
				return err
			}
			c.log.Debug("fetch ended", "err", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// consumerGone reports whether a pull request failed because the consumer
// is not there: deleted, or, kept in memory, lost with a server restart
// (its pull requests then find no responder).
func consumerGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, nats.ErrNoResponders)
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("command without JetStream metadata; terminated", "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason("no metadata")
		return
	}
	subj, _ := subject.Parse(c.streams.Prefix, msg.Subject()) // its filter makes it this POS's command
	d := session.Delivery{
		Verb:         subj.Name,
		Payload:      msg.Data(),
		Seq:          md.Sequence.Stream,
		Timestamp:    md.Timestamp,
		NumDelivered: c.deliveries(md),
	}
	hctx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.Grace, cancelWork)
		context.AfterFunc(hctx, func() { t.Stop() })
	})
	defer stopGrace()
	stop := keepAlive(msg)
	c.unacked.add(d.Seq)
	c.current.Store(&inHand{seq: d.Seq, delivered: d.NumDelivered, since: time.Now()})
	herr := c.h.Handle(hctx, d)
	stop()
	if herr == nil {
		c.current.Store(nil)
	}
	if herr != nil {
		if hctx.Err() != nil {
			// Shutting down: hand it back now so a restart gets it at once.
			_ = msg.Nak()
			return
		}
		c.log.Warn("command not completed; it will be delivered again", "seq", d.Seq, "verb", d.Verb, "err", herr)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		// The outcome is recorded: a redelivery replays it, never redoes it.
		c.log.Warn("ack not confirmed; a redelivery will replay the outcome", "seq", d.Seq, "err", err)
		return
	}
	c.unacked.remove(d.Seq)
}

// deliveries is how many times the command has been delivered, counting
// the deliveries a consumer made afresh does not know of: to the run whose
// consumer Setup replaced (takenBack), and to this process before the
// server lost the consumer (unacked). The session tells a redelivery by it
// (a redelivered command is never stale, and a cancel redelivered after
// it ended its sale answers with the outcome).
func (c *Consumer) deliveries(md *jetstream.MsgMetadata) uint64 {
	seq := md.Sequence.Stream
	if r := c.takenBack.Load(); (r != nil && seq > r[0] && seq <= r[1]) || c.unacked.has(seq) {
		return max(md.NumDelivered, 2)
	}
	return md.NumDelivered
}

// keepAlive sends in-progress acks while a command is being handled, so a
// long API retry does not trigger a redelivery.
func keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done); <-finished }
}
