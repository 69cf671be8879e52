//go:build linux

package printer

import (
	"bytes"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyPrinter is the printer end of a pseudo-terminal: the transport opens
// the slave path like a real tty; this reads the master, records what
// arrives and answers DLE EOT requests from a table. A pty has no baud
// timing and no modem lines, and it buffers a few KB before a writer
// blocks, which is what a stalled printer looks like.
type ptyPrinter struct {
	t      *testing.T
	master *os.File
	slave  *os.File // held so the pty lives while the transport closes and reopens
	path   string

	mu      sync.Mutex
	got     []byte
	scanned int
	answers map[byte]byte // DLE EOT n -> answer; missing: silence
	changed chan struct{} // closed and replaced on every read
	paused  chan struct{} // non-nil while the reader is stalled
	done    chan struct{}
}

func newPTYPrinter(t *testing.T, answers map[byte]byte) *ptyPrinter {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	// pty.Open leaves the master blocking (it calls Fd); make it
	// non-blocking again so Close releases a pending Read.
	if err := syscall.SetNonblock(int(master.Fd()), true); err != nil {
		t.Fatal(err)
	}
	p := &ptyPrinter{t: t, master: master, slave: slave, path: slave.Name(), answers: answers,
		changed: make(chan struct{}), done: make(chan struct{})}
	go p.read()
	t.Cleanup(func() {
		p.resume()
		master.Close()
		<-p.done
		slave.Close()
	})
	return p
}

func (p *ptyPrinter) read() {
	defer close(p.done)
	buf := make([]byte, 4096)
	for {
		p.mu.Lock()
		stalled := p.paused
		p.mu.Unlock()
		if stalled != nil {
			<-stalled
		}
		n, err := p.master.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.got = append(p.got, buf[:n]...)
		var reply []byte
		for ; p.scanned+2 < len(p.got); p.scanned++ {
			if p.got[p.scanned] == 0x10 && p.got[p.scanned+1] == 0x04 {
				if a, ok := p.answers[p.got[p.scanned+2]]; ok {
					reply = append(reply, a)
				}
				p.scanned += 2
			}
		}
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		if len(reply) > 0 {
			if _, err := p.master.Write(reply); err != nil {
				return
			}
		}
	}
}

func (p *ptyPrinter) setAnswers(a map[byte]byte) {
	p.mu.Lock()
	p.answers = a
	p.mu.Unlock()
}

// pause stops reading the master; the next Read already under way still
// completes.
func (p *ptyPrinter) pause() {
	p.mu.Lock()
	if p.paused == nil {
		p.paused = make(chan struct{})
	}
	p.mu.Unlock()
}

func (p *ptyPrinter) resume() {
	p.mu.Lock()
	if p.paused != nil {
		close(p.paused)
		p.paused = nil
	}
	p.mu.Unlock()
}

// waitFor waits until cond holds for what arrived so far, failing the test
// after a generous deadline.
func (p *ptyPrinter) waitFor(what string, cond func(got []byte) bool) []byte {
	p.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		got, changed := bytes.Clone(p.got), p.changed
		p.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			p.t.Fatalf("waiting for %s: %d bytes arrived", what, len(got))
		}
	}
}
