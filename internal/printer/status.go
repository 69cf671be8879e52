package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Status is a printer state as sent in the `printer` event
// (docs/protocol.md).
type Status string

// The states a printer event carries, plus StatusUnknown, which is never
// sent in an event: it means nobody knows yet.
const (
	StatusOK           Status = "ok"
	StatusOffline      Status = "offline"
	StatusPaperOut     Status = "paper_out"
	StatusPaperNearEnd Status = "paper_near_end"
	StatusCoverOpen    Status = "cover_open"
	StatusUnknown      Status = "unknown"
)

// Problem reports whether s keeps receipts from being printed. Paper near
// end is a warning: the printer still prints.
func (s Status) Problem() bool {
	return s == StatusOffline || s == StatusPaperOut || s == StatusCoverOpen
}

// StatusReader is implemented by transports that can ask the printer for
// its state (serial and TCP, with DLE EOT). It must only be called between
// jobs: a real-time request sent in the middle of a raster image is either
// taken as image data or swallowed when the printer's buffer is full.
type StatusReader interface {
	Status(ctx context.Context) (Status, error)
}

// ErrNoAnswer means the printer did not answer a DLE EOT request in time:
// it does not support real-time status, or it is switched off.
var ErrNoAnswer = errors.New("printer did not answer the status request")

// dleEOT is the real-time status request; the last byte is n.
func dleEOT(n byte) []byte { return []byte{0x10, 0x04, n} }

// validStatusByte checks the fixed bits every DLE EOT answer has
// (0xx1xx10): bit 0 clear, bit 1 set, bit 4 set, bit 7 clear. Anything else
// is not an answer (line noise, an echo, a printer speaking another
// protocol).
func validStatusByte(b byte) bool { return b&0x93 == 0x12 }

// DecodeStatus turns the answers to DLE EOT n=1 (printer), n=2 (offline
// cause) and n=4 (paper sensors) into one Status, the most severe first:
// cover open, paper out, offline, paper near end, ok.
func DecodeStatus(printer, offline, paper byte) (Status, error) {
	for _, a := range []struct {
		n byte
		b byte
	}{{1, printer}, {2, offline}, {4, paper}} {
		if !validStatusByte(a.b) {
			return StatusUnknown, fmt.Errorf("DLE EOT %d: answer %#02x lacks the fixed bits 0xx1xx10", a.n, a.b)
		}
	}
	switch {
	case offline&0x04 != 0: // n=2 bit 2: cover open
		return StatusCoverOpen, nil
	case offline&0x20 != 0, paper&0x60 != 0: // n=2 bit 5: stopped at paper end; n=4 bits 5-6: roll end
		return StatusPaperOut, nil
	case printer&0x08 != 0: // n=1 bit 3: offline
		return StatusOffline, nil
	case paper&0x0C != 0: // n=4 bits 2-3: roll near end
		return StatusPaperNearEnd, nil
	}
	return StatusOK, nil
}

// deadlineConn is what os.File (non-blocking) and net.Conn share.
type deadlineConn interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// queryStatus asks n=1, 2 and 4 in turn, each answer awaited at most
// timeout (earlier if ctx ends first). A missing answer is ErrNoAnswer; an
// I/O failure is returned as is, so the caller can tell a silent printer
// from a broken link.
func queryStatus(ctx context.Context, c deadlineConn, timeout time.Duration) (Status, error) {
	var ans [3]byte
	for i, n := range [3]byte{1, 2, 4} {
		deadline := time.Now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		if err := c.SetWriteDeadline(deadline); err != nil {
			return StatusOffline, err
		}
		if _, err := c.Write(dleEOT(n)); err != nil {
			return StatusOffline, fmt.Errorf("DLE EOT %d: %w", n, err)
		}
		if err := c.SetReadDeadline(deadline); err != nil {
			return StatusOffline, err
		}
		if _, err := io.ReadFull(c, ans[i:i+1]); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return StatusUnknown, fmt.Errorf("DLE EOT %d: %w within %s", n, ErrNoAnswer, timeout)
			}
			return StatusOffline, fmt.Errorf("DLE EOT %d: %w", n, err)
		}
	}
	return DecodeStatus(ans[0], ans[1], ans[2])
}
