package qrorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrUnavailable is wrapped by the error of a call whose retry budget ran
// out on retryable failures (network errors, timeouts, 429, 5xx). The write
// may or may not have happened: resend it with the same key.
var ErrUnavailable = errors.New("orders API unavailable")

// APIError is an answer of the API other than 2xx.
type APIError struct {
	Endpoint   string // create, get, cancel, refund
	Status     int    // HTTP status
	Code       string // the API's error code, e.g. "property_value"
	Message    string
	Details    []string
	RetryAfter time.Duration // from a Retry-After header, 0 if none
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "orders API %s: %d %s", e.Endpoint, e.Status, e.Code)
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Details) > 0 {
		b.WriteString(" (" + strings.Join(e.Details, "; ") + ")")
	}
	return b.String()
}

// Retryable reports whether sending the same request again may succeed:
// 429 and 5xx. Other 4xx are final.
func (e *APIError) Retryable() bool { return e.Status == http.StatusTooManyRequests || e.Status >= 500 }

// Unauthorized reports whether the API refused the access token.
func (e *APIError) Unauthorized() bool { return e.Status == http.StatusUnauthorized }

// Conflict reports a 409: an idempotency key reused with another body, or
// an order whose state no longer allows the operation.
func (e *APIError) Conflict() bool { return e.Status == http.StatusConflict }

// NotFound reports a 404 (order_not_found, pos_not_found, ...).
func (e *APIError) NotFound() bool { return e.Status == http.StatusNotFound }

// AsAPIError returns the *APIError in err's chain, if any.
func AsAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}

// maxErrorText bounds the message and details kept from an error body, so a
// misbehaving proxy's HTML page does not end up in an event.
const maxErrorText = 300

// parseAPIError reads an error answer. The Orders API sends
// {"errors":[{"code","message","details"}]}; older Mercado Pago APIs send
// {"error","message","status","cause"}; proxies send anything.
func parseAPIError(endpoint string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Endpoint: endpoint, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var env struct {
		Errors []struct {
			Code    json.RawMessage   `json:"code"`
			Message string            `json:"message"`
			Details []json.RawMessage `json:"details"`
		} `json:"errors"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &env) == nil {
		if len(env.Errors) > 0 {
			first := env.Errors[0]
			e.Code = rawText(first.Code)
			e.Message = first.Message
			for _, d := range first.Details {
				e.Details = append(e.Details, clip(rawText(d)))
			}
		} else if env.Error != "" {
			e.Code, e.Message = env.Error, env.Message
		}
	}
	if e.Code == "" {
		e.Code = "http_" + strconv.Itoa(resp.StatusCode)
	}
	e.Code, e.Message = clip(e.Code), clip(e.Message)
	return e
}

// rawText turns a JSON string or any other JSON value into text.
func rawText(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	return string(r)
}

func clip(s string) string {
	if len(s) > maxErrorText {
		return s[:maxErrorText] + "..."
	}
	return s
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
