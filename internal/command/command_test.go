package command

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/posagent/posagent/internal/money"
)

func TestDecodeSale(t *testing.T) {
	c, rej := Decode("sale", []byte(`{"sale_id":"000123","total_amount":"150.00","description":"Ticket 000123","mode":"dynamic",
	"expiration_time":"PT10M","items":[{"title":"Coffee","unit_price":"75.00","quantity":2,"unit_measure":"unit","external_code":"7791234567890"}],
	"discounts":{"payment_methods":[{"type":"account_money","new_total_amount":"140.00"}]}}`))
	if rej != nil {
		t.Fatal(rej)
	}
	s := c.(Sale)
	if s.SaleID != "000123" || s.TotalAmount != 15000 || s.Items[0].Quantity != 2 || s.Items[0].UnitPrice != 7500 ||
		s.Discounts.PaymentMethods[0].NewTotalAmount != 14000 || s.Mode != "dynamic" || s.ExpirationTime != "PT10M" {
		t.Fatalf("%+v", s)
	}
	if VerbOf(c) != VerbSale || SaleIDOf(c) != "000123" {
		t.Fatal("VerbOf/SaleIDOf")
	}
}

func TestFingerprintNormalised(t *testing.T) {
	a, _ := Decode("sale", []byte(`{"sale_id":"1","total_amount":"12.5","items":[{"title":"x","unit_price":"12.5","quantity":1}]}`))
	b, _ := Decode("sale", []byte(`{ "items":[{"quantity":1,"unit_price":"12.50","title":"x"}], "total_amount" : "12.50","sale_id":"1"}`))
	c, _ := Decode("sale", []byte(`{"sale_id":"1","total_amount":"12.51"}`))
	if a.(Sale).Fingerprint() != b.(Sale).Fingerprint() {
		t.Fatal("same content, different fingerprints")
	}
	if a.(Sale).Fingerprint() == c.(Sale).Fingerprint() {
		t.Fatal("different content, same fingerprint")
	}
}

func TestRejections(t *testing.T) {
	long := strings.Repeat("x", 151)
	cases := []struct {
		verb, payload string
		code, field   string
		saleID        string
	}{
		{"sale", `not json`, "json_syntax_error", "", ""},
		{"sale", `[1]`, "json_syntax_error", "", ""},
		{"sale", `{"sale_id":"1","total_amount":"1.00"} {}`, "json_syntax_error", "", ""},
		{"sale", "{\"sale_id\":\"1\",\"total_amount\":\"1.00\",\"description\":\"\xff\"}", "json_syntax_error", "", ""},
		{"sale", `{"total_amount":"1.00"}`, "required_properties", "sale_id", ""},
		{"sale", `{"sale_id":"1"}`, "required_properties", "total_amount", "1"},
		{"sale", `{"sale_id":1,"total_amount":"1.00"}`, "property_type", "sale_id", ""},
		{"sale", `{"sale_id":"a b","total_amount":"1.00"}`, "property_value", "sale_id", "a b"},
		{"sale", `{"sale_id":"` + strings.Repeat("a", 65) + `","total_amount":"1.00"}`, "property_value", "sale_id", strings.Repeat("a", 64)},
		{"sale", `{"sale_id":"1","total_amount":12.5}`, "property_type", "total_amount", "1"},
		{"sale", `{"sale_id":"1","total_amount":"0.00"}`, "property_value", "total_amount", "1"},
		{"sale", `{"sale_id":"1","total_amount":"-1.00"}`, "property_value", "total_amount", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.001"}`, "property_value", "total_amount", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1e3"}`, "property_value", "total_amount", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","colour":"red"}`, "unsupported_properties", "colour", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","description":"` + long + `"}`, "property_value", "description", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","description":"a\u0007b"}`, "property_value", "description", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","mode":"qr"}`, "property_value", "mode", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","expiration_time":"PT10S"}`, "property_value", "expiration_time", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":{}}`, "property_type", "items", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[` + strings.Repeat(`{"title":"a","unit_price":"1.00","quantity":1},`, 10) + `{"title":"a","unit_price":"1.00","quantity":1}]}`, "maximum_items", "items", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1},{"title":"a","unit_price":"1.00","quantity":1},{"title":"a","unit_price":"1.00","quantity":1},{"title":"` + long + `","unit_price":"1.00","quantity":1}]}`, "property_value", "items[3].title", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1.5}]}`, "property_type", "items[0].quantity", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":0}]}`, "property_value", "items[0].quantity", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1,"sku":"x"}]}`, "unsupported_properties", "items[0].sku", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1,"unit_measure":"kilogrammes"}]}`, "property_value", "items[0].unit_measure", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1,"external_code":"` + strings.Repeat("1", 31) + `"}]}`, "property_value", "items[0].external_code", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1,"external_categories":[{"id":"a"}]}],"discounts":{"payment_methods":[{"type":"debit_card","new_total_amount":"0.90"}]}}`, "property_value", "discounts", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","discounts":{"payment_methods":[{"type":"cash","new_total_amount":"0.90"}]}}`, "property_value", "discounts.payment_methods[0].type", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","discounts":{}}`, "required_properties", "discounts.payment_methods", "1"},
		{"cancel", `{}`, "required_properties", "sale_id", ""},
		{"sale", `{"sale_id":"1","total_amount":"1.00","mode":null}`, "property_type", "mode", "1"},
		{"sale", `{"sale_id":null,"total_amount":"1.00"}`, "property_type", "sale_id", ""},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":null}`, "property_type", "items", "1"},
		{"cancel", `{"sale_id":"1","reason":"x"}`, "unsupported_properties", "reason", "1"},
		{"refund", `{"sale_id":"1","amount":"5.00"}`, "required_properties", "refund_id", "1"},
		{"refund", `{"sale_id":"1","amount":"5.00","refund_id":"r 1"}`, "property_value", "refund_id", "1"},
		{"refund", `{"sale_id":"1","amount":5}`, "property_type", "amount", "1"},
		{"display", `{"lines":[{"title":"a"}]}`, "required_properties", "lines[0].amount", ""},
		{"display", `{"message":5}`, "property_type", "message", ""},
		{"display", `{"foo":1}`, "unsupported_properties", "foo", ""},
		{"foo", `{}`, "unknown_command", "", ""},
		{"sale", `{"sale_id":"1","total_amount":"1.00","description":"` + strings.Repeat("x", MaxPayload) + `"}`, "payload_too_large", "", ""},
	}
	for _, c := range cases {
		cmd, rej := Decode(c.verb, []byte(c.payload))
		if rej == nil {
			t.Errorf("%s %.80s: accepted as %+v", c.verb, c.payload, cmd)
			continue
		}
		if rej.Code != c.code || rej.Field != c.field || rej.SaleID != c.saleID {
			t.Errorf("%s %.80s: got %s %q sale %q (%s), want %s %q sale %q", c.verb, c.payload, rej.Code, rej.Field, rej.SaleID, rej.Message, c.code, c.field, c.saleID)
		}
		if rej.Message == "" {
			t.Errorf("%s: empty message", c.code)
		}
	}
}

func TestRefundAndDisplay(t *testing.T) {
	c, rej := Decode("refund", []byte(`{"sale_id":"1"}`))
	if rej != nil || c.(Refund).RefundID != TotalRefundID || c.(Refund).Amount != nil {
		t.Fatalf("%+v %v", c, rej)
	}
	c, rej = Decode("refund", []byte(`{"sale_id":"1","amount":"5","refund_id":"r1"}`))
	if rej != nil || *c.(Refund).Amount != money.Cents(500) || c.(Refund).RefundID != "r1" {
		t.Fatalf("%+v %v", c, rej)
	}
	c, rej = Decode("display", []byte(`{}`))
	if rej != nil || !c.(Display).Empty() {
		t.Fatalf("%+v %v", c, rej)
	}
	c, rej = Decode("display", []byte(`{"lines":[{"title":"Coffee","quantity":2,"amount":"150.00"}],"total_amount":"150.00","message":"hola"}`))
	if rej != nil || c.(Display).Empty() || c.(Display).Lines[0].Amount != 15000 || *c.(Display).TotalAmount != 15000 {
		t.Fatalf("%+v %v", c, rej)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1}]}`,
		`{"sale_id":"1","amount":"5.00","refund_id":"r"}`, `{"lines":[{"title":"a","amount":"1"}]}`, `{}`, `[`, `{"sale_id":1}`,
		`{"sale_id":"1","total_amount":"1.00","total_amount":"9.00"}`, `{"lines":[{"title":"a","amount":"1","title":"b"}]}`,
		`{"sale_id":"1","total_amount":"1.00","description":"\u202e00.1"}`, `{"message":"a\u200bb"}`} {
		for _, v := range []string{"sale", "cancel", "refund", "display"} {
			f.Add(v, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, verb string, payload []byte) {
		c, rej := Decode(verb, payload)
		if (c == nil) == (rej == nil) {
			t.Fatalf("Decode returned %v and %v", c, rej)
		}
		if rej != nil && (rej.Code == "" || rej.Message == "") {
			t.Fatalf("rejection without code or message: %+v", rej)
		}
		if s, ok := c.(Sale); ok && s.TotalAmount <= 0 {
			t.Fatalf("accepted a non-positive total: %+v", s)
		}
		if c == nil {
			return
		}
		if keys, entries := countKeys(t, payload); keys != entries {
			t.Fatalf("accepted %q with %d keys in %d distinct entries: a duplicate key", payload, keys, entries)
		}
		for _, txt := range customerText(c) {
			if i := strings.IndexFunc(txt, func(r rune) bool { return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) }); i >= 0 {
				t.Fatalf("accepted invisible text %q in %+v", txt, c)
			}
		}
	})
}

// countKeys counts the object keys in payload, recursively, and the
// entries of the maps encoding/json makes of it: they differ only when a
// key repeats in one object (an oracle written apart from duplicateKey).
func countKeys(t *testing.T, payload []byte) (keys, entries int) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	var value func()
	value = func() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("accepted payload does not tokenize: %v", err)
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				if _, err := dec.Token(); err != nil {
					t.Fatal(err)
				}
				keys++
				value()
			}
			_, _ = dec.Token()
		case json.Delim('['):
			for dec.More() {
				value()
			}
			_, _ = dec.Token()
		}
	}
	value()
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	var count func(any)
	count = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			entries += len(v)
			for _, e := range v {
				count(e)
			}
		case []any:
			for _, e := range v {
				count(e)
			}
		}
	}
	count(v)
	return keys, entries
}

// customerText is the text of a command that a customer may see.
func customerText(c Command) []string {
	var out []string
	switch c := c.(type) {
	case Sale:
		out = append(out, c.Description)
		for _, it := range c.Items {
			out = append(out, it.Title, it.UnitMeasure, it.ExternalCode)
		}
	case Display:
		out = append(out, c.Message)
		for _, l := range c.Lines {
			out = append(out, l.Title)
		}
	}
	return out
}

// TestDuplicateKeys: a key repeated anywhere is refused with its path,
// never decoded last-one-wins (a register whose JSON library keeps the
// first one would show the customer another amount than the order's).
func TestDuplicateKeys(t *testing.T) {
	cases := []struct{ verb, payload, field, saleID string }{
		{"sale", `{"sale_id":"1","total_amount":"1.00","total_amount":"999.00"}`, "total_amount", "1"},
		{"sale", `{"sale_id":"1","sale_id":"2","total_amount":"1.00"}`, "sale_id", ""},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1},{"title":"a","unit_price":"1.00","quantity":1,"title":"b"}]}`, "items[1].title", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","discounts":{"payment_methods":[{"type":"account_money","new_total_amount":"0.50","new_total_amount":"0.10"}]}}`, "discounts.payment_methods[0].new_total_amount", "1"},
		{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1,"external_categories":[{"id":"x"},{"id":"y","id":"z"}]}]}`, "items[0].external_categories[1].id", "1"},
		{"refund", `{"sale_id":"1","refund_id":"r1","amount":"1.00","amount":"5.00"}`, "amount", "1"},
		{"display", `{"lines":[{"title":"a","amount":"1.00"}],"message":"x","message":"y"}`, "message", ""},
		{"cancel", `{"sale_id":"1","x":{"a":[{},{"b":1,"b":2}]}}`, "x.a[1].b", "1"},
	}
	for _, c := range cases {
		cmd, rej := Decode(c.verb, []byte(c.payload))
		if rej == nil {
			t.Errorf("%s %s: accepted as %+v", c.verb, c.payload, cmd)
			continue
		}
		if rej.Code != "json_syntax_error" || rej.Field != c.field || rej.SaleID != c.saleID || !strings.Contains(rej.Message, "duplicate") {
			t.Errorf("%s %s: got %s %q sale %q (%s), want json_syntax_error %q sale %q", c.verb, c.payload, rej.Code, rej.Field, rej.SaleID, rej.Message, c.field, c.saleID)
		}
	}
	// The same key in different objects is no duplicate.
	if _, rej := Decode("sale", []byte(`{"sale_id":"1","total_amount":"2.00","items":[{"title":"a","unit_price":"1.00","quantity":1},{"title":"b","unit_price":"1.00","quantity":1}]}`)); rej != nil {
		t.Fatal(rej)
	}
	// A key longer than 64 characters is named cut.
	long := strings.Repeat("k", 200)
	_, rej := Decode("sale", []byte(`{"sale_id":"1","total_amount":"1.00","`+long+`":1,"`+long+`":2}`))
	if rej == nil || rej.Field != long[:64] {
		t.Fatalf("%+v", rej)
	}
}

// TestInvisibleCharacters: bidirectional controls and other invisible
// format characters (Unicode category Cf) never reach a screen or a
// receipt: the command is refused naming the field.
func TestInvisibleCharacters(t *testing.T) {
	for _, r := range []rune{'\u202e', '\u202a', '\u2066', '\u2069', '\u200e', '\u200f', '\u061c', '\u200b', '\u200d', '\ufeff', '\u00ad', '\u2028', '\u2029', '\U000e0001'} {
		b, _ := json.Marshal("Caf" + string(r) + "é")
		s := string(b)
		cases := []struct{ verb, payload, field, saleID string }{
			{"sale", `{"sale_id":"1","total_amount":"1.00","description":` + s + `}`, "description", "1"},
			{"sale", `{"sale_id":"1","total_amount":"1.00","items":[{"title":"a","unit_price":"1.00","quantity":1},{"title":` + s + `,"unit_price":"1.00","quantity":1}]}`, "items[1].title", "1"},
			{"display", `{"lines":[{"title":` + s + `,"amount":"1.00"}]}`, "lines[0].title", ""},
			{"display", `{"message":` + s + `}`, "message", ""},
		}
		for _, c := range cases {
			cmd, rej := Decode(c.verb, []byte(c.payload))
			if rej == nil {
				t.Errorf("U+%04X %s: accepted as %+v", r, c.field, cmd)
				continue
			}
			if rej.Code != "property_value" || rej.Field != c.field || rej.SaleID != c.saleID {
				t.Errorf("U+%04X: got %s %q (%s), want property_value %q", r, rej.Code, rej.Field, rej.Message, c.field)
			}
		}
	}
	// Visible non-ASCII text is fine.
	if _, rej := Decode("sale", []byte(`{"sale_id":"1","total_amount":"1.00","description":"Café con leche — ñandú, São Paulo, 東京 😀"}`)); rej != nil {
		t.Fatal(rej)
	}
}
