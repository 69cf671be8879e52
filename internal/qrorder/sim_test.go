package qrorder_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/secret"
)

// The client and the simulator were written apart from the documented API;
// here they meet.

func simClient(t *testing.T, sim *qrordertest.Simulator, token string) *qrorder.Client {
	t.Helper()
	c, err := qrorder.New(qrorder.Options{BaseURL: sim.URL(), Token: secret.New(token), RequestTimeout: 2 * time.Second,
		RetryBudget: 5 * time.Second, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientAgainstSimulatorLifeCycle(t *testing.T) {
	sim := qrordertest.NewServer(t, qrordertest.Options{POS: []string{"POS1"}})
	c := simClient(t, sim, qrordertest.DefaultToken)
	ctx := context.Background()
	for _, mode := range []qrorder.Mode{qrorder.ModeStatic, qrorder.ModeDynamic, qrorder.ModeHybrid} {
		t.Run(string(mode), func(t *testing.T) {
			ref := "life-" + string(mode)
			req := qrorder.NewCreateRequest("POS1", mode, ref, 2000)
			req.ExpirationTime = "PT20M"
			req.Items = []qrorder.Item{{Title: "Café", UnitPrice: 1000, Quantity: 2}}
			key := qrorder.SaleKey("POS1", ref, qrorder.OpCreate)
			o, err := c.Create(ctx, key, req)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != qrorder.StatusCreated || o.PaymentID() == "" || o.TotalAmount != "20.00" {
				t.Fatalf("%+v", o)
			}
			if mode.HasQRData() {
				if err := emvco.Check(o.QRData()); err != nil {
					t.Fatal(err)
				}
			} else if o.QRData() != "" || o.ExpirationTime != "PT10M" {
				t.Fatalf("static order: qr %q expiration %q", o.QRData(), o.ExpirationTime)
			}
			again, err := c.Create(ctx, key, req)
			if err != nil || again.ID != o.ID {
				t.Fatalf("same key gave %v, %v", again, err)
			}
			if err := sim.Pay(o.ID); err != nil {
				t.Fatal(err)
			}
			got, err := c.Get(ctx, o.ID)
			if err != nil || !got.Status.Paid() || got.StatusDetail != "accredited" {
				t.Fatalf("%+v %v", got, err)
			}
			_, err = c.Cancel(ctx, qrorder.SaleKey("POS1", ref, qrorder.OpCancel), o.ID)
			if e, ok := qrorder.AsAPIError(err); !ok || !e.Conflict() {
				t.Fatalf("cancel of a paid order: %v", err)
			}
			part, err := c.Refund(ctx, qrorder.SaleRefundKey("POS1", ref, "r1"), o.ID,
				&qrorder.RefundRequest{Transactions: []qrorder.RefundTransaction{{ID: o.PaymentID(), Amount: 500}}})
			if err != nil || part.RefundedCents() != 500 {
				t.Fatalf("partial refund %+v %v", part, err)
			}
			full, err := c.Refund(ctx, qrorder.SaleRefundKey("POS1", ref, "total"), o.ID, nil)
			if err != nil || full.Status != qrorder.StatusRefunded || full.RefundedCents() != 2000 {
				t.Fatalf("total refund %+v %v", full, err)
			}
		})
	}
}

func TestClientAgainstSimulatorErrors(t *testing.T) {
	sim := qrordertest.NewServer(t, qrordertest.Options{POS: []string{"POS1"}})
	ctx := context.Background()
	c := simClient(t, sim, qrordertest.DefaultToken)
	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"wrong token", func() error {
			_, err := simClient(t, sim, "APP_USR-wrong").Get(ctx, "ORD01")
			return err
		}, 401, "unauthorized"},
		{"unknown POS", func() error {
			_, err := c.Create(ctx, "k-pos", qrorder.NewCreateRequest("POS9", qrorder.ModeDynamic, "x1", 100))
			return err
		}, 404, "pos_not_found"},
		{"unknown order", func() error {
			_, err := c.Get(ctx, "ORD00000000000000000000000000")
			return err
		}, 404, "order_not_found"},
		{"key reused with another body", func() error {
			if _, err := c.Create(ctx, "k-reuse", qrorder.NewCreateRequest("POS1", qrorder.ModeDynamic, "x2", 100)); err != nil {
				return err
			}
			_, err := c.Create(ctx, "k-reuse", qrorder.NewCreateRequest("POS1", qrorder.ModeDynamic, "x2", 200))
			return err
		}, 409, "idempotency_key_already_used"},
		{"refund of an unpaid order", func() error {
			o, err := c.Create(ctx, "k-unpaid", qrorder.NewCreateRequest("POS1", qrorder.ModeDynamic, "x3", 100))
			if err != nil {
				return err
			}
			_, err = c.Refund(ctx, "k-unpaid-refund", o.ID, nil)
			return err
		}, 409, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			e, ok := qrorder.AsAPIError(err)
			if !ok || e.Status != tc.status || (tc.code != "" && e.Code != tc.code) || e.Retryable() {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestClientAgainstSimulatorFaults(t *testing.T) {
	sim := qrordertest.NewServer(t, qrordertest.Options{})
	c := simClient(t, sim, qrordertest.DefaultToken)
	ctx := context.Background()
	sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 2, Status: 500})
	sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1, Status: 429, RetryAfter: time.Second})
	sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 1, Status: 503, AfterCommit: true})
	o, err := c.Create(ctx, "k-faults", qrorder.NewCreateRequest("POS1", qrorder.ModeDynamic, "f1", 100))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sim.OrdersByExternalReference("f1")); n != 1 {
		t.Fatalf("%d orders after faults", n)
	}
	if got, _ := sim.Order(o.ID); got.IdempotencyKey != "k-faults" {
		t.Fatalf("%+v", got)
	}
	sim.Inject(qrordertest.EndpointGet, qrordertest.Fault{Count: 100, Hang: true})
	short, _ := qrorder.New(qrorder.Options{BaseURL: sim.URL(), Token: secret.New(qrordertest.DefaultToken),
		RequestTimeout: 50 * time.Millisecond, RetryBudget: 300 * time.Millisecond, BackoffBase: time.Millisecond})
	if _, err := short.Get(ctx, o.ID); !errors.Is(err, qrorder.ErrUnavailable) {
		t.Fatalf("hanging API: %v", err)
	}
}
