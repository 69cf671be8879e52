//go:build linux

package printer

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// USB is a printer on the Linux usblp driver (/dev/usb/lp0). The device is
// opened non-blocking, so Go's poller gives writes a deadline: usblp
// accepts one URB at a time and a printer that stops taking data (paper
// out, cover open, switched off) leaves it pending forever. After a failure
// the device is closed (usblp cancels the pending URB) and reopened on the
// next use. Status is not asked over USB: DLE EOT answers need a
// bidirectional printer and the usblp read path, neither of which can be
// relied on.
type USB struct {
	device       string
	writeTimeout time.Duration

	mu sync.Mutex
	f  *os.File
}

// NewUSB returns the usblp transport for cfg (not yet opened).
func NewUSB(cfg Config) *USB {
	cfg = cfg.withDefaults()
	return &USB{device: cfg.Device, writeTimeout: cfg.WriteTimeout}
}

// usbChunk is a multiple of the 64-byte bulk packet, well under usblp's
// 8 KB buffer, so each chunk is one URB.
const usbChunk = 4096

func (u *USB) open() error {
	if u.f != nil {
		return nil
	}
	f, err := os.OpenFile(u.device, os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return deviceErr("open", u.device, err)
	}
	u.f = f
	return nil
}

// Write sends p, failing with ErrStalled when the printer takes nothing
// for write_timeout.
func (u *USB) Write(p []byte) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.open(); err != nil {
		return 0, err
	}
	n, err := writeChunks(u.f, p, usbChunk, u.writeTimeout)
	if err != nil {
		u.f.Close()
		u.f = nil
		return n, deviceErr("write", u.device, err)
	}
	return n, nil
}

// Close waits up to write_timeout for the last URB to complete (usblp
// cancels a pending one on close), then closes the device.
func (u *USB) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.f == nil {
		return nil
	}
	_ = control(u.f, func(fd int) error {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		_, err := unix.Poll(pfd, int(u.writeTimeout/time.Millisecond))
		return err
	})
	err := u.f.Close()
	u.f = nil
	return err
}
