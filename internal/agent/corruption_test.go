package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/register"
)

// Corruption of the state directory (issue #14): with the agent stopped,
// one kind of file under the JetStream store is truncated, zeroed or has
// bytes flipped, as an SD card does after a bad power cut. The agent must
// start, say what it lost, keep selling, and never make a second order
// for a sale it already made one for.

// damage is one way to hurt a file.
type damage struct {
	name string
	do   func(path string) error
}

var (
	truncateHalf = damage{"truncate to half", func(p string) error {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Truncate(p, fi.Size()/2)
	}}
	zeroHead = damage{"zero the first 4 KiB", func(p string) error {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		_, err = f.WriteAt(make([]byte, min(4096, fi.Size())), 0)
		return err
	}}
	flipBytes = damage{"flip bytes", func(p string) error {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i := len(b) / 3; i < len(b); i += max(1, len(b)/7) {
			b[i] ^= 0x5a
		}
		return os.WriteFile(p, b, 0o600)
	}}
	remove = damage{"delete", os.Remove}
)

// streamDir is where the embedded server keeps a stream's files.
func (h *harness) streamDir(stream string) string {
	return filepath.Join(h.cfg.NATS.Embedded.StoreDir, "jetstream", "$G", "streams", stream)
}

// sellPaid rings up sales c1..cN on POS1, each paid.
func (h *harness) sellPaid(n int) {
	h.t.Helper()
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("c%d", i)
		h.send("POS1", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"%d.00"}`, id, 10+i))
		created := h.waitSale(id, "created").Event
		if err := h.sim.Pay(created.OrderID); err != nil {
			h.t.Fatal(err)
		}
		h.waitSale(id, "processed")
	}
}

func TestCorruptStateDirectory(t *testing.T) {
	cases := []struct {
		stream, file string // file relative to the stream's directory
		damage       damage
		reported     bool // records were lost: the report and /healthz must say so
	}{
		// Issue #14: half the records' block gone made resent sales get
		// a fresh created event (a second order past the API's
		// idempotency window); a zeroed head made every sale hang.
		{"KV_posagent_S1", "msgs/1.blk", truncateHalf, true},
		{"KV_posagent_S1", "msgs/1.blk", zeroHead, true},
		{"KV_posagent_S1", "msgs/1.blk", flipBytes, true},
		{"KV_posagent_S1", "msgs/index.db", remove, false},
		{"KV_posagent_S1", "msgs/index.db", flipBytes, false},
		{"KV_posagent_S1", "meta.inf", flipBytes, false},
		{"KV_posagent_S1", "meta.sum", remove, false},
		{"POS_EVT", "msgs/1.blk", truncateHalf, false},
		{"POS_EVT", "msgs/1.blk", zeroHead, false},
		{"POS_EVT", "meta.inf", flipBytes, false},
		{"POS_CMD", "msgs/*.blk", zeroHead, false},
		// The command consumers keep no files; a store an earlier
		// version ran has them (diskConsumer), and they can be damaged.
		{"POS_CMD", "obs/posagent_S1_POS1/o.dat", flipBytes, false},
		{"POS_CMD", "obs/posagent_S1_POS1/meta.inf", truncateHalf, false},
	}
	for _, c := range cases {
		t.Run(strings.NewReplacer("/", "_", " ", "_").Replace(c.stream+"/"+c.file+"/"+c.damage.name), func(t *testing.T) {
			// A size other than the default: a bucket remade after the
			// damage must keep it (it was once remade with the TTL only).
			h := newHarness(t, withConfig(func(c *config.Config) { c.NATS.RecordsMaxBytes = 24 << 20 }))
			h.sellPaid(5)
			h.stop()
			if strings.HasPrefix(c.file, "obs/") {
				diskConsumer(t, h.cfg.NATS.Embedded.StoreDir, "POS1")
			}
			p := filepath.Join(h.streamDir(c.stream), c.file)
			if strings.HasSuffix(c.file, "*.blk") {
				blks, _ := filepath.Glob(p)
				if len(blks) == 0 {
					t.Fatalf("no message block %s", p)
				}
				p = blks[len(blks)-1]
			}
			if err := c.damage.do(p); err != nil {
				t.Fatalf("damaging %s: %v", p, err)
			}
			h.start()
			// Every earlier sale resent: answered from what the agent
			// remembers or rebuilt, never with a new order.
			for i := 1; i <= 5; i++ {
				id := fmt.Sprintf("c%d", i)
				before := h.eventCount()
				seq := h.send("POS1", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"%d.00"}`, id, 10+i))
				ev := h.waitEventFrom(before, id+" answered", func(r register.Received) bool {
					return r.Event.SaleID == id && (r.Event.Replay || r.CommandSeq() == seq || r.Event.Status == "created")
				}).Event
				// processed, replayed. Or created: the agent stopped
				// between publishing processed and recording it, and the
				// damage took that event; replayed from the sale's record,
				// or, when the sale had no record of its own yet (the
				// events stream held it, and lost it), its create redone
				// with the same key, which finds the same order (one
				// order per sale: checked below).
				switch {
				case ev.Replay && ev.Status == "processed":
				case ev.Status == "created":
				default:
					t.Errorf("sale %s resent after the damage: %s (replay %v), want its latest event replayed", id, ev.Status, ev.Replay)
				}
			}
			h.checkRecordsMaxBytes(24 << 20)
			// A new sale sells.
			h.send("POS1", "sale", `{"sale_id":"after","total_amount":"99.00"}`)
			created := h.waitSale("after", "created").Event
			if err := h.sim.Pay(created.OrderID); err != nil {
				t.Fatal(err)
			}
			h.waitSale("after", "processed")
			for i := 1; i <= 5; i++ {
				id := fmt.Sprintf("c%d", i)
				if n := len(h.sim.OrdersByExternalReference(id)); n != 1 {
					t.Errorf("sale %s: %d orders at the API, want 1", id, n)
				}
			}
			code, body := h.get("/healthz")
			if code != 200 {
				t.Errorf("/healthz after recovery: %d %s", code, body)
			}
			if c.reported && !strings.Contains(body, `"store":"damaged`) {
				t.Errorf("/healthz does not report the lost records: %s", body)
			}
			if b, err := os.ReadFile(filepath.Join(h.cfg.StateDir, storeReportFile)); err == nil {
				t.Logf("report: %s", b)
				// Every POS's records were checked against the events.
				var rep struct{ Checks []storeFinding }
				if err := json.Unmarshal(b, &rep); err != nil {
					t.Fatal(err)
				}
				for _, c := range rep.Checks {
					for _, n := range c.Notes {
						if strings.HasPrefix(n, "rebuilding records of") {
							t.Errorf("the start-up check did not finish checking the sale records: %s", n)
						}
					}
				}
			}
			if c.reported {
				rep := filepath.Join(h.cfg.StateDir, storeReportFile)
				if err := os.Remove(rep); err != nil {
					t.Fatalf("acknowledging: %v", err)
				}
				if _, body := h.get("/healthz"); strings.Contains(body, `"store"`) {
					t.Errorf("/healthz after the report was deleted: %s", body)
				}
			}
			t.Logf("/healthz: %s", body)
			h.stop()
		})
	}
}

// checkRecordsMaxBytes fails the test unless the sale records' stream is
// limited to want bytes.
func (h *harness) checkRecordsMaxBytes(want int64) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	js, err := jetstream.New(h.agentConn())
	if err != nil {
		h.t.Fatal(err)
	}
	st, err := js.Stream(ctx, "KV_"+saleBucket(h.cfg.StoreID))
	if err != nil {
		h.t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxBytes; got != want {
		h.t.Errorf("sale records stream MaxBytes %d, want %d (nats.records_max_bytes)", got, want)
	}
}
