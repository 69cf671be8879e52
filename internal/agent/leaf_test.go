package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/fleet"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/register"
	"github.com/posagent/posagent/internal/secret"
)

// testPKI writes a CA and, signed by it, a server certificate for
// 127.0.0.1 (the hub) and a client certificate (the store's leaf link).
// leafCert2 and leafKey2 are a second store's (S002).
type testPKI struct{ ca, hubCert, hubKey, leafCert, leafKey, leafCert2, leafKey2 string }

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posagent test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(cn+"-cert.pem", "CERTIFICATE", der), write(cn+"-key.pem", "PRIVATE KEY", pk)
	}
	p := testPKI{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.hubCert, p.hubKey = issue(2, "hub", x509.ExtKeyUsageServerAuth)
	// The store's certificate names it as configs/hub.conf expects.
	p.leafCert, p.leafKey = issue(3, "S001", x509.ExtKeyUsageClientAuth)
	p.leafCert2, p.leafKey2 = issue(4, "S002", x509.ExtKeyUsageClientAuth)
	return p
}

// hubServer runs configs/hub.conf with its certificate paths pointing at
// a test PKI, its JetStream in a temporary directory, and random ports.
type hubServer struct {
	t  *testing.T
	ns *server.Server
}

func startHub(t *testing.T, pki testPKI) *hubServer {
	t.Helper()
	raw, err := os.ReadFile("../../configs/hub.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("/etc/nats/hub-cert.pem", pki.hubCert, "/etc/nats/hub-key.pem", pki.hubKey,
		"/etc/nats/stores-ca.pem", pki.ca).Replace(string(raw))
	conf := filepath.Join(t.TempDir(), "hub.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HUB_OPS_PASSWORD", "ops-secret")
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("configs/hub.conf: %v", err)
	}
	stores := 0
	for _, u := range opts.Users {
		if _, leafOnly := u.AllowedConnectionTypes["LEAFNODE"]; leafOnly && len(u.AllowedConnectionTypes) == 1 && u.Permissions != nil {
			stores++
		}
	}
	if opts.JetStreamDomain != "hub" || opts.LeafNode.TLSConfig == nil || !opts.LeafNode.TLSMap || stores != 2 {
		t.Fatalf("configs/hub.conf: domain %q, leaf TLS %v, %d stores with leaf-only users and link permissions", opts.JetStreamDomain,
			opts.LeafNode.TLSConfig != nil, stores)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.LeafNode.Host, opts.LeafNode.Port = "127.0.0.1", -1
	// A reservation for the hub stream's max_bytes, not disk used.
	opts.StoreDir, opts.JetStreamMaxStore = t.TempDir(), 16<<30
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(wait) {
		t.Fatal("hub not ready")
	}
	return &hubServer{t: t, ns: ns}
}

func (h *hubServer) leafAddr() string {
	h.t.Helper()
	v, err := h.ns.Varz(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(v.LeafNode.Port))
}

func (h *hubServer) connect() *nats.Conn {
	h.t.Helper()
	nc, err := nats.Connect(h.ns.ClientURL(), nats.UserInfo("ops", "ops-secret"), nats.CustomInboxPrefix(fleet.HubInboxPrefix))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	return nc
}

// linkProxy stands for the store's internet link: it forwards the leaf
// connection to the hub while up; cut drops it, and while down every new
// connection is closed at once. The listener stays open throughout, so
// its port cannot be taken by anything else between outages.
type linkProxy struct {
	t    *testing.T
	addr string // where the store connects; the same across outages
	ln   net.Listener

	mu    sync.Mutex
	to    string // "" while down
	conns []net.Conn
}

func newLinkProxy(t *testing.T) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{t: t, addr: ln.Addr().String(), ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *linkProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		to := p.to
		p.mu.Unlock()
		if to == "" {
			c.Close() // the link is down
			continue
		}
		h, err := net.Dial("tcp", to)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.to != to { // cut while dialing
			p.mu.Unlock()
			c.Close()
			h.Close()
			continue
		}
		p.conns = append(p.conns, c, h)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(h, c); h.Close() }()
		go func() { _, _ = io.Copy(c, h); c.Close() }()
	}
}

// up starts forwarding to the hub's leaf node listener.
func (p *linkProxy) up(to string) {
	p.mu.Lock()
	p.to = to
	p.mu.Unlock()
}

func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.to = ""
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// waitUntil checks cond until it holds. Server state such as a leaf link
// has no notification to wait on, so it is looked at again every 20 ms;
// the deadline only bounds a failing test (it is long: after an outage
// longer than 10 s nats-server may take up to a minute to resume sourcing).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, 3*wait)
		}
		<-tick.C
	}
}

// msgIDs reads every message of a stream and counts them by Nats-Msg-Id.
func msgIDs(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, m := range readMessages(t, js, stream) {
		ids[m.Headers().Get(jetstream.MsgIDHeader)]++
	}
	return ids
}

func streamLen(js jetstream.JetStream, stream string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// TestStoreLeafOfHub runs the example configurations: a store agent
// (configs/store-leaf.yaml) whose embedded server is a leaf node of a hub
// (configs/hub.conf) that sources the store's events
// (configs/hub-stream.json). The store sells before the hub exists and
// while its link is down; the events reach the hub once it is up, each
// exactly once; head office lists the store's POS through the link; no
// register traffic crosses it.
func TestStoreLeafOfHub(t *testing.T) {
	pki := newTestPKI(t)
	link := newLinkProxy(t)

	cfg, err := config.Load("../../configs/store-leaf.yaml")
	if err != nil {
		t.Fatalf("configs/store-leaf.yaml: %v", err)
	}
	if cfg.NATS.Embedded.Domain != "S001" || len(cfg.NATS.Embedded.Leaf.URLs) != 2 {
		t.Fatalf("example: domain %q, leaf %+v", cfg.NATS.Embedded.Domain, cfg.NATS.Embedded.Leaf)
	}
	sim := qrordertest.NewServer(t, qrordertest.Options{})
	cfg.MercadoPago.BaseURL = sim.URL()
	cfg.MercadoPago.PollInterval = 100 * time.Millisecond
	cfg.StateDir = t.TempDir()
	cfg.NATS.Embedded.StoreDir = filepath.Join(cfg.StateDir, "nats")
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.NATS.Embedded.Sync = "1s"
	cfg.NATS.Embedded.Leaf.URLs = []string{"tls://" + link.addr}
	cfg.NATS.Embedded.Leaf.TLS = config.NATSTLS{CAFile: pki.ca, CertFile: pki.leafCert, KeyFile: pki.leafKey}
	for i := range cfg.POS {
		cfg.POS[i].Displays = nil
	}
	if probs := cfg.Validate(); len(probs) > 0 {
		t.Fatal(probs)
	}

	// The store starts with no hub to link to.
	logs := &syncBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Token: secret.New(qrordertest.DefaultToken), HTTPListener: ln, Backoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), ShutdownGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	select {
	case <-a.Ready():
	case err := <-errc:
		t.Fatalf("agent: %v\n%s", err, logs)
	case <-time.After(wait):
		t.Fatal("agent not ready")
	}
	if a.hubLink() != "disconnected" {
		t.Fatalf("hub link %q with no hub", a.hubLink())
	}

	// The register at the store.
	nc, err := nats.Connect(a.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	storeJS, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := register.New(nc, "pos", "S001")
	if err != nil {
		t.Fatal(err)
	}
	evs, stopWatch, err := rc.Watch("*")
	if err != nil {
		t.Fatal(err)
	}
	defer stopWatch()
	var seen []register.Received
	waitEv := func(saleID, status string) register.Received {
		t.Helper()
		deadline := time.After(wait)
		for {
			for _, r := range seen {
				if r.Event.SaleID == saleID && r.Event.Status == status {
					return r
				}
			}
			select {
			case r := <-evs:
				seen = append(seen, r)
			case <-deadline:
				t.Fatalf("no %s %s event\n%s", saleID, status, logs)
			}
		}
	}
	send := func(verb, payload string) {
		t.Helper()
		sctx, scancel := context.WithTimeout(context.Background(), wait)
		defer scancel()
		if _, err := rc.Send(sctx, "STORE001POS001", verb, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	sale := func(id string, pay bool) {
		t.Helper()
		send("sale", `{"sale_id":"`+id+`","total_amount":"10.00"}`)
		created := waitEv(id, "created")
		if pay {
			if err := sim.Pay(created.Event.OrderID); err != nil {
				t.Fatal(err)
			}
			waitEv(id, "processed")
			return
		}
		send("cancel", `{"sale_id":"`+id+`"}`)
		waitEv(id, "canceled")
	}
	hubEvents := func(js jetstream.JetStream) uint64 { return streamLen(js, "POS_EVT_HUB") }

	// 1. No hub yet: the store sells.
	sale("before-hub", true)

	// 2. The hub comes up with its stream; the link follows and the hub
	// sources the events made before it existed.
	hub := startHub(t, pki)
	link.up(hub.leafAddr())
	waitUntil(t, "leaf link up", func() bool { return hub.ns.NumLeafNodes() == 1 && a.hubLink() == "connected" })
	hnc := hub.connect()
	hubJS, err := jetstream.New(hnc)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../configs/hub-stream.json")
	if err != nil {
		t.Fatal(err)
	}
	var hubStream jetstream.StreamConfig
	if err := json.Unmarshal(raw, &hubStream); err != nil {
		t.Fatalf("configs/hub-stream.json: %v", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), wait)
	defer scancel()
	if _, err := hubJS.CreateStream(sctx, hubStream); err != nil {
		t.Fatalf("creating the hub stream from configs/hub-stream.json: %v", err)
	}
	waitUntil(t, "first events at the hub", func() bool { return hubEvents(hubJS) == 2 })

	// Head office finds the store's agent and POS through the link.
	var rows []fleet.Row
	sum, err := fleet.Collect(sctx, hnc, fleet.Options{Timeout: wait, Quiet: -1, Expect: 1}, func(r fleet.Row) { rows = append(rows, r) })
	if err != nil || sum.Agents != 1 || sum.POS != 2 || sum.Failed != 0 || rows[0].Agent.StoreID != "S001" {
		t.Fatalf("fleet from the hub: %+v %v %+v", sum, err, rows)
	}

	// 3. The link goes down; the store keeps selling.
	link.cut()
	waitUntil(t, "leaf link down", func() bool { return a.hubLink() == "disconnected" && hub.ns.NumLeafNodes() == 0 })
	sale("during-outage-1", true)
	sale("during-outage-2", false)
	send("sale", `{"sale_id":"bad!","total_amount":"1"}`) // a rejected event too
	waitEv("bad!", "rejected")
	if n := hubEvents(hubJS); n != 2 {
		t.Fatalf("the hub got events with the link down: %d", n)
	}

	// 4. The link is back: the hub catches up with everything, once.
	// Head office listens to the store's subjects meanwhile: nothing
	// reaches it but through the stream.
	hubSub, err := hnc.SubscribeSync("pos.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := hnc.Flush(); err != nil {
		t.Fatal(err)
	}
	link.up(hub.leafAddr())
	waitUntil(t, "leaf link back", func() bool { return hub.ns.NumLeafNodes() == 1 })
	sale("after-outage", true)
	// Heard by the register as published: counted once stored.
	eventStored(t, nc, "after-outage", "processed")
	stored := msgIDs(t, storeJS, "POS_EVT")
	if len(stored) != 9 { // 2 + 2 + created/canceled + rejected + 2
		t.Fatalf("store events %v", stored)
	}
	back := time.Now()
	waitUntil(t, "the hub caught up", func() bool { return hubEvents(hubJS) >= uint64(len(stored)) })
	t.Logf("the hub caught up %s after the link came back", time.Since(back).Round(time.Millisecond))
	atHub := msgIDs(t, hubJS, "POS_EVT_HUB")
	for id, n := range stored {
		if n != 1 || atHub[id] != 1 {
			t.Errorf("event %s: %d at the store, %d at the hub", id, n, atHub[id])
		}
	}
	if len(atHub) != len(stored) {
		t.Errorf("the hub has %d events, the store %d: %v", len(atHub), len(stored), atHub)
	}
	// Anything that crossed the link would have reached the subscriber
	// before the sourced copies: the flush makes sure it has arrived.
	if err := hnc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := hubSub.NextMsg(0); err == nil {
		t.Errorf("store traffic crossed the link: %s", m.Subject)
	}
}
