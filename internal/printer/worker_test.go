package printer

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/printer/escpostest"
)

// recorder wraps the real transport and says when a write went through:
// what the test waits on instead of sleeping.
type recorder struct {
	Transport
	wrote chan []byte
}

func (r *recorder) Write(p []byte) (int, error) {
	n, err := r.Transport.Write(p)
	if err == nil {
		r.wrote <- bytes.Clone(p)
	}
	return n, err
}

// statusRecorder is a recorder for a transport that can ask the printer.
type statusRecorder struct{ *recorder }

func (r statusRecorder) Status(ctx context.Context) (Status, error) {
	return r.Transport.(StatusReader).Status(ctx)
}

func (r *recorder) Idle() {
	if i, ok := r.Transport.(idler); ok {
		i.Idle()
	}
}

// events collects what a worker reports.
type events struct {
	statuses chan Status
	errors   chan string
}

func newEvents() *events {
	return &events{statuses: make(chan Status, 100), errors: make(chan string, 1000)}
}

func (e *events) onStatus(s Status) { e.statuses <- s }
func (e *events) onError(s string)  { e.errors <- s }

func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20 s", what)
	}
	panic("unreachable")
}

// result runs f and waits for it with a generous deadline, so a hang
// fails the test instead of stalling it; how long f took is not judged.
func result[T any](t *testing.T, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("call did not return within 20 s")
	}
	panic("unreachable")
}

// startWorker runs p until the test ends and checks Run returns nil then.
func startWorker(t *testing.T, p *Printer) *recorder {
	t.Helper()
	rec := &recorder{Transport: p.tr, wrote: make(chan []byte, 10)}
	p.tr = rec
	if _, ok := rec.Transport.(StatusReader); ok {
		p.tr = statusRecorder{rec}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := within(t, done, "Run's return"); err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	})
	return rec
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func fileWorkerConfig(path string) Config {
	return Config{Transport: "file", Device: path, Profile: "epson58", RetryMin: 5 * time.Millisecond,
		RetryMax: 20 * time.Millisecond, Location: art}
}

func job(sale string, wanted func() bool) Job {
	r := goldenReceipt(SampleQRData)
	r.SaleID = sale
	return Job{Receipt: r, Wanted: wanted}
}

// saleIDs lists the sale ids of the receipts in a spool file.
func saleIDs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := escpostest.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range doc.Lines() {
		if id, ok := strings.CutPrefix(l, "Venta: "); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestWorkerDropsJobNoLongerWanted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.bin")
	ev := newEvents()
	p := New(fileWorkerConfig(path), testLogger(t), ev.onStatus, ev.onError)
	rec := startWorker(t, p)

	asked := make(chan struct{}, 1)
	p.Print(job("PAID", func() bool { asked <- struct{}{}; return false }))
	within(t, asked, "Wanted call")
	p.Print(job("S2", nil))
	within(t, rec.wrote, "receipt")
	if ids := saleIDs(t, path); len(ids) != 1 || ids[0] != "S2" {
		t.Errorf("printed sales %v, want only S2", ids)
	}
	// The worker asks a job's Wanted only once it is done with the one
	// before: after this, S2's outcome is recorded.
	p.Print(job("LATER", func() bool { asked <- struct{}{}; return false }))
	within(t, asked, "Wanted call")
	if h := p.Health(); h != "ok" {
		t.Errorf("Health = %q, want ok", h)
	}
	select {
	case s := <-ev.statuses:
		t.Errorf("onStatus(%v) with nothing wrong: the first ok is not news", s)
	default:
	}
}

func TestWorkerRetriesUntilPrinterIsBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet")
	path := filepath.Join(dir, "spool.bin")
	ev := newEvents()
	p := New(fileWorkerConfig(path), testLogger(t), ev.onStatus, ev.onError)
	if h := p.Health(); h != "unknown" {
		t.Errorf("Health before anything = %q, want unknown", h)
	}
	rec := startWorker(t, p)

	p.Print(job("S1", nil))
	if s := within(t, ev.statuses, "offline status"); s != StatusOffline {
		t.Fatalf("first status %v, want offline", s)
	}
	for range 3 { // several failed attempts, one status event
		if e := within(t, ev.errors, "error report"); e != "offline" {
			t.Errorf("onError(%q), want offline", e)
		}
	}
	if h := p.Health(); !strings.HasPrefix(h, "offline: ") {
		t.Errorf("Health while failing = %q", h)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	within(t, rec.wrote, "receipt")
	if s := within(t, ev.statuses, "recovery"); s != StatusOK {
		t.Fatalf("status after recovery %v, want ok", s)
	}
	select {
	case s := <-ev.statuses:
		t.Errorf("extra onStatus(%v): status is reported on change only", s)
	default:
	}
	if ids := saleIDs(t, path); len(ids) != 1 || ids[0] != "S1" {
		t.Errorf("printed %v, want S1 once", ids)
	}
	b, _ := os.ReadFile(path)
	doc, _ := escpostest.Decode(b)
	if qr := doc.Ops[doc.Index(escpostest.QR)[0]].QR; string(qr.Data) != SampleQRData {
		t.Errorf("printed QR %q", qr.Data)
	}
}

func TestWorkerGivesUpWhenSaleEndsDuringRetries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet")
	path := filepath.Join(dir, "spool.bin")
	p := New(fileWorkerConfig(path), testLogger(t), nil, nil)
	rec := startWorker(t, p)

	var calls atomic.Int32
	paid := make(chan struct{})
	p.Print(job("S1", func() bool {
		if calls.Add(1) < 3 {
			return true
		}
		close(paid) // the sale got paid while the printer was away
		return false
	}))
	within(t, paid, "the sale's end")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.Print(job("S2", nil))
	within(t, rec.wrote, "receipt")
	if ids := saleIDs(t, path); len(ids) != 1 || ids[0] != "S2" {
		t.Errorf("printed %v, want only S2", ids)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("Wanted asked %d times after it said no", n)
	}
}

func TestWorkerLatestJobWins(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet")
	path := filepath.Join(dir, "spool.bin")
	ev := newEvents()
	p := New(fileWorkerConfig(path), testLogger(t), ev.onStatus, ev.onError)
	for i := range 100 { // Print never blocks, with or without a worker running
		p.Print(job("QUEUED"+string(rune('A'+i%26)), nil))
	}
	rec := startWorker(t, p)
	within(t, ev.errors, "failed attempt") // a job is retrying
	p.Print(job("NEWER", nil))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	within(t, rec.wrote, "receipt")
	// The retrying job gave way to NEWER; whichever was being written when
	// the directory appeared, NEWER is printed and nothing older after it.
	var ids []string
	for {
		ids = saleIDs(t, path)
		if ids[len(ids)-1] == "NEWER" {
			break
		}
		within(t, rec.wrote, "the newer receipt")
	}
	if len(ids) > 2 {
		t.Errorf("printed %v: old jobs were not replaced", ids)
	}
}

// statusPrinter is a network printer whose DLE EOT answers the test sets;
// each connection's bytes (status requests stripped) go to jobs.
type statusPrinter struct {
	mu      sync.Mutex
	answers [3]byte
	jobs    chan []byte
}

func (sp *statusPrinter) set(a [3]byte) {
	sp.mu.Lock()
	sp.answers = a
	sp.mu.Unlock()
}

func (sp *statusPrinter) handle(c *net.TCPConn) {
	go func() {
		defer c.Close()
		var data []byte
		buf := make([]byte, 8192)
		for {
			n, err := c.Read(buf)
			data = append(data, buf[:n]...)
			for {
				i := bytes.Index(data, []byte{0x10, 0x04})
				if i < 0 || i+2 >= len(data) {
					break
				}
				sp.mu.Lock()
				a := sp.answers[map[byte]int{1: 0, 2: 1, 4: 2}[data[i+2]]]
				sp.mu.Unlock()
				c.Write([]byte{a})
				data = append(data[:i], data[i+3:]...)
			}
			if err != nil {
				if len(data) > 0 {
					sp.jobs <- data
				}
				return
			}
		}
	}()
}

func TestWorkerWaitsForPaperAndReportsChanges(t *testing.T) {
	sp := &statusPrinter{answers: [3]byte{0x1A, 0x32, 0x72}, jobs: make(chan []byte, 10)} // paper out
	addr := tcpPrinter(t, sp.handle)
	ev := newEvents()
	cfg := Config{Transport: "tcp", Device: addr, Profile: "epson", WriteTimeout: 2 * time.Second,
		StatusTimeout: 2 * time.Second, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Location: art}
	p := New(cfg, testLogger(t), ev.onStatus, ev.onError)
	startWorker(t, p)

	if s := within(t, ev.statuses, "startup status"); s != StatusPaperOut {
		t.Fatalf("startup status %v, want paper_out", s)
	}
	p.Print(job("S1", nil))
	for range 3 {
		if e := within(t, ev.errors, "error report"); e != "paper_out" {
			t.Errorf("onError(%q), want paper_out", e)
		}
	}
	sp.set([3]byte{0x12, 0x12, 0x12}) // paper loaded
	got := within(t, sp.jobs, "the receipt")
	doc, err := escpostest.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	if qr := doc.Ops[doc.Index(escpostest.QR)[0]].QR; string(qr.Data) != SampleQRData {
		t.Errorf("printed QR %q", qr.Data)
	}
	if s := within(t, ev.statuses, "recovery"); s != StatusOK {
		t.Errorf("status after paper loaded %v, want ok", s)
	}
	select {
	case s := <-ev.statuses:
		t.Errorf("extra onStatus(%v)", s)
	default:
	}
	if h := p.Health(); h != "ok" {
		t.Errorf("Health = %q", h)
	}
}

func TestWorkerSilenceAfterAnswersIsOffline(t *testing.T) {
	sp := &statusPrinter{answers: [3]byte{0x12, 0x12, 0x12}, jobs: make(chan []byte, 10)}
	silent := atomic.Bool{}
	addr := tcpPrinter(t, func(c *net.TCPConn) {
		if silent.Load() { // switched off behind a box that still accepts
			go func() { io.Copy(io.Discard, c); c.Close() }()
			return
		}
		sp.handle(c)
	})
	ev := newEvents()
	cfg := Config{Transport: "tcp", Device: addr, WriteTimeout: 2 * time.Second, StatusTimeout: 100 * time.Millisecond,
		RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, Location: art}
	p := New(cfg, testLogger(t), ev.onStatus, ev.onError)
	startWorker(t, p)
	p.Print(job("S1", nil))
	within(t, sp.jobs, "first receipt") // the printer has answered: status is known to work
	silent.Store(true)
	p.Print(job("S2", nil))
	if s := within(t, ev.statuses, "status"); s != StatusOffline {
		t.Errorf("silent printer that answered before: %v, want offline", s)
	}
}

func TestWorkerBadConfig(t *testing.T) {
	p := New(Config{Transport: "carrier-pigeon"}, nil, nil, nil)
	if err := p.Run(context.Background()); err == nil {
		t.Error("Run with a bad config: no error")
	}
	if h := p.Health(); h != "invalid configuration" {
		t.Errorf("Health = %q", h)
	}
	p.Print(job("S1", nil)) // still never blocks
}

func TestPrintOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.bin")
	r := TestReceipt("Café Central", "es-AR")
	if err := PrintOnce(context.Background(), Config{Transport: "file", Device: path, Profile: "generic58"}, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc, err := escpostest.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	img := doc.Ops[doc.Index(escpostest.Raster)[0]].Image
	above, below := doc.FeedAround(doc.Index(escpostest.Raster)[0])
	if got, err := escpostest.DecodeQR(img.Image(above, below)); err != nil || got != r.QRData {
		t.Errorf("test receipt QR: %q, %v", got, err)
	}
	if lines := doc.Lines(); !contains(lines, "Impresi\u00f3n de prueba") {
		t.Errorf("test receipt lines %q", lines)
	}

	sp := &statusPrinter{answers: [3]byte{0x1A, 0x16, 0x12}, jobs: make(chan []byte, 1)} // cover open
	addr := tcpPrinter(t, sp.handle)
	err = PrintOnce(context.Background(), Config{Transport: "tcp", Device: addr}, r)
	if err == nil || !strings.Contains(err.Error(), "cover_open") {
		t.Errorf("PrintOnce with the cover open: %v", err)
	}
	// PrintOnce returned after the printer closed its end, which it does
	// right after handing over what it got.
	select {
	case got := <-sp.jobs:
		t.Errorf("%d bytes were sent to a printer with its cover open", len(got))
	default:
	}
}
