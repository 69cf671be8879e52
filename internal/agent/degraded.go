package agent

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/session"
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

func (w watchedEvents) Publish(ctx context.Context, ev events.Event) error {
	err := w.Publisher.Publish(ctx, ev)
	if err == nil || errors.Is(err, events.ErrNotStored) {
		w.h.storageResult("events", err)
	}
	return err
}

// refusal keeps the errors by which the server refused a write (storage
// or limits); a lost connection is the nats check's business.
func refusal(err error) error {
	var apiErr *jetstream.APIError
	if err != nil && errors.As(err, &apiErr) {
		return errors.New(apiErr.Description)
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
