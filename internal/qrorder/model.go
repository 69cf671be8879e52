// Package qrorder provides a client for the Mercado Pago Orders API as used
// for QR code payments (orders of type "qr"): typed requests and responses,
// validation with the API's documented limits before any call, deterministic
// idempotency keys, retries with capped exponential backoff and jitter, and
// one typed API error.
//
// The official SDKs do not type config.qr, so the request and response
// shapes are written here from the create-order reference. Responses are
// decoded leniently (unknown fields ignored, ids not shape-checked) because
// the API adds fields; requests are built strictly, with amounts always sent
// with exactly two decimals.
package qrorder

import (
	"encoding/json"
	"strings"

	"github.com/posagent/posagent/internal/money"
)

// Mode is a QR order mode (config.qr.mode).
type Mode string

// The QR modes of the Orders API.
const (
	ModeStatic  Mode = "static"  // the POS's fixed QR; no qr_data; expiry capped at 10 min
	ModeDynamic Mode = "dynamic" // a qr_data unique to the order
	ModeHybrid  Mode = "hybrid"  // both; paying one disables the other
)

// Valid reports whether m is one of the three modes.
func (m Mode) Valid() bool { return m == ModeStatic || m == ModeDynamic || m == ModeHybrid }

// HasQRData reports whether orders in this mode come back with a qr_data.
func (m Mode) HasQRData() bool { return m == ModeDynamic || m == ModeHybrid }

// CreateRequest is the body of POST /v1/orders for a QR order. Amounts are
// money.Cents, which marshal as strings with two decimals.
type CreateRequest struct {
	Type              string           `json:"type"`
	TotalAmount       money.Cents      `json:"total_amount"`
	Description       string           `json:"description,omitempty"`
	ExternalReference string           `json:"external_reference"`
	ExpirationTime    string           `json:"expiration_time,omitempty"`
	MarketplaceFee    *money.Cents     `json:"marketplace_fee,omitempty"`
	IntegrationData   *IntegrationData `json:"integration_data,omitempty"`
	Config            OrderConfig      `json:"config"`
	Transactions      Transactions     `json:"transactions"`
	Items             []Item           `json:"items,omitempty"`
	Discounts         *Discounts       `json:"discounts,omitempty"`
}

// IntegrationData identifies the integration that created the order.
type IntegrationData struct {
	ApplicationID string   `json:"application_id,omitempty"` // response only
	PlatformID    string   `json:"platform_id,omitempty"`
	IntegratorID  string   `json:"integrator_id,omitempty"` // "dev_" prefixed
	Sponsor       *Sponsor `json:"sponsor,omitempty"`
}

// Sponsor is the integrator's Mercado Pago user.
type Sponsor struct {
	ID FlexString `json:"id,omitempty"`
}

// OrderConfig is the order's type configuration.
type OrderConfig struct {
	QR QRConfig `json:"qr"`
}

// QRConfig ties the order to a POS and picks the QR mode.
type QRConfig struct {
	ExternalPOSID string `json:"external_pos_id"`
	Mode          Mode   `json:"mode"`
}

// Transactions holds the order's single payment on create.
type Transactions struct {
	Payments []PaymentRequest `json:"payments"`
}

// PaymentRequest is a payment to create; its amount equals the total.
type PaymentRequest struct {
	Amount money.Cents `json:"amount"`
}

// Item is one line of the order.
type Item struct {
	Title              string        `json:"title,omitempty"`
	UnitPrice          money.Cents   `json:"unit_price"`
	Quantity           int           `json:"quantity"`
	UnitMeasure        string        `json:"unit_measure,omitempty"`
	ExternalCode       string        `json:"external_code,omitempty"`
	ExternalCategories []ExternalCat `json:"external_categories,omitempty"`
}

// ExternalCat is an item category in the register's own system.
type ExternalCat struct {
	ID string `json:"id"`
}

// Discounts are per payment method discounts applied in the wallet.
type Discounts struct {
	PaymentMethods []DiscountMethod `json:"payment_methods"`
}

// DiscountMethod is the total to charge when paying with one method.
type DiscountMethod struct {
	Type           string      `json:"type"`
	NewTotalAmount money.Cents `json:"new_total_amount"`
}

// DiscountTypes are the payment method types a discount may name.
func DiscountTypes() []string {
	return []string{"debit_card", "credit_card", "account_money", "prepaid_card"}
}

// RefundRequest is the body of a partial refund. A nil *RefundRequest
// refunds the order in full (no body).
type RefundRequest struct {
	Transactions []RefundTransaction `json:"transactions"`
}

// RefundTransaction refunds part of one payment.
type RefundTransaction struct {
	ID     string      `json:"id"`
	Amount money.Cents `json:"amount"`
}

// Order is the order object every endpoint answers with. Amounts stay the
// strings the API sent; unknown fields are ignored.
type Order struct {
	ID                string             `json:"id"`
	UserID            FlexString         `json:"user_id,omitempty"`
	Type              string             `json:"type,omitempty"`
	ExternalReference string             `json:"external_reference,omitempty"`
	Description       string             `json:"description,omitempty"`
	ExpirationTime    string             `json:"expiration_time,omitempty"`
	ProcessingMode    string             `json:"processing_mode,omitempty"`
	TotalAmount       string             `json:"total_amount,omitempty"`
	CountryCode       string             `json:"country_code,omitempty"`
	MarketplaceFee    string             `json:"marketplace_fee,omitempty"`
	IntegrationData   *IntegrationData   `json:"integration_data,omitempty"`
	Status            Status             `json:"status"`
	StatusDetail      string             `json:"status_detail,omitempty"`
	Currency          string             `json:"currency,omitempty"`
	CreatedDate       string             `json:"created_date,omitempty"`
	LastUpdatedDate   string             `json:"last_updated_date,omitempty"`
	Config            *OrderConfig       `json:"config,omitempty"`
	Transactions      *OrderTransactions `json:"transactions,omitempty"`
	Items             []OrderItem        `json:"items,omitempty"`
	Discounts         *OrderDiscounts    `json:"discounts,omitempty"`
	TypeResponse      *TypeResponse      `json:"type_response,omitempty"`

	// Raw is the answer's body as the API sent it, unknown fields
	// included (what `posagent order` prints).
	Raw json.RawMessage `json:"-"`
}

// OrderTransactions are the order's payments and refunds.
type OrderTransactions struct {
	Payments []Payment `json:"payments,omitempty"`
	Refunds  []Refund  `json:"refunds,omitempty"`
}

// Payment is the state of the order's payment.
type Payment struct {
	ID           string `json:"id"`
	Amount       string `json:"amount,omitempty"`
	Status       string `json:"status,omitempty"`
	StatusDetail string `json:"status_detail,omitempty"`
}

// Refund is one refund of a payment.
type Refund struct {
	ID            string `json:"id"`
	TransactionID string `json:"transaction_id,omitempty"`
	Amount        string `json:"amount,omitempty"`
	Status        string `json:"status,omitempty"`
}

// OrderItem is an item as the API echoes it.
type OrderItem struct {
	Title              string            `json:"title,omitempty"`
	UnitPrice          string            `json:"unit_price,omitempty"`
	Quantity           int               `json:"quantity,omitempty"`
	UnitMeasure        string            `json:"unit_measure,omitempty"`
	ExternalCode       string            `json:"external_code,omitempty"`
	ExternalCategories []json.RawMessage `json:"external_categories,omitempty"`
}

// OrderDiscounts are discounts as the API echoes them.
type OrderDiscounts struct {
	PaymentMethods []struct {
		Type           string `json:"type,omitempty"`
		NewTotalAmount string `json:"new_total_amount,omitempty"`
	} `json:"payment_methods,omitempty"`
}

// TypeResponse carries the dynamic QR payload.
type TypeResponse struct {
	QRData string `json:"qr_data,omitempty"`
}

// QRData returns type_response.qr_data, or "" (static orders have none).
func (o *Order) QRData() string {
	if o == nil || o.TypeResponse == nil {
		return ""
	}
	return o.TypeResponse.QRData
}

// PaymentID returns the id of the order's first payment, or "".
func (o *Order) PaymentID() string {
	if o == nil || o.Transactions == nil || len(o.Transactions.Payments) == 0 {
		return ""
	}
	return o.Transactions.Payments[0].ID
}

// RefundedCents sums the amounts of the order's refunds that parse as money.
func (o *Order) RefundedCents() money.Cents {
	var sum money.Cents
	if o == nil || o.Transactions == nil {
		return 0
	}
	for _, r := range o.Transactions.Refunds {
		if c, err := money.Parse(r.Amount); err == nil {
			sum += c
		}
	}
	return sum
}

// FlexString decodes a JSON string or number as a string: ids such as
// user_id are strings in the reference but numbers in older samples.
type FlexString string

// UnmarshalJSON accepts a string, a number or null.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*f = FlexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = FlexString(n.String())
	return nil
}
