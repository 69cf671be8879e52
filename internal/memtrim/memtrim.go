// Package memtrim gives the memory the Go heap no longer uses back to the
// operating system once a burst of work is over, instead of minutes later.
//
// During a busy spell (a queue of sales after an outage, a register
// replaying a day's commands, embedded NATS filling its write caches) the
// heap grows to about twice its live data (GOGC=100). When the work stops,
// so do allocations, and with them the collections: the garbage of the
// last cycle and the pages it sits on stay with the process until the
// runtime's forced collection two minutes later, and the pages freed then
// go back to the kernel only as fast as the background scavenger returns
// them. On a Raspberry Pi with 512 MiB that also runs the customer
// display's browser, that memory is better back with the kernel at once.
//
// The runtime's own setting for this, GOMEMLIMIT, works during the burst,
// when it costs CPU on every collection near the limit. memtrim acts only
// after it, when the heap has allocated little since its last look:
//
//   - at the first quiet look, if the heap holds at least a threshold more
//     than the live data of its last collection (the burst's garbage),
//     it calls runtime/debug.FreeOSMemory (a collection, then every free
//     page back);
//   - after SettleLooks quiet looks in a row, and again after twice, four
//     and eight times as many, it collects twice and gives back again if
//     the heap holds more than the threshold: memory its owners drop some
//     time after the burst (embedded NATS keeps a stream's write cache for
//     10 s after its last write and hands it to a sync.Pool, which lets go
//     of it over two collections; it keeps a message block's per-subject
//     index for 2 minutes after its last use). Then it waits for the next
//     burst: a long quiet spell costs four double collections, not one
//     per look.
//
// No maintained module does this; it is a few lines over runtime/metrics.
package memtrim

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults for Options.
const (
	DefaultEvery     = 5 * time.Second
	DefaultThreshold = 8 << 20
	DefaultQuiet     = 2 << 20
	DefaultSettle    = 6
)

// The runtime/metrics read at each look.
const (
	metricObjects  = "/memory/classes/heap/objects:bytes" // live and dead objects not yet swept
	metricUnused   = "/memory/classes/heap/unused:bytes"  // in spans, not in objects
	metricFree     = "/memory/classes/heap/free:bytes"    // free spans still held from the kernel
	metricLive     = "/gc/heap/live:bytes"                // marked live by the last collection
	metricAllocs   = "/gc/heap/allocs:bytes"              // allocated since the process started
	metricReleased = "/memory/classes/heap/released:bytes"
)

// Options say how often to look, when the heap is quiet and from how much
// spare memory to trim.
type Options struct {
	Every     time.Duration // default DefaultEvery
	Threshold uint64        // heap held beyond the live data that makes it trim; default DefaultThreshold
	Quiet     uint64        // at most this allocated since the last look; default DefaultQuiet
	// SettleLooks is how many quiet looks in a row make the first settled
	// trim (the others follow at 2, 4 and 8 times as many); default
	// DefaultSettle.
	SettleLooks int
	// Trimmed, when set, is told what the heap held before each trim and
	// after it.
	Trimmed func(before, after uint64)
}

func (o Options) withDefaults() Options {
	if o.Every <= 0 {
		o.Every = DefaultEvery
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.Quiet == 0 {
		o.Quiet = DefaultQuiet
	}
	if o.SettleLooks <= 0 {
		o.SettleLooks = DefaultSettle
	}
	return o
}

// Run looks every Every until ctx ends and trims after bursts (see the
// package documentation).
func Run(ctx context.Context, o Options) {
	w := &watcher{o: o.withDefaults(), last: Read().Allocated}
	t := time.NewTicker(w.o.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := Read()
		switch w.look(h) {
		case keep:
			continue
		case trimGarbage:
			debug.FreeOSMemory()
		case trimSettled:
			runtime.GC() // a sync.Pool's objects survive one collection
			debug.FreeOSMemory()
		}
		after := Read()
		w.last = after.Allocated // the trim's own allocations are not a burst
		if w.o.Trimmed != nil {
			w.o.Trimmed(h.Held, after.Held)
		}
	}
}

type action int

const (
	keep        action = iota
	trimGarbage        // collect and give back
	trimSettled        // collect twice and give back
)

// watcher decides at each look whether to trim.
type watcher struct {
	o     Options
	last  uint64 // Allocated at the last look
	quiet int    // quiet looks in a row
}

func (w *watcher) look(h Heap) action {
	busy := h.Allocated-w.last > w.o.Quiet
	w.last = h.Allocated
	if busy {
		w.quiet = 0
		return keep
	}
	w.quiet++
	switch {
	case w.quiet == 1 && h.Spare() >= w.o.Threshold:
		return trimGarbage
	case w.o.settles(w.quiet) && h.Held >= w.o.Threshold:
		return trimSettled
	}
	return keep
}

// settles reports whether the quiet-th quiet look in a row is one of the
// settled trims: SettleLooks times 1, 2, 4 or 8.
func (o Options) settles(quiet int) bool {
	for k := 1; k <= 8; k *= 2 {
		if quiet == o.SettleLooks*k {
			return true
		}
	}
	return false
}

// Heap is what the runtime says about the heap's memory.
type Heap struct {
	Held      uint64 // objects (live or not yet collected), unused span space and free spans not released
	Live      uint64 // live data at the last collection
	Allocated uint64 // allocated since the process started
	Released  uint64 // free spans given back to the kernel
}

// Spare is the memory held beyond the live data: what a collection and a
// release could give back.
func (h Heap) Spare() uint64 {
	if h.Held < h.Live {
		return 0
	}
	return h.Held - h.Live
}

// Read reads the heap's figures.
func Read() Heap {
	s := []metrics.Sample{{Name: metricObjects}, {Name: metricUnused}, {Name: metricFree}, {Name: metricLive}, {Name: metricAllocs}, {Name: metricReleased}}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return Heap{Held: v(0) + v(1) + v(2), Live: v(3), Allocated: v(4), Released: v(5)}
}
