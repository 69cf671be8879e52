package printer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/netgate"
)

// tcpPrinter is a listener standing in for a network printer; each
// accepted connection is handed to the test's handler.
func tcpPrinter(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c.(*net.TCPConn))
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func tcpConfig(addr string) Config {
	return Config{Transport: "tcp", Device: addr, WriteTimeout: 500 * time.Millisecond, StatusTimeout: time.Second}
}

func TestTCPPrintsAndReadsStatus(t *testing.T) {
	received := make(chan []byte, 4)
	addr := tcpPrinter(t, func(c *net.TCPConn) {
		defer c.Close()
		var all []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			for i := 0; i+2 < len(all); i++ { // answer each request once
				if all[i] == 0x10 && all[i+1] == 0x04 {
					answer := byte(0x12)
					if bytes.Contains(all, []byte("PAPER")) && all[i+2] == 4 {
						answer = 0x72
					}
					c.Write([]byte{answer})
					all[i] = 0 // handled
				}
			}
			if err != nil {
				received <- all
				return
			}
		}
	})
	tr := NewTCP(tcpConfig(addr))
	t.Cleanup(func() { tr.Close() })
	if st, err := tr.Status(context.Background()); err != nil || st != StatusOK {
		t.Fatalf("Status = %v, %v", st, err)
	}
	job := []byte("\x1b@PAPER\n")
	if _, err := tr.Write(job); err != nil {
		t.Fatal(err)
	}
	if st, err := tr.Status(context.Background()); err != nil || st != StatusPaperOut {
		t.Errorf("Status = %v, %v; want paper_out", st, err)
	}
	tr.Idle() // a network printer serves one connection at a time
	select {
	case all := <-received:
		if !bytes.Contains(all, job) {
			t.Errorf("printer got %q", all)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("connection not closed by Idle")
	}
	if _, err := tr.Write(job); err != nil { // a new connection
		t.Fatal(err)
	}
}

func TestTCPStalledWriteTimesOut(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	addr := tcpPrinter(t, func(c *net.TCPConn) {
		go func() { <-hold; c.Close() }() // accepts, never reads
	})
	tr := NewTCP(tcpConfig(addr))
	t.Cleanup(func() { tr.Close() })
	chunk := make([]byte, 1<<20)
	err := result(t, func() error {
		for range 256 { // socket buffers hold a few MB on loopback
			if _, err := tr.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("Write to a printer that does not read: %v, want ErrStalled", err)
	}
	if tr.conn != nil {
		t.Error("the stalled connection was kept")
	}
}

func TestTCPResetThenReconnect(t *testing.T) {
	got := make(chan []byte, 1)
	first := true
	addr := tcpPrinter(t, func(c *net.TCPConn) {
		if first { // the printer takes the start of a job, then drops the connection: a reset
			first = false
			var b [1]byte
			c.Read(b[:])
			c.SetLinger(0)
			c.Close()
			return
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	})
	tr := NewTCP(tcpConfig(addr))
	t.Cleanup(func() { tr.Close() })
	chunk := make([]byte, 64<<10)
	err := result(t, func() error {
		for range 256 { // the first write may land before the reset does
			if _, err := tr.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		t.Fatal("writes to a reset connection never failed")
	}
	t.Logf("reset: %v", err)
	job := []byte("\x1b@again\n")
	if _, err := tr.Write(job); err != nil {
		t.Fatalf("Write after the reset (reconnect): %v", err)
	}
	tr.Idle()
	select {
	case b := <-got:
		if !bytes.Equal(b, job) {
			t.Errorf("second connection got %q", b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no second connection")
	}
}

func TestTCPNobodyListening(t *testing.T) {
	addr := netgate.New(t).Addr() // held, never listening: refused
	tr := NewTCP(tcpConfig(addr))
	if _, err := tr.Write([]byte("x")); err == nil {
		t.Error("Write with nobody listening: no error")
	}
	if st, err := tr.Status(context.Background()); err == nil || st != StatusOffline {
		t.Errorf("Status with nobody listening: %v, %v", st, err)
	}
}

func TestTCPSilentPrinter(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	addr := tcpPrinter(t, func(c *net.TCPConn) {
		go func() { io.Copy(io.Discard, c); <-hold; c.Close() }()
	})
	cfg := tcpConfig(addr)
	cfg.StatusTimeout = 100 * time.Millisecond
	tr := NewTCP(cfg)
	t.Cleanup(func() { tr.Close() })
	st, err := tr.Status(context.Background())
	if !errors.Is(err, ErrNoAnswer) || st != StatusUnknown {
		t.Errorf("silent printer: %v, %v; want unknown, ErrNoAnswer", st, err)
	}
	if tr.conn == nil {
		t.Error("a printer that only does not answer status lost its connection")
	}
}
