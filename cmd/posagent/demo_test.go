package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	// The demo keeps its state in a temporary directory and removes it.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	r := runCLI(t, ctx, "demo", "-pay-after", "100ms")
	if r.code != exitOK {
		t.Fatalf("want exit 0\n%s", r)
	}
	for _, want := range []string{
		`(?m)^\* register -> pos\.DEMO\.DEMOPOS1\.cmd\.sale: sale (demo-\S+) for 1234\.50$`,
		`(?m)^\* agent -> register: \S+  created   sale demo-\S+  order ORD\w+  amount 1234\.50`,
		`(?m)^\* agent -> register: \S+  processed sale demo-\S+  order ORD\w+  amount 1234\.50`,
		`(?m)^\* customer display in a browser: http://127\.0\.0\.1:\d+/display/DEMOPOS1$`,
		`(?m)^\* demo finished$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("stdout does not match %s\n%s", want, r)
		}
	}
	// Without -keep the agent is gone when the demo ends: no hint to try it.
	if strings.Contains(r.stdout, "curl") || strings.Contains(r.stdout, "Try:") {
		t.Errorf("the demo suggests trying an agent that has already stopped\n%s", r)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Errorf("the demo left %v in its temporary directory (%v)", left, err)
	}
}

func TestDemoStopsWhenInterrupted(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	b := startCLI(ctx, "demo", "-keep", "-pay-after", "10ms")
	b.stdout.waitFor(t, regexp.MustCompile(`(?m)^\* still running; Ctrl-C to stop$`), b.done)
	// With -keep the hints work: the agent, its NATS and the simulator stay up.
	for _, want := range []string{`curl http://127\.0\.0\.1:\d+/healthz`, `curl -X POST http://127\.0\.0\.1:\d+/simulator/orders/ORDER_ID/pay`} {
		if !regexp.MustCompile(want).MatchString(b.stdout.String()) {
			t.Errorf("no hint matching %s:\n%s", want, b.stdout.String())
		}
	}
	cancel()
	if r := b.wait(t); r.code != exitOK {
		t.Errorf("want exit 0 on interrupt\n%s", r)
	}
}
