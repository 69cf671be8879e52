package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// stack is one agent with its NATS (embedded, or an external server).
type stack struct {
	agent    *child
	nats     *child // nil with the embedded server
	url      string // where registers connect
	httpAddr string // the agent's health and metrics
}

func (s *stack) stop() error {
	_, err := s.agent.stop()
	if s.nats != nil {
		if _, nerr := s.nats.stop(); err == nil {
			err = nerr
		}
	}
	return err
}

func (s *stack) kill() {
	s.agent.kill()
	if s.nats != nil {
		s.nats.kill()
	}
}

// bins are the binaries a figure runs.
type bins struct{ posagent, nats string }

func (d *driver) bins(ctx context.Context) (bins, error) {
	var b bins
	var err error
	if b.posagent, err = d.posagentBinary(ctx); err != nil {
		return b, err
	}
	if slices.Contains(d.o.nats, external) {
		b.nats, err = d.natsServerBinary(ctx)
	}
	return b, err
}

// coldStart times process start -> READY=1, median of -starts runs, for a
// first start on an empty state directory and a restart on the state the
// first one left, with 1 and -pos POS, embedded and external NATS.
func (d *driver) coldStart(ctx context.Context) error {
	b, err := d.bins(ctx)
	if err != nil {
		return err
	}
	simDir, err := d.dir("start-simulator")
	if err != nil {
		return err
	}
	sim, simURL, err := d.startSimulator(ctx, b.posagent, simDir)
	if err != nil {
		return err
	}
	defer sim.stop()

	fmt.Fprintln(d.out, "### Cold start to ready")
	fmt.Fprintln(d.out)
	fmt.Fprintf(d.out, "`posagent run` started -> `READY=1` on NOTIFY_SOCKET; median (min-max) of %d runs. "+
		"First start: empty state directory (streams, consumers and the sale store are created). "+
		"Restart: the same directory again. Stop: SIGTERM -> exit, idle.\n\n", d.o.starts)
	fmt.Fprintln(d.out, "| NATS | POS | first start | restart | stop |")
	fmt.Fprintln(d.out, "| --- | --- | --- | --- | --- |")
	for _, mode := range d.o.nats {
		for _, pos := range []int{1, d.o.pos} {
			var first, again, stop []time.Duration
			for i := range d.o.starts {
				if err := ctx.Err(); err != nil {
					return err
				}
				f, a, s, err := d.startTwice(ctx, b, simURL, mode, pos, i)
				if err != nil {
					return err
				}
				first, again, stop = append(first, f), append(again, a), append(stop, s)
			}
			fmt.Fprintf(d.out, "| %s | %d | %s | %s | %s |\n", mode, pos, spread(first), spread(again), spread(stop))
			fmt.Fprintf(d.log, "start %s pos=%d done (load %s)\n", mode, pos, loadAvg())
		}
	}
	fmt.Fprintln(d.out)
	return nil
}

// startTwice starts an agent on a new state, stops it, starts it again.
func (d *driver) startTwice(ctx context.Context, b bins, simURL string, mode natsMode, pos, i int) (first, again, stop time.Duration, err error) {
	dir, err := d.dir(fmt.Sprintf("start-%s-%dpos-%d", mode, pos, i))
	if err != nil {
		return 0, 0, 0, err
	}
	var ns *child
	natsURL := ""
	if mode == external {
		if ns, natsURL, err = d.startNATS(ctx, b.nats, dir); err != nil {
			return 0, 0, 0, err
		}
		defer ns.stop()
	}
	files, err := agentConfig(dir, simURL, natsURL, pos)
	if err != nil {
		return 0, 0, 0, err
	}
	a, first, err := d.startAgent("posagent-first", b.posagent, dir, files.config)
	if err != nil {
		return 0, 0, 0, err
	}
	if stop, err = a.stop(); err != nil {
		return 0, 0, 0, err
	}
	a, again, err = d.startAgent("posagent-restart", b.posagent, dir, files.config)
	if err != nil {
		return 0, 0, 0, err
	}
	if _, err = a.stop(); err != nil {
		return 0, 0, 0, err
	}
	return first, again, stop, nil
}

// memory samples resident memory idle, under -sales sales on -pos POS,
// and idle again, with the embedded and with an external NATS server.
func (d *driver) memory(ctx context.Context) error {
	b, err := d.bins(ctx)
	if err != nil {
		return err
	}
	simDir, err := d.dir("memory-simulator")
	if err != nil {
		return err
	}
	sim, simURL, err := d.startSimulator(ctx, b.posagent, simDir)
	if err != nil {
		return err
	}
	defer sim.stop()

	var memRows, loadRows []string
	for _, mode := range d.o.nats {
		m, l, err := d.memoryRun(ctx, b, simURL, mode)
		if err != nil {
			return err
		}
		memRows, loadRows = append(memRows, m...), append(loadRows, l)
		fmt.Fprintf(d.log, "memory %s done (load %s)\n", mode, loadAvg())
	}
	fmt.Fprintln(d.out, "### Resident memory")
	fmt.Fprintln(d.out)
	fmt.Fprintf(d.out, "%d POS configured (no displays or printers). Idle: %s after READY=1. "+
		"Under load: %d sales from %d registers at full speed (sale -> created -> cancel -> canceled, "+
		"one command at a time per POS), RSS sampled every 100 ms, the peak shown; VmHWM is the "+
		"kernel's high-water mark at the end of the load. After: %s and %s after the load. CPU per sale: "+
		"utime+stime of the process over the load, divided by the sales; CPU idle: over the second half "+
		"of the idle time, in %% of one CPU (utime+stime count in 10 ms ticks). Go heap in use: "+
		"go_memstats_heap_inuse_bytes from the agent's /metrics; RSS above it is mostly memory the Go "+
		"runtime has freed but not yet returned to the kernel. Memory in MiB.\n\n",
		d.o.pos, d.o.settle, d.o.sales, d.o.pos, d.o.settle, d.o.afterLate)
	fmt.Fprintln(d.out, "| NATS | process | RSS idle | RSS under load (peak) | VmHWM | RSS after | RSS later | Go heap in use: end of load / after | CPU idle | CPU per sale |")
	fmt.Fprintln(d.out, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range memRows {
		fmt.Fprintln(d.out, r)
	}
	fmt.Fprintln(d.out)
	fmt.Fprintln(d.out, "The same load, as the registers saw it (sale published -> created received):")
	fmt.Fprintln(d.out)
	fmt.Fprintln(d.out, "| NATS | POS | sales | sales/s | p50 | p90 | p99 |")
	fmt.Fprintln(d.out, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range loadRows {
		fmt.Fprintln(d.out, r)
	}
	fmt.Fprintln(d.out)
	return nil
}

// procStats is what memoryRun learns about one process.
type procStats struct {
	name                string
	pid                 int
	idle, after         memory
	afterLate           memory // -after-late after the load
	peak                int64  // KiB, the highest 100 ms sample under load
	hwm                 int64  // KiB, VmHWM after the load
	cpuLoad, cpuBase    time.Duration
	cpuIdle             float64 // % of one CPU while idle
	heapLoad, heapAfter int64   // KiB of Go heap in use (posagent only; -1 unknown)
}

func (d *driver) memoryRun(ctx context.Context, b bins, simURL string, mode natsMode) (memRows []string, loadRow string, err error) {
	dir, err := d.dir("memory-" + string(mode))
	if err != nil {
		return nil, "", err
	}
	st, err := d.startStack(ctx, b, dir, simURL, mode)
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			st.kill()
		}
	}()
	agent := &procStats{name: "posagent", pid: st.agent.pid()}
	procs := []*procStats{agent}
	if st.nats != nil {
		procs = append(procs, &procStats{name: "nats-server", pid: st.nats.pid(), heapLoad: -1, heapAfter: -1})
	}
	// Idle CPU is counted over the second half of the settle time, once
	// start-up work is surely over.
	if err := sleep(ctx, d.o.settle/2); err != nil {
		return nil, "", err
	}
	for _, p := range procs {
		if p.cpuBase, err = cpuTime(p.pid); err != nil {
			return nil, "", err
		}
	}
	idleStart := time.Now()
	if err := sleep(ctx, d.o.settle-d.o.settle/2); err != nil {
		return nil, "", err
	}
	idleFor := time.Since(idleStart)
	for _, p := range procs {
		if p.idle, err = readMemory(p.pid); err != nil {
			return nil, "", err
		}
		cpu, err := cpuTime(p.pid)
		if err != nil {
			return nil, "", err
		}
		p.cpuIdle = float64(cpu-p.cpuBase) / float64(idleFor) * 100
	}

	regs, err := connectRegisters(st.url, d.o.pos)
	if err != nil {
		return nil, "", err
	}
	defer regs.close()
	if _, err := regs.run(ctx, d.o.pos, "warm"); err != nil {
		return nil, "", fmt.Errorf("warm-up: %w", err)
	}
	for _, p := range procs {
		if p.cpuBase, err = cpuTime(p.pid); err != nil {
			return nil, "", err
		}
	}
	stopSampling := sampleRSS(procs)
	res, err := regs.run(ctx, d.o.sales, "sale")
	stopSampling()
	if err != nil {
		return nil, "", fmt.Errorf("load: %w", err)
	}
	for _, p := range procs {
		cpu, err := cpuTime(p.pid)
		if err != nil {
			return nil, "", err
		}
		p.cpuLoad = cpu - p.cpuBase
		m, err := readMemory(p.pid)
		if err != nil {
			return nil, "", err
		}
		p.hwm = m.HWM
	}
	if agent.heapLoad, err = heapInUse(ctx, st.httpAddr); err != nil {
		return nil, "", err
	}
	regs.close()
	loadEnd := time.Now()
	if err := sleep(ctx, d.o.settle); err != nil {
		return nil, "", err
	}
	for _, p := range procs {
		if p.after, err = readMemory(p.pid); err != nil {
			return nil, "", err
		}
	}
	if agent.heapAfter, err = heapInUse(ctx, st.httpAddr); err != nil {
		return nil, "", err
	}
	if err := sleep(ctx, time.Until(loadEnd.Add(d.o.afterLate))); err != nil {
		return nil, "", err
	}
	for _, p := range procs {
		if p.afterLate, err = readMemory(p.pid); err != nil {
			return nil, "", err
		}
	}
	if err := st.stop(); err != nil {
		return nil, "", err
	}
	for _, p := range procs {
		memRows = append(memRows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %.1f %% | %.2f ms |", mode, p.name,
			mib(p.idle.RSS), mib(p.peak), mib(p.hwm), mib(p.after.RSS), mib(p.afterLate.RSS), mib(p.heapLoad), mib(p.heapAfter), p.cpuIdle,
			float64(p.cpuLoad.Microseconds())/1000/float64(res.sales)))
	}
	loadRow = fmt.Sprintf("| %s | %d | %d | %.0f | %s | %s | %s |", mode, d.o.pos, res.sales, res.salesPerSecond(),
		ms(res.quantile(0.5)), ms(res.quantile(0.9)), ms(res.quantile(0.99)))
	return memRows, loadRow, nil
}

// startStack starts NATS (when external) and an agent with -pos POS.
func (d *driver) startStack(ctx context.Context, b bins, dir, simURL string, mode natsMode) (*stack, error) {
	st := &stack{}
	natsURL := ""
	var err error
	if mode == external {
		if st.nats, natsURL, err = d.startNATS(ctx, b.nats, dir); err != nil {
			return nil, err
		}
	}
	files, err := agentConfig(dir, simURL, natsURL, d.o.pos)
	if err == nil {
		st.agent, _, err = d.startAgent("posagent", b.posagent, dir, files.config)
	}
	if err != nil {
		if st.nats != nil {
			st.nats.kill()
		}
		return nil, err
	}
	st.url, st.httpAddr = files.registerURL, files.httpAddr
	return st, nil
}

// sampleRSS records each process's peak VmRSS every 100 ms until the
// returned function is called.
func sampleRSS(procs []*procStats) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			for _, p := range procs {
				if m, err := readMemory(p.pid); err == nil {
					p.peak = max(p.peak, m.RSS)
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// sleep waits d unless ctx ends first: idle time is what is measured.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// spread formats "median (min-max)" of ds.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s (%.1f-%.1f)", ms(s[len(s)/2]), msf(s[0]), msf(s[len(s)-1]))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", msf(d)) }

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func mib(kib int64) string {
	if kib < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(kib)/1024)
}
