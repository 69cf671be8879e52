// Package embeddednats runs a NATS server with JetStream inside the posagent
// process, for a store that has no NATS of its own (config key
// nats.embedded). It turns the few settings an operator chooses into
// nats-server options with safe limits (JetStream memory and disk caps, fsync
// on every write by default), gives every client but the agent's own
// in-process connection the register role, in an account of their own
// that imports what the role may reach (roles.go, accounts.go), optionally links it
// to head office's NATS as a leaf node in its own JetStream domain with
// only what head office needs crossing the link (leaf.go), reports
// start-up failures as errors naming the config key at fault, routes the
// server's log lines into slog, and reports a stream that took a write
// error (a full disk) so its JetStream can be reloaded (logger.go).
package embeddednats

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/secret"
)

// readyTimeout bounds how long Start waits for the listener and JetStream.
const readyTimeout = 10 * time.Second

// SyncAlways is the Options.Sync value that fsyncs every JetStream write.
const SyncAlways = "always"

// Options configures the embedded server. Field comments name the config
// keys under nats.embedded that errors refer to.
type Options struct {
	// Listen is host:port for registers on the network (listen), e.g.
	// "127.0.0.1:4222". "" or port -1 (or 0) picks a random free port on
	// 127.0.0.1, for tests and the demo.
	Listen string
	// User and Password, when set, are a register's credentials
	// (auth.user, auth.password_file), and Registers more of them
	// (auth.users_file): with any of them, every client must present one.
	// Without, clients connect without credentials. Either way they get
	// the register role of Roles; only Connect's in-process connection is
	// the agent (roles.go).
	User      string
	Password  secret.String
	Registers []Credential
	// Roles names the store's subjects and events stream for the register
	// role.
	Roles Roles
	// CertFile and KeyFile, when set, make the listener require TLS
	// (tls.cert_file, tls.key_file). In-process connections skip TLS.
	CertFile, KeyFile string
	// StoreDir holds the JetStream data (store_dir); created 0750 if missing.
	StoreDir string
	// MaxMemory and MaxStore cap JetStream memory and disk use in bytes
	// (max_memory, max_store). Both must be > 0: unset, nats-server claims
	// 75% of RAM and most of the disk, which a Pi cannot spare.
	MaxMemory int64
	MaxStore  int64
	// Sync is "always" (fsync every write, so a power cut loses nothing
	// acknowledged) or a Go duration such as "1s" between syncs (sync).
	// "" means "always".
	Sync string
	// ServerName names the server in logs and monitoring, e.g.
	// "posagent-S001"; "" lets nats-server generate one.
	ServerName string
	// Domain is the JetStream domain (domain): with Leaf set, required and
	// different from the hub's, so the store's JetStream API stays local
	// ($JS.API) and the hub addresses it as $JS.<domain>.API.
	Domain string
	// Leaf, when set, links the server to a hub as a leaf node (leaf).
	Leaf *Leaf
	// Logger receives the server's own log lines: notices at Info, warnings
	// at Warn, errors at Error; debug and trace are dropped. nil discards.
	Logger *slog.Logger
	// WriteErrors, when set, hears of each stream of the agent's account
	// that took a write error (a full disk): nats-server refuses every
	// write to it from then on, until ReloadJetStream. Called on a server
	// goroutine; it must not block.
	WriteErrors func(WriteError)
}

// Server is a running embedded NATS server.
type Server struct {
	ns       *server.Server
	js       server.JetStreamConfig // as started, to turn JetStream back on
	reload   sync.Mutex             // one ReloadJetStream at a time
	host     string                 // as configured
	password secret.String          // the agent's, drawn at start
	tls      bool
	stopOnce sync.Once
}

// Start validates opts, starts the server and waits until it accepts
// connections with JetStream enabled. On failure nothing is left running.
func Start(opts Options) (*Server, error) {
	so, err := opts.serverOptions()
	if err != nil {
		return nil, err
	}
	agentPW, err := opts.users(so)
	if err != nil {
		return nil, err
	}
	if err := prepareStoreDir(opts.StoreDir); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fatal := make(chan error, 1)
	adapter := newLogAdapter(logger, []secret.String{opts.Password, agentPW}, func(err error) {
		select {
		case fatal <- err:
		default: // the first fatal error is the one that explains the failure
		}
	})
	adapter.onWriteError = opts.WriteErrors

	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	ns.SetLogger(adapter, false, false)
	// Start returns once the client listener is set up (or failed), having
	// enabled JetStream before it; failures arrive through Fatalf.
	ns.Start()
	if err := waitReady(ns, fatal, readyTimeout); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, describeStartError(opts.Listen, err)
	}
	if err := enableJetStream(ns); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("embedded NATS: JetStream is not enabled after start")
	}
	return &Server{ns: ns, js: *ns.JetStreamConfig(), host: so.Host, password: agentPW, tls: so.TLSConfig != nil}, nil
}

// serverOptions checks o and translates it into nats-server options.
func (o Options) serverOptions() (*server.Options, error) {
	host, port, err := parseListen(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: listen %q: %w", o.Listen, err)
	}
	if o.StoreDir == "" {
		return nil, errors.New("embedded NATS: store_dir: required")
	}
	if o.MaxMemory <= 0 {
		return nil, fmt.Errorf("embedded NATS: max_memory: must be > 0 bytes (got %d); unset, JetStream claims 75%% of RAM", o.MaxMemory)
	}
	if o.MaxStore <= 0 {
		return nil, fmt.Errorf("embedded NATS: max_store: must be > 0 bytes (got %d)", o.MaxStore)
	}
	always, interval, err := parseSync(o.Sync)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: sync %q: %w", o.Sync, err)
	}
	if o.User == "" && !o.Password.Empty() {
		return nil, errors.New("embedded NATS: auth.user: required when a password is set")
	}
	if o.User != "" && o.Password.Empty() {
		return nil, errors.New("embedded NATS: auth.password_file: required when auth.user is set")
	}

	if o.Domain != "" && !validDomain(o.Domain) {
		return nil, fmt.Errorf("embedded NATS: domain %q: want 1-64 of A-Za-z0-9, '-' and '_' (a subject token)", o.Domain)
	}

	so := &server.Options{
		ServerName:             o.ServerName,
		Host:                   host,
		Port:                   port,
		NoSigs:                 true, // signals belong to main, not to a library
		JetStream:              true,
		JetStreamMaxMemory:     o.MaxMemory,
		JetStreamMaxStore:      o.MaxStore,
		JetStreamDomain:        o.Domain,
		StoreDir:               o.StoreDir,
		SyncAlways:             always,
		SyncInterval:           interval,
		DisableJetStreamBanner: true,
	}
	switch {
	case o.CertFile == "" && o.KeyFile == "":
	case o.CertFile == "":
		return nil, errors.New("embedded NATS: tls.cert_file: required when tls.key_file is set")
	case o.KeyFile == "":
		return nil, errors.New("embedded NATS: tls.key_file: required when tls.cert_file is set")
	default:
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.CertFile, KeyFile: o.KeyFile})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: tls.cert_file %s, tls.key_file %s: %w", o.CertFile, o.KeyFile, err)
		}
		so.TLSConfig = tc
		so.TLS = true
	}
	if err := o.applyLeaf(so); err != nil {
		return nil, err
	}
	return so, nil
}

// parseListen splits host:port; "" and ports -1 and 0 mean a random port
// (nats-server's RANDOM_PORT is -1; its 0 would mean the default 4222).
func parseListen(listen string) (string, int, error) {
	if listen == "" {
		return "127.0.0.1", server.RANDOM_PORT, nil
	}
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, errors.New("want host:port")
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	switch {
	case port == -1 || port == 0:
		return host, server.RANDOM_PORT, nil
	case port < 0 || port > 65535:
		return "", 0, fmt.Errorf("port %d out of range 1-65535", port)
	}
	return host, port, nil
}

// parseSync reads "always" or a positive duration.
func parseSync(s string) (always bool, interval time.Duration, err error) {
	if s == "" || s == SyncAlways {
		return true, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return false, 0, errors.New(`want "always" or a duration such as "1s"`)
	}
	if d <= 0 {
		return false, 0, errors.New("interval must be > 0")
	}
	return false, d, nil
}

// prepareStoreDir creates dir and proves it writable now, because
// nats-server would otherwise fail later with a less direct message.
func prepareStoreDir(dir string) error {
	fail := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("embedded NATS: store_dir %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(err)
	}
	f, err := os.CreateTemp(dir, ".posagent-write-check-*")
	if err != nil {
		return fail(err)
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Remove(name); err != nil {
		return fail(err)
	}
	return nil
}

// waitReady waits for the listener, returning early on a fatal log line
// (ReadyForConnections alone would spin for the whole timeout on a port
// already in use).
func waitReady(ns *server.Server, fatal <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-fatal:
			return err
		default:
		}
		if ns.ReadyForConnections(100 * time.Millisecond) {
			select {
			case err := <-fatal:
				return err
			default:
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready for connections after %s", timeout)
		}
	}
}

// describeStartError turns a listen failure into
// "embedded NATS: listen ADDR: address already in use".
func describeStartError(listen string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "listen" {
		cause := oe.Err
		var se *os.SyscallError
		if errors.As(cause, &se) {
			cause = se.Err
		}
		addr := listen
		if addr == "" && oe.Addr != nil {
			addr = oe.Addr.String()
		}
		return fmt.Errorf("embedded NATS: listen %s: %w", addr, cause)
	}
	return fmt.Errorf("embedded NATS: %w", err)
}

// ClientURL is the URL registers use: nats://host:port, or tls://host:port
// when the listener requires TLS. An unspecified listen host (0.0.0.0, ::)
// is given as loopback, the address that certainly reaches it from this
// machine; a register elsewhere uses this machine's own address.
func (s *Server) ClientURL() string {
	scheme := "nats"
	if s.tls {
		scheme = "tls"
	}
	return scheme + "://" + s.hostPort()
}

func (s *Server) hostPort() string {
	port := 0
	if addr, ok := s.ns.Addr().(*net.TCPAddr); ok {
		port = addr.Port
	} else if u, err := url.Parse(s.ns.ClientURL()); err == nil {
		// Not listening any more (shut down): the server still knows the port.
		port, _ = strconv.Atoi(u.Port())
	}
	// The configured host, not the listener's address: Go reports a
	// 0.0.0.0 listener as [::].
	host := s.host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Connect opens the agent's in-process connection (no TCP, no TLS) as
// AgentUser, with its inbox prefix (AgentInboxPrefix): the one connection
// with every right. opts come after these, so a caller may override them.
// Overriding the credentials is not useful: with nats-server v2.15.2 and
// nats.go v1.55.0 such a connection failed only after about 10 s, as
// "read/write on closed pipe" rather than an authorization error.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := make([]nats.Option, 0, len(opts)+3)
	all = append(all, nats.InProcessServer(s.ns), nats.UserInfo(AgentUser, s.password.Reveal()),
		nats.CustomInboxPrefix(AgentInboxPrefix))
	all = append(all, opts...)
	// The URL only names the server in the client's state; the in-process
	// provider is what connects.
	nc, err := nats.Connect("nats://"+s.hostPort(), all...)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: in-process connect: %w", err)
	}
	return nc, nil
}

// NATS returns the underlying server, for tests and monitoring.
func (s *Server) NATS() *server.Server { return s.ns }

// Shutdown stops the server and waits until it has finished, flushing
// JetStream state to the store. Safe to call more than once.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
}

// ReloadJetStream reopens the agent's account's streams, consumers and
// buckets from the store directory, nothing deleted: the way out for a
// stream that took a write error (WriteError), which nats-server leaves
// refusing every write even after space returns. If the server switched
// JetStream off altogether (it does so on some out-of-space paths), it is
// switched back on. Clients keep their connections; requests in flight
// during the reload may go unanswered.
func (s *Server) ReloadJetStream() error {
	s.reload.Lock()
	defer s.reload.Unlock()
	if s.ns.JetStreamEnabled() {
		if acc := s.ns.GlobalAccount(); acc.JetStreamEnabled() {
			if err := acc.DisableJetStream(); err != nil {
				return fmt.Errorf("embedded NATS: reload JetStream: stop the agent's account: %w", err)
			}
		}
	} else {
		c := s.js
		if err := s.ns.EnableJetStream(&c); err != nil {
			return fmt.Errorf("embedded NATS: reload JetStream: %w", err)
		}
	}
	return enableJetStream(s.ns)
}
