//go:build soak

package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
)

// received is one event as a register got it: live from a subscription
// (replays included) or stored, read from the events stream.
type received struct {
	Event   events.Event
	Raw     []byte
	MsgID   string
	Subject string
	POS     string
	Kind    string // the subject's last token: created, processed, ..., printer
	Live    bool
	Seq     uint64 // stream sequence when read from the stream
	Got     time.Time
}

func parseEvent(subject string, hdr nats.Header, data []byte) (received, error) {
	r := received{Subject: subject, MsgID: hdr.Get(jetstream.MsgIDHeader), Raw: data, Got: time.Now()}
	toks := strings.Split(subject, ".")
	if len(toks) < 5 {
		return r, fmt.Errorf("event subject %q has too few tokens", subject)
	}
	r.POS, r.Kind = toks[len(toks)-3], toks[len(toks)-1]
	if err := json.Unmarshal(data, &r.Event); err != nil {
		return r, fmt.Errorf("event on %s is not JSON: %w: %q", subject, err, data)
	}
	return r, nil
}

// isFinal reports whether an event tells its sale's outcome: a final order
// status (qrorder.Status.Final) other than refunded, as the agent sees it.
func isFinal(status string) bool {
	return status != events.Refunded && qrorder.Status(status).Final()
}

// eventLog is one POS's events in arrival order, each kept once however
// many ways it arrived (live and stored copies are byte-identical).
type eventLog struct {
	mu      sync.Mutex
	recs    []received
	seen    map[string]bool
	changed chan struct{}
}

func newEventLog() *eventLog {
	return &eventLog{seen: map[string]bool{}, changed: make(chan struct{})}
}

func (l *eventLog) add(r received) {
	key := r.MsgID + "\x00" + string(r.Raw)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[key] {
		return
	}
	l.seen[key] = true
	l.recs = append(l.recs, r)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

// next returns the first record at index from or later that matches, and
// the index after it, waiting for new records until ctx ends.
func (l *eventLog) next(ctx context.Context, from int, match func(received) bool) (received, int, error) {
	for {
		l.mu.Lock()
		for i := from; i < len(l.recs); i++ {
			if match(l.recs[i]) {
				r := l.recs[i]
				l.mu.Unlock()
				return r, i + 1, nil
			}
		}
		from = len(l.recs)
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return received{}, from, ctx.Err()
		}
	}
}

// hub feeds every event of the store to its POS's log, from a core
// subscription (what a register hears live, replays included) and from an
// ordered consumer on the events stream (what was stored, which a register
// reads back after missing live events during a NATS restart).
type hub struct {
	logs map[string]*eventLog

	mu        sync.Mutex
	lastSeq   uint64
	finals    map[string]int // sale id -> stored final events
	replays   []received     // live events marked replay
	bad       []string       // events that could not be parsed
	changed   chan struct{}
	followErr int // times the stream follower had to start over
}

func newHub(pos []string) *hub {
	h := &hub{logs: map[string]*eventLog{}, finals: map[string]int{}, changed: make(chan struct{})}
	for _, p := range pos {
		h.logs[p] = newEventLog()
	}
	return h
}

func (h *hub) dispatch(r received) {
	if l := h.logs[r.POS]; l != nil {
		l.add(r)
	}
}

// subscribe listens live on every event subject of the store.
func (h *hub) subscribe(nc *nats.Conn, filter string) error {
	_, err := nc.Subscribe(filter, func(m *nats.Msg) {
		r, err := parseEvent(m.Subject, m.Header, m.Data)
		if err != nil {
			h.noteBad(err)
			return
		}
		r.Live = true
		if r.Event.Replay {
			h.mu.Lock()
			h.replays = append(h.replays, r)
			h.mu.Unlock()
		}
		h.dispatch(r)
	})
	if err != nil {
		return err
	}
	return nc.Flush()
}

func (h *hub) noteBad(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bad = append(h.bad, err.Error())
}

// follow reads the events stream from the start until ctx ends, starting
// over after the last sequence seen whenever the consumer fails.
func (h *hub) follow(ctx context.Context, js jetstream.JetStream, stream string) {
	for ctx.Err() == nil {
		if err := h.followOnce(ctx, js, stream); err != nil && ctx.Err() == nil {
			h.mu.Lock()
			h.followErr++
			h.mu.Unlock()
			pace(ctx, 200*time.Millisecond)
		}
	}
}

func (h *hub) followOnce(ctx context.Context, js jetstream.JetStream, stream string) error {
	h.mu.Lock()
	start := h.lastSeq + 1
	h.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := js.OrderedConsumer(cctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	cancel()
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() != nil {
				return nil
			}
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		h.stored(m, md.Sequence.Stream)
	}
}

func (h *hub) stored(m jetstream.Msg, seq uint64) {
	r, err := parseEvent(m.Subject(), m.Headers(), m.Data())
	r.Seq = seq
	h.mu.Lock()
	if seq <= h.lastSeq {
		h.mu.Unlock()
		return
	}
	h.lastSeq = seq
	if err != nil {
		h.bad = append(h.bad, err.Error())
	} else if r.Kind != events.Printer && isFinal(r.Event.Status) {
		h.finals[r.Event.SaleID]++
	}
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
	if err == nil {
		h.dispatch(r)
	}
}

// waitStored waits until cond holds over the stored finals (sale id ->
// count), re-evaluated whenever the stream delivers.
func (h *hub) waitStored(ctx context.Context, cond func(finals map[string]int) bool) error {
	for {
		h.mu.Lock()
		ok := cond(h.finals)
		ch := h.changed
		h.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (h *hub) snapshot() (replays []received, bad []string, followErr int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.replays...), append([]string(nil), h.bad...), h.followErr
}

// pace spaces out retries of something that just failed. It is not a
// wait for a result: the retry itself finds out whether things recovered.
func pace(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// readStream reads every message of stream, in order, with a fresh
// ordered consumer: the source of truth for the final audit. It fetches
// in batches: an ordered consumer makes a new server-side consumer for
// every Fetch or Next, and one per message would be slow and leave
// hundreds behind for the server to expire.
func readStream(ctx context.Context, js jetstream.JetStream, stream string) ([]received, jetstream.StreamState, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, jetstream.StreamState{}, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, jetstream.StreamState{}, err
	}
	state := info.State
	if state.Msgs == 0 {
		return nil, state, nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, state, err
	}
	var out []received
	for uint64(len(out)) < state.Msgs {
		// Never more than the stream still holds: a fetch waits until its
		// batch is full (or its deadline passes).
		batch, err := cons.Fetch(int(min(state.Msgs-uint64(len(out)), 500)), jetstream.FetchMaxWait(30*time.Second))
		if err != nil {
			return out, state, fmt.Errorf("reading %s after %d of %d messages: %w", stream, len(out), state.Msgs, err)
		}
		before := len(out)
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return out, state, err
			}
			if md.Sequence.Stream > state.LastSeq {
				return out, state, nil
			}
			r, err := parseEvent(m.Subject(), m.Headers(), m.Data())
			if err != nil {
				return out, state, err
			}
			r.Seq = md.Sequence.Stream
			out = append(out, r)
		}
		if err := batch.Error(); err != nil {
			return out, state, fmt.Errorf("reading %s after %d of %d messages: %w", stream, len(out), state.Msgs, err)
		}
		if len(out) == before {
			return out, state, fmt.Errorf("reading %s: %d of %d messages, then nothing", stream, len(out), state.Msgs)
		}
	}
	return out, state, nil
}
