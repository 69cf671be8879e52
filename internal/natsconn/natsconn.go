// Package natsconn provides the client side of the store's NATS as the
// configuration describes it: where a register-side tool (posagent sale,
// cancel, refund, status, fleet) connects and with which credentials, the
// users file of the embedded server, and URLs fit for logs. The agent's own
// connection (the embedded server, reconnect handling) stays in the agent.
package natsconn

import (
	"fmt"
	"net"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/secret"
)

// ReadFile reads a file; os.ReadFile, or a fake in tests.
type ReadFile func(path string) ([]byte, error)

// Register is how a register-side tool reaches the agent's NATS: the
// configured servers with nats.auth and nats.tls, or the embedded
// server's listener with its user.
func Register(cfg *config.Config, readFile ReadFile) (string, []nats.Option, error) {
	if cfg.NATS.URL != "" {
		opts, err := ClientOptions(cfg, readFile)
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
		pw, err := secret.ReadFile(readFile, "nats.embedded.auth.password_file", emb.Auth.PasswordFile)
		if err != nil {
			return "", nil, err
		}
		opts = append(opts, nats.UserInfo(emb.Auth.User, pw.Reveal()))
	case emb.Auth.UsersFile != "":
		users, err := ReadUsersFile(readFile, emb.Auth.UsersFile)
		if err != nil {
			return "", nil, err
		}
		opts = append(opts, nats.UserInfo(users[0].User, users[0].Password.Reveal()))
	}
	return scheme + "://" + net.JoinHostPort(host, port), opts, nil
}

// ClientOptions turns nats.auth and nats.tls into connection options for
// the configured servers (nats.url).
func ClientOptions(c *config.Config, readFile ReadFile) ([]nats.Option, error) {
	cfg := c.NATS
	var opts []nats.Option
	switch {
	case cfg.Auth.CredsFile != "":
		opts = append(opts, nats.UserCredentials(cfg.Auth.CredsFile))
	case cfg.Auth.TokenFile != "":
		tok, err := secret.ReadFile(readFile, "nats.auth.token_file", cfg.Auth.TokenFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(tok.Reveal()))
	case cfg.Auth.User != "":
		var pw secret.String
		if cfg.Auth.PasswordFile != "" {
			p, err := secret.ReadFile(readFile, "nats.auth.password_file", cfg.Auth.PasswordFile)
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

// ReadUsersFile reads nats.embedded.auth.users_file: one "user password"
// per line, blank lines and lines starting with '#' skipped. Errors name
// the key, the file and the line, never a password. "" reads nothing.
func ReadUsersFile(readFile ReadFile, path string) ([]embeddednats.Credential, error) {
	const key = "nats.embedded.auth.users_file"
	if path == "" {
		return nil, nil
	}
	b, err := readFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %s: %w", key, path, err)
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
			return nil, fmt.Errorf("%s: %s line %d: want \"user password\"", key, path, i+1)
		case strings.HasPrefix(user, "posagent-") || seen[user]:
			return nil, fmt.Errorf("%s: %s line %d: user %q used twice or reserved (posagent-)", key, path, i+1, user)
		}
		seen[user] = true
		out = append(out, embeddednats.Credential{User: user, Password: secret.New(pw)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %s has no user", key, path)
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
