//go:build realsystemd

package realsystemd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sigkill: the main process killed while a sale awaits payment; systemd
// restarts it and the sale, paid meanwhile, is finished.
func (p *posagent) sigkill(t *testing.T) {
	order, _ := p.sale(t, "POS1", "S-kill", "5.00")
	before := p.m.show(t, "posagent", "MainPID", "NRestarts")
	p.m.must(t, "systemctl", "kill", "--kill-whom=main", "--signal=SIGKILL", "posagent")
	p.pay(t, order)
	p.restartedFrom(t, before["MainPID"], before["NRestarts"])
	p.waitProcessed(t, "S-kill")
}

// sigstop: a hung agent stops feeding the watchdog; after WatchdogSec
// systemd aborts it (SIGABRT: the Go runtime exits 2) and restarts it.
func (p *posagent) sigstop(t *testing.T) {
	before := p.m.show(t, "posagent", "MainPID", "NRestarts")
	after := p.cursor(t)
	p.m.must(t, "systemctl", "kill", "--kill-whom=main", "--signal=SIGSTOP", "posagent")
	p.restartedFrom(t, before["MainPID"], before["NRestarts"])
	p.waitJournal(t, "the watchdog timeout", func(e map[string]any) bool {
		return field(e, "_PID") == "1" && strings.Contains(field(e, "MESSAGE"), "Watchdog timeout")
	}, after)
	p.waitJournal(t, "the abort's exit status 2", func(e map[string]any) bool {
		return field(e, "_PID") == "1" && strings.Contains(field(e, "MESSAGE"), "Main process exited, code=exited, status=2/")
	}, after)
}

// crash: a Go panic ends the process with exit status 2. SIGQUIT makes the
// Go runtime end it the same way (goroutine dump, exit 2), so no test hook
// is needed in the binary: systemd sees exactly a panic's exit.
func (p *posagent) crash(t *testing.T) {
	before := p.m.show(t, "posagent", "MainPID", "NRestarts")
	after := p.cursor(t)
	p.m.must(t, "systemctl", "kill", "--kill-whom=main", "--signal=SIGQUIT", "posagent")
	p.restartedFrom(t, before["MainPID"], before["NRestarts"])
	p.waitJournal(t, "the exit status 2", func(e map[string]any) bool {
		return field(e, "_PID") == "1" && strings.Contains(field(e, "MESSAGE"), "Main process exited, code=exited, status=2/")
	}, after)
}

// stop: with a sale awaiting payment, systemctl stop drains and the agent
// exits 0 within TimeoutStopSec (a timeout would say Result=timeout).
func (p *posagent) stop(t *testing.T) {
	p.sale(t, "POS1", "S-stop", "1.00")
	pid := p.m.show(t, "posagent", "MainPID")["MainPID"]
	p.m.must(t, "systemctl", "stop", "posagent")
	// A stopped unit's ExecMain* properties are reset. Result=success says
	// it ended within TimeoutStopSec ("timeout" otherwise) without a failure
	// status; "posagent stopped" is logged by that process right before
	// it returns exit 0.
	s := p.m.show(t, "posagent", "ActiveState", "Result")
	if s["ActiveState"] != "inactive" || s["Result"] != "success" {
		t.Errorf("after systemctl stop: %v, want inactive with Result=success", s)
	}
	p.waitJournal(t, "the drain", func(e map[string]any) bool {
		return field(e, "_PID") == pid && strings.HasPrefix(field(e, "MESSAGE"), "shutting down")
	})
	p.waitJournal(t, "the clean exit", func(e map[string]any) bool {
		return field(e, "_PID") == pid && field(e, "MESSAGE") == "posagent stopped"
	})
	p.m.must(t, "systemctl", "start", "posagent")
}

// refused checks a start that must fail with 78 and stay failed: a unit
// systemd will restart is "activating (auto-restart)", not "failed".
func (p *posagent) refused(t *testing.T, why string) {
	t.Helper()
	p.m.must(t, "systemctl", "reset-failed", "posagent")
	if out, err := p.m.run("systemctl", "restart", "posagent"); err == nil {
		t.Fatalf("systemctl restart succeeded with %s:\n%s", why, out)
	}
	s := p.m.show(t, "posagent", "ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")
	if s["ActiveState"] != "failed" || s["ExecMainStatus"] != "78" || s["Result"] != "exit-code" {
		t.Errorf("with %s: %v, want failed with exit status 78 and no restart scheduled", why, s)
	}
	if s["NRestarts"] != "0" {
		t.Errorf("with %s: NRestarts=%s, want 0 (restarts since the last manual start)", why, s["NRestarts"])
	}
}

// configError: a bad key; the journal says what and why it stays down.
func (p *posagent) configError(t *testing.T) {
	gid := p.groupID(t, "posagent")
	good := p.config("")
	p.writeFile(t, "/etc/posagent/posagent.yaml", good+"no_such_key: 1\n", 0o640, gid)
	defer p.restart(t, func() { p.writeFile(t, "/etc/posagent/posagent.yaml", good, 0o640, gid) })
	after := p.cursor(t)
	p.refused(t, "an unknown key")
	p.waitJournal(t, "the reason, at priority err", func(e map[string]any) bool {
		return strings.Contains(field(e, "MESSAGE"), "configuration error: not starting") && field(e, "PRIORITY") == "3"
	}, after)
	p.operatorSees(t, "configuration error: not starting")
	p.waitJournal(t, "the offending key", func(e map[string]any) bool {
		return strings.Contains(field(e, "MESSAGE"), "no_such_key")
	}, after)
}

// missingToken: no token file. systemd hands the agent the unit's
// SetCredential= fallback, which is not a token.
func (p *posagent) missingToken(t *testing.T) {
	tok := filepath.Join(p.m.root, "etc/posagent/mp-access-token")
	if err := os.Rename(tok, tok+".away"); err != nil {
		t.Fatal(err)
	}
	defer p.restart(t, func() {
		if err := os.Rename(tok+".away", tok); err != nil {
			t.Error(err)
		}
	})
	after := p.cursor(t)
	p.refused(t, "no token file")
	p.waitJournal(t, "the reason, at priority err", func(e map[string]any) bool {
		m := field(e, "MESSAGE")
		return strings.Contains(m, "no usable access token") && strings.Contains(m, "missing") && field(e, "PRIORITY") == "3"
	}, after)
	p.operatorSees(t, "no usable access token")
}

// operatorSees checks that `journalctl -u posagent -p err` shows a line.
// (Not combined with --after-cursor: journalctl 252 then drops the
// service's own entries.)
func (p *posagent) operatorSees(t *testing.T, want string) {
	t.Helper()
	if out := p.m.must(t, "journalctl", "-u", "posagent", "-p", "err", "-n", "20", "--no-pager"); !strings.Contains(out, want) {
		t.Errorf("journalctl -u posagent -p err does not show %q:\n%s", want, out)
	}
}

// restart undoes a refused start's cause and starts the service again, for
// the checks after it.
func (p *posagent) restart(t *testing.T, undo func()) {
	undo()
	p.m.must(t, "systemctl", "reset-failed", "posagent")
	p.m.must(t, "systemctl", "start", "posagent")
}

// upgrade: version B installed over A while a sale awaits payment.
func (p *posagent) upgrade(t *testing.T) {
	order, _ := p.sale(t, "POS1", "S-upgrade", "7.00")
	cfgBefore, _ := os.ReadFile(filepath.Join(p.m.root, "etc/posagent/posagent.yaml"))
	before := p.m.show(t, "posagent", "MainPID")
	data, err := os.ReadFile(p.debB)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.m.root, "root/posagent-b.deb"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p.m.must(t, "dpkg", "-i", "--force-confold", "/root/posagent-b.deb")
	if v := p.m.must(t, "posagent", "version"); !strings.HasPrefix(v, "posagent 0.0.2 ") {
		t.Errorf("after the upgrade posagent version = %q, want 0.0.2", v)
	}
	s := p.m.show(t, "posagent", "ActiveState", "MainPID")
	if s["ActiveState"] != "active" || s["MainPID"] == before["MainPID"] {
		t.Errorf("after the upgrade: %v (pid before %s), want active on a new process", s, before["MainPID"])
	}
	if cfg, _ := os.ReadFile(filepath.Join(p.m.root, "etc/posagent/posagent.yaml")); string(cfg) != string(cfgBefore) {
		t.Error("the upgrade changed /etc/posagent/posagent.yaml")
	}
	if tok, err := os.ReadFile(filepath.Join(p.m.root, "etc/posagent/mp-access-token")); err != nil || strings.TrimSpace(string(tok)) != simToken {
		t.Errorf("the upgrade lost the token (%v)", err)
	}
	p.waitJournal(t, "version 0.0.2 ready", func(e map[string]any) bool {
		return field(e, "MESSAGE") == "posagent ready" && field(e, "VERSION") == "0.0.2"
	})
	p.pay(t, order)
	p.waitProcessed(t, "S-upgrade")
}

// purge: removes the configuration, the token and the state.
func (p *posagent) purge(t *testing.T) {
	p.m.must(t, "dpkg", "--purge", "posagent")
	for _, path := range []string{"etc/posagent", "var/lib/posagent", "usr/bin/posagent", "lib/systemd/system/posagent.service"} {
		if _, err := os.Lstat(filepath.Join(p.m.root, path)); !os.IsNotExist(err) {
			ls, _ := p.m.run("ls", "-la", "/"+path)
			t.Errorf("/%s still there after dpkg --purge (%v):\n%s", path, err, ls)
		}
	}
	if s := p.m.show(t, "posagent", "ActiveState"); s["ActiveState"] == "active" {
		t.Errorf("posagent still active after purge: %v", s)
	}
}
