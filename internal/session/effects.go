package session

import (
	"context"
	"errors"

	"github.com/posagent/posagent/internal/events"
)

// effectMemory is how many side effects a session remembers; far more
// than the few a command being retried needs.
const effectMemory = 256

// effects remembers the side effects this process already carried out
// (live events, printed receipts, QR screens), so that a command retried
// because its outcome could not be recorded (storage refusing writes)
// does not show, print or announce a sale twice (docs/degraded.md). It
// lives in memory only: after a crash, a repeat remains possible.
type effects struct {
	done  map[string]events.Event
	order []string
}

func (e *effects) get(key string) (events.Event, bool) {
	ev, ok := e.done[key]
	return ev, ok
}

func (e *effects) add(key string, ev events.Event) {
	if e.done == nil {
		e.done = map[string]events.Event{}
	}
	if _, ok := e.done[key]; ok {
		return
	}
	if len(e.order) >= effectMemory {
		delete(e.done, e.order[0])
		e.order = e.order[1:]
	}
	e.done[key] = ev
	e.order = append(e.order, key)
}

// unstored reports whether the event with msgID reached registers live
// but the events stream did not keep it.
func (e *effects) unstored(msgID string) bool {
	_, ok := e.done["unstored:"+msgID]
	return ok
}

// once runs fn unless an effect named key already ran.
func (e *effects) once(key string, fn func()) {
	if _, ok := e.done[key]; ok {
		return
	}
	fn()
	e.add(key, events.Event{})
}

// publishOnce publishes ev unless an event with its message id already
// reached the server from this process; it returns the event the register
// got (the earlier one, with its own "at", when it was not sent again).
// An event the server delivered live but did not store is remembered too,
// and its error returned: the command is retried, but the event is not
// shown twice.
func (s *Session) publishOnce(ctx context.Context, ev events.Event) (events.Event, error) {
	key := "evt:" + ev.MsgID
	if prev, ok := s.fx.get(key); ok {
		e := prev
		s.lastEvent = &e
		s.updateSnapshot()
		return prev, nil
	}
	ev, err := s.publish(ctx, ev)
	if err == nil || errors.Is(err, events.ErrNotStored) {
		s.fx.add(key, ev)
	}
	if errors.Is(err, events.ErrNotStored) {
		s.fx.add("unstored:"+ev.MsgID, events.Event{})
	}
	if err == nil {
		// The stream's copy: the original when it had one already.
		e := ev
		s.lastEvent = &e
		s.updateSnapshot()
	}
	if err != nil && errors.Is(err, events.ErrNotStored) {
		// Live subscribers have it: keep it as the POS's last event.
		e := ev
		s.lastEvent = &e
		s.updateSnapshot()
	}
	return ev, err
}
