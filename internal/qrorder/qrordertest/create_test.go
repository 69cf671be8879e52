package qrordertest

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/emvco"
)

func TestCreateRejects(t *testing.T) {
	s := NewServer(t, Options{})
	item := func(k string, v any) map[string]any {
		it := map[string]any{"title": "Cafe", "unit_price": "150.00", "quantity": 1}
		if k != "" {
			it[k] = v
		}
		return with(body(), "items", []any{it})
	}
	many := func(n int, v any) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = v
		}
		return out
	}
	method := func(typ string) map[string]any { return map[string]any{"type": typ, "new_total_amount": "140.00"} }
	tests := []struct {
		name   string
		call   call
		status int
		code   string
		detail string // substring of message or details; "" = not checked
	}{
		{"no token", call{token: "-"}, 401, "unauthorized", ""},
		{"wrong token", call{token: "APP_USR-other"}, 401, "unauthorized", ""},
		{"no idempotency key", call{key: "-"}, 400, "empty_required_header", "X-Idempotency-Key"},
		{"key too long", call{key: strings.Repeat("k", 129)}, 400, "invalid_idempotency_key_length", "128"},
		{"wrong content type", call{contentType: "text/plain"}, 400, "bad_request", "application/json"},
		{"empty body", call{body: " "}, 400, "json_syntax_error", ""},
		{"broken JSON", call{body: `{"type":`}, 400, "json_syntax_error", ""},
		{"trailing data", call{body: `{} {}`}, 400, "json_syntax_error", "after the JSON value"},
		{"array body", call{body: `[]`}, 400, "property_type", "$: want object, got array"},
		{"notification_url", call{body: jsonOf(t, with(body(), "notification_url", "https://x"))}, 400, "unsupported_properties", "$.notification_url"},
		{"nested unknown", call{body: jsonOf(t, with(body(), "config.qr.store_id", "1"))}, 400, "unsupported_properties", "$.config.qr.store_id"},
		{"unknown in item", call{body: jsonOf(t, item("colour", "red"))}, 400, "unsupported_properties", "$.items[0].colour"},
		{"amount as number", call{body: jsonOf(t, with(body(), "total_amount", 150))}, 400, "property_type", "$.total_amount: want string, got number"},
		{"payments as object", call{body: jsonOf(t, with(body(), "transactions.payments", map[string]any{"amount": "150.00"}))}, 400, "property_type", "$.transactions.payments: want array, got object"},
		{"items as object", call{body: jsonOf(t, with(body(), "items", map[string]any{"title": "x"}))}, 400, "property_type", "$.items: want array, got object"},
		{"quantity as string", call{body: jsonOf(t, item("quantity", "1"))}, 400, "property_type", "$.items[0].quantity: want integer, got string"},
		{"quantity fractional", call{body: jsonOf(t, item("quantity", 1.5))}, 400, "property_type", "$.items[0].quantity"},
		{"null description", call{body: jsonOf(t, with(body(), "description", nil))}, 400, "property_type", "got null"},
		{"missing transactions", call{body: jsonOf(t, with(body(), "transactions", remove))}, 400, "required_properties", "missing properties: '$.transactions'"},
		{"missing payments", call{body: jsonOf(t, with(body(), "transactions.payments", remove))}, 400, "required_properties", "'$.transactions.payments'"},
		{"missing payment amount", call{body: jsonOf(t, with(body(), "transactions.payments", []any{map[string]any{}}))}, 400, "required_properties", "$.transactions.payments[0].amount"},
		{"missing config", call{body: jsonOf(t, with(body(), "config", remove))}, 400, "required_properties", "'$.config'"},
		{"missing pos", call{body: jsonOf(t, with(body(), "config.qr.external_pos_id", remove))}, 400, "required_properties", "$.config.qr.external_pos_id"},
		{"missing type", call{body: jsonOf(t, with(body(), "type", remove))}, 400, "required_properties", "$.type"},
		{"missing total", call{body: jsonOf(t, with(body(), "total_amount", remove))}, 400, "required_properties", "$.total_amount"},
		{"missing reference", call{body: jsonOf(t, with(body(), "external_reference", remove))}, 400, "required_properties", "$.external_reference"},
		{"type point", call{body: jsonOf(t, with(body(), "type", "point"))}, 400, "property_value", "$.type"},
		{"one decimal", call{body: jsonOf(t, with(with(body(), "total_amount", "12.5"), "transactions.payments.0.amount", "12.5"))}, 400, "property_value", `$.total_amount: want digits with two decimals or none, e.g. "12.50", got "12.5"`},
		{"three decimals", call{body: jsonOf(t, with(body(), "total_amount", "150.000"))}, 400, "property_value", "$.total_amount"},
		{"negative", call{body: jsonOf(t, with(body(), "total_amount", "-1.00"))}, 400, "property_value", "$.total_amount"},
		{"comma", call{body: jsonOf(t, with(body(), "total_amount", "150,00"))}, 400, "property_value", "$.total_amount"},
		{"leading zero", call{body: jsonOf(t, with(body(), "total_amount", "0150.00"))}, 400, "property_value", "leading zero"},
		{"zero", call{body: jsonOf(t, with(with(body(), "total_amount", "0.00"), "transactions.payments.0.amount", "0.00"))}, 400, "property_value", "must be positive"},
		{"payment differs", call{body: jsonOf(t, with(body(), "transactions.payments.0.amount", "24.50"))}, 400, "property_value", "must equal total_amount 150.00"},
		{"two payments", call{body: jsonOf(t, with(body(), "transactions.payments", many(2, map[string]any{"amount": "75.00"})))}, 400, "property_value", "exactly one payment, got 2"},
		{"no payment", call{body: jsonOf(t, with(body(), "transactions.payments", []any{}))}, 400, "property_value", "exactly one payment, got 0"},
		{"reference with space", call{body: jsonOf(t, with(body(), "external_reference", "sale 42"))}, 400, "property_value", "$.external_reference"},
		{"reference too long", call{body: jsonOf(t, with(body(), "external_reference", strings.Repeat("r", 65)))}, 400, "property_value", "$.external_reference"},
		{"description too long", call{body: jsonOf(t, with(body(), "description", strings.Repeat("d", 151)))}, 400, "property_value", "at most 150 characters, got 151"},
		{"eleven items", call{body: jsonOf(t, with(body(), "items", many(11, map[string]any{"title": "x"})))}, 400, "property_value", "at most 10 items, got 11"},
		{"title too long", call{body: jsonOf(t, item("title", strings.Repeat("t", 151)))}, 400, "property_value", "$.items[0].title"},
		{"unit_measure too long", call{body: jsonOf(t, item("unit_measure", "kilogrammes"))}, 400, "property_value", "$.items[0].unit_measure"},
		{"external_code too long", call{body: jsonOf(t, item("external_code", strings.Repeat("7", 31)))}, 400, "property_value", "$.items[0].external_code"},
		{"quantity zero", call{body: jsonOf(t, item("quantity", 0))}, 400, "property_value", "$.items[0].quantity"},
		{"unit_price bad", call{body: jsonOf(t, item("unit_price", "1.5"))}, 400, "property_value", "$.items[0].unit_price"},
		{"eleven categories", call{body: jsonOf(t, item("external_categories", many(11, map[string]any{"id": "c"})))}, 400, "property_value", "at most 10 categories"},
		{"five discounts", call{body: jsonOf(t, with(body(), "discounts", map[string]any{"payment_methods": many(5, method("account_money"))}))}, 400, "property_value", "at most 4, got 5"},
		{"discount type", call{body: jsonOf(t, with(body(), "discounts", map[string]any{"payment_methods": []any{method("cash")}}))}, 400, "property_value", "$.discounts.payment_methods[0].type"},
		{"discount without methods", call{body: jsonOf(t, with(body(), "discounts", map[string]any{}))}, 400, "required_properties", "$.discounts.payment_methods"},
		{"discount no total", call{body: jsonOf(t, with(body(), "discounts", map[string]any{"payment_methods": []any{map[string]any{"type": "debit_card"}}}))}, 400, "required_properties", "$.discounts.payment_methods[0].new_total_amount"},
		{"discount with categories", call{body: jsonOf(t, with(item("external_categories", []any{map[string]any{"id": "device"}}), "discounts", map[string]any{"payment_methods": []any{method("debit_card")}}))}, 400, "property_value", "$.discounts: cannot be sent together"},
		{"expiration too short", call{body: jsonOf(t, with(body(), "expiration_time", "PT29S"))}, 400, "property_value", "between PT30S and PT3600H"},
		{"expiration too long", call{body: jsonOf(t, with(body(), "expiration_time", "PT3601H"))}, 400, "property_value", "between PT30S and PT3600H"},
		{"expiration syntax", call{body: jsonOf(t, with(body(), "expiration_time", "15 minutes"))}, 400, "property_value", "ISO 8601"},
		{"expiration months", call{body: jsonOf(t, with(body(), "expiration_time", "P1M"))}, 400, "property_value", "$.expiration_time"},
		{"mode", call{body: jsonOf(t, with(body(), "config.qr.mode", "qr"))}, 400, "property_value", "$.config.qr.mode"},
		{"empty pos", call{body: jsonOf(t, with(body(), "config.qr.external_pos_id", ""))}, 400, "property_value", "$.config.qr.external_pos_id"},
		{"integrator without dev_", call{body: jsonOf(t, with(body(), "integration_data", map[string]any{"integrator_id": "1234"}))}, 400, "property_value", "dev_"},
		{"sponsor not digits", call{body: jsonOf(t, with(body(), "integration_data", map[string]any{"sponsor": map[string]any{"id": "abc"}}))}, 400, "sponsor_id_not_valid", ""},
		{"marketplace fee bad", call{body: jsonOf(t, with(body(), "marketplace_fee", "1.1"))}, 400, "property_value", "$.marketplace_fee"},
		{"several problems", call{body: jsonOf(t, with(with(body(), "type", "x"), "description", strings.Repeat("d", 151)))}, 400, "property_value", "invalid property values: '$.type', '$.description'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			c.method, c.path = "POST", "/v1/orders"
			switch c.key {
			case "":
				c.key = "reject-" + strings.ReplaceAll(tt.name, " ", "-")
			case "-":
				c.key = ""
			}
			if c.body == "" {
				c.body = jsonOf(t, body())
			}
			if c.body == " " {
				c.body = ""
				c.contentType = "application/json"
			}
			r := c.must(t, s)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			e := r.apiErr(t)
			if e.Code != tt.code {
				t.Errorf("code %q, want %q (%s)", e.Code, tt.code, r.body)
			}
			if all := e.Message + "\n" + strings.Join(e.Details, "\n"); !strings.Contains(all, tt.detail) {
				t.Errorf("error %s does not mention %q", r.body, tt.detail)
			}
		})
	}
	if n := len(s.Orders()); n != 0 {
		t.Errorf("%d orders created by rejected requests", n)
	}
}

func TestCreateAcceptsLimits(t *testing.T) {
	s := NewServer(t, Options{})
	full := with(body(), "items", []any{map[string]any{
		"title": strings.Repeat("t", 150), "unit_price": "150", "quantity": 1, "unit_measure": "kg",
		"external_code": strings.Repeat("7", 30), "external_categories": []any{map[string]any{"id": "device"}},
	}})
	tests := []struct {
		name string
		m    map[string]any
	}{
		{"128-character key", body()},
		{"amount without decimals", with(with(body(), "total_amount", "150"), "transactions.payments.0.amount", "150.00")},
		{"64-character reference", with(body(), "external_reference", strings.Repeat("aZ9_-", 12)+"abcd")},
		{"150-character description", with(body(), "description", strings.Repeat("d", 150))},
		{"item at every limit", full},
		{"four discounts", with(body(), "discounts", map[string]any{"payment_methods": []any{
			map[string]any{"type": "debit_card", "new_total_amount": "140.00"},
			map[string]any{"type": "credit_card", "new_total_amount": "140.00"},
			map[string]any{"type": "account_money", "new_total_amount": "140.00"},
			map[string]any{"type": "prepaid_card", "new_total_amount": "140.00"},
		}})},
		{"PT30S", with(body(), "expiration_time", "PT30S")},
		{"PT3600H", with(body(), "expiration_time", "PT3600H")},
		{"integration data and fee", with(with(body(), "integration_data", map[string]any{
			"platform_id": "dev_1234567890", "integrator_id": "dev_1234", "sponsor": map[string]any{"id": "446566691"},
		}), "marketplace_fee", "11.20")},
		{"no mode", with(body(), "config.qr.mode", remove)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := strings.Repeat("k", 127) + string(rune('a'+i))
			o := createOrder(t, s, key, tt.m)
			if o.Status != "created" {
				t.Errorf("status %q", o.Status)
			}
		})
	}
}

var (
	ordID = regexp.MustCompile(`^ORD[0-9A-Z]{26}$`)
	payID = regexp.MustCompile(`^PAY[0-9A-Z]{26}$`)
	uuid4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestCreateResponse(t *testing.T) {
	clock := newClock()
	s := NewServer(t, Options{Now: clock.Now, POS: []string{"CAJA1"}})
	m := with(body(), "items", []any{map[string]any{"title": "Cafe", "unit_price": "150.00", "quantity": 1}})
	m = with(m, "integration_data", map[string]any{"integrator_id": "dev_42"})
	o := createOrder(t, s, "k1", m)

	checks := []struct{ field, got, want string }{
		{"type", o.Type, "qr"},
		{"external_reference", o.ExternalReference, "pos1-sale42"},
		{"expiration_time", o.ExpirationTime, "PT15M"},
		{"processing_mode", o.ProcessingMode, "automatic"},
		{"total_amount", o.TotalAmount, "150.00"},
		{"country_code", o.CountryCode, "AR"},
		{"currency", o.Currency, "ARS"},
		{"status", o.Status, "created"},
		{"status_detail", o.StatusDetail, "created"},
		{"created_date", o.CreatedDate, "2026-03-14T15:09:26.535Z"},
		{"last_updated_date", o.LastUpdatedDate, "2026-03-14T15:09:26.535Z"},
		{"config.qr.external_pos_id", o.Config.QR.ExternalPOSID, "CAJA1"},
		{"config.qr.mode", o.Config.QR.Mode, "dynamic"},
		{"payment amount", o.Transactions.Payments[0].Amount, "150.00"},
		{"payment status", o.Transactions.Payments[0].Status, "created"},
		{"payment status_detail", o.Transactions.Payments[0].StatusDetail, "ready_to_process"},
		{"integration_data.integrator_id", o.IntegrationData["integrator_id"].(string), "dev_42"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !ordID.MatchString(o.ID) || !payID.MatchString(o.Transactions.Payments[0].ID) {
		t.Errorf("ids %q, %q: want ORD/PAY + 26 uppercase letters or digits", o.ID, o.Transactions.Payments[0].ID)
	}
	if o.UserID == "" || o.IntegrationData["application_id"] == nil {
		t.Errorf("user_id %q, integration_data %v: want both set", o.UserID, o.IntegrationData)
	}
	if len(o.Items) != 1 || o.Items[0]["title"] != "Cafe" || o.Items[0]["quantity"] != 1.0 {
		t.Errorf("items = %v, want the item sent", o.Items)
	}
	snap, ok := s.Order(o.ID)
	if !ok || snap.IdempotencyKey != "k1" || snap.Expiration != 15*time.Minute || !snap.Created.Equal(clock.Now()) {
		t.Errorf("Order(%s) = %+v, %v", o.ID, snap, ok)
	}
	if o.TypeResponse == nil {
		t.Fatal("dynamic order without type_response")
	}
	qr := o.TypeResponse.QRData
	if qr != snap.QRData {
		t.Errorf("snapshot qr_data differs from the response")
	}
	p, err := emvco.Parse(qr)
	if err != nil {
		t.Fatalf("qr_data %q: %v", qr, err)
	}
	if n := len(qr); n < 140 || n > 160 {
		t.Errorf("qr_data has %d characters, want about 140-150", n)
	}
	gui, _ := p.Sub("43", "00")
	ref, _ := p.Sub("43", "06")
	cur, _ := p.Get("53")
	cc, _ := p.Get("58")
	if p.PointOfInitiation() != "12" || gui != "COM.MERCADOLIBRE" || !uuid4.MatchString(ref) || cur != "032" || cc != "AR" {
		t.Errorf("qr_data %q: want 01=12, 43/00 COM.MERCADOLIBRE, 43/06 a UUID, 53=032, 58=AR", qr)
	}
	if o2 := createOrder(t, s, "k2", body()); o2.TypeResponse.QRData == qr {
		t.Errorf("two orders share qr_data %q", qr)
	}
}

func TestCreateModes(t *testing.T) {
	tests := []struct {
		mode, sent, want string
		qr               bool
		expiration       time.Duration
	}{
		{"static", "", "PT10M", false, 10 * time.Minute},
		{"static", "PT16M", "PT10M", false, 10 * time.Minute},
		{"static", "PT5M", "PT5M", false, 5 * time.Minute},
		{"dynamic", "", "PT15M", true, 15 * time.Minute},
		{"dynamic", "PT16M", "PT16M", true, 16 * time.Minute},
		{"hybrid", "PT1H", "PT1H", true, time.Hour},
		{"", "", "PT10M", false, 10 * time.Minute},
	}
	s := NewServer(t, Options{})
	for i, tt := range tests {
		t.Run(tt.mode+tt.sent, func(t *testing.T) {
			m := body()
			if tt.mode == "" {
				m = with(m, "config.qr.mode", remove)
			} else {
				m = with(m, "config.qr.mode", tt.mode)
			}
			if tt.sent != "" {
				m = with(m, "expiration_time", tt.sent)
			}
			o := createOrder(t, s, "mode-"+string(rune('a'+i)), m)
			if o.ExpirationTime != tt.want || (o.TypeResponse != nil) != tt.qr {
				t.Errorf("expiration_time %q, type_response %v; want %q, %v", o.ExpirationTime, o.TypeResponse, tt.want, tt.qr)
			}
			if want := tt.mode; want != "" && o.Config.QR.Mode != want || want == "" && o.Config.QR.Mode != "static" {
				t.Errorf("mode %q", o.Config.QR.Mode)
			}
			if snap, _ := s.Order(o.ID); snap.Expiration != tt.expiration {
				t.Errorf("Expiration %v, want %v", snap.Expiration, tt.expiration)
			}
		})
	}
}

func TestCountries(t *testing.T) {
	tests := []struct{ country, currency, numeric string }{
		{"AR", "ARS", "032"}, {"BR", "BRL", "986"}, {"CL", "CLP", "152"}, {"UY", "UYU", "858"},
		{"MX", "MXN", "484"}, {"PE", "PEN", "604"}, {"CO", "COP", "170"},
	}
	for _, tt := range tests {
		t.Run(tt.country, func(t *testing.T) {
			s := NewServer(t, Options{Country: tt.country})
			o := createOrder(t, s, "k", body())
			p, err := emvco.Parse(o.TypeResponse.QRData)
			if err != nil {
				t.Fatal(err)
			}
			cur, _ := p.Get("53")
			cc, _ := p.Get("58")
			if o.Currency != tt.currency || o.CountryCode != tt.country || cur != tt.numeric || cc != tt.country {
				t.Errorf("currency %q country %q, qr 53=%q 58=%q", o.Currency, o.CountryCode, cur, cc)
			}
		})
	}
	t.Run("unsupported", func(t *testing.T) {
		s := NewServer(t, Options{Country: "US"})
		r := call{method: "POST", path: "/v1/orders", key: "k", body: jsonOf(t, body())}.must(t, s)
		if e := r.apiErr(t); r.status != 400 || e.Code != "unsupported_site" {
			t.Errorf("status %d code %q, want 400 unsupported_site", r.status, e.Code)
		}
	})
}

func TestUnknownPOS(t *testing.T) {
	s := NewServer(t, Options{POS: []string{"CAJA1", "CAJA2"}})
	r := call{method: "POST", path: "/v1/orders", key: "k", body: jsonOf(t, with(body(), "config.qr.external_pos_id", "CAJA9"))}.must(t, s)
	if e := r.apiErr(t); r.status != http.StatusNotFound || e.Code != "pos_not_found" {
		t.Errorf("status %d code %q, want 404 pos_not_found", r.status, e.Code)
	}
	createOrder(t, s, "k2", with(body(), "config.qr.external_pos_id", "CAJA2"))
}

func TestAuthorizationScheme(t *testing.T) {
	s := NewServer(t, Options{Token: "APP_USR-123"})
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"Bearer APP_USR-123", 201},
		{"bearer APP_USR-123", 201},
		{"APP_USR-123", 401},
		{"Bearer " + DefaultToken, 401},
		{"Basic APP_USR-123", 401},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", s.URL()+"/v1/orders", strings.NewReader(jsonOf(t, body())))
		req.Header.Set("Authorization", tc.header)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Idempotency-Key", "auth-"+tc.header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: status %d, want %d", tc.header, resp.StatusCode, tc.want)
		}
	}
}
