package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run the command line in-process: run(ctx, args, ...) with
// buffers for stdout and stderr, and the exit code exitCode() gives, so
// they see exactly what an operator sees.

// testWait bounds every wait of these tests; timing never decides a pass,
// only how long a broken build takes to fail.
const testWait = 60 * time.Second

// cliResult is one finished command.
type cliResult struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r cliResult) String() string {
	return fmt.Sprintf("posagent %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// runCLI runs one command to its end.
func runCLI(t *testing.T, ctx context.Context, args ...string) cliResult {
	t.Helper()
	var stdout, stderr lockedBuffer
	return finish(args, run(ctx, args, strings.NewReader(""), &stdout, &stderr), &stdout, &stderr)
}

func finish(args []string, err error, stdout, stderr *lockedBuffer) cliResult {
	code := exitCode(err, stderr) // prints the error as main does
	return cliResult{args: args, stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// background runs a command in a goroutine; wait returns its result.
type background struct {
	args           []string
	stdout, stderr *lockedBuffer
	done           chan cliResult
	result         *cliResult
}

func startCLI(ctx context.Context, args ...string) *background {
	b := &background{args: args, stdout: newLockedBuffer(), stderr: newLockedBuffer(), done: make(chan cliResult, 1)}
	go func() {
		err := run(ctx, args, strings.NewReader(""), b.stdout, b.stderr)
		b.done <- finish(args, err, b.stdout, b.stderr)
	}()
	return b
}

func (b *background) wait(t *testing.T) cliResult {
	t.Helper()
	if b.result != nil {
		return *b.result
	}
	select {
	case r := <-b.done:
		b.result = &r
		return r
	case <-time.After(testWait):
		t.Fatalf("posagent %s did not end within %s\nstdout:\n%s\nstderr:\n%s", strings.Join(b.args, " "), testWait, b.stdout, b.stderr)
		return cliResult{}
	}
}

// lockedBuffer is an output that several goroutines write and a test
// reads, and that tells waiters about every write.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLockedBuffer() *lockedBuffer { return &lockedBuffer{changed: make(chan struct{})} }

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor blocks until the output matches re (woken by each write) and
// returns the first match's submatches.
func (l *lockedBuffer) waitFor(t *testing.T, re *regexp.Regexp, also ...<-chan cliResult) []string {
	t.Helper()
	timeout := time.After(testWait)
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.b.String())
		ch := l.changed
		l.mu.Unlock()
		if m != nil {
			return m
		}
		var ended <-chan cliResult
		if len(also) > 0 {
			ended = also[0]
		}
		select {
		case <-ch:
		case r := <-ended:
			t.Fatalf("command ended before its output matched %q:\n%s", re, r)
		case <-timeout:
			t.Fatalf("output did not match %q within %s:\n%s", re, testWait, l.String())
		}
	}
}

// pinListenAddrs waits for the agent's ready line and writes the ports
// it took into its config file, where register commands (`posagent sale`
// finds NATS through the same file) and the test read them. The agent was
// configured with port 0 for both listeners: a port picked by the test
// beforehand could be taken by another process before the agent binds it.
func pinListenAddrs(t *testing.T, cfg string, agent *background) (natsAddr, httpAddr string) {
	t.Helper()
	m := agent.stderr.waitFor(t, regexp.MustCompile(`posagent ready.*nats"?[=:]"?nats://(127\.0\.0\.1:\d+).*http"?[=:]"?(127\.0\.0\.1:\d+)`), agent.done)
	natsAddr, httpAddr = m[1], m[2]
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `embedded: {listen: "127.0.0.1:0"`, `embedded: {listen: "`+natsAddr+`"`, 1)
	s = strings.Replace(s, `http: {listen: "127.0.0.1:0"}`, `http: {listen: "`+httpAddr+`"}`, 1)
	if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return natsAddr, httpAddr
}

// writeTestFile writes content to name in dir and returns its path.
func writeTestFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// noTokenEnv makes sure the token comes from the config file only.
func noTokenEnv(t *testing.T) {
	t.Setenv("POSAGENT_MP_ACCESS_TOKEN", "")
	t.Setenv("CREDENTIALS_DIRECTORY", "")
}

// assertNoSecret fails when secret appears in any output.
func assertNoSecret(t *testing.T, secret string, results ...cliResult) {
	t.Helper()
	for _, r := range results {
		if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
			t.Errorf("the access token appears in the output of posagent %s:\n%s", strings.Join(r.args, " "), r)
		}
	}
}

func TestVersion(t *testing.T) {
	want := regexp.MustCompile(`^posagent (0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)? \(\S+\) ` +
		regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	r := runCLI(t, context.Background(), "version")
	if r.code != exitOK || !want.MatchString(r.stdout) || r.stderr != "" {
		t.Fatalf("want exit 0 and one line matching %s\n%s", want, r)
	}
}

func TestUsageErrors(t *testing.T) {
	cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", "store_id: S1\npos: [{external_pos_id: P1}]\n", 0o600)
	tests := []struct {
		name string
		args []string
		// stderr must match every one of these
		want []string
	}{
		{"no arguments", nil, []string{`(?m)^usage: posagent <command>`}},
		{"unknown command", []string{"frobnicate"}, []string{`(?m)^usage: posagent <command>`, `unknown command "frobnicate"`}},
		{"version with arguments", []string{"version", "extra"}, []string{`(?m)^usage: posagent version`}},
		{"config without check", []string{"config"}, []string{`config check -config FILE`}},
		{"config with another verb", []string{"config", "show"}, []string{`config check -config FILE`}},
		{"bad flag of run", []string{"run", "-frobnicate"}, []string{`flag provided but not defined: -frobnicate`, `(?m)^Usage of posagent run`}},
		{"bad flag of sale", []string{"sale", "-frobnicate"}, []string{`flag provided but not defined: -frobnicate`, `-amount`}},
		{"bad flag of config check", []string{"config", "check", "-x"}, []string{`flag provided but not defined: -x`}},
		{"stray argument", []string{"run", "-config", cfg, "extra"}, []string{`want 0 argument`}},
		{"order without subcommand", []string{"order"}, []string{`create, get, cancel or refund`}},
		{"order unknown subcommand", []string{"order", "delete"}, []string{`unknown subcommand "delete"`}},
		{"order get without id", []string{"order", "get", "-config", cfg}, []string{`want 1 argument`}},
		{"bad duration", []string{"sale", "-wait", "soon"}, []string{`invalid value "soon" for flag -wait`}},
		{"run with a bad log format", []string{"run", "-log-format", "xml", "-config", cfg}, []string{`log format "xml"`}},
		{"simulate with a bad listen address", []string{"simulate", "-listen", "nowhere"}, []string{`-listen nowhere`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, context.Background(), tt.args...)
			if r.code != exitUsage {
				t.Fatalf("want exit 2\n%s", r)
			}
			if r.stdout != "" {
				t.Errorf("a usage error printed on stdout\n%s", r)
			}
			for _, w := range tt.want {
				if !regexp.MustCompile(w).MatchString(r.stderr) {
					t.Errorf("stderr does not match %q\n%s", w, r)
				}
			}
		})
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := runCLI(t, context.Background(), args...)
		if r.code != exitOK || !strings.HasPrefix(r.stdout, "usage: posagent <command>") {
			t.Errorf("want the usage on stdout, exit 0\n%s", r)
		}
	}
	// A subcommand's -h prints its flags and is not an error either.
	r := runCLI(t, context.Background(), "sale", "-h")
	if r.code != exitOK || !strings.Contains(r.stderr, "-amount") {
		t.Errorf("want the flags of sale, exit 0\n%s", r)
	}
}

func TestRunRefusesABadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeTestFile(t, dir, "posagent.yaml", "store_id: S1\nstate_dir: "+dir+"\npos:\n  - external_pos_id: P1\n    mode: static\n", 0o600)
	r := runCLI(t, context.Background(), "run", "-config", cfg)
	if r.code != 78 {
		t.Fatalf("want exit 78 (EX_CONFIG: systemd does not restart it)\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^pos\[0\]\.static_qr_data: required for mode static$`).MatchString(r.stderr) {
		t.Errorf("stderr does not list the problem\n%s", r)
	}

	r = runCLI(t, context.Background(), "run", "-config", filepath.Join(dir, "missing.yaml"))
	if r.code != 78 || !strings.Contains(r.stderr, filepath.Join(dir, "missing.yaml")) {
		t.Errorf("want exit 78 naming the missing file\n%s", r)
	}
}

func TestRunWithoutTokenIsAConfigurationError(t *testing.T) {
	noTokenEnv(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "mp-access-token")
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: S1
state_dir: %s
mercadopago: {access_token_file: %s}
nats: {embedded: {listen: "127.0.0.1:0"}}
http: {listen: "127.0.0.1:0"}
pos: [{external_pos_id: P1}]
`, dir, tokenFile), 0o600)
	r := runCLI(t, context.Background(), "run", "-config", cfg)
	if r.code != 78 || !strings.Contains(r.stderr, tokenFile) || !strings.Contains(r.stderr, "POSAGENT_MP_ACCESS_TOKEN") {
		t.Errorf("want exit 78 (EX_CONFIG) naming the token sources\n%s", r)
	}

	// An unreadable token (here a directory where the file should be: root
	// reads any file) is a configuration error too.
	if err := os.Mkdir(tokenFile, 0o700); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, context.Background(), "run", "-config", cfg)
	if r.code != 78 || !strings.Contains(r.stderr, tokenFile) {
		t.Errorf("want exit 78 (EX_CONFIG) naming the unreadable token file\n%s", r)
	}
	// Other commands keep exit 2 for the same problem.
	r = runCLI(t, context.Background(), "order", "get", "-config", cfg, "ORD1")
	if r.code != exitUsage {
		t.Errorf("order get without a usable token: want exit 2\n%s", r)
	}
}

// TestRunMissingSecretFileIsAConfigurationError: a secret file the config
// names but the machine lacks (the webhook secret, the embedded server's
// password) stops run with 78 like a missing token: restarting cannot
// help until someone puts it in place.
func TestRunMissingSecretFileIsAConfigurationError(t *testing.T) {
	t.Setenv("POSAGENT_MP_ACCESS_TOKEN", "APP_USR-1234567890123456-010203-abcdef0123456789abcdef0123456789-123456789")
	dir := t.TempDir()
	for key, extra := range map[string]string{
		"mercadopago.webhook_secret_file":  "mercadopago: {webhook_secret_file: %s}\nnats: {embedded: {listen: \"127.0.0.1:0\"}}\n",
		"nats.embedded.auth.password_file": "nats: {embedded: {listen: \"127.0.0.1:0\", auth: {user: reg, password_file: %s}}}\n",
	} {
		missing := filepath.Join(dir, "missing-"+strings.ReplaceAll(key, ".", "-"))
		cfg := writeTestFile(t, dir, key+".yaml", fmt.Sprintf("store_id: S1\nstate_dir: %s\nhttp: {listen: \"127.0.0.1:0\"}\npos: [{external_pos_id: P1}]\n", dir)+
			fmt.Sprintf(extra, missing), 0o600)
		r := runCLI(t, context.Background(), "run", "-config", cfg)
		if r.code != 78 || !strings.Contains(r.stderr, key) || !strings.Contains(r.stderr, missing) {
			t.Errorf("%s missing: want exit 78 (EX_CONFIG) naming the key and the file\n%s", key, r)
		}
	}
}

func TestRunLogsJSON(t *testing.T) {
	e := startAgent(t, "-log-format", "json")
	e.agent.stderr.waitFor(t, regexp.MustCompile(`"msg":"posagent ready"`), e.agent.done)
	for _, l := range outputLines(e.agent.stderr.String()) {
		var rec struct{ Time, Level, Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Level == "" || rec.Msg == "" {
			t.Errorf("stderr line %q is not a slog JSON record (%v)", l, err)
		}
	}
}
