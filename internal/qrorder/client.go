package qrorder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/internal/secret"
)

// DefaultBaseURL is the production Orders API.
const DefaultBaseURL = "https://api.mercadopago.com"

// Observer is told about every HTTP attempt, for metrics. Code is the HTTP
// status as text, or "error" when no answer came.
type Observer interface {
	ObserveRequest(endpoint, code string, d time.Duration)
	ObserveRetry(endpoint string)
}

// Options configure a Client.
type Options struct {
	BaseURL        string        // default DefaultBaseURL
	Token          secret.String // the access token
	HTTPClient     *http.Client  // default: a client with no overall timeout (attempts are bounded by RequestTimeout)
	RequestTimeout time.Duration // one attempt; default 10s
	RetryBudget    time.Duration // all attempts of one call; default 2m
	BackoffBase    time.Duration // first retry delay; default 250ms
	BackoffMax     time.Duration // cap between attempts; default 10s
	Logger         *slog.Logger  // default: discard
	Observer       Observer      // optional
	UserAgent      string        // default "posagent"
}

// Client talks to the Orders API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	o    Options
}

// New returns a client for opts.BaseURL.
func New(opts Options) (*Client, error) {
	if opts.BaseURL == "" {
		opts.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(opts.BaseURL)
	// Never echoed: user information or a query may hold a token.
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("qrorder: base_url must be an absolute http(s) URL without credentials, query or fragment (not shown: it may hold a secret)")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if opts.Token.Empty() {
		return nil, errors.New("qrorder: no access token")
	}
	if opts.HTTPClient == nil {
		// One POS has at most a create or cancel plus a poll in flight;
		// keep enough idle connections that many POS do not pay a TLS
		// handshake per request (measured: BENCHMARKS.md).
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		opts.HTTPClient = &http.Client{Transport: t}
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.RetryBudget <= 0 {
		opts.RetryBudget = 2 * time.Minute
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 250 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "posagent"
	}
	return &Client{base: u, o: opts}, nil
}

// Create posts a QR order. The key must be deterministic for the sale
// (SaleKey), so a retry, a redelivery or a restart gets the same order back
// instead of a second one.
func (c *Client) Create(ctx context.Context, key string, req CreateRequest) (*Order, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	for _, n := range req.Notes() {
		c.o.Logger.Info("orders API note", "external_reference", req.ExternalReference, "note", n)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("qrorder: encode create: %w", err)
	}
	return c.do(ctx, "create", http.MethodPost, "/v1/orders", key, body)
}

// Get reads an order.
func (c *Client) Get(ctx context.Context, orderID string) (*Order, error) {
	p, err := orderPath(orderID, "")
	if err != nil {
		return nil, err
	}
	return c.do(ctx, "get", http.MethodGet, p, "", nil)
}

// Cancel cancels an order that is still created. Any 2xx is success; a 409
// means the order moved on (read it to learn how).
func (c *Client) Cancel(ctx context.Context, key, orderID string) (*Order, error) {
	p, err := orderPath(orderID, "/cancel")
	if err != nil {
		return nil, err
	}
	return c.write(ctx, "cancel", p, key, orderID, nil)
}

// Refund refunds a paid order: in full when r is nil, else the listed
// transactions.
func (c *Client) Refund(ctx context.Context, key, orderID string, r *RefundRequest) (*Order, error) {
	p, err := orderPath(orderID, "/refund")
	if err != nil {
		return nil, err
	}
	var body []byte
	if r != nil {
		for i, t := range r.Transactions {
			if t.ID == "" {
				return nil, fieldErr(CodeRequired, fmt.Sprintf("transactions[%d].id", i), "is required")
			}
			if t.Amount <= 0 {
				return nil, fieldErr(CodeValue, fmt.Sprintf("transactions[%d].amount", i), "must be positive")
			}
		}
		if body, err = json.Marshal(r); err != nil {
			return nil, fmt.Errorf("qrorder: encode refund: %w", err)
		}
	}
	return c.write(ctx, "refund", p, key, orderID, body)
}

// errNoOrder: a 2xx answer to a write whose body is not an order.
var errNoOrder = errors.New("answer without an order")

// write runs a cancel or refund. Any 2xx answer is success: one whose body
// is not an order (204, empty, unreadable) is not sent again as if it were
// lost; the order is read instead.
func (c *Client) write(ctx context.Context, endpoint, path, key, orderID string, body []byte) (*Order, error) {
	o, err := c.do(ctx, endpoint, http.MethodPost, path, key, body)
	if errors.Is(err, errNoOrder) {
		c.o.Logger.Warn("orders API answered a write without the order; reading it", "endpoint", endpoint, "err", err)
		return c.Get(ctx, orderID)
	}
	return o, err
}

func orderPath(orderID, suffix string) (string, error) {
	if !ValidReference(orderID, 64) {
		return "", fieldErr(CodeValue, "order_id", "must be 1-64 characters of A-Z a-z 0-9 - _")
	}
	return "/v1/orders/" + url.PathEscape(orderID) + suffix, nil
}

// do runs one call: attempts bounded by RequestTimeout, retried on network
// errors, 429 and 5xx with capped exponential backoff and full jitter, all
// within RetryBudget.
func (c *Client) do(ctx context.Context, endpoint, method, path, key string, body []byte) (*Order, error) {
	if method == http.MethodPost && key == "" {
		return nil, errors.New("qrorder: a write needs an idempotency key")
	}
	budgetCtx, cancel := context.WithTimeout(ctx, c.o.RetryBudget)
	defer cancel()
	var last error
	for attempt := 0; ; attempt++ {
		order, err := c.attempt(budgetCtx, endpoint, method, path, key, body)
		if err == nil {
			return order, nil
		}
		if errors.Is(err, errNoOrder) && (endpoint == "cancel" || endpoint == "refund") {
			return nil, err // done: write reads the order
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("qrorder %s: %w", endpoint, ctx.Err())
		}
		if apiErr, ok := AsAPIError(err); ok && !apiErr.Retryable() {
			return nil, apiErr
		}
		// An attempt cut short by the budget itself says less than the
		// answer before it.
		if last == nil || budgetCtx.Err() == nil {
			last = err
		}
		wait := c.backoff(attempt)
		if apiErr, ok := AsAPIError(err); ok && apiErr.RetryAfter > wait {
			wait = apiErr.RetryAfter
		}
		deadline, _ := budgetCtx.Deadline()
		if budgetCtx.Err() != nil || time.Until(deadline) < wait {
			return nil, fmt.Errorf("qrorder %s: %w after %d attempts: %w", endpoint, ErrUnavailable, attempt+1, last)
		}
		c.o.Logger.Warn("orders API attempt failed, retrying", "endpoint", endpoint, "attempt", attempt+1, "wait", wait, "err", err)
		if c.o.Observer != nil {
			c.o.Observer.ObserveRetry(endpoint)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-budgetCtx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("qrorder %s: %w", endpoint, ctx.Err())
			}
			return nil, fmt.Errorf("qrorder %s: %w after %d attempts: %w", endpoint, ErrUnavailable, attempt+1, last)
		}
	}
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.o.BackoffBase << min(attempt, 20)
	if d <= 0 || d > c.o.BackoffMax {
		d = c.o.BackoffMax
	}
	// Full jitter, but never below a tenth of the step, so a burst of
	// agents restarting together spreads out without hammering.
	return d/10 + rand.N(d-d/10+1)
}

func (c *Client) attempt(ctx context.Context, endpoint, method, path, key string, body []byte) (*Order, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return nil, fmt.Errorf("qrorder %s: %w", endpoint, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.o.Token.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.o.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("X-Idempotency-Key", key)
	}
	start := time.Now()
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		c.observe(endpoint, "error", start)
		// The URL is ours and holds no secret, but a transport error may
		// quote it with a query; keep only the operation and the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("qrorder %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	c.observe(endpoint, strconv.Itoa(resp.StatusCode), start)
	if err != nil {
		return nil, fmt.Errorf("qrorder %s: reading answer: %w", endpoint, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, parseAPIError(endpoint, resp, data)
	}
	var o Order
	if err := json.Unmarshal(data, &o); err != nil {
		// A 2xx whose body we cannot read: a create is retried with the
		// same key like a lost answer; a cancel or refund is done (write).
		return nil, fmt.Errorf("qrorder %s: undecodable %d answer: %w: %w", endpoint, resp.StatusCode, errNoOrder, err)
	}
	if o.ID == "" {
		return nil, fmt.Errorf("qrorder %s: %d %w id", endpoint, resp.StatusCode, errNoOrder)
	}
	o.Raw = data
	return &o, nil
}

func (c *Client) observe(endpoint, code string, start time.Time) {
	if c.o.Observer != nil {
		c.o.Observer.ObserveRequest(endpoint, code, time.Since(start))
	}
}
