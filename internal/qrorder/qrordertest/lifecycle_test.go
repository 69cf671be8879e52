package qrordertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func get(t *testing.T, s *Simulator, id string) apiOrder {
	t.Helper()
	r := call{method: "GET", path: "/v1/orders/" + id}.must(t, s)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", id, r.status, r.body)
	}
	return r.order(t)
}

func wantStatus(t *testing.T, o apiOrder, status, detail, payStatus, payDetail string) {
	t.Helper()
	p := o.Transactions.Payments[0]
	if o.Status != status || o.StatusDetail != detail || p.Status != payStatus || p.StatusDetail != payDetail {
		t.Errorf("order %s/%s payment %s/%s; want %s/%s payment %s/%s",
			o.Status, o.StatusDetail, p.Status, p.StatusDetail, status, detail, payStatus, payDetail)
	}
}

func wantError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if e := r.apiErr(t); r.status != status || e.Code != code {
		t.Errorf("status %d code %q, want %d %q", r.status, e.Code, status, code)
	}
}

func TestLifeCycle(t *testing.T) {
	s := NewServer(t, Options{})

	t.Run("pay", func(t *testing.T) {
		o := createOrder(t, s, "pay", body())
		if err := s.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		got := get(t, s, o.ID)
		wantStatus(t, got, "processed", "accredited", "processed", "accredited")
		if got.Transactions.Payments[0].PaidAmount != "150.00" {
			t.Errorf("paid_amount %q", got.Transactions.Payments[0].PaidAmount)
		}
		if err := s.Pay(o.ID); err == nil || !strings.Contains(err.Error(), "order is processed") {
			t.Errorf("second Pay = %v, want an error saying it is processed", err)
		}
		r := call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "c"}.must(t, s)
		wantError(t, r, http.StatusConflict, "order_already_canceled")
	})

	t.Run("expire", func(t *testing.T) {
		o := createOrder(t, s, "expire", body())
		if err := s.Expire(o.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, get(t, s, o.ID), "expired", "expired", "expired", "expired")
		if err := s.Pay(o.ID); err == nil {
			t.Error("Pay of an expired order succeeded")
		}
	})

	t.Run("cancel at MP", func(t *testing.T) {
		o := createOrder(t, s, "panel", body())
		if err := s.CancelAtMP(o.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, get(t, s, o.ID), "canceled", "canceled", "canceled", "canceled")
	})

	t.Run("cancel by API", func(t *testing.T) {
		o := createOrder(t, s, "cancel", body())
		r := call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "c1"}.must(t, s)
		if r.status != http.StatusOK {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
		wantStatus(t, r.order(t), "canceled", "canceled", "canceled", "canceled_by_api")
		r = call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "c2"}.must(t, s)
		wantError(t, r, http.StatusConflict, "order_already_canceled")
		r = call{method: "POST", path: "/v1/orders/" + o.ID + "/refund", key: "r1"}.must(t, s)
		wantError(t, r, http.StatusConflict, "cannot_refund_order")
	})

	t.Run("refund partial then total", func(t *testing.T) {
		o := createOrder(t, s, "refund", body())
		refund := func(key, b string) reply {
			return call{method: "POST", path: "/v1/orders/" + o.ID + "/refund", key: key, body: b}.must(t, s)
		}
		wantError(t, refund("early", ""), http.StatusConflict, "cannot_refund_order")
		if err := s.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		pay := o.Transactions.Payments[0].ID
		part := func(id, amount string) string {
			return fmt.Sprintf(`{"transactions":[{"id":%q,"amount":%q}]}`, id, amount)
		}
		r := refund("r1", part(pay, "50.00"))
		if r.status != http.StatusCreated {
			t.Fatalf("partial refund: %d %s", r.status, r.body)
		}
		got := r.order(t)
		wantStatus(t, got, "processed", "partially_refunded", "processed", "partially_refunded")
		if len(got.Transactions.Refunds) != 1 || got.Transactions.Refunds[0].Amount != "50.00" ||
			got.Transactions.Refunds[0].TransactionID != pay || !strings.HasPrefix(got.Transactions.Refunds[0].ID, "REF") ||
			got.Transactions.Refunds[0].Status != "processed" {
			t.Errorf("refunds = %+v", got.Transactions.Refunds)
		}
		wantError(t, refund("r2", part(pay, "100.01")), http.StatusBadRequest, "refund_amount_exceeds")
		wantError(t, refund("r3", part("PAY01J67CQQH5904WDBVZEM4JMEP3", "1.00")), http.StatusNotFound, "transaction_not_found")
		wantError(t, refund("r4", part(pay, "1.5")), http.StatusBadRequest, "property_value")
		wantError(t, refund("r5", `{"transactions":[{"id":"x"}]}`), http.StatusBadRequest, "required_properties")
		wantError(t, refund("r6", `{"amount":"1.00"}`), http.StatusBadRequest, "unsupported_properties")
		wantError(t, refund("r7", `{"transactions":{"id":"x","amount":"1.00"}}`), http.StatusBadRequest, "property_type")

		r = refund("r8", "")
		if r.status != http.StatusCreated {
			t.Fatalf("total refund: %d %s", r.status, r.body)
		}
		got = r.order(t)
		wantStatus(t, got, "refunded", "refunded", "refunded", "refunded")
		if len(got.Transactions.Refunds) != 2 || got.Transactions.Refunds[1].Amount != "100.00" {
			t.Errorf("refunds = %+v, want 50.00 then the 100.00 left", got.Transactions.Refunds)
		}
		wantError(t, refund("r9", ""), http.StatusConflict, "cannot_refund_order")
		if snap, _ := s.Order(o.ID); len(snap.Refunds) != 2 || snap.Status != "refunded" {
			t.Errorf("snapshot %+v", snap)
		}
	})

	t.Run("refund in one go", func(t *testing.T) {
		o := createOrder(t, s, "refund-all", body())
		if err := s.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		r := call{method: "POST", path: "/v1/orders/" + o.ID + "/refund", key: "all", body: "{}"}.must(t, s)
		if r.status != http.StatusCreated {
			t.Fatalf("refund: %d %s", r.status, r.body)
		}
		wantStatus(t, r.order(t), "refunded", "refunded", "refunded", "refunded")
	})

	t.Run("errors", func(t *testing.T) {
		missing := "ORD00000000000000000000000000"
		wantError(t, call{method: "GET", path: "/v1/orders/" + missing}.must(t, s), http.StatusNotFound, "order_not_found")
		wantError(t, call{method: "GET", path: "/v1/orders/123"}.must(t, s), http.StatusBadRequest, "invalid_path_param")
		wantError(t, call{method: "POST", path: "/v1/orders/" + missing + "/cancel", key: "k"}.must(t, s), http.StatusNotFound, "order_not_found")
		wantError(t, call{method: "POST", path: "/v1/orders/" + missing + "/refund", key: "k"}.must(t, s), http.StatusNotFound, "order_not_found")
		wantError(t, call{method: "POST", path: "/v1/orders/" + missing + "/cancel"}.must(t, s), http.StatusBadRequest, "empty_required_header")
		wantError(t, call{method: "POST", path: "/v1/orders/" + missing + "/refund"}.must(t, s), http.StatusBadRequest, "empty_required_header")
		wantError(t, call{method: "GET", path: "/v1/orders/" + missing, token: "-"}.must(t, s), http.StatusUnauthorized, "unauthorized")
		wantError(t, call{method: "DELETE", path: "/v1/orders/" + missing}.must(t, s), http.StatusNotFound, "not_found")
		wantError(t, call{method: "GET", path: "/v1/payments"}.must(t, s), http.StatusNotFound, "not_found")
		wantError(t, call{method: "GET", path: "/v1/ordersX"}.must(t, s), http.StatusNotFound, "not_found")
		o := createOrder(t, s, "cancel-body", body())
		wantError(t, call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "k", body: `{"status":"canceled"}`}.must(t, s),
			http.StatusBadRequest, "unsupported_properties")
		if err := s.Pay("ORD-nope"); err == nil {
			t.Error("Pay of an unknown order succeeded")
		}
		if _, ok := s.Order("ORD-nope"); ok {
			t.Error("Order of an unknown id found")
		}
	})
}

func TestLazyExpiry(t *testing.T) {
	clock := newClock()
	s := NewServer(t, Options{Now: clock.Now})
	created := clock.Now()
	dyn := createOrder(t, s, "dyn", with(body(), "expiration_time", "PT30S"))
	static := createOrder(t, s, "static", with(with(body(), "config.qr.mode", "static"), "expiration_time", "PT16M"))

	clock.Add(29 * time.Second)
	wantStatus(t, get(t, s, dyn.ID), "created", "created", "created", "ready_to_process")
	clock.Add(time.Second)
	got := get(t, s, dyn.ID)
	wantStatus(t, got, "expired", "expired", "expired", "expired")
	if want := created.Add(30 * time.Second).Format(apiTime); got.LastUpdatedDate != want {
		t.Errorf("last_updated_date %q, want the expiry instant %q", got.LastUpdatedDate, want)
	}
	wantError(t, call{method: "POST", path: "/v1/orders/" + dyn.ID + "/cancel", key: "c"}.must(t, s), http.StatusConflict, "order_already_canceled")

	if o, _ := s.Order(static.ID); o.Status != "created" {
		t.Fatalf("static order %s after 30 s", o.Status)
	}
	clock.Add(10*time.Minute - 30*time.Second)
	if o, _ := s.Order(static.ID); o.Status != "expired" {
		t.Errorf("static order sent PT16M is %s after 10 min, want expired (capped)", o.Status)
	}
	if err := s.Pay(static.ID); err == nil {
		t.Error("Pay after expiry succeeded")
	}
}

func TestIdempotency(t *testing.T) {
	clock := newClock()
	s := NewServer(t, Options{Now: clock.Now})
	create := func(key, b string) reply {
		return call{method: "POST", path: "/v1/orders", key: key, body: b}.must(t, s)
	}
	first := create("same", jsonOf(t, body()))
	if first.status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	id := first.order(t).ID

	// Same body written differently: key order and spacing do not matter.
	respaced := `{ "transactions": {"payments": [{"amount": "150.00"}]}, "type": "qr", "total_amount": "150.00",
		"external_reference": "pos1-sale42", "config": {"qr": {"mode": "dynamic", "external_pos_id": "CAJA1"}} }`
	again := create("same", respaced)
	if again.status != http.StatusCreated || again.order(t).ID != id {
		t.Fatalf("replay: %d %s, want 201 with order %s", again.status, again.body, id)
	}
	if err := s.Pay(id); err != nil {
		t.Fatal(err)
	}
	if o := create("same", respaced).order(t); o.ID != id || o.Status != "processed" {
		t.Errorf("replay after payment: %s %s, want the same order as it is now", o.ID, o.Status)
	}
	wantError(t, create("same", jsonOf(t, with(body(), "total_amount", "151.00"))), http.StatusConflict, "idempotency_key_already_used")
	if n := len(s.Orders()); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}

	// A rejected request is not remembered: the key stays usable.
	wantError(t, create("fresh", `{"type":"qr"}`), http.StatusBadRequest, "required_properties")
	if r := create("fresh", jsonOf(t, with(body(), "external_reference", "other"))); r.status != http.StatusCreated {
		t.Errorf("key reused after a rejection: %d %s", r.status, r.body)
	}

	clock.Add(24 * time.Hour)
	if r := create("same", jsonOf(t, body())); r.status != http.StatusCreated || r.order(t).ID == id {
		t.Errorf("after 24 h the key should create a new order, got %d %s", r.status, r.body)
	}
	if got := len(s.OrdersByExternalReference("pos1-sale42")); got != 2 {
		t.Errorf("OrdersByExternalReference = %d orders, want 2", got)
	}
}

func TestIdempotencyCancelRefund(t *testing.T) {
	s := NewServer(t, Options{})
	a := createOrder(t, s, "a", body())
	b := createOrder(t, s, "b", with(body(), "external_reference", "pos1-sale43"))
	for _, o := range []apiOrder{a, b} {
		r := call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "one-key"}.must(t, s)
		if r.status != http.StatusOK {
			t.Errorf("cancel %s with a key used for another order: %d %s", o.ID, r.status, r.body)
		}
	}
	if r := (call{method: "POST", path: "/v1/orders/" + a.ID + "/cancel", key: "one-key"}.must(t, s)); r.status != http.StatusOK {
		t.Errorf("cancel replay: %d %s, want 200 again", r.status, r.body)
	}

	c := createOrder(t, s, "c", with(body(), "external_reference", "pos1-sale44"))
	if err := s.Pay(c.ID); err != nil {
		t.Fatal(err)
	}
	part := fmt.Sprintf(`{"transactions":[{"id":%q,"amount":"10.00"}]}`, c.Transactions.Payments[0].ID)
	for range 3 {
		r := call{method: "POST", path: "/v1/orders/" + c.ID + "/refund", key: "refund-1", body: part}.must(t, s)
		if r.status != http.StatusCreated {
			t.Fatalf("refund: %d %s", r.status, r.body)
		}
	}
	if o, _ := s.Order(c.ID); len(o.Refunds) != 1 {
		t.Errorf("%d refunds after three tries with one key, want 1", len(o.Refunds))
	}
	r := call{method: "POST", path: "/v1/orders/" + c.ID + "/refund", key: "refund-1", body: strings.Replace(part, "10.00", "11.00", 1)}.must(t, s)
	wantError(t, r, http.StatusConflict, "idempotency_key_already_used")
}

func TestConcurrentCreates(t *testing.T) {
	s := NewServer(t, Options{})
	b := jsonOf(t, body())
	var wg sync.WaitGroup
	ids := make([]string, 16)
	for i := range 16 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r, err := call{method: "POST", path: "/v1/orders", key: "shared", body: b}.do(t.Context(), s)
			if err != nil || r.status != http.StatusCreated {
				t.Errorf("shared key: %v %d", err, r.status)
				return
			}
			ids[i] = r.order(t).ID
		}()
		go func() {
			defer wg.Done()
			if _, err := (call{method: "POST", path: "/v1/orders", key: fmt.Sprint("own-", i), body: b}).do(t.Context(), s); err != nil {
				t.Error(err)
			}
			s.Orders()
			s.Requests()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("one key gave orders %s and %s", ids[0], id)
		}
	}
	if n := len(s.Orders()); n != 17 {
		t.Errorf("%d orders, want 17", n)
	}
	if n := len(s.Requests()); n != 32 {
		t.Errorf("%d requests recorded, want 32", n)
	}
}

func TestWait(t *testing.T) {
	s := NewServer(t, Options{})
	o := createOrder(t, s, "w", body())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		first := true
		errc <- s.Wait(ctx, func() bool {
			if first {
				first = false
				close(started)
			}
			snap, _ := s.Order(o.ID)
			return snap.Status == "processed"
		})
	}()
	<-started
	if err := s.Pay(o.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Wait = %v, want nil once paid", err)
	}

	done, stop := context.WithCancel(t.Context())
	stop()
	if err := s.Wait(done, func() bool { return false }); err != context.Canceled {
		t.Errorf("Wait on a canceled context = %v", err)
	}
}

func TestRequestsRecorded(t *testing.T) {
	clock := newClock()
	s := NewServer(t, Options{Now: clock.Now})
	b := jsonOf(t, body())
	createOrder(t, s, "recorded-key", body())
	call{method: "GET", path: "/v1/orders/ORD00000000000000000000000000?x=1"}.must(t, s)
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v1/orders" || r.Status != 201 || string(r.Body) != b || !r.At.Equal(clock.Now()) {
		t.Errorf("request 0 = %s %s %d %q %v", r.Method, r.Path, r.Status, r.Body, r.At)
	}
	if r.Header.Get("X-Idempotency-Key") != "recorded-key" || r.Header.Get("Authorization") != "Bearer "+DefaultToken ||
		r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers not recorded: %v", r.Header)
	}
	if reqs[1].Status != 404 || reqs[1].Query != "x=1" {
		t.Errorf("request 1: status %d query %q", reqs[1].Status, reqs[1].Query)
	}
	reqs[0].Header.Set("X-Idempotency-Key", "changed")
	reqs[0].Body[0] = 'X'
	if again := s.Requests()[0]; again.Header.Get("X-Idempotency-Key") != "recorded-key" || again.Body[0] != '{' {
		t.Error("Requests returns the simulator's own header map or body")
	}
}

func TestAutoPay(t *testing.T) {
	s := NewServer(t, Options{})
	s.SetAutoPay(time.Millisecond)
	o := createOrder(t, s, "auto", body())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Wait(ctx, func() bool { snap, _ := s.Order(o.ID); return snap.Status == "processed" }); err != nil {
		t.Fatalf("order not paid automatically: %v", err)
	}
}
