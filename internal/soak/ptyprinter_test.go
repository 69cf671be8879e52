//go:build soak

package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
)

// ptyPrinter is a serial receipt printer on a pseudo-terminal: the agent
// opens a symlink to the slave side (as it would /dev/serial/by-id/...),
// the test reads the master, answers DLE EOT status requests as an online
// Epson does, and plays the printer's troubles: it stalls (stops reading,
// so writes and status requests go unanswered) and disappears (the pty is
// closed and the link removed, as when the USB cable is pulled), then
// comes back on a new pty behind the same link.
type ptyPrinter struct {
	pos  string
	link string

	mu       sync.Mutex
	master   *os.File
	slave    *os.File
	done     chan struct{} // the current reader's end
	stall    chan struct{} // non-nil while stalled; closed to resume
	bytes    int64
	queries  int
	stalls   int
	unplugs  int
	plugErrs []string
}

func newPTYPrinter(dir, pos string) (*ptyPrinter, error) {
	p := &ptyPrinter{pos: pos, link: filepath.Join(dir, "tty-"+pos)}
	if err := p.plug(); err != nil {
		return nil, err
	}
	return p, nil
}

// plug opens a new pty and points the link at it.
func (p *ptyPrinter) plug() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.master != nil {
		return nil
	}
	master, slave, err := pty.Open()
	if err != nil {
		return err
	}
	// pty.Open leaves the master blocking; non-blocking, Close releases a
	// pending Read.
	if err := syscall.SetNonblock(int(master.Fd()), true); err != nil {
		master.Close()
		slave.Close()
		return err
	}
	tmp := p.link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(slave.Name(), tmp); err != nil {
		master.Close()
		slave.Close()
		return err
	}
	if err := os.Rename(tmp, p.link); err != nil {
		master.Close()
		slave.Close()
		return err
	}
	p.master, p.slave, p.done = master, slave, make(chan struct{})
	go p.read(master, p.done)
	return nil
}

// unplug removes the link and closes the pty: the agent's open descriptor
// fails, and reopening finds nothing.
func (p *ptyPrinter) unplug() {
	p.mu.Lock()
	master, slave, done := p.master, p.slave, p.done
	p.master, p.slave = nil, nil
	if master != nil {
		p.unplugs++
	}
	p.mu.Unlock()
	if master == nil {
		return
	}
	_ = os.Remove(p.link)
	p.resume()
	master.Close()
	<-done
	slave.Close()
}

func (p *ptyPrinter) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stall == nil {
		p.stall = make(chan struct{})
		p.stalls++
	}
}

func (p *ptyPrinter) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stall != nil {
		close(p.stall)
		p.stall = nil
	}
}

// heal ends any trouble: the printer is plugged in and reading.
func (p *ptyPrinter) heal() {
	p.resume()
	if err := p.plug(); err != nil {
		p.mu.Lock()
		p.plugErrs = append(p.plugErrs, err.Error())
		p.mu.Unlock()
	}
}

func (p *ptyPrinter) close() {
	p.unplug()
}

// read consumes what the agent prints and answers status requests: every
// DLE EOT n gets the online answer 0x12 (fixed bits only: no problem).
func (p *ptyPrinter) read(master *os.File, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 4096)
	var tail []byte
	for {
		p.mu.Lock()
		stall := p.stall
		p.mu.Unlock()
		if stall != nil {
			<-stall
		}
		n, err := master.Read(buf)
		if err != nil {
			return
		}
		data := append(tail, buf[:n]...)
		var reply []byte
		i := 0
		for ; i+2 < len(data); i++ {
			if data[i] == 0x10 && data[i+1] == 0x04 && slices.Contains([]byte{1, 2, 4}, data[i+2]) {
				reply = append(reply, 0x12)
				i += 2
			}
		}
		tail = slices.Clone(data[i:])
		p.mu.Lock()
		p.bytes += int64(n)
		p.queries += len(reply)
		p.mu.Unlock()
		if len(reply) > 0 {
			if _, err := master.Write(reply); err != nil {
				return
			}
		}
	}
}

func (p *ptyPrinter) stats() (bytes int64, queries, stalls, unplugs int, plugErrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes, p.queries, p.stalls, p.unplugs, slices.Clone(p.plugErrs)
}

// runPrinters troubles a random pty printer every 2-8 s: a stall or an
// unplugging of 1-6 s, healed by a timer.
func (c *chaos) runPrinters(ctx context.Context, rng *rand.Rand, printers map[string]*ptyPrinter) {
	if len(printers) == 0 {
		return
	}
	var ids []string
	for id := range printers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var timers []*time.Timer
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	for {
		pace(ctx, time.Duration(2000+rng.IntN(6000))*time.Millisecond) // schedules the next trouble
		if ctx.Err() != nil {
			return
		}
		p := printers[ids[rng.IntN(len(ids))]]
		d := time.Duration(1000+rng.IntN(5000)) * time.Millisecond
		if rng.IntN(2) == 0 {
			p.pause()
			c.record("printer stalled", fmt.Sprintf("%s for %s", p.pos, d))
			timers = append(timers, time.AfterFunc(d, p.resume))
		} else {
			p.unplug()
			c.record("printer unplugged", fmt.Sprintf("%s for %s", p.pos, d))
			timers = append(timers, time.AfterFunc(d, p.heal))
		}
	}
}
