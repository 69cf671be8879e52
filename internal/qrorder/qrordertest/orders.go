package qrordertest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/money"
)

// The account the simulator pretends the token belongs to.
const (
	userID        = "1234567890"
	applicationID = "4242424242"
)

// Order is a snapshot of an order as the simulator holds it.
type Order struct {
	ID                string
	ExternalReference string
	POS               string // config.qr.external_pos_id
	Mode              string // static, dynamic or hybrid
	Status            string
	StatusDetail      string
	TotalAmount       string // two decimals, e.g. "12.50"
	Currency          string
	Description       string
	QRData            string // type_response.qr_data; "" for static orders
	Payments          []Payment
	Refunds           []Refund
	IdempotencyKey    string // the key that created it
	Created           time.Time
	LastUpdated       time.Time
	Expiration        time.Duration // after Created, as applied (static capped at 10 min)
}

// Payment is the order's payment transaction.
type Payment struct {
	ID           string
	Amount       string
	PaidAmount   string // set once paid
	Status       string
	StatusDetail string
}

// Refund is one refund of the order's payment.
type Refund struct {
	ID            string
	TransactionID string
	Amount        string
	Status        string
}

// order is the simulator's record: the snapshot fields plus what the
// response needs.
type order struct {
	Order
	total, refunded money.Cents
	expirationText  string
	marketplaceFee  string
	integration     map[string]any
	items           any
	discounts       any
}

func (o *order) snapshot() Order {
	out := o.Order
	out.Payments = slices.Clone(o.Payments)
	out.Refunds = slices.Clone(o.Refunds)
	return out
}

func (o *order) set(status, detail, payStatus, payDetail string, at time.Time) {
	o.Status, o.StatusDetail = status, detail
	o.Payments[0].Status, o.Payments[0].StatusDetail = payStatus, payDetail
	o.LastUpdated = at
}

// newOrderLocked records a new order from a validated request.
func (s *Simulator) newOrderLocked(req createRequest, key string, corrupt bool) (*order, error) {
	now := s.now()
	o := &order{
		Order: Order{
			ID:                s.newID("ORD"),
			ExternalReference: req.externalReference,
			POS:               req.pos,
			Mode:              req.mode,
			Status:            "created",
			StatusDetail:      "created",
			TotalAmount:       req.total.String(),
			Currency:          s.country.currency,
			Description:       req.description,
			IdempotencyKey:    key,
			Created:           now,
			LastUpdated:       now,
			Expiration:        req.expiration,
			Payments: []Payment{{
				ID:           s.newID("PAY"),
				Amount:       req.total.String(),
				Status:       "created",
				StatusDetail: "ready_to_process",
			}},
		},
		total:          req.total,
		expirationText: req.expirationText,
		marketplaceFee: req.marketplaceFee,
		integration:    req.integration,
		items:          req.items,
		discounts:      req.discounts,
	}
	if req.mode != "static" {
		qr, err := s.qrData(corrupt)
		if err != nil {
			return nil, err
		}
		o.QRData = qr
	}
	s.orders[o.ID] = o
	s.sequence = append(s.sequence, o)
	if s.autoPay > 0 {
		id := o.ID
		s.timers = append(s.timers, time.AfterFunc(s.autoPay, func() { _ = s.Pay(id) }))
	}
	s.changedLocked()
	return o, nil
}

// expireLocked moves a created order past its expiration to expired. Every
// access calls it, so expiry follows Options.Now without a timer.
func (s *Simulator) expireLocked(o *order) {
	if o.Status != "created" {
		return
	}
	deadline := o.Created.Add(o.Expiration)
	if s.now().Before(deadline) {
		return
	}
	o.set("expired", "expired", "expired", "expired", deadline)
	s.changedLocked()
}

// transition applies change to a created order, as the customer or
// Mercado Pago would.
func (s *Simulator) transition(op, id string, change func(o *order, now time.Time)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return fmt.Errorf("qrordertest: %s %s: %w", op, id, ErrNoSuchOrder)
	}
	s.expireLocked(o)
	if o.Status != "created" {
		return fmt.Errorf("qrordertest: %s %s: order is %s, want created", op, id, o.Status)
	}
	change(o, s.now())
	s.changedLocked()
	return nil
}

// Pay plays the customer paying: a created order becomes
// processed/accredited, and so does its payment.
func (s *Simulator) Pay(orderID string) error {
	return s.transition("pay", orderID, func(o *order, now time.Time) {
		o.set("processed", "accredited", "processed", "accredited", now)
		o.Payments[0].PaidAmount = o.Payments[0].Amount
	})
}

// Expire ends a created order's validity now, whatever the clock says.
func (s *Simulator) Expire(orderID string) error {
	return s.transition("expire", orderID, func(o *order, now time.Time) {
		o.set("expired", "expired", "expired", "expired", now)
	})
}

// CancelAtMP plays a cancel made outside the API (the Mercado Pago panel).
func (s *Simulator) CancelAtMP(orderID string) error {
	return s.transition("cancel", orderID, func(o *order, now time.Time) {
		o.set("canceled", "canceled", "canceled", "canceled", now)
	})
}

// SetAutoPay makes the simulator pay every order created from now on, after
// the given real-time delay; 0 turns it off. For demos.
func (s *Simulator) SetAutoPay(after time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.autoPay = after
}

// Order returns a snapshot of one order.
func (s *Simulator) Order(orderID string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderID]
	if !ok {
		return Order{}, false
	}
	s.expireLocked(o)
	return o.snapshot(), true
}

// Orders returns snapshots of all orders in creation order.
func (s *Simulator) Orders() []Order {
	return s.filter(func(*order) bool { return true })
}

// OrdersByExternalReference returns the orders created with ref, oldest
// first.
func (s *Simulator) OrdersByExternalReference(ref string) []Order {
	return s.filter(func(o *order) bool { return o.ExternalReference == ref })
}

func (s *Simulator) filter(keep func(*order) bool) []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Order
	for _, o := range s.sequence {
		s.expireLocked(o)
		if keep(o) {
			out = append(out, o.snapshot())
		}
	}
	return out
}

// The order as JSON, fields in the order of the documented response.
type orderJSON struct {
	ID                string            `json:"id"`
	UserID            string            `json:"user_id"`
	Type              string            `json:"type"`
	ExternalReference string            `json:"external_reference"`
	Description       string            `json:"description,omitempty"`
	ExpirationTime    string            `json:"expiration_time"`
	ProcessingMode    string            `json:"processing_mode"`
	TotalAmount       string            `json:"total_amount"`
	CountryCode       string            `json:"country_code"`
	MarketplaceFee    string            `json:"marketplace_fee,omitempty"`
	IntegrationData   map[string]any    `json:"integration_data"`
	Status            string            `json:"status"`
	StatusDetail      string            `json:"status_detail"`
	Currency          string            `json:"currency"`
	CreatedDate       string            `json:"created_date"`
	LastUpdatedDate   string            `json:"last_updated_date"`
	Config            configJSON        `json:"config"`
	Transactions      transactionsJSON  `json:"transactions"`
	Items             any               `json:"items,omitempty"`
	Discounts         any               `json:"discounts,omitempty"`
	TypeResponse      *typeResponseJSON `json:"type_response,omitempty"`
}

type configJSON struct {
	QR struct {
		ExternalPOSID string `json:"external_pos_id"`
		Mode          string `json:"mode"`
	} `json:"qr"`
}

type transactionsJSON struct {
	Payments []paymentJSON `json:"payments"`
	Refunds  []refundJSON  `json:"refunds,omitempty"`
}

type paymentJSON struct {
	ID            string             `json:"id"`
	Amount        string             `json:"amount"`
	PaidAmount    string             `json:"paid_amount,omitempty"`
	Status        string             `json:"status"`
	StatusDetail  string             `json:"status_detail"`
	PaymentMethod *paymentMethodJSON `json:"payment_method,omitempty"`
}

type paymentMethodJSON struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Installments int    `json:"installments"`
}

type refundJSON struct {
	ID            string `json:"id"`
	TransactionID string `json:"transaction_id"`
	Amount        string `json:"amount"`
	Status        string `json:"status"`
}

type typeResponseJSON struct {
	QRData string `json:"qr_data"`
}

// apiTime is the documented "yyyy-MM-ddTHH:mm:ss.sssZ".
const apiTime = "2006-01-02T15:04:05.000Z"

func (s *Simulator) orderResponse(status int, o *order) response {
	j := orderJSON{
		ID:                o.ID,
		UserID:            userID,
		Type:              "qr",
		ExternalReference: o.ExternalReference,
		Description:       o.Description,
		ExpirationTime:    o.expirationText,
		ProcessingMode:    "automatic",
		TotalAmount:       o.TotalAmount,
		CountryCode:       s.country.code,
		MarketplaceFee:    o.marketplaceFee,
		IntegrationData:   map[string]any{"application_id": applicationID},
		Status:            o.Status,
		StatusDetail:      o.StatusDetail,
		Currency:          o.Currency,
		CreatedDate:       o.Created.UTC().Format(apiTime),
		LastUpdatedDate:   o.LastUpdated.UTC().Format(apiTime),
		Items:             o.items,
		Discounts:         o.discounts,
	}
	for k, v := range o.integration {
		j.IntegrationData[k] = v
	}
	j.Config.QR.ExternalPOSID, j.Config.QR.Mode = o.POS, o.Mode
	for _, p := range o.Payments {
		pj := paymentJSON{ID: p.ID, Amount: p.Amount, PaidAmount: p.PaidAmount, Status: p.Status, StatusDetail: p.StatusDetail}
		if p.PaidAmount != "" {
			pj.PaymentMethod = &paymentMethodJSON{ID: "account_money", Type: "account_money", Installments: 1}
		}
		j.Transactions.Payments = append(j.Transactions.Payments, pj)
	}
	for _, r := range o.Refunds {
		j.Transactions.Refunds = append(j.Transactions.Refunds, refundJSON(r))
	}
	if o.QRData != "" {
		j.TypeResponse = &typeResponseJSON{QRData: o.QRData}
	}
	body, err := json.Marshal(j)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, "internal_error", "simulator could not encode the order")
	}
	return response{status: status, body: body}
}

// qrData builds a dynamic EMVCo payload shaped like Mercado Pago's: point
// of initiation 12, template 43 with the GUI and a fresh order UUID, the
// country's currency and code, and the CRC. corrupt spoils the CRC.
func (s *Simulator) qrData(corrupt bool) (string, error) {
	body, err := emvco.Encode(
		emvco.Field{Tag: "00", Value: "01"},
		emvco.Field{Tag: "01", Value: "12"},
		emvco.Field{Tag: "43", Sub: []emvco.Field{
			{Tag: "00", Value: "COM.MERCADOLIBRE"},
			{Tag: "02", Value: "3"},
			{Tag: "06", Value: uuid.NewString()},
		}},
		emvco.Field{Tag: "52", Value: "0000"},
		emvco.Field{Tag: "53", Value: s.country.numeric},
		emvco.Field{Tag: "58", Value: s.country.code},
		emvco.Field{Tag: "59", Value: "POSAGENT SIM"},
		emvco.Field{Tag: "60", Value: s.country.city},
		emvco.Field{Tag: "62", Sub: []emvco.Field{{Tag: "05", Value: "***"}}},
	)
	if err != nil {
		return "", err
	}
	qr := emvco.WithCRC(body)
	if corrupt {
		head := qr[:len(qr)-4]
		qr = fmt.Sprintf("%s%04X", head, emvco.CRC16(head)+1)
	}
	return qr, nil
}

// country is what the simulated account's site sets.
type country struct {
	code, currency, numeric, city string
}

// countryFor returns the site for an ISO 3166 code, false when the Orders
// API for QR does not serve it.
func countryFor(code string) (country, bool) {
	switch code {
	case "AR":
		return country{"AR", "ARS", "032", "CABA"}, true
	case "BR":
		return country{"BR", "BRL", "986", "SAO PAULO"}, true
	case "CL":
		return country{"CL", "CLP", "152", "SANTIAGO"}, true
	case "UY":
		return country{"UY", "UYU", "858", "MONTEVIDEO"}, true
	case "MX":
		return country{"MX", "MXN", "484", "CIUDAD DE MEXICO"}, true
	case "PE":
		return country{"PE", "PEN", "604", "LIMA"}, true
	case "CO":
		return country{"CO", "COP", "170", "BOGOTA"}, true
	}
	return country{code: code}, false
}

// crockford is the ULID alphabet: digits and uppercase letters without I,
// L, O and U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID returns prefix + 26 characters shaped like a ULID: 10 for the
// creation millisecond, 16 random.
func (s *Simulator) newID(prefix string) string {
	b := make([]byte, len(prefix)+26)
	copy(b, prefix)
	ms := uint64(s.now().UnixMilli())
	for i := len(prefix) + 9; i >= len(prefix); i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	var r [16]byte
	rand.Read(r[:])
	for i, v := range r {
		b[len(prefix)+10+i] = crockford[v&31]
	}
	return string(b)
}

// validOrderID reports whether id has the documented shape: "ORD" and 26
// letters or digits.
func validOrderID(id string) bool {
	if len(id) != 29 || id[:3] != "ORD" {
		return false
	}
	for i := 3; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
