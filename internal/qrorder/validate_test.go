package qrorder

import (
	"errors"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/money"
)

func validRequest() CreateRequest {
	r := NewCreateRequest("STORE001POS001", ModeDynamic, "000123", 15000)
	r.Description = "Ticket 000123"
	r.ExpirationTime = "PT10M"
	r.Items = []Item{{Title: "Café", UnitPrice: 7500, Quantity: 2, UnitMeasure: "unit", ExternalCode: "7791234567890"}}
	return r
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *CreateRequest)
		code   string
		field  string
	}{
		{"ok", func(r *CreateRequest) {}, "", ""},
		{"type", func(r *CreateRequest) { r.Type = "online" }, CodeValue, "type"},
		{"zero total", func(r *CreateRequest) { r.TotalAmount = 0; r.Transactions.Payments[0].Amount = 0 }, CodeValue, "total_amount"},
		{"ref empty", func(r *CreateRequest) { r.ExternalReference = "" }, CodeValue, "external_reference"},
		{"ref chars", func(r *CreateRequest) { r.ExternalReference = "a.b" }, CodeValue, "external_reference"},
		{"ref 65", func(r *CreateRequest) { r.ExternalReference = strings.Repeat("a", 65) }, CodeValue, "external_reference"},
		{"ref 64 ok", func(r *CreateRequest) { r.ExternalReference = strings.Repeat("a", 64) }, "", ""},
		{"desc 150 runes ok", func(r *CreateRequest) { r.Description = strings.Repeat("ñ", 150) }, "", ""},
		{"desc 151", func(r *CreateRequest) { r.Description = strings.Repeat("a", 151) }, CodeValue, "description"},
		{"exp short", func(r *CreateRequest) { r.ExpirationTime = "PT29S" }, CodeValue, "expiration_time"},
		{"exp long", func(r *CreateRequest) { r.ExpirationTime = "PT3601H" }, CodeValue, "expiration_time"},
		{"exp syntax", func(r *CreateRequest) { r.ExpirationTime = "15m" }, CodeValue, "expiration_time"},
		{"exp min ok", func(r *CreateRequest) { r.ExpirationTime = "PT30S" }, "", ""},
		{"mode", func(r *CreateRequest) { r.Config.QR.Mode = "qr" }, CodeValue, "config.qr.mode"},
		{"pos", func(r *CreateRequest) { r.Config.QR.ExternalPOSID = "POS-1" }, CodeValue, "config.qr.external_pos_id"},
		{"payments none", func(r *CreateRequest) { r.Transactions.Payments = nil }, CodeValue, "transactions.payments"},
		{"payment differs", func(r *CreateRequest) { r.Transactions.Payments[0].Amount = 2450 }, CodeValue, "transactions.payments[0].amount"},
		{"11 items", func(r *CreateRequest) { r.Items = make([]Item, 11) }, CodeMaxItems, "items"},
		{"title", func(r *CreateRequest) { r.Items[0].Title = strings.Repeat("x", 151) }, CodeValue, "items[0].title"},
		{"unit price", func(r *CreateRequest) { r.Items[0].UnitPrice = 0 }, CodeValue, "items[0].unit_price"},
		{"quantity", func(r *CreateRequest) { r.Items[0].Quantity = 0 }, CodeValue, "items[0].quantity"},
		{"unit measure", func(r *CreateRequest) { r.Items[0].UnitMeasure = "kilogrammes" }, CodeValue, "items[0].unit_measure"},
		{"external code", func(r *CreateRequest) { r.Items[0].ExternalCode = strings.Repeat("1", 31) }, CodeValue, "items[0].external_code"},
		{"categories", func(r *CreateRequest) { r.Items[0].ExternalCategories = make([]ExternalCat, 11) }, CodeMaxItems, "items[0].external_categories"},
		{"category id", func(r *CreateRequest) { r.Items[0].ExternalCategories = []ExternalCat{{}} }, CodeRequired, "items[0].external_categories[0].id"},
		{"discount+categories", func(r *CreateRequest) {
			r.Items[0].ExternalCategories = []ExternalCat{{ID: "food"}}
			r.Discounts = &Discounts{PaymentMethods: []DiscountMethod{{Type: "account_money", NewTotalAmount: 14000}}}
		}, CodeValue, "discounts"},
		{"discount type", func(r *CreateRequest) {
			r.Discounts = &Discounts{PaymentMethods: []DiscountMethod{{Type: "cash", NewTotalAmount: 14000}}}
		}, CodeValue, "discounts.payment_methods[0].type"},
		{"discount 5", func(r *CreateRequest) {
			r.Discounts = &Discounts{PaymentMethods: make([]DiscountMethod, 5)}
		}, CodeMaxItems, "discounts.payment_methods"},
		{"discount amount", func(r *CreateRequest) {
			r.Discounts = &Discounts{PaymentMethods: []DiscountMethod{{Type: "debit_card", NewTotalAmount: 0}}}
		}, CodeValue, "discounts.payment_methods[0].new_total_amount"},
		{"discount ok", func(r *CreateRequest) {
			r.Discounts = &Discounts{PaymentMethods: []DiscountMethod{{Type: "debit_card", NewTotalAmount: 14000}, {Type: "credit_card", NewTotalAmount: 14500}}}
		}, "", ""},
		{"discount dup", func(r *CreateRequest) {
			r.Discounts = &Discounts{PaymentMethods: []DiscountMethod{{Type: "debit_card", NewTotalAmount: 14000}, {Type: "debit_card", NewTotalAmount: 14500}}}
		}, CodeValue, "discounts.payment_methods[1].type"},
		{"fee negative", func(r *CreateRequest) { f := money.Cents(-1); r.MarketplaceFee = &f }, CodeValue, "marketplace_fee"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validRequest()
			c.mutate(&r)
			err := r.Validate()
			if c.code == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a FieldError", err)
			}
			if fe.Code != c.code || fe.Field != c.field {
				t.Fatalf("got %s %s (%s), want %s %s", fe.Code, fe.Field, fe.Message, c.code, c.field)
			}
		})
	}
}

func TestNotesStaticCap(t *testing.T) {
	r := validRequest()
	r.Config.QR.Mode = ModeStatic
	r.ExpirationTime = "PT15M"
	if n := r.Notes(); len(n) != 1 || !strings.Contains(n[0], "10 minutes") {
		t.Fatalf("notes = %v", n)
	}
	r.ExpirationTime = "PT5M"
	if n := r.Notes(); n != nil {
		t.Fatalf("notes = %v", n)
	}
}

func TestStatus(t *testing.T) {
	if Status("paid").Paid() || Status("").Paid() || Status("approved").Final() {
		t.Fatal("an unknown status counted as paid or final")
	}
	if !StatusProcessed.Paid() || !StatusRefunded.Paid() || StatusCreated.Paid() || StatusExpired.Paid() {
		t.Fatal("Paid wrong")
	}
	if !StatusCreated.Open() || StatusCreated.Final() || !StatusExpired.Final() {
		t.Fatal("Open/Final wrong")
	}
}
