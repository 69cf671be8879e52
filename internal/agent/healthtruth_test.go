package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// waitChecks waits until /healthz's report satisfies cond, following the
// health's changes (not polling).
func (h *harness) waitChecks(what string, cond func(healthReport) bool) healthReport {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.agent.health.waitFor(ctx, cond); err != nil {
		h.t.Fatalf("health never %s: %+v\nlog:\n%s", what, h.agent.health.report(), h.logBuf.String())
	}
	return h.agent.health.report()
}

// TestTokenProbedAtStart: a rejected token shows on /healthz without any
// sale, and no order is created to find out; the watchdog still feeds (a
// restart would not fix a token).
func TestTokenProbedAtStart(t *testing.T) {
	var fed atomic.Int64
	h := &harness{t: t, token: "APP_USR-wrong-token-0123456789", logBuf: &syncBuffer{}}
	h.agentOpts = append(h.agentOpts, func(o *Options) {
		o.Watchdog = func() { fed.Add(1) }
		o.WatchdogEvery = 10 * time.Millisecond
	})
	h.setup()
	h.waitChecks("rejects the token", func(r healthReport) bool { return r.Checks["api_token"] == "rejected" })
	code, body := h.get("/healthz")
	if code != 503 || !strings.Contains(body, `"api_token":"rejected"`) {
		t.Fatalf("%d %s", code, body)
	}
	if strings.Contains(body, h.token) || strings.Contains(h.logBuf.String(), h.token) {
		t.Fatal("the token leaked")
	}
	if n := h.apiCalls("POST", "/v1/orders"); n != 0 || len(h.sim.Orders()) != 0 {
		t.Fatalf("%d writes to the API to probe the token", n)
	}
	// The watchdog is fed although the agent is unhealthy.
	start := fed.Load()
	h.simWait(func() bool { return fed.Load() > start+2 && h.apiCalls("GET", "/v1/orders/"+probeOrderID) >= 3 })
}

// TestAPIUnreachableHealth: with the API unreachable past retry_budget,
// /healthz says so (503, api unreachable), and recovers by itself once
// the API answers again.
func TestAPIUnreachableHealth(t *testing.T) {
	h := newHarness(t)
	h.waitChecks("sees the API", func(r healthReport) bool { return r.Checks["api"] == "ok" && r.Checks["api_token"] == "ok" })
	h.sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Count: 100000, Status: 503})
	h.sim.Inject(qrordertest.EndpointGet, qrordertest.Fault{Count: 100000, Status: 503})
	seq := h.send("POS1", "sale", `{"sale_id":"ur1","total_amount":"1.00"}`)
	h.waitCmd(seq, "failed")
	h.waitChecks("reports the API unreachable", func(r healthReport) bool { return r.Checks["api"] == "unreachable" })
	if code, body := h.get("/healthz"); code != 503 || !strings.Contains(body, `"api":"unreachable"`) {
		t.Fatalf("%d %s", code, body)
	}
	h.sim.ClearFaults()
	h.waitChecks("recovers", func(r healthReport) bool { return r.Status == "ok" })
	if code, _ := h.get("/healthz"); code != 200 {
		t.Fatalf("%d", code)
	}
}

// TestStorageRefusingHealth: records refusing writes make /healthz 503
// (storage, and the POS's consumer stalled on its command); both recover
// without a restart once the records accept writes again.
func TestStorageRefusingHealth(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	restore := h.refuseAll(recordsStream)
	h.send("POS1", "sale", `{"sale_id":"st1","total_amount":"1.00"}`)
	r := h.waitChecks("reports storage", func(r healthReport) bool { return strings.HasPrefix(r.Checks["storage"], "refusing writes") })
	if r.Status != "unavailable" {
		t.Fatalf("%+v", r)
	}
	h.waitChecks("reports the stalled POS", func(r healthReport) bool { return strings.HasPrefix(r.Checks["consumers"], "stalled: POS1") })
	if code, body := h.get("/healthz"); code != 503 || !strings.Contains(body, "refusing writes") {
		t.Fatalf("%d %s", code, body)
	}
	restore()
	h.waitChecks("recovers", func(r healthReport) bool { return r.Status == "ok" })
	h.waitSale("st1", "created")
}

// TestAlertCountersStartAtZero: the series alert rules count exist at 0
// from start for every POS, so the first failure is an increase.
func TestAlertCountersStartAtZero(t *testing.T) {
	h := newHarness(t)
	_, body := h.get("/metrics")
	for _, pos := range []string{"POS1", "POS2", "POS3"} {
		for _, want := range []string{
			`posagent_commands_total{command="sale",outcome="failed",pos="` + pos + `"} 0`,
			`posagent_commands_total{command="sale",outcome="rejected",pos="` + pos + `"} 0`,
			`posagent_commands_total{command="sale",outcome="created",pos="` + pos + `"} 0`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("missing %s", want)
			}
		}
	}
	for _, check := range []string{"api", "api_token", "storage", "consumers", "nats"} {
		if !strings.Contains(body, `posagent_check_failing{check="`+check+`"}`) {
			t.Errorf("no posagent_check_failing for %s", check)
		}
	}
}
