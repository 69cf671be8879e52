package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"unicode"
	"unicode/utf8"

	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/qrorder"
)

// Limits of the display command (a screen, not the API, bounds them).
const (
	MaxDisplayLines   = 50
	MaxDisplayMessage = 300
)

func parseObject(payload []byte) (map[string]any, *Rejection) {
	if !utf8.Valid(payload) {
		return nil, &Rejection{Code: qrorder.CodeJSONSyntax, Message: "payload is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &Rejection{Code: qrorder.CodeJSONSyntax, Message: "payload is not JSON: " + jsonErr(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Rejection{Code: qrorder.CodeJSONSyntax, Message: "payload has data after the JSON value"}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &Rejection{Code: qrorder.CodeJSONSyntax, Message: "payload must be a JSON object"}
	}
	if path, key, dup := duplicateKey(payload); dup {
		rej := &Rejection{Code: qrorder.CodeJSONSyntax, Field: path,
			Message: fmt.Sprintf("duplicate key %q: an object must not repeat a key (JSON libraries disagree on which one counts)", clip(key, 64))}
		if s, ok := obj["sale_id"].(string); ok && path != "sale_id" {
			rej.SaleID = EchoedSaleID(s)
		}
		return nil, rej
	}
	return obj, nil
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	}
	return err.Error()
}

// decoder walks one command object, keeping the first problem. A JSON
// null is a wrong type, not an absent field: the Orders API treats it so,
// and a register sending null for a field it means to leave out should
// hear about it rather than get a guess.
type decoder struct {
	obj map[string]any
	rej *Rejection
}

func (d *decoder) fail(code, field, format string, args ...any) {
	if d.rej == nil {
		d.rej = &Rejection{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// known refuses keys of obj outside allowed, in sorted order so the same
// payload always names the same field.
func (d *decoder) known(obj map[string]any, prefix string, allowed ...string) {
	var unknown []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		d.fail(qrorder.CodeUnsupported, join(prefix, clip(unknown[0], 64)), "unknown field; allowed: %v", allowed)
	}
}

// str returns obj[key] as a string: "" and false when absent.
func (d *decoder) str(obj map[string]any, prefix, key string, required bool, maxRunes int) (string, bool) {
	path := join(prefix, key)
	v, ok := obj[key]
	if !ok {
		if required {
			d.fail(qrorder.CodeRequired, path, "is required")
		}
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		d.fail(qrorder.CodeType, path, "must be a string, got %s", jsonType(v))
		return "", false
	}
	if maxRunes > 0 && utf8.RuneCountInString(s) > maxRunes {
		d.fail(qrorder.CodeValue, path, "must be at most %d characters, got %d", maxRunes, utf8.RuneCountInString(s))
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			d.fail(qrorder.CodeValue, path, "must not contain control characters (U+%04X)", r)
			return "", false
		}
		if invisible(r) {
			d.fail(qrorder.CodeValue, path, "must not contain invisible or bidirectional formatting characters (U+%04X)", r)
			return "", false
		}
	}
	return s, true
}

// invisible reports format characters (Unicode category Cf: bidirectional
// overrides and isolates, zero-width spaces and joiners, soft hyphens, tag
// characters) and the line and paragraph separators. Such text may show a
// customer something other than what the register meant ("Total 1.00"
// reversed, a hidden digit), so no string field of a command may hold one.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// amount reads a decimal string amount; positive unless zeroOK.
func (d *decoder) amount(obj map[string]any, prefix, key string, required, zeroOK bool) (money.Cents, bool) {
	path := join(prefix, key)
	if n, isNum := obj[key].(json.Number); isNum {
		d.fail(qrorder.CodeType, path, "must be a decimal string such as %q, not a JSON number: money travels as strings", n.String())
		return 0, false
	}
	s, ok := d.str(obj, prefix, key, required, 0)
	if !ok {
		return 0, false
	}
	c, err := money.Parse(s)
	if err != nil {
		d.fail(qrorder.CodeValue, path, "must be a decimal amount with at most two decimals and no sign (e.g. \"150.00\"), got %q", clip(s, 32))
		return 0, false
	}
	if c == 0 && !zeroOK {
		d.fail(qrorder.CodeValue, path, "must be positive, got %q", s)
		return 0, false
	}
	return c, true
}

func (d *decoder) integer(obj map[string]any, prefix, key string, required bool, min, max int64) (int, bool) {
	path := join(prefix, key)
	v, ok := obj[key]
	if !ok {
		if required {
			d.fail(qrorder.CodeRequired, path, "is required")
		}
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		d.fail(qrorder.CodeType, path, "must be an integer, got %s", jsonType(v))
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		d.fail(qrorder.CodeType, path, "must be an integer, got %s", clip(n.String(), 32))
		return 0, false
	}
	if i < min || i > max {
		d.fail(qrorder.CodeValue, path, "must be between %d and %d, got %d", min, max, i)
		return 0, false
	}
	return int(i), true
}

func (d *decoder) array(obj map[string]any, prefix, key string, max int) ([]any, bool) {
	path := join(prefix, key)
	v, ok := obj[key]
	if !ok {
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		d.fail(qrorder.CodeType, path, "must be an array, got %s", jsonType(v))
		return nil, false
	}
	if len(a) > max {
		d.fail(qrorder.CodeMaxItems, path, "at most %d entries, got %d", max, len(a))
		return nil, false
	}
	return a, true
}

func (d *decoder) object(v any, path string) (map[string]any, bool) {
	o, ok := v.(map[string]any)
	if !ok {
		d.fail(qrorder.CodeType, path, "must be an object, got %s", jsonType(v))
	}
	return o, ok
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func (d *decoder) saleID() string {
	d.known(d.obj, "", "sale_id")
	return d.requiredSaleID()
}

func (d *decoder) requiredSaleID() string {
	s, ok := d.str(d.obj, "", "sale_id", true, 0)
	if ok && !qrorder.ValidReference(s, 64) {
		d.fail(qrorder.CodeValue, "sale_id", "must be 1-64 characters of A-Z a-z 0-9 - _")
	}
	return s
}

func (d *decoder) sale() Sale {
	d.known(d.obj, "", "sale_id", "total_amount", "description", "mode", "expiration_time", "items", "discounts", "marketplace_fee")
	var s Sale
	s.SaleID = d.requiredSaleID()
	s.TotalAmount, _ = d.amount(d.obj, "", "total_amount", true, false)
	s.Description, _ = d.str(d.obj, "", "description", false, qrorder.MaxDescription)
	if m, ok := d.str(d.obj, "", "mode", false, 0); ok {
		s.Mode = qrorder.Mode(m)
		if !s.Mode.Valid() {
			d.fail(qrorder.CodeValue, "mode", "must be static, dynamic or hybrid, got %q", clip(m, 32))
		}
	}
	if e, ok := d.str(d.obj, "", "expiration_time", false, 0); ok {
		if _, err := qrorder.ParseExpiration(e); err != nil {
			d.fail(qrorder.CodeValue, "expiration_time", "must be an ISO 8601 duration between PT30S and PT3600H (e.g. PT10M), got %q", clip(e, 32))
		}
		s.ExpirationTime = e
	}
	if _, present := d.obj["marketplace_fee"]; present {
		if fee, ok := d.amount(d.obj, "", "marketplace_fee", false, true); ok {
			s.MarketplaceFee = &fee
		}
	}
	s.Items = d.items()
	s.Discounts = d.discounts()
	if s.Discounts != nil {
		for _, it := range s.Items {
			if len(it.ExternalCategories) > 0 {
				d.fail(qrorder.CodeValue, "discounts", "cannot be sent together with items[].external_categories")
			}
		}
	}
	return s
}

func (d *decoder) items() []qrorder.Item {
	arr, _ := d.array(d.obj, "", "items", qrorder.MaxItems)
	var items []qrorder.Item
	for i, v := range arr {
		p := fmt.Sprintf("items[%d]", i)
		o, ok := d.object(v, p)
		if !ok {
			return nil
		}
		d.known(o, p, "title", "unit_price", "quantity", "unit_measure", "external_code", "external_categories")
		var it qrorder.Item
		it.Title, _ = d.str(o, p, "title", true, qrorder.MaxTitle)
		it.UnitPrice, _ = d.amount(o, p, "unit_price", true, false)
		it.Quantity, _ = d.integer(o, p, "quantity", true, 1, 1_000_000)
		it.UnitMeasure, _ = d.str(o, p, "unit_measure", false, qrorder.MaxUnitMeasure)
		it.ExternalCode, _ = d.str(o, p, "external_code", false, qrorder.MaxExternalCode)
		cats, _ := d.array(o, p, "external_categories", qrorder.MaxCategories)
		for j, cv := range cats {
			cp := fmt.Sprintf("%s.external_categories[%d]", p, j)
			co, ok := d.object(cv, cp)
			if !ok {
				return nil
			}
			d.known(co, cp, "id")
			id, _ := d.str(co, cp, "id", true, 64)
			it.ExternalCategories = append(it.ExternalCategories, qrorder.ExternalCat{ID: id})
		}
		items = append(items, it)
	}
	return items
}

func (d *decoder) discounts() *qrorder.Discounts {
	v, present := d.obj["discounts"]
	if !present {
		return nil
	}
	o, ok := d.object(v, "discounts")
	if !ok {
		return nil
	}
	d.known(o, "discounts", "payment_methods")
	arr, ok := d.array(o, "discounts", "payment_methods", qrorder.MaxDiscountMethods)
	if !ok && d.rej == nil {
		d.fail(qrorder.CodeRequired, "discounts.payment_methods", "is required when discounts is sent")
	}
	disc := &qrorder.Discounts{}
	seen := map[string]bool{}
	for i, mv := range arr {
		p := fmt.Sprintf("discounts.payment_methods[%d]", i)
		mo, ok := d.object(mv, p)
		if !ok {
			return nil
		}
		d.known(mo, p, "type", "new_total_amount")
		typ, ok := d.str(mo, p, "type", true, 0)
		if ok && !slices.Contains(qrorder.DiscountTypes(), typ) {
			d.fail(qrorder.CodeValue, p+".type", "must be one of %v, got %q", qrorder.DiscountTypes(), clip(typ, 32))
		}
		if ok && seen[typ] {
			d.fail(qrorder.CodeValue, p+".type", "%s appears twice", typ)
		}
		seen[typ] = true
		amt, _ := d.amount(mo, p, "new_total_amount", true, false)
		disc.PaymentMethods = append(disc.PaymentMethods, qrorder.DiscountMethod{Type: typ, NewTotalAmount: amt})
	}
	return disc
}

func (d *decoder) refund() Refund {
	d.known(d.obj, "", "sale_id", "refund_id", "amount")
	r := Refund{SaleID: d.requiredSaleID()}
	if _, present := d.obj["amount"]; present {
		if a, ok := d.amount(d.obj, "", "amount", false, false); ok {
			r.Amount = &a
		}
	}
	id, ok := d.str(d.obj, "", "refund_id", r.Amount != nil, 0)
	switch {
	case ok && !qrorder.ValidReference(id, 64):
		d.fail(qrorder.CodeValue, "refund_id", "must be 1-64 characters of A-Z a-z 0-9 - _")
	case ok:
		r.RefundID = id
	default:
		r.RefundID = TotalRefundID
	}
	return r
}

func (d *decoder) display() Display {
	d.known(d.obj, "", "lines", "total_amount", "message")
	var disp Display
	arr, _ := d.array(d.obj, "", "lines", MaxDisplayLines)
	for i, v := range arr {
		p := fmt.Sprintf("lines[%d]", i)
		o, ok := d.object(v, p)
		if !ok {
			return Display{}
		}
		d.known(o, p, "title", "quantity", "amount")
		var l Line
		l.Title, _ = d.str(o, p, "title", true, qrorder.MaxTitle)
		l.Quantity, _ = d.integer(o, p, "quantity", false, 1, 1_000_000)
		if l.Quantity == 0 {
			l.Quantity = 1
		}
		l.Amount, _ = d.amount(o, p, "amount", true, true)
		disp.Lines = append(disp.Lines, l)
	}
	if _, present := d.obj["total_amount"]; present {
		if t, ok := d.amount(d.obj, "", "total_amount", false, true); ok {
			disp.TotalAmount = &t
		}
	}
	disp.Message, _ = d.str(d.obj, "", "message", false, MaxDisplayMessage)
	return disp
}
