package qrordertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/posagent/posagent/internal/isoduration"
	"github.com/posagent/posagent/internal/money"
)

// kind is the JSON type a schema node wants.
type kind int

const (
	kindObject kind = iota
	kindArray
	kindString
	kindInteger
)

func (k kind) String() string {
	return [...]string{"object", "array", "string", "integer"}[k]
}

// node is a schema: the properties an object may have (any other is
// unsupported) and the type of every value. Which properties are required
// and what values are allowed is checked in code, where the error can say
// why.
type node struct {
	kind  kind
	props map[string]*node
	elem  *node
}

func object(props map[string]*node) *node { return &node{kind: kindObject, props: props} }
func array(elem *node) *node              { return &node{kind: kindArray, elem: elem} }
func str() *node                          { return &node{kind: kindString} }
func integer() *node                      { return &node{kind: kindInteger} }

// createSchema is every property seed 003 documents for POST /v1/orders.
func createSchema() *node {
	return object(map[string]*node{
		"type":               str(),
		"total_amount":       str(),
		"description":        str(),
		"external_reference": str(),
		"expiration_time":    str(),
		"marketplace_fee":    str(),
		"integration_data": object(map[string]*node{
			"platform_id":   str(),
			"integrator_id": str(),
			"sponsor":       object(map[string]*node{"id": str()}),
		}),
		"config": object(map[string]*node{
			"qr": object(map[string]*node{
				"external_pos_id": str(),
				"mode":            str(),
			}),
		}),
		"transactions": object(map[string]*node{
			"payments": array(object(map[string]*node{"amount": str()})),
		}),
		"items": array(object(map[string]*node{
			"title":               str(),
			"unit_price":          str(),
			"quantity":            integer(),
			"unit_measure":        str(),
			"external_code":       str(),
			"external_categories": array(object(map[string]*node{"id": str()})),
		})),
		"discounts": object(map[string]*node{
			"payment_methods": array(object(map[string]*node{
				"new_total_amount": str(),
				"type":             str(),
			})),
		}),
	})
}

// refundSchema is the body of a partial refund.
func refundSchema() *node {
	return object(map[string]*node{
		"transactions": array(object(map[string]*node{
			"id":     str(),
			"amount": str(),
		})),
	})
}

// problems collects what is wrong with a body, by error class, each entry
// naming its JSON path.
type problems struct {
	unsupported, types, missing, values []string
}

// walk records unsupported properties and type mismatches under path.
func (p *problems) walk(v any, n *node, path string) {
	switch n.kind {
	case kindObject:
		m, ok := v.(map[string]any)
		if !ok {
			p.typeErr(path, n.kind, v)
			return
		}
		for _, k := range sortedKeys(m) {
			child, known := n.props[k]
			if !known {
				p.unsupported = append(p.unsupported, path+"."+k)
				continue
			}
			p.walk(m[k], child, path+"."+k)
		}
	case kindArray:
		a, ok := v.([]any)
		if !ok {
			p.typeErr(path, n.kind, v)
			return
		}
		for i, e := range a {
			p.walk(e, n.elem, fmt.Sprintf("%s[%d]", path, i))
		}
	case kindString:
		if _, ok := v.(string); !ok {
			p.typeErr(path, n.kind, v)
		}
	case kindInteger:
		num, ok := v.(json.Number)
		if !ok || strings.ContainsAny(string(num), ".eE") {
			p.typeErr(path, n.kind, v)
		}
	}
}

func (p *problems) typeErr(path string, want kind, got any) {
	p.types = append(p.types, fmt.Sprintf("%s: want %s, got %s", path, want, jsonType(got)))
}

func (p *problems) value(path, format string, args ...any) {
	p.values = append(p.values, path+": "+fmt.Sprintf(format, args...))
}

// structural is the first error of the classes that stop value checks.
func (p *problems) structural() *response {
	switch {
	case len(p.unsupported) > 0:
		return p.answer("unsupported_properties", "unsupported properties: ", p.unsupported)
	case len(p.types) > 0:
		return p.answer("property_type", "invalid property types: ", p.types)
	case len(p.missing) > 0:
		return p.answer("required_properties", "missing properties: ", p.missing)
	}
	return nil
}

func (p *problems) err() *response {
	if r := p.structural(); r != nil {
		return r
	}
	if len(p.values) > 0 {
		return p.answer("property_value", "invalid property values: ", p.values)
	}
	return nil
}

func (p *problems) answer(code, prefix string, details []string) *response {
	quoted := make([]string, len(details))
	for i, d := range details {
		path, _, _ := strings.Cut(d, ":")
		quoted[i] = "'" + path + "'"
	}
	r := errorResponse(http.StatusBadRequest, code, prefix+strings.Join(quoted, ", "), details...)
	return &r
}

// createRequest is a validated create body.
type createRequest struct {
	externalReference string
	description       string
	total             money.Cents
	expiration        time.Duration
	expirationText    string
	marketplaceFee    string
	pos, mode         string
	integration       map[string]any
	items, discounts  any
}

// validateCreate checks a create body against the documented rules.
func validateCreate(schema *node, m map[string]any) (createRequest, *response) {
	var p problems
	p.walk(m, schema, "$")
	if r := p.structural(); r != nil {
		return createRequest{}, r
	}
	payments, _ := lookup(m, "transactions.payments").([]any)
	methods, _ := lookup(m, "discounts.payment_methods").([]any)
	p.requireCreate(m, payments, methods)
	if r := p.structural(); r != nil {
		return createRequest{}, r
	}

	var req createRequest
	p.orderFields(m, &req)
	p.payments(payments, req.total)
	req.integration, _ = m["integration_data"].(map[string]any)
	if id, ok := lookup(m, "integration_data.integrator_id").(string); ok && !strings.HasPrefix(id, "dev_") {
		p.value("$.integration_data.integrator_id", "must start with \"dev_\", got %q", id)
	}
	req.items = m["items"]
	categories := p.items(m)
	req.discounts = m["discounts"]
	p.discounts(m, methods)
	if categories && m["discounts"] != nil {
		p.value("$.discounts", "cannot be sent together with items[].external_categories")
	}
	if r := p.err(); r != nil {
		return createRequest{}, r
	}
	if id, ok := lookup(m, "integration_data.sponsor.id").(string); ok && (id == "" || !isDigits(id)) {
		r := errorResponse(http.StatusBadRequest, "sponsor_id_not_valid", "integration_data.sponsor.id must be a Mercado Pago USER_ID (digits)", "$.integration_data.sponsor.id: got "+fmt.Sprintf("%q", id))
		return createRequest{}, &r
	}
	return req, nil
}

// requireCreate checks the properties a create must carry.
func (p *problems) requireCreate(m map[string]any, payments, methods []any) {
	for _, path := range []string{"type", "total_amount", "external_reference", "config.qr.external_pos_id", "transactions.payments"} {
		p.require(m, path)
	}
	for i, pay := range payments {
		p.require(pay.(map[string]any), "amount", fmt.Sprintf("$.transactions.payments[%d]", i))
	}
	if _, ok := m["discounts"]; ok {
		p.require(m, "discounts.payment_methods")
	}
	for i, pm := range methods {
		p.require(pm.(map[string]any), "new_total_amount", fmt.Sprintf("$.discounts.payment_methods[%d]", i))
		p.require(pm.(map[string]any), "type", fmt.Sprintf("$.discounts.payment_methods[%d]", i))
	}
}

// orderFields checks and keeps the order's own fields.
func (p *problems) orderFields(m map[string]any, req *createRequest) {
	if t := m["type"].(string); t != "qr" {
		p.value("$.type", "must be \"qr\", got %q", t)
	}
	req.total = p.amount("$.total_amount", m["total_amount"].(string), true)
	req.externalReference = m["external_reference"].(string)
	if !validReference(req.externalReference) {
		p.value("$.external_reference", "want 1 to 64 of A-Z a-z 0-9 - _, got %q", req.externalReference)
	}
	req.description, _ = m["description"].(string)
	if n := utf8.RuneCountInString(req.description); n > 150 {
		p.value("$.description", "at most 150 characters, got %d", n)
	}
	if fee, ok := m["marketplace_fee"].(string); ok {
		p.amount("$.marketplace_fee", fee, false)
		req.marketplaceFee = fee
	}
	req.pos = lookup(m, "config.qr.external_pos_id").(string)
	if req.pos == "" {
		p.value("$.config.qr.external_pos_id", "must not be empty")
	}
	req.mode = "static"
	if mode, ok := lookup(m, "config.qr.mode").(string); ok {
		req.mode = mode
		if mode != "static" && mode != "dynamic" && mode != "hybrid" {
			p.value("$.config.qr.mode", "want static, dynamic or hybrid, got %q", mode)
		}
	}
	p.expiration(m, req)
}

// payments checks the one payment and its amount against the total.
func (p *problems) payments(payments []any, total money.Cents) {
	if len(payments) != 1 {
		p.value("$.transactions.payments", "exactly one payment, got %d", len(payments))
	}
	for i, pay := range payments {
		path := fmt.Sprintf("$.transactions.payments[%d].amount", i)
		amt := pay.(map[string]any)["amount"].(string)
		if c := p.amount(path, amt, true); c > 0 && total > 0 && c != total {
			p.value(path, "must equal total_amount %s, got %q", total, amt)
		}
	}
}

// discounts checks the payment-method discounts.
func (p *problems) discounts(m map[string]any, methods []any) {
	if len(methods) > 4 {
		p.value("$.discounts.payment_methods", "at most 4, got %d", len(methods))
	}
	if _, ok := m["discounts"]; ok && len(methods) == 0 {
		p.value("$.discounts.payment_methods", "at least one payment method")
	}
	for i, pm := range methods {
		pm := pm.(map[string]any)
		p.amount(fmt.Sprintf("$.discounts.payment_methods[%d].new_total_amount", i), pm["new_total_amount"].(string), true)
		switch t := pm["type"].(string); t {
		case "debit_card", "credit_card", "account_money", "prepaid_card":
		default:
			p.value(fmt.Sprintf("$.discounts.payment_methods[%d].type", i), "want debit_card, credit_card, account_money or prepaid_card, got %q", t)
		}
	}
}

// items checks items and reports whether any has external_categories.
func (p *problems) items(m map[string]any) (categories bool) {
	items, _ := m["items"].([]any)
	if len(items) > 10 {
		p.value("$.items", "at most 10 items, got %d", len(items))
	}
	for i, it := range items {
		it := it.(map[string]any)
		path := fmt.Sprintf("$.items[%d]", i)
		for _, lim := range []struct {
			key string
			max int
		}{{"title", 150}, {"unit_measure", 10}, {"external_code", 30}} {
			if v, ok := it[lim.key].(string); ok && utf8.RuneCountInString(v) > lim.max {
				p.value(path+"."+lim.key, "at most %d characters, got %d", lim.max, utf8.RuneCountInString(v))
			}
		}
		if price, ok := it["unit_price"].(string); ok {
			p.amount(path+".unit_price", price, true)
		}
		if q, ok := it["quantity"].(json.Number); ok {
			if n, err := q.Int64(); err != nil || n < 1 {
				p.value(path+".quantity", "must be a whole number of at least 1, got %s", q)
			}
		}
		if cats, ok := it["external_categories"].([]any); ok {
			categories = true
			if len(cats) > 10 {
				p.value(path+".external_categories", "at most 10 categories, got %d", len(cats))
			}
		}
	}
	return categories
}

// expiration checks expiration_time and applies the per-mode defaults and
// the static cap.
func (p *problems) expiration(m map[string]any, req *createRequest) {
	const staticCap = 10 * time.Minute
	req.expiration = 15 * time.Minute
	if req.mode == "static" {
		req.expiration = staticCap
	}
	text, ok := m["expiration_time"].(string)
	if !ok {
		req.expirationText = isoduration.Format(req.expiration)
		return
	}
	d, err := isoduration.Parse(text)
	switch {
	case err != nil:
		p.value("$.expiration_time", "want an ISO 8601 duration such as PT15M, got %q", text)
		return
	case d < 30*time.Second || d > 3600*time.Hour:
		p.value("$.expiration_time", "must be between PT30S and PT3600H, got %q", text)
		return
	}
	req.expiration, req.expirationText = d, text
	if req.mode == "static" && d > staticCap {
		req.expiration, req.expirationText = staticCap, isoduration.Format(staticCap)
	}
}

// amount checks a documented amount: digits with two decimals or none,
// positive (or zero when positive is false). It returns 0 when bad.
func (p *problems) amount(path, s string, positive bool) money.Cents {
	intPart, frac, dot := strings.Cut(s, ".")
	if intPart == "" || !isDigits(intPart) || dot && (len(frac) != 2 || !isDigits(frac)) {
		p.value(path, "want digits with two decimals or none, e.g. \"12.50\", got %q", s)
		return 0
	}
	c, err := money.Parse(s)
	if err != nil {
		p.value(path, "%v", err)
		return 0
	}
	if positive && c <= 0 {
		p.value(path, "must be positive, got %q", s)
		return 0
	}
	return c
}

// require records path (dotted, below base) as missing, naming the first
// absent level: no config at all is "$.config".
func (p *problems) require(m map[string]any, dotted string, base ...string) {
	path := "$"
	if len(base) > 0 {
		path = base[0]
	}
	var cur any = m
	for _, k := range strings.Split(dotted, ".") {
		path += "." + k
		obj, _ := cur.(map[string]any)
		v, ok := obj[k]
		if !ok {
			p.missing = append(p.missing, path)
			return
		}
		cur = v
	}
}

// lookup returns the value at a dotted path, or nil.
func lookup(m map[string]any, dotted string) any {
	var cur any = m
	for _, k := range strings.Split(dotted, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

// refundPart is one entry of a partial refund body.
type refundPart struct {
	id     string
	amount money.Cents
}

// validateRefund checks a refund body; no parts means a total refund.
func validateRefund(schema *node, m map[string]any) ([]refundPart, *response) {
	var p problems
	p.walk(m, schema, "$")
	if r := p.structural(); r != nil {
		return nil, r
	}
	if len(m) == 0 {
		return nil, nil
	}
	p.require(m, "transactions")
	txs, _ := m["transactions"].([]any)
	for i, tx := range txs {
		base := fmt.Sprintf("$.transactions[%d]", i)
		p.require(tx.(map[string]any), "id", base)
		p.require(tx.(map[string]any), "amount", base)
	}
	if r := p.structural(); r != nil {
		return nil, r
	}
	if len(txs) == 0 {
		p.value("$.transactions", "at least one transaction (send no body to refund the total)")
	}
	parts := make([]refundPart, 0, len(txs))
	for i, tx := range txs {
		tx := tx.(map[string]any)
		c := p.amount(fmt.Sprintf("$.transactions[%d].amount", i), tx["amount"].(string), true)
		parts = append(parts, refundPart{id: tx["id"].(string), amount: c})
	}
	if r := p.err(); r != nil {
		return nil, r
	}
	return parts, nil
}

func validReference(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
