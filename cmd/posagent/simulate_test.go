package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// startSimulate runs `posagent simulate` until the test ends and returns
// its base URL, read from what it prints.
func startSimulate(t *testing.T, args ...string) (string, *background) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sim := startCLI(ctx, append([]string{"simulate", "-listen", "127.0.0.1:0"}, args...)...)
	t.Cleanup(func() {
		cancel()
		if r := sim.wait(t); r.code != exitOK {
			t.Errorf("simulate did not exit 0 when stopped\n%s", r)
		}
	})
	m := sim.stdout.waitFor(t, regexp.MustCompile(`(?m)^Orders API simulator on (http://127\.0\.0\.1:\d+) `), sim.done)
	// The rest of its banner comes before it serves.
	sim.stdout.waitFor(t, regexp.MustCompile(`(?m)^expire an order: .*\n`), sim.done)
	return m[1], sim
}

func TestSimulate(t *testing.T) {
	url, sim := startSimulate(t)
	if !strings.Contains(sim.stdout.String(), "accepting the simulator token "+qrordertest.DefaultToken) {
		t.Errorf("simulate does not say it accepts %s:\n%s", qrordertest.DefaultToken, sim.stdout)
	}

	// The order commands work against it with the simulator's token.
	noTokenEnv(t)
	t.Setenv("POSAGENT_MP_ACCESS_TOKEN", qrordertest.DefaultToken)
	cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", fmt.Sprintf("store_id: S1\nmercadopago: {base_url: %q}\npos: [{external_pos_id: ANYPOS1}]\n", url), 0o600)
	o := printedOrder(t, runCLI(t, context.Background(), "order", "create", "-config", cfg, "-amount", "12.50", "-sale-id", "sim1"))
	if o.Status != "created" || o.TotalAmount != "12.50" {
		t.Errorf("order from simulate: status %q total %q", o.Status, o.TotalAmount)
	}
	if _, err := emvco.Parse(o.TypeResponse.QRData); err != nil {
		t.Errorf("simulate's qr_data %q fails the EMVCo check: %v", o.TypeResponse.QRData, err)
	}

	// Paying through its control endpoint is what the printed hint says.
	if !strings.Contains(sim.stdout.String(), "curl -X POST "+url+"/simulator/orders/ORDER_ID/pay") {
		t.Errorf("no pay hint:\n%s", sim.stdout)
	}
	resp, err := http.Post(url+"/simulator/orders/"+o.ID+"/pay", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("pay: HTTP %d", resp.StatusCode)
	}
	if o := printedOrder(t, runCLI(t, context.Background(), "order", "get", "-config", cfg, o.ID)); o.Status != "processed" {
		t.Errorf("after pay the order is %q", o.Status)
	}
	// An order it never made is 404, as the API answers; a paid one 409.
	for id, want := range map[string]int{"ORDNOSUCHORDER": http.StatusNotFound, o.ID: http.StatusConflict} {
		resp, err := http.Post(url+"/simulator/orders/"+id+"/pay", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("pay %s: HTTP %d, want %d", id, resp.StatusCode, want)
		}
	}

	// Any other token is refused.
	t.Setenv("POSAGENT_MP_ACCESS_TOKEN", "APP_USR-not-the-simulator")
	r := runCLI(t, context.Background(), "order", "get", "-config", cfg, o.ID)
	if r.code != exitFailure || !strings.Contains(r.stderr, "401") {
		t.Errorf("want the simulator to refuse another token\n%s", r)
	}
}

func TestSimulateTokenAndPOS(t *testing.T) {
	const token = "TEST-e2e-simulate-token"
	url, sim := startSimulate(t, "-token", token, "-pos", "POSA,POSB")
	if strings.Contains(sim.stdout.String(), qrordertest.DefaultToken) || strings.Contains(sim.stdout.String(), token) {
		t.Errorf("with -token the simulator must not print a token:\n%s", sim.stdout)
	}
	noTokenEnv(t)
	t.Setenv("POSAGENT_MP_ACCESS_TOKEN", token)
	cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", fmt.Sprintf("store_id: S1\nmercadopago: {base_url: %q}\npos: [{external_pos_id: POSB}, {external_pos_id: POSC}]\n", url), 0o600)
	printedOrder(t, runCLI(t, context.Background(), "order", "create", "-config", cfg, "-pos", "POSB", "-amount", "1.00"))
	r := runCLI(t, context.Background(), "order", "create", "-config", cfg, "-pos", "POSC", "-amount", "1.00")
	if r.code != exitFailure || !strings.Contains(r.stderr, "pos_not_found") {
		t.Errorf("want POSC refused with pos_not_found\n%s", r)
	}
	if out := sim.stdout.String() + sim.stderr.String(); strings.Contains(out, token) {
		t.Errorf("the simulator printed the token:\n%s", out)
	}
}
