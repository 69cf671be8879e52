package qrorder

import (
	"github.com/google/uuid"
)

// keyNamespace is the UUID namespace of every idempotency key posagent has
// ever sent. It never changes: an upgrade in the middle of a sale must send
// the key the old version sent, or the API would create a second order.
const keyNamespace = "6f1c3e0a-8a52-4b8e-9d3c-2b7e4f1a9c55"

// Operation is what a write does, part of its idempotency key.
type Operation string

// The write operations.
const (
	OpCreate Operation = "create"
	OpCancel Operation = "cancel"
	OpRefund Operation = "refund"
)

func nameKey(parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return uuid.NewSHA1(uuid.MustParse(keyNamespace), b).String()
}

// SaleKey is the idempotency key of a create or cancel for a register sale:
// SHA-1 name UUID of "external_pos_id NUL sale_id NUL operation".
func SaleKey(posID, saleID string, op Operation) string {
	return nameKey(posID, saleID, string(op))
}

// SaleRefundKey is the idempotency key of one refund of a register sale:
// "external_pos_id NUL sale_id NUL refund NUL refund_id".
func SaleRefundKey(posID, saleID, refundID string) string {
	return nameKey(posID, saleID, string(OpRefund), refundID)
}

// OrderKey is the idempotency key of a cancel on an order id, as `posagent
// order cancel` sends it: "order_id NUL operation".
func OrderKey(orderID string, op Operation) string {
	return nameKey(orderID, string(op))
}

// OrderRefundKey is the key of `posagent order refund`: "order_id NUL
// refund NUL refund_id".
func OrderRefundKey(orderID, refundID string) string {
	return nameKey(orderID, string(OpRefund), refundID)
}
