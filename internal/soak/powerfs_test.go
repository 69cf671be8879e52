//go:build soak

package soak

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// powerFS is a running tools/powercutfs process: the state directory's
// disk, whose power the test cuts over a control socket.
type powerFS struct {
	cmd    *exec.Cmd
	sock   string
	exited chan struct{}
}

// buildPowerCutFS builds tools/powercutfs (its own module) into dir.
func buildPowerCutFS(ctx context.Context, dir string) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	tools := filepath.Join(filepath.Dir(strings.TrimSpace(string(out))), "tools")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, "powercutfs"), "./powercutfs")
	cmd.Dir = tools
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./powercutfs in %s: %w\n%s", tools, err, out)
	}
	return nil
}

// startPowerFS mounts backing at mnt and waits until the control socket
// answers.
func startPowerFS(ctx context.Context, bin, mode, backing, mnt, sock, logPath string) (*powerFS, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-mode", mode, "-backing", backing, "-mount", mnt, "-control", sock)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start powercutfs: %w", err)
	}
	p := &powerFS{cmd: cmd, sock: sock, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.exited) }()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		if _, err := p.stats(); err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("powercutfs exited before it served: %s", b)
		case <-ctx.Done():
			p.stop()
			return nil, fmt.Errorf("powercutfs: control socket not answering: %w", ctx.Err())
		default:
		}
		// A socket of another process can only be asked again; the
		// deadline, not the pace, bounds the wait.
		pace(ctx, 50*time.Millisecond)
	}
}

// command sends one control command and returns the answer line.
func (p *powerFS) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", p.sock, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintln(c, cmd); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func (p *powerFS) stats() (fsStats, error) {
	line, err := p.command("stats")
	if err != nil {
		return fsStats{}, err
	}
	return unmarshalStats(line)
}

// stop unmounts (SIGTERM) and waits for the process, at most 20 s.
func (p *powerFS) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// dumpStacks makes powercutfs write its goroutines to its log and exit
// (SIGQUIT), for a cut that failed.
func (p *powerFS) dumpStacks() {
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
	}
}
