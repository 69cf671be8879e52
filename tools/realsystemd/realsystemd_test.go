//go:build realsystemd

package realsystemd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealSystemd installs the package into a machine running systemd and
// checks the service's promises, each as a subtest, in an order where each
// step leaves the service running for the next.
func TestRealSystemd(t *testing.T) {
	debA, debB, bin := buildDebs(t)
	m := boot(t)
	// The printer stand-in lives as long as the machine, not one subtest.
	p := &posagent{m: m, simURL: startSimulator(t, bin), debA: debA, debB: debB, printer: m.openPTY(t)}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := m.run("journalctl", "--no-pager", "-o", "short-precise")
			f := filepath.Join(os.TempDir(), "posagent-realsystemd-journal.txt")
			if err := os.WriteFile(f, []byte(out), 0o644); err == nil {
				t.Logf("the machine's whole journal is in %s", f)
			}
			tail := strings.Split(out, "\n")
			tail = tail[max(0, len(tail)-80):]
			t.Logf("its last lines:\n%s", strings.Join(tail, "\n"))
		}
	})

	if !t.Run("install", p.install) {
		t.Fatal("the package did not install; nothing else can be checked")
	}
	if !t.Run("start waits for READY=1", p.startReady) {
		t.Fatal("the service did not start; nothing else can be checked")
	}
	t.Run("token via LoadCredential", p.credential)
	t.Run("sale end to end", p.saleEndToEnd)
	t.Run("journald fields and priorities", p.journald)
	t.Run("devices: ttyS and the pty open, others refused", p.devices)
	t.Run("SIGKILL restarts and the in-flight sale finishes", p.sigkill)
	t.Run("SIGSTOP: watchdog aborts and systemd restarts", p.sigstop)
	t.Run("runtime crash (exit 2, as a panic) restarts", p.crash)
	t.Run("stop drains and exits 0", p.stop)
	t.Run("configuration error exits 78, not restarted", p.configError)
	t.Run("missing token exits 78, not restarted", p.missingToken)
	t.Run("upgrade keeps config, token, state and the open sale", p.upgrade)
	t.Run("purge removes config, token and state", p.purge)
}

func (p *posagent) install(t *testing.T) {
	deb := filepath.Join(p.m.root, "root", "posagent.deb")
	data, err := os.ReadFile(p.debA)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deb, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := p.m.must(t, "dpkg", "-i", "/root/posagent.deb")
	if !strings.Contains(out, "installed but not started") {
		t.Errorf("postinst did not say what to do next:\n%s", out)
	}
	p.m.must(t, "id", "posagent")
	if s := p.m.show(t, "posagent", "LoadState", "ActiveState"); s["LoadState"] != "loaded" || s["ActiveState"] != "inactive" {
		t.Errorf("after install: %v, want loaded and inactive (not started before the token is there)", s)
	}
	if v := p.m.must(t, "posagent", "version"); !strings.HasPrefix(v, "posagent 0.0.1 ") {
		t.Errorf("posagent version = %q, want 0.0.1", v)
	}
}
