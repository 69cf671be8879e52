package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// simulatorToken is the token `posagent simulate` accepts by default.
const simulatorToken = "TEST-posagent-simulator"

// startLimit bounds every wait for a child to come up.
const startLimit = 60 * time.Second

// natsMode says where the agent's NATS runs.
type natsMode string

const (
	embedded natsMode = "embedded"
	external natsMode = "external"
)

// startSimulator serves the Orders API simulator as a child process.
func (d *driver) startSimulator(ctx context.Context, bin, dir string) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c, err := startChild("simulator", dir, bin, []string{"simulate", "-listen", addr}, nil)
	if err != nil {
		return nil, "", err
	}
	if err := c.waitLine(ctx, "Orders API simulator on", startLimit); err != nil {
		c.kill()
		return nil, "", err
	}
	return c, "http://" + addr, nil
}

// startNATS runs an external nats-server with JetStream, syncing every
// write as the embedded server does by default.
func (d *driver) startNATS(ctx context.Context, bin, dir string) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	conf := filepath.Join(dir, "nats-server.conf")
	text := fmt.Sprintf("listen: 127.0.0.1:%d\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", port, filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, "", err
	}
	c, err := startChild("nats-server", dir, bin, []string{"-c", conf}, nil)
	if err != nil {
		return nil, "", err
	}
	if err := c.waitLine(ctx, "Server is ready", startLimit); err != nil {
		c.kill()
		return nil, "", err
	}
	return c, fmt.Sprintf("nats://127.0.0.1:%d", port), nil
}

// agentFiles is where a generated config puts things.
type agentFiles struct {
	config      string // the config file
	registerURL string // NATS, for the registers
	httpAddr    string // http.listen (health, metrics)
}

// agentConfig writes a config for pos POS in dir (also the state
// directory). natsURL "" means the embedded server.
func agentConfig(dir, simURL, natsURL string, pos int) (agentFiles, error) {
	return storeConfig(dir, simURL, natsURL, pos, false)
}

// storeConfig is agentConfig, with devices: every POS then also has a
// PNG display (800x480, the default size) and a file printer (epson
// profile, native QR), as in a store, both under dir.
func storeConfig(dir, simURL, natsURL string, pos int, devices bool) (agentFiles, error) {
	natsPort, err := freePort()
	if err != nil {
		return agentFiles{}, err
	}
	httpPort, err := freePort()
	if err != nil {
		return agentFiles{}, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "store_id: %s\nstore_name: benchdriver\n", storeID)
	fmt.Fprintf(&b, "mercadopago:\n  base_url: %s\n  access_token_file: \"\"\n", simURL)
	fmt.Fprintf(&b, "nats:\n  url: %q\n  subject_prefix: %s\n", natsURL, subjectPrefix)
	fmt.Fprintf(&b, "  embedded:\n    listen: 127.0.0.1:%d\n    store_dir: %s\n    sync: always\n", natsPort, filepath.Join(dir, "nats"))
	fmt.Fprintf(&b, "http:\n  listen: 127.0.0.1:%d\nstate_dir: %s\npos:\n", httpPort, dir)
	for i := range pos {
		fmt.Fprintf(&b, "  - external_pos_id: %s\n", posID(i))
		if devices {
			fmt.Fprintf(&b, "    displays:\n      - type: png\n        path: %s\n", filepath.Join(dir, "qr-"+posID(i)+".png"))
			fmt.Fprintf(&b, "    printer:\n      transport: file\n      device: %s\n", filepath.Join(dir, "receipts-"+posID(i)+".bin"))
		}
	}
	f := agentFiles{config: filepath.Join(dir, "posagent.yaml"), registerURL: natsURL, httpAddr: fmt.Sprintf("127.0.0.1:%d", httpPort)}
	if err := os.WriteFile(f.config, []byte(b.String()), 0o644); err != nil {
		return agentFiles{}, err
	}
	if f.registerURL == "" {
		f.registerURL = fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	}
	return f, nil
}

// heapInUse reads go_memstats_heap_inuse_bytes from the agent's /metrics:
// the Go heap that holds objects, as opposed to memory the runtime has not
// yet given back to the kernel (which still counts in RSS).
func heapInUse(ctx context.Context, httpAddr string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f) / 1024, err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("GET /metrics on %s: no go_memstats_heap_inuse_bytes", httpAddr)
}

// startAgent runs `posagent run` and returns once it reported READY=1 on
// a fake systemd socket, with the time from starting the process to then.
func (d *driver) startAgent(name, bin, dir, cfg string) (*child, time.Duration, error) {
	ns, err := listenNotify(filepath.Join(dir, "notify.sock"))
	if err != nil {
		return nil, 0, err
	}
	defer ns.close()
	env := append([]string{"POSAGENT_MP_ACCESS_TOKEN=" + simulatorToken, "NOTIFY_SOCKET=" + ns.path}, d.agentEnv...)
	args := []string{"run", "-config", cfg}
	if d.agentWrap != "" { // qemu-arm BINARY run ...
		args, bin = append([]string{bin}, args...), d.agentWrap
	}
	start := time.Now()
	c, err := startChild(name, dir, bin, args, env)
	if err != nil {
		return nil, 0, err
	}
	at, err := ns.waitReady(c, startLimit)
	if err != nil {
		c.kill()
		return nil, 0, err
	}
	return c, at.Sub(start), nil
}
