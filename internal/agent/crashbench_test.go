//go:build crashbench

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
)

// TestCrashRecoveryKills measures crash recovery as BENCHMARKS.md reports
// it: the posagent binary is killed with SIGKILL while a sale's create is
// in hand (held at the API), started again, and the time from its "ready"
// to the sale's created event is taken, 20 times.
//
//	go test -tags crashbench -run CrashRecoveryKills -v -timeout 20m ./internal/agent
func TestCrashRecoveryKills(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "posagent")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/posagent").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ns := runNATS(t, filepath.Join(dir, "nats"))
	defer ns.Shutdown()
	sim := qrordertest.New(qrordertest.Options{POS: []string{"POS1"}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	cfg := filepath.Join(dir, "posagent.yaml")
	yaml := fmt.Sprintf(`store_id: S1
mercadopago: {base_url: "http://%s", access_token_file: "", request_timeout: 60s, retry_budget: 60s, poll_interval: 1s}
nats: {url: %q}
http: {listen: "127.0.0.1:0"}
state_dir: %q
pos:
  - external_pos_id: POS1
`, ln.Addr(), ns.ClientURL(), filepath.Join(dir, "state"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rc, err := register.New(nc, "pos", "S1")
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan string, 100)
	if _, err := nc.Subscribe("pos.S1.POS1.evt.created", func(m *nats.Msg) {
		var ev struct {
			SaleID string `json:"sale_id"`
		}
		_ = json.Unmarshal(m.Data, &ev)
		created <- ev.SaleID
	}); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, chan struct{}) {
		cmd := exec.Command(bin, "run", "-config", cfg)
		cmd.Env = append(os.Environ(), "POSAGENT_MP_ACCESS_TOKEN="+qrordertest.DefaultToken)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			once := false
			for sc.Scan() {
				if !once && strings.Contains(sc.Text(), "posagent ready") {
					once = true
					close(ready)
				}
			}
		}()
		return cmd, ready
	}
	waitFor := func(ch <-chan struct{}, what string) {
		select {
		case <-ch:
		case <-time.After(60 * time.Second):
			t.Fatalf("no %s within 60s", what)
		}
	}
	var took []time.Duration
	cmd, ready := start()
	waitFor(ready, "ready")
	for i := range 20 {
		gate := make(chan struct{})
		sim.Inject(qrordertest.EndpointCreate, qrordertest.Fault{Hold: gate})
		saleID := fmt.Sprintf("k%02d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := rc.Send(ctx, "POS1", "sale", []byte(`{"sale_id":"`+saleID+`","total_amount":"1.00"}`)); err != nil {
			t.Fatal(err)
		}
		if err := sim.Wait(ctx, func() bool { return createsOf(sim, saleID) > 0 }); err != nil {
			t.Fatal(err)
		}
		cancel()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		close(gate)
		cmd, ready = start()
		waitFor(ready, "ready")
		at := time.Now()
		for got := ""; got != saleID; {
			select {
			case got = <-created:
			case <-time.After(60 * time.Second):
				t.Fatalf("no created for %s within 60s", saleID)
			}
		}
		took = append(took, time.Since(at))
		t.Logf("kill %2d: created %v after ready", i+1, took[i].Round(time.Millisecond))
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	slices.Sort(took)
	t.Logf("20 kills: median %v, worst %v, best %v", ((took[9] + took[10]) / 2).Round(time.Millisecond),
		took[19].Round(time.Millisecond), took[0].Round(time.Millisecond))
}

// createsOf counts the create requests of saleID (its external_reference).
func createsOf(sim *qrordertest.Simulator, saleID string) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Method == "POST" && r.Path == "/v1/orders" && strings.Contains(string(r.Body), `"external_reference":"`+saleID+`"`) {
			n++
		}
	}
	return n
}
