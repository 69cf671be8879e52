package qrordertest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// call is one HTTP request to the simulator.
type call struct {
	method, path string
	key          string // X-Idempotency-Key; "" = none
	body         string
	token        string // "" = DefaultToken; "-" = no Authorization header
	contentType  string // "" = application/json when there is a body
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (c call) do(ctx context.Context, s *Simulator) (reply, error) {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, s.URL()+c.path, body)
	if err != nil {
		return reply{}, err
	}
	switch c.token {
	case "":
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
	case "-":
	default:
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.key != "" {
		req.Header.Set("X-Idempotency-Key", c.key)
	}
	switch {
	case c.contentType != "":
		req.Header.Set("Content-Type", c.contentType)
	case c.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func (c call) must(t *testing.T, s *Simulator) reply {
	t.Helper()
	r, err := c.do(t.Context(), s)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	return r
}

// apiOrder is the part of the order JSON the tests read.
type apiOrder struct {
	ID                string         `json:"id"`
	UserID            string         `json:"user_id"`
	Type              string         `json:"type"`
	ExternalReference string         `json:"external_reference"`
	ExpirationTime    string         `json:"expiration_time"`
	ProcessingMode    string         `json:"processing_mode"`
	TotalAmount       string         `json:"total_amount"`
	CountryCode       string         `json:"country_code"`
	Status            string         `json:"status"`
	StatusDetail      string         `json:"status_detail"`
	Currency          string         `json:"currency"`
	CreatedDate       string         `json:"created_date"`
	LastUpdatedDate   string         `json:"last_updated_date"`
	IntegrationData   map[string]any `json:"integration_data"`
	Config            struct {
		QR struct {
			ExternalPOSID string `json:"external_pos_id"`
			Mode          string `json:"mode"`
		} `json:"qr"`
	} `json:"config"`
	Transactions struct {
		Payments []struct {
			ID           string `json:"id"`
			Amount       string `json:"amount"`
			PaidAmount   string `json:"paid_amount"`
			Status       string `json:"status"`
			StatusDetail string `json:"status_detail"`
		} `json:"payments"`
		Refunds []struct {
			ID            string `json:"id"`
			TransactionID string `json:"transaction_id"`
			Amount        string `json:"amount"`
			Status        string `json:"status"`
		} `json:"refunds"`
	} `json:"transactions"`
	Items        []map[string]any `json:"items"`
	TypeResponse *struct {
		QRData string `json:"qr_data"`
	} `json:"type_response"`
}

func (r reply) order(t *testing.T) apiOrder {
	t.Helper()
	var o apiOrder
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("order JSON: %v\n%s", err, r.body)
	}
	return o
}

// apiErr returns the single error of an error envelope.
func (r reply) apiErr(t *testing.T) apiError {
	t.Helper()
	var env struct {
		Errors []apiError `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || len(env.Errors) != 1 {
		t.Fatalf("want an error envelope with one error, got %s (%v)", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	return env.Errors[0]
}

// body returns a valid create body, dynamic mode, as a map to edit.
func body() map[string]any {
	return map[string]any{
		"type":               "qr",
		"total_amount":       "150.00",
		"external_reference": "pos1-sale42",
		"config":             map[string]any{"qr": map[string]any{"external_pos_id": "CAJA1", "mode": "dynamic"}},
		"transactions":       map[string]any{"payments": []any{map[string]any{"amount": "150.00"}}},
	}
}

// with sets (or, given remove, deletes) the value at a dotted path;
// "transactions.payments.0.amount" indexes arrays.
func with(m map[string]any, dotted string, value any) map[string]any {
	keys := strings.Split(dotted, ".")
	var cur any = m
	for i, k := range keys {
		last := i == len(keys)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if value == remove {
					delete(c, k)
				} else {
					c[k] = value
				}
				return m
			}
			cur = c[k]
		case []any:
			n := int(k[0] - '0')
			if last {
				c[n] = value
				return m
			}
			cur = c[n]
		}
	}
	return m
}

// remove as the value given to with deletes the property.
const remove = "\x00remove"

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// createOrder creates a dynamic order and returns it.
func createOrder(t *testing.T, s *Simulator, key string, m map[string]any) apiOrder {
	t.Helper()
	r := call{method: "POST", path: "/v1/orders", key: key, body: jsonOf(t, m)}.must(t, s)
	if r.status != http.StatusCreated {
		t.Fatalf("create: status %d: %s", r.status, r.body)
	}
	return r.order(t)
}
