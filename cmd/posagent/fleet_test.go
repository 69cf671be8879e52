package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/fleet"
	"github.com/posagent/posagent/internal/netgate"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// opsAgent runs `posagent run` with embedded NATS and HTTP on fixed
// loopback ports, for the operations commands to find.
type opsAgent struct {
	cfg, natsURL, httpAddr string
	sim                    *qrordertest.Simulator
}

func startOpsAgent(t *testing.T, store string) *opsAgent {
	t.Helper()
	dir := t.TempDir()
	sim := qrordertest.NewServer(t, qrordertest.Options{Token: agentToken})
	tok := writeTestFile(t, dir, "mp-access-token", agentToken+"\n", 0o600)
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: %s
store_name: "Tienda %s"
state_dir: %s
mercadopago: {base_url: %q, access_token_file: %s, poll_interval: 100ms}
nats:
  embedded: {listen: %q, sync: 1s}
http: {listen: %q}
pos:
  - external_pos_id: POS1
  - external_pos_id: POS2
`, store, store, dir, sim.URL(), tok, "127.0.0.1:0", "127.0.0.1:0"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	b := startCLI(ctx, "run", "-config", cfg)
	t.Cleanup(func() {
		cancel()
		if r := b.wait(t); r.code != exitOK {
			t.Errorf("run did not exit 0\n%s", r)
		}
	})
	natsAddr, httpAddr := pinListenAddrs(t, cfg, b)
	return &opsAgent{cfg: cfg, natsURL: "nats://" + natsAddr, httpAddr: httpAddr, sim: sim}
}

// runFleet and runStatus call the commands directly (main's dispatch is
// not needed to test them).
func runFleet(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr lockedBuffer
	return finish(append([]string{"fleet"}, args...), cmdFleet(context.Background(), args, &stdout, &stderr), &stdout, &stderr)
}

func runStatus(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr lockedBuffer
	return finish(append([]string{"status"}, args...), cmdStatus(context.Background(), args, &stdout, &stderr), &stdout, &stderr)
}

func TestFleetAndStatusCommands(t *testing.T) {
	noTokenEnv(t)
	a := startOpsAgent(t, "S7")
	// A sale awaits payment on POS1.
	sale := startCLI(context.Background(), "sale", "-config", a.cfg, "-pos", "POS1", "-sale-id", "ops1", "-amount", "99.90", "-wait", "60s")
	sale.stderr.waitFor(t, regexp.MustCompile(`sale sent`), sale.done)
	var orderID string
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := a.sim.Wait(ctx, func() bool {
		for _, o := range a.sim.OrdersByExternalReference("ops1") {
			orderID = o.ID
		}
		return orderID != ""
	}); err != nil {
		t.Fatalf("no order for the sale: %v", err)
	}
	// The order exists before the agent has its answer: wait until the
	// POS says so itself.
	waitPOSState(t, a.natsURL, "pos.S7.POS1.status", "awaiting_payment")

	// fleet, JSON: one object per POS.
	r := runFleet(t, "-nats", a.natsURL, "-json", "-expect", "1", "-timeout", "30s")
	if r.code != exitOK {
		t.Fatalf("%s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(r.stderr, "fleet: 1 agent(s), 2 POS, 0 unreachable") {
		t.Fatalf("%s", r)
	}
	byPOS := map[string]fleet.RowJSON{}
	for _, l := range lines {
		var j fleet.RowJSON
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		byPOS[j.POS] = j
	}
	if p := byPOS["POS1"]; p.StoreID != "S7" || p.StoreName != "Tienda S7" || p.State != "awaiting_payment" || p.SaleID != "ops1" ||
		p.TotalAmount != "99.90" || p.Version == "" || p.UptimeSeconds == nil || p.LastEventAge == nil {
		t.Fatalf("POS1 %+v", p)
	}
	if p := byPOS["POS2"]; p.State != "idle" || p.SaleID != "" {
		t.Fatalf("POS2 %+v", p)
	}

	// fleet, table.
	r = runFleet(t, "-nats", a.natsURL, "-expect", "1", "-timeout", "30s")
	if r.code != exitOK || !regexp.MustCompile(`(?m)^STORE +POS +STATE +SALE +AMOUNT +LAST EVENT +VERSION +UPTIME +PRINTER$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^S7 +POS1 +awaiting_payment +ops1 +99\.90 +created \d+s `).MatchString(r.stdout) {
		t.Fatalf("%s", r)
	}
	// Another store filter finds nobody: exit 1 after the wait.
	if r := runFleet(t, "-nats", a.natsURL, "-store", "NOPE", "-timeout", "300ms"); r.code != exitFailure || r.stdout != "" {
		t.Fatalf("%s", r)
	}

	// status, text and JSON.
	r = runStatus(t, "-config", a.cfg, "-timeout", "30s")
	if r.code != exitOK || !strings.Contains(r.stdout, "store Tienda S7 (S7): posagent ") ||
		!strings.Contains(r.stdout, "health: ok (api ok, api_token ok, consumers ok, nats ok, storage ok)") ||
		!regexp.MustCompile(`(?m)^S7 +POS1 +awaiting_payment +ops1 +99\.90 `).MatchString(r.stdout) {
		t.Fatalf("%s", r)
	}
	r = runStatus(t, "-config", a.cfg, "-json", "-timeout", "30s")
	var st storeStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != exitOK {
		t.Fatalf("%v\n%s", err, r)
	}
	if st.Agent == nil || st.Health == nil || st.Health.Status != "ok" || len(st.POS) != 2 || st.POS[0].POS != "POS1" ||
		st.POS[1].POS != "POS2" || st.POS[0].State != "awaiting_payment" || len(st.Missing) != 0 {
		t.Fatalf("%+v", st)
	}

	if err := a.sim.Pay(orderID); err != nil {
		t.Fatal(err)
	}
	if r := sale.wait(t); r.code != exitOK {
		t.Fatalf("%s", r)
	}
	assertNoSecret(t, agentToken, r)
}

func TestStatusWithoutAgent(t *testing.T) {
	dir := t.TempDir()
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: S9
state_dir: %s
nats:
  embedded: {listen: %q}
http: {listen: %q}
pos:
  - external_pos_id: POS1
`, dir, netgate.New(t).Addr(), netgate.New(t).Addr()), 0o600)
	r := runStatus(t, "-config", cfg, "-timeout", "300ms")
	if r.code != exitFailure || !strings.Contains(r.stdout, "store S9: no agent answered (connect to NATS at nats://127.0.0.1:") ||
		!strings.Contains(r.stdout, "health: unknown (GET /healthz: ") || strings.Contains(r.stdout, "does not serve") {
		t.Fatalf("%s", r)
	}
}

func TestFleetUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-timeout", "0s"},
		{"-concurrency", "0"},
		{"-user", "ops"},
		{"-creds", "/x.creds", "-user", "ops", "-password-file", "/p"},
		{"extra"},
	} {
		if r := runFleet(t, args...); r.code != exitUsage {
			t.Errorf("fleet %q: %s", args, r)
		}
	}
	if r := runFleet(t, "-nats", "nats://ops:hunter2@127.0.0.1:1", "-timeout", "200ms"); r.code != exitFailure || strings.Contains(r.stderr, "hunter2") {
		t.Errorf("%s", r)
	}
	if r := runStatus(t, "-timeout", "-1s"); r.code != exitUsage {
		t.Errorf("%s", r)
	}
}

// waitPOSState asks a POS's status until it reports state.
func waitPOSState(t *testing.T, natsURL, subject, state string) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	deadline := time.Now().Add(testWait)
	var last string
	for time.Now().Before(deadline) {
		m, err := nc.Request(subject, nil, time.Second)
		if err == nil {
			var st struct{ State string }
			if json.Unmarshal(m.Data, &st) == nil && st.State == state {
				return
			}
			last = string(m.Data)
		}
		sub, err := nc.SubscribeSync(strings.TrimSuffix(subject, ".status") + ".evt.>") // wake on its next event, or ask again within a second
		if err == nil {
			_, _ = sub.NextMsg(time.Second)
			_ = sub.Unsubscribe()
		}
	}
	t.Fatalf("%s never reported %s; last: %s", subject, state, last)
}
