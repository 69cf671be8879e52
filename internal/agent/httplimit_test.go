package agent

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHTTPConnCap(t *testing.T) {
	for _, c := range []struct {
		nofile uint64
		want   int
	}{{0, 256}, {1 << 20, 256}, {8192, 256}, {1024, 256}, {512, 128}, {100, 25}, {8, 8}} {
		if got := httpConnCap(c.nofile); got != c.want {
			t.Errorf("httpConnCap(%d) = %d, want %d", c.nofile, got, c.want)
		}
	}
}

// accepted dials l and returns the server side of the connection.
func accepted(t *testing.T, l *connLimiter) (client net.Conn, server *limitedConn) {
	t.Helper()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return client, c.(*limitedConn)
}

// closedByPeer reports whether reading c ends (the other side closed).
func closedByPeer(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// TestConnLimiterEvictsIdle: at the cap, a new connection takes the place
// of the one idle longest; busy ones are never closed, and with every
// connection busy Accept waits until one ends.
func TestConnLimiterEvictsIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, 2)
	defer l.Close()
	c1, _ := accepted(t, l)
	_, s2 := accepted(t, l)
	l.trackState(s2, http.StateActive)
	_, s3 := accepted(t, l) // evicts s1, the only idle one
	if !closedByPeer(t, c1) || l.open() != 2 {
		t.Fatalf("idle connection not evicted: %d open", l.open())
	}
	l.trackState(s3, http.StateActive)
	// Every connection busy: the next Accept waits for one to end.
	got := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(got)
			return
		}
		got <- c
	}()
	c4, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	select {
	case <-got:
		t.Fatal("accepted over the cap with every connection busy")
	case <-time.After(50 * time.Millisecond): // a negative check: nothing may happen
	}
	l.trackState(s2, http.StateIdle) // s2 finished its request: it gives way
	select {
	case c, ok := <-got:
		if !ok {
			t.Fatal("Accept failed")
		}
		c.Close()
	case <-time.After(wait):
		t.Fatal("Accept did not take the idle connection's place")
	}
	_ = s3.Close()
}

// TestConnLimiterClose: closing the listener ends an Accept waiting for a
// free slot (the server's shutdown must not hang on it).
func TestConnLimiterClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, 1)
	_, s1 := accepted(t, l)
	l.trackState(s1, http.StateActive)
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Accept still waiting after Close")
	}
}

func TestStreamLimiter(t *testing.T) {
	s := newStreamLimiter(3, 2)
	if !s.acquire("a") || !s.acquire("a") || s.acquire("a") {
		t.Fatal("per-peer cap of 2 not applied")
	}
	if !s.acquire("b") || s.acquire("c") {
		t.Fatal("total cap of 3 not applied")
	}
	s.release("a")
	if !s.acquire("c") {
		t.Fatal("a released slot not reused")
	}
	rec := httptest.NewRecorder()
	s.limit(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/status/events", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("over the cap: %d %v", rec.Code, rec.Header())
	}
}

// TestBodyDeadline: a body that trickles in is cut at the body deadline;
// a request without one is not (event streams never read).
func TestBodyDeadline(t *testing.T) {
	readErr := make(chan error, 1)
	srv := httptest.NewServer(withDeadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), 100*time.Millisecond, time.Minute))
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nx")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("slow body read: %v, want a timeout", err)
		}
	case <-time.After(wait):
		t.Fatal("a trickling body was never cut")
	}
}

// TestServerTimeouts pins the documented numbers (README "Security").
func TestServerTimeouts(t *testing.T) {
	h := newHarness(t)
	srv := h.agent.httpServer(newConnLimiter(nil, 1))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadHeaderTimeout > 10*time.Second || srv.IdleTimeout <= 0 || srv.IdleTimeout > 120*time.Second ||
		srv.ReadTimeout != 0 || srv.ConnState == nil {
		t.Fatalf("header %s, idle %s, read %s", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.ReadTimeout)
	}
}
