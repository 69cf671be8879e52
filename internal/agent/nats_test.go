package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
)

// TestExistingStreamNotCoveringRefusesStart: an existing command stream
// that does not capture this agent's subjects is not rewritten; the agent
// refuses to start and says why.
func TestExistingStreamNotCoveringRefusesStart(t *testing.T) {
	ns := runNATS(t, t.TempDir())
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "POS_CMD", Subjects: []string{"pos.OTHER.*.cmd.>"}}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.StoreID = "S1"
	cfg.NATS.URL = ns.ClientURL()
	cfg.StateDir = t.TempDir()
	a, err := New(Options{Config: cfg, Token: testToken()})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "POS_CMD") || !strings.Contains(err.Error(), "pos.S1.DEMOPOS1.cmd.>") {
		t.Fatalf("Run = %v", err)
	}
	st, _ := js.Stream(ctx, "POS_CMD")
	if subj := st.CachedInfo().Config.Subjects; len(subj) != 1 || subj[0] != "pos.OTHER.*.cmd.>" {
		t.Fatalf("the existing stream was rewritten: %v", subj)
	}
}

// TestExternalNATSAuth connects the agent to servers that want a
// user/password, a token, and TLS with a client certificate.
func TestExternalNATSAuth(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPEM, certPEM, keyPEM := makeCerts(t)
	caFile, certFile, keyFile := write("ca.pem", caPEM), write("cert.pem", certPEM), write("key.pem", keyPEM)
	cases := []struct {
		name  string
		opts  func(o *server.Options)
		setup func(c *config.Config)
	}{
		{"user", func(o *server.Options) { o.Username, o.Password = "agent", "pw-123456" }, func(c *config.Config) {
			c.NATS.Auth.User, c.NATS.Auth.PasswordFile = "agent", write("pw", "pw-123456\n")
		}},
		{"token", func(o *server.Options) { o.Authorization = "tok-abcdef" }, func(c *config.Config) {
			c.NATS.Auth.TokenFile = write("tok", "tok-abcdef")
		}},
		{"tls", func(o *server.Options) {
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile, CaFile: caFile, Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			o.TLSConfig, o.TLSVerify = tc, true
		}, func(c *config.Config) {
			c.NATS.TLS.CAFile, c.NATS.TLS.CertFile, c.NATS.TLS.KeyFile = caFile, certFile, keyFile
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := natstest.DefaultTestOptions
			o.Port, o.JetStream, o.StoreDir = -1, true, t.TempDir()
			tc.opts(&o)
			ns := natstest.RunServer(&o)
			defer ns.Shutdown()
			url := "nats://" + ns.Addr().String()
			if tc.name == "tls" {
				url = "tls://localhost:" + portOf(ns.Addr())
			}
			cfg := config.Default()
			cfg.StoreID = "S1"
			cfg.NATS.URL = url
			cfg.StateDir = t.TempDir()
			cfg.HTTP.Listen = "127.0.0.1:0"
			tc.setup(cfg)
			a, err := New(Options{Config: cfg, Token: testToken()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- a.Run(ctx) }()
			select {
			case <-a.Ready():
			case err := <-errc:
				t.Fatalf("agent did not start: %v", err)
			case <-time.After(wait):
				t.Fatal("agent not ready")
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// makeCerts returns a CA and a certificate for localhost signed by it,
// used both as the server's and the client's.
func makeCerts(t *testing.T) (caPEM, certPEM, keyPEM string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "posagent test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}
