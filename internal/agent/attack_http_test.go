package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/config"
)

// HTTP flood attacks (README "Security"): a second process on the same
// machine opens hundreds of idle, slow-header (slowloris) and slow-body
// connections and grabs live event streams, on loopback, bounded in count
// and stopping by itself. While it holds them, registers still connect
// to NATS and sell, /healthz answers a fresh connection, and the web
// display, status page and metrics work.

const (
	floodIdle   = 600 // connections that never send a byte
	floodSlow   = 100 // requests whose headers arrive a byte at a time
	floodBody   = 30  // webhook posts whose body arrives a byte at a time
	floodSSE    = 40  // display event streams from one address (127.0.0.2)
	floodMaxRun = 60 * time.Second
	floodNOFILE = 512 // the agent's file limit during the attack
)

// floodReport is what the attacker process tells the test.
type floodReport struct {
	Idle, Slow, Body, SSEOpen, SSERefused, DialErrors int
	ClosedByServer                                    int `json:",omitempty"`
}

// TestHTTPFlooder is the attacker of TestAttackHTTPFlood, run in a
// process of its own by that test (so its sockets do not count against
// the agent's file limit); alone it skips.
func TestHTTPFlooder(t *testing.T) {
	addr := os.Getenv("POSAGENT_TEST_FLOOD_ADDR")
	if addr == "" {
		t.Skip("the attacker process of TestAttackHTTPFlood")
	}
	if err := flood(addr, os.Stdin, os.Stdout); err != nil {
		t.Fatal(err)
	}
}

// flood opens the attack connections, reports "ready", and on "report"
// tells how many of its idle and slow connections the server closed; it
// ends when in closes or after floodMaxRun.
func flood(addr string, in io.Reader, out io.Writer) error {
	stop := time.Now().Add(floodMaxRun)
	var rep floodReport
	dial := func(local string) net.Conn {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			rep.DialErrors++
			return nil
		}
		return c
	}
	var idle, slow []net.Conn
	for range floodIdle {
		if c := dial("127.0.0.1"); c != nil {
			idle = append(idle, c)
		}
	}
	for i := range floodSlow + floodBody {
		c := dial("127.0.0.1")
		if c == nil {
			continue
		}
		head := "GET /healthz HTTP/1.1\r\nHost: x\r\n"
		if i >= floodSlow {
			head = "POST /webhooks/mercadopago HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
		}
		if _, err := c.Write([]byte(head)); err == nil {
			slow = append(slow, c)
		}
	}
	rep.Idle, rep.Slow, rep.Body = len(idle), floodSlow, floodBody
	for range floodSSE {
		c := dial("127.0.0.2")
		if c == nil {
			continue
		}
		fmt.Fprintf(c, "GET /display/POS1/events HTTP/1.1\r\nHost: x\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		switch {
		case strings.Contains(line, " 200 "):
			rep.SSEOpen++
			idle = append(idle, c) // held open, never read again
		case strings.Contains(line, " 503 "):
			rep.SSERefused++
			c.Close()
		default:
			c.Close()
		}
	}
	b, _ := json.Marshal(rep)
	fmt.Fprintf(out, "ready %s\n", b)
	// Keep the slow connections dribbling until told to stop.
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			cmds <- sc.Text()
		}
		close(cmds)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(stop) {
		select {
		case cmd, ok := <-cmds:
			if !ok {
				return nil
			}
			if cmd == "report" {
				rep.ClosedByServer = closedByServer(append(idle, slow...))
				b, _ := json.Marshal(rep)
				fmt.Fprintf(out, "closed %s\n", b)
			}
		case <-tick.C:
			for _, c := range slow {
				_, _ = c.Write([]byte("x"))
			}
		}
	}
	return nil
}

// closedByServer counts the connections the server has closed: reading
// them ends at once instead of timing out.
func closedByServer(conns []net.Conn) int {
	n := 0
	buf := make([]byte, 4096)
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		for {
			_, err := c.Read(buf)
			if err == nil {
				continue // an event or an error answer: read on
			}
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				n++
			}
			break
		}
	}
	return n
}

// lowerFileLimit sets the process's soft RLIMIT_NOFILE to n for the test
// (as a small LimitNOFILE would), if it is higher.
func lowerFileLimit(t *testing.T, n uint64) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Skip("no RLIMIT_NOFILE here:", err)
	}
	if r.Cur <= n {
		return
	}
	orig := r
	r.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
}

// TestAttackHTTPFlood: idle, slowloris, slow-body and stream floods from
// another process cannot take the file descriptors NATS needs nor lock
// out a fresh client.
func TestAttackHTTPFlood(t *testing.T) {
	lowerFileLimit(t, floodNOFILE)
	h := newHarness(t, withWebhookSecret(testWebhookSecret), withConfig(func(c *config.Config) {
		c.POS[0].Displays = []config.Display{{Type: "web", ECC: "M"}}
	}))
	capacity := h.agent.httpConns.max
	if want := httpConnCap(openFileLimit()); capacity != want || want >= floodIdle {
		t.Fatalf("connection cap %d, want %d (below the flood's %d)", capacity, want, floodIdle)
	}
	attacker := startFlooder(t, h.agent.HTTPAddr())
	ready := attacker.read(t, "ready")
	if ready.DialErrors != 0 || ready.SSEOpen != httpMaxStreamsPerPeer || ready.SSERefused != floodSSE-httpMaxStreamsPerPeer {
		t.Fatalf("flood %+v: want no dial error and %d streams for one address", ready, httpMaxStreamsPerPeer)
	}

	// During the flood.
	legitimateUse(t, h, "flood-during")
	if n := h.agent.httpConns.open(); n > capacity {
		t.Fatalf("%d HTTP connections open, cap %d", n, capacity)
	}
	closed := attacker.read(t, "closed")
	if evicted := floodIdle + floodSlow - capacity; closed.ClosedByServer < evicted {
		t.Fatalf("the server closed %d attack connections, want at least %d (over the cap)", closed.ClosedByServer, evicted)
	}

	// After it.
	attacker.stop(t)
	legitimateUse(t, h, "flood-after")
}

// legitimateUse is what registers, kiosks and store IT do, each from a
// fresh connection: all of it must work.
func legitimateUse(t *testing.T, h *harness, saleID string) {
	t.Helper()
	fresh := &http.Client{Timeout: wait, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, path := range []string{"/healthz", "/metrics", "/status.json", "/", "/display/POS1"} {
		resp, err := fresh.Get("http://" + h.agent.HTTPAddr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/display/POS1/events", "/status/events"} {
		s := openSSE(t, "http://"+h.agent.HTTPAddr()+path)
		if name, _ := s.next(t); name != "screen" && name != "snapshot" {
			t.Fatalf("%s: first event %q", path, name)
		}
		s.resp.Body.Close()
	}
	// New registers connect (twenty of them), ask for status, and sell.
	for i := range 20 {
		nc, err := nats.Connect(h.agent.NATSURL(), nats.Timeout(wait))
		if err != nil {
			t.Fatalf("register %d cannot connect to NATS: %v", i, err)
		}
		if _, err := nc.Request("pos.S1.POS1.status", nil, wait); err != nil {
			t.Fatalf("register %d: status: %v", i, err)
		}
		defer nc.Close()
	}
	h.send("POS3", "sale", `{"sale_id":"`+saleID+`","total_amount":"2.00"}`)
	h.waitSale(saleID, "created")
}

// flooder is the attacker process.
type flooder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	done  chan error
}

func startFlooder(t *testing.T, addr string) *flooder {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^TestHTTPFlooder$", "-test.v"}
	if emu := userEmulator(); emu != "" {
		args = append([]string{emu}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "POSAGENT_TEST_FLOOD_ADDR="+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.ENOEXEC) {
			// A test binary for another CPU run by qemu-user, with no
			// emulator found for it in PATH: the flood needs a second
			// process, so it runs on the machine's own CPU (CI's race step).
			t.Skipf("the test binary cannot re-execute itself here (emulated CPU, no qemu-user in PATH?): %v", err)
		}
		t.Fatal(err)
	}
	f := &flooder{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout), done: make(chan error, 1)}
	t.Cleanup(func() { f.stop(t) })
	return f
}

// userEmulator returns the qemu-user program to start this test binary
// with when it cannot start itself: a binary for another CPU, run by
// qemu-user (go test -exec qemu-arm-static), whose kernel has no binfmt
// entry for it. It returns "" when the binary runs by itself.
func userEmulator() string {
	if err := exec.Command(os.Args[0], "-test.run=^$").Run(); !errors.Is(err, syscall.ENOEXEC) {
		return ""
	}
	name := map[string]string{"arm": "arm", "arm64": "aarch64", "riscv64": "riscv64", "386": "i386"}[runtime.GOARCH]
	for _, p := range []string{"qemu-" + name + "-static", "qemu-" + name} {
		if path, err := exec.LookPath(p); name != "" && err == nil {
			return path
		}
	}
	return ""
}

// read waits for the attacker's line starting with word (it ends by
// itself within floodMaxRun, so the scan cannot hang for ever).
func (f *flooder) read(t *testing.T, word string) floodReport {
	t.Helper()
	if word == "closed" {
		fmt.Fprintln(f.stdin, "report")
	}
	for f.out.Scan() {
		rest, ok := strings.CutPrefix(f.out.Text(), word+" ")
		if !ok {
			continue
		}
		var r floodReport
		if err := json.Unmarshal([]byte(rest), &r); err != nil {
			t.Fatal(err)
		}
		t.Logf("attacker %s: %+v", word, r)
		return r
	}
	t.Fatalf("the attacker ended before %q: %v", word, f.out.Err())
	return floodReport{}
}

// stop closes the attacker's stdin (it exits, closing its connections)
// and waits for it; the process is killed if it has not ended in time.
func (f *flooder) stop(t *testing.T) {
	if f.stdin == nil {
		return
	}
	f.stdin.Close()
	f.stdin = nil
	go func() { f.done <- f.cmd.Wait() }()
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("attacker process: %v", err)
		}
	case <-time.After(wait):
		_ = f.cmd.Process.Kill()
		t.Error("attacker process did not stop")
	}
}
