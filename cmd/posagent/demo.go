package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/agent"
	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
	"github.com/posagent/posagent/internal/secret"
)

// cmdDemo is the zero-setup tour: the built-in Orders API simulator, the
// agent with its embedded NATS, the terminal and web displays, and one
// sale from the register to "paid".
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	amount := fs.String("amount", "1234.50", "the sale's total")
	payAfter := fs.Duration("pay-after", 4*time.Second, "when the simulated customer pays")
	keep := fs.Bool("keep", false, "keep running after the sale (Ctrl-C to stop), to try `posagent sale` and the web display")
	httpAddr := fs.String("http", "127.0.0.1:0", "HTTP listener (web display, health, metrics)")
	verbose := fs.Bool("v", false, "show the agent's log")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "posagent-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sim := qrordertest.New(qrordertest.Options{})
	simURL, stopSim := sim.Start()
	defer stopSim()
	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	d := &demo{screen: &demoScreen{w: stdout, tty: isTerminal(stdout)}, sim: sim, simURL: simURL}
	a, err := d.newAgent(dir, *httpAddr, logOut)
	if err != nil {
		return err
	}
	runCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	errc := make(chan error, 1)
	go func() { errc <- a.Run(runCtx) }()
	select {
	case <-a.Ready():
	case err := <-errc:
		return fmt.Errorf("demo: agent did not start: %w", err)
	}
	if err := d.sale(ctx, a, *amount, *payAfter); err != nil {
		return err
	}
	if *keep {
		d.keepRunning(ctx, a)
	}
	stopAgent()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	d.screen.step("demo finished")
	return nil
}

// demo is one run of the tour.
type demo struct {
	screen *demoScreen
	sim    *qrordertest.Simulator
	simURL string
	cfg    *config.Config
}

// newAgent configures the agent for the simulator, in dir.
func (d *demo) newAgent(dir, httpAddr string, logOut io.Writer) (*agent.Agent, error) {
	cfg := config.Default()
	cfg.MercadoPago.BaseURL = d.simURL
	cfg.MercadoPago.PollInterval = 500 * time.Millisecond
	cfg.StateDir = dir
	cfg.NATS.Embedded.StoreDir = filepath.Join(dir, "nats")
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = httpAddr
	ln, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return nil, usagef("-http %s: %v", httpAddr, err)
	}
	d.cfg = cfg
	return agent.New(agent.Options{Config: cfg, Token: secret.New(qrordertest.DefaultToken),
		Logger: slog.New(slog.NewTextHandler(logOut, nil)), Terminal: d.screen, PlainTerminal: !d.screen.tty,
		HTTPListener: ln, ShutdownGrace: 2 * time.Second})
}

// sale tells the story of one sale, from the register's command to paid.
func (d *demo) sale(ctx context.Context, a *agent.Agent, amount string, payAfter time.Duration) error {
	cfg, pos := d.cfg, d.cfg.POS[0].ExternalPOSID
	d.screen.step("posagent demo: store %s, POS %s", cfg.StoreID, pos)
	d.screen.step("Orders API simulator: %s", d.simURL)
	d.screen.step("NATS (embedded): %s", a.NATSURL())
	d.screen.step("customer display in a browser: http://%s/display/%s", a.HTTPAddr(), pos)
	d.screen.step("status page for store IT: http://%s/", a.HTTPAddr())
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	rc, err := register.New(nc, cfg.NATS.SubjectPrefix, cfg.StoreID)
	if err != nil {
		return err
	}
	ch, stopWatch, err := rc.Watch(pos)
	if err != nil {
		return err
	}
	defer stopWatch()
	saleID := "demo-" + time.Now().UTC().Format("20060102-150405")
	seq, err := rc.SendJSON(ctx, pos, "sale", map[string]any{"sale_id": saleID, "total_amount": amount,
		"description": "posagent demo", "items": []map[string]any{{"title": "Café con leche", "unit_price": amount, "quantity": 1}}})
	if err != nil {
		return err
	}
	d.screen.step("register -> %s: sale %s for %s", rc.Subject(pos, "sale"), saleID, amount)
	waitCtx, cancel := context.WithTimeout(ctx, payAfter+60*time.Second)
	defer cancel()
	final := func(r register.Received) bool { return r.Event.Status != events.Created }
	last, err := register.Follow(waitCtx, ch, saleID, seq, final, func(r register.Received) {
		d.screen.step("agent -> register: %s", describe(r.Event))
		if r.Event.Status == events.Created {
			d.screen.step("the customer scans the QR... (simulated payment in %s)", payAfter)
			orderID := r.Event.OrderID
			time.AfterFunc(payAfter, func() { _ = d.sim.Pay(orderID) })
		}
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if last.Event.Status != events.Processed {
		return fmt.Errorf("demo: the sale ended %s, not processed", last.Event.Status)
	}
	// Let the customer display draw its "paid" screen before the story ends.
	select {
	case <-d.screen.nextFrame():
	case <-time.After(2 * time.Second):
	}
	d.screen.step("paid")
	return nil
}

// keepRunning prints what to try (only now, when there is something to
// try it on) and waits for Ctrl-C.
func (d *demo) keepRunning(ctx context.Context, a *agent.Agent) {
	pos := d.cfg.POS[0].ExternalPOSID
	d.screen.step("try: curl http://%s/healthz", a.HTTPAddr())
	d.screen.step("pay an order: curl -X POST %s/simulator/orders/ORDER_ID/pay", d.simURL)
	d.screen.step("a register kit against it (examples/): NATS_URL=%s STORE=%s POS=%s POSAGENT_SIM_URL=%s bash examples/node/test.sh",
		a.NATSURL(), d.cfg.StoreID, pos, d.simURL)
	d.screen.step("still running; Ctrl-C to stop")
	<-ctx.Done()
}

// demoScreen is the terminal display's writer in the demo. On a terminal
// every frame is followed by the demo's story so far, so the redraws do not
// wipe it; elsewhere frames and steps are plain lines.
type demoScreen struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	steps []string
	frame []byte
	drawn chan struct{} // closed and replaced on every frame
}

// nextFrame is closed when the display draws its next frame.
func (d *demoScreen) nextFrame() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drawn == nil {
		d.drawn = make(chan struct{})
	}
	return d.drawn
}

// framed wakes nextFrame's waiters; d.mu is held.
func (d *demoScreen) framed() {
	if d.drawn != nil {
		close(d.drawn)
		d.drawn = nil
	}
}

func (d *demoScreen) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.framed()
	if !d.tty {
		return d.w.Write(p)
	}
	d.frame = append(d.frame[:0], p...)
	return len(p), d.redraw()
}

func (d *demoScreen) step(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	line := fmt.Sprintf(format, args...)
	if !d.tty {
		fmt.Fprintln(d.w, "* "+line)
		return
	}
	d.steps = append(d.steps, line)
	_ = d.redraw()
}

func (d *demoScreen) redraw() error {
	var b strings.Builder
	b.Write(d.frame)
	b.WriteString("\n")
	for _, s := range d.steps[max(0, len(d.steps)-12):] {
		b.WriteString("  " + s + "\x1b[K\n")
	}
	_, err := io.WriteString(d.w, b.String())
	return err
}
