//go:build soak

package soak

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// agentProc runs the posagent binary as a separate process, as systemd
// would: started, killed with SIGKILL at will, and restarted (also after
// an exit nobody asked for, which is recorded as a crash). Each run logs to
// its own file so the token check can read every line ever written.
type agentProc struct {
	bin     string
	cfgPath string
	logDir  string
	env     []string

	mu       sync.Mutex
	cur      *agentRun
	runs     int
	kills    int
	crashes  []string // unexpected exits, with the end of their log
	stopping bool
}

// agentRun is one process.
type agentRun struct {
	n       int
	cmd     *exec.Cmd
	log     *os.File
	ready   chan struct{}
	exited  chan struct{}
	exitErr error
	killed  bool // ended on purpose (SIGKILL or SIGTERM from the test)
	http    string
}

// buildAgent builds cmd/posagent from the module root into dir, with the
// race detector when race is set.
func buildAgent(ctx context.Context, dir string, race bool) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the posagent module")
	}
	bin := filepath.Join(dir, "posagent")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/posagent")...)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/posagent: %w\n%s", err, out)
	}
	return bin, nil
}

// start launches a new process. The previous one must have exited.
func (a *agentProc) start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.startLocked()
}

func (a *agentProc) startLocked() error {
	a.runs++
	r := &agentRun{n: a.runs, ready: make(chan struct{}), exited: make(chan struct{})}
	f, err := os.Create(filepath.Join(a.logDir, fmt.Sprintf("agent-%03d.log", r.n)))
	if err != nil {
		return err
	}
	r.log = f
	w := &lineWatcher{w: f, onLine: func(line string) {
		if strings.Contains(line, `msg="posagent ready"`) {
			if i := strings.Index(line, " http="); i >= 0 {
				r.http, _, _ = strings.Cut(line[i+len(" http="):], " ")
			}
			select {
			case <-r.ready:
			default:
				close(r.ready)
			}
		}
	}}
	cmd := exec.Command(a.bin, "run", "-config", a.cfgPath, "-debug")
	cmd.Env = a.env
	cmd.Stdout, cmd.Stderr = w, w
	// The agent must not outlive a test binary that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start posagent: %w", err)
	}
	r.cmd = cmd
	a.cur = r
	go a.supervise(r)
	return nil
}

// supervise waits for the process to end; an exit the test did not cause
// is a crash: recorded, and the agent is started again as systemd would.
func (a *agentProc) supervise(r *agentRun) {
	r.exitErr = r.cmd.Wait()
	r.log.Close()
	a.mu.Lock()
	defer a.mu.Unlock()
	close(r.exited)
	if r.killed || a.stopping {
		return
	}
	tail, _ := os.ReadFile(r.log.Name())
	if len(tail) > 4000 {
		tail = tail[len(tail)-4000:]
	}
	a.crashes = append(a.crashes, fmt.Sprintf("run %d exited by itself: %v\n%s", r.n, r.exitErr, tail))
	if err := a.startLocked(); err != nil {
		a.crashes = append(a.crashes, "restart after the crash failed: "+err.Error())
	}
}

func (a *agentProc) current() *agentRun {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

// waitReady waits until the current process logs that it serves every
// POS, or exits, or ctx ends.
func (a *agentProc) waitReady(ctx context.Context) error {
	r := a.current()
	select {
	case <-r.ready:
		return nil
	case <-r.exited:
		return fmt.Errorf("posagent run %d exited before ready: %v (log %s)", r.n, r.exitErr, r.log.Name())
	case <-ctx.Done():
		return fmt.Errorf("posagent run %d not ready: %w (log %s)", r.n, ctx.Err(), r.log.Name())
	}
}

// kill sends SIGKILL to the current process, waits for it to end and
// starts a new one.
func (a *agentProc) killAndRestart(ctx context.Context) error {
	a.mu.Lock()
	r := a.cur
	r.killed = true
	a.kills++
	a.mu.Unlock()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL posagent: %w", err)
	}
	select {
	case <-r.exited:
	case <-ctx.Done():
		return fmt.Errorf("posagent run %d did not die after SIGKILL: %w", r.n, ctx.Err())
	}
	return a.start()
}

// stop ends the current process with SIGTERM and reports how it exited;
// a graceful shutdown exits 0.
func (a *agentProc) stop(ctx context.Context) error {
	a.mu.Lock()
	a.stopping = true
	r := a.cur
	if r == nil {
		a.mu.Unlock()
		return nil
	}
	r.killed = true
	a.mu.Unlock()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return r.exitErr
	case <-ctx.Done():
		_ = r.cmd.Process.Kill()
		<-r.exited
		return fmt.Errorf("posagent did not stop on SIGTERM: %w", ctx.Err())
	}
}

func (a *agentProc) stats() (runs, kills int, crashes []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.runs, a.kills, append([]string(nil), a.crashes...)
}

// lineWatcher copies a process's output to w and hands each complete line
// to onLine.
type lineWatcher struct {
	w      *os.File
	onLine func(string)
	mu     sync.Mutex
	buf    []byte
}

func (l *lineWatcher) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.onLine(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	return n, err
}
