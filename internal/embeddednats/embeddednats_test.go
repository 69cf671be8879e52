package embeddednats

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/secret"
)

// recorder is a slog.Handler keeping every record, to assert levels and
// that no secret reaches the log.
type recorder struct {
	mu   sync.Mutex
	recs []logged
}

type logged struct {
	level slog.Level
	msg   string
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, logged{rec.Level, rec.Message})
	return nil
}

func (r *recorder) all() []logged {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]logged(nil), r.recs...)
}

func testOptions(t testing.TB) Options {
	t.Helper()
	return Options{
		Listen:     "127.0.0.1:-1",
		StoreDir:   filepath.Join(t.TempDir(), "nats"),
		MaxMemory:  8 << 20,
		MaxStore:   64 << 20,
		Sync:       SyncAlways,
		ServerName: "posagent-test",
	}
}

func start(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connectTCP(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func ctxTimeout(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// storeAndRead creates a file stream through pub, publishes one message
// with PubAck and reads it back through sub.
func storeAndRead(t *testing.T, pub, sub *nats.Conn, payload string) {
	t.Helper()
	ctx := ctxTimeout(t)
	js, err := jetstream.New(pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "t.a", []byte(payload))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != "T" || ack.Sequence == 0 {
		t.Fatalf("PubAck = %+v", ack)
	}
	js2, err := jetstream.New(sub)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js2.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatalf("get msg %d: %v", ack.Sequence, err)
	}
	if string(m.Data) != payload {
		t.Fatalf("stored %q, want %q", m.Data, payload)
	}
}

func TestStartInProcessAndTCP(t *testing.T) {
	tests := []struct {
		name     string
		user     string
		password string
	}{
		{"no auth", "", ""},
		{"user and password", "register", "s3cr3t-pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			o := testOptions(t)
			o.User, o.Password = tt.user, secret.New(tt.password)
			o.Logger = slog.New(rec)
			s := start(t, o)

			if !strings.HasPrefix(s.ClientURL(), "nats://127.0.0.1:") {
				t.Fatalf("ClientURL = %q", s.ClientURL())
			}
			inproc, err := s.Connect()
			if err != nil {
				t.Fatalf("in-process Connect: %v", err)
			}
			defer inproc.Close()
			var auth []nats.Option
			if tt.user != "" {
				auth = append(auth, nats.UserInfo(tt.user, tt.password))
			}
			tcp := connectTCP(t, s.ClientURL(), auth...)
			storeAndRead(t, tcp, inproc, "sale-1")

			if tt.user != "" {
				for _, bad := range []nats.Option{nats.UserInfo(tt.user, "wrong"), nil} {
					nc, err := nats.Connect(s.ClientURL(), bad)
					if err == nil {
						nc.Close()
						t.Fatal("connected with a wrong or missing password")
					}
					if !errors.Is(err, nats.ErrAuthorization) {
						t.Errorf("bad password error = %v, want authorization violation", err)
					}
				}
			}
			recs := rec.all()
			var ready bool
			for _, r := range recs {
				if tt.password != "" && strings.Contains(r.msg, tt.password) {
					t.Errorf("password logged: %q", r.msg)
				}
				if r.level < slog.LevelInfo {
					t.Errorf("debug line passed through: %q", r.msg)
				}
				if strings.HasPrefix(r.msg, plaintextPasswordWarning) && r.level != slog.LevelInfo {
					t.Errorf("plaintext password advice at %v, want Info", r.level)
				}
				if r.msg == "Server is ready" && r.level == slog.LevelInfo {
					ready = true
				}
			}
			if !ready {
				t.Errorf("no Info %q among %d log lines", "Server is ready", len(recs))
			}
		})
	}
}

func TestRestartKeepsStoredMessage(t *testing.T) {
	o := testOptions(t)
	s := start(t, o)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	storeAndRead(t, nc, nc, "survives")
	nc.Close()
	s.Shutdown()
	s.Shutdown() // twice is fine

	s2 := start(t, o)
	nc2, err := s2.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	ctx := ctxTimeout(t)
	js, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	m, err := st.GetLastMsgForSubject(ctx, "t.a")
	if err != nil {
		t.Fatalf("message after restart: %v", err)
	}
	if string(m.Data) != "survives" {
		t.Fatalf("after restart %q", m.Data)
	}
}

func TestServerOptionsApplied(t *testing.T) {
	tests := []struct {
		sync         string
		wantAlways   bool
		wantInterval time.Duration
	}{
		{"always", true, 0},
		{"", true, 0},
		{"1s", false, time.Second},
		{"250ms", false, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run("sync="+tt.sync, func(t *testing.T) {
			o := testOptions(t)
			o.Sync = tt.sync
			o.Domain = "S001"
			s := start(t, o)
			cfg := s.NATS().JetStreamConfig()
			if cfg == nil {
				t.Fatal("no JetStream config")
			}
			if cfg.SyncAlways != tt.wantAlways {
				t.Errorf("SyncAlways = %v, want %v", cfg.SyncAlways, tt.wantAlways)
			}
			if !tt.wantAlways && cfg.SyncInterval != tt.wantInterval {
				t.Errorf("SyncInterval = %v, want %v", cfg.SyncInterval, tt.wantInterval)
			}
			if cfg.MaxMemory != o.MaxMemory || cfg.MaxStore != o.MaxStore {
				t.Errorf("limits = %d/%d, want %d/%d", cfg.MaxMemory, cfg.MaxStore, o.MaxMemory, o.MaxStore)
			}
			if cfg.Domain != "S001" {
				t.Errorf("Domain = %q", cfg.Domain)
			}
			if !strings.HasPrefix(cfg.StoreDir, o.StoreDir) {
				t.Errorf("StoreDir = %q, want under %q", cfg.StoreDir, o.StoreDir)
			}
			if s.NATS().Name() != "posagent-test" {
				t.Errorf("server name = %q", s.NATS().Name())
			}
			fi, err := os.Stat(o.StoreDir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o750 {
				t.Errorf("store_dir mode = %v, want 0750", fi.Mode().Perm())
			}
		})
	}
}

func TestListenAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o := testOptions(t)
	o.Listen = l.Addr().String()
	s, err := Start(o)
	if err == nil {
		s.Shutdown()
		t.Fatal("started on a port in use")
	}
	want := "embedded NATS: listen " + o.Listen + ": address already in use"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %v does not wrap EADDRINUSE", err)
	}
}

func TestInvalidOptions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"max_memory zero", func(o *Options) { o.MaxMemory = 0 }, "embedded NATS: max_memory: must be > 0"},
		{"max_memory negative", func(o *Options) { o.MaxMemory = -1 }, "max_memory: must be > 0"},
		{"max_store zero", func(o *Options) { o.MaxStore = 0 }, "embedded NATS: max_store: must be > 0"},
		{"max_store negative", func(o *Options) { o.MaxStore = -5 }, "max_store: must be > 0"},
		{"sync word", func(o *Options) { o.Sync = "sometimes" }, `sync "sometimes": want "always" or a duration`},
		{"sync zero", func(o *Options) { o.Sync = "0s" }, `sync "0s": interval must be > 0`},
		{"sync negative", func(o *Options) { o.Sync = "-1s" }, `sync "-1s": interval must be > 0`},
		{"listen no port", func(o *Options) { o.Listen = "localhost" }, `listen "localhost": want host:port`},
		{"listen bad port", func(o *Options) { o.Listen = "127.0.0.1:http" }, `listen "127.0.0.1:http": port "http" is not a number`},
		{"listen port range", func(o *Options) { o.Listen = "127.0.0.1:70000" }, "port 70000 out of range"},
		{"user without password", func(o *Options) { o.User = "u" }, "auth.password_file: required when auth.user is set"},
		{"password without user", func(o *Options) { o.Password = secret.New("p") }, "auth.user: required when a password is set"},
		{"cert without key", func(o *Options) { o.CertFile = "c.pem" }, "tls.key_file: required"},
		{"key without cert", func(o *Options) { o.KeyFile = "k.pem" }, "tls.cert_file: required"},
		{"tls files missing", func(o *Options) { o.CertFile, o.KeyFile = filepath.Join(dir, "no.pem"), filepath.Join(dir, "no.key") }, "tls.cert_file " + filepath.Join(dir, "no.pem")},
		{"store_dir empty", func(o *Options) { o.StoreDir = "" }, "store_dir: required"},
		{"store_dir under a file", func(o *Options) { o.StoreDir = filepath.Join(file, "nats") }, "embedded NATS: store_dir " + filepath.Join(file, "nats") + ": not a directory"},
		{"bad server name", func(o *Options) { o.ServerName = "has space" }, "embedded NATS: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.Password = secret.New("") // each case sets its own auth
			tt.change(&o)
			s, err := Start(o)
			if err == nil {
				s.Shutdown()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\"p\"") {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

func TestStoreDirNotWritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	o := testOptions(t)
	o.StoreDir = dir
	_, err := Start(o)
	want := "embedded NATS: store_dir " + dir + ": permission denied"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestParseListen(t *testing.T) {
	tests := []struct {
		in       string
		wantHost string
		wantPort int
	}{
		{"", "127.0.0.1", -1},
		{"127.0.0.1:-1", "127.0.0.1", -1},
		{"127.0.0.1:0", "127.0.0.1", -1},
		{"0.0.0.0:4222", "0.0.0.0", 4222},
		{"[::1]:4222", "::1", 4222},
		{":4222", "", 4222},
	}
	for _, tt := range tests {
		host, port, err := parseListen(tt.in)
		if err != nil || host != tt.wantHost || port != tt.wantPort {
			t.Errorf("parseListen(%q) = %q, %d, %v; want %q, %d", tt.in, host, port, err, tt.wantHost, tt.wantPort)
		}
	}
}

func FuzzParseListen(f *testing.F) {
	for _, s := range []string{"", "127.0.0.1:4222", "[::]:-1", ":0", "a:b:c", "host:65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, port, err := parseListen(s)
		if err == nil && port != -1 && (port < 1 || port > 65535) {
			t.Fatalf("parseListen(%q) accepted port %d", s, port)
		}
	})
}

func FuzzParseSync(f *testing.F) {
	for _, s := range []string{"", "always", "1s", "0", "-1ms", "1h2m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		always, d, err := parseSync(s)
		if err == nil && always == (d > 0) {
			t.Fatalf("parseSync(%q) = %v, %v: want exactly one of always or a positive interval", s, always, d)
		}
	})
}

func TestClientURLUnspecifiedHost(t *testing.T) {
	o := testOptions(t)
	o.Listen = "0.0.0.0:-1"
	o.User, o.Password = "u", secret.New("p") // non-loopback listener: auth as an operator would
	s := start(t, o)
	port := s.NATS().Addr().(*net.TCPAddr).Port
	if got, want := s.ClientURL(), "nats://127.0.0.1:"+strconv.Itoa(port); got != want {
		t.Fatalf("ClientURL = %q, want %q", got, want)
	}
	connectTCP(t, s.ClientURL(), nats.UserInfo("u", "p"))
}

func TestLogAdapter(t *testing.T) {
	rec := &recorder{}
	var fatal error
	a := newLogAdapter(slog.New(rec), []secret.String{secret.New("hunter2")}, func(err error) { fatal = err })
	cause := errors.New("disk on fire")
	a.Noticef("listening on %s", "127.0.0.1:4222")
	a.Warnf("client %s sent password %s", "c1", "hunter2")
	a.Warnf("Plaintext passwords detected, use nkeys or bcrypt")
	a.Errorf("error: %v", cause)
	a.Debugf("debug %d", 1)
	a.Tracef("trace %d", 2)
	a.Fatalf("Can't start JetStream: %v", cause)
	want := []logged{
		{slog.LevelInfo, "listening on 127.0.0.1:4222"},
		{slog.LevelWarn, "client c1 sent password [REDACTED]"},
		{slog.LevelInfo, "Plaintext passwords detected, use nkeys or bcrypt"},
		{slog.LevelError, "error: disk on fire"},
		{slog.LevelError, "Can't start JetStream: disk on fire"},
	}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("got %d records %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if fatal == nil || !errors.Is(fatal, cause) || fatal.Error() != "Can't start JetStream: disk on fire" {
		t.Errorf("fatal = %v", fatal)
	}
}
