package qrordertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault describes how the next requests to one endpoint misbehave. A Fault
// with only Count (or nothing) set answers 500.
type Fault struct {
	Count       int           // how many next requests get the fault (0 = 1)
	Status      int           // answer this status with the error envelope, e.g. 500, 429, 503
	RetryAfter  time.Duration // Retry-After header (whole seconds, rounded up) with Status
	Hang        bool          // never answer; return when the client gives up
	Delay       time.Duration // wait this long first (bounded by the request's context)
	AfterCommit bool          // carry the operation out, then misbehave: the lost answer
	CorruptCRC  bool          // create: qr_data with a wrong CRC (kept in the order)
	// Hold, when set, keeps the request waiting until it is closed (or the
	// client gives up): a test does something at a known point of a call.
	Hold <-chan struct{}
	// Match, when set, limits the fault to the requests it returns true
	// for; the others pass it by without using up its Count. A test uses
	// it to fail one client's requests whenever they arrive, e.g. an
	// outage whose last attempts reach the API after the test ended it.
	Match func(*http.Request) bool
}

// errorAnswer reports whether the fault replaces the answer with an error
// status: when Status is set, or when nothing else would make it a fault.
func (f Fault) errorAnswer() bool {
	return f.Status != 0 || !f.Hang && f.Delay == 0 && !f.CorruptCRC && f.Hold == nil
}

func (f Fault) response() response {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	res := errorResponse(status, faultCode(status), "injected fault: "+http.StatusText(status))
	if f.RetryAfter > 0 {
		secs := (f.RetryAfter + time.Second - 1) / time.Second
		res.header = http.Header{"Retry-After": {strconv.Itoa(int(secs))}}
	}
	return res
}

func faultCode(status int) string {
	switch status {
	case http.StatusInternalServerError:
		return "internal_error"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusServiceUnavailable:
		return "service_unavailable"
	}
	text := http.StatusText(status)
	if text == "" {
		return strconv.Itoa(status)
	}
	return strings.ReplaceAll(strings.ToLower(text), " ", "_")
}

// Inject queues f for the next requests to endpoint: EndpointCreate,
// EndpointGet, EndpointCancel or EndpointRefund. Faults queue in order; each
// lasts for its Count requests. An unknown endpoint name is a mistake in
// the calling test and panics, so it cannot pass silently.
func (s *Simulator) Inject(endpoint string, f Fault) {
	switch endpoint {
	case EndpointCreate, EndpointGet, EndpointCancel, EndpointRefund:
	default:
		panic(fmt.Sprintf("qrordertest: Inject: unknown endpoint %q (want create, get, cancel or refund)", endpoint))
	}
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = append(s.faults[endpoint], f)
}

// takeFault takes the first fault queued for endpoint that matches r.
func (s *Simulator) takeFault(endpoint string, r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[endpoint]
	for i := range q {
		if q[i].Match != nil && !q[i].Match(r) {
			continue
		}
		f := q[i]
		if q[i].Count--; q[i].Count == 0 {
			s.faults[endpoint] = slices.Delete(q, i, i+1)
		}
		return f, true
	}
	return Fault{}, false
}

// response is an answer ready to be written.
type response struct {
	status int
	code   string // API error code, "" on success (for logs)
	header http.Header
	body   []byte
}

type apiError struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Details []string `json:"details"`
}

func errorResponse(status int, code, message string, details ...string) response {
	if details == nil {
		details = []string{}
	}
	body, _ := json.Marshal(struct {
		Errors []apiError `json:"errors"`
	}{[]apiError{{Code: code, Message: message, Details: details}}})
	return response{status: status, code: code, body: body}
}

func (r response) write(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	w.Write(r.body)
}

// ClearFaults drops every pending fault of every endpoint: the API
// "comes back".
func (s *Simulator) ClearFaults() {
	s.ClearFaultsExcept(func(string, Fault) bool { return false })
}

// ClearFaultsExcept drops, in one step, every pending fault for which
// keep returns false.
func (s *Simulator) ClearFaultsExcept(keep func(endpoint string, f Fault) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for endpoint, q := range s.faults {
		s.faults[endpoint] = slices.DeleteFunc(q, func(f Fault) bool { return !keep(endpoint, f) })
	}
}
