// Package netgate holds a loopback TCP port for a test across outages of
// the server behind it. A test that needs "the printer is off, then on" or
// "the link is cut, then back" on one fixed address used to listen on port
// 0, close, and listen again later on the same port — and another process
// on the machine could take the port in between (seen in full runs as
// "bind: address already in use"). A Gate keeps the port for the test's
// whole life instead:
//
//   - until its first Listener, the socket is bound but not listening, so
//     connections are refused, exactly as with nobody there;
//   - with a Listener open, connections reach it;
//   - after that Listener is closed, connections are accepted and reset at
//     once (a socket cannot stop listening), which clients see as a dropped
//     connection.
//
// It is for tests only; nothing in the product imports it. The standard
// library has no bound-but-not-listening socket, hence the few lines of
// x/sys/unix here.
package netgate

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Gate is one held port.
type Gate struct {
	addr string
	fd   int

	mu    sync.Mutex
	inner net.Listener // nil until the first Listener
	up    *listener    // the open Listener, nil while down
}

// New binds a loopback port that refuses connections until Listener, and
// releases it when the test ends.
func New(t testing.TB) *Gate {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("netgate: socket: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		t.Fatalf("netgate: bind: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		t.Fatalf("netgate: getsockname: %v", err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	g := &Gate{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), fd: fd}
	t.Cleanup(g.close)
	return g
}

// Addr is the held address, host:port.
func (g *Gate) Addr() string { return g.addr }

// Listener opens the gate: connections reach the returned listener until
// it is closed. Only one may be open at a time.
func (g *Gate) Listener() (net.Listener, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.up != nil {
		return nil, errors.New("netgate: a listener is already open")
	}
	if g.inner == nil {
		if err := unix.Listen(g.fd, 128); err != nil {
			return nil, err
		}
		f := os.NewFile(uintptr(g.fd), "netgate")
		inner, err := net.FileListener(f) // dups the descriptor
		f.Close()
		if err != nil {
			return nil, err
		}
		g.inner = inner
		go g.accept(inner)
	}
	g.up = &listener{g: g, conns: make(chan net.Conn), done: make(chan struct{})}
	return g.up, nil
}

// accept hands each connection to the open listener, or resets it.
func (g *Gate) accept(inner net.Listener) {
	for {
		c, err := inner.Accept()
		if err != nil {
			return
		}
		g.mu.Lock()
		up := g.up
		g.mu.Unlock()
		if up == nil || !up.deliver(c) {
			reset(c)
		}
	}
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (g *Gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inner != nil {
		g.inner.Close()
	} else {
		unix.Close(g.fd)
	}
}

// listener is the gate while open.
type listener struct {
	g     *Gate
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *listener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the gate again; the port stays held.
func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.g.mu.Lock()
		if l.g.up == l {
			l.g.up = nil
		}
		l.g.mu.Unlock()
	})
	return nil
}

func (l *listener) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", l.g.addr)
	return a
}
