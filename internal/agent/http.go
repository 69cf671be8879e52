package agent

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// routes is every HTTP path, with the request deadlines and the cap on
// live event streams (httplimit.go).
func (a *Agent) routes() http.Handler {
	streams := newStreamLimiter(httpMaxStreams, httpMaxStreamsPerPeer)
	display := streams.limit(a.web)
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", a.health)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.Handle("/display/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStream(r) {
			display.ServeHTTP(w, r)
			return
		}
		a.web.ServeHTTP(w, r)
	}))
	if a.webhookSecret != "" { // no secret, no webhooks: the path is 404
		mux.Handle("POST /webhooks/mercadopago", &webhooks{secret: a.webhookSecret, log: a.log, metrics: a.metrics,
			sessions: a.pokers, now: time.Now, seen: map[string]time.Time{}})
	}
	mux.HandleFunc("GET /{$}", a.statusPage)
	mux.HandleFunc("GET /status.json", a.statusJSON)
	mux.Handle("GET /status/events", streams.limit(http.HandlerFunc(a.statusEvents)))
	return withDeadlines(mux, httpBodyTimeout, httpWriteTimeout)
}

// listenHTTP opens http.listen (or takes Options.HTTPListener) behind the
// connection cap, and configures the server's timeouts (httplimit.go).
func (a *Agent) listenHTTP() (*http.Server, net.Listener, error) {
	ln := a.o.HTTPListener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.cfg.HTTP.Listen)
		if err != nil {
			return nil, nil, fmt.Errorf("agent: http.listen %s: %w", a.cfg.HTTP.Listen, err)
		}
	}
	nofile := openFileLimit()
	limited := newConnLimiter(ln, httpConnCap(nofile))
	a.mu.Lock()
	a.httpAddr = ln.Addr().String()
	a.httpConns = limited
	a.mu.Unlock()
	a.log.Debug("http limits", "max_connections", limited.max, "open_file_limit", nofile, "max_streams", httpMaxStreams)
	return a.httpServer(limited), limited, nil
}

// httpServer is the server, with its timeouts, for the listener l.
func (a *Agent) httpServer(l *connLimiter) *http.Server {
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    16 << 10, // paths, cookie-free browsers and webhooks need far less
		ConnState:         l.trackState,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	// Display event streams never end by themselves.
	srv.RegisterOnShutdown(a.web.Close)
	srv.RegisterOnShutdown(a.feed.close)
	return srv
}

func (a *Agent) pokers() []poker {
	ss := a.allSessions()
	out := make([]poker, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
