package qrorder

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/secret"
)

const testToken = "APP_USR-0000-test-token-do-not-print"

type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

// server answers with the handlers in order (the last one repeats) and
// records every request.
type server struct {
	mu       sync.Mutex
	reqs     []recorded
	handlers []http.HandlerFunc
	srv      *httptest.Server
}

func newServer(t *testing.T, hs ...http.HandlerFunc) *server {
	s := &server{handlers: hs}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone(), body})
		h := s.handlers[min(n, len(s.handlers)-1)]
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) requests() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.reqs...)
}

func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

const orderJSON = `{"id":"ORD01JABCDEFGHJKMNPQRSTVWXYZ","user_id":5238400195,"type":"qr","status":"created","status_detail":"created",
"total_amount":"150.00","some_new_field":{"x":1},"transactions":{"payments":[{"id":"PAY01J67CQQH5904WDBVZEM4JMEP3","amount":"150.00","status":"created","status_detail":"ready_to_process"}]},
"type_response":{"qr_data":"000201010212"}}`

type counter struct {
	mu       sync.Mutex
	retries  int
	requests []string
}

func (c *counter) ObserveRequest(endpoint, code string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, endpoint+":"+code)
}
func (c *counter) ObserveRetry(string) { c.mu.Lock(); c.retries++; c.mu.Unlock() }

func newClient(t *testing.T, url string, mod ...func(*Options)) *Client {
	o := Options{BaseURL: url, Token: secret.New(testToken), RequestTimeout: 2 * time.Second,
		RetryBudget: 10 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	for _, m := range mod {
		m(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateSendsDocumentedRequest(t *testing.T) {
	s := newServer(t, reply(201, orderJSON))
	c := newClient(t, s.srv.URL)
	req := validRequest()
	key := SaleKey("STORE001POS001", "000123", OpCreate)
	o, err := c.Create(context.Background(), key, req)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != "ORD01JABCDEFGHJKMNPQRSTVWXYZ" || o.UserID != "5238400195" || o.Status != StatusCreated ||
		o.QRData() != "000201010212" || o.PaymentID() != "PAY01J67CQQH5904WDBVZEM4JMEP3" {
		t.Fatalf("decoded order wrong: %+v", o)
	}
	rs := s.requests()
	if len(rs) != 1 {
		t.Fatalf("%d requests", len(rs))
	}
	r := rs[0]
	if r.method != "POST" || r.path != "/v1/orders" {
		t.Fatalf("%s %s", r.method, r.path)
	}
	for h, want := range map[string]string{"Authorization": "Bearer " + testToken, "X-Idempotency-Key": key, "Content-Type": "application/json"} {
		if got := r.header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	want := `{"config":{"qr":{"external_pos_id":"STORE001POS001","mode":"dynamic"}},"description":"Ticket 000123","expiration_time":"PT10M","external_reference":"000123","items":[{"external_code":"7791234567890","quantity":2,"title":"Café","unit_measure":"unit","unit_price":"75.00"}],"total_amount":"150.00","transactions":{"payments":[{"amount":"150.00"}]},"type":"qr"}`
	got, _ := json.Marshal(body)
	if string(got) != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
}

func TestInvalidRequestNeverSent(t *testing.T) {
	s := newServer(t, reply(201, orderJSON))
	c := newClient(t, s.srv.URL)
	req := validRequest()
	req.Description = strings.Repeat("x", 151)
	_, err := c.Create(context.Background(), "k", req)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "description" {
		t.Fatalf("err = %v", err)
	}
	if _, err := c.Get(context.Background(), "../x"); err == nil {
		t.Fatal("bad order id accepted")
	}
	if _, err := c.Refund(context.Background(), "k", "ORD1", &RefundRequest{Transactions: []RefundTransaction{{ID: "PAY1"}}}); err == nil {
		t.Fatal("zero refund accepted")
	}
	if n := len(s.requests()); n != 0 {
		t.Fatalf("%d requests sent for invalid input", n)
	}
}

func TestRetriesWithSameKey(t *testing.T) {
	for _, status := range []int{500, 502, 503, 429} {
		s := newServer(t, reply(status, `{"errors":[{"code":"internal_error","message":"boom"}]}`), reply(status, `oops`), reply(201, orderJSON))
		obs := &counter{}
		c := newClient(t, s.srv.URL, func(o *Options) { o.Observer = obs })
		key := SaleKey("P1", "S1", OpCreate)
		if _, err := c.Create(context.Background(), key, validRequest()); err != nil {
			t.Fatalf("%d: %v", status, err)
		}
		rs := s.requests()
		if len(rs) != 3 {
			t.Fatalf("%d: %d requests, want 3", status, len(rs))
		}
		for _, r := range rs {
			if r.header.Get("X-Idempotency-Key") != key || string(r.body) != string(rs[0].body) {
				t.Fatalf("%d: a retry changed the key or the body", status)
			}
		}
		if obs.retries != 2 || len(obs.requests) != 3 {
			t.Fatalf("observer: %+v", obs)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		reply(429, `{"errors":[{"code":"too_many_requests"}]}`)(w, r)
	}, reply(200, orderJSON))
	c := newClient(t, s.srv.URL)
	start := time.Now()
	if _, err := c.Get(context.Background(), "ORD1"); err != nil {
		t.Fatal(err)
	}
	// The lower bound is what Retry-After promises; it holds however slow
	// the machine is.
	if d := time.Since(start); d < time.Second {
		t.Fatalf("retried after %v, before Retry-After", d)
	}
}

func TestFinalErrors(t *testing.T) {
	cases := []struct {
		status int
		body   string
		code   string
	}{
		{400, `{"errors":[{"code":"property_value","message":"invalid total_amount","details":["total_amount must be positive",{"field":"x"}]}]}`, "property_value"},
		{401, `{"errors":[{"code":"unauthorized","message":"invalid token"}]}`, "unauthorized"},
		{404, `{"errors":[{"code":"pos_not_found","message":"pos not found"}]}`, "pos_not_found"},
		{409, `{"errors":[{"code":"idempotency_key_already_used","message":"x"}]}`, "idempotency_key_already_used"},
		{400, `{"error":"bad_request","message":"old style","status":400}`, "bad_request"},
		{403, `<html>forbidden</html>`, "http_403"},
	}
	for _, tc := range cases {
		s := newServer(t, reply(tc.status, tc.body))
		c := newClient(t, s.srv.URL)
		_, err := c.Create(context.Background(), "k1", validRequest())
		e, ok := AsAPIError(err)
		if !ok || e.Status != tc.status || e.Code != tc.code || e.Retryable() {
			t.Fatalf("%d: err = %#v", tc.status, err)
		}
		if len(s.requests()) != 1 {
			t.Fatalf("%d: a final error was retried", tc.status)
		}
		if strings.Contains(err.Error(), testToken) {
			t.Fatal("token in error")
		}
		if tc.status == 401 && !e.Unauthorized() || tc.status == 409 && !e.Conflict() || tc.status == 404 && !e.NotFound() {
			t.Fatalf("%d: classification wrong", tc.status)
		}
	}
}

func TestRetryBudgetRunsOut(t *testing.T) {
	s := newServer(t, reply(503, `{"errors":[{"code":"unavailable"}]}`))
	c := newClient(t, s.srv.URL, func(o *Options) { o.RetryBudget = 100 * time.Millisecond })
	_, err := c.Cancel(context.Background(), "k", "ORD1")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if e, ok := AsAPIError(err); !ok || e.Status != 503 {
		t.Fatalf("last API error not kept: %v", err)
	}
	if len(s.requests()) < 2 {
		t.Fatal("no retry before giving up")
	}
}

func TestTimeoutAndCancellation(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	s := newServer(t, hang)
	c := newClient(t, s.srv.URL, func(o *Options) {
		o.RequestTimeout = 50 * time.Millisecond
		o.RetryBudget = 300 * time.Millisecond
	})
	_, err := c.Get(context.Background(), "ORD1")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeouts: err = %v", err)
	}
	if len(s.requests()) < 2 {
		t.Fatal("a timed out attempt was not retried")
	}

	c = newClient(t, s.srv.URL, func(o *Options) { o.RequestTimeout = time.Minute; o.RetryBudget = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "ORD1"); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("cancel: err = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return after its context was canceled")
	}
}

func TestRefundBodies(t *testing.T) {
	s := newServer(t, reply(200, orderJSON))
	c := newClient(t, s.srv.URL)
	if _, err := c.Refund(context.Background(), "k1", "ORD1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refund(context.Background(), "k2", "ORD1", &RefundRequest{Transactions: []RefundTransaction{{ID: "PAY1", Amount: 500}}}); err != nil {
		t.Fatal(err)
	}
	rs := s.requests()
	if rs[0].path != "/v1/orders/ORD1/refund" || len(rs[0].body) != 0 || rs[0].header.Get("Content-Type") != "" {
		t.Fatalf("total refund: %s %q %q", rs[0].path, rs[0].body, rs[0].header.Get("Content-Type"))
	}
	if string(rs[1].body) != `{"transactions":[{"id":"PAY1","amount":"5.00"}]}` {
		t.Fatalf("partial refund body %s", rs[1].body)
	}
}

func TestWriteNeedsKey(t *testing.T) {
	s := newServer(t, reply(200, orderJSON))
	c := newClient(t, s.srv.URL)
	if _, err := c.Cancel(context.Background(), "", "ORD1"); err == nil {
		t.Fatal("a write without idempotency key was accepted")
	}
	if _, err := New(Options{BaseURL: "ftp://x"}); err == nil {
		t.Fatal("bad base URL accepted")
	}
	if _, err := New(Options{BaseURL: s.srv.URL}); err == nil {
		t.Fatal("missing token accepted")
	}
}

func BenchmarkCreateRequestJSON(b *testing.B) {
	b.ReportAllocs()
	r := validRequest()
	for b.Loop() {
		if err := r.Validate(); err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNewHidesBaseURLSecrets: a base URL carrying credentials or a query
// is refused without being echoed (it may hold a token).
func TestNewHidesBaseURLSecrets(t *testing.T) {
	for _, base := range []string{"https://api.example.com/?access_token=SECRET-1", "https://user:SECRET-1@api.example.com",
		"https://api.example.com/#SECRET-1", "ftp://api.example.com/?SECRET-1", "https://api.example.com/%zz?SECRET-1"} {
		_, err := New(Options{BaseURL: base, Token: secret.New("TEST-x")})
		if err == nil {
			t.Errorf("%s accepted", base)
			continue
		}
		if strings.Contains(err.Error(), "SECRET-1") {
			t.Errorf("error echoes the URL: %v", err)
		}
	}
}

// TestWriteAnsweredWithoutOrder: any 2xx to a cancel or refund is success,
// also one without an order in its body (204, an empty or unreadable
// body): the client then reads the order, once, instead of sending the
// write again as if its answer were lost.
func TestWriteAnsweredWithoutOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer http.HandlerFunc
	}{
		{"204", reply(http.StatusNoContent, "")},
		{"empty 200", reply(http.StatusOK, "")},
		{"200 without an id", reply(http.StatusOK, `{"status":"canceled"}`)},
	} {
		for _, write := range []string{"cancel", "refund"} {
			t.Run(tc.name+" "+write, func(t *testing.T) {
				s := newServer(t, tc.answer, reply(http.StatusOK, orderJSON))
				c := newClient(t, s.srv.URL)
				var o *Order
				var err error
				if write == "cancel" {
					o, err = c.Cancel(context.Background(), "k1", "ORD01JABCDEFGHJKMNPQRSTVWXYZ")
				} else {
					o, err = c.Refund(context.Background(), "k1", "ORD01JABCDEFGHJKMNPQRSTVWXYZ", nil)
				}
				if err != nil || o == nil || o.ID != "ORD01JABCDEFGHJKMNPQRSTVWXYZ" {
					t.Fatalf("order %+v, err %v", o, err)
				}
				reqs := s.requests()
				if len(reqs) != 2 || reqs[0].method != http.MethodPost || reqs[1].method != http.MethodGet ||
					reqs[1].path != "/v1/orders/ORD01JABCDEFGHJKMNPQRSTVWXYZ" {
					var got []string
					for _, r := range reqs {
						got = append(got, r.method+" "+r.path)
					}
					t.Errorf("requests %q, want the %s once, then a read of the order", got, write)
				}
			})
		}
	}
}
