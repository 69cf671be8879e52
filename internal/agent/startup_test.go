package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/secret"
)

// TestStartUpFailureLeavesNothingRunning: the likeliest start-up failure,
// the HTTP port already taken, stops the agent with one error naming the
// part, and everything it started (embedded NATS, displays, printers,
// sessions, pollers) is stopped and waited for: no goroutine and no open
// file is left behind, and Ready never fires.
func TestStartUpFailureLeavesNothingRunning(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	sim := qrordertest.NewServer(t, qrordertest.Options{POS: []string{"POS1"}})
	dir := t.TempDir()
	cfg := config.Default()
	cfg.StoreID = "S1"
	cfg.MercadoPago.BaseURL = sim.URL()
	cfg.StateDir = dir
	cfg.NATS.Embedded.StoreDir = filepath.Join(dir, "nats")
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.NATS.Embedded.Sync = "1s"
	cfg.HTTP.Listen = taken.Addr().String()
	cfg.POS[0].ExternalPOSID = "POS1"
	cfg.POS[0].Displays = []config.Display{{Type: "terminal", ECC: "M"}, {Type: "png", Path: filepath.Join(dir, "qr.png"), ECC: "M"}}
	p := config.Printer{Transport: "file", Device: filepath.Join(dir, "receipts.bin")}
	cfg.POS[0].Printer = &p

	goroutines, files := runtime.NumGoroutine(), openFiles(t)
	a, err := New(Options{Config: cfg, Token: secret.New(qrordertest.DefaultToken), Logger: slog.New(slog.DiscardHandler),
		Terminal: io.Discard, PlainTerminal: true})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(context.Background()) }()
	select {
	case err = <-runErr:
	case <-time.After(wait):
		t.Fatal("Run did not return with the HTTP port taken")
	}
	if err == nil || !strings.Contains(err.Error(), "http.listen "+cfg.HTTP.Listen) {
		t.Fatalf("Run: %v; want an error naming http.listen %s", err, cfg.HTTP.Listen)
	}
	select {
	case <-a.Ready():
		t.Fatal("Ready fired for an agent that never ran")
	default:
	}
	waitFor(t, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= goroutines }, func() string {
		buf := make([]byte, 1<<20)
		return string(buf[:runtime.Stack(buf, true)])
	})
	waitFor(t, "open files back to where they were", func() bool { return openFiles(t) <= files }, func() string {
		return strings.Join(fdTargets(t), "\n")
	})
}

// waitFor checks cond until it holds or the deadline passes (what the
// runtime and the kernel release after Run returns takes a moment), then
// fails with what explain says.
func waitFor(t *testing.T, what string, cond func() bool, explain func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s\n%s", what, wait, explain())
		}
		<-tick.C
	}
}

func openFiles(t *testing.T) int { return len(fdTargets(t)) }

func fdTargets(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd here: %v", err)
	}
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		out = append(out, e.Name()+" -> "+target)
	}
	return out
}
