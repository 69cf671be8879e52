package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// stubScripts stand in for every command a maintainer script could change
// the machine with: each appends its name and arguments to $STUB_LOG.
// getent answers from $GETENT_ABSENT (the space-separated "db:name" keys
// that do not exist).
func stubScripts() map[string]string {
	return map[string]string{
		"getent": `echo "getent $*" >>"$STUB_LOG"
case " $GETENT_ABSENT " in *" $1:$2 "*) exit 2 ;; esac
exit 0`,
		"dpkg-statoverride": `echo "dpkg-statoverride $*" >>"$STUB_LOG"
exit 1`,
	}
}

func stubDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"adduser", "chown", "chmod", "install", "systemctl", "rm", "rmdir", "deluser", "useradd", "groupadd"} {
		body := `echo "` + name + ` $*" >>"$STUB_LOG"` + "\nexit 0"
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range stubScripts() {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestMaintainerScripts runs deploy/debian's scripts against stubs and a
// fake root ($DPKG_ROOT): what they would do to a machine, and above all
// that nothing starts or enables the service before the token is there.
func TestMaintainerScripts(t *testing.T) {
	sh := needTool(t, "sh")
	scripts := filepath.Join(repoRoot(t), "deploy", "debian")
	tests := []struct {
		name    string
		script  string
		args    []string
		absent  string // getent keys that do not exist
		systemd bool   // /run/systemd/system exists (systemd is PID 1)
		state   bool   // /var/lib/posagent exists
		want    []string
		notWant []string
		stdout  string
	}{
		{
			name: "fresh install", script: "postinst", args: []string{"configure", ""},
			absent: "passwd:posagent group:posagent", systemd: true,
			want: []string{
				"adduser --system --quiet --group --home /var/lib/posagent --no-create-home posagent",
				"adduser --quiet posagent dialout", "adduser --quiet posagent lp", "adduser --quiet posagent video",
				"chown root:posagent ROOT/etc/posagent\n", "chmod 0750 ROOT/etc/posagent\n",
				"chown root:posagent ROOT/etc/posagent/posagent.yaml", "chmod 0640 ROOT/etc/posagent/posagent.yaml",
				"install -d -o posagent -g posagent -m 0750 ROOT/var/lib/posagent",
				"systemctl daemon-reload",
			},
			notWant: []string{"enable", "start", "restart", "rm "},
			stdout:  "not started",
		},
		{
			name: "fresh install, group left by an old install", script: "postinst", args: []string{"configure", ""},
			absent: "passwd:posagent", systemd: true,
			want:    []string{"adduser --system --quiet --ingroup posagent --home /var/lib/posagent --no-create-home posagent"},
			notWant: []string{"--group", "enable", "start"},
		},
		{
			name: "fresh install without video group, in a chroot", script: "postinst", args: []string{"configure", ""},
			absent: "passwd:posagent group:posagent group:video",
			want:   []string{"adduser --quiet posagent dialout", "chmod 0640 ROOT/etc/posagent/posagent.yaml"},
			// No systemd running: no systemctl at all.
			notWant: []string{"posagent video", "systemctl"},
		},
		{
			name: "upgrade", script: "postinst", args: []string{"configure", "1.2.2"}, systemd: true, state: true,
			want:    []string{"systemctl daemon-reload", "systemctl try-restart posagent.service", "chmod 0640 ROOT/etc/posagent/posagent.yaml"},
			notWant: []string{"--system", "enable", "systemctl start", "install -d"},
		},
		{
			name: "remove", script: "prerm", args: []string{"remove"}, systemd: true,
			want: []string{"systemctl stop posagent.service", "systemctl disable posagent.service"},
		},
		{
			name: "prerm on upgrade", script: "prerm", args: []string{"upgrade", "1.2.4"}, systemd: true,
			notWant: []string{"systemctl"},
		},
		{
			name: "postrm remove", script: "postrm", args: []string{"remove"}, systemd: true,
			want:    []string{"systemctl daemon-reload"},
			notWant: []string{"rm ", "rmdir", "deluser"},
		},
		{
			name: "purge", script: "postrm", args: []string{"purge"}, systemd: true,
			want: []string{"rm -f ROOT/etc/posagent/mp-access-token", "rm -rf ROOT/var/lib/posagent", "rmdir ROOT/etc/posagent", "systemctl daemon-reload"},
			// System users are kept (Debian practice).
			notWant: []string{"deluser"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc", "posagent"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "etc", "posagent", "posagent.yaml"), []byte("store_id: S1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, d := range []struct {
				make bool
				path string
			}{{tt.systemd, "run/systemd/system"}, {tt.state, "var/lib/posagent"}} {
				if !d.make {
					continue
				}
				if err := os.MkdirAll(filepath.Join(root, d.path), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			logPath := filepath.Join(t.TempDir(), "log")
			cmd := exec.Command(sh, append([]string{filepath.Join(scripts, tt.script)}, tt.args...)...)
			cmd.Env = []string{
				"PATH=" + stubDir(t) + ":/usr/bin:/bin",
				"DPKG_ROOT=" + root, "STUB_LOG=" + logPath, "GETENT_ABSENT=" + tt.absent,
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s %q: %v\n%s", tt.script, tt.args, err, out)
			}
			logData, err := os.ReadFile(logPath)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			log := strings.ReplaceAll(string(logData), root, "ROOT")
			for _, w := range tt.want {
				if !strings.Contains(log, w) {
					t.Errorf("no %q in the commands run:\n%s", w, log)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(log, nw) {
					t.Errorf("unexpected %q in the commands run:\n%s", nw, log)
				}
			}
			if !strings.Contains(string(out), tt.stdout) {
				t.Errorf("output lacks %q:\n%s", tt.stdout, out)
			}
		})
	}
}
