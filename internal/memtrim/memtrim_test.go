package memtrim

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"testing"
	"time"
)

var sink [][]byte

// burst allocates n bytes in 1 MiB pieces that stay reachable until the
// returned function drops them, without a collection after: like a busy
// spell's garbage when the work stops.
func burst(n int) (drop func()) {
	for range n >> 20 {
		b := make([]byte, 1<<20)
		b[0] = 1
		sink = append(sink, b)
	}
	return func() { sink = nil }
}

// TestRunTrimsAfterBurst: memory that was live at the last collection and
// dropped after the burst (as embedded NATS drops its write caches) is
// given back once the heap has been quiet for SettleLooks looks.
func TestRunTrimsAfterBurst(t *testing.T) {
	runtime.GC()
	drop := burst(64 << 20)
	runtime.GC() // the burst is live data now: the first quiet look sees nothing spare
	released := Read().Released
	trims := startRun(t, Options{Every: 20 * time.Millisecond, Threshold: 16 << 20})
	drop()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case tr := <-trims:
			if tr[0] >= 48<<20 && tr[1] < tr[0]/4 {
				if r := Read().Released; r < released+32<<20 {
					t.Fatalf("released %d bytes before the trim, %d after", released, r)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no trim of the burst's memory reported (now %+v)", Read())
		}
	}
}

// TestLook: the decisions at each look, from the heap's figures: nothing
// while the program allocates, the garbage at the first quiet look when
// enough is spare, the settled trims at 3, 6, 12 and 24 quiet looks when
// enough is held, and the count starting again after a burst.
func TestLook(t *testing.T) {
	w := &watcher{o: Options{Threshold: 100, Quiet: 10, SettleLooks: 3}.withDefaults()}
	alloc := uint64(0)
	step := func(allocated, held, live uint64) action {
		alloc += allocated
		return w.look(Heap{Held: held, Live: live, Allocated: alloc})
	}
	var got []action
	for range 3 { // busy: however much is spare
		got = append(got, step(11, 1000, 10))
	}
	got = append(got, step(10, 1000, 10)) // first quiet look, 990 spare
	for range 29 {
		got = append(got, step(0, 1000, 1000)) // nothing spare, much held
	}
	want := []action{keep, keep, keep, trimGarbage, keep, trimSettled, keep, keep, trimSettled}
	for range 5 {
		want = append(want, keep)
	}
	want = append(want, trimSettled)
	for range 11 {
		want = append(want, keep)
	}
	want = append(want, trimSettled)
	for range 6 { // and no more in this quiet spell
		want = append(want, keep)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("actions\n got  %v\n want %v", got, want)
	}
	// A burst starts the count again; too little spare or held: nothing.
	got = []action{step(50, 1000, 10), step(0, 105, 10), step(0, 99, 10), step(0, 99, 10)}
	if want := []action{keep, keep, keep, keep}; !slices.Equal(got, want) {
		t.Fatalf("after a burst with little spare: %v, want %v", got, want)
	}
	got = []action{step(50, 1000, 10), step(0, 1000, 10)}
	if want := []action{keep, trimGarbage}; !slices.Equal(got, want) {
		t.Fatalf("after a second burst: %v, want %v", got, want)
	}
}

func TestSpare(t *testing.T) {
	if s := (Heap{Held: 10, Live: 4}).Spare(); s != 6 {
		t.Fatalf("Spare = %d", s)
	}
	if s := (Heap{Held: 3, Live: 4}).Spare(); s != 0 {
		t.Fatalf("Spare with live above held = %d", s)
	}
}

// TestRunTrimsGarbage: at the first quiet look after a burst, the garbage
// it left (allocated since the last collection, never live then) is given
// back.
func TestRunTrimsGarbage(t *testing.T) {
	runtime.GC()
	// Settling is out of reach: only the first quiet look can trim.
	trims := startRun(t, Options{Every: 50 * time.Millisecond, Threshold: 16 << 20, SettleLooks: 1 << 30})
	debugSetGCPercent(t, -1) // no collection between the burst and the look
	burst(64 << 20)()
	select {
	case tr := <-trims:
		if tr[0] < 48<<20 || tr[1] >= tr[0]/4 {
			t.Fatalf("trim from %d to %d bytes held", tr[0], tr[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no trim of the burst's garbage reported (now %+v)", Read())
	}
}

// startRun runs Run with o until the test ends and returns what it
// reports of each trim: held before, held after.
func startRun(t *testing.T, o Options) <-chan [2]uint64 {
	trims := make(chan [2]uint64, 16)
	o.Trimmed = func(b, a uint64) {
		select {
		case trims <- [2]uint64{b, a}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); Run(ctx, o) }()
	t.Cleanup(func() { cancel(); <-done })
	return trims
}

func debugSetGCPercent(t *testing.T, p int) {
	old := debug.SetGCPercent(p)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

func TestSettles(t *testing.T) {
	o := Options{SettleLooks: 6}.withDefaults()
	var at []int
	for q := 1; q <= 100; q++ {
		if o.settles(q) {
			at = append(at, q)
		}
	}
	if fmt.Sprint(at) != "[6 12 24 48]" {
		t.Fatalf("settled trims at quiet looks %v", at)
	}
}
