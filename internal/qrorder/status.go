package qrorder

// Status is an order status as the API reports it.
type Status string

// Order statuses. QR orders go created -> processed | expired | canceled,
// and processed -> refunded; the others appear on other order types and are
// known only so that they are logged by name.
const (
	StatusCreated        Status = "created"
	StatusProcessed      Status = "processed"
	StatusExpired        Status = "expired"
	StatusCanceled       Status = "canceled"
	StatusRefunded       Status = "refunded"
	StatusActionRequired Status = "action_required"
	StatusFailed         Status = "failed"
	StatusAtTerminal     Status = "at_terminal"
)

// Known reports whether s is a status the API documents.
func (s Status) Known() bool {
	switch s {
	case StatusCreated, StatusProcessed, StatusExpired, StatusCanceled, StatusRefunded,
		StatusActionRequired, StatusFailed, StatusAtTerminal:
		return true
	}
	return false
}

// Paid reports whether the customer's money was taken: processed, or
// refunded afterwards. An unknown status is never paid.
func (s Status) Paid() bool { return s == StatusProcessed || s == StatusRefunded }

// Open reports whether the customer can still pay.
func (s Status) Open() bool { return s == StatusCreated }

// Final reports whether the payment wait is over: paid, expired or
// canceled, or refunded after it was paid. It is the one definition of a
// final order status. failed is not final here: it is documented for other
// order types, a QR order never reports it, and the agent has no outcome to
// tell for it, so an order in it is asked about again, like action_required.
// Statuses the agent does not know are not final either: it keeps asking
// rather than guess.
func (s Status) Final() bool {
	switch s {
	case StatusProcessed, StatusExpired, StatusCanceled, StatusRefunded:
		return true
	}
	return false
}
