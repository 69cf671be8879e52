package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
)

// smallDisk mounts a tmpfs of size (e.g. "24m") for the test and removes it
// afterwards; it skips the test where mounting is not allowed.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk writes a file in dir until the filesystem is full; removing it
// gives the space back.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// Fill the last bytes too.
	for n := 4096; n > 0; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDiskFullRecovers: the NATS store's filesystem fills up; the agent
// reports storage, repeats no effect, and goes on by itself once space
// returns.
//
// Not under the race detector: restarting JetStream inside a running
// nats-server (v2.15.2) trips it in the server's own code (the API queue is
// replaced while a request in flight reads it). CI runs this test without
// -race in a step of its own.
func TestDiskFullRecovers(t *testing.T) {
	if raceEnabled {
		t.Skip("restarting JetStream in-process races inside nats-server; run without -race")
	}
	disk := smallDisk(t, "48m")
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.NATS.Embedded.StoreDir = filepath.Join(disk, "nats")
		c.NATS.Embedded.MaxStore = 40 << 20
		c.NATS.EventsMaxBytes, c.NATS.CommandsMaxBytes, c.NATS.RecordsMaxBytes = 4<<20, 2<<20, 4<<20
	}))
	h.send("POS1", "sale", `{"sale_id":"df0","total_amount":"1.00"}`)
	h.waitSale("df0", "created")
	h.settled("POS1")
	free := fillDisk(t, disk)
	h.send("POS1", "sale", `{"sale_id":"df1","total_amount":"2.00"}`)
	h.waitChecks("reports storage", func(r healthReport) bool { return strings.HasPrefix(r.Checks["storage"], "refusing writes") })
	t.Logf("health while full: %+v", h.agent.health.report())
	free()
	h.waitSale("df1", "created")
	h.waitChecks("recovers", func(r healthReport) bool { return r.Status == "ok" })
	if n := h.live("df1", "created"); n != 1 {
		t.Fatalf("%d live created events", n)
	}
	h.send("POS1", "cancel", `{"sale_id":"df1"}`)
	h.waitSale("df1", "canceled")
}

// TestDiskFullCommandsRecover: the disk fills while only registers write
// (the command stream: their publishes, the agent's acknowledgements).
// The agent reports the command stream refusing writes, and once space
// returns it revives it without a restart: a register's publish is
// acknowledged again and a sale goes through end to end.
func TestDiskFullCommandsRecover(t *testing.T) {
	if raceEnabled {
		t.Skip("restarting JetStream in-process races inside nats-server; run without -race")
	}
	disk := smallDisk(t, "48m")
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.NATS.Embedded.StoreDir = filepath.Join(disk, "nats")
		c.NATS.Embedded.MaxStore = 40 << 20
		c.NATS.EventsMaxBytes, c.NATS.CommandsMaxBytes, c.NATS.RecordsMaxBytes = 4<<20, 2<<20, 4<<20
	}))
	h.send("POS1", "sale", `{"sale_id":"dc0","total_amount":"1.00"}`)
	h.waitSale("dc0", "created")
	h.settled("POS1")
	free := fillDisk(t, disk)

	// Display commands touch neither the API nor the sale records: only
	// the command stream is written (and the events stream, by their
	// answers). Registers publish until the stream refuses one.
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := h.rc.Send(ctx, "POS3", "display", []byte(`{"message":"disk full test"}`))
		cancel()
		if err != nil {
			t.Logf("register's publish refused: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command stream kept accepting commands on a full disk\nlog:\n%s", h.logBuf.String())
		}
	}
	h.waitChecks("reports the command stream", func(r healthReport) bool {
		return strings.Contains(r.Checks["storage"], "refusing writes (commands)")
	})
	if code, body := h.get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "refusing writes (commands)") {
		t.Fatalf("/healthz while full: %d %s", code, body)
	}
	free()

	// A register retries its command until it is acknowledged.
	var seq uint64
	deadline = time.Now().Add(wait)
	for seq == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := h.rc.Send(ctx, "POS1", "sale", []byte(`{"sale_id":"dc1","total_amount":"2.00"}`))
		cancel()
		switch {
		case err == nil:
			seq = s
		case time.Now().After(deadline):
			t.Fatalf("no register's publish acknowledged after space returned: %v\nlog:\n%s", err, h.logBuf.String())
		}
	}
	created := h.waitSale("dc1", "created").Event
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("dc1", "processed")
	h.waitChecks("recovers", func(r healthReport) bool { return r.Status == "ok" })
	if code, body := h.get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after recovery: %d %s", code, body)
	}
	if n := h.live("dc1", "created"); n != 1 {
		t.Fatalf("%d live created events", n)
	}
}
