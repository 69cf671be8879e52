package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// commandConsumer reads the POS's command consumer as the server has it.
func commandConsumer(t *testing.T, nc *nats.Conn, pos string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := js.Consumer(ctx, "POS_CMD", "posagent_S1_"+pos)
	if err != nil {
		t.Fatal(err)
	}
	return c.CachedInfo()
}

// TestCommandConsumerStateNotOnDisk: the command consumer's state is kept
// in the server's memory: on disk, with sync: always, it cost up to four
// synced writes per command (its state file, O_SYNC, and its directory,
// at delivery and at acknowledgement). A restart of the embedded server
// loses the consumer; the agent makes it again and sells on.
func TestCommandConsumerStateNotOnDisk(t *testing.T) {
	h := newHarness(t)
	h.sellPaid(1)
	if info := commandConsumer(t, h.agentConn(), "POS1"); !info.Config.MemoryStorage {
		t.Errorf("the command consumer keeps its state on disk: %+v", info.Config)
	}
	obs := filepath.Join(h.streamDir("POS_CMD"), "obs", "posagent_S1_POS1")
	if _, err := os.Stat(obs); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v, want no consumer files", obs, err)
	}
	h.restart()
	h.send("POS1", "sale", `{"sale_id":"after","total_amount":"3.00"}`)
	h.waitSale("after", "created")
}

// TestEarlierDiskConsumerReplaced: a store an earlier version ran has a
// command consumer on disk, and a command waiting in the stream that it
// never delivered. The agent replaces the consumer (the server cannot
// change its storage) and the waiting command is handled.
func TestEarlierDiskConsumerReplaced(t *testing.T) {
	h := newHarness(t, withExternalNATS())
	h.stop()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	js, err := jetstream.New(h.nc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := commandConsumer(t, h.nc, "POS1").Config
	if err := js.DeleteConsumer(ctx, "POS_CMD", cfg.Durable); err != nil {
		t.Fatal(err)
	}
	cfg.MemoryStorage = false
	if _, err := js.CreateConsumer(ctx, "POS_CMD", cfg); err != nil {
		t.Fatal(err)
	}
	h.send("POS1", "sale", `{"sale_id":"waiting","total_amount":"4.00"}`)
	h.start()
	h.waitSale("waiting", "created")
	if info := commandConsumer(t, h.nc, "POS1"); !info.Config.MemoryStorage {
		t.Errorf("the earlier consumer was kept: %+v", info.Config)
	}
	if n := len(h.sim.OrdersByExternalReference("waiting")); n != 1 {
		t.Errorf("%d orders for the waiting sale, want 1", n)
	}
}

// diskConsumer gives the stopped agent's store the command consumer of pos
// as an earlier version made it: its state kept on disk.
func diskConsumer(t *testing.T, storeDir, pos string) {
	t.Helper()
	ns := runNATS(t, storeDir)
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err = js.CreateConsumer(ctx, "POS_CMD", jetstream.ConsumerConfig{
		Durable: "posagent_S1_" + pos, FilterSubject: "pos.S1." + pos + ".cmd.>", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 5 * time.Second, MaxDeliver: -1, MaxAckPending: 1, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommandConsumerAsContracted: each POS's durable consumer is the
// contract's: explicit ack, ack wait 30 s (kept alive with in-progress
// acks), unlimited deliveries, one command unacknowledged at a time.
func TestCommandConsumerAsContracted(t *testing.T) {
	h := newHarness(t)
	h.sellPaid(1)
	c := commandConsumer(t, h.agentConn(), "POS1").Config
	if c.Durable != "posagent_S1_POS1" || c.AckPolicy != jetstream.AckExplicitPolicy || c.AckWait != 30*time.Second ||
		c.MaxDeliver != -1 || c.MaxAckPending != 1 {
		t.Errorf("consumer: durable %q, ack %v, ack wait %s, max deliver %d, max ack pending %d; want posagent_S1_POS1, explicit, 30s, -1, 1",
			c.Durable, c.AckPolicy, c.AckWait, c.MaxDeliver, c.MaxAckPending)
	}
}
