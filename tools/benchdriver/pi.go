package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// piMemLimit is the GOMEMLIMIT the pi figure runs the agent with: the
// value deploy/systemd/posagent.service sets.
const piMemLimit = "64MiB"

// syncCounts are the flows the count of synced writes (under strace)
// covers and how many sales of each: canceled and superseded sales back to
// back, paid ones each waiting for the agent's poll to see the payment
// (mercadopago.poll_interval, 2 s by default), so at about a store's pace.
var syncCounts = []struct {
	flow  flow
	name  string
	sales int
}{
	{flowCancel, "canceled", 100},
	{flowSupersede, "superseded", 100},
	{flowPay, "paid", 20},
}

// screenFlows are the flows whose sale -> QR on screen the pi figure times,
// screenSales sales each, back to back (with the QR reader's decoding
// between sales, while the agent waits).
var screenFlows = []flow{flowCancel, flowSupersede}

const screenSales = 100

// piResult is one pi run.
type piResult struct {
	label      string
	load       loadResult
	cpu        time.Duration // agent utime+stime over the load
	instr      int64         // instructions over the load (and its warm-up); -1: not counted
	instrSales int
	fsyncs     []map[string]int // synced writes by file, one per syncCounts; nil: not counted
	screens    []loadResult     // one per screenFlows; nil: not timed
	peak, hwm  int64            // KiB
}

// pi runs one store-shaped agent natively and, when qemu-arm is there,
// the armv6 build emulated.
func (d *driver) pi(ctx context.Context) error {
	bin, err := d.posagentBinary(ctx)
	if err != nil {
		return err
	}
	simDir, err := d.dir("pi-simulator")
	if err != nil {
		return err
	}
	sim, simURL, err := d.startSimulator(ctx, bin, simDir)
	if err != nil {
		return err
	}
	defer sim.stop()
	procs, limit := max(d.o.gomaxprocs, 1), d.o.gomemlimit
	if limit == "" {
		limit = piMemLimit
	}
	saved := d.agentEnv
	d.agentEnv = runtimeEnv(procs, limit)
	defer func() { d.agentEnv = saved }()

	native, err := d.piRun(ctx, "native", bin, simURL, d.o.piSales, true)
	if err != nil {
		return err
	}
	results := []piResult{native}
	if qemu := d.qemuBinary(); qemu != "" {
		arm := filepath.Join(d.work, "bin", "posagent-armv6")
		fmt.Fprintln(d.log, "building posagent for linux/arm GOARM=6")
		if err := d.goBuild(ctx, d.o.root, arm, "./cmd/posagent", []string{"GOOS=linux", "GOARCH=arm", "GOARM=6"}); err != nil {
			return err
		}
		d.agentWrap = qemu
		emulated, err := d.piRun(ctx, "armv6 under "+filepath.Base(qemu)+" (emulated)", arm, simURL, d.o.qemuSales, false)
		d.agentWrap = ""
		if err != nil {
			return err
		}
		results = append(results, emulated)
	}
	d.piTables(procs, limit, results)
	return nil
}

// qemuBinary resolves -qemu: "" when the emulated run is off or impossible.
func (d *driver) qemuBinary() string {
	switch d.o.qemu {
	case "off":
		return ""
	case "auto":
		for _, name := range []string{"qemu-arm-static", "qemu-arm"} {
			if p, err := exec.LookPath(name); err == nil {
				return p
			}
		}
		fmt.Fprintln(d.log, "pi: no qemu-arm in PATH: skipping the armv6 run")
		return ""
	}
	return d.o.qemu
}

// piRun starts an agent with one POS (PNG display, file printer), counts
// its fsyncs over fsyncSales sales (strace, when countFsyncs and strace is
// installed), then measures sales sales.
func (d *driver) piRun(ctx context.Context, label, bin, simURL string, sales int, native bool) (r piResult, err error) {
	r = piResult{label: label, instr: -1}
	dir, err := d.dir("pi-" + strings.Fields(label)[0])
	if err != nil {
		return r, err
	}
	files, err := storeConfig(dir, simURL, "", 1, true)
	if err != nil {
		return r, err
	}
	agent, _, err := d.startAgent("posagent", bin, dir, files.config)
	if err != nil {
		return r, err
	}
	defer func() {
		if err != nil {
			agent.kill()
		}
	}()
	regs, err := connectRegisters(files.registerURL, 1)
	if err != nil {
		return r, err
	}
	defer regs.close()
	const warm = 3
	if _, err := regs.run(ctx, warm, "warm"); err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}
	regs.sim = simURL
	if native {
		if r.fsyncs, err = d.countAllFsyncs(ctx, agent.pid(), dir, regs); err != nil {
			return r, err
		}
		if r.screens, err = timeScreens(ctx, filepath.Join(dir, "qr-"+posID(0)+".png"), regs); err != nil {
			return r, err
		}
	}
	regs.flow = d.o.piFlow
	var perf, record *perfStat
	if native {
		perf = d.startPerf(agent.pid(), dir, "stat", "-x,", "-e", "instructions")
		if d.o.perfRecord != "" {
			record = d.startPerf(agent.pid(), dir, "record", "-e", "cpu-clock", "-F", "999", "-g")
		}
	}
	if _, err := regs.run(ctx, warm, "warm2"); err != nil { // gives perf time to attach
		return r, fmt.Errorf("warm-up: %w", err)
	}
	cpu0, err := cpuTime(agent.pid())
	if err != nil {
		return r, err
	}
	proc := &procStats{pid: agent.pid()}
	stopSampling := sampleRSS([]*procStats{proc})
	r.load, err = regs.run(ctx, sales, "sale")
	stopSampling()
	if err != nil {
		return r, fmt.Errorf("load: %w", err)
	}
	cpu1, err := cpuTime(agent.pid())
	if err != nil {
		return r, err
	}
	if err := regs.cancelOpen(ctx); err != nil {
		return r, err
	}
	r.cpu, r.peak = cpu1-cpu0, proc.peak
	if perf != nil {
		r.instr, r.instrSales = parsePerfInstructions(perf.stop()), sales+warm
	}
	if record != nil {
		record.stop()
		if err := os.Rename(record.out, d.o.perfRecord); err != nil {
			return r, err
		}
	}
	m, err := readMemory(agent.pid())
	if err != nil {
		return r, err
	}
	r.hwm = m.HWM
	for _, f := range []string{"qr-" + posID(0) + ".png", "receipts-" + posID(0) + ".bin"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			return r, fmt.Errorf("%s: the store's devices were not used: %v", label, err)
		}
	}
	if _, err := agent.stop(); err != nil {
		return r, err
	}
	fmt.Fprintf(d.log, "pi %s done (load %s)\n", label, loadAvg())
	return r, nil
}

// timeScreens times sale -> QR on screen for each of screenFlows.
func timeScreens(ctx context.Context, path string, regs *registers) ([]loadResult, error) {
	w, err := watchScreen(path)
	if err != nil {
		return nil, err
	}
	defer w.close()
	regs.regs[0].screen = w
	defer func() { regs.regs[0].screen = nil }()
	var rs []loadResult
	for _, f := range screenFlows {
		regs.flow = f
		r, err := regs.run(ctx, screenSales, "screen-"+string(f)+"-")
		if err == nil {
			err = regs.cancelOpen(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("sale -> QR on screen: %w", err)
		}
		if len(r.shown) == 0 {
			return nil, fmt.Errorf("sale -> QR on screen, %s: no sale's QR was seen on %s", f, path)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// countAllFsyncs counts the synced writes of each of syncCounts' flows; nil
// without strace.
func (d *driver) countAllFsyncs(ctx context.Context, pid int, dir string, regs *registers) ([]map[string]int, error) {
	var all []map[string]int
	for _, c := range syncCounts {
		regs.flow = c.flow
		counts, err := d.countFsyncs(ctx, pid, dir, regs, c.sales)
		if counts == nil || err != nil {
			return nil, err
		}
		all = append(all, counts)
	}
	return all, nil
}

// countFsyncs runs n sales with strace attached to every thread of pid and
// counts the writes that wait for the disk, by file (digits folded, paths
// relative to dir): fsync and fdatasync calls, and files opened O_SYNC or
// O_DSYNC (nats-server writes its small state files that way, once per
// open). nil without strace.
func (d *driver) countFsyncs(ctx context.Context, pid int, dir string, regs *registers, n int) (map[string]int, error) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		fmt.Fprintln(d.log, "pi: no strace: fsyncs not counted")
		return nil, nil
	}
	out := filepath.Join(dir, "fsync.strace")
	c, err := startChild("strace", dir, strace, []string{"-f", "-y", "-e", "trace=fsync,fdatasync,openat", "-o", out, "-p", strconv.Itoa(pid)}, nil)
	if err != nil {
		return nil, err
	}
	if err := c.waitLine(ctx, "attached", startLimit); err != nil {
		c.kill()
		return nil, err
	}
	_, err = regs.run(ctx, n, "fsync-"+string(regs.flow)+"-")
	_, _ = c.stop() // strace ends on SIGTERM by detaching; its exit status says nothing
	if err == nil {
		err = regs.cancelOpen(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("fsync count: %w", err)
	}
	f, err := os.Open(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseFsyncs(f, dir)
}

var (
	// A call another traced thread interrupts is written as two lines,
	// "fsync(7</path> <unfinished ...>" and "<... fsync resumed>) = 0": the
	// first names the file and is counted, the second does not.
	fsyncLine = regexp.MustCompile(`(fsync|fdatasync)\(\d+<([^>]*)>`)
	syncOpen  = regexp.MustCompile(`openat\([^"]*"([^"]*)", [A-Z_|]*\bO_D?SYNC\b`)
	digits    = regexp.MustCompile(`[0-9]+`)
)

// parseFsyncs counts strace -y lines of fsync/fdatasync and of O_SYNC
// opens by file.
func parseFsyncs(f *os.File, dir string) (map[string]int, error) {
	counts := make(map[string]int)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		call, p := "", ""
		if m := fsyncLine.FindStringSubmatch(sc.Text()); m != nil {
			call, p = m[1], m[2]
		} else if m := syncOpen.FindStringSubmatch(sc.Text()); m != nil {
			call, p = "O_SYNC write", m[1]
		} else {
			continue
		}
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = rel
		}
		counts[call+" "+digits.ReplaceAllString(p, "N")]++
	}
	return counts, sc.Err()
}

// perfStat is a perf command attached to the agent.
type perfStat struct {
	c   *child
	out string
}

// startPerf runs `perf SUBCOMMAND ARGS -o FILE -p pid`; nil without perf.
func (d *driver) startPerf(pid int, dir string, args ...string) *perfStat {
	perf, err := exec.LookPath("perf")
	if err != nil {
		fmt.Fprintln(d.log, "pi: no perf: instructions not counted")
		return nil
	}
	out := filepath.Join(dir, "perf-"+args[0]+".out")
	c, err := startChild("perf-"+args[0], dir, perf, append(args, "-o", out, "-p", strconv.Itoa(pid)), nil)
	if err != nil {
		fmt.Fprintln(d.log, "pi: perf:", err)
		return nil
	}
	return &perfStat{c: c, out: out}
}

// stop ends perf (on SIGINT it writes its results) and returns its output
// file's text.
func (p *perfStat) stop() string {
	_ = p.c.cmd.Process.Signal(os.Interrupt)
	<-p.c.done
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// parsePerfInstructions reads the instructions count from perf stat -x,
// output: "12345,,instructions,..." (or "<not supported>,,instructions");
// -1 when the CPU does not count them (virtual machines often do not).
func parsePerfInstructions(s string) int64 {
	for line := range strings.SplitSeq(s, "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 3 && strings.HasPrefix(f[2], "instructions") {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

func (d *driver) piTables(procs int, limit string, rs []piResult) {
	fmt.Fprintln(d.out, "### A Raspberry Pi-shaped store")
	fmt.Fprintln(d.out)
	var counted []string
	for _, c := range syncCounts {
		counted = append(counted, fmt.Sprintf("%d %s", c.sales, c.name))
	}
	fmt.Fprintf(d.out, "`posagent run` with GOMAXPROCS=%d and GOMEMLIMIT=%s, one POS with a PNG display (800x480) and a file "+
		"printer (epson profile, native QR), embedded NATS with `sync: always`; one register, one sale at a time "+
		"(%s). CPU per sale: the agent's utime+stime over the load divided by "+
		"the sales; instructions: `perf stat -e instructions` on the agent (\"-\" where the CPU does not count "+
		"them, as in most virtual machines); synced writes (fsync, fdatasync, and writes to files opened O_SYNC): "+
		"strace -f over %s sales (canceled: sale, cancel; superseded: the next sale ends it; paid: the simulator pays, "+
		"the agent's poll sees it). RSS in MiB. Emulated rows run the "+
		"armv6 binary under qemu-user on this machine: a smoke check that the Pi build runs a store; their times "+
		"are emulation, not a Pi's.\n\n", procs, limit, flowText(d.o.piFlow), strings.Join(counted, ", "))
	fmt.Fprintln(d.out, "| binary | sales | CPU per sale | instructions per sale | synced writes per sale, canceled / superseded / paid | RSS peak / VmHWM | sale -> created p50 / p90 / p99 | sales/s |")
	fmt.Fprintln(d.out, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rs {
		instr, fs := "-", "-"
		if r.instr >= 0 {
			instr = fmt.Sprintf("%.2f M", float64(r.instr)/float64(r.instrSales)/1e6)
		}
		if r.fsyncs != nil {
			var per []string
			for i, c := range syncCounts {
				per = append(per, fmt.Sprintf("%.1f", perSale(r.fsyncs[i], c.sales)))
			}
			fs = strings.Join(per, " / ")
		}
		fmt.Fprintf(d.out, "| %s | %d | %.2f ms | %s | %s | %s / %s | %s / %s / %s | %.0f |\n", r.label, r.load.sales,
			float64(r.cpu.Microseconds())/1000/float64(r.load.sales), instr, fs, mib(r.peak), mib(r.hwm),
			ms(r.load.quantile(0.5)), ms(r.load.quantile(0.9)), ms(r.load.quantile(0.99)), r.load.salesPerSecond())
	}
	fmt.Fprintln(d.out)
	d.screenTable(rs)
	for _, r := range rs {
		for i, c := range syncCounts {
			if r.fsyncs != nil {
				d.syncTable(r.label+", "+c.name+" sales", r.fsyncs[i], c.sales)
			}
		}
	}
}

// screenTable writes sale -> QR on screen by flow.
func (d *driver) screenTable(rs []piResult) {
	fmt.Fprintf(d.out, "Sale -> its QR on screen: from the register's publish to the png display's rename of the frame "+
		"(inotify), the frame read at once and its QR decoded and matched to the `created` event's qr_data; "+
		"%d sales per flow, back to back. Unseen: sales whose frame the QR reader could not read.\n\n", screenSales)
	fmt.Fprintln(d.out, "| binary | flow | sale -> QR on screen p50 / p90 / p99 | sale -> created p50 | unseen |")
	fmt.Fprintln(d.out, "| --- | --- | --- | --- | --- |")
	for _, r := range rs {
		for i, l := range r.screens {
			fmt.Fprintf(d.out, "| %s | %s | %s / %s / %s | %s | %d |\n", r.label, screenFlows[i],
				ms(quantile(l.shown, 0.5)), ms(quantile(l.shown, 0.9)), ms(quantile(l.shown, 0.99)), ms(l.quantile(0.5)), l.unseen)
		}
	}
	fmt.Fprintln(d.out)
}

// flowText describes the pi figure's load.
func flowText(f flow) string {
	if f == flowSupersede {
		return "sale -> created, and the next sale supersedes it: canceled, the next one's created"
	}
	return "sale -> created -> cancel -> canceled"
}

// perSale is the total of counts divided by sales.
func perSale(counts map[string]int, sales int) float64 {
	n := 0
	for _, c := range counts {
		n += c
	}
	return float64(n) / float64(sales)
}

// syncTable writes the synced writes per sale by file.
func (d *driver) syncTable(label string, counts map[string]int, sales int) {
	if len(counts) == 0 {
		return
	}
	fmt.Fprintf(d.out, "synced writes per sale by file (%s, %d sales; digits shown as N):\n\n", label, sales)
	fmt.Fprintln(d.out, "| call and file | per sale |")
	fmt.Fprintln(d.out, "| --- | --- |")
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(counts[b]-counts[a], strings.Compare(a, b)) })
	for _, k := range keys {
		fmt.Fprintf(d.out, "| `%s` | %.2f |\n", k, float64(counts[k])/float64(sales))
	}
	fmt.Fprintln(d.out)
}
