package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture posagent runs on.
const userHZ = 100

// child is a process the driver started; its output goes to a log file,
// and lines can be waited for.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	out  *lineWatch
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done
}

// startChild starts bin with args and env (added to the driver's) and
// logs its output to dir/name.log.
func startChild(name, dir, bin string, args, env []string) (*child, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c := &child{name: name, log: logPath, out: &lineWatch{f: f}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Dir = dir
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		f.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit, killing this child (by its
// pid) if it takes longer than 20 s. It returns how long the exit took.
func (c *child) stop() (time.Duration, error) {
	start := time.Now()
	select {
	case <-c.done:
		return 0, fmt.Errorf("%s had already exited: %v; log %s", c.name, c.err, c.log)
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
		return 0, fmt.Errorf("%s did not stop within 20 s of SIGTERM: killed; log %s", c.name, c.log)
	}
	took := time.Since(start)
	var ee *exec.ExitError
	if c.err != nil && !errors.As(c.err, &ee) {
		return took, c.err
	}
	if c.err != nil {
		return took, fmt.Errorf("%s: %v; log %s", c.name, c.err, c.log)
	}
	return took, nil
}

// kill ends the child at once (cleanup after a failure).
func (c *child) kill() {
	select {
	case <-c.done:
	default:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitLine waits until the child prints a line containing s.
func (c *child) waitLine(ctx context.Context, s string, limit time.Duration) error {
	ch := c.out.watch(s)
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-c.done:
		return fmt.Errorf("%s exited (%v) before printing %q; log %s", c.name, c.err, s, c.log)
	case <-t.C:
		return fmt.Errorf("%s did not print %q within %s; log %s", c.name, s, limit, c.log)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lineWatch writes output to a file and signals lines containing watched
// strings.
type lineWatch struct {
	f       *os.File
	mu      sync.Mutex
	partial []byte
	seen    []string
	watches map[string]chan struct{}
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.seen = append(w.seen, line)
		for s, ch := range w.watches {
			if strings.Contains(line, s) {
				close(ch)
				delete(w.watches, s)
			}
		}
	}
	return w.f.Write(p)
}

// watch returns a channel closed once a line containing s is (or was)
// printed.
func (w *lineWatch) watch(s string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	for _, line := range w.seen {
		if strings.Contains(line, s) {
			close(ch)
			return ch
		}
	}
	if w.watches == nil {
		w.watches = make(map[string]chan struct{})
	}
	w.watches[s] = ch
	return ch
}

// memory is what /proc/<pid>/status says of a process's memory, in KiB.
type memory struct {
	RSS, HWM int64
}

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		*dst = n
	}
	return m, sc.Err()
}

// cpuTime is the user plus system time a process has used, from
// /proc/<pid>/stat (all its threads).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// notifySocket is a fake systemd notification socket: NOTIFY_SOCKET for
// a child, which reports READY=1 on it once it serves.
type notifySocket struct {
	path  string
	conn  *net.UnixConn
	ready chan time.Time // arrival of each READY=1
}

func listenNotify(path string) (*notifySocket, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	n := &notifySocket{path: path, conn: conn, ready: make(chan time.Time, 4)}
	go n.read()
	return n, nil
}

func (n *notifySocket) read() {
	buf := make([]byte, 4096)
	for {
		k, _, err := n.conn.ReadFromUnix(buf)
		if err != nil {
			return // closed
		}
		at := time.Now()
		for line := range strings.SplitSeq(string(buf[:k]), "\n") {
			if line == "READY=1" {
				select {
				case n.ready <- at:
				default:
				}
			}
		}
	}
}

// waitReady returns when READY=1 arrived, or fails when c exits first or
// the limit passes.
func (n *notifySocket) waitReady(c *child, limit time.Duration) (time.Time, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case at := <-n.ready:
		return at, nil
	case <-c.done:
		return time.Time{}, fmt.Errorf("%s exited (%v) before READY=1; log %s", c.name, c.err, c.log)
	case <-t.C:
		return time.Time{}, fmt.Errorf("%s sent no READY=1 within %s; log %s", c.name, limit, c.log)
	}
}

func (n *notifySocket) close() {
	n.conn.Close()
	os.Remove(n.path)
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
