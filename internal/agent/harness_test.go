package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
	"github.com/posagent/posagent/internal/secret"
	"github.com/posagent/posagent/internal/subject"
)

const (
	staticQR = "00020101021143520016com.mercadolibre0128https://mpago.la/pos/1043915501300091234567895204970053030325802AR5909FULL NAME6010CITY LEGAL63040AAB"
	wait     = 30 * time.Second
)

// harness runs an agent against the simulator and a real NATS server, and
// plays the register.
type harness struct {
	t      testing.TB
	sim    *qrordertest.Simulator
	cfg    *config.Config
	ns     *server.Server // external NATS, when the test asked for one
	token  string
	logBuf *syncBuffer

	mu     sync.Mutex
	agent  *Agent
	cancel context.CancelFunc
	errc   chan error

	nc     *nats.Conn
	rc     *register.Client
	evMu   sync.Mutex
	evCond *sync.Cond
	events []register.Received

	noRegister bool
	agentOpts  []func(*Options) // applied to the agent's options at each start
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harnessOpt func(*harness)

// withExternalNATS runs nats-server beside the agent, so the agent can be
// restarted while NATS keeps the commands.
func withExternalNATS() harnessOpt { return func(h *harness) { h.ns = runNATS(h.t, h.t.TempDir()) } }

func withConfig(fn func(*config.Config)) harnessOpt { return func(h *harness) { fn(h.cfg) } }

func runNATS(t testing.TB, dir string) *server.Server {
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = dir
	return natstest.RunServer(&opts)
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, token: qrordertest.DefaultToken, logBuf: &syncBuffer{}}
	return h.setup(opts...)
}

func (h *harness) setup(opts ...harnessOpt) *harness {
	t := h.t
	h.evCond = sync.NewCond(&h.evMu)
	h.sim = qrordertest.NewServer(t, qrordertest.Options{POS: []string{"POS1", "POS2", "POS3"}})
	cfg := config.Default()
	cfg.StoreID = "S1"
	cfg.StoreName = "Café Central"
	cfg.MercadoPago.BaseURL = h.sim.URL()
	cfg.MercadoPago.PollInterval = 20 * time.Millisecond
	cfg.MercadoPago.RequestTimeout = 2 * time.Second
	cfg.MercadoPago.RetryBudget = 3 * time.Second
	cfg.StateDir = t.TempDir()
	cfg.NATS.Embedded.StoreDir = filepath.Join(cfg.StateDir, "nats")
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.NATS.Embedded.Sync = "1s" // fsync per write costs seconds over a test run; durability is tested apart
	base := cfg.POS[0]
	base.Displays = nil
	p1, p2, p3 := base, base, base
	p1.ExternalPOSID = "POS1"
	p2.ExternalPOSID, p2.Mode, p2.StaticQRData = "POS2", "static", staticQR
	p3.ExternalPOSID = "POS3"
	cfg.POS = []config.POS{p1, p2, p3}
	h.cfg = cfg
	for _, o := range opts {
		o(h)
	}
	if h.ns != nil {
		cfg.NATS.URL = h.ns.ClientURL()
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	o := Options{Config: h.cfg, Token: secret.New(h.token), Backoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(h.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})), HTTPListener: ln,
		ShutdownGrace: 200 * time.Millisecond, ProbeEvery: 100 * time.Millisecond}
	for _, f := range h.agentOpts {
		f(&o)
	}
	a, err := New(o)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-errc:
		cancel()
		h.t.Fatalf("agent did not start: %v\nlog:\n%s", err, h.logBuf.String())
	case <-time.After(wait):
		cancel()
		stacks := make([]byte, 4<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		h.t.Fatalf("agent not ready in %s\nlog:\n%s\ngoroutines:\n%s", wait, h.logBuf.String(), stacks)
	}
	h.mu.Lock()
	h.agent, h.cancel, h.errc = a, cancel, errc
	h.mu.Unlock()
	if !h.noRegister && (h.nc == nil || h.nc.IsClosed()) {
		h.connectRegister()
	}
}

func (h *harness) connectRegister() {
	h.t.Helper()
	nc, err := nats.Connect(h.agent.NATSURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	h.nc = nc
	if h.rc, err = register.New(nc, h.cfg.NATS.SubjectPrefix, h.cfg.StoreID); err != nil {
		h.t.Fatal(err)
	}
	_, err = nc.Subscribe(h.cfg.NATS.SubjectPrefix+"."+h.cfg.StoreID+".*.evt.>", func(m *nats.Msg) {
		r := register.Received{Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Raw: m.Data}
		if err := json.Unmarshal(m.Data, &r.Event); err != nil {
			h.t.Errorf("event not JSON: %s", m.Data)
			return
		}
		h.addEvent(r)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		h.t.Fatal(err)
	}
	// Events published while no register was connected (the embedded
	// server restarts with the agent) are read back from the stream.
	for _, r := range h.storedEvents() {
		h.addEvent(r)
	}
}

// addEvent records an event once, however many ways it arrived.
func (h *harness) addEvent(r register.Received) {
	h.evMu.Lock()
	defer h.evMu.Unlock()
	for _, e := range h.events {
		if e.MsgID == r.MsgID && string(e.Raw) == string(r.Raw) {
			return
		}
	}
	h.events = append(h.events, r)
	h.evCond.Broadcast()
}

// stop ends the agent (the embedded NATS with it) and waits.
func (h *harness) stop() {
	h.mu.Lock()
	cancel, errc := h.cancel, h.errc
	h.cancel, h.errc = nil, nil
	h.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			h.t.Errorf("agent Run: %v", err)
		}
	case <-time.After(wait):
		h.t.Error("agent did not stop in time")
	}
	if h.ns == nil && h.nc != nil {
		h.nc.Close() // the embedded server went with the agent
	}
}

func (h *harness) restart() {
	h.stop()
	h.start()
}

func (h *harness) send(pos, verb, payload string) uint64 {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	seq, err := h.rc.Send(ctx, pos, verb, []byte(payload))
	if err != nil {
		h.t.Fatal(err)
	}
	return seq
}

// waitEvent waits for an event matching pred among all the events seen.
func (h *harness) waitEvent(what string, pred func(register.Received) bool) register.Received {
	h.t.Helper()
	return h.waitEventFrom(0, what, pred)
}

// eventCount is how many events the harness has seen so far.
func (h *harness) eventCount() int {
	h.evMu.Lock()
	defer h.evMu.Unlock()
	return len(h.events)
}

// waitEventFrom waits for an event matching pred among the events seen
// from the start-th on (eventCount before a command: its answers).
func (h *harness) waitEventFrom(start int, what string, pred func(register.Received) bool) register.Received {
	h.t.Helper()
	deadline := time.Now().Add(wait)
	timer := time.AfterFunc(wait, func() { h.evMu.Lock(); h.evCond.Broadcast(); h.evMu.Unlock() })
	defer timer.Stop()
	h.evMu.Lock()
	defer h.evMu.Unlock()
	for {
		for _, r := range h.events[min(start, len(h.events)):] {
			if pred(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, r := range h.events {
				seen = append(seen, string(r.Raw))
			}
			h.t.Fatalf("no event %s within %s; seen:\n%s\nlog:\n%s", what, wait, strings.Join(seen, "\n"), h.logBuf.String())
		}
		h.evCond.Wait()
	}
}

func (h *harness) waitSale(saleID, status string) register.Received {
	h.t.Helper()
	return h.waitEvent(saleID+" "+status, func(r register.Received) bool {
		return r.Event.SaleID == saleID && r.Event.Status == status
	})
}

func (h *harness) waitCmd(seq uint64, status string) register.Received {
	h.t.Helper()
	return h.waitEvent(fmt.Sprintf("cmd %d %s", seq, status), func(r register.Received) bool {
		return r.CommandSeq() == seq && r.Event.Status == status
	})
}

func (h *harness) eventsOf(saleID string) []register.Received {
	h.evMu.Lock()
	defer h.evMu.Unlock()
	var out []register.Received
	for _, r := range h.events {
		if r.Event.SaleID == saleID {
			out = append(out, r)
		}
	}
	return out
}

// storedEvents reads every event kept in the events stream.
func (h *harness) storedEvents() []register.Received {
	h.t.Helper()
	js, err := jetstream.New(h.nc)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []register.Received
	for _, m := range readMessages(h.t, js, h.cfg.NATS.Streams.Events) {
		r := register.Received{Subject: m.Subject(), MsgID: m.Headers().Get(jetstream.MsgIDHeader), Raw: m.Data()}
		_ = json.Unmarshal(m.Data(), &r.Event)
		out = append(out, r)
	}
	return out
}

func (h *harness) status(pos string) events.StatusReply {
	h.t.Helper()
	m, err := h.nc.Request(subject.Status(h.cfg.NATS.SubjectPrefix, h.cfg.StoreID, pos), nil, wait)
	if err != nil {
		h.t.Fatal(err)
	}
	var st events.StatusReply
	if err := json.Unmarshal(m.Data, &st); err != nil {
		h.t.Fatalf("status %s: %v", m.Data, err)
	}
	return st
}

func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get("http://" + h.agent.HTTPAddr() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(resp))
	return resp.StatusCode, b.String()
}

func readAll(resp *http.Response) string {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

func (h *harness) apiCalls(method, pathPrefix string) int {
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, pathPrefix) {
			n++
		}
	}
	return n
}

// orderCalls counts the API requests about sales: everything but the
// agent's token probe.
func (h *harness) orderCalls() int {
	n := 0
	for _, r := range h.sim.Requests() {
		if r.Path != "/v1/orders/"+probeOrderID {
			n++
		}
	}
	return n
}

func (h *harness) simWait(cond func() bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.sim.Wait(ctx, cond); err != nil {
		h.t.Fatalf("simulator condition not reached: %v\nlog:\n%s", err, h.logBuf.String())
	}
}

// runNATSAt restarts a NATS server on the same store and port.
func runNATSAt(t *testing.T, dir, hostport string) *server.Server {
	opts := natstest.DefaultTestOptions
	_, port, _ := net.SplitHostPort(hostport)
	fmt.Sscan(port, &opts.Port)
	opts.JetStream = true
	opts.StoreDir = dir
	return natstest.RunServer(&opts)
}

// newHarnessNoRegister starts the agent without the harness's own register
// connection (for servers that require credentials).
func newHarnessNoRegister(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, token: qrordertest.DefaultToken, logBuf: &syncBuffer{}, noRegister: true}
	return h.setup(opts...)
}

func splitHostPort(url string) (string, string, error) {
	return net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(url, "nats://"), "tls://"))
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func testToken() secret.String { return secret.New(qrordertest.DefaultToken) }
