package agent

import (
	"context"
	"sync"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/session"
)

// feedSize is how many recent events the status page lists.
const feedSize = 50

// statusFeed keeps the agent's latest events, newest last, for the status
// page, and wakes the page's streams when something happens. It sees every
// event the agent stores in the events stream (tap), so it works whatever
// the agent's NATS permissions allow it to subscribe to.
type statusFeed struct {
	mu      sync.Mutex
	recent  []events.Event
	changed chan struct{} // closed and replaced on every event
	done    chan struct{} // closed at shutdown: streams end
	closed  bool
}

func newStatusFeed() *statusFeed {
	return &statusFeed{changed: make(chan struct{}), done: make(chan struct{})}
}

// add records an event the agent published.
func (f *statusFeed) add(ev events.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recent = append(f.recent, ev)
	if len(f.recent) > feedSize {
		f.recent = append(f.recent[:0:0], f.recent[len(f.recent)-feedSize:]...)
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// events returns a copy of the recent events, newest last.
func (f *statusFeed) events() []events.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.Event(nil), f.recent...)
}

// wait returns a channel closed by the next event.
func (f *statusFeed) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// close ends every status stream (the server is shutting down: they would
// otherwise keep it waiting).
func (f *statusFeed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.done)
	}
}

// tap returns a publisher that records in the feed every event p stores.
func (f *statusFeed) tap(p session.Publisher) session.Publisher { return tappedPublisher{p, f} }

type tappedPublisher struct {
	pub  session.Publisher
	feed *statusFeed
}

func (t tappedPublisher) Publish(ctx context.Context, ev events.Event) (events.Event, error) {
	ev, err := t.pub.Publish(ctx, ev)
	if err != nil {
		return ev, err
	}
	t.feed.add(ev)
	return ev, nil
}
