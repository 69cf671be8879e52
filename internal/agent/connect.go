package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/natsconn"
	"github.com/posagent/posagent/internal/secret"
)

// connect starts the embedded server when nats.url is empty and connects
// to it in-process, or connects to the configured servers. Either way the
// connection reconnects forever.
func (a *Agent) connect(ctx context.Context) (*nats.Conn, error) {
	cfg := a.cfg.NATS
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			a.health.natsDown(err)
			a.metrics.NATSConnected(false)
			if nc.IsClosed() || nc.IsDraining() {
				return // our own shutdown
			}
			a.log.Warn("NATS disconnected; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			a.health.natsUp()
			a.metrics.NATSConnected(true)
			a.metrics.NATSReconnected()
			a.log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ConnectHandler(func(*nats.Conn) { a.health.natsUp(); a.metrics.NATSConnected(true) }),
		nats.ClosedHandler(func(*nats.Conn) { a.health.natsDown(fmt.Errorf("connection closed")) }),
	}
	if cfg.URL == "" {
		emb := cfg.Embedded
		var pw secret.String
		if emb.Auth.PasswordFile != "" {
			p, err := a.readSecret("nats.embedded.auth.password_file", emb.Auth.PasswordFile)
			if err != nil {
				return nil, err
			}
			pw = p
		}
		registers, err := natsconn.ReadUsersFile(a.o.ReadFile, emb.Auth.UsersFile)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		srv, err := embeddednats.Start(embeddednats.Options{
			Listen: emb.Listen, User: emb.Auth.User, Password: pw, Registers: registers, CertFile: emb.TLS.CertFile, KeyFile: emb.TLS.KeyFile,
			StoreDir: emb.StoreDir, MaxMemory: emb.MaxMemory, MaxStore: emb.MaxStore, Sync: emb.Sync,
			ServerName: "posagent-" + a.cfg.StoreID, Logger: a.log.With("component", "nats-server"), WriteErrors: a.jetStreamWriteError,
			Domain: emb.Domain, Leaf: leafOptions(a.cfg),
			Roles: embeddednats.Roles{Prefix: cfg.SubjectPrefix, StoreID: a.cfg.StoreID, EventsStream: cfg.Streams.Events},
		})
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		a.embedded = srv
		a.mu.Unlock()
		nc, err := srv.Connect(opts...)
		if err != nil {
			srv.Shutdown()
			return nil, fmt.Errorf("agent: connect to embedded NATS: %w", err)
		}
		a.setConn(nc)
		return nc, nil
	}
	auth, err := a.clientAuth()
	if err != nil {
		return nil, err
	}
	// Registers may subscribe to _INBOX.>: the agent's replies (sale
	// records, commands fetched) arrive under its own prefix, which the
	// server configuration in deploy/nats/ keeps to the agent.
	opts = append(opts, nats.CustomInboxPrefix(embeddednats.AgentInboxPrefix))
	nc, err := nats.Connect(cfg.URL, append(opts, auth...)...)
	if err != nil {
		return nil, fmt.Errorf("agent: nats.url: %w", err)
	}
	if !nc.IsConnected() {
		a.log.Warn("NATS not reachable yet; retrying in the background", "url", natsconn.RedactURL(cfg.URL))
	}
	a.setConn(nc)
	return nc, nil
}

func (a *Agent) setConn(nc *nats.Conn) {
	a.mu.Lock()
	a.nc = nc
	a.mu.Unlock()
	if nc.IsConnected() {
		a.health.natsUp()
		a.metrics.NATSConnected(true)
	}
}

func (a *Agent) closeNATS() {
	a.mu.Lock()
	nc, srv := a.nc, a.embedded
	a.mu.Unlock()
	if nc != nil {
		_ = nc.Drain()
		nc.Close()
	}
	if srv != nil {
		srv.Shutdown()
	}
}

// clientAuth turns nats.auth and nats.tls into connection options.
func (a *Agent) clientAuth() ([]nats.Option, error) {
	opts, err := natsconn.ClientOptions(a.cfg, a.o.ReadFile)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	return opts, nil
}

// readSecret reads a secret file named by key; errors name the key and
// the file, never the content.
func (a *Agent) readSecret(key, path string) (secret.String, error) {
	v, err := secret.ReadFile(a.o.ReadFile, key, path)
	if err != nil {
		return secret.String{}, &ConfigError{fmt.Errorf("agent: %w", err)}
	}
	return v, nil
}

// ConfigError is a problem of the machine's setup that starting again
// cannot fix (a secret file the configuration names is missing or
// unreadable): `run` exits 78 for it, which systemd does not restart.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
