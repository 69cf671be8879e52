package main

// Tests of posagent as a systemd service: the unit file as systemd-analyze
// reads it (verify, and the sandbox's exposure score), and the real daemon
// speaking the sd_notify protocol (READY=1, WATCHDOG=1, STOPPING=1) to a
// socket the test listens on.

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// sdUnitPath is the unit file the package installs.
const sdUnitPath = "../../deploy/systemd/posagent.service"

// sdMaxExposure is the highest `systemd-analyze security` score accepted
// (0 = fully sandboxed, 10 = not at all), in tenths.
const sdMaxExposure = 20

// sdUnit parses a unit file into "Section.Key" -> values, in file order.
func sdUnit(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: %q is not a plain Key=value line in a section", path, n, line)
			}
			unit[section+"."+k] = append(unit[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

// TestSystemdUnitSettings pins what the issue and README promise about the
// unit, without systemd.
func TestSystemdUnitSettings(t *testing.T) {
	unit := sdUnit(t, sdUnitPath)
	tests := []struct {
		key  string
		want []string // all values of the key, in order
	}{
		{"Service.Type", []string{"notify"}},
		{"Service.NotifyAccess", []string{"main"}},
		{"Service.WatchdogSec", []string{"30s"}},
		{"Service.Restart", []string{"on-failure"}},
		// Only a configuration or token error (78, EX_CONFIG) stays down:
		// the Go runtime exits 2 on a panic and on the watchdog's SIGABRT,
		// and those must be restarted.
		{"Service.RestartPreventExitStatus", []string{"78"}},
		{"Service.User", []string{"posagent"}},
		{"Service.Group", []string{"posagent"}},
		{"Service.SupplementaryGroups", []string{"dialout lp video"}},
		{"Service.StateDirectory", []string{"posagent"}},
		{"Service.StateDirectoryMode", []string{"0750"}},
		{"Service.LoadCredential", []string{"mp-access-token:/etc/posagent/mp-access-token"}},
		// The fallback when the file is missing (else systemd fails the
		// start itself with 243, CREDENTIALS, which it restarts): not a
		// token, so the agent exits 78.
		{"Service.SetCredential", []string{"mp-access-token:no token file"}},
		// No ExecStartPre= check: RestartPreventExitStatus= applies to the
		// main process only, so a failing check would restart every 5 s;
		// `run` checks the same and exits 78.
		{"Service.ExecStartPre", nil},
		{"Service.ExecStart", []string{"/usr/bin/posagent run -config /etc/posagent/posagent.yaml -log-format journal"}},
		{"Service.DevicePolicy", []string{"closed"}},
		{"Service.DeviceAllow", []string{"char-ttyUSB rw", "char-ttyACM rw", "char-ttyAMA rw", "char-ttyS rw", "char-usb rw", "char-fb rw"}},
		{"Service.ProtectSystem", []string{"strict"}},
		{"Service.NoNewPrivileges", []string{"yes"}},
		{"Service.CapabilityBoundingSet", []string{""}},
		{"Unit.Wants", []string{"network-online.target time-sync.target"}},
		{"Unit.After", []string{"network-online.target time-sync.target"}},
		{"Install.WantedBy", []string{"multi-user.target"}},
		// These break device access: PrivateDevices= hides /dev/ttyUSB*
		// and /dev/fb*, PrivateUsers= the dialout/lp/video groups, and
		// DynamicUser= the fixed posagent user the package creates.
		{"Service.PrivateDevices", nil},
		{"Service.PrivateUsers", nil},
		{"Service.DynamicUser", nil},
	}
	for _, tt := range tests {
		if got := unit[tt.key]; !slices.Equal(got, tt.want) {
			t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
		}
	}
	// The RestrictAddressFamilies list must keep what the agent needs.
	fams := strings.Fields(strings.Join(unit["Service.RestrictAddressFamilies"], " "))
	for _, f := range []string{"AF_UNIX", "AF_INET", "AF_INET6"} {
		if !slices.Contains(fams, f) {
			t.Errorf("RestrictAddressFamilies %q lacks %s", fams, f)
		}
	}
}

// sdAnalyze finds systemd-analyze: tests skip without it, except in CI.
func sdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("systemd-analyze not found and CI=true: CI must install systemd (%v)", err)
		}
		t.Skipf("systemd-analyze not found (%v): the unit is not verified here; CI installs systemd", err)
	}
	return p
}

// sdBuild builds the posagent binary, as the package ships it, into a
// temporary directory.
func sdBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "posagent")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSystemdAnalyze checks the unit the way systemd reads it: verify (with
// the program paths pointed at a built binary, because verify fails when
// ExecStart's binary is missing) and the sandbox's exposure score.
func TestSystemdAnalyze(t *testing.T) {
	sa := sdAnalyze(t)
	t.Run("verify", func(t *testing.T) {
		bin := sdBuild(t)
		src, err := os.ReadFile(sdUnitPath)
		if err != nil {
			t.Fatal(err)
		}
		unitText := strings.ReplaceAll(string(src), "/usr/bin/posagent ", bin+" ")
		if strings.Count(unitText, bin+" ") != 1 {
			t.Fatalf("expected ExecStart to name /usr/bin/posagent:\n%s", unitText)
		}
		dir := t.TempDir()
		unit := filepath.Join(dir, "posagent.service")
		if err := os.WriteFile(unit, []byte(unitText), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sa, "verify", unit)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
		// verify exits 0 on warnings (unknown keys, bad values): any line
		// about this unit is a mistake in it.
		for l := range strings.SplitSeq(string(out), "\n") {
			if strings.Contains(l, "posagent") {
				t.Errorf("systemd-analyze verify: %s", l)
			}
		}
	})
	t.Run("security", func(t *testing.T) {
		out, err := exec.Command(sa, "security", "--offline=true", sdUnitPath).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "offline") && os.Getenv("CI") != "true" {
				t.Skipf("this systemd-analyze has no --offline (systemd < 252): %s", out)
			}
			t.Fatalf("systemd-analyze security --offline=true: %v\n%s", err, out)
		}
		tenths, err := sdExposure(string(out))
		if err != nil {
			t.Fatalf("%v in:\n%s", err, out)
		}
		if tenths > sdMaxExposure {
			t.Errorf("exposure %d.%d, want at most %d.%d; what counts:\n%s", tenths/10, tenths%10,
				sdMaxExposure/10, sdMaxExposure%10, sdExposureLines(string(out)))
		}
		t.Logf("exposure %d.%d", tenths/10, tenths%10)
	})
}

// sdExposure reads the overall exposure, in tenths, from systemd-analyze
// security output ("→ Overall exposure level for posagent.service: 1.5 OK").
func sdExposure(out string) (int, error) {
	m := regexp.MustCompile(`Overall exposure level for \S+: (\d+)\.(\d)\b`).FindStringSubmatch(out)
	if m == nil {
		return 0, errors.New("no overall exposure level")
	}
	whole, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, err
	}
	return whole*10 + int(m[2][0]-'0'), nil
}

// sdExposureLines keeps the settings that add to the score (✗ lines).
func sdExposureLines(out string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "✗") {
			b.WriteString(strings.TrimSpace(l) + "\n")
		}
	}
	return b.String()
}

func TestSdExposure(t *testing.T) {
	tests := []struct {
		out  string
		want int
		ok   bool
	}{
		{"→ Overall exposure level for posagent.service: 1.5 OK 🙂\n", 15, true},
		{"→ Overall exposure level for posagent.service: 9.6 UNSAFE 😨\n", 96, true},
		{"→ Overall exposure level for x.service: 10.0 UNSAFE\n", 100, true},
		{"Overall exposure level for posagent.service: 2.0 OK", 20, true},
		{"no score here", 0, false},
		{"Overall exposure level for posagent.service: high", 0, false},
	}
	for _, tt := range tests {
		got, err := sdExposure(tt.out)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("sdExposure(%q) = %d, %v; want %d, ok %v", tt.out, got, err, tt.want, tt.ok)
		}
	}
}

// sdOutput collects a child's output for failure messages.
type sdOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *sdOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *sdOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// sdEnv is the environment minus anything systemd or a developer set that
// would change where the agent reports or finds its token.
func sdEnv(extra ...string) []string {
	drop := []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
		"CREDENTIALS_DIRECTORY", "JOURNAL_STREAM", "POSAGENT_MP_ACCESS_TOKEN"}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// TestSdNotify runs the real daemon under a fake systemd: NOTIFY_SOCKET is
// a datagram socket this test reads. It must say READY=1 once serving,
// then WATCHDOG=1 at WATCHDOG_USEC/3 (200 ms here), and on SIGTERM
// STOPPING=1 and exit 0. WATCHDOG_PID stays unset because the child's pid
// is known only after it starts; go-systemd then accepts the watchdog for
// any pid.
func TestSdNotify(t *testing.T) {
	bin := sdBuild(t)
	sim := qrordertest.NewServer(t, qrordertest.Options{POS: []string{"POS1"}})

	// A short directory: a unix socket path is limited to 108 bytes.
	sockDir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	sockPath := filepath.Join(sockDir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	msgs := make(chan string, 256)
	go func() {
		defer close(msgs)
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return // closed by the cleanup
			}
			for l := range strings.SplitSeq(string(buf[:n]), "\n") {
				if l != "" {
					select {
					case msgs <- l:
					default: // the test stopped reading; drop watchdog pings
					}
				}
			}
		}
	}()

	dir := t.TempDir()
	cfg := fmt.Sprintf(`store_id: SDN1
mercadopago:
  base_url: %s
  access_token_file: ""
nats:
  embedded:
    listen: 127.0.0.1:0
    store_dir: %s
    sync: 1s
http:
  listen: 127.0.0.1:0
state_dir: %s
pos:
  - external_pos_id: POS1
    mode: dynamic
`, sim.URL(), filepath.Join(dir, "nats"), filepath.Join(dir, "state"))
	cfgPath := filepath.Join(dir, "posagent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}

	out := &sdOutput{}
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Env = sdEnv("NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=600000", "POSAGENT_MP_ACCESS_TOKEN="+qrordertest.DefaultToken)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// A guard against a hang, not a timing assertion: every step below
	// normally takes well under a second.
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	next := func(what string) string {
		t.Helper()
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %s", what)
			}
			return m
		case err := <-exited:
			waited = true
			t.Fatalf("posagent exited (%v) while waiting for %s; output:\n%s", err, what, out)
		case <-deadline.C:
			t.Fatalf("no %s on NOTIFY_SOCKET within 60s; output:\n%s", what, out)
		}
		return ""
	}

	// READY=1 first: the watchdog is fed only once the agent serves.
	if m := next("READY=1"); m != "READY=1" {
		t.Fatalf("first notification %q, want READY=1; output:\n%s", m, out)
	}
	for i := 0; i < 2; i++ {
		if m := next("WATCHDOG=1"); m != "WATCHDOG=1" {
			t.Fatalf("notification %q after READY=1, want WATCHDOG=1; output:\n%s", m, out)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for stopping := false; !stopping; {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatal("notify socket closed before STOPPING=1")
			}
			stopping = m == "STOPPING=1"
			if !stopping && m != "WATCHDOG=1" {
				t.Errorf("unexpected notification %q while stopping", m)
			}
		case <-deadline.C:
			t.Fatalf("no STOPPING=1 within 60s of SIGTERM; output:\n%s", out)
		}
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Fatalf("posagent exit after SIGTERM: %v, want 0; output:\n%s", err, out)
		}
	case <-deadline.C:
		t.Fatalf("posagent still running 60s after SIGTERM; output:\n%s", out)
	}
}
