package embeddednats

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/smalldisk"
)

// TestWriteErrorLines: the line by which nats-server reports a file
// store's write error is recognised, with the stream's name and the
// reason without the file's path; other error lines are not.
func TestWriteErrorLines(t *testing.T) {
	enospc := errors.New("write /var/lib/posagent/nats/jetstream/$G/streams/POS_CMD/msgs/4.blk: no space left on device")
	corrupt := errors.New("malformed or corrupt message in 1.blk: invalid checksum")
	tests := []struct {
		name   string
		format string
		args   []any
		want   WriteError
		ok     bool
	}{
		{"file store", "Filestore [KV_posagent_S001] Critical write error: %v", []any{enospc}, WriteError{"KV_posagent_S001", "no space left on device"}, true},
		{"file store, a name with brackets", "Filestore [A]B] Critical write error: %v", []any{enospc}, WriteError{"A]B", "no space left on device"}, true},
		// The stream's own line also follows a damaged block it could not
		// read, after which the stream takes writes again.
		{"stream", "JetStream stream '%s > %s' critical write error: %v", []any{"$G", "KV_posagent_S001", corrupt}, WriteError{}, false},
		{"failed store", "JetStream failed to store a msg on stream '%s > %s': %v", []any{"$G", "POS_CMD", enospc}, WriteError{}, false},
		{"read error", "Filestore [POS_CMD] Ignoring non-write error: %v", []any{corrupt}, WriteError{}, false},
		{"other", "error: %v", []any{enospc}, WriteError{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := writeError(tt.format, tt.args)
			if got != tt.want || ok != tt.ok {
				t.Errorf("writeError = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestWriteErrorReloaded: a stream that hit a full disk is reported
// through WriteErrors and refuses writes after space returns, until
// ReloadJetStream; then it takes writes again and has lost nothing it
// had stored.
func TestWriteErrorReloaded(t *testing.T) {
	disk := smalldisk.Mount(t, "48m")
	werrs := make(chan WriteError, 16)
	o := testOptions(t)
	o.StoreDir = filepath.Join(disk, "nats")
	o.MaxStore = 40 << 20
	o.Logger = slog.New(slog.DiscardHandler)
	o.WriteErrors = func(we WriteError) {
		select {
		case werrs <- we:
		default:
		}
	}
	s := start(t, o)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctxTimeout(t), jetstream.StreamConfig{Name: "CMD", Subjects: []string{"cmd.>"}, MaxBytes: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	publish := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.Publish(ctx, "cmd.x", []byte("a command"))
		return err
	}
	if err := publish(); err != nil {
		t.Fatal(err)
	}

	free := smalldisk.Fill(t, disk)
	deadline := time.Now().Add(30 * time.Second)
	for publish() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the stream kept taking writes on a full disk")
		}
	}
	select {
	case we := <-werrs:
		if we != (WriteError{"CMD", "no space left on device"}) {
			t.Fatalf("write error %+v", we)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no write error reported")
	}
	free()
	if err := publish(); err == nil {
		t.Fatal("the stream took a write after space returned, without a reload: nats-server changed; revisit ReloadJetStream's reason to be")
	}

	if err := s.ReloadJetStream(); err != nil {
		t.Fatal(err)
	}
	if err := publish(); err != nil {
		t.Fatalf("after the reload: %v", err)
	}
	m, err := js.Stream(ctxTimeout(t), "CMD")
	if err != nil {
		t.Fatal(err)
	}
	first, err := m.GetMsg(ctxTimeout(t), 1)
	if err != nil || string(first.Data) != "a command" {
		t.Fatalf("the command stored before the disk filled: %v %v", first, err)
	}
}
