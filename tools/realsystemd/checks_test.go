//go:build realsystemd

package realsystemd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// simToken is the simulator's default access token.
const simToken = "TEST-posagent-simulator"

// startReady puts the token (root-only), the configuration and the devices
// in place and starts the service: `systemctl start` of a Type=notify unit
// returns once READY=1 came, so the agent's "posagent ready" entry must
// precede systemd's "Started" entry.
func (p *posagent) startReady(t *testing.T) {
	p.writeFile(t, "/etc/posagent/mp-access-token", simToken+"\n", 0o600, 0)
	gid := p.groupID(t, "posagent")
	p.writeFile(t, "/etc/posagent/posagent.yaml", p.config(""), 0o640, gid)
	dev := filepath.Join(p.m.root, "dev")
	if err := os.Symlink(strings.TrimPrefix(p.printer.slave, "/dev/"), filepath.Join(dev, "ttyUSB-standin")); err != nil {
		t.Fatal(err)
	}
	dialout := p.groupID(t, "dialout")
	p.m.mknod(t, filepath.Join(dev, "ttyS0"), 0o660, 4, 64, dialout)
	// 10:237 is the misc device loop-control: a kind the unit does not allow.
	p.m.mknod(t, filepath.Join(dev, "not-allowed"), 0o660, 10, 237, dialout)

	p.m.must(t, "systemctl", "start", "posagent")
	s := p.m.show(t, "posagent", "ActiveState", "SubState", "MainPID")
	if s["ActiveState"] != "active" || s["SubState"] != "running" {
		t.Fatalf("right after systemctl start: %v, want active/running", s)
	}
	ready := p.waitJournal(t, "posagent ready", func(e map[string]any) bool { return field(e, "MESSAGE") == "posagent ready" })
	started := p.waitJournal(t, "systemd's Started entry", func(e map[string]any) bool {
		return field(e, "_PID") == "1" && strings.HasPrefix(field(e, "MESSAGE"), "Started posagent.service")
	})
	if a, b := mono(t, ready), mono(t, started); a >= b {
		t.Errorf("systemd said Started (%d µs) before the agent was ready (%d µs): Type=notify is not honoured", b, a)
	}
}

// mono is an entry's monotonic timestamp in µs.
func mono(t *testing.T, e map[string]any) int64 {
	t.Helper()
	n, err := strconv.ParseInt(field(e, "__MONOTONIC_TIMESTAMP"), 10, 64)
	if err != nil {
		t.Fatalf("journal entry without a monotonic time: %v", e)
	}
	return n
}

// groupID reads a group's id from the machine's /etc/group.
func (p *posagent) groupID(t *testing.T, name string) int {
	t.Helper()
	out := strings.TrimSpace(p.m.must(t, "getent", "group", name))
	f := strings.Split(out, ":")
	if len(f) < 3 {
		t.Fatalf("getent group %s: %q", name, out)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// credential: the token file is root's (0600), so the posagent user can
// read it only through LoadCredential=.
func (p *posagent) credential(t *testing.T) {
	e := p.waitJournal(t, "access token loaded", func(e map[string]any) bool { return field(e, "MESSAGE") == "access token loaded" })
	if src := field(e, "SOURCE"); src != "credential mp-access-token" {
		t.Errorf("token source %q, want credential mp-access-token (LoadCredential=)", src)
	}
	if out, _ := p.m.run("journalctl", "--no-pager", "-o", "verbose"); strings.Contains(out, simToken) {
		t.Error("the token appears in the journal")
	}
}

// saleEndToEnd: created, paid at the simulator, processed, and the receipt
// printed on the pty stand-in.
func (p *posagent) saleEndToEnd(t *testing.T) {
	order, done := p.sale(t, "POS1", "S-e2e", "12.34")
	p.printer.waitFor(t, []byte("\x1b@"), "the receipt's ESC @")
	p.printer.waitFor(t, []byte("12,34"), "the receipt's amount (AR format)")
	p.pay(t, order)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("posagent sale exit: %v, want 0 (processed)", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("posagent sale did not end")
	}
	p.waitProcessed(t, "S-e2e")
}

// journald: the agent's structured fields, and -p warning keeping only
// warnings and worse.
func (p *posagent) journald(t *testing.T) {
	var found bool
	for _, e := range p.journal(t, "SALE_ID=S-e2e") {
		if field(e, "MESSAGE") == "order created" {
			found = true
			if field(e, "ORDER_ID") == "" || field(e, "POS") != "POS1" || field(e, "PRIORITY") != "6" || field(e, "SYSLOG_IDENTIFIER") != "posagent" {
				t.Errorf("order created entry lacks ORDER_ID, POS=POS1, PRIORITY=6 or SYSLOG_IDENTIFIER=posagent: %v", e)
			}
		}
	}
	if !found {
		t.Error(`no "order created" entry with SALE_ID=S-e2e`)
	}
	warn := p.journal(t, "-p", "warning")
	if len(warn) == 0 {
		t.Error("journalctl -u posagent -p warning shows nothing, but the agent warned (the printer outside the allow list)")
	}
	for _, e := range warn {
		if pr, _ := strconv.Atoi(field(e, "PRIORITY")); pr > 4 {
			t.Errorf("-p warning shows priority %d: %s", pr, field(e, "MESSAGE"))
		}
	}
}

// devices: the service opens the built-in UART and the pty stand-in (the
// sale's receipt above), and is refused a device outside DeviceAllow=.
func (p *posagent) devices(t *testing.T) {
	p.waitJournal(t, "POS3's printer refused by the device policy", func(e map[string]any) bool {
		return field(e, "POS") == "POS3" && strings.Contains(field(e, "ERR"), "operation not permitted")
	})
	// POS2 asks ttyS0 for its state every second; nothing answers on this
	// machine's console UART, so it goes offline for silence, which needs
	// the device open.
	e := p.waitJournal(t, "POS2's printer on ttyS0 opened", func(e map[string]any) bool {
		return field(e, "POS") == "POS2" && field(e, "ERR") != ""
	})
	if strings.Contains(field(e, "ERR"), "not permitted") || strings.Contains(field(e, "ERR"), "open ") {
		t.Errorf("the service cannot open /dev/ttyS0: %s", field(e, "ERR"))
	}
	t.Logf("POS2's printer on /dev/ttyS0 was opened; its state query got: %s", field(e, "ERR"))
}
