package agent

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/config"
)

// BenchmarkSaleToCreated measures the register's wait: a sale command
// published with JetStream until its created event arrives, through a real
// embedded NATS (fsync per write, as shipped) and the in-process Orders API
// simulator. Each iteration then cancels the sale (not timed) so the POS is
// free for the next.
func BenchmarkSaleToCreated(b *testing.B) {
	for _, sync := range []string{"always", "1s"} {
		b.Run("sync="+sync, func(b *testing.B) {
			h := newHarness(b, withConfig(func(c *config.Config) { c.NATS.Embedded.Sync = sync }))
			var lat []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("b%d", i)
				start := time.Now()
				h.send("POS1", "sale", `{"sale_id":"`+id+`","total_amount":"10.00"}`)
				h.waitSale(id, "created")
				lat = append(lat, time.Since(start))
				b.StopTimer()
				h.send("POS1", "cancel", `{"sale_id":"`+id+`"}`)
				h.waitSale(id, "canceled")
				h.dropEvents()
				b.StartTimer()
			}
			reportPercentiles(b, lat)
		})
	}
}

func (h *harness) dropEvents() {
	h.evMu.Lock()
	h.events = h.events[:0]
	h.evMu.Unlock()
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.9), "p90-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}
