//go:build realsystemd

package realsystemd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var rootFlag = flag.String("root", "/var/cache/posagent-ci/bookworm",
	"Debian bookworm root with systemd, systemd-sysv, dbus and adduser (debootstrap --variant=minbase); used read-only under an overlay")

// waitLimit bounds every wait on the machine: a guard against a hang, never
// what decides a pass.
const waitLimit = 120 * time.Second

// machine is systemd running as PID 1 in its own PID, mount, UTS, IPC and
// cgroup namespaces, chrooted into an overlay of the cached root. It shares
// the host's network namespace, so the agent reaches a simulator on
// loopback.
type machine struct {
	dir   string // work directory: overlay upper, work and merged root
	root  string // the merged root, as the host sees it
	cg    string // the cgroup v2 directory the machine lives in
	boot  *exec.Cmd
	pid   int // systemd's pid, as the host sees it
	log   *bytes.Buffer
	ptyMu sync.Mutex
}

// inner runs inside the new namespaces: kernel file systems, then systemd.
const inner = `set -e
M="$1"
mount -t proc proc "$M/proc"
mount -t sysfs -o ro sysfs "$M/sys"
mount -t cgroup2 cgroup2 "$M/sys/fs/cgroup"
mount -t tmpfs -o mode=755 tmpfs "$M/run"
# systemd leaves mount propagation to a container manager; credentials
# (LoadCredential=) are mounted from a child namespace and need it shared.
mount --make-rshared "$M"
export container=posagent-ci
exec chroot "$M" /lib/systemd/systemd
`

// boot starts the machine and waits until systemd reports the system up.
func boot(t *testing.T) *machine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the real-systemd test needs root (namespaces, mounts, cgroups)")
	}
	if _, err := os.Stat(filepath.Join(*rootFlag, "lib/systemd/systemd")); err != nil {
		t.Fatalf("no Debian root with systemd at %s (make it with debootstrap, see deploy/systemd/README.md): %v", *rootFlag, err)
	}
	dir, err := os.MkdirTemp("", "posagent-systemd-")
	if err != nil {
		t.Fatal(err)
	}
	m := &machine{dir: dir, root: filepath.Join(dir, "root"), log: &bytes.Buffer{}}
	t.Cleanup(m.destroy)
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m.sh(t, "mount", "-t", "overlay", "overlay", "-o",
		fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", *rootFlag, dir, dir), m.root)
	m.makeDev(t)

	// The cgroup v2 hierarchy (here beside the v1 controllers, at
	// /sys/fs/cgroup/unified; on a unified host at /sys/fs/cgroup): a
	// directory of our own becomes the machine's cgroup namespace root.
	cgRoot := "/sys/fs/cgroup/unified"
	if _, err := os.Stat(filepath.Join(cgRoot, "cgroup.procs")); err != nil {
		cgRoot = "/sys/fs/cgroup"
	}
	m.cg = filepath.Join(cgRoot, filepath.Base(dir))
	if err := os.Mkdir(m.cg, 0o755); err != nil {
		t.Fatalf("cgroup v2 directory: %v", err)
	}
	script := fmt.Sprintf("echo $$ > %s/cgroup.procs && exec unshare --pid --fork --mount --uts --ipc --cgroup --propagation private /bin/sh -c '%s' sh %s",
		m.cg, strings.ReplaceAll(inner, "'", `'\''`), m.root)
	m.boot = exec.Command("/bin/sh", "-c", script)
	m.boot.Stdout, m.boot.Stderr = m.log, m.log
	m.boot.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	m.boot.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.boot.Start(); err != nil {
		t.Fatal(err)
	}
	// systemd is the only grandchild: the process in our cgroup whose
	// parent is unshare.
	deadline := time.Now().Add(waitLimit)
	for m.pid == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("systemd did not start; output:\n%s", m.log)
		}
		m.pid = m.findSystemd()
		if m.pid == 0 {
			time.Sleep(50 * time.Millisecond) // polling /proc: no event to wait on
		}
	}
	// systemctl answers once systemd has made its private socket.
	var out string
	for {
		out, err = m.run("systemctl", "is-system-running", "--wait")
		if err == nil || strings.TrimSpace(out) == "degraded" || !(strings.Contains(out, "connect") || strings.TrimSpace(out) == "offline") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // no event to wait on from outside the machine
	}
	if err != nil && strings.TrimSpace(out) != "degraded" {
		t.Fatalf("systemd did not come up (%v): %s\nboot output:\n%s", err, out, m.log)
	}
	t.Logf("systemd is PID 1 in the machine (host pid %d): %s", m.pid, strings.TrimSpace(out))
	return m
}

// findSystemd returns the host pid of the machine's PID 1, found in our
// cgroup (or below it), 0 if none yet.
func (m *machine) findSystemd() int {
	var found int
	_ = filepath.WalkDir(m.cg, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" || found != 0 {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			// PID 1 of the machine: systemd's own forks (before they exec
			// a service) run the same program.
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if regexp.MustCompile(`(?m)^NSpid:\s+\d+\s+1$`).Match(st) {
				found = pid
			}
		}
		return nil
	})
	return found
}

// makeDev gives the machine a small /dev, as container managers do: the
// pseudo devices, a private devpts instance (the test opens its ptys from
// the host side), and the built-in UART ttyS0 (major 4, ttyS).
func (m *machine) makeDev(t *testing.T) {
	dev := filepath.Join(m.root, "dev")
	m.sh(t, "mount", "-t", "tmpfs", "-o", "mode=755,nosuid", "tmpfs", dev)
	nodes := []struct {
		name         string
		mode         uint32
		major, minor uint32
	}{{"null", 0o666, 1, 3}, {"zero", 0o666, 1, 5}, {"full", 0o666, 1, 7}, {"random", 0o666, 1, 8},
		{"urandom", 0o666, 1, 9}, {"tty", 0o666, 5, 0}}
	for _, n := range nodes {
		m.mknod(t, filepath.Join(dev, n.name), n.mode, n.major, n.minor, 0)
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m.sh(t, "mount", "-t", "devpts", "-o", "newinstance,ptmxmode=0666,mode=0620,gid=5", "devpts", filepath.Join(dev, "pts"))
	m.sh(t, "mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", filepath.Join(dev, "shm"))
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "fd/0", "stdout": "fd/1", "stderr": "fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// mknod makes a character device node owned by root and group gid.
func (m *machine) mknod(t *testing.T, path string, mode, major, minor uint32, gid int) {
	t.Helper()
	if err := unix.Mknod(path, unix.S_IFCHR|mode, int(unix.Mkdev(major, minor))); err != nil {
		t.Fatalf("mknod %s: %v", path, err)
	}
	if err := os.Chown(path, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, os.FileMode(mode)); err != nil {
		t.Fatal(err)
	}
}

// sh runs a host command and fails the test on error.
func (m *machine) sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// enter returns a command run inside the machine, as root.
func (m *machine) enter(ctx context.Context, name string, args ...string) *exec.Cmd {
	a := append([]string{"-t", strconv.Itoa(m.pid), "-m", "-p", "-u", "-i", "-C", "-r", "-w", "--", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", a...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	return cmd
}

// run runs a command inside the machine and returns its combined output.
func (m *machine) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	out, err := m.enter(ctx, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: still running after %s: %w", name, strings.Join(args, " "), waitLimit, ctx.Err())
	}
	return string(out), err
}

// must runs a command inside the machine and fails the test on error.
func (m *machine) must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := m.run(name, args...)
	if err != nil {
		t.Fatalf("in the machine: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// show returns systemctl show's properties of a unit.
func (m *machine) show(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	out := m.must(t, "systemctl", "show", unit, "-p", strings.Join(props, ","))
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			got[k] = v
		}
	}
	return got
}

// destroy kills the machine (SIGKILL to its PID 1 ends the whole PID
// namespace), unmounts and removes everything it made.
func (m *machine) destroy() {
	if m.cg != "" {
		// Everything in the machine's cgroup, whatever its pid namespace
		// or session (cgroup.kill, Linux 5.14).
		_ = os.WriteFile(filepath.Join(m.cg, "cgroup.kill"), []byte("1"), 0o644)
	}
	if m.pid != 0 {
		_ = syscall.Kill(m.pid, syscall.SIGKILL)
	}
	if m.boot != nil && m.boot.Process != nil {
		_ = syscall.Kill(-m.boot.Process.Pid, syscall.SIGKILL)
		_ = m.boot.Wait()
	}
	_ = exec.Command("umount", "-R", "-l", m.root).Run()
	if m.cg != "" {
		// Deepest first; a cgroup can be removed once its processes died.
		var dirs []string
		_ = filepath.WalkDir(m.cg, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			for try := 0; try < 100 && errors.Is(os.Remove(dirs[i]), syscall.EBUSY); try++ {
				time.Sleep(20 * time.Millisecond) // the kernel frees a cgroup a moment after its last process
			}
		}
	}
	_ = os.RemoveAll(m.dir)
}
