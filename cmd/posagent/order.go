package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"
	"github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/version"
)

// cmdOrder talks to the Orders API directly, for store IT to check a token
// and a POS without NATS.
func cmdOrder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseOrderFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(f.cfgPath, stderr)
	if err != nil {
		return err
	}
	var pos *config.POS
	if f.sub == "create" {
		if pos, err = findPOS(cfg, f.posID); err != nil {
			return err
		}
	}
	client, err := newOrderClient(cfg, stderr)
	if err != nil {
		return err
	}
	var order *qrorder.Order
	switch f.sub {
	case "create":
		order, err = orderCreate(ctx, client, pos, f.total, f.saleID, f.mode, stderr)
	case "get":
		order, err = client.Get(ctx, f.orderID)
	case "cancel":
		order, err = orderCancel(ctx, client, f.orderID)
	case "refund":
		order, err = orderRefund(ctx, client, f.orderID, f.total, f.refundID)
	}
	if err != nil {
		return apiFailure(err)
	}
	return printOrder(order, f.sub == "create", stdout, stderr)
}

// orderFlags is the command line of one `order` subcommand.
type orderFlags struct {
	sub, cfgPath, orderID                 string
	posID, amount, saleID, mode, refundID string
	total                                 money.Cents
}

// parseOrderFlags reads and checks the command line before the config and
// the token are looked at, so a typo is reported as what it is.
func parseOrderFlags(args []string, stderr io.Writer) (*orderFlags, error) {
	if len(args) == 0 {
		return nil, usagef("order: want create, get, cancel or refund")
	}
	f := &orderFlags{sub: args[0]}
	fs := newFlags("order "+f.sub, stderr)
	fs.StringVar(&f.cfgPath, "config", defaultConfig, "configuration file")
	positional := 1
	switch f.sub {
	case "create":
		fs.StringVar(&f.posID, "pos", "", "external_pos_id (required when the config has several POS)")
		fs.StringVar(&f.amount, "amount", "", "total amount, e.g. 12.50 (required)")
		fs.StringVar(&f.saleID, "sale-id", "", "sale id (external_reference suffix); generated when empty")
		fs.StringVar(&f.mode, "mode", "", "static, dynamic or hybrid (default: the POS's)")
		positional = 0
	case "get", "cancel":
	case "refund":
		fs.StringVar(&f.amount, "amount", "", "partial refund amount (needs -refund-id); none refunds in full")
		fs.StringVar(&f.refundID, "refund-id", "", "partial refund id (1-64 of A-Za-z0-9-_)")
	default:
		return nil, usagef("order: unknown subcommand %q: want create, get, cancel or refund", f.sub)
	}
	if err := parseFlags(fs, args[1:], positional); err != nil {
		return nil, err
	}
	f.orderID = fs.Arg(0)
	return f, f.check()
}

func (f *orderFlags) check() error {
	switch {
	case f.sub == "create" && f.amount == "":
		return usagef("order create: -amount is required")
	case f.sub == "create" && f.saleID != "" && !qrorder.ValidReference(f.saleID, qrorder.MaxExternalReference):
		return usagef("-sale-id %q: must be 1-64 characters of A-Z a-z 0-9 - _", f.saleID)
	case f.sub == "create" && f.mode != "" && !qrorder.Mode(f.mode).Valid():
		return usagef("-mode: must be static, dynamic or hybrid, got %q", f.mode)
	case f.sub == "refund" && f.amount != "" && f.refundID == "":
		return usagef("order refund: -amount needs -refund-id (it tells partial refunds apart)")
	case f.sub == "refund" && f.refundID != "" && !qrorder.ValidReference(f.refundID, 64):
		return usagef("-refund-id %q: must be 1-64 characters of A-Z a-z 0-9 - _", f.refundID)
	case f.sub != "create" && f.orderID == "":
		return usagef("order %s: the order id is empty", f.sub)
	}
	if f.amount != "" {
		var err error
		if f.total, err = money.ParsePositive(f.amount); err != nil {
			return usagef("-amount %q: %v", f.amount, err)
		}
	}
	return nil
}

// newOrderClient is the Orders API client of the config's token; on a
// terminal it shows its retries.
func newOrderClient(cfg *config.Config, stderr io.Writer) (*qrorder.Client, error) {
	tok, _, err := accessToken(cfg)
	if err != nil {
		return nil, err
	}
	opts := qrorder.Options{BaseURL: cfg.MercadoPago.BaseURL, Token: tok,
		RequestTimeout: cfg.MercadoPago.RequestTimeout, RetryBudget: cfg.MercadoPago.RetryBudget,
		UserAgent: "posagent/" + version.Version()}
	if isTerminal(stderr) {
		opts.Logger = newRetryProgress(stderr, cfg.MercadoPago.RetryBudget)
	}
	client, err := qrorder.New(opts)
	if err != nil {
		return nil, usageError{err}
	}
	return client, nil
}

// printOrder prints the API's own JSON, unknown fields included, indented
// for people; a created order's QR is drawn on a terminal.
func printOrder(order *qrorder.Order, drawQR bool, stdout, stderr io.Writer) error {
	var out bytes.Buffer
	if err := json.Indent(&out, order.Raw, "", "  "); err != nil {
		b, merr := json.MarshalIndent(order, "", "  ")
		if merr != nil {
			return merr
		}
		out.Reset()
		out.Write(b)
	}
	fmt.Fprintln(stdout, out.String())
	if drawQR && order.QRData() != "" && isTerminal(stderr) {
		drawQROnTerminal(order.QRData(), stderr)
	}
	return nil
}

// drawQROnTerminal draws qr on the terminal w, dark modules as the glyphs
// (black on white whatever the terminal's colours); like the customer's
// displays, never a payload that is not a valid EMVCo QR.
func drawQROnTerminal(qr string, w io.Writer) {
	if err := emvco.Check(qr); err != nil {
		fmt.Fprintf(w, "qr_data not drawn: not a valid EMVCo payload: %v\n", err)
		return
	}
	lines, err := display.TerminalQR(qr, qrcode.Low, 2)
	if err != nil {
		fmt.Fprintf(w, "qr_data not drawn: %v\n", err)
		return
	}
	for _, l := range lines {
		fmt.Fprintf(w, "\x1b[30;107m%s\x1b[0m\n", l)
	}
}

// apiFailure prints an API refusal as its code and message (exit 1); a
// usage error stays one.
func apiFailure(err error) error {
	if _, ok := err.(usageError); ok {
		return err
	}
	if e, ok := qrorder.AsAPIError(err); ok {
		return fmt.Errorf("Orders API refused: %s: %s (HTTP %d)", e.Code, e.Message, e.Status)
	}
	if fe, ok := err.(*qrorder.FieldError); ok {
		return usagef("%s: %s", fe.Field, fe.Message)
	}
	return err
}

func orderCreate(ctx context.Context, c *qrorder.Client, p *config.POS, total money.Cents, saleID, mode string, stderr io.Writer) (*qrorder.Order, error) {
	if saleID == "" {
		saleID = strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
		fmt.Fprintln(stderr, "sale id:", saleID)
	}
	if mode == "" {
		mode = p.Mode
	}
	req := qrorder.NewCreateRequest(p.ExternalPOSID, qrorder.Mode(mode), p.ExternalReferencePrefix+saleID, total)
	req.ExpirationTime = p.ExpirationTime
	if err := req.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	return c.Create(ctx, qrorder.SaleKey(p.ExternalPOSID, saleID, qrorder.OpCreate), req)
}

func orderCancel(ctx context.Context, c *qrorder.Client, id string) (*qrorder.Order, error) {
	o, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Status != qrorder.StatusCreated {
		return nil, fmt.Errorf("order %s is %s: only a created (unpaid) order can be canceled", id, o.Status)
	}
	return c.Cancel(ctx, qrorder.OrderKey(id, qrorder.OpCancel), id)
}

func orderRefund(ctx context.Context, c *qrorder.Client, id string, amount money.Cents, refundID string) (*qrorder.Order, error) {
	if refundID == "" {
		refundID = "total"
	}
	o, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.Status != qrorder.StatusProcessed {
		return nil, fmt.Errorf("order %s is %s: only a paid (processed) order can be refunded", id, o.Status)
	}
	var req *qrorder.RefundRequest
	if amount > 0 {
		if o.PaymentID() == "" {
			return nil, fmt.Errorf("order %s has no payment to refund partially", id)
		}
		req = &qrorder.RefundRequest{Transactions: []qrorder.RefundTransaction{{ID: o.PaymentID(), Amount: amount}}}
	}
	return c.Refund(ctx, qrorder.OrderRefundKey(id, refundID), id, req)
}
