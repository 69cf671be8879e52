//go:build linux

package printer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A FIFO stands in for /dev/usb/lp0: like usblp it is a character-ish
// device that takes writes, blocks a writer when nobody drains it, and is
// pollable, which is what the write deadline rests on.
func TestUSBTransportOnAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp0")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	u := NewUSB(Config{Transport: "usb", Device: path, WriteTimeout: 300 * time.Millisecond})
	t.Cleanup(func() { u.Close() })

	if _, err := u.Write([]byte("x")); err == nil {
		t.Fatal("Write with the printer off (no reader): no error")
	}

	reader, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	big := bytes.Repeat([]byte{0x55}, 1<<20) // a pipe holds 64 KB
	err = result(t, func() error { _, err := u.Write(big); return err })
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("Write to a stalled printer: %v, want ErrStalled", err)
	}
	if u.f != nil {
		t.Error("the stalled device was kept open")
	}

	got := make(chan []byte, 1)
	go func() {
		var all []byte
		buf := make([]byte, 64<<10)
		for {
			n, err := reader.Read(buf)
			all = append(all, buf[:n]...)
			if bytes.HasSuffix(all, []byte("after\n")) || (err != nil && !errors.Is(err, io.EOF)) {
				got <- all
				return
			}
		}
	}()
	if _, err := u.Write([]byte("after\n")); err != nil {
		t.Fatalf("Write after the stall (reopen): %v", err)
	}
	select {
	case all := <-got:
		if !bytes.HasSuffix(all, []byte("after\n")) {
			t.Errorf("reader got %d bytes, not ending in the new job", len(all))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the job after the stall never arrived")
	}
}

func TestFileTransportAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.bin")
	f := NewFile(Config{Transport: "file", Device: path})
	for _, s := range []string{"one", "two"} {
		if _, err := f.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "onetwo" {
		t.Fatalf("file holds %q, %v", b, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("created with mode %v, want at most 0640", perm)
	}
	if _, err := NewFile(Config{Device: filepath.Join(path, "not-a-dir")}).Write([]byte("x")); err == nil {
		t.Error("Write below a file: no error")
	}
}

func TestUSBRefusesDeviceWithoutDeadlines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regular-file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	u := NewUSB(Config{Transport: "usb", Device: path})
	t.Cleanup(func() { u.Close() })
	if _, err := u.Write([]byte("x")); !errors.Is(err, os.ErrNoDeadline) {
		t.Errorf("Write to a regular file as usb: %v, want ErrNoDeadline", err)
	}
}
