package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// orderToken is recognisable, so a leak into any output is found.
const orderToken = "APP_USR-e2e-4f0c2a77-do-not-print"

// orderEnv is a config file pointing at a simulator that knows POS1.
type orderEnv struct {
	sim *qrordertest.Simulator
	cfg string
	all []cliResult // every command run, to check for the token
}

func newOrderEnv(t *testing.T) *orderEnv {
	t.Helper()
	dir := t.TempDir()
	sim := qrordertest.NewServer(t, qrordertest.Options{Token: orderToken, POS: []string{"POS1"}})
	tok := writeTestFile(t, dir, "mp-access-token", orderToken+"\n", 0o600)
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: S1
state_dir: %s
mercadopago: {base_url: %q, access_token_file: %s, request_timeout: 10s, retry_budget: 10s}
pos:
  - external_pos_id: POS1
    external_reference_prefix: P1-
  - external_pos_id: POS9
`, dir, sim.URL(), tok), 0o600)
	e := &orderEnv{sim: sim, cfg: cfg}
	t.Cleanup(func() { assertNoSecret(t, orderToken, e.all...) })
	return e
}

// order runs `posagent order SUB -config CFG ARGS...`.
func (e *orderEnv) order(t *testing.T, sub string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, context.Background(), append([]string{"order", sub, "-config", e.cfg}, args...)...)
	e.all = append(e.all, r)
	return r
}

// apiOrder is what these tests read of the printed order JSON.
type apiOrder struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	StatusDetail      string `json:"status_detail"`
	ExternalReference string `json:"external_reference"`
	TotalAmount       string `json:"total_amount"`
	TypeResponse      struct {
		QRData string `json:"qr_data"`
	} `json:"type_response"`
	Transactions struct {
		Payments []struct {
			ID     string `json:"id"`
			Amount string `json:"amount"`
		} `json:"payments"`
		Refunds []struct {
			ID     string `json:"id"`
			Amount string `json:"amount"`
		} `json:"refunds"`
	} `json:"transactions"`
}

// printedOrder parses stdout, which must be one JSON object.
func printedOrder(t *testing.T, r cliResult) apiOrder {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	var o apiOrder
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("stdout is not the order JSON: %v\n%s", err, r)
	}
	if dec.More() {
		t.Fatalf("stdout holds more than the order JSON\n%s", r)
	}
	return o
}

// create makes an order through the CLI and returns its id.
func (e *orderEnv) create(t *testing.T, saleID string) string {
	t.Helper()
	o := printedOrder(t, e.order(t, "create", "-pos", "POS1", "-amount", "20.00", "-sale-id", saleID))
	return o.ID
}

// requests returns the simulator's requests of method to path.
func (e *orderEnv) requests(method, path string) []qrordertest.Request {
	var out []qrordertest.Request
	for _, r := range e.sim.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func TestOrderCreate(t *testing.T) {
	e := newOrderEnv(t)
	r := e.order(t, "create", "-pos", "POS1", "-amount", "12.50")
	o := printedOrder(t, r)
	if o.ID == "" || o.Status != "created" || o.TotalAmount != "12.50" {
		t.Errorf("printed order: id %q status %q total %q, want an id, created, 12.50\n%s", o.ID, o.Status, o.TotalAmount, r)
	}
	if _, err := emvco.Parse(o.TypeResponse.QRData); err != nil {
		t.Errorf("type_response.qr_data %q: %v", o.TypeResponse.QRData, err)
	}
	m := regexp.MustCompile(`(?m)^sale id: ([A-Za-z0-9_-]{1,64})$`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("the generated sale id is not on stderr\n%s", r)
	}
	saleID := m[1]
	if r.stderr != "sale id: "+saleID+"\n" {
		t.Errorf("stderr is not a terminal: want only the sale id there\n%s", r)
	}
	if o.ExternalReference != "P1-"+saleID {
		t.Errorf("external_reference %q, want P1-%s", o.ExternalReference, saleID)
	}

	creates := e.requests(http.MethodPost, "/v1/orders")
	if len(creates) != 1 || len(e.sim.Requests()) != 1 {
		t.Fatalf("want exactly one request, POST /v1/orders; got %d requests, %d creates", len(e.sim.Requests()), len(creates))
	}
	req := creates[0]
	for h, want := range map[string]string{
		"Authorization":     "Bearer " + orderToken,
		"X-Idempotency-Key": qrorder.SaleKey("POS1", saleID, qrorder.OpCreate),
		"Content-Type":      "application/json",
	} {
		if got := req.Header.Get(h); got != want && !(h == "Content-Type" && strings.HasPrefix(got, want+";")) {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	var body struct {
		Type              string `json:"type"`
		TotalAmount       string `json:"total_amount"`
		ExternalReference string `json:"external_reference"`
		Config            struct {
			QR struct {
				ExternalPOSID string `json:"external_pos_id"`
				Mode          string `json:"mode"`
			} `json:"qr"`
		} `json:"config"`
		Transactions struct {
			Payments []struct {
				Amount string `json:"amount"`
			} `json:"payments"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatalf("body %s: %v", req.Body, err)
	}
	if body.Type != "qr" || body.TotalAmount != "12.50" || body.ExternalReference != "P1-"+saleID ||
		body.Config.QR.ExternalPOSID != "POS1" || body.Config.QR.Mode != "dynamic" ||
		len(body.Transactions.Payments) != 1 || body.Transactions.Payments[0].Amount != "12.50" {
		t.Errorf("create body %s does not carry type qr, 12.50 twice, POS1, dynamic, external_reference P1-%s", req.Body, saleID)
	}
}

func TestOrderCreateWithSaleIDAndMode(t *testing.T) {
	e := newOrderEnv(t)
	r := e.order(t, "create", "-pos", "POS1", "-amount", "7.5", "-sale-id", "T-42", "-mode", "hybrid")
	o := printedOrder(t, r)
	if o.ExternalReference != "P1-T-42" || o.TotalAmount != "7.50" {
		t.Errorf("external_reference %q total %q, want P1-T-42 7.50", o.ExternalReference, o.TotalAmount)
	}
	if strings.Contains(r.stderr, "sale id:") {
		t.Errorf("a given sale id is not generated\n%s", r)
	}
	creates := e.requests(http.MethodPost, "/v1/orders")
	if len(creates) != 1 || creates[0].Header.Get("X-Idempotency-Key") != qrorder.SaleKey("POS1", "T-42", qrorder.OpCreate) {
		t.Fatalf("want one create keyed by POS1/T-42/create")
	}
	if !strings.Contains(string(creates[0].Body), `"mode":"hybrid"`) {
		t.Errorf("body %s: want mode hybrid", creates[0].Body)
	}

	// The same sale again is the same order: the key is deterministic.
	again := printedOrder(t, e.order(t, "create", "-pos", "POS1", "-amount", "7.50", "-sale-id", "T-42", "-mode", "hybrid"))
	if again.ID != o.ID {
		t.Errorf("resending sale T-42 made order %s, want %s", again.ID, o.ID)
	}
}

func TestOrderUsageErrors(t *testing.T) {
	e := newOrderEnv(t)
	tests := []struct {
		name string
		sub  string
		args []string
		want string // in stderr
	}{
		{"three decimals", "create", []string{"-pos", "POS1", "-amount", "12.505"}, "-amount"},
		{"zero", "create", []string{"-pos", "POS1", "-amount", "0.00"}, "-amount"},
		{"negative", "create", []string{"-pos", "POS1", "-amount", "-1"}, "-amount"},
		{"no amount", "create", []string{"-pos", "POS1"}, "-amount is required"},
		{"bad mode", "create", []string{"-pos", "POS1", "-amount", "1", "-mode", "bogus"}, "-mode"},
		{"bad sale id", "create", []string{"-pos", "POS1", "-amount", "1", "-sale-id", "a b"}, "-sale-id"},
		{"POS not in the config", "create", []string{"-pos", "POS7", "-amount", "1"}, "-pos POS7"},
		{"several POS and no -pos", "create", []string{"-amount", "1"}, "-pos is required"},
		{"refund amount without id", "refund", []string{"-amount", "5.00", "ORD01"}, "-refund-id"},
		{"refund bad amount", "refund", []string{"-amount", "5,00", "-refund-id", "r1", "ORD01"}, "-amount"},
		{"refund bad id", "refund", []string{"-refund-id", "r 1", "ORD01"}, "-refund-id"},
		{"get two ids", "get", []string{"ORD01", "ORD02"}, "want 1 argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.order(t, tt.sub, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("want exit 2, nothing on stdout, %q on stderr\n%s", tt.want, r)
			}
		})
	}
	if n := len(e.sim.Requests()); n != 0 {
		t.Errorf("usage errors made %d API requests", n)
	}
}

func TestOrderUsageErrorBeforeTokenLookup(t *testing.T) {
	// A typo is reported as a typo even where no token is configured.
	noTokenEnv(t)
	cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", "store_id: S1\nmercadopago: {access_token_file: \"\"}\npos: [{external_pos_id: POS1}]\n", 0o600)
	r := runCLI(t, context.Background(), "order", "create", "-config", cfg, "-amount", "12.505")
	if r.code != exitUsage || !strings.Contains(r.stderr, "-amount") {
		t.Errorf("want exit 2 naming -amount\n%s", r)
	}
}

func TestOrderAPIRefusal(t *testing.T) {
	e := newOrderEnv(t)
	r := e.order(t, "create", "-pos", "POS9", "-amount", "12.50")
	if r.code != exitFailure || r.stdout != "" {
		t.Fatalf("want exit 1, nothing on stdout\n%s", r)
	}
	if !strings.Contains(r.stderr, `pos_not_found: no POS with external_pos_id "POS9"`) {
		t.Errorf("stderr does not show the API's code and message\n%s", r)
	}

	r = e.order(t, "get", "ORD01ABCDEFGHJKMNPQRSTVWXYZ00")
	if r.code != exitFailure || !strings.Contains(r.stderr, "order_not_found") {
		t.Errorf("want exit 1 with order_not_found\n%s", r)
	}
}

func TestOrderTokenSources(t *testing.T) {
	dir := t.TempDir()
	sim := qrordertest.NewServer(t, qrordertest.Options{Token: orderToken})
	missing := filepath.Join(dir, "mp-access-token")
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf("store_id: S1\nmercadopago: {base_url: %q, access_token_file: %s}\npos: [{external_pos_id: POS1}]\n", sim.URL(), missing), 0o600)

	t.Run("missing", func(t *testing.T) {
		noTokenEnv(t)
		r := runCLI(t, context.Background(), "order", "create", "-config", cfg, "-amount", "1.00")
		if r.code != exitUsage || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "POSAGENT_MP_ACCESS_TOKEN") {
			t.Errorf("want exit 2 naming the token file and the env variable\n%s", r)
		}
		if n := len(sim.Requests()); n != 0 {
			t.Errorf("%d API requests without a token", n)
		}
	})
	t.Run("env", func(t *testing.T) {
		noTokenEnv(t)
		t.Setenv("POSAGENT_MP_ACCESS_TOKEN", orderToken)
		r := runCLI(t, context.Background(), "order", "create", "-config", cfg, "-amount", "1.00")
		printedOrder(t, r)
		assertNoSecret(t, orderToken, r)
	})
	t.Run("wrong token", func(t *testing.T) {
		noTokenEnv(t)
		t.Setenv("POSAGENT_MP_ACCESS_TOKEN", "APP_USR-wrong-e2e-token")
		r := runCLI(t, context.Background(), "order", "get", "-config", cfg, "ORD01ABCDEFGHJKMNPQRSTVWXYZ00")
		if r.code != exitFailure || !strings.Contains(r.stderr, "401") {
			t.Errorf("want exit 1 with the API's 401\n%s", r)
		}
		assertNoSecret(t, "APP_USR-wrong-e2e-token", r)
	})
}

func TestOrderGet(t *testing.T) {
	e := newOrderEnv(t)
	id := e.create(t, "G1")
	o := printedOrder(t, e.order(t, "get", id))
	if o.ID != id || o.Status != "created" || o.ExternalReference != "P1-G1" {
		t.Errorf("get: %+v", o)
	}
	if err := e.sim.Pay(id); err != nil {
		t.Fatal(err)
	}
	if o := printedOrder(t, e.order(t, "get", id)); o.Status != "processed" {
		t.Errorf("get after payment: status %q, want processed", o.Status)
	}
}

func TestOrderCancel(t *testing.T) {
	e := newOrderEnv(t)
	id := e.create(t, "C1")
	o := printedOrder(t, e.order(t, "cancel", id))
	if o.ID != id || o.Status != "canceled" {
		t.Errorf("cancel printed status %q, want canceled", o.Status)
	}
	cancels := e.requests(http.MethodPost, "/v1/orders/"+id+"/cancel")
	if len(cancels) != 1 || cancels[0].Header.Get("X-Idempotency-Key") != qrorder.OrderKey(id, qrorder.OpCancel) {
		t.Errorf("want one cancel keyed by order id + cancel, got %d", len(cancels))
	}

	// A paid order is refused, without a cancel call.
	paid := e.create(t, "C2")
	if err := e.sim.Pay(paid); err != nil {
		t.Fatal(err)
	}
	r := e.order(t, "cancel", paid)
	if r.code != exitFailure || !strings.Contains(r.stderr, "processed") || r.stdout != "" {
		t.Errorf("want exit 1 saying the order is processed\n%s", r)
	}
	if n := len(e.requests(http.MethodPost, "/v1/orders/"+paid+"/cancel")); n != 0 {
		t.Errorf("%d cancel calls for a paid order", n)
	}

	// So is one canceled already.
	r = e.order(t, "cancel", id)
	if r.code != exitFailure || !strings.Contains(r.stderr, "canceled") {
		t.Errorf("want exit 1 saying the order is canceled\n%s", r)
	}
	if n := len(e.requests(http.MethodPost, "/v1/orders/"+id+"/cancel")); n != 1 {
		t.Errorf("%d cancel calls, want the first one only", n)
	}
}

func TestOrderRefund(t *testing.T) {
	e := newOrderEnv(t)

	// Unpaid: refused, naming the status, with no refund call.
	unpaid := e.create(t, "R0")
	r := e.order(t, "refund", unpaid)
	if r.code != exitFailure || !strings.Contains(r.stderr, "created") {
		t.Errorf("want exit 1 saying the order is created\n%s", r)
	}
	if n := len(e.requests(http.MethodPost, "/v1/orders/"+unpaid+"/refund")); n != 0 {
		t.Errorf("%d refund calls for an unpaid order", n)
	}

	id := e.create(t, "R1")
	if err := e.sim.Pay(id); err != nil {
		t.Fatal(err)
	}
	o := printedOrder(t, e.order(t, "refund", "-amount", "5.00", "-refund-id", "r1", id))
	if len(o.Transactions.Refunds) != 1 || o.Transactions.Refunds[0].Amount != "5.00" {
		t.Errorf("after a partial refund of 5.00: refunds %+v", o.Transactions.Refunds)
	}
	refunds := e.requests(http.MethodPost, "/v1/orders/"+id+"/refund")
	if len(refunds) != 1 {
		t.Fatalf("want one refund call, got %d", len(refunds))
	}
	if got, want := refunds[0].Header.Get("X-Idempotency-Key"), qrorder.OrderRefundKey(id, "r1"); got != want {
		t.Errorf("partial refund key %q, want %q", got, want)
	}
	var body struct {
		Transactions []struct{ ID, Amount string } `json:"transactions"`
	}
	if err := json.Unmarshal(refunds[0].Body, &body); err != nil || len(body.Transactions) != 1 ||
		body.Transactions[0].Amount != "5.00" || body.Transactions[0].ID != o.Transactions.Payments[0].ID {
		t.Errorf("partial refund body %s: want the payment id and 5.00", refunds[0].Body)
	}

	// More than is left: the API's refusal, exit 1.
	r = e.order(t, "refund", "-amount", "50.00", "-refund-id", "r2", id)
	if r.code != exitFailure || !strings.Contains(r.stderr, "refund_amount_exceeds") {
		t.Errorf("want exit 1 with the API's refund_amount_exceeds\n%s", r)
	}

	// No amount: the rest, with refund id "total" and no body.
	o = printedOrder(t, e.order(t, "refund", id))
	if o.Status != "refunded" {
		t.Errorf("after the total refund the order is %q, want refunded", o.Status)
	}
	refunds = e.requests(http.MethodPost, "/v1/orders/"+id+"/refund")
	if len(refunds) != 3 {
		t.Fatalf("want three refund calls, got %d", len(refunds))
	}
	if got, want := refunds[2].Header.Get("X-Idempotency-Key"), qrorder.OrderRefundKey(id, "total"); got != want {
		t.Errorf("total refund key %q, want %q", got, want)
	}
	if b := strings.TrimSpace(string(refunds[2].Body)); b != "" && b != "{}" {
		t.Errorf("total refund body %q, want none", b)
	}

	// Refunded in full: refused, naming the status.
	r = e.order(t, "refund", id)
	if r.code != exitFailure || !strings.Contains(r.stderr, "refunded") {
		t.Errorf("want exit 1 saying the order is refunded\n%s", r)
	}
}

func TestOrderCreateDrawsQROnATerminal(t *testing.T) {
	e := newOrderEnv(t)
	stdout, drawn := e.onTerminal(t, "order", "create", "-config", e.cfg, "-pos", "POS1", "-amount", "1.00", "-sale-id", "tty1")
	printedOrder(t, cliResult{stdout: stdout})
	// Black on white half-block rows, a QR code's worth of them.
	if rows := strings.Count(drawn, "\x1b[30;107m"); rows < 10 || !strings.ContainsAny(drawn, "\u2580\u2584\u2588") {
		t.Errorf("no QR drawn on the terminal (%d rows):\n%q", rows, drawn)
	}
}

// TestOrderCreateNeverDrawsABadQR: a qr_data that is not a valid EMVCo
// payload (here a wrong CRC) is never drawn, as on the customer's
// displays; the order is still printed and the terminal says why.
func TestOrderCreateNeverDrawsABadQR(t *testing.T) {
	e := newOrderEnv(t)
	e.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{CorruptCRC: true})
	stdout, drawn := e.onTerminal(t, "order", "create", "-config", e.cfg, "-pos", "POS1", "-amount", "1.00", "-sale-id", "tty2")
	printedOrder(t, cliResult{stdout: stdout})
	if strings.ContainsAny(drawn, "\u2580\u2584\u2588") {
		t.Errorf("a QR with a bad payload was drawn:\n%q", drawn)
	}
	if !strings.Contains(drawn, "qr_data") || !strings.Contains(drawn, "not drawn") {
		t.Errorf("the terminal was not told why no QR was drawn:\n%q", drawn)
	}
}

// onTerminal runs the command with a pseudo-terminal as its stderr and
// returns its stdout and what it wrote on the terminal.
func (e *orderEnv) onTerminal(t *testing.T, args ...string) (stdout, drawn string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	read := make(chan string, 1)
	go func() {
		// Read until the terminal side closes; the kernel buffer would
		// otherwise fill up and block the command.
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				read <- b.String()
				return
			}
		}
	}()
	var out lockedBuffer
	err = run(context.Background(), args, strings.NewReader(""), &out, tty)
	tty.Close()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case drawn = <-read:
	case <-time.After(testWait):
		t.Fatal("the terminal was not closed")
	}
	return out.String(), drawn
}
