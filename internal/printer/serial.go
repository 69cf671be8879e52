//go:build linux

package printer

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/tarm/serial"
	"golang.org/x/sys/unix"
)

// Serial is an RS-232 (or USB-serial) printer.
//
// github.com/tarm/serial opens the tty and sets the baud rate and 8N1, but
// it has no flow control and no write timeout, and it leaves its
// descriptor in blocking mode, where a write stuck on a full buffer is not
// released even by Close. So the port tarm opened is held (its settings
// stay in force) but never written through. A second descriptor of the
// same tty, opened non-blocking, does the I/O: Go's poller gives it read
// and write deadlines, so a stuck write returns ErrStalled after
// write_timeout with no goroutine left behind. Termios settings belong to
// the device, not the descriptor, so flow control set through the second
// descriptor applies to the line tarm configured.
//
// After a failure the port is flushed (TCOFLUSH, so the final close does
// not wait for the stuck bytes to drain: Linux waits up to 30 s for that)
// and closed; the next use reopens it.
type Serial struct {
	device        string
	baud          int
	flow          string
	writeTimeout  time.Duration
	statusTimeout time.Duration
	chunk         int

	mu   sync.Mutex
	port *serial.Port // tarm's: configured the line; held, never written
	f    *os.File     // ours: non-blocking, deadlines; nil when closed
}

// NewSerial returns the serial transport for cfg (not yet opened).
func NewSerial(cfg Config) *Serial {
	cfg = cfg.withDefaults()
	return &Serial{
		device: cfg.Device, baud: cfg.Baud, flow: cfg.FlowControl,
		writeTimeout: cfg.WriteTimeout, statusTimeout: cfg.StatusTimeout,
		chunk: serialChunk(cfg.Baud, cfg.WriteTimeout),
	}
}

func (s *Serial) open() error {
	if s.f != nil {
		return nil
	}
	port, err := serial.OpenPort(&serial.Config{Name: s.device, Baud: s.baud, Size: 8,
		Parity: serial.ParityNone, StopBits: serial.Stop1})
	if err != nil {
		return deviceErr("open", s.device, err)
	}
	f, err := os.OpenFile(s.device, os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		port.Close()
		return deviceErr("open", s.device, err)
	}
	err = control(f, func(fd int) error {
		if err := setFlowControl(fd, s.flow); err != nil {
			return err
		}
		return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH) // nothing stale answers a status request
	})
	if err != nil {
		f.Close()
		port.Close()
		return deviceErr("termios", s.device, err)
	}
	s.port, s.f = port, f
	return nil
}

// setFlowControl sets the tty's flow control. tarm/serial zeroes the
// control characters, so XON/XOFF also needs VSTART and VSTOP (a zero
// there disables them).
func setFlowControl(fd int, flow string) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	t.Cflag &^= unix.CRTSCTS
	t.Iflag &^= unix.IXON | unix.IXOFF | unix.IXANY
	switch flow {
	case FlowRTSCTS:
		t.Cflag |= unix.CRTSCTS
	case FlowXONXOFF:
		t.Iflag |= unix.IXON | unix.IXOFF
		t.Cc[unix.VSTART], t.Cc[unix.VSTOP] = 0x11, 0x13
	}
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// control runs fn on f's descriptor without f.Fd(), which would switch f
// back to blocking mode and lose its deadlines.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// Write sends p, failing with ErrStalled when the printer takes nothing
// for write_timeout.
func (s *Serial) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return 0, err
	}
	n, err := writeChunks(s.f, p, s.chunk, s.writeTimeout)
	if err != nil {
		s.discard()
		return n, deviceErr("write", s.device, err)
	}
	return n, nil
}

// Status asks the printer with DLE EOT. Call it between jobs only.
func (s *Serial) Status(ctx context.Context) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return StatusOffline, err
	}
	if err := control(s.f, func(fd int) error { return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCIFLUSH) }); err != nil {
		s.discard()
		return StatusOffline, deviceErr("flush input", s.device, err)
	}
	st, err := queryStatus(ctx, s.f, s.statusTimeout)
	if err != nil && !errors.Is(err, ErrNoAnswer) && st == StatusOffline {
		s.discard()
	}
	if err != nil {
		return st, deviceErr("", s.device, err)
	}
	return st, nil
}

// discard throws away unsent output and closes the port.
func (s *Serial) discard() {
	if s.f == nil {
		return
	}
	_ = control(s.f, func(fd int) error { return unix.IoctlSetInt(fd, unix.TCFLSH, unix.TCOFLUSH) })
	s.closeFiles()
}

func (s *Serial) closeFiles() {
	s.f.Close()
	s.port.Close()
	s.f, s.port = nil, nil
}

// Close lets queued output drain for up to write_timeout, then discards
// the rest and closes the port.
func (s *Serial) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	deadline := time.Now().Add(s.writeTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		var queued int
		err := control(s.f, func(fd int) (err error) {
			queued, err = unix.IoctlGetInt(fd, unix.TIOCOUTQ)
			return err
		})
		if err != nil || queued == 0 {
			break
		}
		<-tick.C
	}
	s.discard()
	return nil
}
