// Package qrordertest provides an in-process simulator of the Mercado Pago
// Orders API for QR orders, in the spirit of net/http/httptest: a strict
// fake of the documented wire format that every test of posagent, and the
// `posagent demo` and `posagent simulate` commands, can talk to over real
// HTTP.
//
// It does not import internal/qrorder on purpose: the client and this
// simulator are written independently from the same documentation, so a
// misreading in one shows up as a failure against the other. Requests are
// checked as raw JSON, never through the client's types.
//
// # Driving it
//
// A test creates a Simulator with NewServer (or New plus Start, or serves
// it on any listener: it is an http.Handler), points the client at URL(),
// and plays the customer's and Mercado Pago's part with Pay, Expire and
// CancelAtMP. Requests() shows every request received, headers and body
// included; Order, Orders and OrdersByExternalReference show the state;
// Inject makes the next requests to an endpoint fail, hang, slow down or
// lose their answer after the change is made; Wait blocks until a condition
// holds, woken by every state change instead of polling.
//
// # What it implements
//
// Documented behaviour (from the Orders API documentation):
//
//   - Authorization: Bearer <token> (Options.Token, else DefaultToken);
//     anything else is 401 unauthorized. Errors use the envelope
//     {"errors":[{"code","message","details"}]} as application/json.
//   - POST /v1/orders: X-Idempotency-Key required (400
//     empty_required_header), at most 128 characters (400
//     invalid_idempotency_key_length); body JSON (400 json_syntax_error);
//     unknown properties anywhere, notification_url included, 400
//     unsupported_properties with the JSON paths ("$.foo") in details; wrong
//     JSON types 400 property_type; missing type, total_amount,
//     external_reference, config.qr.external_pos_id or
//     transactions.payments[].amount 400 required_properties ("missing
//     properties: '$.transactions'"); bad values 400 property_value. Amounts
//     are strings with two decimals or none, positive; exactly one payment,
//     whose amount equals total_amount; external_reference at most 64 of
//     [A-Za-z0-9_-]; description at most 150 characters; at most 10 items
//     (title 150, unit_measure 10, external_code 30, quantity >= 1, at most
//     10 external_categories); discounts.payment_methods at most 4, typed
//     debit_card, credit_card, account_money or prepaid_card, and not
//     together with external_categories; expiration_time an ISO 8601
//     duration from PT30S to PT3600H; mode static (default), dynamic or
//     hybrid. An unknown external_pos_id (when Options.POS is set) is 404
//     pos_not_found; a country outside AR, BR, CL, UY, MX, PE, CO is 400
//     unsupported_site. Success is 201 with the whole order; dynamic and
//     hybrid orders carry type_response.qr_data, an EMVCo payload built
//     with internal/emvco whose CRC checks.
//   - Expiry: dynamic and hybrid honour expiration_time (default PT15M);
//     static defaults to and is capped at PT10M, and the response shows the
//     cap. Orders expire by themselves: every access compares Options.Now
//     with created + expiration and moves a created order to
//     expired/expired.
//   - GET /v1/orders/{id}: 200 with the order, 404 order_not_found; an id
//     that is not ORD + 26 letters or digits is 400 invalid_path_param.
//   - POST /v1/orders/{id}/cancel (idempotency key required): only while
//     created; 200 with the order canceled/canceled and its payment
//     canceled/canceled_by_api. Otherwise 409 order_already_canceled, the
//     code the QR cancel reference gives for "a conflict ... due to its
//     current status", even when the order was paid rather than canceled.
//   - POST /v1/orders/{id}/refund (idempotency key required): only while
//     processed. No body (or {}) refunds what is left;
//     {"transactions":[{"id":"PAY...","amount":"5.00"}]} refunds part.
//     Refunds appear in transactions.refunds[] as {id "REF...",
//     transaction_id, amount, status "processed"}. 400 refund_amount_exceeds
//     when the amounts pass what is left, 404 transaction_not_found for an
//     id that is not the order's payment.
//   - Idempotency: the same key with the same body (compared after
//     canonical JSON re-encoding) within 24 hours answers the first
//     request's status code with the order as it is now (the docs say a
//     reused key returns "the information corresponding to that created
//     resource"); a different body is 409 idempotency_key_already_used.
//     Cancel and refund keys are scoped to their endpoint and order. Only
//     successful requests are remembered, so a retry after an error or a
//     lost answer behaves as the first attempt would have.
//
// Where the documentation is silent, the choices made here (guesses, to
// be corrected when the real API is seen doing otherwise):
//
//   - Amounts in responses are written with two decimals ("150" sent is
//     "150.00" answered).
//   - Refund answers 201 (a refund is a new resource); cancel answers 200
//     as documented.
//   - Refunding an order that is not processed is 409 cannot_refund_order
//     (the code is invented by analogy with cannot_cancel_order).
//   - A partial refund leaves the order processed with status_detail
//     partially_refunded, and the payment processed/partially_refunded; a
//     refund reaching the total makes both refunded/refunded.
//   - Pay makes the order processed/accredited (the value notification
//     samples show) and adds paid_amount and a payment_method object to
//     the payment, shaped after other Orders API order types, so clients
//     meet fields they must tolerate.
//   - CancelAtMP (a cancel in the Mercado Pago panel) leaves the payment
//     canceled/canceled, since canceled_by_api would be untrue.
//   - JSON null is a type error (property_type) wherever a value is
//     expected; duplicate object keys are not detected (the last wins).
//   - A request body must be sent as Content-Type application/json (400
//     bad_request otherwise), as the contract requires of the client.
//   - Amounts with a leading zero ("012.00") or more than ten integer
//     digits are property_value, as internal/money refuses them.
//   - integration_data.integrator_id must start with "dev_" (the docs say
//     so) and integration_data.sponsor.id must be digits (400
//     sponsor_id_not_valid); marketplace_fee is accepted if it is an
//     amount. No cross-check of item totals or discount totals is made.
//   - Validation order: authorization, idempotency header, path, content
//     type, JSON syntax, idempotency replay, then unsupported properties,
//     types, required properties, values, POS.
//   - A hybrid order has one expiry, the dynamic one; the ten-minute cap
//     of its static side is not modelled.
//   - Injected error statuses answer with codes internal_error (500),
//     too_many_requests (429), service_unavailable (503), or the status
//     text in snake case.
//   - Options.Latency and Fault.Delay wait before the operation is carried
//     out, so a client that gives up during the wait has changed nothing;
//     Fault.AfterCommit is the knob for "done, but the answer was lost".
//   - SetAutoPay pays every order created after the call, static ones too,
//     on a real-time timer (not Options.Now).
package qrordertest
