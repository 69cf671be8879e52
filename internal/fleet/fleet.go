// Package fleet provides head office's view of many posagent agents over
// NATS. It finds every agent with the micro service discovery of the
// status service ($SRV.INFO.posagent, docs/protocol.md), then asks
// each POS its status on the subject the agent's INFO reply names, and
// hands each result over as soon as it is known: with thousands of agents
// behind leaf nodes the first lines come at once, the discovery wait is
// bounded (a timeout, or a quiet period without new answers) and so is the
// number of status requests in flight.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/posagent/posagent/internal/events"
)

// Service is the micro service name every agent registers.
const Service = "posagent"

// HubInboxPrefix is the reply subject prefix for head office clients of
// a hub configured like configs/hub.conf, which sends the stores no
// _INBOX traffic: a store's register may subscribe to _INBOX.> and would
// otherwise hear head office's replies.
const HubInboxPrefix = "_HQ_INBOX"

// Defaults of Options.
const (
	DefaultTimeout     = 2 * time.Second
	DefaultQuiet       = 500 * time.Millisecond
	DefaultConcurrency = 64
)

// Options bound the work.
type Options struct {
	// Service is the micro service name; "" is Service.
	Service string
	// Timeout bounds discovery: answers arriving later are not waited
	// for. 0 is DefaultTimeout.
	Timeout time.Duration
	// Quiet ends discovery early once answers have started and none came
	// for this long. 0 is DefaultQuiet; negative waits the whole Timeout.
	Quiet time.Duration
	// StatusTimeout bounds each status request; 0 is Timeout.
	StatusTimeout time.Duration
	// Concurrency is how many status requests may be in flight; 0 is
	// DefaultConcurrency.
	Concurrency int
	// StoreID, when set, keeps only that store's agents.
	StoreID string
	// Expect, when positive, ends discovery as soon as that many agents
	// answered (head office knows how many stores it has).
	Expect int
}

func (o Options) withDefaults() Options {
	if o.Service == "" {
		o.Service = Service
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Quiet == 0 {
		o.Quiet = DefaultQuiet
	}
	if o.StatusTimeout <= 0 {
		o.StatusTimeout = o.Timeout
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// Agent is one running agent as its INFO reply describes it.
type Agent struct {
	ID        string
	Version   string
	StoreID   string
	StoreName string
	Started   time.Time // zero when the agent did not say
	POS       []Endpoint
}

// Endpoint is one POS's status query.
type Endpoint struct {
	POS     string
	Subject string
}

// Row is one POS of one agent, or an agent that lists no POS (POS "").
// Err says why its status is missing.
type Row struct {
	Agent   Agent
	POS     string
	Subject string
	Status  *events.StatusReply
	Err     error
}

// Summary counts what Collect found.
type Summary struct {
	Agents int // agents that answered discovery
	POS    int // POS rows
	Failed int // POS whose status did not come
}

// parseInfo reads an INFO reply; ok is false for anything that is not a
// posagent agent's.
func parseInfo(data []byte, service string) (Agent, bool) {
	var info micro.Info
	if err := json.Unmarshal(data, &info); err != nil || info.Type != micro.InfoResponseType || info.Name != service || info.ID == "" {
		return Agent{}, false
	}
	a := Agent{ID: info.ID, Version: info.Version, StoreID: info.Metadata["store_id"], StoreName: info.Metadata["store_name"]}
	if t, err := time.Parse(time.RFC3339, info.Metadata["started"]); err == nil {
		a.Started = t
	}
	for _, e := range info.Endpoints {
		if pos := e.Metadata["pos"]; pos != "" && e.Subject != "" {
			a.POS = append(a.POS, Endpoint{POS: pos, Subject: e.Subject})
		}
	}
	return a, true
}

// Discover asks every agent for its INFO and calls found, from this
// goroutine, for each one that answers, until Timeout, the Quiet period,
// Expect answers or ctx ends. It returns how many agents it found.
func Discover(ctx context.Context, nc *nats.Conn, o Options, found func(Agent)) (int, error) {
	o = o.withDefaults()
	replies := make(chan []byte, 256)
	stop := make(chan struct{})
	defer close(stop)
	inbox := nc.NewInbox()
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		select {
		case replies <- m.Data:
		case <-stop:
		}
	})
	if err != nil {
		return 0, fmt.Errorf("fleet: subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Thousands of agents answer at once: keep every answer rather than
	// drop them as a slow consumer; they are small.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return 0, fmt.Errorf("fleet: %w", err)
	}
	subject := "$SRV.INFO." + o.Service
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return 0, fmt.Errorf("fleet: request %s: %w", subject, err)
	}
	if err := nc.Flush(); err != nil {
		return 0, fmt.Errorf("fleet: request %s: %w", subject, err)
	}
	deadline := time.NewTimer(o.Timeout)
	defer deadline.Stop()
	var quiet *time.Timer
	var quietC <-chan time.Time
	seen := map[string]bool{}
	for {
		select {
		case data := <-replies:
			a, ok := parseInfo(data, o.Service)
			if !ok || seen[a.ID] || (o.StoreID != "" && a.StoreID != o.StoreID) {
				continue
			}
			seen[a.ID] = true
			found(a)
			if o.Expect > 0 && len(seen) >= o.Expect {
				return len(seen), nil
			}
			if o.Quiet > 0 {
				if quiet == nil {
					quiet = time.NewTimer(o.Quiet)
					defer quiet.Stop()
					quietC = quiet.C
				} else {
					quiet.Reset(o.Quiet)
				}
			}
		case <-quietC:
			return len(seen), nil
		case <-deadline.C:
			return len(seen), nil
		case <-ctx.Done():
			return len(seen), ctx.Err()
		}
	}
}

// Collect discovers the agents and asks each of their POS its status, at
// most Concurrency at a time. row is called for every POS (and every
// agent without POS) as soon as its status, or the failure to get it, is
// known; never concurrently. It returns once every discovered POS has its
// row.
func Collect(ctx context.Context, nc *nats.Conn, o Options, row func(Row)) (Summary, error) {
	o = o.withDefaults()
	var (
		mu  sync.Mutex
		sum Summary
	)
	emit := func(r Row) {
		mu.Lock()
		defer mu.Unlock()
		if r.POS != "" { // an agent without POS is shown, not counted as one
			sum.POS++
			if r.Err != nil {
				sum.Failed++
			}
		}
		row(r)
	}
	in, out := queue[Row]()
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range out {
				r.Status, r.Err = askStatus(ctx, nc, r.Subject, o.StatusTimeout)
				emit(r)
			}
		}()
	}
	n, err := Discover(ctx, nc, o, func(a Agent) {
		if len(a.POS) == 0 {
			emit(Row{Agent: a})
			return
		}
		for _, e := range a.POS {
			in <- Row{Agent: a, POS: e.POS, Subject: e.Subject}
		}
	})
	close(in)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	sum.Agents = n
	return sum, err
}

// askStatus sends one status query.
func askStatus(ctx context.Context, nc *nats.Conn, subject string, timeout time.Duration) (*events.StatusReply, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := nc.RequestWithContext(rctx, subject, nil)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", timeout)
		}
		return nil, err
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		return nil, fmt.Errorf("error %s: %s", code, m.Header.Get(micro.ErrorHeader))
	}
	var st events.StatusReply
	if err := json.Unmarshal(m.Data, &st); err != nil || st.State == "" {
		return nil, fmt.Errorf("not a status reply: %.80q", m.Data)
	}
	return &st, nil
}

// queue is an unbounded channel: sends on in never wait for the readers
// of out, so discovery keeps reading answers while the workers are busy.
// Closing in closes out once everything sent has been read.
func queue[T any]() (chan<- T, <-chan T) {
	in, out := make(chan T), make(chan T)
	go func() {
		defer close(out)
		var pending []T
		src := in
		for src != nil || len(pending) > 0 {
			var dst chan T
			var next T
			if len(pending) > 0 {
				dst, next = out, pending[0]
			}
			select {
			case v, ok := <-src:
				if !ok {
					src = nil
					continue
				}
				pending = append(pending, v)
			case dst <- next:
				var zero T
				pending[0] = zero
				pending = pending[1:]
			}
		}
	}()
	return in, out
}
