package agent

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HTTP limits (README "Security"). The HTTP listener shares the process's
// file descriptors with the embedded NATS server, which registers must
// always be able to reach, so the HTTP side gets a fixed slice of them:
// at most httpMaxConns connections, and never more than a quarter of
// RLIMIT_NOFILE (the rest is for NATS clients, leaf links and JetStream
// files: with the systemd unit's LimitNOFILE=8192 that is 256 for HTTP and
// about 7,900 for the rest).
const (
	httpReadHeaderTimeout = 10 * time.Second // a request's headers, from the first byte
	httpBodyTimeout       = 10 * time.Second // a request's body (webhooks), from the headers' end
	httpWriteTimeout      = 30 * time.Second // an ordinary answer; streams set one per event
	httpIdleTimeout       = 60 * time.Second // a kept-alive connection between requests
	httpMaxConns          = 256
	httpMaxStreams        = 64 // live event streams: customer displays and status pages together
	httpMaxStreamsPerPeer = 16 // from one client address, so one host cannot take them all
)

// httpConnCap is the connection cap for a process allowed nofile open
// files (0: unknown).
func httpConnCap(nofile uint64) int {
	if nofile > 0 && nofile/4 < httpMaxConns {
		return max(int(nofile/4), 8)
	}
	return httpMaxConns
}

// connLimiter is a net.Listener that keeps at most max connections open.
// Unlike golang.org/x/net/netutil.LimitListener, which stops accepting at
// the cap (so a flood of idle connections locks everyone out until the
// server's timeouts drop them), at the cap it closes the connection that
// has been idle longest (no request, or between requests) to take the new
// one; only when every connection is busy does it wait. Connections beyond
// the cap wait in the kernel's accept queue and use no file descriptor of
// the process. The server reports connection states through trackState
// (http.Server.ConnState).
type connLimiter struct {
	net.Listener
	max int

	mu     sync.Mutex
	cond   *sync.Cond
	conns  map[*limitedConn]struct{}
	closed bool
}

func newConnLimiter(ln net.Listener, max int) *connLimiter {
	l := &connLimiter{Listener: ln, max: max, conns: map[*limitedConn]struct{}{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// limitedConn is an accepted connection and what the server last said
// about it.
type limitedConn struct {
	net.Conn
	l      *connLimiter
	state  http.ConnState // guarded by l.mu
	since  time.Time      // guarded by l.mu: when state was entered
	closed sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.closed.Do(func() { c.l.release(c) })
	return err
}

func (l *connLimiter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	for len(l.conns) >= l.max && !l.closed {
		if victim := l.oldestIdle(); victim != nil {
			l.mu.Unlock()
			_ = victim.Close() // releases its slot
			l.mu.Lock()
			continue
		}
		l.cond.Wait() // woken when a connection closes or turns idle
	}
	if l.closed {
		l.mu.Unlock()
		_ = c.Close()
		return nil, net.ErrClosed
	}
	lc := &limitedConn{Conn: c, l: l, state: http.StateNew, since: time.Now()}
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	return lc, nil
}

// oldestIdle is the connection longest without a request in progress.
func (l *connLimiter) oldestIdle() *limitedConn {
	var victim *limitedConn
	for c := range l.conns {
		if (c.state == http.StateNew || c.state == http.StateIdle) && (victim == nil || c.since.Before(victim.since)) {
			victim = c
		}
	}
	return victim
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	l.cond.Broadcast()
}

// trackState is the server's ConnState hook.
func (l *connLimiter) trackState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lc.state, lc.since = s, time.Now()
	if s == http.StateIdle {
		l.cond.Broadcast()
	}
}

// Close stops accepting; an Accept waiting for a free slot returns.
func (l *connLimiter) Close() error {
	l.mu.Lock()
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	return l.Listener.Close()
}

// open is how many connections are open (tests, status).
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// streamLimiter caps live event streams, in all and per client address:
// each holds a connection for as long as the client likes.
type streamLimiter struct {
	max, perPeer int

	mu     sync.Mutex
	total  int
	byPeer map[string]int
}

func newStreamLimiter(max, perPeer int) *streamLimiter {
	return &streamLimiter{max: max, perPeer: perPeer, byPeer: map[string]int{}}
}

// limit serves next as a stream when a slot is free, else answers 503
// with Retry-After (the pages retry by themselves).
func (s *streamLimiter) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			peer = r.RemoteAddr
		}
		if !s.acquire(peer) {
			w.Header().Set("Retry-After", "10")
			http.Error(w, "too many live streams: try again later", http.StatusServiceUnavailable)
			return
		}
		defer s.release(peer)
		next.ServeHTTP(w, r)
	})
}

func (s *streamLimiter) acquire(peer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.max || s.byPeer[peer] >= s.perPeer {
		return false
	}
	s.total++
	s.byPeer[peer]++
	return true
}

func (s *streamLimiter) release(peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.byPeer[peer]--; s.byPeer[peer] <= 0 {
		delete(s.byPeer, peer)
	}
}

// withDeadlines bounds what a client can make one request hold: its body
// must arrive within body (httpBodyTimeout; http.Server.ReadTimeout
// cannot do this, it would also cancel the event streams, which never
// read), and its answer must be taken within write (httpWriteTimeout;
// streams move their deadline forward with every event).
func withDeadlines(next http.Handler, body, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if r.ContentLength != 0 { // a body, announced or chunked
			_ = rc.SetReadDeadline(time.Now().Add(body))
		}
		_ = rc.SetWriteDeadline(time.Now().Add(write))
		next.ServeHTTP(w, r)
	})
}

// isStream reports a request for an event stream.
func isStream(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/events")
}
