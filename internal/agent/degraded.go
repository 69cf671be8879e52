package agent

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/intake"
	"github.com/posagent/posagent/internal/session"
	"github.com/posagent/posagent/internal/subject"
)

// watchedStore reports to the health whether the sale records accept
// writes (docs/degraded.md).
type watchedStore struct {
	session.Store
	h *health
}

func (w watchedStore) Put(ctx context.Context, key string, v any) error {
	err := w.Store.Put(ctx, key, v)
	w.h.storageResult("records", refusal(err))
	return err
}

func (w watchedStore) Delete(ctx context.Context, key string) error {
	err := w.Store.Delete(ctx, key)
	w.h.storageResult("records", refusal(err))
	return err
}

// watchedEvents reports to the health whether the events stream stores
// what the agent publishes.
type watchedEvents struct {
	session.Publisher
	h *health
}

func (w watchedEvents) Publish(ctx context.Context, ev events.Event) (events.Event, error) {
	ev, err := w.Publisher.Publish(ctx, ev)
	if err == nil || errors.Is(err, events.ErrNotStored) {
		w.h.storageResult("events", err)
	} else if r := refusal(err); r != nil {
		w.h.storageResult("events", r)
	}
	return ev, err
}

// refusal keeps the errors by which the server refused a write (storage
// or limits), or did not answer it (a stream stuck on a write error, as
// after a full disk); a closed connection is the nats check's business.
func refusal(err error) error {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &apiErr):
		return errors.New(apiErr.Description)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, jetstream.ErrNoStreamResponse):
		return errors.New("no answer from JetStream")
	}
	return nil
}

// probeOrderID names no order: reading it tells a valid token (404) from a
// rejected one (401) without creating anything.
const probeOrderID = "ORDPOSAGENTHEALTHPROBE"

// probeAPI reads a non-existent order at start, so a rejected token or an
// unreachable API shows on /healthz before any sale, and again every
// `every` while either is not ok, so both checks recover by themselves.
// The answers reach the health through the client's observer.
func (a *Agent) probeAPI(ctx context.Context, get func(ctx context.Context, id string) error, every time.Duration) {
	for {
		_ = get(ctx, probeOrderID)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
			r := a.health.report()
			if r.Checks["api_token"] != "ok" || r.Checks["api"] != "ok" {
				break
			}
		}
	}
}

// unknownPOSLabel is the pos label of every command for a POS this agent
// does not serve: never the sender's string (unbounded label values).
const unknownPOSLabel = "_unknown"

// startStrays answers commands for POS this agent does not serve, when
// the agent owns the bus (embedded server) or nats.unknown_pos is reject.
func (a *Agent) startStrays(g *errgroup.Group, ctx context.Context, nc *nats.Conn, js jetstream.JetStream, streams intake.Streams, pub session.Publisher) {
	if a.cfg.NATS.URL != "" && a.cfg.NATS.UnknownPOS != "reject" {
		return
	}
	served := map[string]bool{}
	for _, p := range a.cfg.POS {
		served[p.ExternalPOSID] = true
	}
	s := &intake.Strays{JS: js, NC: nc, Streams: streams, Store: a.cfg.StoreID, Served: served, Log: a.log,
		Answer: func(ctx context.Context, st intake.Stray) error { return a.answerStray(ctx, pub, st) }}
	g.Go(func() error { return s.Run(ctx) })
}

// answerStray tells the sender of a command for an unknown POS, on that
// POS's evt.rejected, named by the command's sequence like any rejection.
func (a *Agent) answerStray(ctx context.Context, pub session.Publisher, st intake.Stray) error {
	var payload map[string]any
	_ = json.Unmarshal(st.Payload, &payload)
	saleID, _ := payload["sale_id"].(string)
	saleID = command.EchoedSaleID(saleID)
	ev := events.Event{Status: events.Rejected, SaleID: saleID, ExternalPOSID: st.POS, At: events.Stamp(time.Now()),
		Error: &events.Error{Code: command.CodeUnknownPOS,
			Message: "no agent of store " + a.cfg.StoreID + " serves this POS here: check the external_pos_id in the subject; the command was removed"}}
	ev.MsgID = subject.CommandMsgID(a.cfg.StoreID, st.POS, st.Seq, events.Rejected)
	if _, err := pub.Publish(ctx, ev); err != nil && !errors.Is(err, events.ErrNotStored) {
		return err
	}
	verb := st.Verb
	switch command.Verb(verb) {
	case command.VerbSale, command.VerbCancel, command.VerbRefund, command.VerbDisplay:
	default:
		verb = "unknown"
	}
	a.metrics.Command(unknownPOSLabel, verb, events.Rejected)
	a.unknownPOS.Add(1)
	a.log.Warn("command for a POS this agent does not serve: rejected (unknown_pos) and removed", "seq", st.Seq, "verb", verb)
	return nil
}

// reviveEvery is how often the embedded server's JetStream is checked;
// stuckAfter is how long the agent's own writes must fail, none
// succeeding, before JetStream counts as stuck when the server has not
// said so; reloads are at least reviveBackoff apart, doubling while
// they do not last, up to reviveBackoffMax.
const (
	reviveEvery      = 2 * time.Second
	stuckAfter       = 10 * time.Second
	reviveBackoff    = 2 * time.Second
	reviveBackoffMax = time.Minute
)

// reloadingJetStream is logged at each reload.
const reloadingJetStream = "storage refusing writes, and the disk has room again: reloading JetStream"

// jetStreamWriteError hears from the embedded server that a stream took a
// write error (a full disk): whoever writes to it, registers included,
// is refused from then on, so /healthz says so and reviveJetStream reloads
// it once the disk has room again.
func (a *Agent) jetStreamWriteError(we embeddednats.WriteError) {
	part := we.Stream
	switch we.Stream {
	case a.cfg.NATS.Streams.Commands:
		part = "commands"
	case a.cfg.NATS.Streams.Events:
		part = "events"
	case "KV_" + saleBucket(a.cfg.StoreID):
		part = "records"
	}
	a.health.storageRefused(part, we.Err)
}

// reviveJetStream brings the embedded server's JetStream back after the
// disk was full: a stream that hit "no space left on device" (or any
// write error) refuses every write even after space returns, and on some
// paths nats-server switches JetStream off altogether. Once storage is
// stuck (the server reported a stream's write error, or the agent's own
// writes have gone unanswered for stuckAfter) and the store's filesystem
// has at least 1 MiB free, the agent reloads JetStream for its account
// (streams, consumers and records are reopened from disk, nothing is
// lost), so storage recovers without restarting the agent. Reloads are
// spaced by a doubling backoff, so a disk that keeps filling up is not
// answered by a loop of reloads. Only the embedded server: an external
// one is its operator's.
func (a *Agent) reviveJetStream(ctx context.Context) {
	a.mu.Lock()
	srv := a.embedded
	a.mu.Unlock()
	if srv == nil {
		return
	}
	ns := srv.NATS()
	dir := a.cfg.NATS.Embedded.StoreDir
	backoff := reviveBackoff
	var last time.Time // the last reload
	t := time.NewTicker(reviveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		enabled := ns.JetStreamEnabled()
		if enabled && !a.health.storageStuck(stuckAfter) {
			if !last.IsZero() && time.Since(last) > reviveBackoffMax {
				backoff = reviveBackoff // the last reload held
			}
			continue
		}
		if !last.IsZero() && time.Since(last) < backoff || !diskHasRoom(dir) {
			continue
		}
		if !last.IsZero() {
			backoff = min(2*backoff, reviveBackoffMax)
		}
		last = time.Now()
		a.log.Warn(reloadingJetStream, "jetstream_was_on", enabled)
		if err := srv.ReloadJetStream(); err != nil {
			a.health.storageResult("jetstream", errors.New("the embedded server's JetStream is off: "+err.Error()))
			a.log.Warn("JetStream not reloaded; will try again", "err", err, "in", backoff)
			continue
		}
		a.health.storageResult("jetstream", nil)
		a.health.storageReloaded()
		a.log.Info("JetStream reloaded")
	}
}
