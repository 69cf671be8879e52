//go:build soak

package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/subject"
)

// world is everything a soak run has running: the NATS server, the
// Orders API simulator, the pty printers, the agent process, and the
// registers' NATS connection with its event hub.
type world struct {
	t        *testing.T
	sz       size
	began    time.Time
	dirs     map[string]string
	pos      []*posPlan
	nats     *natsServer
	sim      *qrordertest.Simulator
	printers map[string]*ptyPrinter
	agent    *agentProc
	js       jetstream.JetStream
	hub      *hub
	pub      *publisher
}

// newWorldDirs is a world with its run directories made: under a temporary
// directory, or kept under -soak.keep as <prefix>-<seed>-*; root is their
// parent, for the run's other files.
func newWorldDirs(t *testing.T, sz size, prefix string, dirs ...string) (w *world, root string) {
	w = &world{t: t, sz: sz, began: time.Now(), dirs: map[string]string{}, printers: map[string]*ptyPrinter{}}
	root = t.TempDir()
	if sz.keep != "" {
		if err := os.MkdirAll(sz.keep, 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if root, err = os.MkdirTemp(sz.keep, fmt.Sprintf("%s-%d-", prefix, sz.seed)); err != nil {
			t.Fatal(err)
		}
		t.Logf("run files kept in %s", root)
	}
	for _, d := range dirs {
		w.dirs[d] = filepath.Join(root, d)
		if err := os.MkdirAll(w.dirs[d], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return w, root
}

// newWorld builds the agent and starts everything, ready for sales.
func newWorld(t *testing.T, sz size) *world {
	w, root := newWorldDirs(t, sz, "soak", "bin", "logs", "nats", "state", "printers")
	bctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	bin, err := buildAgent(bctx, w.dirs["bin"], sz.race)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if w.nats, err = startNATS(w.dirs["nats"]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.nats.stop)

	w.pos = posPlans(sz.pos)
	var ids []string
	for _, p := range w.pos {
		ids = append(ids, p.ID)
	}
	w.sim = qrordertest.New(qrordertest.Options{POS: ids, Latency: latency(sz.seed)})
	simURL := serveSimulator(t, w.sim)
	if sz.printerChaos && len(w.pos) >= 2 {
		w.plugPrinters(w.pos[:2])
	}
	cfgPath := filepath.Join(root, "posagent.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML(w.pos, w.nats.URL(), simURL, w.dirs, w.printers)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "config", "check", "-config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("posagent config check: %v\n%s", err, out)
	} else if len(out) > 0 {
		t.Logf("config check:\n%s", out)
	}

	w.agent = &agentProc{bin: bin, cfgPath: cfgPath, logDir: w.dirs["logs"],
		env: append(os.Environ(), "POSAGENT_MP_ACCESS_TOKEN="+token)}
	if err := w.agent.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.agent.stop(sctx)
	})
	rctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	err = w.agent.waitReady(rctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	w.connectRegisters(ids)
	return w
}

// plugPrinters serves the POS's printers from pseudo-terminals; without
// them (a container without /dev/ptmx) every POS prints to a file.
func (w *world) plugPrinters(pos []*posPlan) {
	for _, p := range pos {
		pp, err := newPTYPrinter(w.dirs["printers"], p.ID)
		if err != nil {
			w.t.Logf("no pseudo-terminal here (%v): printer chaos skipped, every POS prints to a file", err)
			for _, pp := range w.printers {
				pp.close()
			}
			clear(w.printers)
			return
		}
		w.t.Cleanup(pp.close)
		w.printers[p.ID] = pp
	}
}

// connectRegisters opens the registers' side: one connection for the
// store, as a register gateway would have, hearing events live and
// following the events stream.
func (w *world) connectRegisters(ids []string) {
	t := w.t
	cw := newConnWatch()
	nc, err := nats.Connect(w.nats.URL(), append(cw.options(), nats.Name("soak-registers"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if w.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	w.pub = &publisher{js: w.js, conn: cw, stream: cmdSt}
	w.hub = newHub(ids)
	if err := w.hub.subscribe(nc, prefix+"."+store+".*.evt.>"); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.hub.follow(ctx, w.js, evtSt) }()
	t.Cleanup(func() { stop(); wg.Wait() })
}

// runSales rings up every sale, one register per POS, while chaos
// strikes; it returns when every register is done and chaos has stopped.
func (w *world) runSales() ([]*saleResult, *chaos) {
	ctx, sz := w.t.Context(), w.sz
	plans := planSales(rand.New(rand.NewPCG(sz.seed, 1)), w.pos, sz.sales)
	prog := newProgress()
	results := make(chan *saleResult, sz.sales)
	var regWG sync.WaitGroup
	for i, p := range w.pos {
		r := &register{pos: p, pub: w.pub, log: w.hub.logs[p.ID], sim: w.sim, silent: 45 * time.Second, giveUp: 5 * time.Minute, progress: prog,
			subject: func(verb string) string { return subject.Command(prefix, store, p.ID, verb) }}
		regWG.Add(1)
		go func() { defer regWG.Done(); r.run(ctx, plans[i], results) }()
	}

	ch := &chaos{agent: w.agent, nats: w.nats, sim: w.sim, progress: prog, logf: w.t.Logf, counts: map[string]int{}, start: w.began}
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaosWG sync.WaitGroup
	strikes := planStrikes(rand.New(rand.NewPCG(sz.seed, 2)), sz.sales, sz.kills, sz.natsRestarts, sz.outages)
	chaosWG.Add(3)
	go func() { defer chaosWG.Done(); ch.runStrikes(chaosCtx, rand.New(rand.NewPCG(sz.seed, 3)), strikes) }()
	go func() { defer chaosWG.Done(); ch.runFaults(chaosCtx, rand.New(rand.NewPCG(sz.seed, 4))) }()
	go func() { defer chaosWG.Done(); ch.runPrinters(chaosCtx, rand.New(rand.NewPCG(sz.seed, 5)), w.printers) }()

	regWG.Wait()
	close(results)
	stopChaos()
	chaosWG.Wait()
	w.sim.ClearFaults()
	for _, pp := range w.printers {
		pp.heal()
	}
	var res []*saleResult
	for r := range results {
		res = append(res, r)
	}
	return res, ch
}

// settle lets the agent (restarted by the last kill, maybe) finish what
// is open: every sale sent must reach a stored final event, and no order
// may stay open at the API.
func (w *world) settle(res []*saleResult) error {
	ctx, cancel := context.WithTimeout(w.t.Context(), 3*time.Minute)
	defer cancel()
	if err := w.agent.waitReady(ctx); err != nil {
		return err
	}
	err := w.hub.waitStored(ctx, func(finals map[string]int) bool {
		for _, r := range res {
			if !r.NotSent && finals[r.Plan.ID] == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("waiting for every sale's final event: %w", err)
	}
	err = w.sim.Wait(ctx, func() bool {
		for _, o := range w.sim.Orders() {
			if o.Status == "created" {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("waiting for no open order at the API: %w", err)
	}
	return nil
}

// posPlans names the POS: dynamic ones, and when there are at least
// three, one static and one hybrid (both with the fixed QR sticker) last.
func posPlans(n int) []*posPlan {
	out := make([]*posPlan, n)
	for i := range n {
		out[i] = &posPlan{ID: fmt.Sprintf("SOAK%02d", i+1), Mode: "dynamic"}
	}
	if n >= 3 {
		out[n-2].Mode, out[n-2].Prefix = "static", "ST-"
		out[n-1].Mode, out[n-1].Prefix = "hybrid", "HY-"
	}
	return out
}

func configYAML(pos []*posPlan, natsURL, simURL string, dirs map[string]string, printers map[string]*ptyPrinter) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# written by the soak test
store_id: %s
store_name: "Soak Test"
locale: es-AR
mercadopago:
  base_url: %s
  access_token_file: ""
  request_timeout: 1s
  retry_budget: 5s
  poll_interval: 100ms
nats:
  url: %s
  subject_prefix: %s
  streams: {commands: %s, events: %s}
http:
  listen: 127.0.0.1:0
state_dir: %s
pos:
`, store, simURL, natsURL, prefix, cmdSt, evtSt, dirs["state"])
	for _, p := range pos {
		fmt.Fprintf(&b, "  - external_pos_id: %s\n    mode: %s\n", p.ID, p.Mode)
		if p.Mode != "dynamic" {
			fmt.Fprintf(&b, "    static_qr_data: %q\n", staticQR)
		}
		if p.Prefix != "" {
			fmt.Fprintf(&b, "    external_reference_prefix: %q\n", p.Prefix)
		}
		if pp := printers[p.ID]; pp != nil {
			fmt.Fprintf(&b, "    printer: {transport: serial, device: %q, baud: 115200, write_timeout: 2s, profile: epson}\n", pp.link)
		} else {
			fmt.Fprintf(&b, "    printer: {transport: file, device: %q, profile: epson}\n", filepath.Join(dirs["printers"], p.ID+".bin"))
		}
	}
	return b.String()
}

// serveSimulator serves sim on a loopback port for the test's duration.
func serveSimulator(t *testing.T, sim *qrordertest.Simulator) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("simulator: %v", err)
		}
	}()
	t.Cleanup(func() {
		sim.Close()
		_ = srv.Close()
	})
	return "http://" + ln.Addr().String()
}

// waitHealthy asks the agent's /healthz until it answers 200, for at most
// 30 s, and returns the last answer (0: no answer). An endpoint of another
// process can only be asked again: the asking is paced, and the deadline,
// not the pace, bounds the wait.
func waitHealthy(ctx context.Context, addr string) int {
	if addr == "" {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := &http.Client{Timeout: 5 * time.Second}
	code := 0
	for ctx.Err() == nil {
		resp, err := c.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if code = resp.StatusCode; code == http.StatusOK {
				return code
			}
		}
		pace(ctx, 250*time.Millisecond)
	}
	return code
}
