package agent

// Attacks across stores (README "Security", docs/fleet.md): two stores
// linked to one hub, on the default and the hardened configuration. A
// client of one store tries to list, read and purge the other's streams
// and sale records through the hub; so do a client with every right on
// the first store and a client of the hub itself. Each attempt is one
// request on loopback, bounded by a short timeout that only a refusal
// runs into; head office's event sourcing and `posagent fleet` keep
// working.

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	"github.com/posagent/posagent/internal/secret"
)

// leafStore is one store's agent linked to the hub, with its register.
type leafStore struct {
	h *harness // only its agent, config, register and events are used
}

// startLeafStore runs configs/store-leaf.yaml as store id, linked straight
// to the hub's leaf listener with the store's certificate.
func startLeafStore(t *testing.T, id, hubLeaf, cert, key, ca string, hardened bool) *leafStore {
	t.Helper()
	cfg, err := config.Load("../../configs/store-leaf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sim := qrordertest.NewServer(t, qrordertest.Options{})
	cfg.StoreID, cfg.NATS.Embedded.Domain = id, id
	cfg.MercadoPago.BaseURL = sim.URL()
	cfg.MercadoPago.PollInterval = 100 * time.Millisecond
	cfg.StateDir = t.TempDir()
	cfg.NATS.Embedded.StoreDir = filepath.Join(cfg.StateDir, "nats")
	cfg.NATS.Embedded.Listen = "127.0.0.1:0"
	cfg.NATS.Embedded.Sync = "1s"
	cfg.NATS.Embedded.Leaf.URLs = []string{"tls://" + hubLeaf}
	cfg.NATS.Embedded.Leaf.TLS = config.NATSTLS{CAFile: ca, CertFile: cert, KeyFile: key}
	if hardened {
		pw := filepath.Join(cfg.StateDir, "register-pw")
		if err := os.WriteFile(pw, []byte("pw-"+id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.NATS.Embedded.Auth = config.EmbeddedAuth{User: "register", PasswordFile: pw}
	}
	for i := range cfg.POS {
		cfg.POS[i].Displays = nil
	}
	if probs := cfg.Validate(); len(probs) > 0 {
		t.Fatal(probs)
	}
	h := &harness{t: t, sim: sim, cfg: cfg, token: qrordertest.DefaultToken, logBuf: &syncBuffer{}, noRegister: true}
	h.evCond = sync.NewCond(&h.evMu)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: cfg, Token: secret.New(h.token), HTTPListener: ln, Backoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(h.logBuf, nil)), ShutdownGrace: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	h.agent, h.cancel, h.errc = a, cancel, errc
	t.Cleanup(h.stop)
	select {
	case <-a.Ready():
	case err := <-errc:
		t.Fatalf("store %s: %v\n%s", id, err, h.logBuf)
	case <-time.After(wait):
		t.Fatalf("store %s not ready", id)
	}
	useRegister(t, h, attackConn(t, h, nil))
	return &leafStore{h: h}
}

func (s *leafStore) sale(t *testing.T, saleID string) {
	t.Helper()
	s.h.send(s.h.cfg.POS[0].ExternalPOSID, "sale", `{"sale_id":"`+saleID+`","total_amount":"3.00"}`)
	s.h.waitSale(saleID, "created")
}

func (s *leafStore) eventsStored(t *testing.T) uint64 {
	t.Helper()
	js, err := jetstream.New(s.h.nc)
	if err != nil {
		t.Fatal(err)
	}
	return streamLen(js, "POS_EVT")
}

// refusedRequests sends every request at once and fails the test for any
// that gets an answer: a refused one finds no responder, or no answer
// within the timeout.
func refusedRequests(t *testing.T, who string, nc *nats.Conn, subjects []string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range subjects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := nc.Request(s, []byte(`{}`), 3*time.Second)
			if err == nil {
				t.Errorf("%s: %s answered: %s", who, s, m.Data)
			} else if !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) {
				t.Errorf("%s: %s: unexpected %v", who, s, err)
			}
		}()
	}
	wg.Wait()
}

// TestAttackAcrossStores: S001 and S002 linked to the hub of
// configs/hub.conf, their events sourced by configs/hub-stream.json.
func TestAttackAcrossStores(t *testing.T) {
	for _, hardened := range []bool{false, true} {
		name := map[bool]string{false: "default", true: "hardened"}[hardened]
		t.Run(name, func(t *testing.T) { acrossStores(t, hardened) })
	}
}

func acrossStores(t *testing.T, hardened bool) {
	pki := newTestPKI(t)
	hub := startHub(t, pki)
	s1 := startLeafStore(t, "S001", hub.leafAddr(), pki.leafCert, pki.leafKey, pki.ca, hardened)
	s2 := startLeafStore(t, "S002", hub.leafAddr(), pki.leafCert2, pki.leafKey2, pki.ca, hardened)
	waitUntil(t, "both leaf links up", func() bool { return hub.ns.NumLeafNodes() == 2 })

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
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*wait)
	defer cancel()
	if _, err := hubJS.CreateStream(ctx, hubStream); err != nil {
		t.Fatal(err)
	}
	s1.sale(t, "a1")
	s2.sale(t, "b1")
	waitUntil(t, "both stores' events at the hub", func() bool { return streamLen(hubJS, "POS_EVT_HUB") == 2 })
	s2Events := s2.eventsStored(t)

	// A register of S001: its role has no subject of another store, so
	// the server refuses before anything leaves the store.
	ref := newRefusals()
	reg := attackConn(t, s1.h, ref)
	for _, s := range []string{
		"$JS.S002.API.STREAM.NAMES", "$JS.S002.API.STREAM.LIST", "$JS.S002.API.STREAM.PURGE.POS_EVT",
		"$JS.S002.API.STREAM.INFO.KV_posagent_S002", "$JS.S002.API.DIRECT.GET.KV_posagent_S002",
		"$JS.S002.API.CONSUMER.CREATE.KV_posagent_S002", "$KV.posagent_S002.x", "pos.S002.STORE001POS001.cmd.sale",
	} {
		if err := reg.Publish(s, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		ref.wait(t, "publish", s)
	}
	// Nor does discovery from a store reach the other store's agent.
	sum, err := fleet.Collect(ctx, reg, fleet.Options{Timeout: 3 * time.Second, Quiet: -1, Expect: 2}, func(fleet.Row) {})
	if err != nil || sum.Agents != 1 {
		t.Fatalf("discovery from S001's register: %+v %v", sum, err)
	}

	// A register's wildcard inbox subscription crosses to the hub as
	// interest; the hub must not answer it with other stores' replies.
	spy, err := reg.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Flush(); err != nil {
		t.Fatal(err)
	}
	// Interest crosses the link in order: once the hub has a later
	// subscription of S001, it has had (and accepted or refused) this one.
	barrier, err := s1.h.agentConn().SubscribeSync("posagent.test.barrier")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = barrier.Unsubscribe() }()
	waitUntil(t, "the hub has S001's later interest", func() bool { return leafInterest(hub, "S001", "posagent.test.barrier") })
	if err := hnc.Publish("_INBOX.spy", []byte("meant for head office")); err != nil {
		t.Fatal(err)
	}
	// The status request travels the same link after it, and the flush
	// after its answer comes after anything delivered to the spy before.
	if _, err := hnc.Request("pos.S001."+s1.h.cfg.POS[0].ExternalPOSID+".status", nil, wait); err != nil {
		t.Fatal(err)
	}
	if err := reg.Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := spy.NextMsg(0)
		if err != nil {
			break
		}
		if m.Subject == "_INBOX.spy" {
			t.Fatalf("a store's register heard the hub's replies: %s", m.Data)
		}
	}

	// The leaf link itself, from both ends: a client with every right on
	// S001 (the store's link does not export it), and a client of the
	// hub (S002's link does not import it).
	targets := []string{
		"$JS.S002.API.STREAM.NAMES", "$JS.S002.API.STREAM.LIST", "$JS.S002.API.INFO",
		"$JS.S002.API.STREAM.PURGE.POS_EVT", "$JS.S002.API.STREAM.DELETE.POS_EVT",
		"$JS.S002.API.STREAM.INFO.KV_posagent_S002", "$JS.S002.API.STREAM.MSG.GET.KV_posagent_S002",
		"$JS.S002.API.DIRECT.GET.KV_posagent_S002.$KV.posagent_S002.>",
		"$JS.S002.API.CONSUMER.CREATE.KV_posagent_S002", "$JS.S002.API.CONSUMER.DELETE.POS_CMD.posagent_S002_STORE001POS001",
		"$JS.S002.API.CONSUMER.LIST.POS_CMD",
	}
	refusedRequests(t, "S001 agent rights", s1.h.agentConn(), targets)
	refusedRequests(t, "hub client", hnc, targets)
	if err := hnc.Publish("$KV.posagent_S002.forged", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	// S002 is intact and keeps selling; the hub keeps sourcing both and
	// finds both agents and their POS.
	if n := s2.eventsStored(t); n != s2Events {
		t.Fatalf("S002's events stream has %d events, had %d", n, s2Events)
	}
	s2.sale(t, "b2")
	s1.sale(t, "a2")
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		st, err := hubJS.Stream(context.Background(), "POS_EVT_HUB")
		if err != nil {
			t.Log(err)
			return
		}
		info, _ := st.Info(context.Background())
		b, _ := json.Marshal(info)
		t.Logf("hub stream: %s", b)
	})
	// Each second sale also ends the first one (canceled): every event
	// of both stores reaches the hub. The register hears an event as the
	// agent publishes it, maybe before the store's stream has stored it:
	// counted once stored (the canceled event is stored before the new
	// sale's created is published).
	eventStored(t, s1.h.nc, "a2", "created")
	eventStored(t, s2.h.nc, "b2", "created")
	stored := map[string]int{}
	for _, s := range []*leafStore{s1, s2} {
		js, err := jetstream.New(s.h.nc)
		if err != nil {
			t.Fatal(err)
		}
		for id, n := range msgIDs(t, js, "POS_EVT") {
			stored[id] += n
		}
	}
	waitUntil(t, "new events at the hub", func() bool { return streamLen(hubJS, "POS_EVT_HUB") >= uint64(len(stored)) })
	atHub := msgIDs(t, hubJS, "POS_EVT_HUB")
	for id, n := range stored {
		if n != 1 || atHub[id] != 1 {
			t.Errorf("event %s: %d at the stores, %d at the hub", id, n, atHub[id])
		}
	}
	if len(atHub) != len(stored) {
		t.Errorf("the hub has %d events, the stores %d: %v", len(atHub), len(stored), atHub)
	}
	sum, err = fleet.Collect(ctx, hnc, fleet.Options{Timeout: wait, Quiet: -1, Expect: 2}, func(fleet.Row) {})
	if err != nil || sum.Agents != 2 || sum.POS != 4 || sum.Failed != 0 {
		t.Fatalf("fleet from the hub: %+v %v", sum, err)
	}
	// The forged record went out on the hub connection before the
	// discovery requests that S002 answered: it would be there by now.
	kv, err := jetstream.New(s2.h.agentConn())
	if err != nil {
		t.Fatal(err)
	}
	if bucket, err := kv.KeyValue(ctx, "posagent_S002"); err != nil {
		t.Fatal(err)
	} else if _, err := bucket.Get(ctx, "forged"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("a hub client wrote S002's sale records: %v", err)
	}
}

// leafInterest reports whether the hub's leaf connection from store has
// a subscription on subject.
func leafInterest(h *hubServer, store, subject string) bool {
	lz, err := h.ns.Leafz(&server.LeafzOptions{Subscriptions: true})
	if err != nil {
		return false
	}
	for _, l := range lz.Leafs {
		for _, s := range l.Subs {
			if s == subject && strings.Contains(l.Name, store) {
				return true
			}
		}
	}
	return false
}
