package printer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Printer is one POS's print worker. Print hands it a job and returns at
// once; Run prints, retries and reports.
//
// Jobs: the latest wins. A job not yet started is replaced by a newer one,
// and a job waiting to retry gives way to a newer one: a POS has one sale
// awaiting payment at a time, so an older receipt is for a sale the newer
// one replaced. Before every attempt Job.Wanted is asked; a sale that was
// paid, canceled or expired meanwhile gets no QR printed.
//
// Status: where the transport can ask (serial, tcp; config status_query),
// the printer is asked before each job, after it, and every
// status_interval while idle; never during a job. onStatus hears every
// change (a problem, another problem, "ok" again after one), not a steady
// state; onError hears every failed attempt, and every new problem a
// status check finds, for a counter. Both are called from Run's goroutine
// and must not block.
type Printer struct {
	cfg      Config
	err      error // a config error, returned by Run
	enc      *Encoder
	tr       Transport
	log      *slog.Logger
	onStatus func(Status)
	onError  func(status string)
	wake     chan struct{}

	mu      sync.Mutex
	pending *Job
	health  string

	// Run's goroutine only.
	reported Status // last status passed to onStatus; "" before any
	answered bool   // the printer has answered DLE EOT at least once
}

// New returns the worker for cfg. It opens nothing: the device is opened
// by Run when first needed, so a missing printer never stops the agent.
// onStatus and onError may be nil. A config error is returned by Run.
func New(cfg Config, logger *slog.Logger, onStatus func(Status), onError func(status string)) *Printer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Printer{cfg: cfg.withDefaults(), log: logger, onStatus: onStatus, onError: onError,
		wake: make(chan struct{}, 1), health: string(StatusUnknown)}
	p.err = p.cfg.Validate()
	if p.err == nil {
		p.enc, p.err = NewEncoder(p.cfg)
	}
	if p.err == nil {
		p.tr, p.err = NewTransport(p.cfg)
	}
	if p.err != nil {
		p.err = fmt.Errorf("printer: %w", p.err)
		p.health = "invalid configuration"
	}
	return p
}

// Print queues j and returns at once, replacing a job not yet started.
func (p *Printer) Print(j Job) {
	p.mu.Lock()
	if old := p.pending; old != nil {
		p.log.Info("printer: queued receipt replaced by a newer one",
			"sale_id", old.Receipt.SaleID, "by_sale_id", j.Receipt.SaleID)
	}
	p.pending = &j
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Health is "ok", "unknown" (nothing printed or learned yet), or the
// printer's problem with a short reason, for /healthz.
func (p *Printer) Health() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.health
}

func (p *Printer) take() (Job, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		return Job{}, false
	}
	j := *p.pending
	p.pending = nil
	return j, true
}

func (p *Printer) hasPending() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending != nil
}

// Run works until ctx ends, then closes the transport and returns nil. A
// job being written when ctx ends is finished first (writes are bounded by
// write_timeout).
func (p *Printer) Run(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	defer p.tr.Close()
	tick := time.NewTicker(p.cfg.StatusInterval)
	defer tick.Stop()
	p.check(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			p.check(ctx)
			continue
		case <-p.wake:
		}
		for ctx.Err() == nil {
			j, ok := p.take()
			if !ok {
				break
			}
			p.printJob(ctx, j)
		}
	}
}

func wanted(j Job) bool { return j.Wanted == nil || j.Wanted() }

// printJob tries j until it is printed, no longer wanted, replaced by a
// newer job, or ctx ends. Waits between attempts grow from retry_min to
// retry_max.
func (p *Printer) printJob(ctx context.Context, j Job) {
	sale := j.Receipt.SaleID
	data, err := p.enc.Encode(j.Receipt)
	if err != nil {
		p.log.Error("printer: receipt cannot be printed; dropped", "sale_id", sale, "err", err)
		return
	}
	wait := p.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		if !wanted(j) {
			p.log.Info("printer: receipt dropped: the sale no longer awaits payment", "sale_id", sale)
			return
		}
		st, err := p.attempt(ctx, data)
		if err == nil {
			p.log.Debug("printer: receipt printed", "sale_id", sale, "bytes", len(data), "attempt", attempt)
			if st.Problem() && st != p.reported && p.onError != nil {
				p.onError(string(st)) // e.g. the paper ran out during this receipt
			}
			p.setStatus(st, nil)
			return
		}
		p.log.Warn("printer: receipt not printed; will retry", "sale_id", sale, "status", st,
			"attempt", attempt, "retry_in", wait, "err", err)
		if p.onError != nil {
			p.onError(string(st))
		}
		p.setStatus(st, err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-p.wake:
			timer.Stop()
			if p.hasPending() {
				p.log.Info("printer: receipt given up for a newer one", "sale_id", sale)
				return
			}
		case <-timer.C:
		}
		wait = min(2*wait, p.cfg.RetryMax)
	}
}

// attempt asks the printer's state (where it can be asked), sends data
// unless the printer cannot print, and asks again afterwards to catch
// paper that ran out or low during the job. It returns the state to
// report.
func (p *Printer) attempt(ctx context.Context, data []byte) (Status, error) {
	defer p.idle()
	sr, canAsk := p.tr.(StatusReader)
	canAsk = canAsk && p.cfg.StatusQuery != StatusQueryOff
	if canAsk {
		if st, err := p.ask(ctx, sr); st.Problem() {
			if err == nil {
				err = fmt.Errorf("printer reports %s", st)
			}
			return st, err
		}
	}
	if _, err := p.tr.Write(data); err != nil {
		return StatusOffline, err
	}
	if canAsk {
		// Silence right after a job proves nothing: a busy printer with a
		// full buffer drops real-time requests.
		if st, err := sr.Status(ctx); err == nil {
			p.answered = true
			return st, nil
		}
	}
	return StatusOK, nil
}

// ask returns the printer's state as the worker treats it: silence is
// "unknown" from a printer that never answered (status_query auto) and
// "offline" otherwise.
func (p *Printer) ask(ctx context.Context, sr StatusReader) (Status, error) {
	st, err := sr.Status(ctx)
	switch {
	case err == nil:
		p.answered = true
		return st, nil
	case st == StatusUnknown || errors.Is(err, ErrNoAnswer):
		if p.answered || p.cfg.StatusQuery == StatusQueryOn {
			return StatusOffline, err
		}
		return StatusUnknown, err
	}
	return StatusOffline, err
}

// check is the between-jobs status check.
func (p *Printer) check(ctx context.Context) {
	sr, ok := p.tr.(StatusReader)
	if !ok || p.cfg.StatusQuery == StatusQueryOff {
		return
	}
	defer p.idle()
	st, err := p.ask(ctx, sr)
	if st == StatusUnknown {
		p.log.Debug("printer: no status answer", "err", err)
		return
	}
	if st.Problem() && st != p.reported && p.onError != nil {
		p.onError(string(st))
	}
	p.setStatus(st, err)
}

func (p *Printer) idle() {
	if i, ok := p.tr.(idler); ok {
		i.Idle()
	}
}

// setStatus records st for Health and tells onStatus when it changed. The
// first "ok" is not news; everything after is.
func (p *Printer) setStatus(st Status, err error) {
	if st == StatusUnknown {
		return
	}
	health := string(st)
	if err != nil && st.Problem() {
		health += ": " + err.Error()
	}
	p.mu.Lock()
	p.health = health
	p.mu.Unlock()
	if st == p.reported || (p.reported == "" && st == StatusOK) {
		p.reported = st
		return
	}
	p.reported = st
	if st == StatusOK {
		p.log.Info("printer: ok again")
	} else {
		p.log.Warn("printer: status changed", "status", st, "err", err)
	}
	if p.onStatus != nil {
		p.onStatus(st)
	}
}
