package embeddednats

import (
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

	"github.com/nats-io/nats.go"
)

// selfSignedCert writes a self-signed certificate for 127.0.0.1 that is its
// own CA, returning the cert and key file paths.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "posagent test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSListener(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	o := testOptions(t)
	o.CertFile, o.KeyFile = certFile, keyFile
	s := start(t, o)

	if !strings.HasPrefix(s.ClientURL(), "tls://127.0.0.1:") {
		t.Fatalf("ClientURL = %q, want tls://", s.ClientURL())
	}
	plainURL := "nats://" + strings.TrimPrefix(s.ClientURL(), "tls://")
	tests := []struct {
		name   string
		url    string
		opts   []nats.Option
		wantOK bool
	}{
		{"trusted CA", s.ClientURL(), []nats.Option{nats.RootCAs(certFile)}, true},
		{"nats URL upgrades with CA", plainURL, []nats.Option{nats.RootCAs(certFile)}, true},
		{"unknown CA", s.ClientURL(), nil, false},
		{"no TLS", plainURL, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(tt.url, append(tt.opts, nats.Timeout(5*time.Second))...)
			if !tt.wantOK {
				if err == nil {
					nc.Close()
					t.Fatal("connected")
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer nc.Close()
			if !nc.TLSRequired() {
				t.Error("connection not TLS")
			}
			inproc, err := s.Connect()
			if err != nil {
				t.Fatalf("in-process connect next to TLS: %v", err)
			}
			defer inproc.Close()
			storeAndRead(t, nc, inproc, tt.name)
		})
	}
}
