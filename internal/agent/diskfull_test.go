package agent

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/smalldisk"
)

// diskFullHarness runs an agent whose NATS store is on a small disk of
// its own, with limits that fit it.
func diskFullHarness(t *testing.T) (string, *harness) {
	disk := smalldisk.Mount(t, "48m")
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.NATS.Embedded.StoreDir = filepath.Join(disk, "nats")
		c.NATS.Embedded.MaxStore = 40 << 20
		c.NATS.EventsMaxBytes, c.NATS.CommandsMaxBytes, c.NATS.RecordsMaxBytes = 4<<20, 2<<20, 4<<20
	}))
	return disk, h
}

// TestDiskFullRecovers: the NATS store's filesystem fills up; the agent
// reports storage, repeats no effect, and goes on by itself once space
// returns.
func TestDiskFullRecovers(t *testing.T) {
	disk, h := diskFullHarness(t)
	h.send("POS1", "sale", `{"sale_id":"df0","total_amount":"1.00"}`)
	h.waitSale("df0", "created")
	h.settled("POS1")
	free := smalldisk.Fill(t, disk)
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
	disk, h := diskFullHarness(t)
	h.send("POS1", "sale", `{"sale_id":"dc0","total_amount":"1.00"}`)
	h.waitSale("dc0", "created")
	h.settled("POS1")
	free := smalldisk.Fill(t, disk)

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
	if n := strings.Count(h.logBuf.String(), reloadingJetStream); n != 0 {
		t.Fatalf("JetStream reloaded %d times while the disk was full", n)
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
	if n := strings.Count(h.logBuf.String(), reloadingJetStream); n < 1 || n > 2 {
		t.Fatalf("JetStream reloaded %d times for one full disk", n)
	}
}

// TestStorageRefusedUntilReload: a part the server reports in its
// write-error state stays reported whatever other writes show, counts as
// stuck at once, and is forgotten by a reload together with the agent's
// unanswered writes; a refusal for a limit is not.
func TestStorageRefusedUntilReload(t *testing.T) {
	h := newHealth(time.Second, time.Now)
	h.storageResult("events", errors.New("maximum bytes exceeded"))
	h.storageResult("records", errors.New("no answer from JetStream"))
	h.storageRefused("commands", "no space left on device")
	h.storageResult("commands", nil) // a write that succeeded before the error
	if !h.storageStuck(time.Hour) {
		t.Error("a part the server reported is not stuck")
	}
	want := "refusing writes (commands): no space left on device; refusing writes (events): maximum bytes exceeded; refusing writes (records): no answer from JetStream"
	if got := h.report().Checks["storage"]; got != want {
		t.Errorf("storage = %q, want %q", got, want)
	}
	h.storageReloaded()
	if h.storageStuck(0) {
		t.Error("stuck after the reload")
	}
	if got, want := h.report().Checks["storage"], "refusing writes (events): maximum bytes exceeded"; got != want {
		t.Errorf("after the reload storage = %q, want %q", got, want)
	}
}
