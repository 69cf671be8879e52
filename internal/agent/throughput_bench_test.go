package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
	"github.com/posagent/posagent/internal/secret"
	"github.com/posagent/posagent/internal/subject"
)

// The throughput benchmarks drive one agent serving many POS, each POS
// played by its own register connection, the way a store runs: POS work
// in parallel, but a register sends one command at a time and waits for
// its answer (no pipelining per POS).
//
// One benchmark op is one sale: the sale command is published with
// JetStream (PubAck), the register waits for the created event (the
// latency reported as p50/p90/p99), then cancels the sale and waits for
// canceled so the POS is free for the next. Cancelling keeps a cycle
// deterministic (paying would add up to a poll interval) and runs the same
// path a second time: a command, an API call, a record, an event.
// ns/op and sales/s are therefore whole cycles; cpu-ms/sale is the CPU of
// the whole test process (register, NATS server, agent, simulator) per
// sale, the figure that must stay flat as POS are added.
//
//	go test -run XXX -bench Throughput -benchtime 10000x -count 3 -timeout 60m ./internal/agent
//	go test -run XXX -bench SlowAPI -benchtime 1000x -timeout 30m ./internal/agent
//
// (about 9 and 5 minutes on 2 cores; results in BENCHMARKS.md).

// BenchmarkThroughput runs 1, 10 and 50 POS against the simulator without
// added latency, with the embedded NATS syncing every write (the default)
// and, for comparison, once a second.
func BenchmarkThroughput(b *testing.B) {
	for _, sync := range []string{"always", "1s"} {
		for _, pos := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("sync=%s/pos=%d", sync, pos), func(b *testing.B) {
				runThroughput(b, benchStoreOptions{pos: pos, sync: sync})
			})
		}
	}
}

// BenchmarkSlowAPI is BenchmarkThroughput with every Orders API request
// held 80-150 ms (uniform), as the real API answers from a store's uplink.
// overhead-* is the register's wait minus the time the API took to answer
// that sale's create, as measured at the simulator: what the agent (and
// NATS) add on top of Mercado Pago.
func BenchmarkSlowAPI(b *testing.B) {
	for _, pos := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("sync=always/pos=%d", pos), func(b *testing.B) {
			runThroughput(b, benchStoreOptions{pos: pos, sync: "always",
				latency: func() time.Duration { return 80*time.Millisecond + rand.N(71*time.Millisecond) }})
		})
	}
}

// BenchmarkThroughputPooled is BenchmarkThroughput with an API client that
// keeps an idle connection per POS. The shipped client keeps net/http's
// default of 2 idle connections per host, so with more than 2 requests in
// flight the others dial anew (against the real API: a TLS handshake);
// this shows what that costs.
func BenchmarkThroughputPooled(b *testing.B) {
	for _, pos := range []int{10, 50} {
		b.Run(fmt.Sprintf("sync=always/pos=%d", pos), func(b *testing.B) {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = pos
			runThroughput(b, benchStoreOptions{pos: pos, sync: "always", client: &http.Client{Transport: t}})
		})
	}
}

type benchStoreOptions struct {
	pos     int
	sync    string               // nats.embedded.sync
	latency func() time.Duration // added to every API request; nil = none
	client  *http.Client         // the agent's API client; nil = as shipped
}

// benchStore is an agent with its embedded NATS, the simulator and one
// register per POS.
type benchStore struct {
	b    *testing.B
	cfg  *config.Config
	api  *timedAPI
	regs []*benchRegister
}

// benchRegister is one POS's register: its own NATS connection and the
// events of its POS, stamped on arrival.
type benchRegister struct {
	pos string
	rc  *register.Client
	evc chan benchEvent
}

type benchEvent struct {
	at     time.Time
	saleID string
	status string
}

func newBenchStore(b *testing.B, o benchStoreOptions) *benchStore {
	b.Helper()
	sim := qrordertest.New(qrordertest.Options{Latency: o.latency})
	api := &timedAPI{h: sim, create: make(map[string]time.Duration)}
	srv := httptest.NewServer(api)
	b.Cleanup(func() { sim.Close(); srv.Close() })

	cfg := config.Default()
	cfg.StoreID = "S1"
	cfg.StoreName = "Café Central"
	cfg.MercadoPago.BaseURL = srv.URL
	cfg.StateDir = b.TempDir()
	cfg.NATS.Embedded.StoreDir = filepath.Join(cfg.StateDir, "nats")
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.NATS.Embedded.Sync = o.sync
	base := cfg.POS[0]
	base.Displays = nil
	cfg.POS = nil
	for i := range o.pos {
		p := base
		p.ExternalPOSID = fmt.Sprintf("POS%02d", i+1)
		cfg.POS = append(cfg.POS, p)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// Info to a discarding handler: the daemon's default level, with the
	// formatting cost and without a disk or terminal in the figures.
	a, err := New(Options{Config: cfg, Token: secret.New(qrordertest.DefaultToken),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HTTPListener: ln, HTTPClient: o.client})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				b.Errorf("agent Run: %v", err)
			}
		case <-time.After(wait):
			b.Error("agent did not stop in time")
		}
	})
	select {
	case <-a.Ready():
	case err := <-errc:
		b.Fatalf("agent did not start: %v", err)
	case <-time.After(wait):
		b.Fatal("agent not ready in time")
	}

	s := &benchStore{b: b, cfg: cfg, api: api}
	for _, p := range cfg.POS {
		s.regs = append(s.regs, s.connectRegister(a.NATSURL(), p.ExternalPOSID))
	}
	return s
}

func (s *benchStore) connectRegister(url, pos string) *benchRegister {
	s.b.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		s.b.Fatal(err)
	}
	s.b.Cleanup(nc.Close)
	rc, err := register.New(nc, s.cfg.NATS.SubjectPrefix, s.cfg.StoreID)
	if err != nil {
		s.b.Fatal(err)
	}
	r := &benchRegister{pos: pos, rc: rc, evc: make(chan benchEvent, 64)}
	_, err = nc.Subscribe(subject.Events(s.cfg.NATS.SubjectPrefix, s.cfg.StoreID, pos), func(m *nats.Msg) {
		at := time.Now()
		var e struct {
			SaleID string `json:"sale_id"`
			Status string `json:"status"`
		}
		if json.Unmarshal(m.Data, &e) == nil {
			r.evc <- benchEvent{at: at, saleID: e.SaleID, status: e.Status}
		}
	})
	if err != nil {
		s.b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		s.b.Fatal(err)
	}
	return r
}

// sale runs one cycle and returns the wait from sending the sale to its
// created event.
func (r *benchRegister) sale(id string) (time.Duration, error) {
	start := time.Now()
	if err := r.send("sale", `{"sale_id":"`+id+`","total_amount":"150.00","description":"Ticket `+id+
		`","items":[{"title":"Café con leche","unit_price":"75.00","quantity":2,"unit_measure":"unit","external_code":"7791234567890"}]}`); err != nil {
		return 0, err
	}
	created, err := r.await(id, "created")
	if err != nil {
		return 0, err
	}
	if err := r.send("cancel", `{"sale_id":"`+id+`"}`); err != nil {
		return 0, err
	}
	if _, err := r.await(id, "canceled"); err != nil {
		return 0, err
	}
	return created.Sub(start), nil
}

func (r *benchRegister) send(verb, payload string) error {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := r.rc.Send(ctx, r.pos, verb, []byte(payload))
	return err
}

// await skips events until saleID's status arrives and returns its arrival.
func (r *benchRegister) await(saleID, status string) (time.Time, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case e := <-r.evc:
			if e.saleID != saleID {
				continue
			}
			if e.status == status {
				return e.at, nil
			}
			if status == "created" || e.status == "rejected" || e.status == "failed" {
				return time.Time{}, fmt.Errorf("%s %s: got %s", r.pos, saleID, e.status)
			}
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("%s %s: no %s event within %s", r.pos, saleID, status, wait)
		}
	}
}

func runThroughput(b *testing.B, o benchStoreOptions) {
	s := newBenchStore(b, o)
	// One untimed sale per POS warms connections, consumers and caches.
	s.cycle(len(s.regs), "w")
	s.api.reset()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	lat := s.cycle(b.N, "s")
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) != b.N {
		return // a cycle failed and said why
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sales/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/sale")
	if o.latency != nil {
		var over, api []time.Duration
		for id, l := range lat {
			d, ok := s.api.createTime(id)
			if !ok {
				b.Fatalf("no create timed for %s", id)
			}
			over = append(over, l-d)
			api = append(api, d)
		}
		reportQuantiles(b, "api-", api)
		reportQuantiles(b, "overhead-", over)
	}
	all := make([]time.Duration, 0, len(lat))
	for _, l := range lat {
		all = append(all, l)
	}
	reportPercentiles(b, all)
}

// cycle runs n sales over every POS in parallel, each POS one at a time,
// and returns each sale's wait for created by sale id. A failure ends the
// run with b.Error.
func (s *benchStore) cycle(n int, prefix string) map[string]time.Duration {
	var next atomic.Int64
	var failed atomic.Bool
	var mu sync.Mutex
	lat := make(map[string]time.Duration, n)
	var wg sync.WaitGroup
	for _, r := range s.regs {
		wg.Go(func() {
			for !failed.Load() {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := fmt.Sprintf("%s%d", prefix, i)
				l, err := r.sale(id)
				if err != nil {
					failed.Store(true)
					s.b.Error(err)
					return
				}
				mu.Lock()
				lat[id] = l
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return lat
}

// cpuTime is the user plus system CPU time used by this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportQuantiles reports p50/p90/p99 of d in ms under a name prefix.
func reportQuantiles(b *testing.B, prefix string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	p := func(q float64) float64 { return float64(d[int(q*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), prefix+"p50-ms")
	b.ReportMetric(p(0.9), prefix+"p90-ms")
	b.ReportMetric(p(0.99), prefix+"p99-ms")
}

// timedAPI serves the simulator and measures, at the server, how long
// each create took to answer, by external reference (the sale id).
type timedAPI struct {
	h      http.Handler
	mu     sync.Mutex
	create map[string]time.Duration
}

func (t *timedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/orders" {
		t.h.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	start := time.Now()
	t.h.ServeHTTP(w, r)
	d := time.Since(start)
	var o struct {
		ExternalReference string `json:"external_reference"`
	}
	if json.Unmarshal(body, &o) == nil {
		t.mu.Lock()
		t.create[o.ExternalReference] = d
		t.mu.Unlock()
	}
}

func (t *timedAPI) createTime(ref string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.create[ref]
	return d, ok
}

func (t *timedAPI) reset() {
	t.mu.Lock()
	clear(t.create)
	t.mu.Unlock()
}
