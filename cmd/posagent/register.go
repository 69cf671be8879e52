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

	"github.com/posagent/posagent/internal/agent"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/register"
)

// cmdRegister acts as a register: it publishes one command and prints its
// events until a final one. Exit 0 only on the wanted outcome (processed,
// canceled, refunded).
func cmdRegister(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags(verb, stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	posID := fs.String("pos", "", "external_pos_id (required when the config has several POS)")
	saleID := fs.String("sale-id", "", "sale id")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the final event")
	jsonOut := fs.Bool("json", false, "print only the events, one JSON object per line")
	var amount, mode, refundID *string
	switch verb {
	case "sale":
		amount = fs.String("amount", "", "total amount, e.g. 150.00 (required)")
		mode = fs.String("mode", "", "static, dynamic or hybrid (default: the POS's)")
	case "refund":
		amount = fs.String("amount", "", "partial refund amount (needs -refund-id); none refunds the rest")
		refundID = fs.String("refund-id", "", "partial refund id")
	}
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	// The command line is checked before the config is read, so a typo is
	// reported as what it is.
	payload := map[string]string{}
	want := events.Canceled
	switch verb {
	case "sale":
		want = events.Processed
		if *amount == "" {
			return usagef("sale: -amount is required")
		}
		if _, err := money.ParsePositive(*amount); err != nil {
			return usagef("-amount %q: %v", *amount, err)
		}
		payload["total_amount"] = *amount
		if *mode != "" {
			payload["mode"] = *mode // the agent judges it, as it would a register's
		}
	case "refund":
		want = events.Refunded
		if *amount != "" {
			if *refundID == "" {
				return usagef("refund: -amount needs -refund-id (it tells partial refunds apart)")
			}
			if _, err := money.ParsePositive(*amount); err != nil {
				return usagef("-amount %q: %v", *amount, err)
			}
			payload["amount"] = *amount
		}
		if *refundID != "" {
			payload["refund_id"] = *refundID
		}
	}
	if *saleID == "" && verb != "sale" {
		return usagef("%s: -sale-id is required", verb)
	}
	if *wait <= 0 {
		return usagef("-wait %s: must be positive", *wait)
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	p, err := findPOS(cfg, *posID)
	if err != nil {
		return err
	}
	if *saleID == "" {
		*saleID = strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
		fmt.Fprintln(stderr, "sale id:", *saleID)
	}
	payload["sale_id"] = *saleID

	url, opts, err := agent.RegisterConnection(cfg, os.ReadFile)
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
	ch, stop, err := rc.Watch(p.ExternalPOSID)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	seq, err := rc.SendJSON(ctx, p.ExternalPOSID, verb, payload)
	if err != nil {
		return err
	}
	if !*jsonOut {
		fmt.Fprintf(stderr, "%s sent to %s (stream sequence %d); waiting up to %s\n", verb, p.ExternalPOSID, seq, *wait)
	}
	// Events about the sale that cannot answer this command (the sale's
	// created event arriving while a cancel is on its way, another
	// refund's refunded) are not this command's to print or end on.
	wantRefund := ""
	if verb == "refund" {
		wantRefund = cmp.Or(*refundID, "total")
	}
	answers := func(r register.Received) bool {
		switch r.Event.Status {
		case events.Rejected, events.Failed:
			return true
		case events.Processed, events.Expired, events.Canceled:
			return verb != "refund"
		case events.Refunded:
			return verb == "refund" && r.Event.RefundID == wantRefund
		}
		return verb == "sale" // created, and statuses newer than this binary
	}
	final := func(r register.Received) bool {
		switch r.Event.Status {
		case events.Rejected, events.Failed, events.Processed, events.Expired, events.Canceled, events.Refunded:
			return answers(r)
		}
		return false
	}
	show := func(r register.Received) {
		if !answers(r) {
			return
		}
		if *jsonOut {
			fmt.Fprintln(stdout, string(r.Raw))
			return
		}
		fmt.Fprintln(stdout, describe(r.Event))
	}
	last, err := register.Follow(ctx, ch, *saleID, seq, final, show)
	if err != nil {
		return fmt.Errorf("%s %s: %w (wait %s)", verb, *saleID, err, *wait)
	}
	if last.Event.Status != want {
		return silentError{exitFailure}
	}
	return nil
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
