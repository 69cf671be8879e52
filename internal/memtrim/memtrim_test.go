package memtrim

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
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

// TestRunWaitsForQuiet: while the program allocates more than Quiet
// between looks, Run does not trim, however much is spare.
func TestRunWaitsForQuiet(t *testing.T) {
	every := 20 * time.Millisecond
	trims := startRun(t, Options{Every: every, Threshold: 1, Quiet: 1 << 20})
	// Allocate 4 MiB at a time for 30 looks' worth of time: every look
	// sees far more than Quiet allocated.
	stop := time.After(30 * every)
	for bursts := 0; ; bursts++ {
		select {
		case <-stop:
			if bursts == 0 {
				t.Fatal("the test allocated nothing")
			}
			return
		case tr := <-trims:
			t.Fatalf("trimmed (%d -> %d bytes held) while the program was allocating", tr[0], tr[1])
		default:
			burst(4 << 20)()
		}
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
