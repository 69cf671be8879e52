package agent

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/embeddednats"
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
		registers, err := readUsersFile(a.o.ReadFile, emb.Auth.UsersFile)
		if err != nil {
			return nil, err
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
		a.log.Warn("NATS not reachable yet; retrying in the background", "url", RedactURL(cfg.URL))
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
	return clientOptions(a.cfg, a.o.ReadFile)
}

// RegisterConnection is how a register-side tool (posagent sale, cancel,
// refund, fleet) reaches the agent's NATS: the configured servers with
// nats.auth and nats.tls, or the embedded server's listener with its user.
func RegisterConnection(cfg *config.Config, readFile func(string) ([]byte, error)) (string, []nats.Option, error) {
	if cfg.NATS.URL != "" {
		opts, err := clientOptions(cfg, readFile)
		return cfg.NATS.URL, opts, err
	}
	emb := cfg.NATS.Embedded
	host, port, err := net.SplitHostPort(emb.Listen)
	if err != nil {
		return "", nil, fmt.Errorf("nats.embedded.listen %q: %w", emb.Listen, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "nats"
	var opts []nats.Option
	if emb.TLS.CertFile != "" {
		scheme = "tls"
		// The embedded certificate is usually self-signed for the store:
		// trust it as its own CA.
		opts = append(opts, nats.RootCAs(emb.TLS.CertFile))
	}
	// The tools on the agent's machine are a register like any other: the
	// configured user, or else the first of auth.users_file.
	switch {
	case emb.Auth.User != "":
		pw, err := readSecretFile(readFile, "nats.embedded.auth.password_file", emb.Auth.PasswordFile)
		if err != nil {
			return "", nil, err
		}
		opts = append(opts, nats.UserInfo(emb.Auth.User, pw.Reveal()))
	case emb.Auth.UsersFile != "":
		users, err := readUsersFile(readFile, emb.Auth.UsersFile)
		if err != nil {
			return "", nil, err
		}
		opts = append(opts, nats.UserInfo(users[0].User, users[0].Password.Reveal()))
	}
	return scheme + "://" + net.JoinHostPort(host, port), opts, nil
}

func clientOptions(c *config.Config, readFile func(string) ([]byte, error)) ([]nats.Option, error) {
	cfg := c.NATS
	var opts []nats.Option
	switch {
	case cfg.Auth.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.Auth.CredsFile))
	case cfg.Auth.TokenFile != "":
		tok, err := readSecretFile(readFile, "nats.auth.token_file", cfg.Auth.TokenFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(tok.Reveal()))
	case cfg.Auth.User != "":
		var pw secret.String
		if cfg.Auth.PasswordFile != "" {
			p, err := readSecretFile(readFile, "nats.auth.password_file", cfg.Auth.PasswordFile)
			if err != nil {
				return nil, err
			}
			pw = p
		}
		opts = append(opts, nats.UserInfo(cfg.Auth.User, pw.Reveal()))
	}
	if cfg.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.TLS.CAFile))
	}
	if cfg.TLS.CertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.TLS.CertFile, cfg.TLS.KeyFile))
	}
	return opts, nil
}

// readSecret reads a secret file named by key; errors name the key and
// the file, never the content.
func (a *Agent) readSecret(key, path string) (secret.String, error) {
	return readSecretFile(a.o.ReadFile, key, path)
}

func readSecretFile(readFile func(string) ([]byte, error), key, path string) (secret.String, error) {
	if path == "" {
		return secret.String{}, fmt.Errorf("agent: %s is required", key)
	}
	b, err := readFile(path)
	if err != nil {
		return secret.String{}, fmt.Errorf("agent: %s: cannot read %s: %w", key, path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return secret.String{}, fmt.Errorf("agent: %s: %s is empty", key, path)
	}
	return secret.New(v), nil
}

// readUsersFile reads nats.embedded.auth.users_file: one "user password"
// per line, blank lines and lines starting with '#' skipped. Errors name
// the key, the file and the line, never a password. "" reads nothing.
func readUsersFile(readFile func(string) ([]byte, error), path string) ([]embeddednats.Credential, error) {
	const key = "nats.embedded.auth.users_file"
	if path == "" {
		return nil, nil
	}
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("agent: %s: cannot read %s: %w", key, path, err)
	}
	var out []embeddednats.Credential
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pw, _ := strings.Cut(strings.Replace(line, "\t", " ", 1), " ")
		pw = strings.TrimSpace(pw)
		switch {
		case pw == "":
			return nil, fmt.Errorf("agent: %s: %s line %d: want \"user password\"", key, path, i+1)
		case strings.HasPrefix(user, "posagent-") || seen[user]:
			return nil, fmt.Errorf("agent: %s: %s line %d: user %q used twice or reserved (posagent-)", key, path, i+1, user)
		}
		seen[user] = true
		out = append(out, embeddednats.Credential{User: user, Password: secret.New(pw)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("agent: %s: %s has no user", key, path)
	}
	return out, nil
}

// RedactURL drops user information from NATS URLs for logs and messages.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
				parts[i] = u[:scheme+3] + "[REDACTED]@" + u[at+1:]
			}
		}
	}
	return strings.Join(parts, ",")
}
