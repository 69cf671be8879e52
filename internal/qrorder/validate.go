package qrorder

import (
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/posagent/posagent/internal/isoduration"
	"github.com/posagent/posagent/internal/money"
)

// Limits of the Orders API for QR orders (create-order reference).
const (
	MaxExternalReference = 64
	MaxDescription       = 150
	MaxItems             = 10
	MaxTitle             = 150
	MaxUnitMeasure       = 10
	MaxExternalCode      = 30
	MaxCategories        = 10
	MaxDiscountMethods   = 4
	MinExpiration        = 30 * time.Second
	MaxExpiration        = 3600 * time.Hour
	StaticExpirationCap  = 10 * time.Minute
)

// Error codes for invalid input, the Orders API's own.
const (
	CodeRequired    = "required_properties"
	CodeValue       = "property_value"
	CodeType        = "property_type"
	CodeMaxItems    = "maximum_items"
	CodeUnsupported = "unsupported_properties"
	CodeJSONSyntax  = "json_syntax_error"
)

// FieldError is a request that breaks a documented rule. Field is a JSON
// path into the request with 0-based indices ("items[3].title").
type FieldError struct {
	Code    string
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(code, field, format string, args ...any) *FieldError {
	return &FieldError{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ValidReference reports whether s is 1-max characters of A-Z a-z 0-9 - _,
// the rule for external_reference, sale ids and refund ids.
func ValidReference(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidPOSID reports whether s is a valid external_pos_id: 1-40 letters
// and digits.
func ValidPOSID(s string) bool {
	if len(s) == 0 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ParseExpiration reads an expiration_time and checks the API's bounds.
func ParseExpiration(s string) (time.Duration, error) {
	d, err := isoduration.Parse(s)
	if err != nil {
		return 0, err
	}
	if d < MinExpiration || d > MaxExpiration {
		return 0, fmt.Errorf("must be between PT30S and PT3600H, got %q", s)
	}
	return d, nil
}

func tooLong(s string, max int) bool { return utf8.RuneCountInString(s) > max }

// Validate checks r against the documented limits and returns the first
// problem as a *FieldError, or nil. Lengths count characters, not bytes.
func (r *CreateRequest) Validate() error {
	if r.Type != "qr" {
		return fieldErr(CodeValue, "type", `must be "qr"`)
	}
	if r.TotalAmount <= 0 {
		return fieldErr(CodeValue, "total_amount", "must be positive")
	}
	if !ValidReference(r.ExternalReference, MaxExternalReference) {
		return fieldErr(CodeValue, "external_reference", "must be 1-64 characters of A-Z a-z 0-9 - _")
	}
	if tooLong(r.Description, MaxDescription) {
		return fieldErr(CodeValue, "description", "must be at most 150 characters")
	}
	if r.ExpirationTime != "" {
		if _, err := ParseExpiration(r.ExpirationTime); err != nil {
			return fieldErr(CodeValue, "expiration_time", "%v", err)
		}
	}
	if r.MarketplaceFee != nil && *r.MarketplaceFee < 0 {
		return fieldErr(CodeValue, "marketplace_fee", "must not be negative")
	}
	if !r.Config.QR.Mode.Valid() {
		return fieldErr(CodeValue, "config.qr.mode", "must be static, dynamic or hybrid")
	}
	if !ValidPOSID(r.Config.QR.ExternalPOSID) {
		return fieldErr(CodeValue, "config.qr.external_pos_id", "must be 1-40 letters and digits")
	}
	if len(r.Transactions.Payments) != 1 {
		return fieldErr(CodeValue, "transactions.payments", "must hold exactly one payment")
	}
	if r.Transactions.Payments[0].Amount != r.TotalAmount {
		return fieldErr(CodeValue, "transactions.payments[0].amount", "must equal total_amount")
	}
	if err := validateItems(r.Items); err != nil {
		return err
	}
	return r.validateDiscounts()
}

func validateItems(items []Item) error {
	if len(items) > MaxItems {
		return fieldErr(CodeMaxItems, "items", "at most 10 items, got %d", len(items))
	}
	for i, it := range items {
		p := fmt.Sprintf("items[%d].", i)
		switch {
		case tooLong(it.Title, MaxTitle):
			return fieldErr(CodeValue, p+"title", "must be at most 150 characters")
		case it.UnitPrice <= 0:
			return fieldErr(CodeValue, p+"unit_price", "must be positive")
		case it.Quantity < 1:
			return fieldErr(CodeValue, p+"quantity", "must be at least 1")
		case tooLong(it.UnitMeasure, MaxUnitMeasure):
			return fieldErr(CodeValue, p+"unit_measure", "must be at most 10 characters")
		case tooLong(it.ExternalCode, MaxExternalCode):
			return fieldErr(CodeValue, p+"external_code", "must be at most 30 characters")
		case len(it.ExternalCategories) > MaxCategories:
			return fieldErr(CodeMaxItems, p+"external_categories", "at most 10 categories, got %d", len(it.ExternalCategories))
		}
		for j, c := range it.ExternalCategories {
			if c.ID == "" {
				return fieldErr(CodeRequired, fmt.Sprintf("%sexternal_categories[%d].id", p, j), "is required")
			}
		}
	}
	return nil
}

func (r *CreateRequest) validateDiscounts() error {
	if r.Discounts == nil {
		return nil
	}
	for _, it := range r.Items {
		if len(it.ExternalCategories) > 0 {
			return fieldErr(CodeValue, "discounts", "cannot be sent together with items[].external_categories")
		}
	}
	pm := r.Discounts.PaymentMethods
	if len(pm) == 0 {
		return fieldErr(CodeRequired, "discounts.payment_methods", "is required when discounts is sent")
	}
	if len(pm) > MaxDiscountMethods {
		return fieldErr(CodeMaxItems, "discounts.payment_methods", "at most 4 payment methods, got %d", len(pm))
	}
	seen := map[string]bool{}
	for i, m := range pm {
		p := fmt.Sprintf("discounts.payment_methods[%d].", i)
		if !slices.Contains(DiscountTypes(), m.Type) {
			return fieldErr(CodeValue, p+"type", "must be one of debit_card, credit_card, account_money, prepaid_card")
		}
		if seen[m.Type] {
			return fieldErr(CodeValue, p+"type", "%s appears twice", m.Type)
		}
		seen[m.Type] = true
		if m.NewTotalAmount <= 0 || m.NewTotalAmount > r.TotalAmount {
			return fieldErr(CodeValue, p+"new_total_amount", "must be positive and not above total_amount")
		}
	}
	return nil
}

// Notes returns what the API will do differently from what r asks, for the
// log: static orders are capped at 10 minutes.
func (r *CreateRequest) Notes() []string {
	if r.Config.QR.Mode != ModeStatic || r.ExpirationTime == "" {
		return nil
	}
	if d, err := isoduration.Parse(r.ExpirationTime); err == nil && d > StaticExpirationCap {
		return []string{fmt.Sprintf("expiration_time %s: the API caps static orders at 10 minutes (PT10M)", r.ExpirationTime)}
	}
	return nil
}

// NewCreateRequest returns a QR create request with the payment amount set
// to the total, ready for the optional fields to be filled in.
func NewCreateRequest(posID string, mode Mode, externalReference string, total money.Cents) CreateRequest {
	return CreateRequest{
		Type:              "qr",
		TotalAmount:       total,
		ExternalReference: externalReference,
		Config:            OrderConfig{QR: QRConfig{ExternalPOSID: posID, Mode: mode}},
		Transactions:      Transactions{Payments: []PaymentRequest{{Amount: total}}},
	}
}
