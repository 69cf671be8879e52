package printer

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Transport carries ESC/POS bytes to a printer. Transports open lazily on
// first use and reopen on the next use after a failure, so one value
// serves a printer that comes and goes. A transport is used by one
// goroutine at a time (the worker); its methods also lock, so a status
// request can never land in the middle of a job.
type Transport interface {
	io.Writer
	io.Closer
}

// idler is implemented by transports that should let go of the printer
// between jobs: a network printer serves one connection at a time.
type idler interface {
	Idle()
}

// ErrStalled means the printer took no data for write_timeout: it is off,
// out of paper with its buffer full, or holding flow control.
var ErrStalled = errors.New("printer stopped taking data")

// NewTransport returns the transport cfg names, not yet opened.
func NewTransport(cfg Config) (Transport, error) {
	cfg = cfg.withDefaults()
	switch cfg.Transport {
	case "serial":
		return NewSerial(cfg), nil
	case "usb":
		return NewUSB(cfg), nil
	case "tcp":
		return NewTCP(cfg), nil
	case "file":
		return NewFile(cfg), nil
	}
	return nil, fieldError("transport", "must be one of "+transportChoices, cfg.Transport)
}

// deadlineWriter is what a non-blocking os.File and a net.Conn share.
type deadlineWriter interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

// writeChunks writes p in chunks of at most chunk bytes, each with its own
// deadline. A printer that stops taking data fails the write within timeout
// of its last progress, while a slow link still gets the time a long raster
// needs: at 9600 baud a 12 KB image takes 13 s, longer than any sensible
// stall timeout.
func writeChunks(w deadlineWriter, p []byte, chunk int, timeout time.Duration) (int, error) {
	written := 0
	for len(p) > 0 {
		if err := w.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
			// Without a deadline a stuck device would hang the worker:
			// refuse (a regular file wants transport file).
			return written, fmt.Errorf("device cannot time out writes (not a tty, usblp device or socket): %w", err)
		}
		n, err := w.Write(p[:min(chunk, len(p))])
		written += n
		p = p[n:]
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return written, fmt.Errorf("%w for %s (%d of %d bytes sent)", ErrStalled, timeout, written, written+len(p))
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// serialChunk sizes write chunks so that one fits in a quarter of the
// timeout at the line's speed (10 bits a byte with 8N1), within 64 bytes
// and the 4 KB a UART driver buffers.
func serialChunk(baud int, timeout time.Duration) int {
	n := int(int64(baud/10) * int64(timeout) / int64(4*time.Second))
	return min(max(n, 64), 4096)
}

// File appends every job to a file (created 0640 when missing): for
// debugging, and as a spool another process prints from. It is opened per
// write so log rotation and deletion just work. It has no write timeout: a
// local file system does not stall the way a printer does.
type File struct {
	path string
}

// NewFile returns the file transport for cfg.Device.
func NewFile(cfg Config) *File { return &File{path: cfg.Device} }

// Write appends p.
func (f *File) Write(p []byte) (int, error) {
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return 0, fmt.Errorf("printer: %w", err)
	}
	n, err := fh.Write(p)
	if cerr := fh.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("printer: %w", err)
	}
	return n, nil
}

// Close does nothing: the file is closed after every write.
func (f *File) Close() error { return nil }

// deviceErr wraps the error of op ("open", "write", "" for none) on a
// device, naming the device once: errors from the os package already say
// "open /dev/ttyUSB0: ...", and the operator needs to read it only once.
func deviceErr(op, device string, err error) error {
	switch {
	case strings.Contains(err.Error(), device):
		return fmt.Errorf("printer: %w", err)
	case op == "":
		return fmt.Errorf("printer: %s: %w", device, err)
	}
	return fmt.Errorf("printer: %s %s: %w", op, device, err)
}
