//go:build realsystemd

package realsystemd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pty is a pseudo-terminal in the machine's devpts, standing in for a USB
// serial printer: the agent writes to the slave, the test reads the master.
type pty struct {
	master *os.File
	slave  string // inside the machine, /dev/pts/N
	mu     sync.Mutex
	got    bytes.Buffer
	more   chan struct{}
}

// openPTY opens a pty and gives its slave to group dialout (20), mode
// 0660, as udev does for a ttyUSB device.
func (m *machine) openPTY(t *testing.T) *pty {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(m.root, "dev/pts/ptmx"), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(m.root, "dev/pts", fmt.Sprint(n))
	if err := os.Chown(host, 0, 20); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(host, 0o660); err != nil {
		t.Fatal(err)
	}
	// Holding the slave open too keeps the master readable (no EIO)
	// before and between the agent's opens.
	hold, err := os.OpenFile(host, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hold.Close() })
	p := &pty{master: f, slave: fmt.Sprintf("/dev/pts/%d", n), more: make(chan struct{}, 1)}
	go p.read()
	return p
}

func (p *pty) read() {
	buf := make([]byte, 4096)
	for {
		n, err := p.master.Read(buf)
		if n > 0 {
			p.mu.Lock()
			p.got.Write(buf[:n])
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return // the test's end closed the master
		}
	}
}

// waitFor waits until the bytes read so far contain want.
func (p *pty) waitFor(t *testing.T, want []byte, what string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		p.mu.Lock()
		ok := bytes.Contains(p.got.Bytes(), want)
		n := p.got.Len()
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-p.more:
		case <-deadline:
			t.Fatalf("%s: %q never reached the printer's pty %s (%d bytes came)", what, want, p.slave, n)
		}
	}
}
