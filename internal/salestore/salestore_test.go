package salestore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/salestore"
)

// server starts a real embedded server on dir and returns its JetStream
// context; stop shuts it down.
func server(t testing.TB, dir string) (js jetstream.JetStream, stop func()) {
	t.Helper()
	s, err := embeddednats.Start(embeddednats.Options{Listen: "127.0.0.1:-1", StoreDir: dir,
		MaxMemory: 8 << 20, MaxStore: 64 << 20, Sync: embeddednats.SyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := s.Connect()
	if err != nil {
		s.Shutdown()
		t.Fatal(err)
	}
	js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, func() { nc.Close(); s.Shutdown() }
}

func open(t testing.TB, ctx context.Context, js jetstream.JetStream) *salestore.Store {
	t.Helper()
	st, err := salestore.Open(ctx, js, salestore.Options{Bucket: "posagent_T", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCheckHealthyStore: a store used as the agent uses it (records
// written, rewritten and deleted, the probe run at every start) passes
// the check, also after the server restarted on its files: a false alarm
// would remake the records at every start.
func TestCheckHealthyStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	for start := range 3 {
		js, stop := server(t, dir)
		st := open(t, ctx, js)
		if err := st.Check(ctx); err != nil {
			t.Fatalf("start %d: Check = %v", start, err)
		}
		if err := st.Probe(ctx); err != nil {
			t.Fatal(err)
		}
		for i, k := range []string{"pos.P1", "sale.P1.a", "sale.P1.b", "sale.P1.a", "pos.P1"} {
			if err := st.Put(ctx, k, map[string]int{"n": i + start}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Delete(ctx, "sale.P1.b"); err != nil {
			t.Fatal(err)
		}
		if err := st.Check(ctx); err != nil {
			t.Fatalf("start %d, after writes: Check = %v", start, err)
		}
		stop()
	}
}

// TestCheckTooManyRevisions: a key whose stream index counts more
// revisions than the bucket keeps fails the check (here the stream was
// changed from outside to keep more: the state a damaged block's removed
// revision coming back leaves).
func TestCheckTooManyRevisions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, stop := server(t, t.TempDir())
	defer stop()
	st := open(t, ctx, js)
	s, err := js.Stream(ctx, "KV_posagent_T")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgsPerSubject = 5
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := st.Put(ctx, "sale.P1.a", i); err != nil {
			t.Fatal(err)
		}
	}
	err = st.Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "revisions") {
		t.Fatalf("Check = %v, want the revisions named", err)
	}
}

// BenchmarkCheck measures the start-up check of a store holding a busy
// store's week of records (5,000 of about 800 bytes): every record is
// read once.
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	js, stop := server(b, b.TempDir())
	defer stop()
	st := open(b, ctx, js)
	rec := map[string]string{"qr_data": strings.Repeat("0", 700)}
	for i := range 5000 {
		if err := st.Put(ctx, fmt.Sprintf("sale.P1.s%05d", i), rec); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if err := st.Check(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
