package embeddednats

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestLeafOptions(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	tests := []struct {
		name    string
		domain  string
		leaf    Leaf
		wantErr string
		check   func(t *testing.T, r *server.RemoteLeafOpts)
	}{
		{name: "plain", domain: "S001", leaf: Leaf{URLs: []string{"nats-leaf://hub:7422", "nats://hub2:7422"},
			DenyImports: []string{"a.>"}, DenyExports: []string{"b.>"}, CredsFile: "/etc/s.creds"},
			check: func(t *testing.T, r *server.RemoteLeafOpts) {
				if len(r.URLs) != 2 || r.URLs[1].Host != "hub2:7422" || r.TLS || r.Credentials != "/etc/s.creds" ||
					r.DenyImports[0] != "a.>" || r.DenyExports[0] != "b.>" {
					t.Errorf("%+v", r)
				}
			}},
		{name: "tls by scheme", domain: "S001", leaf: Leaf{URLs: []string{"tls://hub:7422"}},
			check: func(t *testing.T, r *server.RemoteLeafOpts) {
				if !r.TLS || r.TLSConfig == nil {
					t.Errorf("%+v", r)
				}
			}},
		{name: "ca trusts the hub", domain: "S001", leaf: Leaf{URLs: []string{"nats-leaf://hub:7422"}, CAFile: certFile, CertFile: certFile, KeyFile: keyFile},
			check: func(t *testing.T, r *server.RemoteLeafOpts) {
				if !r.TLS || r.TLSConfig.RootCAs == nil || len(r.TLSConfig.Certificates) != 1 {
					t.Errorf("TLS %v, roots %v, %d certs", r.TLS, r.TLSConfig.RootCAs != nil, len(r.TLSConfig.Certificates))
				}
			}},
		{name: "no domain", leaf: Leaf{URLs: []string{"tls://hub:7422"}}, wantErr: "domain: required with leaf"},
		{name: "bad domain", domain: "a.b", leaf: Leaf{URLs: []string{"tls://hub:7422"}}, wantErr: `domain "a.b"`},
		{name: "no urls", domain: "S001", wantErr: "leaf.urls: at least one"},
		{name: "http url", domain: "S001", leaf: Leaf{URLs: []string{"http://hub:7422"}}, wantErr: "leaf.urls[0]"},
		{name: "credentials in url", domain: "S001", leaf: Leaf{URLs: []string{"tls://u:secret@hub:7422"}}, wantErr: "must not hold credentials"},
		{name: "cert without key", domain: "S001", leaf: Leaf{URLs: []string{"tls://hub:7422"}, CertFile: certFile}, wantErr: "leaf.tls.key_file"},
		{name: "missing ca", domain: "S001", leaf: Leaf{URLs: []string{"tls://hub:7422"}, CAFile: "/nonexistent/ca.pem"}, wantErr: "leaf.tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.Domain = tt.domain
			l := tt.leaf
			o.Leaf = &l
			so, err := o.serverOptions()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("password echoed: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(so.LeafNode.Remotes) != 1 || so.JetStreamDomain != tt.domain {
				t.Fatalf("remotes %d, domain %q", len(so.LeafNode.Remotes), so.JetStreamDomain)
			}
			tt.check(t, so.LeafNode.Remotes[0])
		})
	}
	// Without Leaf nothing changes.
	so, err := testOptions(t).serverOptions()
	if err != nil || len(so.LeafNode.Remotes) != 0 {
		t.Fatalf("%v %d", err, len(so.LeafNode.Remotes))
	}
}

// TestLeafLinksToHub links an embedded server over TLS to a hub with
// JetStream domains on both sides: the store's JetStream stays local, the
// hub reaches it through $JS.<domain>.API, and the denied subjects stay
// home while others cross.
func TestLeafLinksToHub(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	ho := natstest.DefaultTestOptions
	ho.Port, ho.JetStream, ho.JetStreamDomain, ho.StoreDir = -1, true, "hub", t.TempDir()
	ho.LeafNode.Host, ho.LeafNode.Port = "127.0.0.1", -1
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ho.LeafNode.TLSConfig, ho.LeafNode.TLSTimeout = tc, 5
	hub := natstest.RunServer(&ho)
	defer hub.Shutdown()
	v, err := hub.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}

	o := testOptions(t)
	o.Domain = "S001"
	deny := DenyStoreTraffic("pos")
	o.Leaf = &Leaf{URLs: []string{"tls://127.0.0.1:" + strconv.Itoa(v.LeafNode.Port)}, CAFile: certFile,
		DenyImports: deny, DenyExports: deny, ReconnectInterval: 50 * time.Millisecond}
	s := start(t, o)
	// The server has no notification of the link: look again every 10 ms
	// until it is up; the deadline only bounds a failing test.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !s.LeafConnected() {
		if time.Now().After(deadline) {
			t.Fatal("leaf link not up")
		}
		<-tick.C
	}

	store, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hubNC := connectTCP(t, hub.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The store's own JetStream answers $JS.API locally.
	sjs, err := jetstream.New(store)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sjs.CreateStream(ctx, jetstream.StreamConfig{Name: "POS_EVT", Subjects: []string{"pos.*.*.evt.>"}}); err != nil {
		t.Fatal(err)
	}
	// The hub reaches it through the store's domain.
	hjs, err := jetstream.NewWithDomain(hubNC, "S001")
	if err != nil {
		t.Fatal(err)
	}
	var st jetstream.Stream
	for st == nil {
		if st, err = hjs.Stream(ctx, "POS_EVT"); err != nil && ctx.Err() != nil {
			t.Fatalf("the store's stream from the hub: %v", err)
		}
	}

	// Subjects: a status query crosses, commands and events do not.
	var mu sync.Mutex
	var heard []string
	if _, err := hubNC.Subscribe("pos.>", func(m *nats.Msg) {
		mu.Lock()
		heard = append(heard, m.Subject)
		mu.Unlock()
		if m.Reply != "" {
			_ = m.Respond([]byte("ok"))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := hubNC.Flush(); err != nil {
		t.Fatal(err)
	}
	// Until the hub's interest reaches the store, requests find nobody.
	for {
		if _, err := store.Request("pos.S001.P1.status", nil, time.Second); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("status query never crossed: %v", err)
		}
	}
	// Published in order on one connection: had they crossed, they would
	// arrive before the second query.
	for _, subj := range []string{"pos.S001.P1.evt.created", "pos.S001.P1.cmd.sale"} {
		if err := store.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.Request("pos.S001.P1.status", nil, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range heard {
		if h != "pos.S001.P1.status" {
			t.Errorf("%s crossed the link", h)
		}
	}
}
