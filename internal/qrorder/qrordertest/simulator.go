package qrordertest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// DefaultToken is the access token the simulator accepts when
// Options.Token is empty.
const DefaultToken = "TEST-posagent-simulator"

// Endpoint names for Inject.
const (
	EndpointCreate = "create"
	EndpointGet    = "get"
	EndpointCancel = "cancel"
	EndpointRefund = "refund"
)

// maxBody bounds what the simulator reads of a request body; an Orders API
// request is a few kilobytes at most.
const maxBody = 1 << 20

// Options configure a Simulator. The zero value is usable.
type Options struct {
	Token   string               // accepted bearer token; "" = DefaultToken
	POS     []string             // known external_pos_ids; empty = any POS accepted
	Country string               // "AR" by default; sets currency and qr_data tags 53/58
	Now     func() time.Time     // clock; nil = time.Now
	Latency func() time.Duration // optional delay before each request is handled
	Logger  *slog.Logger         // optional
}

// Request is one request the simulator received, as received.
type Request struct {
	Method string
	Path   string // URL path, without the query
	Query  string // raw query, without "?"
	Header http.Header
	Body   []byte
	Status int // status answered; 0 while in flight or when no answer was sent
	At     time.Time
}

// Simulator is a fake Orders API. It is an http.Handler and safe for
// concurrent use.
type Simulator struct {
	token   string
	pos     map[string]bool
	country country
	site    bool // country is supported
	now     func() time.Time
	latency func() time.Duration
	log     *slog.Logger
	schema  *node
	closed  chan struct{}

	mu        sync.Mutex
	closeOnce sync.Once
	url       string
	orders    map[string]*order
	sequence  []*order
	idem      map[string]*idemEntry
	requests  []Request
	faults    map[string][]Fault
	changed   chan struct{} // closed and replaced on every change
	autoPay   time.Duration
	timers    []*time.Timer
}

// New returns a simulator that is not listening anywhere: serve it with
// Start, NewServer or any http.Server.
func New(opts Options) *Simulator {
	s := &Simulator{
		token:   opts.Token,
		pos:     make(map[string]bool, len(opts.POS)),
		now:     opts.Now,
		latency: opts.Latency,
		log:     opts.Logger,
		schema:  createSchema(),
		closed:  make(chan struct{}),
		orders:  make(map[string]*order),
		idem:    make(map[string]*idemEntry),
		faults:  make(map[string][]Fault),
		changed: make(chan struct{}),
	}
	if s.token == "" {
		s.token = DefaultToken
	}
	for _, p := range opts.POS {
		s.pos[p] = true
	}
	code := strings.ToUpper(opts.Country)
	if code == "" {
		code = "AR"
	}
	s.country, s.site = countryFor(code)
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Start serves the simulator on a loopback port and returns its base URL
// and a function that stops it (and Close's it).
func (s *Simulator) Start() (url string, stop func()) {
	srv := httptest.NewServer(s.Handler())
	s.mu.Lock()
	s.url = srv.URL
	s.mu.Unlock()
	return srv.URL, func() {
		s.Close()
		srv.Close()
	}
}

// TB is the part of testing.TB that NewServer uses; *testing.T, *testing.B
// and *testing.F satisfy it. Taking it instead of testing.TB keeps the
// testing package out of the posagent binary, which serves the simulator
// for `posagent demo` and `posagent simulate`.
type TB interface {
	Helper()
	Cleanup(func())
}

// NewServer starts a simulator on a loopback port for a test and stops it
// when the test ends.
func NewServer(t TB, opts Options) *Simulator {
	t.Helper()
	s := New(opts)
	_, stop := s.Start()
	t.Cleanup(stop)
	return s
}

// URL returns the base URL ("http://127.0.0.1:port") once Start or
// NewServer has run, "" otherwise.
func (s *Simulator) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close releases requests held by Hang, Delay or Latency and stops
// auto-pay timers. Serving after Close still works, without waits.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.autoPay = 0
}

// Requests returns a copy of every request received, in arrival order.
func (s *Simulator) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// Wait blocks until cond returns true or ctx is done. cond is evaluated
// now and again after every state change (a request received or answered,
// an order created or changed); it may call the Simulator's methods.
func (s *Simulator) Wait(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// changedLocked wakes every Wait. s.mu must be held.
func (s *Simulator) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ServeHTTP answers one Orders API request.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	idx := s.record(r, body)
	ctx := r.Context()

	endpoint, id, ok := route(r.Method, r.URL.Path)
	var res response
	switch {
	case !ok:
		res = errorResponse(http.StatusNotFound, "not_found", "no such resource: "+r.Method+" "+r.URL.Path)
	case readErr != nil:
		res = errorResponse(http.StatusBadRequest, "bad_request", "could not read the request body")
	case len(body) > maxBody:
		res = errorResponse(http.StatusBadRequest, "bad_request", "request body larger than 1 MiB")
	default:
		fault, faulty := s.takeFault(endpoint, r)
		if s.latency != nil && !s.wait(ctx, s.latency()) {
			abort()
		}
		if faulty && !fault.AfterCommit {
			if !s.wait(ctx, fault.Delay) || !s.hold(ctx, fault.Hold) {
				abort()
			}
			if fault.Hang {
				s.hang(ctx)
			}
			if fault.errorAnswer() {
				res = fault.response()
				break
			}
		}
		res = s.handle(r, endpoint, id, body, faulty && fault.CorruptCRC)
		if faulty && fault.AfterCommit {
			if !s.wait(ctx, fault.Delay) || !s.hold(ctx, fault.Hold) {
				abort()
			}
			if fault.Hang {
				s.hang(ctx)
			}
			if fault.errorAnswer() {
				res = fault.response()
			}
		}
	}
	res.write(w)
	s.answered(idx, res.status)
	s.log.Debug("qrordertest: answered", "method", r.Method, "path", r.URL.Path, "status", res.status, "code", res.code)
}

// handle checks authorization and runs the endpoint.
func (s *Simulator) handle(r *http.Request, endpoint, id string, body []byte, corrupt bool) response {
	if !s.authorized(r.Header.Get("Authorization")) {
		return errorResponse(http.StatusUnauthorized, "unauthorized", "invalid access token")
	}
	switch endpoint {
	case EndpointCreate:
		return s.create(r, body, corrupt)
	case EndpointGet:
		return s.get(id)
	case EndpointCancel:
		return s.cancel(r, id, body)
	default:
		return s.refund(r, id, body)
	}
}

func (s *Simulator) authorized(h string) bool {
	scheme, tok, ok := strings.Cut(h, " ")
	return ok && strings.EqualFold(scheme, "Bearer") && tok == s.token
}

// route maps a request to an endpoint name and order id.
func route(method, path string) (endpoint, id string, ok bool) {
	rest, found := strings.CutPrefix(path, "/v1/orders")
	if !found || rest != "" && rest[0] != '/' {
		return "", "", false
	}
	if rest == "" || rest == "/" {
		return EndpointCreate, "", method == http.MethodPost
	}
	parts := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	switch {
	case len(parts) == 1 && method == http.MethodGet:
		return EndpointGet, parts[0], true
	case len(parts) == 2 && parts[1] == "cancel" && method == http.MethodPost:
		return EndpointCancel, parts[0], true
	case len(parts) == 2 && parts[1] == "refund" && method == http.MethodPost:
		return EndpointRefund, parts[0], true
	}
	return "", "", false
}

// record stores an arriving request and returns its index.
func (s *Simulator) record(r *http.Request, body []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method: r.Method,
		Path:   r.URL.Path,
		Query:  r.URL.RawQuery,
		Header: r.Header.Clone(),
		Body:   bytes.Clone(body),
		At:     s.now(),
	})
	s.changedLocked()
	return len(s.requests) - 1
}

func (s *Simulator) answered(idx, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[idx].Status = status
	s.changedLocked()
}

// wait sleeps d unless the request or the simulator ends first; it
// reports whether the request may go on.
func (s *Simulator) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.closed:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// hold waits until gate is closed (nil: not at all); it reports whether
// the request may go on.
func (s *Simulator) hold(ctx context.Context, gate <-chan struct{}) bool {
	if gate == nil {
		return ctx.Err() == nil
	}
	select {
	case <-gate:
		return ctx.Err() == nil
	case <-s.closed:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// hang holds the request until the client gives up (or the simulator is
// closed), then drops the connection without an answer.
func (s *Simulator) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.closed:
	}
	abort()
}

// abort ends the request without an answer; its Request.Status stays 0.
// http.ErrAbortHandler is the net/http way to drop a connection: returning
// normally would send an empty 200 that a client still waiting could take
// for success.
func abort() {
	panic(http.ErrAbortHandler)
}
