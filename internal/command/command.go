// Package command provides the decoding and validation of the commands a
// register sends on NATS (docs/protocol.md): sale, cancel,
// refund and display. Decode either returns a typed command or one
// Rejection carrying the Orders API style error code and the JSON path of
// the offending field, so the register hears exactly what was wrong.
//
// Payloads are walked as generic JSON (numbers kept as json.Number) instead
// of being unmarshalled into structs, because encoding/json reports neither
// the path of an unknown field nor the index of a bad item, and the
// contract wants both ("items[3].title").
package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/qrorder"
)

// MaxPayload is the largest command payload accepted.
const MaxPayload = 64 << 10

// Verb names a command: the last token of its subject.
type Verb string

// The register's commands.
const (
	VerbSale    Verb = "sale"
	VerbCancel  Verb = "cancel"
	VerbRefund  Verb = "refund"
	VerbDisplay Verb = "display"
)

// Error codes beyond the Orders API's own (see qrorder.Code*).
const (
	CodeTooLarge        = "payload_too_large"
	CodeUnknownCommand  = "unknown_command"
	CodeDuplicateSale   = "duplicate_sale_id"
	CodeDuplicateRefund = "duplicate_refund_id"
	CodeInvalidState    = "invalid_state"
	CodeUnknownSale     = "unknown_sale"
	CodeStale           = "stale_command"
	CodeAPIUnavailable  = "api_unavailable"
	CodeInvalidQRData   = "invalid_qr_data"
	CodeUnknownPOS      = "unknown_pos" // a command for a POS this agent does not serve
)

// Rejection is why a command was refused. SaleID echoes the command's
// sale_id when it was a string (cut to 64 characters), so the register can
// correlate even a broken command.
type Rejection struct {
	Code    string
	Field   string // JSON path into the command; "" when no field is at fault
	Message string
	SaleID  string
}

func (r *Rejection) Error() string {
	if r.Field == "" {
		return r.Code + ": " + r.Message
	}
	return r.Code + ": " + r.Field + ": " + r.Message
}

// Sale asks for a QR order.
type Sale struct {
	SaleID         string
	TotalAmount    money.Cents
	Description    string
	Mode           qrorder.Mode // "" = the POS's default
	ExpirationTime string       // "" = the POS's, else the API default
	MarketplaceFee *money.Cents
	Items          []qrorder.Item
	Discounts      *qrorder.Discounts
}

// Cancel asks to cancel a sale's order.
type Cancel struct {
	SaleID string
}

// Refund asks to refund a paid sale, in full (Amount nil) or in part.
type Refund struct {
	SaleID   string
	RefundID string // "total" for a full refund without an id
	Amount   *money.Cents
}

// TotalRefundID is the refund id of a refund without an amount.
const TotalRefundID = "total"

// Display shows a cart or a message; the zero Display (from "{}") returns
// the customer display to idle.
type Display struct {
	Lines       []Line
	TotalAmount *money.Cents
	Message     string
}

// Line is one cart line on the customer display.
type Line struct {
	Title    string
	Quantity int
	Amount   money.Cents
}

// Empty reports whether d is "{}": back to idle.
func (d Display) Empty() bool { return len(d.Lines) == 0 && d.TotalAmount == nil && d.Message == "" }

// Command is one of Sale, Cancel, Refund, Display.
type Command interface{ verb() Verb }

func (Sale) verb() Verb    { return VerbSale }
func (Cancel) verb() Verb  { return VerbCancel }
func (Refund) verb() Verb  { return VerbRefund }
func (Display) verb() Verb { return VerbDisplay }

// VerbOf returns the verb of a decoded command.
func VerbOf(c Command) Verb { return c.verb() }

// SaleIDOf returns the sale id a command is about, "" for Display.
func SaleIDOf(c Command) string {
	switch c := c.(type) {
	case Sale:
		return c.SaleID
	case Cancel:
		return c.SaleID
	case Refund:
		return c.SaleID
	}
	return ""
}

// Decode parses the payload of the command named verb. Exactly one of the
// results is non-nil.
func Decode(verb string, payload []byte) (Command, *Rejection) {
	if len(payload) > MaxPayload {
		return nil, &Rejection{Code: CodeTooLarge, Message: fmt.Sprintf("payload is %d bytes, at most %d", len(payload), MaxPayload)}
	}
	switch Verb(verb) {
	case VerbSale, VerbCancel, VerbRefund, VerbDisplay:
	default:
		return nil, &Rejection{Code: CodeUnknownCommand, Message: fmt.Sprintf("unknown command %q: want sale, cancel, refund or display", clip(verb, 64))}
	}
	obj, rej := parseObject(payload)
	if rej != nil {
		return nil, rej
	}
	d := &decoder{obj: obj}
	var c Command
	switch Verb(verb) {
	case VerbSale:
		c = d.sale()
	case VerbCancel:
		c = Cancel{SaleID: d.saleID()}
	case VerbRefund:
		c = d.refund()
	case VerbDisplay:
		c = d.display()
	}
	if d.rej != nil {
		if s, ok := obj["sale_id"].(string); ok {
			d.rej.SaleID = EchoedSaleID(s)
		}
		return nil, d.rej
	}
	return c, nil
}

// EchoedSaleID is a sale_id as a rejection echoes it: cut to 64
// characters (not bytes), whatever the command held.
func EchoedSaleID(s string) string { return clip(s, 64) }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// Fingerprint identifies a sale's content after normalisation (key order,
// "12.5" vs "12.50" and whitespace do not matter), to tell a resent sale
// from a different one with the same sale_id.
func (s Sale) Fingerprint() string {
	// Sale holds only strings, ints and Cents: Marshal cannot fail.
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}
