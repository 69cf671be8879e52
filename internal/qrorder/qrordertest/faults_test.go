package qrordertest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/emvco"
)

// waitFor waits, with a generous deadline, until cond holds.
func waitFor(t *testing.T, s *Simulator, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// cancelWhen returns a context canceled as soon as cond holds: a client
// "timing out" at a chosen moment instead of after a guessed delay.
func cancelWhen(t *testing.T, s *Simulator, cond func() bool) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer cancel()
		s.Wait(ctx, cond)
	}()
	return ctx
}

func createCall(key string, t *testing.T) call {
	return call{method: "POST", path: "/v1/orders", key: key, body: jsonOf(t, body())}
}

func TestFaultStatus(t *testing.T) {
	s := NewServer(t, Options{})
	s.Inject(EndpointCreate, Fault{Count: 2, Status: http.StatusServiceUnavailable, RetryAfter: 1500 * time.Millisecond})
	s.Inject(EndpointCreate, Fault{Status: http.StatusTooManyRequests})
	s.Inject(EndpointCreate, Fault{})
	want := []struct {
		status     int
		code       string
		retryAfter string
	}{
		{503, "service_unavailable", "2"},
		{503, "service_unavailable", "2"},
		{429, "too_many_requests", ""},
		{500, "internal_error", ""},
	}
	for i, w := range want {
		r := createCall("k", t).must(t, s)
		wantError(t, r, w.status, w.code)
		if got := r.header.Get("Retry-After"); got != w.retryAfter {
			t.Errorf("attempt %d: Retry-After %q, want %q", i, got, w.retryAfter)
		}
	}
	if n := len(s.Orders()); n != 0 {
		t.Fatalf("%d orders created by failed attempts", n)
	}
	if r := createCall("k", t).must(t, s); r.status != http.StatusCreated {
		t.Errorf("after the faults: %d %s", r.status, r.body)
	}
}

func TestFaultPerEndpoint(t *testing.T) {
	s := NewServer(t, Options{})
	o := createOrder(t, s, "k", body())
	s.Inject(EndpointGet, Fault{Status: 502})
	wantError(t, call{method: "GET", path: "/v1/orders/" + o.ID}.must(t, s), 502, "bad_gateway")
	get(t, s, o.ID)
	s.Inject(EndpointCancel, Fault{Status: 500})
	wantError(t, call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "c"}.must(t, s), 500, "internal_error")
	if snap, _ := s.Order(o.ID); snap.Status != "created" {
		t.Errorf("a failed cancel changed the order to %s", snap.Status)
	}
}

// TestFaultMatch: a fault with Match is taken only by the requests it
// matches; the others pass it by and take the next fault in the queue.
func TestFaultMatch(t *testing.T) {
	s := NewServer(t, Options{})
	fromA := func(r *http.Request) bool { return r.Header.Get("X-Idempotency-Key") == "a" }
	s.Inject(EndpointCreate, Fault{Count: 2, Status: http.StatusServiceUnavailable, Match: fromA})
	s.Inject(EndpointCreate, Fault{Status: http.StatusTooManyRequests})
	wantError(t, createCall("b", t).must(t, s), 429, "too_many_requests")
	if r := createCall("b", t).must(t, s); r.status != http.StatusCreated {
		t.Fatalf("second create of b: status %d, want 201: %s", r.status, r.body)
	}
	wantError(t, createCall("a", t).must(t, s), 503, "service_unavailable")
	wantError(t, createCall("a", t).must(t, s), 503, "service_unavailable")
	if r := createCall("a", t).must(t, s); r.status != http.StatusCreated {
		t.Fatalf("third create of a: status %d, want 201: %s", r.status, r.body)
	}
}

// TestClearFaultsExcept: the faults keep returns true for stay, the
// others go.
func TestClearFaultsExcept(t *testing.T) {
	s := NewServer(t, Options{})
	s.Inject(EndpointCreate, Fault{Status: http.StatusTooManyRequests})
	s.Inject(EndpointCreate, Fault{Status: http.StatusServiceUnavailable})
	s.Inject(EndpointGet, Fault{Status: http.StatusBadGateway})
	s.ClearFaultsExcept(func(endpoint string, f Fault) bool {
		return endpoint == EndpointCreate && f.Status == http.StatusServiceUnavailable
	})
	wantError(t, createCall("k", t).must(t, s), 503, "service_unavailable")
	o := createCall("k", t).must(t, s).order(t)
	if r := (call{method: "GET", path: "/v1/orders/" + o.ID}).must(t, s); r.status != http.StatusOK {
		t.Fatalf("get after the clear: status %d: %s", r.status, r.body)
	}
}

func TestFaultHang(t *testing.T) {
	s := NewServer(t, Options{})
	s.Inject(EndpointCreate, Fault{Hang: true})
	ctx := cancelWhen(t, s, func() bool { return len(s.Requests()) == 1 })
	_, err := createCall("k", t).do(ctx, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("hung create returned %v, want the client's context error", err)
	}
	if n := len(s.Orders()); n != 0 {
		t.Errorf("hang before commit created %d orders", n)
	}
	if st := s.Requests()[0].Status; st != 0 {
		t.Errorf("hung request recorded status %d, want 0", st)
	}
	if r := createCall("k", t).must(t, s); r.status != http.StatusCreated {
		t.Errorf("retry: %d %s", r.status, r.body)
	}
}

func TestFaultHangWithTimeout(t *testing.T) {
	s := NewServer(t, Options{})
	s.Inject(EndpointGet, Fault{Hang: true})
	client := &http.Client{Timeout: 50 * time.Millisecond}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", s.URL()+"/v1/orders/ORD00000000000000000000000000", nil)
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("hung GET answered %d", resp.StatusCode)
	}
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("err = %v, want a client timeout", err)
	}
}

func TestFaultAfterCommit(t *testing.T) {
	s := NewServer(t, Options{})
	s.Inject(EndpointCreate, Fault{AfterCommit: true, Status: 500})
	wantError(t, createCall("k", t).must(t, s), 500, "internal_error")
	orders := s.Orders()
	if len(orders) != 1 {
		t.Fatalf("%d orders after a lost answer, want 1", len(orders))
	}
	r := createCall("k", t).must(t, s)
	if r.status != http.StatusCreated || r.order(t).ID != orders[0].ID {
		t.Errorf("retry with the same key: %d %s, want 201 with %s", r.status, r.body, orders[0].ID)
	}
	if n := len(s.Orders()); n != 1 {
		t.Errorf("%d orders after the retry, want 1", n)
	}
}

func TestFaultAfterCommitHang(t *testing.T) {
	s := NewServer(t, Options{})
	o := createOrder(t, s, "k", body())
	s.Inject(EndpointCancel, Fault{AfterCommit: true, Hang: true})
	ctx := cancelWhen(t, s, func() bool { snap, _ := s.Order(o.ID); return snap.Status == "canceled" })
	_, err := call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "c"}.do(ctx, s)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel returned %v, want the client's context error", err)
	}
	r := call{method: "POST", path: "/v1/orders/" + o.ID + "/cancel", key: "c"}.must(t, s)
	if r.status != http.StatusOK {
		t.Fatalf("cancel retry: %d %s, want 200 (replay)", r.status, r.body)
	}
	wantStatus(t, r.order(t), "canceled", "canceled", "canceled", "canceled_by_api")
}

func TestFaultAfterCommitRefund(t *testing.T) {
	s := NewServer(t, Options{})
	o := createOrder(t, s, "k", body())
	if err := s.Pay(o.ID); err != nil {
		t.Fatal(err)
	}
	s.Inject(EndpointRefund, Fault{AfterCommit: true})
	wantError(t, call{method: "POST", path: "/v1/orders/" + o.ID + "/refund", key: "r"}.must(t, s), 500, "internal_error")
	r := call{method: "POST", path: "/v1/orders/" + o.ID + "/refund", key: "r"}.must(t, s)
	if r.status != http.StatusCreated {
		t.Fatalf("refund retry: %d %s", r.status, r.body)
	}
	if got := r.order(t); got.Status != "refunded" || len(got.Transactions.Refunds) != 1 {
		t.Errorf("after retry: %s with %d refunds, want refunded once", got.Status, len(got.Transactions.Refunds))
	}
}

func TestFaultDelay(t *testing.T) {
	s := NewServer(t, Options{})
	s.Inject(EndpointCreate, Fault{Delay: time.Millisecond})
	if r := createCall("k", t).must(t, s); r.status != http.StatusCreated {
		t.Errorf("delayed create: %d %s", r.status, r.body)
	}

	// A client giving up during a long delay changes nothing.
	s.Inject(EndpointCreate, Fault{Delay: time.Hour})
	ctx := cancelWhen(t, s, func() bool { return len(s.Requests()) == 2 })
	if _, err := createCall("k2", t).do(ctx, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("delayed create returned %v, want the client's context error", err)
	}
	if n := len(s.Orders()); n != 1 {
		t.Errorf("%d orders, want only the first", n)
	}

	// With AfterCommit the change is made before the delay.
	s.Inject(EndpointCreate, Fault{Delay: time.Hour, AfterCommit: true})
	ctx = cancelWhen(t, s, func() bool { return len(s.Orders()) == 2 })
	if _, err := createCall("k3", t).do(ctx, s); !errors.Is(err, context.Canceled) {
		t.Fatalf("delayed create returned %v, want the client's context error", err)
	}
}

func TestFaultCorruptCRC(t *testing.T) {
	s := NewServer(t, Options{})
	s.Inject(EndpointCreate, Fault{CorruptCRC: true})
	r := createCall("k", t).must(t, s)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	qr := r.order(t).TypeResponse.QRData
	if err := emvco.Check(qr); err == nil || !strings.Contains(err.Error(), "CRC mismatch") {
		t.Errorf("corrupt qr_data %q: Check = %v, want a CRC mismatch", qr, err)
	}
	if err := emvco.Check(createOrder(t, s, "k2", body()).TypeResponse.QRData); err != nil {
		t.Errorf("next qr_data: %v", err)
	}
}

func TestLatency(t *testing.T) {
	var calls atomic.Int32
	s := NewServer(t, Options{Latency: func() time.Duration { calls.Add(1); return time.Millisecond }})
	createOrder(t, s, "k", body())
	call{method: "GET", path: "/v1/orders/ORD00000000000000000000000000"}.must(t, s)
	if n := calls.Load(); n != 2 {
		t.Errorf("Latency called %d times, want once per request (2)", n)
	}
}

func TestInjectUnknownEndpoint(t *testing.T) {
	s := New(Options{})
	defer func() {
		if recover() == nil {
			t.Error("Inject(\"crate\") did not panic")
		}
	}()
	s.Inject("crate", Fault{})
}

func TestCloseReleasesHang(t *testing.T) {
	s := New(Options{})
	url, stop := s.Start()
	if s.URL() != url {
		t.Errorf("URL() = %q, want %q", s.URL(), url)
	}
	s.Inject(EndpointCreate, Fault{Hang: true})
	errc := make(chan error, 1)
	go func() {
		_, err := createCall("k", t).do(t.Context(), s)
		errc <- err
	}()
	waitFor(t, s, "the request", func() bool { return len(s.Requests()) == 1 })
	stop()
	if err := <-errc; err == nil {
		t.Error("hung request got an answer after Close; want the connection dropped")
	}
}
