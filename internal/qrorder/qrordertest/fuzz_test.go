package qrordertest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/emvco"
)

// FuzzCreate feeds arbitrary bodies to POST /v1/orders: the simulator
// parses outside input when run by `posagent simulate`, so it must never
// panic, must always answer JSON, and must only create valid orders.
func FuzzCreate(f *testing.F) {
	for _, seed := range []string{
		`{"type":"qr","total_amount":"150.00","external_reference":"r","config":{"qr":{"external_pos_id":"P","mode":"dynamic"}},"transactions":{"payments":[{"amount":"150.00"}]}}`,
		`{"type":"qr","total_amount":"1","external_reference":"r","config":{"qr":{"external_pos_id":"P"}},"transactions":{"payments":[{"amount":"1.00"}]},"items":[{"quantity":1e3}]}`,
		`{"transactions":{"payments":[1,null,{}]}}`,
		`{"items":[{"external_categories":[{"id":null}]}],"discounts":{"payment_methods":[{}]}}`,
		`[]`, `null`, `"x"`, `{`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s := New(Options{})
		req := httptest.NewRequest("POST", "/v1/orders", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Idempotency-Key", "fuzz")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d with a body that is not JSON: %q", rec.Code, rec.Body)
		}
		orders := s.Orders()
		switch rec.Code {
		case http.StatusCreated:
			if len(orders) != 1 {
				t.Fatalf("201 with %d orders", len(orders))
			}
			if o := orders[0]; o.Mode != "static" {
				if err := emvco.Check(o.QRData); err != nil {
					t.Fatalf("qr_data %q: %v", o.QRData, err)
				}
			}
		case http.StatusBadRequest, http.StatusNotFound:
			if len(orders) != 0 {
				t.Fatalf("status %d but %d orders", rec.Code, len(orders))
			}
		default:
			t.Fatalf("unexpected status %d: %s", rec.Code, rec.Body)
		}
	})
}
