package display

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// wait is how long a test waits for something that should happen at once;
// it only bounds a failing test, it never decides a passing one.
const wait = 10 * time.Second

// fakeTimers hands the test every timer the Controller starts, to fire by
// hand.
type fakeTimers struct{ calls chan fakeTimer }

type fakeTimer struct {
	d time.Duration
	c chan time.Time
}

func newFakeTimers() *fakeTimers { return &fakeTimers{calls: make(chan fakeTimer, 100)} }

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	f.calls <- fakeTimer{d, c}
	return c
}

func (f *fakeTimers) next(t *testing.T) fakeTimer {
	t.Helper()
	select {
	case ft := <-f.calls:
		return ft
	case <-time.After(wait):
		t.Fatal("no timer was started")
		return fakeTimer{}
	}
}

// recordSink records every screen it is shown; err, if set, decides the
// result of each call.
type recordSink struct {
	shows chan Screen
	err   func(n int, s Screen) error
	mu    sync.Mutex
	n     int
}

func newRecordSink() *recordSink { return &recordSink{shows: make(chan Screen, 100)} }

func (r *recordSink) Show(ctx context.Context, s Screen) error {
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	var err error
	if r.err != nil {
		err = r.err(n, s)
	}
	if err == nil {
		r.shows <- s
	}
	return err
}

func (r *recordSink) next(t *testing.T) Screen {
	t.Helper()
	select {
	case s := <-r.shows:
		return s
	case <-time.After(wait):
		t.Fatal("the sink was not shown a screen")
		return Screen{}
	}
}

// until reads screens until one is in state st.
func (r *recordSink) until(t *testing.T, st State) Screen {
	t.Helper()
	for {
		if s := r.next(t); s.State == st {
			return s
		}
	}
}

func runController(t *testing.T, cfg ControllerConfig) *Controller {
	t.Helper()
	c := NewController(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v on cancel, want nil", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	return c
}

func TestControllerResultHold(t *testing.T) {
	timers := newFakeTimers()
	rec := newRecordSink()
	c := runController(t, ControllerConfig{
		POS: "P1", Sinks: []NamedSink{{"test", rec}}, ResultHold: 7 * time.Second,
		Idle: Screen{StoreName: "Café", Locale: "es-AR"}, After: timers.After,
	})
	if s := rec.next(t); s.State != StateIdle || s.StoreName != "Café" || s.POS != "P1" {
		t.Fatalf("first screen %+v, want the idle screen", s)
	}
	for _, st := range []State{StatePaid, StateExpired, StateCanceled, StateError} {
		c.Show(Screen{State: st, Amount: 100})
		if s := rec.next(t); s.State != st || s.StoreName != "Café" || s.Locale != "es-AR" {
			t.Fatalf("shown %+v, want %s with the idle screen's store and locale", s, st)
		}
		ft := timers.next(t)
		if ft.d != 7*time.Second {
			t.Fatalf("hold timer %v, want 7s", ft.d)
		}
		if got := c.Current().State; got != st {
			t.Fatalf("before the hold ends Current is %s", got)
		}
		ft.c <- time.Now()
		if s := rec.next(t); s.State != StateIdle {
			t.Fatalf("after the hold %s is shown, want idle", s.State)
		}
		if got := c.Current().State; got != StateIdle {
			t.Fatalf("after the hold Current is %s", got)
		}
	}

	// A screen shown during the hold is not reverted by the old timer.
	c.Show(Screen{State: StatePaid})
	rec.until(t, StatePaid)
	ft := timers.next(t)
	c.Show(Screen{State: StateCart, Message: "next customer"})
	rec.until(t, StateCart)
	ft.c <- time.Now()
	c.Show(Screen{State: StateCart, Message: "still here"}) // flushes: the hold loop has seen the timer by now or will ignore it
	if s := rec.until(t, StateCart); s.Message != "still here" {
		t.Fatalf("got %+v", s)
	}
	if got := c.Current(); got.State != StateCart {
		t.Fatalf("the stale hold reverted a cart: %+v", got)
	}

	// Cart and awaiting stay up: no hold timer.
	c.Show(Screen{State: StateAwaitingPayment, QRData: "x"})
	rec.until(t, StateAwaitingPayment)
	select {
	case ft := <-timers.calls:
		t.Fatalf("a timer of %v was started for a non-result screen", ft.d)
	default:
	}
}

// TestControllerResultHoldRealTimer runs the hold on real timers: a short
// hold, and the test waits for the idle screen, not for a time.
func TestControllerResultHoldRealTimer(t *testing.T) {
	rec := newRecordSink()
	c := runController(t, ControllerConfig{Sinks: []NamedSink{{"test", rec}}, ResultHold: 20 * time.Millisecond})
	rec.until(t, StateIdle)
	c.Show(Screen{State: StatePaid})
	rec.until(t, StatePaid)
	rec.until(t, StateIdle)
}

// blockSink blocks in Show until released, telling when it is inside.
type blockSink struct {
	entered chan Screen
	release chan struct{}
}

func (b *blockSink) Show(ctx context.Context, s Screen) error {
	b.entered <- s
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

func TestControllerBlockingSink(t *testing.T) {
	block := &blockSink{entered: make(chan Screen, 100), release: make(chan struct{})}
	rec := newRecordSink()
	c := runController(t, ControllerConfig{Sinks: []NamedSink{{"stuck", block}, {"ok", rec}}})
	<-block.entered // stuck inside Show(idle)
	rec.until(t, StateIdle)

	shown := make(chan struct{})
	go func() {
		for i := range 50 {
			c.Show(Screen{State: StateCart, Message: strings.Repeat("x", i)})
		}
		c.Show(Screen{State: StateAwaitingPayment, QRData: "last"})
		close(shown)
	}()
	select {
	case <-shown:
	case <-time.After(wait):
		t.Fatal("Show blocked behind a stuck sink")
	}
	if s := rec.until(t, StateAwaitingPayment); s.QRData != "last" {
		t.Fatalf("the healthy sink got %+v", s)
	}
	// Once unstuck, the slow sink skips straight to the latest screen.
	close(block.release)
	select {
	case s := <-block.entered:
		if s.State != StateAwaitingPayment {
			t.Fatalf("the unstuck sink was shown %s, want the latest screen", s.State)
		}
	case <-time.After(wait):
		t.Fatal("the unstuck sink was not shown the latest screen")
	}
}

func TestControllerFailingSinkRetried(t *testing.T) {
	timers := newFakeTimers()
	failing := newRecordSink()
	failing.err = func(n int, s Screen) error {
		if n <= 3 {
			return errors.New("device gone")
		}
		return nil
	}
	rec := newRecordSink()
	type report struct {
		typ string
		err error
	}
	reports := make(chan report, 10)
	c := runController(t, ControllerConfig{
		Sinks: []NamedSink{{"framebuffer", failing}, {"web", rec}}, After: timers.After,
		MinBackoff: time.Second, MaxBackoff: 3 * time.Second,
		OnError: func(typ string, err error) { reports <- report{typ, err} },
	})
	rec.until(t, StateIdle)
	c.Show(Screen{State: StateCart, Message: "one"})
	// The healthy sink is not held back by the failing one.
	if s := rec.until(t, StateCart); s.Message != "one" {
		t.Fatalf("the healthy sink got %+v", s)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
		select {
		case r := <-reports:
			if r.typ != "framebuffer" || r.err == nil || !strings.Contains(r.err.Error(), "device gone") {
				t.Fatalf("OnError(%q, %v)", r.typ, r.err)
			}
		case <-time.After(wait):
			t.Fatalf("failure %d not reported", i+1)
		}
		ft := timers.next(t)
		if ft.d != want {
			t.Fatalf("backoff %d is %v, want %v", i+1, ft.d, want)
		}
		if i == 2 {
			// A newer screen during the backoff is the one retried.
			c.Show(Screen{State: StateCart, Message: "two"})
		}
		ft.c <- time.Now()
	}
	if s := failing.next(t); s.Message != "two" {
		t.Fatalf("after recovery the sink shows %+v, want the latest screen", s)
	}
}

type panicSink struct{}

func (panicSink) Show(context.Context, Screen) error { panic("boom") }

func TestControllerPanickingSink(t *testing.T) {
	errs := make(chan error, 10)
	rec := newRecordSink()
	runController(t, ControllerConfig{
		Sinks:   []NamedSink{{"bad", panicSink{}}, {"ok", rec}},
		OnError: func(_ string, err error) { errs <- err },
	})
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "panicked") {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatal("panic not reported")
	}
	rec.until(t, StateIdle)
}

// refreshSink is a recordSink that asks for countdown redraws.
type refreshSink struct{ *recordSink }

func (refreshSink) RefreshInterval() time.Duration { return time.Second }

func TestControllerCountdownRefresh(t *testing.T) {
	timers := newFakeTimers()
	now := fixedNow
	rec := refreshSink{newRecordSink()}
	c := runController(t, ControllerConfig{
		Sinks: []NamedSink{{"terminal", rec}}, After: timers.After,
		Clock: func() time.Time { return now },
	})
	rec.until(t, StateIdle)
	c.Show(Screen{State: StateAwaitingPayment, QRData: "x", ExpiresAt: now.Add(10*time.Second + 300*time.Millisecond)})
	rec.until(t, StateAwaitingPayment)
	ft := timers.next(t)
	if ft.d != 301*time.Millisecond {
		t.Fatalf("first tick in %v, want 301ms (when the countdown changes)", ft.d)
	}
	ft.c <- time.Now()
	if s := rec.next(t); s.State != StateAwaitingPayment {
		t.Fatalf("tick redrew %s", s.State)
	}
	timers.next(t) // the following tick
	c.Show(Screen{State: StateCart})
	rec.until(t, StateCart)
	select {
	case ft := <-timers.calls:
		t.Fatalf("a %v timer was started for a cart", ft.d)
	default:
	}
}

func TestControllerCurrentIsACopy(t *testing.T) {
	c := NewController(ControllerConfig{})
	lines := []Line{{Title: "a"}}
	c.Show(Screen{State: StateCart, Lines: lines})
	lines[0].Title = "changed"
	got := c.Current()
	if got.Lines[0].Title != "a" {
		t.Fatal("Show kept the caller's slice")
	}
	got.Lines[0].Title = "x"
	if c.Current().Lines[0].Title != "a" {
		t.Fatal("Current shares its slice")
	}
}

// settleSink is a recordSink that asks for result screens to settle.
type settleSink struct{ *recordSink }

func (settleSink) ResultSettle() time.Duration { return 250 * time.Millisecond }

// nextOf returns the next timer of duration d, leaving out others (the
// hold loop starts its own timers concurrently).
func (f *fakeTimers) nextOf(t *testing.T, d time.Duration) fakeTimer {
	t.Helper()
	for {
		if ft := f.next(t); ft.d == d {
			return ft
		}
	}
}

// TestControllerSettlesResults: a costly sink draws a result screen only
// once it has settled, and never one that the next QR replaced first; a QR
// screen is drawn at once.
func TestControllerSettlesResults(t *testing.T) {
	timers := newFakeTimers()
	rec := settleSink{newRecordSink()}
	c := runController(t, ControllerConfig{POS: "P1", Sinks: []NamedSink{{"png", rec}}, After: timers.After, ResultHold: time.Hour})
	rec.until(t, StateIdle)

	// Canceled, then at once the next sale's QR: the canceled frame is skipped.
	c.Show(Screen{State: StateCanceled, SaleID: "1"})
	ft := timers.nextOf(t, 250*time.Millisecond)
	c.Show(Screen{State: StateAwaitingPayment, SaleID: "2", QRData: "x"})
	if s := rec.next(t); s.State != StateAwaitingPayment || s.SaleID != "2" {
		t.Fatalf("drew %s of sale %s, want the QR of sale 2", s.State, s.SaleID)
	}
	ft.c <- time.Now() // the stale settle timer fires: nothing more to draw
	// Paid stays: it is drawn once settled.
	c.Show(Screen{State: StatePaid, SaleID: "2"})
	ft = timers.nextOf(t, 250*time.Millisecond)
	select {
	case s := <-rec.shows:
		t.Fatalf("drew %s before it settled", s.State)
	default:
	}
	ft.c <- time.Now()
	if s := rec.next(t); s.State != StatePaid || s.SaleID != "2" {
		t.Fatalf("drew %s of sale %s, want paid of sale 2", s.State, s.SaleID)
	}
}

// TestControllerEncodesQROnce: the sinks of one POS are handed one
// screen; the first to need the QR encodes it and the others get the same
// modules, while a screen built outside a Controller encodes its own.
func TestControllerEncodesQROnce(t *testing.T) {
	a, b := newRecordSink(), newRecordSink()
	c := runController(t, ControllerConfig{POS: "P1", Sinks: []NamedSink{{"png", a}, {"web", b}}})
	a.until(t, StateIdle)
	b.until(t, StateIdle)
	c.Show(Screen{State: StateAwaitingPayment, SaleID: "1", QRData: SampleDynamicQR})
	sa, sb := a.until(t, StateAwaitingPayment), b.until(t, StateAwaitingPayment)
	ma, err := sa.qrModules(qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := sb.qrModules(qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	if &ma[0][0] != &mb[0][0] {
		t.Error("the two sinks' copies of the screen encoded the QR twice")
	}
	want, err := QRModules(SampleDynamicQR, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ma, want) {
		t.Error("the shared modules are not the payload's")
	}
	if ml, _ := sa.qrModules(qrcode.Low); reflect.DeepEqual(ml, ma) {
		t.Error("another error correction level got the same modules")
	}
	outside := Screen{State: StateAwaitingPayment, QRData: SampleDynamicQR}
	m1, _ := outside.qrModules(qrcode.Medium)
	m2, _ := outside.qrModules(qrcode.Medium)
	if &m1[0][0] == &m2[0][0] {
		t.Error("a screen without a Controller shares modules between calls")
	}
}

// TestControllerKeepsStaticQR: a POS in static mode shows the same QR for
// every sale; the next sale's screen reuses the modules encoded for the
// last one, and a sale with another payload encodes its own.
func TestControllerKeepsStaticQR(t *testing.T) {
	a := newRecordSink()
	c := runController(t, ControllerConfig{POS: "P1", Sinks: []NamedSink{{"png", a}}})
	a.until(t, StateIdle)
	modules := func(saleID, payload string) [][]bool {
		t.Helper()
		c.Show(Screen{State: StateAwaitingPayment, SaleID: saleID, QRData: payload})
		s := a.until(t, StateAwaitingPayment)
		for s.SaleID != saleID {
			s = a.until(t, StateAwaitingPayment)
		}
		m, err := s.qrModules(qrcode.Medium)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m1 := modules("1", SampleDynamicQR)
	c.Show(Screen{State: StateCanceled, SaleID: "1"})
	a.until(t, StateCanceled)
	if m2 := modules("2", SampleDynamicQR); &m1[0][0] != &m2[0][0] {
		t.Error("the same payload was encoded again for the next sale")
	}
	other := SampleDynamicQR[:len(SampleDynamicQR)-8] + "6304ABCD"
	if m3 := modules("3", other); &m1[0][0] == &m3[0][0] {
		t.Error("another payload got the last sale's modules")
	}
}
