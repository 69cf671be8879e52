package agent

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

func BenchmarkZZHeap(b *testing.B) {
	s := newBenchStore(b, benchStoreOptions{pos: 10, sync: "1s"})
	s.cycle(len(s.regs), "w")
	s.cycle(b.N, "s")
	runtime.GC()
	f, _ := os.Create("/tmp/i16-heap-live.out")
	pprof.WriteHeapProfile(f)
	f.Close()
}
