package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// retryProgress is the Orders API client's logger for `posagent order` on
// a terminal: the client retries an unreachable API for up to
// retry_budget (two minutes by default), and a person at the terminal must
// see that something is happening, what, and how to stop it. Records
// other than a retry are dropped, as the command's logger would.
type retryProgress struct {
	mu     *sync.Mutex
	w      io.Writer
	budget time.Duration
}

func newRetryProgress(w io.Writer, budget time.Duration) *slog.Logger {
	return slog.New(retryProgress{mu: &sync.Mutex{}, w: w, budget: budget})
}

func (p retryProgress) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (p retryProgress) Handle(_ context.Context, r slog.Record) error {
	var attempt int64
	var wait time.Duration
	var cause any
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "attempt":
			attempt = a.Value.Int64()
		case "wait":
			wait = a.Value.Duration()
		case "err":
			cause = a.Value.Any()
		}
		return true
	})
	if attempt == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := fmt.Fprintf(p.w, "Orders API: attempt %d failed (%v); next try in %s, giving up %s after the first (mercadopago.retry_budget). Ctrl-C to stop.\n",
		attempt, cause, wait.Round(100*time.Millisecond), p.budget)
	return err
}

func (p retryProgress) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p retryProgress) WithGroup(string) slog.Handler      { return p }
