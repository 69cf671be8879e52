package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/agent"
	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/fleet"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
	"github.com/posagent/posagent/internal/secret"
)

const wait = 60 * time.Second

// startNATS runs the one NATS server every agent of a test shares. Each
// agent's sale bucket reserves 64 MiB of JetStream storage (not disk
// actually used), hence the large max_store.
func startNATS(t testing.TB) *embeddednats.Server {
	t.Helper()
	s, err := embeddednats.Start(embeddednats.Options{Listen: "127.0.0.1:-1", StoreDir: filepath.Join(t.TempDir(), "nats"),
		MaxMemory: 64 << 20, MaxStore: 8 << 30, Sync: "10s", ServerName: "fleet-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// fleetOf runs n real agents, stores F001..Fnnn, against the simulator and
// one NATS server. Store i serves POS "F<i>P1", and the first `two` stores
// a second POS "F<i>P2" too; store F001's first POS has a file printer.
func fleetOf(t testing.TB, natsURL string, sim *qrordertest.Simulator, n, two int) []*agent.Agent {
	t.Helper()
	agents := make([]*agent.Agent, n)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for i := range n {
		store := fmt.Sprintf("F%03d", i+1)
		cfg := config.Default()
		cfg.StoreID, cfg.StoreName, cfg.NATS.Name = store, "Store "+store, "posagent-"+store
		cfg.NATS.URL = natsURL
		cfg.MercadoPago.BaseURL = sim.URL()
		cfg.MercadoPago.PollInterval = time.Second
		cfg.StateDir = t.TempDir()
		base := cfg.POS[0]
		base.Displays = nil
		p1 := base
		p1.ExternalPOSID = store + "P1"
		cfg.POS = []config.POS{p1}
		if i < two {
			p2 := base
			p2.ExternalPOSID = store + "P2"
			cfg.POS = append(cfg.POS, p2)
		}
		if i == 0 {
			cfg.POS[0].Printer = &config.Printer{Transport: "file", Device: filepath.Join(cfg.StateDir, "receipts.bin"),
				Baud: 9600, FlowControl: "none", WriteTimeout: 5 * time.Second, Profile: "generic58", QR: "auto", MaxModuleDots: 5}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Options{Config: cfg, Token: secret.New(qrordertest.DefaultToken), HTTPListener: ln,
			Logger: slog.New(slog.DiscardHandler), ShutdownGrace: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		agents[i] = a
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Run(ctx); err != nil {
				errc <- fmt.Errorf("agent %s: %w", store, err)
			}
		}()
	}
	deadline := time.After(wait)
	for i, a := range agents {
		select {
		case <-a.Ready():
		case err := <-errc:
			t.Fatal(err)
		case <-deadline:
			t.Fatalf("agent %d of %d not ready within %s", i+1, n, wait)
		}
	}
	return agents
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestFleetOfFiftyAgents runs 50 real agents (55 POS) on one NATS server
// and lists them all, with a sale in progress on one POS.
func TestFleetOfFiftyAgents(t *testing.T) {
	const n, two = 50, 5
	ns := startNATS(t)
	sim := qrordertest.NewServer(t, qrordertest.Options{})
	began := time.Now()
	fleetOf(t, ns.ClientURL(), sim, n, two)
	t.Logf("%d agents ready in %s", n, time.Since(began).Round(time.Millisecond))
	nc := connect(t, ns.ClientURL())

	// A sale awaits payment on F007P1.
	rc, err := register.New(nc, "pos", "F007")
	if err != nil {
		t.Fatal(err)
	}
	evs, stop, err := rc.Watch("F007P1")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := rc.Send(ctx, "F007P1", "sale", []byte(`{"sale_id":"fleet-1","total_amount":"250.00"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := register.Follow(ctx, evs, "fleet-1", 0, func(r register.Received) bool { return r.Event.Status == "created" }, nil); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	rows := map[string]fleet.Row{}
	began = time.Now()
	sum, err := fleet.Collect(ctx, nc, fleet.Options{Timeout: wait, Quiet: -1, Expect: n, Concurrency: 8}, func(r fleet.Row) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := rows[r.POS]; dup {
			t.Errorf("POS %s listed twice", r.POS)
		}
		rows[r.POS] = r
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("collected %+v in %s", sum, time.Since(began).Round(time.Millisecond))
	if sum != (fleet.Summary{Agents: n, POS: n + two, Failed: 0}) || len(rows) != n+two {
		t.Fatalf("summary %+v, %d rows", sum, len(rows))
	}
	for i := range n {
		store := fmt.Sprintf("F%03d", i+1)
		r, ok := rows[store+"P1"]
		if !ok || r.Err != nil || r.Status == nil || r.Agent.StoreID != store || r.Agent.StoreName != "Store "+store ||
			r.Agent.Version == "" || r.Agent.Started.IsZero() || r.Subject != "pos."+store+"."+store+"P1.status" {
			t.Fatalf("row of %sP1: %+v", store, r)
		}
		if _, ok := rows[store+"P2"]; ok != (i < two) {
			t.Errorf("%sP2 listed: %v", store, ok)
		}
	}
	if st := rows["F007P1"].Status; st.State != "awaiting_payment" || st.SaleID != "fleet-1" || st.TotalAmount != "250.00" ||
		st.LastEvent == nil || st.LastEvent.Status != "created" {
		t.Fatalf("F007P1 %+v", st)
	}
	if st := rows["F001P1"].Status; st.Printer == "" || st.State != "idle" {
		t.Fatalf("F001P1 printer %+v", st)
	}
	if st := rows["F002P1"].Status; st.Printer != "" {
		t.Fatalf("F002P1 has no printer: %+v", st)
	}

	// Filtered to one store, as `posagent status` asks.
	var one []fleet.Row
	sum, err = fleet.Collect(ctx, nc, fleet.Options{Timeout: wait, Quiet: -1, Expect: 1, StoreID: "F003"}, func(r fleet.Row) { one = append(one, r) })
	if err != nil || sum.Agents != 1 || len(one) != 2 || one[0].Agent.StoreID != "F003" || one[1].Agent.StoreID != "F003" {
		t.Fatalf("store F003: %+v %v %+v", sum, err, one)
	}
}
