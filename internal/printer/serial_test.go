//go:build linux

package printer

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/printer/escpostest"
	"golang.org/x/sys/unix"
)

func serialConfig(path string) Config {
	return Config{Transport: "serial", Device: path, Baud: 19200, WriteTimeout: 2 * time.Second,
		StatusTimeout: 2 * time.Second, Location: art}
}

func TestSerialPrintsReceiptAndReadsStatus(t *testing.T) {
	pp := newPTYPrinter(t, nil)
	s := NewSerial(serialConfig(pp.path))
	t.Cleanup(func() { s.Close() })

	cases := []struct {
		name    string
		answers map[byte]byte
		want    Status
	}{
		{"online", map[byte]byte{1: 0x12, 2: 0x12, 4: 0x12}, StatusOK},
		{"paper out", map[byte]byte{1: 0x72, 2: 0x72, 4: 0x72}, StatusPaperOut},
		{"offline for paper end", map[byte]byte{1: 0x1A, 2: 0x32, 4: 0x72}, StatusPaperOut},
		{"cover open", map[byte]byte{1: 0x1A, 2: 0x16, 4: 0x12}, StatusCoverOpen},
		{"near end", map[byte]byte{1: 0x12, 2: 0x12, 4: 0x1E}, StatusPaperNearEnd},
		{"offline", map[byte]byte{1: 0x1A, 2: 0x12, 4: 0x12}, StatusOffline},
	}
	for _, c := range cases {
		pp.setAnswers(c.answers)
		st, err := s.Status(context.Background())
		if err != nil || st != c.want {
			t.Errorf("%s: Status = %v, %v; want %v", c.name, st, err, c.want)
		}
	}
	requests := []byte{0x10, 0x04, 1, 0x10, 0x04, 2, 0x10, 0x04, 4}
	pp.waitFor("the status requests", func(got []byte) bool { return bytes.HasPrefix(got, requests) })

	pp.setAnswers(nil) // a printer that never answers
	s.statusTimeout = 200 * time.Millisecond
	st, err := s.Status(context.Background())
	if !errors.Is(err, ErrNoAnswer) || st != StatusUnknown {
		t.Errorf("silent printer: %v, %v; want unknown, ErrNoAnswer", st, err)
	}

	receipt, err := mustEncoder(t, Config{Profile: "epson58"}).Encode(goldenReceipt(samples(t)[0]))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Write(receipt); err != nil || n != len(receipt) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	got := pp.waitFor("the receipt", func(got []byte) bool { return bytes.HasSuffix(got, receipt) })
	doc, err := escpostest.Decode(got[bytes.Index(got, receipt):])
	if err != nil {
		t.Fatal(err)
	}
	if qr := doc.Ops[doc.Index(escpostest.QR)[0]].QR; string(qr.Data) != samples(t)[0] {
		t.Errorf("QR payload over the tty: %q", qr.Data)
	}

	// Binary clean: raster data holds every byte value, and no output
	// processing (NL -> CR NL) may touch it.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if _, err := s.Write(all); err != nil {
		t.Fatal(err)
	}
	pp.waitFor("all 256 byte values", func(got []byte) bool { return bytes.HasSuffix(got, all) })
}

func TestSerialStalledWriteTimesOutAndReopens(t *testing.T) {
	pp := newPTYPrinter(t, nil)
	cfg := serialConfig(pp.path)
	cfg.WriteTimeout = 500 * time.Millisecond
	s := NewSerial(cfg)
	t.Cleanup(func() { s.Close() })

	if _, err := s.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	pp.waitFor("hello", func(got []byte) bool { return bytes.HasSuffix(got, []byte("hello\n")) })

	pp.pause() // the printer stops taking data; a pty holds only a few KB
	big := bytes.Repeat([]byte{0xAA}, 1<<20)
	start := time.Now()
	err := result(t, func() error { _, err := s.Write(big); return err })
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("Write to a stalled printer: %v, want ErrStalled", err)
	}
	t.Logf("stalled write returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if s.f != nil || s.port != nil {
		t.Error("the timed-out port was not closed")
	}

	pp.resume()
	receipt := []byte("\x1b@after the stall\n")
	if _, err := s.Write(receipt); err != nil {
		t.Fatalf("Write after the stall (reopen): %v", err)
	}
	pp.waitFor("the receipt after the stall", func(got []byte) bool { return bytes.HasSuffix(got, receipt) })
}

// A pty cannot prove RTS/CTS electrically (it has no modem lines): what
// can be checked is that the flag is set on the device, where the UART
// driver reads it. XON/XOFF does work on a pty: the line discipline stops
// output on XOFF from the other end.
func TestSerialFlowControlTermios(t *testing.T) {
	cases := []struct {
		flow          string
		crtscts, ixon bool
	}{
		{FlowNone, false, false},
		{FlowRTSCTS, true, false},
		{FlowXONXOFF, false, true},
	}
	for _, c := range cases {
		t.Run(c.flow, func(t *testing.T) {
			pp := newPTYPrinter(t, nil)
			cfg := serialConfig(pp.path)
			cfg.FlowControl = c.flow
			s := NewSerial(cfg)
			t.Cleanup(func() { s.Close() })
			if _, err := s.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			// Read the settings back through another descriptor of the
			// device: termios belongs to the tty, not to a descriptor.
			tio, err := unix.IoctlGetTermios(int(pp.slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if got := tio.Cflag&unix.CRTSCTS != 0; got != c.crtscts {
				t.Errorf("CRTSCTS = %v, want %v", got, c.crtscts)
			}
			if got := tio.Iflag&(unix.IXON|unix.IXOFF) == unix.IXON|unix.IXOFF; got != c.ixon {
				t.Errorf("IXON|IXOFF = %v, want %v", got, c.ixon)
			}
			if c.ixon && (tio.Cc[unix.VSTART] != 0x11 || tio.Cc[unix.VSTOP] != 0x13) {
				t.Errorf("VSTART/VSTOP = %#x/%#x, want DC1/DC3", tio.Cc[unix.VSTART], tio.Cc[unix.VSTOP])
			}
			if tio.Cflag&unix.CBAUD != unix.B19200 || tio.Cflag&unix.CSIZE != unix.CS8 || tio.Cflag&(unix.PARENB|unix.CSTOPB) != 0 {
				t.Errorf("line is not 19200 8N1: cflag %#o", tio.Cflag)
			}
			if tio.Oflag&unix.OPOST != 0 || tio.Lflag&(unix.ICANON|unix.ECHO) != 0 {
				t.Errorf("line is not raw: oflag %#o lflag %#o", tio.Oflag, tio.Lflag)
			}
		})
	}
}

func TestSerialXOFFPausesOutput(t *testing.T) {
	pp := newPTYPrinter(t, nil)
	cfg := serialConfig(pp.path)
	cfg.FlowControl = FlowXONXOFF
	cfg.WriteTimeout = 300 * time.Millisecond
	s := NewSerial(cfg)
	t.Cleanup(func() { s.Close() })
	if _, err := s.Write([]byte("open\n")); err != nil {
		t.Fatal(err)
	}

	// The printer sends XOFF, then a byte the test reads back through its
	// own descriptor: once that byte is there, the XOFF before it has been
	// acted on.
	if _, err := pp.master.Write([]byte{0x13, 'A'}); err != nil {
		t.Fatal(err)
	}
	if err := pp.slave.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Skipf("no read deadline on the pty slave: %v", err)
	}
	var b [1]byte
	if _, err := pp.slave.Read(b[:]); err != nil || b[0] != 'A' {
		t.Fatalf("marker byte: %q, %v", b, err)
	}
	err := result(t, func() error { _, err := s.Write([]byte("held back by XOFF\n")); return err })
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("Write after XOFF: %v, want ErrStalled", err)
	}

	// The port was reopened on the next use (flow control set afresh);
	// XOFF again, then XON releases a pending write.
	if _, err := s.Write([]byte("reopened\n")); err != nil {
		t.Fatal(err)
	}
	pp.waitFor("reopened", func(got []byte) bool { return bytes.HasSuffix(got, []byte("reopened\n")) })
	s.writeTimeout = 20 * time.Second
	if _, err := pp.master.Write([]byte{0x13, 'B'}); err != nil {
		t.Fatal(err)
	}
	if _, err := pp.slave.Read(b[:]); err != nil || b[0] != 'B' {
		t.Fatalf("marker byte: %q, %v", b, err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.Write([]byte("released by XON\n")); done <- err }()
	if _, err := pp.master.Write([]byte{0x11}); err != nil {
		t.Fatal(err)
	}
	pp.waitFor("the write released by XON", func(got []byte) bool { return bytes.HasSuffix(got, []byte("released by XON\n")) })
	if err := result(t, func() error { return <-done }); err != nil {
		t.Errorf("Write released by XON: %v", err)
	}
}

func TestSerialMissingDevice(t *testing.T) {
	s := NewSerial(serialConfig("/dev/does-not-exist-posagent"))
	if _, err := s.Write([]byte("x")); err == nil {
		t.Error("Write to a missing device: no error")
	}
	if st, err := s.Status(context.Background()); err == nil || st != StatusOffline {
		t.Errorf("Status of a missing device: %v, %v; want offline", st, err)
	}
}
