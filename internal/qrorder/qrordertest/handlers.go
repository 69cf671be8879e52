package qrordertest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/posagent/posagent/internal/money"
)

// idemWindow is how long the API remembers an idempotency key.
const idemWindow = 24 * time.Hour

// idemEntry remembers a successful request made with an idempotency key.
type idemEntry struct {
	canon   string // the body, canonical JSON
	status  int
	orderID string
	at      time.Time
}

func idemScope(endpoint, orderID, key string) string {
	return endpoint + "\x00" + orderID + "\x00" + key
}

// replayLocked answers a request whose key was used before: the first
// status with the order as it is now, or 409 when the body differs.
func (s *Simulator) replayLocked(scope, canon string) (response, bool) {
	e, ok := s.idem[scope]
	if !ok || s.now().Sub(e.at) >= idemWindow {
		return response{}, false
	}
	if e.canon != canon {
		return errorResponse(http.StatusConflict, "idempotency_key_already_used",
			"the X-Idempotency-Key was already used with a different request within the last 24 hours"), true
	}
	o := s.orders[e.orderID]
	s.expireLocked(o)
	return s.orderResponse(e.status, o), true
}

func (s *Simulator) rememberLocked(scope, canon string, status int, orderID string) {
	s.idem[scope] = &idemEntry{canon: canon, status: status, orderID: orderID, at: s.now()}
}

// idempotencyKey reads the required X-Idempotency-Key header.
func idempotencyKey(h http.Header) (string, *response) {
	key := h.Get("X-Idempotency-Key")
	if key == "" {
		r := errorResponse(http.StatusBadRequest, "empty_required_header", "Missing HTTP header: X-Idempotency-Key")
		return "", &r
	}
	if n := utf8.RuneCountInString(key); n > 128 {
		r := errorResponse(http.StatusBadRequest, "invalid_idempotency_key_length",
			fmt.Sprintf("X-Idempotency-Key length exceeds 128 characters (got %d)", n))
		return "", &r
	}
	return key, nil
}

// decodeBody parses a JSON object body and returns it with its canonical
// form (map keys sorted, numbers as written). An empty body is {} when
// allowed.
func decodeBody(r *http.Request, body []byte, allowEmpty bool) (map[string]any, string, *response) {
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return map[string]any{}, "{}", nil
		}
		res := errorResponse(http.StatusBadRequest, "json_syntax_error", "the request body is empty; want a JSON object")
		return nil, "", &res
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		res := errorResponse(http.StatusBadRequest, "bad_request",
			fmt.Sprintf("Content-Type must be application/json, got %q", r.Header.Get("Content-Type")))
		return nil, "", &res
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, tail := dec.Token(); !errors.Is(tail, io.EOF) {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil {
		res := errorResponse(http.StatusBadRequest, "json_syntax_error", "the request body is not valid JSON: "+err.Error())
		return nil, "", &res
	}
	m, ok := v.(map[string]any)
	if !ok {
		res := errorResponse(http.StatusBadRequest, "property_type", "invalid property types: '$'", "$: want object, got "+jsonType(v))
		return nil, "", &res
	}
	canon, err := json.Marshal(m)
	if err != nil {
		res := errorResponse(http.StatusInternalServerError, "internal_error", "simulator could not re-encode the body")
		return nil, "", &res
	}
	return m, string(canon), nil
}

// pathID checks the order id in the path.
func pathID(id string) *response {
	if validOrderID(id) {
		return nil
	}
	r := errorResponse(http.StatusBadRequest, "invalid_path_param",
		"the order id must be \"ORD\" followed by 26 letters or digits", fmt.Sprintf("order_id: got %q", id))
	return &r
}

func orderNotFound(id string) response {
	return errorResponse(http.StatusNotFound, "order_not_found", "order "+id+" not found")
}

// create is POST /v1/orders.
func (s *Simulator) create(r *http.Request, body []byte, corrupt bool) response {
	key, bad := idempotencyKey(r.Header)
	if bad != nil {
		return *bad
	}
	if !s.site {
		return errorResponse(http.StatusBadRequest, "unsupported_site", fmt.Sprintf("QR orders are not available for site %q", s.country.code))
	}
	m, canon, bad := decodeBody(r, body, false)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scope := idemScope(EndpointCreate, "", key)
	if res, ok := s.replayLocked(scope, canon); ok {
		return res
	}
	req, bad := validateCreate(s.schema, m)
	if bad != nil {
		return *bad
	}
	if len(s.pos) > 0 && !s.pos[req.pos] {
		return errorResponse(http.StatusNotFound, "pos_not_found", fmt.Sprintf("no POS with external_pos_id %q", req.pos))
	}
	o, err := s.newOrderLocked(req, key, corrupt)
	if err != nil {
		return errorResponse(http.StatusInternalServerError, "internal_error", "simulator could not build qr_data: "+err.Error())
	}
	s.rememberLocked(scope, canon, http.StatusCreated, o.ID)
	return s.orderResponse(http.StatusCreated, o)
}

// get is GET /v1/orders/{id}.
func (s *Simulator) get(id string) response {
	if bad := pathID(id); bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return orderNotFound(id)
	}
	s.expireLocked(o)
	return s.orderResponse(http.StatusOK, o)
}

// cancel is POST /v1/orders/{id}/cancel.
func (s *Simulator) cancel(r *http.Request, id string, body []byte) response {
	key, m, canon, bad := writeRequest(r, id, body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, scope, done := s.orderWriteLocked(EndpointCancel, id, key, canon)
	if done != nil {
		return *done
	}
	if len(m) > 0 {
		var p problems
		p.walk(m, object(nil), "$")
		return *p.structural()
	}
	s.expireLocked(o)
	if o.Status != "created" {
		return errorResponse(http.StatusConflict, "order_already_canceled",
			fmt.Sprintf("order %s is %s; only orders with status created can be canceled", id, o.Status))
	}
	o.set("canceled", "canceled", "canceled", "canceled_by_api", s.now())
	s.changedLocked()
	s.rememberLocked(scope, canon, http.StatusOK, id)
	return s.orderResponse(http.StatusOK, o)
}

// refund is POST /v1/orders/{id}/refund.
func (s *Simulator) refund(r *http.Request, id string, body []byte) response {
	key, m, canon, bad := writeRequest(r, id, body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, scope, done := s.orderWriteLocked(EndpointRefund, id, key, canon)
	if done != nil {
		return *done
	}
	parts, bad := validateRefund(refundSchema(), m)
	if bad != nil {
		return *bad
	}
	s.expireLocked(o)
	if o.Status != "processed" {
		return errorResponse(http.StatusConflict, "cannot_refund_order",
			fmt.Sprintf("order %s is %s; only processed orders can be refunded", id, o.Status))
	}
	left := o.total - o.refunded
	pay := &o.Payments[0]
	if len(parts) == 0 {
		parts = []refundPart{{id: pay.ID, amount: left}}
	}
	var sum money.Cents
	for i, p := range parts {
		if p.id != pay.ID {
			return errorResponse(http.StatusNotFound, "transaction_not_found",
				fmt.Sprintf("transaction %s is not a payment of order %s", p.id, id), fmt.Sprintf("$.transactions[%d].id", i))
		}
		sum += p.amount
	}
	if sum > left {
		return errorResponse(http.StatusBadRequest, "refund_amount_exceeds",
			fmt.Sprintf("refund of %s exceeds the %s left to refund", sum, left))
	}
	now := s.now()
	for _, p := range parts {
		o.Refunds = append(o.Refunds, Refund{ID: s.newID("REF"), TransactionID: pay.ID, Amount: p.amount.String(), Status: "processed"})
	}
	o.refunded += sum
	if o.refunded == o.total {
		o.set("refunded", "refunded", "refunded", "refunded", now)
	} else {
		o.set("processed", "partially_refunded", "processed", "partially_refunded", now)
	}
	s.changedLocked()
	s.rememberLocked(scope, canon, http.StatusCreated, id)
	return s.orderResponse(http.StatusCreated, o)
}

// writeRequest checks what every write on an order needs before the
// order is looked at: the idempotency key, the order id in the path and a
// JSON body (empty allowed).
func writeRequest(r *http.Request, id string, body []byte) (key string, m map[string]any, canon string, bad *response) {
	if key, bad = idempotencyKey(r.Header); bad != nil {
		return "", nil, "", bad
	}
	if bad = pathID(id); bad != nil {
		return "", nil, "", bad
	}
	m, canon, bad = decodeBody(r, body, true)
	return key, m, canon, bad
}

// orderWriteLocked finds the order a write is about and, when the same key
// already wrote the same body, the answer to give again (done).
func (s *Simulator) orderWriteLocked(endpoint, id, key, canon string) (o *order, scope string, done *response) {
	o, ok := s.orders[id]
	if !ok {
		res := orderNotFound(id)
		return nil, "", &res
	}
	scope = idemScope(endpoint, id, key)
	if res, ok := s.replayLocked(scope, canon); ok {
		return nil, "", &res
	}
	return o, scope, nil
}
