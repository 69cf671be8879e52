//go:build realsystemd

package realsystemd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// posagent is the test's view of one installed service: the machine, the
// simulator it talks to, and the printer stand-in.
type posagent struct {
	m       *machine
	simURL  string
	printer *pty
	debA    string
	debB    string
}

// buildDebs builds the amd64 .deb of this tree twice, as versions A and B.
func buildDebs(t *testing.T) (a, b, bin string) {
	t.Helper()
	wd, _ := os.Getwd()
	tools := filepath.Dir(wd)
	out := t.TempDir()
	for _, v := range []string{"0.0.1", "0.0.2"} {
		cmd := exec.Command("go", "run", "./release", "-version", v, "-arch", "amd64", "-out", filepath.Join(out, v))
		cmd.Dir = tools
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the %s .deb: %v\n%s", v, err, b)
		}
	}
	return filepath.Join(out, "0.0.1", "posagent_0.0.1_amd64.deb"), filepath.Join(out, "0.0.2", "posagent_0.0.2_amd64.deb"),
		filepath.Join(out, "0.0.1", "posagent_0.0.1_linux_amd64")
}

// startSimulator runs `posagent simulate` on a loopback port of the host
// (the machine shares the host's network) and returns its URL.
func startSimulator(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "simulate", "-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	re := regexp.MustCompile(`simulator on (http://\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return m[1]
		}
	}
	t.Fatal("posagent simulate printed no address")
	return ""
}

// config is the service's configuration: POS1 prints on the pty stand-in
// for a USB serial printer, POS2 on the built-in UART ttyS0 (asking its
// state, a few bytes), POS3 on a device outside the unit's allow list.
func (p *posagent) config(extra string) string {
	return fmt.Sprintf(`store_id: CI1
mercadopago:
  base_url: %s
nats:
  embedded:
    listen: 127.0.0.1:14222
http:
  listen: 127.0.0.1:18080
pos:
  - external_pos_id: POS1
    mode: dynamic
    printer: {transport: serial, device: /dev/ttyUSB-standin, status_query: "off"}
  - external_pos_id: POS2
    mode: dynamic
    printer: {transport: serial, device: /dev/ttyS0, status_query: "on", status_interval: 1s}
  - external_pos_id: POS3
    mode: dynamic
    printer: {transport: serial, device: /dev/not-allowed, status_query: "on", status_interval: 1s}
%s`, p.simURL, extra)
}

// writeFile writes a file inside the machine.
func (p *posagent) writeFile(t *testing.T, path, content string, mode os.FileMode, gid int) {
	t.Helper()
	host := filepath.Join(p.m.root, path)
	if err := os.WriteFile(host, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(host, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(host, mode); err != nil {
		t.Fatal(err)
	}
}

// journal returns the service's journal entries matching the filters.
func (p *posagent) journal(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out := p.m.must(t, "journalctl", append([]string{"-u", "posagent", "-o", "json", "--no-pager"}, args...)...)
	var entries []map[string]any
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			var e map[string]any
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("journalctl -o json line %q: %v", l, err)
			}
			entries = append(entries, e)
		}
	}
	return entries
}

// cursor returns the journal's position now: checks of what follows an
// action read only entries after it (--after-cursor=).
func (p *posagent) cursor(t *testing.T) string {
	t.Helper()
	e := p.journalAll(t, "-n", "1")
	if len(e) != 1 || field(e[0], "__CURSOR") == "" {
		t.Fatalf("no journal cursor: %v", e)
	}
	return "--after-cursor=" + field(e[0], "__CURSOR")
}

// journalAll is journal without the unit filter.
func (p *posagent) journalAll(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out := p.m.must(t, "journalctl", append([]string{"-o", "json", "--no-pager"}, args...)...)
	var entries []map[string]any
	for _, l := range strings.Split(out, "\n") {
		var e map[string]any
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &e) == nil {
			entries = append(entries, e)
		}
	}
	return entries
}

// field reads a journal field as text (journald sends non-UTF-8 as bytes).
func field(e map[string]any, k string) string {
	s, _ := e[k].(string)
	return s
}

// waitJournal waits until an entry of the service matches.
func (p *posagent) waitJournal(t *testing.T, what string, match func(map[string]any) bool, args ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		for _, e := range p.journal(t, args...) {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not in the journal within %s; journal:\n%s", what, waitLimit,
				p.m.must(t, "journalctl", "-u", "posagent", "--no-pager", "-n", "60"))
		}
		// journalctl -f could stream, but its exit is the harder part;
		// a short poll with a deadline decides nothing by timing.
		time.Sleep(200 * time.Millisecond)
	}
}

// sale publishes one sale through the register command inside the machine
// and returns its order id once `created`; the command keeps running (it
// ends at `processed` or after its wait) and done reports its exit.
func (p *posagent) sale(t *testing.T, pos, saleID, amount string) (orderID string, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitLimit)
	cmd := p.m.enter(ctx, "posagent", "sale", "-config", "/etc/posagent/posagent.yaml", "-pos", pos,
		"-amount", amount, "-sale-id", saleID, "-json", "-wait", "300s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	events := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
		close(events)
		ch <- cmd.Wait()
		cancel()
	}()
	for ev := range events {
		if ev["status"] == "created" {
			id, _ := ev["order_id"].(string)
			go func() {
				for range events {
				}
			}()
			return id, ch
		}
	}
	t.Fatalf("sale %s on %s: no created event; stderr:\n%s", saleID, pos, stderr.String())
	return "", nil
}

// pay pays an order at the simulator.
func (p *posagent) pay(t *testing.T, orderID string) {
	t.Helper()
	resp, err := http.Post(p.simURL+"/simulator/orders/"+orderID+"/pay", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("paying %s: %s %s", orderID, resp.Status, b)
	}
}

// waitProcessed waits for the agent's log of the sale's final status.
func (p *posagent) waitProcessed(t *testing.T, saleID string) {
	t.Helper()
	p.waitJournal(t, "sale "+saleID+" processed", func(e map[string]any) bool {
		return field(e, "MESSAGE") == "order final" && field(e, "STATUS") == "processed"
	}, "SALE_ID="+saleID)
}

// restartedFrom waits until systemd restarted the service: a new main pid,
// active again, the restart counter past before.
func (p *posagent) restartedFrom(t *testing.T, oldPID, oldRestarts string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		s := p.m.show(t, "posagent", "ActiveState", "SubState", "MainPID", "NRestarts", "Result")
		if s["ActiveState"] == "active" && s["MainPID"] != oldPID && s["MainPID"] != "0" && s["NRestarts"] != oldRestarts {
			return s
		}
		if s["ActiveState"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("posagent not restarted (was pid %s, %s restarts): now %v; journal:\n%s", oldPID, oldRestarts, s,
				p.m.must(t, "journalctl", "-u", "posagent", "--no-pager", "-n", "40"))
		}
		time.Sleep(200 * time.Millisecond) // systemctl show has no wait; the deadline guards
	}
}
