package netgate

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
)

func TestGateRefusesThenServesThenResets(t *testing.T) {
	g := New(t)
	if _, err := net.Dial("tcp", g.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial before Listener: %v, want connection refused", err)
	}
	if _, err := net.Listen("tcp", g.Addr()); err == nil {
		t.Fatal("another listener took the held port")
	}
	for round := range 2 {
		l, err := g.Listener()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte("hi"))
				c.Close()
			}
		}()
		c, err := net.Dial("tcp", g.Addr())
		if err != nil {
			t.Fatalf("round %d: dial while open: %v", round, err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "hi" {
			t.Fatalf("round %d: read %q through the open gate", round, b)
		}
		l.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		c, err = net.Dial("tcp", g.Addr())
		if err == nil {
			_, err = io.ReadAll(c)
			c.Close()
		}
		if err == nil {
			t.Fatalf("round %d: a connection through the closed gate was served", round)
		}
	}
}
