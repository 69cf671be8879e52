package printer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// TCP is a network printer's raw port (9100). Dial and every write chunk
// are bounded by write_timeout; status answers by status_timeout. A failed
// connection is dropped (reset, so no half job trickles out later) and
// redialled on the next use. Between jobs the connection is closed
// (Idle): most network printers serve one connection at a time.
type TCP struct {
	addr          string
	writeTimeout  time.Duration
	statusTimeout time.Duration

	mu   sync.Mutex
	conn net.Conn
}

// NewTCP returns the TCP transport for cfg (not yet connected).
func NewTCP(cfg Config) *TCP {
	cfg = cfg.withDefaults()
	return &TCP{addr: tcpAddr(cfg.Device), writeTimeout: cfg.WriteTimeout, statusTimeout: cfg.StatusTimeout}
}

// tcpChunk is what one deadline covers; socket buffers take far more.
const tcpChunk = 64 << 10

func (t *TCP) dial(ctx context.Context) error {
	if t.conn != nil {
		return nil
	}
	d := net.Dialer{Timeout: t.writeTimeout}
	c, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return fmt.Errorf("printer: %w", err)
	}
	t.conn = c
	return nil
}

// drop resets the connection: unsent bytes are discarded, not delivered
// late.
func (t *TCP) drop() {
	if t.conn == nil {
		return
	}
	if tc, ok := t.conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	t.conn.Close()
	t.conn = nil
}

// Write sends p, failing with ErrStalled when the printer takes nothing
// for write_timeout.
func (t *TCP) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.dial(context.Background()); err != nil {
		return 0, err
	}
	n, err := writeChunks(t.conn, p, tcpChunk, t.writeTimeout)
	if err != nil {
		t.drop()
		return n, deviceErr("write", t.addr, err)
	}
	return n, nil
}

// Status asks the printer with DLE EOT. Call it between jobs only.
func (t *TCP) Status(ctx context.Context) (Status, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.dial(ctx); err != nil {
		return StatusOffline, err
	}
	st, err := queryStatus(ctx, t.conn, t.statusTimeout)
	if err != nil {
		if !errors.Is(err, ErrNoAnswer) {
			t.drop()
		}
		return st, deviceErr("", t.addr, err)
	}
	return st, nil
}

// Idle closes the connection between jobs, gracefully: the queued bytes
// still reach the printer.
func (t *TCP) Idle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hangUp()
}

// Close is Idle.
func (t *TCP) Close() error {
	t.Idle()
	return nil
}

// hangUp sends FIN after the queued data and reads what the printer still
// says (at most status_timeout): closing a socket with unread input makes
// Linux send a reset, which can discard the end of the job.
func (t *TCP) hangUp() {
	if t.conn == nil {
		return
	}
	if tc, ok := t.conn.(*net.TCPConn); ok {
		if err := tc.CloseWrite(); err == nil {
			_ = tc.SetReadDeadline(time.Now().Add(t.statusTimeout))
			_, _ = io.Copy(io.Discard, tc)
		}
	}
	t.conn.Close()
	t.conn = nil
}
