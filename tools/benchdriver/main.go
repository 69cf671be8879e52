// Command benchdriver measures posagent as a whole process, the figures a
// Go benchmark inside one process cannot give: binary sizes per target,
// cold start to ready, and resident memory idle and under load, with the
// embedded NATS server and with an external nats-server.
//
// It runs everything as child processes, as a store does: `posagent
// simulate` as the Orders API, `posagent run` with a generated config, and
// for the external case a nats-server built from this module's pinned
// version (tool dependency). The driver itself plays the registers over
// NATS, one connection per POS, one command at a time per POS. Run it from
// the repository:
//
//	go -C tools run ./benchdriver
//	go -C tools run ./benchdriver -figures start -starts 9
//
// The pi figure (not in the default set: -figures pi) runs the agent the way a
// Raspberry Pi store does: GOMAXPROCS=1, a memory limit, one POS with a PNG
// display and a file printer, the embedded NATS syncing every write. It
// reports CPU time, instructions (perf stat, where the CPU exposes them)
// and fsyncs per sale, RSS, the register's sale -> created latency and the
// time from the sale to its QR on the png display (the frame's rename,
// seen by inotify, its QR decoded and matched to the sale's), and,
// when qemu-arm is installed, runs the same on the linux/arm GOARM=6 binary
// as a smoke check (emulated: its times say nothing about a Pi).
//
//	go -C tools run ./benchdriver -figures pi
//	go -C tools run ./benchdriver -figures memory -sales 40000 -gomemlimit 40MiB
//
// Flags: -figures (comma-separated: sizes, start, memory, pi; default the
// first three), -gomaxprocs and -gomemlimit (the agent's GOMAXPROCS and
// GOMEMLIMIT in every figure; pi defaults them to 1 and piMemLimit),
// -nats (the NATS cases of start and memory: embedded, external; default
// both), -pi-sales (default 1000), -qemu (qemu-arm binary for the armv6 run:
// auto, off or a path), -qemu-sales (default 30), -pi-flow (how the pi
// load ends each sale: cancel, the default, or supersede: the next sale
// does), -perf-record FILE (a
// perf record CPU profile of the native pi run's load),
// -posagent and -nats-server (binaries to use; default built into the work
// directory), -pos (POS under load, default 10), -sales (sales under load,
// default 10000), -starts (cold starts per case, default 7), -settle (idle
// time before an idle sample, default 10s), -after-late (the memory
// figure's last RSS sample, from the end of the load, default 1m), -root
// (repository root; default found from the working directory), -keep
// (keep the work directory).
// Results are Markdown tables on stdout; progress goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "benchdriver:", err)
		}
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	figures    []string
	posagent   string
	natsServer string
	pos        int
	sales      int
	starts     int
	settle     time.Duration
	afterLate  time.Duration
	root       string
	keep       bool
	gomaxprocs int
	gomemlimit string
	piSales    int
	piFlow     flow
	qemu       string
	qemuSales  int
	nats       []natsMode
	perfRecord string
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("benchdriver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	figures := fs.String("figures", "sizes,start,memory", "figures to measure: sizes, start, memory, pi (comma-separated)")
	var o options
	fs.StringVar(&o.posagent, "posagent", "", "posagent binary to measure; default built from -root")
	fs.StringVar(&o.natsServer, "nats-server", "", "nats-server binary; default built from this module's pinned version")
	fs.IntVar(&o.pos, "pos", 10, "POS (registers) under load")
	fs.IntVar(&o.sales, "sales", 10000, "sales under load")
	fs.IntVar(&o.starts, "starts", 7, "cold starts per case (the median is reported)")
	fs.DurationVar(&o.settle, "settle", 10*time.Second, "idle time before an idle memory sample")
	fs.DurationVar(&o.afterLate, "after-late", time.Minute, "when the memory figure's last sample is taken, from the end of the load")
	fs.StringVar(&o.root, "root", "", "repository root; default found from the working directory")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (configs, logs, stores)")
	fs.IntVar(&o.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS of the agent (0: not set; the pi figure uses 1)")
	fs.StringVar(&o.gomemlimit, "gomemlimit", "", "GOMEMLIMIT of the agent, e.g. 40MiB (empty: not set, and the pi figure uses "+piMemLimit+"; off: not set anywhere)")
	fs.IntVar(&o.piSales, "pi-sales", 1000, "sales of the pi figure")
	piFlow := fs.String("pi-flow", string(flowCancel), "how the pi figure's load ends each sale: cancel (the register cancels it) or supersede (the next sale does)")
	fs.StringVar(&o.qemu, "qemu", "auto", "qemu-arm for the pi figure's armv6 run: auto (from PATH), off, or a path")
	fs.IntVar(&o.qemuSales, "qemu-sales", 30, "sales of the emulated armv6 run")
	fs.StringVar(&o.perfRecord, "perf-record", "", "pi figure: also record a CPU profile of the agent over the load with perf record into this file (use an unstripped -posagent)")
	natsModes := fs.String("nats", "embedded,external", "NATS cases of the start and memory figures: embedded, external (comma-separated)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for f := range strings.SplitSeq(*figures, ",") {
		if !slices.Contains([]string{"sizes", "start", "memory", "pi"}, f) {
			return o, fmt.Errorf("-figures: %q is not one of sizes, start, memory, pi", f)
		}
		o.figures = append(o.figures, f)
	}
	if o.piFlow = flow(*piFlow); o.piFlow != flowCancel && o.piFlow != flowSupersede {
		return o, fmt.Errorf("-pi-flow: %q is not one of cancel, supersede", *piFlow)
	}
	for m := range strings.SplitSeq(*natsModes, ",") {
		if m != string(embedded) && m != string(external) {
			return o, fmt.Errorf("-nats: %q is not one of embedded, external", m)
		}
		o.nats = append(o.nats, natsMode(m))
	}
	switch {
	case o.pos < 1 || o.pos > 99:
		return o, fmt.Errorf("-pos %d: want 1-99", o.pos)
	case o.sales < o.pos:
		return o, fmt.Errorf("-sales %d: want at least -pos (%d)", o.sales, o.pos)
	case o.starts < 1:
		return o, fmt.Errorf("-starts %d: want at least 1", o.starts)
	case o.gomaxprocs < 0:
		return o, fmt.Errorf("-gomaxprocs %d: want 0 (unset) or more", o.gomaxprocs)
	case o.piSales < 1 || o.qemuSales < 1:
		return o, fmt.Errorf("-pi-sales %d, -qemu-sales %d: want at least 1", o.piSales, o.qemuSales)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	if o.root == "" {
		if o.root, err = findRoot(); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp("", "benchdriver")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stderr, "work directory:", work)
	} else {
		defer os.RemoveAll(work)
	}
	d := &driver{o: o, work: work, log: stderr, out: stdout, agentEnv: runtimeEnv(o.gomaxprocs, o.gomemlimit)}
	fmt.Fprintf(stdout, "benchdriver %s\n\n", strings.Join(args, " "))
	fmt.Fprintf(stdout, "machine: %s\n\n", machine())
	for _, f := range o.figures {
		switch f {
		case "sizes":
			err = d.sizes(ctx)
		case "start":
			err = d.coldStart(ctx)
		case "memory":
			err = d.memory(ctx)
		case "pi":
			err = d.pi(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	return nil
}

// driver holds what the figures share.
type driver struct {
	o    options
	work string
	log  io.Writer // progress
	out  io.Writer // the tables
	seq  int       // numbers work subdirectories
	// agentEnv is added to the agent's environment (GOMAXPROCS,
	// GOMEMLIMIT); agentWrap, if set, runs the agent binary (qemu-arm).
	agentEnv  []string
	agentWrap string
}

// runtimeEnv is the GOMAXPROCS and GOMEMLIMIT settings as environment.
func runtimeEnv(procs int, memlimit string) []string {
	var env []string
	if procs > 0 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", procs))
	}
	if memlimit != "" && memlimit != "off" {
		env = append(env, "GOMEMLIMIT="+memlimit)
	}
	return env
}

// dir returns a new empty directory under the work directory.
func (d *driver) dir(name string) (string, error) {
	d.seq++
	p := filepath.Join(d.work, fmt.Sprintf("%02d-%s", d.seq, name))
	return p, os.MkdirAll(p, 0o755)
}

// findRoot walks up from the working directory to the main module.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/posagent/posagent\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no github.com/posagent/posagent go.mod above the working directory: pass -root")
		}
		dir = parent
	}
}

// machine describes the host for the tables' heading.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s, load average %s at start", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), load)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
