//go:build soak

package soak

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/subject"
)

// The power-cut soak (issue #14): the agent runs its embedded NATS server
// with state_dir on tools/powercutfs, a FUSE file system that forgets
// everything not fsynced when the power is cut. At planned moments the
// test cuts the power: SIGKILL the agent and `cut` the file system
// together, then boot again. The registers publish with JetStream and
// wait for PubAcks; nothing acknowledged may be lost or doubled.
//
//	go test -tags soak -run PowerCut -timeout 20m -v ./internal/soak                                   # CI size
//	go test -tags soak -run PowerCut -timeout 90m -v ./internal/soak -powercut.cuts 60 -powercut.sales 900  # long run
//
// It needs FUSE (/dev/fuse, root or fusermount3); without it the test is
// skipped, except under CI=true where that is a failure.
var (
	flagCutCuts  = flag.Int("powercut.cuts", 4, "power cuts in the run [POWERCUT_CUTS]")
	flagCutSales = flag.Int("powercut.sales", 200, "sales in the run [POWERCUT_SALES]")
	flagCutPOS   = flag.Int("powercut.pos", 4, "POS (registers) [POWERCUT_POS]")
	flagCutSync  = flag.String("powercut.sync", "always", "nats.embedded.sync of the agent: always, or an interval such as 1s to measure what it loses [POWERCUT_SYNC]")
	flagCutMode  = flag.String("powercut.fsmode", "journal", "powercutfs -mode: journal (any fsync commits directory entries, like ext4) or strict (only a directory's fsync; nats-server loses streams, see docs/durability.md) [POWERCUT_FSMODE]")
)

func intFlag(name string, v int) int {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if e := os.Getenv(envName(name)); e != "" && !set {
		if n, err := strconv.Atoi(e); err == nil {
			return n
		}
	}
	return v
}

func TestPowerCut(t *testing.T) {
	sz := sizeFromFlags()
	sz.sales, sz.pos = intFlag("powercut.sales", *flagCutSales), intFlag("powercut.pos", *flagCutPOS)
	cuts := intFlag("powercut.cuts", *flagCutCuts)
	syncMode, fsMode := *flagCutSync, *flagCutMode
	if e := os.Getenv("POWERCUT_SYNC"); e != "" && syncMode == "always" {
		syncMode = e
	}
	if e := os.Getenv("POWERCUT_FSMODE"); e != "" && fsMode == "journal" {
		fsMode = e
	}
	sz.printerChaos = false
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the power-cut soak needs FUSE: %v", err)
		}
		t.Skipf("no FUSE here (%v): the power-cut soak needs /dev/fuse", err)
	}
	t.Logf("power-cut soak: %d sales over %d POS, %d cuts, sync %s, file system %s, seed %d (rerun with -soak.seed %d)",
		sz.sales, sz.pos, cuts, syncMode, fsMode, sz.seed, sz.seed)
	w, pfs := newPowerCutWorld(t, sz, syncMode, fsMode)
	res, pc := w.runPowerCutSales(pfs, cuts)
	salesDone := time.Since(w.began)
	if err := w.settle(res); err != nil {
		t.Errorf("the run did not settle within 3 minutes (%v): the audit below says what is missing", err)
	}
	health := waitHealthy(t.Context(), w.agent.current().http)
	actx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	stored, state, err := readStream(actx, w.js, evtSt)
	cancel()
	if err != nil {
		t.Fatalf("reading the events stream: %v", err)
	}
	sctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	stopErr := w.agent.stop(sctx)
	cancel()

	replays, bad, _ := w.hub.snapshot()
	var sent []*salePlan
	gaveUp := 0
	for _, r := range res {
		if !r.NotSent {
			sent = append(sent, r.Plan)
		}
		if r.GaveUp != "" || r.NotSent {
			gaveUp++
		}
	}
	a := runAudit(sent, res, stored, replays, w.sim.Orders(), staticQR)
	if err := a.countToken(token, w.dirs["logs"], w.dirs["printers"], w.dirs["state"]); err != nil {
		t.Fatal(err)
	}
	if err := a.scanLogs(w.dirs["logs"]); err != nil {
		t.Fatal(err)
	}
	fsStats, err := pfs.stats()
	if err != nil {
		t.Errorf("powercutfs stats: %v", err)
	}
	runs, _, crashes := w.agent.stats()
	acked := 0
	for _, r := range res {
		acked += len(r.Cmds)
	}
	table := powerCutTable(sz, syncMode+", file system "+fsMode, pc, a, fsStats, runs, acked, gaveUp, state.Msgs, salesDone, time.Since(w.began))
	t.Logf("power-cut soak result (seed %d):\n%s", sz.seed, table)
	if sz.report != "" {
		if err := os.WriteFile(sz.report, []byte(table), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}
	for _, f := range a.failures() {
		t.Error(f)
	}
	for _, r := range res {
		if r.GaveUp != "" || r.NotSent {
			t.Errorf("sale %s: the register got no outcome (%q, not sent: %v): an acknowledged command was lost", r.Plan.ID, r.GaveUp, r.NotSent)
		}
	}
	for _, c := range crashes {
		t.Errorf("agent crash (exit without a cut): %s", c)
	}
	for _, e := range pc.errs {
		t.Errorf("power cut: %s", e)
	}
	for _, b := range bad {
		t.Errorf("unparseable event: %s", b)
	}
	if stopErr != nil {
		t.Errorf("graceful stop (SIGTERM): %v", stopErr)
	}
	if health != 200 {
		t.Errorf("/healthz after settling answered %d, want 200", health)
	}
	if pc.done < cuts {
		t.Errorf("only %d of %d power cuts happened before the registers were done: run more sales", pc.done, cuts)
	}
	if syncMode == "always" && fsStats.SyncWrites+fsStats.Fsyncs < int64(acked) {
		t.Errorf("%d synced writes and fsyncs for %d acknowledged commands: some PubAck was given before its command was on disk", fsStats.SyncWrites+fsStats.Fsyncs, acked)
	}
	logNotes(t, res)
}

// newPowerCutWorld builds the agent and powercutfs, mounts the state
// directory, and starts the agent with its embedded NATS server on it.
func newPowerCutWorld(t *testing.T, sz size, syncMode, fsMode string) (*world, *powerFS) {
	w, root := newWorldDirs(t, sz, "powercut", "bin", "logs", "disk", "state", "printers")
	bctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	bin, err := buildAgent(bctx, w.dirs["bin"], sz.race)
	if err == nil {
		err = buildPowerCutFS(bctx, w.dirs["bin"])
	}
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	pfs, err := startPowerFS(t.Context(), filepath.Join(w.dirs["bin"], "powercutfs"), fsMode, w.dirs["disk"], w.dirs["state"], filepath.Join(root, "powercutfs.sock"), filepath.Join(w.dirs["logs"], "powercutfs.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pfs.stop) // registered first: runs after the agent has stopped

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	w.nats = &natsServer{port: port} // only its URL: the server is the agent's own
	w.pos = posPlans(sz.pos)
	var ids []string
	for _, p := range w.pos {
		ids = append(ids, p.ID)
	}
	w.sim = qrordertest.New(qrordertest.Options{POS: ids, Latency: latency(sz.seed)})
	simURL := serveSimulator(t, w.sim)
	cfg := configYAML(w.pos, "NATSURL", simURL, w.dirs, w.printers)
	cfg = strings.Replace(cfg, "  url: NATSURL\n", fmt.Sprintf("  url: \"\"\n  embedded: {listen: \"127.0.0.1:%d\", sync: %q}\n", port, syncMode), 1)
	cfgPath := filepath.Join(root, "posagent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
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
	return w, pfs
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// powerCuts is what the cutting did.
type powerCuts struct {
	mu        sync.Mutex
	done      int
	inStartup int // cuts while the agent was still starting (recovering its store)
	boot      []time.Duration
	errs      []string
	timeline  []string
}

// runPowerCutSales rings up every sale while the power is cut; the registers never resend a sale only because it went
// quiet, so a command lost by a cut shows as a sale without an outcome.
func (w *world) runPowerCutSales(pfs *powerFS, cuts int) ([]*saleResult, *powerCuts) {
	ctx, sz := w.t.Context(), w.sz
	plans := planSales(rand.New(rand.NewPCG(sz.seed, 1)), w.pos, sz.sales)
	prog := newProgress()
	results := make(chan *saleResult, sz.sales)
	var regWG sync.WaitGroup
	for i, p := range w.pos {
		r := &register{pos: p, pub: w.pub, log: w.hub.logs[p.ID], sim: w.sim, silent: 5 * time.Minute, giveUp: 5 * time.Minute, progress: prog,
			subject: func(verb string) string { return subject.Command(prefix, store, p.ID, verb) }}
		regWG.Add(1)
		go func() { defer regWG.Done(); r.run(ctx, plans[i], results) }()
	}
	pc := &powerCuts{}
	ch := &chaos{agent: w.agent, sim: w.sim, progress: prog, logf: w.t.Logf, counts: map[string]int{}, start: w.began}
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaosWG sync.WaitGroup
	chaosWG.Add(2)
	go func() {
		defer chaosWG.Done()
		pc.run(chaosCtx, rand.New(rand.NewPCG(sz.seed, 2)), w.agent, pfs, prog, cuts, w.t.Logf)
	}()
	go func() { defer chaosWG.Done(); ch.runFaults(chaosCtx, rand.New(rand.NewPCG(sz.seed, 4))) }()
	regWG.Wait()
	close(results)
	stopChaos()
	chaosWG.Wait()
	w.sim.ClearFaults()
	var res []*saleResult
	for r := range results {
		res = append(res, r)
	}
	return res, pc
}

// run cuts the power every 0.3-3 s (at random) while the registers
// sell, until it has cut cuts times; one cut in four is followed by
// another while the agent boots (and recovers its store).
func (pc *powerCuts) run(ctx context.Context, rng *rand.Rand, agent *agentProc, pfs *powerFS, prog *progress, cuts int, logf func(string, ...any)) {
	began := time.Now()
	for pc.count() < cuts {
		pace(ctx, time.Duration(300+rng.IntN(2700))*time.Millisecond) // a random moment, not a wait for anything
		if ctx.Err() != nil {
			return
		}
		pc.cut(ctx, agent, pfs, false, began, prog, logf)
		if rng.IntN(4) == 0 && pc.count() < cuts {
			pace(ctx, time.Duration(rng.IntN(600))*time.Millisecond)
			pc.cut(ctx, agent, pfs, true, began, prog, logf)
		}
		rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		t0 := time.Now()
		err := agent.waitReady(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			pc.fail("after the cut: %v", err)
			return
		}
		pc.mu.Lock()
		pc.boot = append(pc.boot, time.Since(t0))
		pc.mu.Unlock()
	}
}

func (pc *powerCuts) count() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.done
}

// cut kills the agent, cuts the file system's power and boots the agent.
func (pc *powerCuts) cut(ctx context.Context, agent *agentProc, pfs *powerFS, startup bool, began time.Time, prog *progress, logf func(string, ...any)) {
	err := agent.killThen(ctx, func() error {
		reply, err := pfs.command("cut")
		if err == nil && reply != "ok" {
			err = fmt.Errorf("powercutfs: %s", reply)
		}
		if err != nil {
			pfs.dumpStacks() // the run fails: say where powercutfs was stuck
		}
		return err
	})
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if err != nil {
		pc.errs = append(pc.errs, err.Error())
		return
	}
	pc.done++
	if startup {
		pc.inStartup++
	}
	line := fmt.Sprintf("%7.1fs  power cut %d (during start-up: %v, sales done: %d)", time.Since(began).Seconds(), pc.done, startup, prog.count())
	pc.timeline = append(pc.timeline, line)
	logf("%s", line)
}

func (pc *powerCuts) fail(format string, args ...any) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.errs = append(pc.errs, fmt.Sprintf(format, args...))
}

// killThen sends SIGKILL to the current process, waits for it to end,
// runs between (the power cut) and starts a new process.
func (a *agentProc) killThen(ctx context.Context, between func() error) error {
	a.mu.Lock()
	r := a.cur
	r.killed = true
	a.kills++
	a.mu.Unlock()
	_ = r.cmd.Process.Kill()
	select {
	case <-r.exited:
	case <-ctx.Done():
		return fmt.Errorf("posagent run %d did not die after SIGKILL: %w", r.n, ctx.Err())
	}
	if err := between(); err != nil {
		return err
	}
	return a.start()
}

// fsStats are powercutfs's counters.
type fsStats struct {
	Fsyncs      int64 `json:"fsyncs"`
	DirFsyncs   int64 `json:"dir_fsyncs"`
	SyncWrites  int64 `json:"sync_writes"`
	Writes      int64 `json:"writes"`
	Cuts        int64 `json:"cuts"`
	LostBytes   int64 `json:"lost_bytes"`
	LostEntries int64 `json:"lost_entries"`
}

func powerCutTable(sz size, syncMode string, pc *powerCuts, a *audit, fs fsStats, runs, acked, gaveUp int, evtMsgs uint64, salesDone, total time.Duration) string {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	slices.Sort(pc.boot)
	var maxBoot time.Duration
	if len(pc.boot) > 0 {
		maxBoot = pc.boot[len(pc.boot)-1]
	}
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | %v |\n", k, v) }
	b.WriteString("| power-cut soak | |\n|---|---|\n")
	row("seed", sz.seed)
	row("sync (nats.embedded.sync)", syncMode)
	row("sales / POS", fmt.Sprintf("%d / %d", sz.sales, sz.pos))
	row("power cuts (of which during start-up)", fmt.Sprintf("%d (%d)", pc.done, pc.inStartup))
	row("agent processes", runs)
	row("boot after a cut, max", maxBoot.Round(10*time.Millisecond))
	row("commands acknowledged (PubAck)", acked)
	row("sales without an outcome (lost)", gaveUp+len(a.Lost))
	row("sales with several orders", len(a.MultiOrder))
	row("orders at the simulator / sales", fmt.Sprintf("%d / %d", a.Orders, a.Sales))
	row("outcomes", fmt.Sprintf("%v", a.Outcomes))
	row("events stored", evtMsgs)
	row("fsyncs / fdatasyncs", fs.Fsyncs)
	row("O_SYNC writes", fs.SyncWrites)
	row("directory fsyncs", fs.DirFsyncs)
	row("writes", fs.Writes)
	row("unsynced bytes thrown away by cuts", fs.LostBytes)
	row("unsynced directory entries thrown away", fs.LostEntries)
	row("audit failures", len(a.failures()))
	row("sales done in / total", fmt.Sprintf("%s / %s", salesDone.Round(time.Second), total.Round(time.Second)))
	for _, l := range pc.timeline {
		fmt.Fprintf(&b, "\n    %s", l)
	}
	return b.String()
}

// unmarshalStats reads the stats line.
func unmarshalStats(line string) (fsStats, error) {
	var s fsStats
	err := json.Unmarshal([]byte(line), &s)
	return s, err
}
