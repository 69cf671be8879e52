package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/natsconn"
	"github.com/posagent/posagent/internal/register"
)

// cmdRegister acts as a register: it publishes one command and prints its
// events until a final one. Exit 0 only on the wanted outcome (processed,
// canceled, refunded).
func cmdRegister(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	f, err := parseRegisterFlags(verb, args, stderr)
	if err != nil {
		return err
	}
	// The command line is checked before the config is read, so a typo is
	// reported as what it is.
	payload, err := f.payload()
	if err != nil {
		return err
	}
	cfg, err := loadConfig(f.cfgPath, stderr)
	if err != nil {
		return err
	}
	p, err := findPOS(cfg, f.posID)
	if err != nil {
		return err
	}
	if f.saleID == "" {
		f.saleID = strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
		fmt.Fprintln(stderr, "sale id:", f.saleID)
	}
	payload["sale_id"] = f.saleID

	url, opts, err := natsconn.Register(cfg, os.ReadFile)
	if err != nil {
		return usageError{err}
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("posagent-"+verb))...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	defer nc.Close()
	rc, err := register.New(nc, cfg.NATS.SubjectPrefix, cfg.StoreID)
	if err != nil {
		return err
	}
	return f.sendAndFollow(ctx, rc, p.ExternalPOSID, payload, stdout, stderr)
}

// registerFlags is the command line of sale, cancel and refund.
type registerFlags struct {
	verb, cfgPath, posID, saleID string
	amount, mode, refundID       string
	wait                         time.Duration
	jsonOut                      bool
}

func parseRegisterFlags(verb string, args []string, stderr io.Writer) (*registerFlags, error) {
	f := &registerFlags{verb: verb}
	fs := newFlags(verb, stderr)
	fs.StringVar(&f.cfgPath, "config", defaultConfig, "configuration file")
	fs.StringVar(&f.posID, "pos", "", "external_pos_id (required when the config has several POS)")
	fs.StringVar(&f.saleID, "sale-id", "", "sale id")
	fs.DurationVar(&f.wait, "wait", 30*time.Second, "how long to wait for the final event")
	fs.BoolVar(&f.jsonOut, "json", false, "print only the events, one JSON object per line")
	switch verb {
	case "sale":
		fs.StringVar(&f.amount, "amount", "", "total amount, e.g. 150.00 (required)")
		fs.StringVar(&f.mode, "mode", "", "static, dynamic or hybrid (default: the POS's)")
	case "refund":
		fs.StringVar(&f.amount, "amount", "", "partial refund amount (needs -refund-id); none refunds the rest")
		fs.StringVar(&f.refundID, "refund-id", "", "partial refund id")
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return nil, err
	}
	if f.saleID == "" && verb != "sale" {
		return nil, usagef("%s: -sale-id is required", verb)
	}
	if f.wait <= 0 {
		return nil, usagef("-wait %s: must be positive", f.wait)
	}
	return f, nil
}

// payload is the command's JSON without its sale_id; amounts are checked
// here, the rest is the agent's to judge, as it would a register's.
func (f *registerFlags) payload() (map[string]string, error) {
	payload := map[string]string{}
	switch f.verb {
	case "sale":
		if f.amount == "" {
			return nil, usagef("sale: -amount is required")
		}
		payload["total_amount"] = f.amount
		if f.mode != "" {
			payload["mode"] = f.mode
		}
	case "refund":
		if f.amount != "" && f.refundID == "" {
			return nil, usagef("refund: -amount needs -refund-id (it tells partial refunds apart)")
		}
		if f.amount != "" {
			payload["amount"] = f.amount
		}
		if f.refundID != "" {
			payload["refund_id"] = f.refundID
		}
	}
	if f.amount != "" {
		if _, err := money.ParsePositive(f.amount); err != nil {
			return nil, usagef("-amount %q: %v", f.amount, err)
		}
	}
	return payload, nil
}

// wanted is the final status that means success for the verb.
func (f *registerFlags) wanted() string {
	switch f.verb {
	case "sale":
		return events.Processed
	case "refund":
		return events.Refunded
	}
	return events.Canceled
}

// sendAndFollow publishes the command and prints the events that answer
// it until a final one.
func (f *registerFlags) sendAndFollow(ctx context.Context, rc *register.Client, pos string, payload map[string]string, stdout, stderr io.Writer) error {
	ch, stop, err := rc.Watch(pos)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.wait)
	defer cancel()
	seq, err := rc.SendJSON(ctx, pos, f.verb, payload)
	if err != nil {
		return err
	}
	if !f.jsonOut {
		fmt.Fprintf(stderr, "%s sent to %s (stream sequence %d); waiting up to %s\n", f.verb, pos, seq, f.wait)
	}
	final := func(r register.Received) bool { return endsCommand(r.Event.Status) && f.answers(r) }
	show := func(r register.Received) {
		switch {
		case !f.answers(r):
		case f.jsonOut:
			fmt.Fprintln(stdout, string(r.Raw))
		default:
			fmt.Fprintln(stdout, describe(r.Event))
		}
	}
	last, err := register.Follow(ctx, ch, f.saleID, seq, final, show)
	if err != nil {
		return fmt.Errorf("%s %s: %w (wait %s)", f.verb, f.saleID, err, f.wait)
	}
	if last.Event.Status != f.wanted() {
		return silentError{exitFailure}
	}
	return nil
}

// endsCommand reports whether an event status is an answer after which a
// register command has nothing more to wait for.
func endsCommand(status string) bool {
	switch status {
	case events.Rejected, events.Failed, events.Processed, events.Expired, events.Canceled, events.Refunded:
		return true
	}
	return false
}

// answers reports whether an event about the sale answers this command:
// the sale's created event arriving while a cancel is on its way, or
// another refund's refunded, are not this command's to print or end on.
func (f *registerFlags) answers(r register.Received) bool {
	switch r.Event.Status {
	case events.Rejected, events.Failed:
		return true
	case events.Processed, events.Expired, events.Canceled:
		return f.verb != "refund"
	case events.Refunded:
		return f.verb == "refund" && r.Event.RefundID == cmp.Or(f.refundID, "total")
	}
	return f.verb == "sale" // created, and statuses newer than this binary
}

// describe is an event as one line for people.
func describe(ev events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-9s sale %s", ev.At, ev.Status, ev.SaleID)
	if ev.OrderID != "" {
		fmt.Fprintf(&b, "  order %s", ev.OrderID)
	}
	if ev.TotalAmount != "" {
		fmt.Fprintf(&b, "  amount %s", ev.TotalAmount)
	}
	if ev.StatusDetail != "" {
		fmt.Fprintf(&b, "  (%s)", ev.StatusDetail)
	}
	if ev.RefundedAmount != "" {
		fmt.Fprintf(&b, "  refunded %s", ev.RefundedAmount)
	}
	if ev.SaleStatus != "" {
		fmt.Fprintf(&b, "  sale is %s", ev.SaleStatus)
	}
	if ev.Error != nil {
		e, _ := json.Marshal(ev.Error)
		fmt.Fprintf(&b, "  error %s", e)
	}
	if ev.Replay {
		b.WriteString("  [replay]")
	}
	return b.String()
}
