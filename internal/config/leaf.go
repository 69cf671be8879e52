package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// leafSchemes are the URL schemes of a hub's leaf node listener.
const leafSchemes = "nats-leaf nats tls ws wss"

// maxDomainLen bounds a JetStream domain, which is one subject token.
const maxDomainLen = 64

// validateLeaf checks nats.embedded.domain and nats.embedded.leaf.
func validateLeaf(v *checker, e Embedded) {
	if e.Domain != "" && (len(e.Domain) > maxDomainLen || !allOf(e.Domain, "-_")) {
		v.add("nats.embedded.domain", "must be 1-64 of A-Za-z0-9, '-' and '_': it is a subject token ($JS.<domain>.API)", quote(e.Domain))
	}
	l := e.Leaf
	for i, s := range l.URLs {
		path := fmt.Sprintf("nats.embedded.leaf.urls[%d]", i)
		if strings.Contains(s, "@") { // user:password@host: never echoed
			v.add(path, "must not hold credentials: use nats.embedded.leaf.creds_file or a client certificate", nil)
			continue
		}
		u, err := url.Parse(s)
		if err != nil || !oneOf(leafSchemes, u.Scheme) || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
			v.add(path, "must be the hub's leaf node URL: nats-leaf://, tls://, ws:// or wss:// with a host, like nats-leaf://hub.example.com:7422", quote(s))
			continue
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				v.add(path, "port must be 1-65535", quote(s))
			}
		}
	}
	v.absPath("nats.embedded.leaf.creds_file", l.CredsFile, false)
	v.absPath("nats.embedded.leaf.tls.ca_file", l.TLS.CAFile, false)
	v.absPath("nats.embedded.leaf.tls.cert_file", l.TLS.CertFile, false)
	v.absPath("nats.embedded.leaf.tls.key_file", l.TLS.KeyFile, false)
	v.pair("nats.embedded.leaf.tls.cert_file", l.TLS.CertFile, "nats.embedded.leaf.tls.key_file", l.TLS.KeyFile)
	if !e.LeafEnabled() && (l.CredsFile != "" || l.TLS != (NATSTLS{})) {
		v.add("nats.embedded.leaf.urls", "required with nats.embedded.leaf.creds_file or nats.embedded.leaf.tls: the hub's leaf node URL", nil)
	}
}

// leafWarnings are the machine checks of the leaf link.
func (c *Config) leafWarnings(w *warner) {
	e := c.NATS.Embedded
	if !e.LeafEnabled() {
		return
	}
	if c.NATS.URL != "" {
		w.add("nats.embedded.leaf", "ignored: nats.url is set, so no embedded server runs (make that server a leaf node in its own configuration)")
		return
	}
	w.secretFile("nats.embedded.leaf.creds_file", e.Leaf.CredsFile)
	w.file("nats.embedded.leaf.tls.ca_file", e.Leaf.TLS.CAFile)
	w.file("nats.embedded.leaf.tls.cert_file", e.Leaf.TLS.CertFile)
	w.secretFile("nats.embedded.leaf.tls.key_file", e.Leaf.TLS.KeyFile)
	if e.Leaf.CredsFile == "" && e.Leaf.TLS.CertFile == "" {
		w.add("nats.embedded.leaf", "no creds_file and no client certificate: the hub must accept this store without authentication")
	}
}
