package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/netgate"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// agentToken is recognisable, so a leak into any output is found.
const agentToken = "APP_USR-e2e-agent-91b3e6-do-not-print"

// agentEnv is `posagent run` on a config file (embedded NATS on a fixed
// loopback port, the simulator as the Orders API), which the register
// commands read too.
type agentEnv struct {
	sim   *qrordertest.Simulator
	cfg   string
	agent *background
	all   []cliResult
}

func startAgent(t *testing.T, runFlags ...string) *agentEnv {
	t.Helper()
	dir := t.TempDir()
	sim := qrordertest.NewServer(t, qrordertest.Options{Token: agentToken, POS: []string{"POS1"}})
	tok := writeTestFile(t, dir, "mp-access-token", agentToken+"\n", 0o600)
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: S1
state_dir: %s
mercadopago: {base_url: %q, access_token_file: %s, poll_interval: 100ms, request_timeout: 5s, retry_budget: 10s}
nats:
  embedded: {listen: %q, sync: 1s}
http: {listen: "127.0.0.1:0"}
pos:
  - external_pos_id: POS1
    result_hold: 0s
`, dir, sim.URL(), tok, "127.0.0.1:0"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	e := &agentEnv{sim: sim, cfg: cfg, agent: startCLI(ctx, append([]string{"run", "-config", cfg}, runFlags...)...)}
	t.Cleanup(func() {
		cancel()
		r := e.agent.wait(t)
		if r.code != exitOK {
			t.Errorf("run did not exit 0 when stopped\n%s", r)
		}
		assertNoSecret(t, agentToken, append(e.all, r)...)
	})
	pinListenAddrs(t, cfg, e.agent)
	return e
}

// register runs a register command (sale, cancel, refund) to its end.
func (e *agentEnv) register(t *testing.T, verb string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, context.Background(), append([]string{verb, "-config", e.cfg, "-pos", "POS1", "-wait", "60s"}, args...)...)
	e.all = append(e.all, r)
	return r
}

// startSale runs `posagent sale` in the background.
func (e *agentEnv) startSale(args ...string) *background {
	return startCLI(context.Background(), append([]string{"sale", "-config", e.cfg, "-pos", "POS1", "-wait", "60s"}, args...)...)
}

func (e *agentEnv) finishSale(t *testing.T, b *background) cliResult {
	t.Helper()
	r := b.wait(t)
	e.all = append(e.all, r)
	return r
}

// orderOf waits until the sale's order exists at the simulator; b, when
// not nil, is the sale command, shown when there is no order.
func (e *agentEnv) orderOf(t *testing.T, saleID string, b *background) qrordertest.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	var o qrordertest.Order
	err := e.sim.Wait(ctx, func() bool {
		orders := e.sim.OrdersByExternalReference(saleID)
		if len(orders) > 0 {
			o = orders[0]
		}
		return len(orders) > 0
	})
	if err != nil {
		if b != nil {
			t.Logf("sale stdout:\n%s\nsale stderr:\n%s", b.stdout, b.stderr)
		}
		t.Fatalf("no order for sale %s: %v\nagent stderr:\n%s", saleID, err, e.agent.stderr)
	}
	return o
}

// jsonEvents parses stdout as one event per line.
func jsonEvents(t *testing.T, r cliResult) []events.Event {
	t.Helper()
	var evs []events.Event
	for _, l := range outputLines(r.stdout) {
		var ev events.Event
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("stdout line %q is not an event: %v\n%s", l, err, r)
		}
		evs = append(evs, ev)
	}
	return evs
}

// eventStatuses lists the events' statuses.
func eventStatuses(evs []events.Event) string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = ev.Status
	}
	return strings.Join(s, " ")
}

func TestRegisterCommands(t *testing.T) {
	e := startAgent(t)

	t.Run("sale paid, -json", func(t *testing.T) {
		b := e.startSale("-amount", "10.00", "-sale-id", "S1", "-json")
		o := e.orderOf(t, "S1", b)
		if o.TotalAmount != "10.00" || o.POS != "POS1" || o.IdempotencyKey != qrorder.SaleKey("POS1", "S1", qrorder.OpCreate) {
			t.Errorf("order %+v: want 10.00 on POS1 keyed by POS1/S1/create", o)
		}
		if err := e.sim.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		r := e.finishSale(t, b)
		if r.code != exitOK {
			t.Fatalf("want exit 0\n%s", r)
		}
		evs := jsonEvents(t, r)
		if eventStatuses(evs) != "created processed" {
			t.Fatalf("events %q, want created processed\n%s", eventStatuses(evs), r)
		}
		for _, ev := range evs {
			if ev.SaleID != "S1" || ev.OrderID != o.ID || ev.ExternalPOSID != "POS1" || ev.TotalAmount != "10.00" {
				t.Errorf("event %+v: want sale S1, order %s, POS1, 10.00", ev, o.ID)
			}
		}
		if evs[0].QRData != o.QRData {
			t.Errorf("created carries qr_data %q, want the order's %q", evs[0].QRData, o.QRData)
		}
	})

	t.Run("sale paid, human lines", func(t *testing.T) {
		b := e.startSale("-amount", "10.00", "-sale-id", "S4")
		o := e.orderOf(t, "S4", b)
		if err := e.sim.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		r := e.finishSale(t, b)
		if r.code != exitOK {
			t.Fatalf("want exit 0\n%s", r)
		}
		got := outputLines(r.stdout)
		if len(got) != 2 {
			t.Fatalf("want two lines on stdout\n%s", r)
		}
		for i, status := range []string{"created", "processed"} {
			re := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+Z  ` + status + ` +sale S4  order ` + o.ID + `  amount 10\.00  \(\w+\)$`)
			if !re.MatchString(got[i]) {
				t.Errorf("line %d %q does not match %s", i+1, got[i], re)
			}
		}
		if !strings.Contains(r.stderr, "sale sent to POS1") {
			t.Errorf("stderr does not say the sale was sent\n%s", r)
		}
	})

	t.Run("sale with a generated id", func(t *testing.T) {
		b := e.startSale("-amount", "3.5", "-json")
		id := b.stderr.waitFor(t, regexp.MustCompile(`(?m)^sale id: ([A-Za-z0-9_-]+)$`), b.done)[1]
		o := e.orderOf(t, id, b)
		if o.TotalAmount != "3.50" {
			t.Errorf("total %s, want 3.50", o.TotalAmount)
		}
		if err := e.sim.Pay(o.ID); err != nil {
			t.Fatal(err)
		}
		r := e.finishSale(t, b)
		if evs := jsonEvents(t, r); r.code != exitOK || eventStatuses(evs) != "created processed" || evs[1].SaleID != id {
			t.Errorf("want exit 0 with created processed for %s\n%s", id, r)
		}
	})

	t.Run("sale expired", func(t *testing.T) {
		b := e.startSale("-amount", "10.00", "-sale-id", "S3", "-json")
		o := e.orderOf(t, "S3", b)
		if err := e.sim.Expire(o.ID); err != nil {
			t.Fatal(err)
		}
		r := e.finishSale(t, b)
		if evs := jsonEvents(t, r); r.code != exitFailure || eventStatuses(evs) != "created expired" {
			t.Errorf("want exit 1 after created expired\n%s", r)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		b := e.startSale("-amount", "10.00", "-sale-id", "S2", "-json")
		e.orderOf(t, "S2", b)
		r := e.register(t, "cancel", "-sale-id", "S2", "-json")
		evs := jsonEvents(t, r)
		if r.code != exitOK || eventStatuses(evs) != "canceled" || evs[0].SaleID != "S2" {
			t.Errorf("want exit 0 with one canceled event for S2\n%s", r)
		}
		sale := e.finishSale(t, b)
		if evs := jsonEvents(t, sale); sale.code != exitFailure || eventStatuses(evs) != "created canceled" {
			t.Errorf("the canceled sale: want exit 1 after created canceled\n%s", sale)
		}
	})

	t.Run("refund in part, then the rest", func(t *testing.T) {
		r := e.register(t, "refund", "-sale-id", "S1", "-amount", "5.00", "-refund-id", "r1", "-json")
		evs := jsonEvents(t, r)
		if r.code != exitOK || eventStatuses(evs) != "refunded" {
			t.Fatalf("want exit 0 with one refunded event\n%s", r)
		}
		if ev := evs[0]; ev.RefundID != "r1" || ev.RefundedAmount != "5.00" || ev.StatusDetail != "partially_refunded" {
			t.Errorf("refunded event %+v: want r1, 5.00, partially_refunded", ev)
		}

		r = e.register(t, "refund", "-sale-id", "S1")
		if r.code != exitOK || !regexp.MustCompile(`(?m)^\S+  refunded  sale S1 .*\(refunded\)  refunded 10\.00$`).MatchString(r.stdout) {
			t.Errorf("want exit 0 and the sale refunded in full, 10.00\n%s", r)
		}
	})

	t.Run("refused by the agent", func(t *testing.T) {
		tests := []struct {
			name, verb string
			args       []string
			code       string // error.code of the one rejected event
			field      string // its error.field
			saleStatus string
		}{
			{"bad mode", "sale", []string{"-amount", "10.00", "-sale-id", "S5", "-mode", "bogus"}, "property_value", "mode", ""},
			{"cancel of a paid sale", "cancel", []string{"-sale-id", "S4"}, "invalid_state", "", "processed"},
			{"refund of an expired sale", "refund", []string{"-sale-id", "S3"}, "invalid_state", "", "expired"},
			{"unknown sale", "cancel", []string{"-sale-id", "nope"}, "unknown_sale", "sale_id", ""},
			{"same sale id, other amount", "sale", []string{"-amount", "11.00", "-sale-id", "S1"}, "duplicate_sale_id", "sale_id", "refunded"},
			{"bad refund id", "refund", []string{"-sale-id", "S1", "-amount", "1.00", "-refund-id", "r.1"}, "property_value", "refund_id", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.register(t, tt.verb, append(tt.args, "-json")...)
				evs := jsonEvents(t, r)
				if r.code != exitFailure || eventStatuses(evs) != "rejected" {
					t.Fatalf("want exit 1 with one rejected event\n%s", r)
				}
				if ev := evs[0]; ev.Error == nil || ev.Error.Code != tt.code || ev.Error.Field != tt.field || ev.SaleStatus != tt.saleStatus {
					t.Errorf("rejected event %+v: want code %s, field %q, sale_status %q\n%s", ev, tt.code, tt.field, tt.saleStatus, r)
				}
			})
		}
	})

	t.Run("a resent sale replays its outcome", func(t *testing.T) {
		n := len(e.sim.Orders())
		r := e.register(t, "sale", "-amount", "10.0", "-sale-id", "S4", "-json")
		evs := jsonEvents(t, r)
		if r.code != exitOK || eventStatuses(evs) != "processed" || !evs[0].Replay {
			t.Errorf("want exit 0 with a replayed processed event\n%s", r)
		}
		if len(e.sim.Orders()) != n {
			t.Errorf("a resent sale made a new order")
		}
	})

	t.Run("no outcome within -wait", func(t *testing.T) {
		// Nobody pays: the wait ends first, whenever that is.
		r := e.register(t, "sale", "-amount", "10.00", "-sale-id", "S7", "-wait", "300ms", "-json")
		if r.code != exitFailure {
			t.Fatalf("want exit 1\n%s", r)
		}
		for _, ev := range jsonEvents(t, r) {
			if ev.Status != "created" {
				t.Errorf("unexpected %s event\n%s", ev.Status, r)
			}
		}
		// The sale goes on at the agent: a cancel ends it.
		e.orderOf(t, "S7", nil)
		if r := e.register(t, "cancel", "-sale-id", "S7"); r.code != exitOK {
			t.Errorf("want the waiting sale canceled\n%s", r)
		}
	})

	t.Run("refused by the command line", func(t *testing.T) {
		before := len(e.sim.Requests())
		tests := []struct {
			verb string
			args []string
			want string
		}{
			{"sale", []string{"-amount", "0", "-sale-id", "S6"}, "-amount"},
			{"sale", []string{"-amount", "1.234", "-sale-id", "S6"}, "-amount"},
			{"sale", []string{"-sale-id", "S6"}, "-amount is required"},
			{"refund", []string{"-sale-id", "S1", "-amount", "1.00"}, "-refund-id"},
			{"cancel", nil, "-sale-id is required"},
			{"refund", nil, "-sale-id is required"},
			{"refund", []string{"-sale-id", "S1", "-amount", "1.001", "-refund-id", "r9"}, "-amount"},
			{"sale", []string{"-amount", "1.00", "-wait", "0s"}, "-wait"},
		}
		for _, tt := range tests {
			r := e.register(t, tt.verb, tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("want exit 2 naming %s\n%s", tt.want, r)
			}
		}
		if after := len(e.sim.Requests()); after != before {
			t.Errorf("usage errors reached the API (%d requests)", after-before)
		}
	})
}

func TestRegisterUsageBeforeConfig(t *testing.T) {
	// A typo is reported as a typo, even with a config that is not there.
	missing := t.TempDir() + "/none.yaml"
	for _, args := range [][]string{
		{"sale", "-config", missing, "-amount", "1,50"},
		{"refund", "-config", missing, "-sale-id", "S1", "-amount", "1.50"},
	} {
		r := runCLI(t, context.Background(), args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "-amount") && !strings.Contains(r.stderr, "-refund-id") {
			t.Errorf("want exit 2 about the flags\n%s", r)
		}
	}
	r := runCLI(t, context.Background(), "sale", "-config", missing, "-amount", "1.50")
	if r.code != exitUsage || !strings.Contains(r.stderr, missing) {
		t.Errorf("want exit 2 naming the config file\n%s", r)
	}
}

func TestRegisterWithoutAgent(t *testing.T) {
	// Nothing listens on the configured NATS port: a runtime failure.
	cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", fmt.Sprintf("store_id: S1\nnats: {embedded: {listen: %q}}\npos: [{external_pos_id: POS1}]\n", netgate.New(t).Addr()), 0o600)
	r := runCLI(t, context.Background(), "sale", "-config", cfg, "-amount", "1.00", "-sale-id", "X1")
	if r.code != exitFailure || !strings.Contains(r.stderr, "NATS") {
		t.Errorf("want exit 1 saying NATS is unreachable\n%s", r)
	}
}
