package config

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestLeafKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // problems; nil: valid
	}{
		{"leaf with tls", base + "nats: {embedded: {leaf: {urls: [\"tls://hub-1.example.com:7422\", \"nats-leaf://10.0.0.9\"], tls: {ca_file: /etc/p/ca.pem, cert_file: /etc/p/c.pem, key_file: /etc/p/k.pem}}}}\n", nil},
		{"leaf with creds over websocket", base + "nats: {embedded: {leaf: {urls: [\"wss://hub.example.com/\"], creds_file: /etc/p/store.creds}}}\n", nil},
		{"empty list is no link", base + "nats: {embedded: {leaf: {urls: []}}}\n", nil},
		{"domain alone", base + "nats: {embedded: {domain: store_1}}\n", nil},
		{"bad scheme", base + "nats: {embedded: {leaf: {urls: [\"http://hub:7422\"]}}}\n",
			[]string{`nats.embedded.leaf.urls[0]: must be the hub's leaf node URL: nats-leaf://, tls://, ws:// or wss:// with a host, like nats-leaf://hub.example.com:7422 ("http://hub:7422")`}},
		{"no host", base + "nats: {embedded: {leaf: {urls: [\"ok://h:1\", \"tls://:7422\"]}}}\n", []string{
			`nats.embedded.leaf.urls[0]: must be the hub's leaf node URL: nats-leaf://, tls://, ws:// or wss:// with a host, like nats-leaf://hub.example.com:7422 ("ok://h:1")`,
			`nats.embedded.leaf.urls[1]: must be the hub's leaf node URL: nats-leaf://, tls://, ws:// or wss:// with a host, like nats-leaf://hub.example.com:7422 ("tls://:7422")`,
		}},
		{"port out of range", base + "nats: {embedded: {leaf: {urls: [\"tls://hub:99999\"]}}}\n", []string{`nats.embedded.leaf.urls[0]: port must be 1-65535 ("tls://hub:99999")`}},
		{"credentials in url are not echoed", base + "nats: {embedded: {leaf: {urls: [\"tls://store:s3cret@hub:7422\"]}}}\n",
			[]string{`nats.embedded.leaf.urls[0]: must not hold credentials: use nats.embedded.leaf.creds_file or a client certificate`}},
		{"url not a list", base + "nats: {embedded: {leaf: {urls: \"tls://hub:7422\"}}}\n", []string{`nats.embedded.leaf.urls: must be a list (lines starting with -) ("tls://hub:7422")`}},
		{"relative files", base + "nats: {embedded: {leaf: {urls: [\"tls://hub:7422\"], creds_file: s.creds, tls: {ca_file: ca.pem}}}}\n", []string{
			`nats.embedded.leaf.creds_file: must be an absolute path (the service runs in /; a key naming a file with a secret is not echoed: the secret may have been pasted in place of its file name)`,
			`nats.embedded.leaf.tls.ca_file: must be an absolute path (the service runs in /) ("ca.pem")`,
		}},
		{"cert without key", base + "nats: {embedded: {leaf: {urls: [\"tls://hub:7422\"], tls: {cert_file: /etc/p/c.pem}}}}\n",
			[]string{`nats.embedded.leaf.tls.key_file: required with nats.embedded.leaf.tls.cert_file`}},
		{"credentials without urls", base + "nats: {embedded: {leaf: {creds_file: /etc/p/s.creds}}}\n",
			[]string{`nats.embedded.leaf.urls: required with nats.embedded.leaf.creds_file or nats.embedded.leaf.tls: the hub's leaf node URL`}},
		{"bad domain", base + "nats: {embedded: {domain: \"a.b\"}}\n",
			[]string{`nats.embedded.domain: must be 1-64 of A-Za-z0-9, '-' and '_': it is a subject token ($JS.<domain>.API) ("a.b")`}},
		{"unknown leaf key", base + "nats: {embedded: {leaf: {url: \"tls://hub:7422\"}}}\n", []string{`nats.embedded.leaf.url: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected problems:\n%v", err)
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) || c != nil {
				t.Fatalf("want problems, got %v", err)
			}
			if got := errs.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n got %s\nwant %s", strings.ReplaceAll(got, "\n", "\n     "), strings.Join(tt.want, "\n     "))
			}
			if strings.Contains(errs.Error(), "s3cret") {
				t.Error("a password was echoed")
			}
		})
	}
}

// The JetStream domain defaults to store_id once a leaf link is set, and
// stays as written otherwise.
func TestLeafDomainDefault(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{base, ""},
		{base + "nats: {embedded: {leaf: {urls: [\"tls://hub:7422\"]}}}\n", "S1"},
		{base + "nats: {embedded: {domain: shop1, leaf: {urls: [\"tls://hub:7422\"]}}}\n", "shop1"},
	} {
		c, err := Parse([]byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if c.NATS.Embedded.Domain != tt.want {
			t.Errorf("%q: domain %q, want %q", tt.yaml, c.NATS.Embedded.Domain, tt.want)
		}
	}
}

func TestStoreLeafExampleLoads(t *testing.T) {
	c, err := Load("../../configs/store-leaf.yaml")
	if err != nil {
		t.Fatalf("configs/store-leaf.yaml has problems:\n%v", err)
	}
	e := c.NATS.Embedded
	if !e.LeafEnabled() || e.Domain != c.StoreID || e.Leaf.TLS.CertFile == "" || c.NATS.URL != "" {
		t.Fatalf("example decoded to %+v", e)
	}
}

func TestLeafWarnings(t *testing.T) {
	const tokenFile = "mercadopago: {access_token_file: /etc/posagent/token}\n"
	tests := []struct {
		name  string
		yaml  string
		files map[string]fs.FileMode
		want  []string
	}{
		{"certificate in place", base + tokenFile + "nats: {embedded: {leaf: {urls: [\"tls://hub:7422\"], tls: {ca_file: /etc/p/ca.pem, cert_file: /etc/p/c.pem, key_file: /etc/p/k.pem}}}}\n",
			map[string]fs.FileMode{"/etc/p/ca.pem": 0o644, "/etc/p/c.pem": 0o644, "/etc/p/k.pem": 0o600}, nil},
		{"key open to others and ca missing", base + tokenFile + "nats: {embedded: {leaf: {urls: [\"tls://hub:7422\"], tls: {ca_file: /etc/p/ca.pem, cert_file: /etc/p/c.pem, key_file: /etc/p/k.pem}}}}\n",
			map[string]fs.FileMode{"/etc/p/c.pem": 0o644, "/etc/p/k.pem": 0o644}, []string{
				"warning: nats.embedded.leaf.tls.ca_file: file /etc/p/ca.pem not found on this machine",
				"warning: nats.embedded.leaf.tls.key_file: readable or writable by group or others (mode 0644): chmod 600 it",
			}},
		{"no authentication", base + tokenFile + "nats: {embedded: {leaf: {urls: [\"nats-leaf://hub:7422\"]}}}\n", nil,
			[]string{"warning: nats.embedded.leaf: no creds_file and no client certificate: the hub must accept this store without authentication"}},
		{"leaf with an external server", base + tokenFile + "nats: {url: \"nats://10.0.0.5:4222\", embedded: {leaf: {urls: [\"nats-leaf://hub:7422\"]}}}\n", nil,
			[]string{"warning: nats.embedded.leaf: ignored: nats.url is set, so no embedded server runs (make that server a leaf node in its own configuration)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			files := machine()
			files["/etc/posagent/token"] = 0o600
			for k, v := range tt.files {
				files[k] = v
			}
			var got []string
			for _, w := range c.Warnings(fakeEnv(nil, files)) {
				got = append(got, w.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("warnings:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}
