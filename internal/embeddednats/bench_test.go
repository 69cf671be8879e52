package embeddednats

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// benchmarkPublish measures a JetStream publish waiting for its PubAck, the
// path every register command takes, under the given sync setting. On a Pi
// the difference between "always" and an interval is the price of losing
// nothing acknowledged on a power cut.
func benchmarkPublish(b *testing.B, sync string) {
	o := testOptions(b)
	o.Sync = sync
	s := start(b, o)
	nc, err := s.Connect()
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "BENCH",
		Subjects: []string{"bench.>"},
		Storage:  jetstream.FileStorage,
		MaxBytes: 32 << 20,
		Discard:  jetstream.DiscardOld,
	}); err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"sale_id":"S001-000123","amount":"1234.50","mode":"dynamic"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := js.Publish(ctx, "bench.cmd", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPublishSyncAlways(b *testing.B)     { benchmarkPublish(b, SyncAlways) }
func BenchmarkPublishSyncInterval1s(b *testing.B) { benchmarkPublish(b, "1s") }
