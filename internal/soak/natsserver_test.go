//go:build soak

package soak

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// natsServer is the register's NATS server, run in the test process with
// JetStream on disk, restartable on the same port and store so clients
// reconnect and find their streams.
type natsServer struct {
	dir  string
	port int

	mu       sync.Mutex
	srv      *server.Server
	restarts int
}

func startNATS(dir string) (*natsServer, error) {
	n := &natsServer{dir: dir, port: -1}
	if err := n.start(); err != nil {
		return nil, err
	}
	return n, nil
}

func (n *natsServer) start() error {
	opts := &server.Options{
		ServerName: "soak",
		Host:       "127.0.0.1",
		Port:       n.port,
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   n.dir,
		// The agent keeps the sale store and two streams; keep the server
		// modest, as a store's would be.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  2 << 30,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("nats-server on port %d not ready in 20s", n.port)
	}
	_, p, _ := net.SplitHostPort(srv.Addr().String())
	n.mu.Lock()
	n.srv = srv
	n.port, _ = strconv.Atoi(p)
	n.mu.Unlock()
	return nil
}

// URL is the client URL; it stays the same across restarts.
func (n *natsServer) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return "nats://127.0.0.1:" + strconv.Itoa(n.port)
}

// stop shuts the server down cleanly (JetStream flushes its files) and
// waits until the port is released.
func (n *natsServer) stop() {
	n.mu.Lock()
	srv := n.srv
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// restart stops the server, leaves it down until down is closed, and
// starts it again on the same port and store.
func (n *natsServer) restart(down <-chan struct{}) error {
	n.stop()
	<-down
	n.mu.Lock()
	n.restarts++
	n.mu.Unlock()
	return n.start()
}

func (n *natsServer) Restarts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.restarts
}
