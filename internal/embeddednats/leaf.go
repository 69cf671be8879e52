package embeddednats

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/posagent/posagent/internal/subject"
)

// Leaf makes the embedded server a leaf node of a central NATS system (the
// hub), config keys nats.embedded.leaf. The store keeps serving its
// registers from its own JetStream while the link is down; the hub reaches
// the store's streams through the store's JetStream domain
// ($JS.<domain>.API) and its status service through ordinary subjects.
type Leaf struct {
	// URLs are the hub's leaf node listeners, tried in random order
	// (leaf.urls): nats-leaf://, nats://, tls://, ws:// or wss://.
	URLs []string
	// CredsFile is a .creds JWT file for the hub (leaf.creds_file).
	CredsFile string
	// CAFile trusts a private CA for the hub's certificate; CertFile and
	// KeyFile are a client certificate (leaf.tls.*). Any of them, or a
	// tls:// or wss:// URL, makes the connection use TLS.
	CAFile, CertFile, KeyFile string
	// DenyImports and DenyExports are subjects that do not cross the link
	// from the hub and to the hub. The agent keeps the register traffic
	// (commands, events) inside the store: see DenyStoreTraffic.
	DenyImports, DenyExports []string
	// ReconnectInterval is the wait between attempts to reach the hub;
	// 0 is nats-server's default (1s).
	ReconnectInterval time.Duration
}

// leafSchemes are the URL schemes a leaf remote may use.
var leafSchemes = map[string]bool{"nats-leaf": true, "nats": true, "tls": true, "ws": true, "wss": true}

// DenyStoreTraffic lists the subjects of a store's register traffic under
// prefix. Both streams of every store capture <prefix>.*.*.cmd.> and
// <prefix>.*.*.evt.>: were these subjects to cross leaf links, one store's
// commands and events would also be stored by every other store through
// the hub. Denied both ways, each store's traffic stays its own, and the
// hub gets the events by sourcing each store's events stream.
func DenyStoreTraffic(prefix string) []string {
	return []string{subject.Commands(prefix, subject.Any, subject.Any), subject.Events(prefix, subject.Any, subject.Any)}
}

// Isolation names what a store's leaf link must keep apart: the subject
// prefix, the store's JetStream domain and the streams only its agent may
// touch (the commands stream and the sale records' KV stream).
type Isolation struct {
	Prefix, Domain        string
	Commands, SaleRecords string // stream names, e.g. POS_CMD, KV_posagent_S001
}

// DenyImports is what the hub may not send into the store. Besides the
// register traffic (DenyStoreTraffic): the sale records ($KV), the
// JetStream API without a domain, and in the store's
// domain everything but consumers on the events stream: streams (list,
// info, purge, delete, messages), direct gets, account and server calls,
// and the consumers of the commands and sale records streams. What stays
// is what the hub needs: sourcing the events stream (consumer create,
// delete and flow control), $SRV discovery and the status requests.
func (i Isolation) DenyImports() []string {
	api := "$JS." + i.Domain + ".API."
	deny := append(DenyStoreTraffic(i.Prefix), "$KV.>", "$JS.API.>",
		api+"STREAM.>", api+"DIRECT.>", api+"ACCOUNT.>", api+"SERVER.>", api+"META.>", api+"INFO")
	for _, st := range []string{i.Commands, i.SaleRecords} {
		deny = append(deny, api+"CONSUMER.*."+st, api+"CONSUMER.*."+st+".>", api+"CONSUMER.*.*."+st+".>")
	}
	return deny
}

// DenyExports is what the store's clients (registers and the agent alike)
// may not send to the hub: the register traffic, any JetStream API (so no
// client of this store reaches another store's streams or sale records),
// KV writes, acks and flow control, and discovery and status requests
// (which would reach the other stores' agents).
func (i Isolation) DenyExports() []string {
	return append(DenyStoreTraffic(i.Prefix), "$JS.API.>", "$JS.*.API.>", "$KV.>", "$JS.ACK.>", "$JS.FC.>",
		"$SRV.>", subject.Status(i.Prefix, subject.Any, subject.Any))
}

// remote checks l and turns it into nats-server's remote options.
func (l *Leaf) remote() (*server.RemoteLeafOpts, error) {
	if len(l.URLs) == 0 {
		return nil, errors.New("embedded NATS: leaf.urls: at least one hub URL is required")
	}
	r := &server.RemoteLeafOpts{Credentials: l.CredsFile, DenyImports: l.DenyImports, DenyExports: l.DenyExports}
	useTLS := l.CAFile != "" || l.CertFile != "" || l.KeyFile != ""
	for i, s := range l.URLs {
		if strings.Contains(s, "@") {
			// Never echo a URL with credentials in it.
			return nil, fmt.Errorf("embedded NATS: leaf.urls[%d]: must not hold credentials: use leaf.creds_file", i)
		}
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || !leafSchemes[u.Scheme] || u.Hostname() == "" {
			return nil, fmt.Errorf("embedded NATS: leaf.urls[%d] %q: want nats-leaf://, tls://, ws:// or wss:// with a host, like nats-leaf://hub.example.com:7422", i, s)
		}
		if u.Scheme == "tls" || u.Scheme == "wss" {
			useTLS = true
		}
		r.URLs = append(r.URLs, u)
	}
	switch {
	case l.CertFile != "" && l.KeyFile == "":
		return nil, errors.New("embedded NATS: leaf.tls.key_file: required with leaf.tls.cert_file")
	case l.CertFile == "" && l.KeyFile != "":
		return nil, errors.New("embedded NATS: leaf.tls.cert_file: required with leaf.tls.key_file")
	}
	if useTLS {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CaFile: l.CAFile, CertFile: l.CertFile, KeyFile: l.KeyFile})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: leaf.tls: %w", err)
		}
		// GenTLSConfig is made for listeners: its CA verifies clients. Here
		// the server is the client, and the CA verifies the hub (as
		// nats-server does for a remote's ca_file).
		tc.RootCAs = tc.ClientCAs
		r.TLS, r.TLSConfig = true, tc
	}
	return r, nil
}

// applyLeaf adds the leaf remote to so. A leaf without a JetStream domain
// would merge the store's JetStream API with the hub's, so the store could
// not keep its streams to itself: the domain is required.
func (o Options) applyLeaf(so *server.Options) error {
	if o.Leaf == nil {
		return nil
	}
	if o.Domain == "" {
		return errors.New("embedded NATS: domain: required with leaf, so the store's JetStream stays its own while linked to the hub")
	}
	r, err := o.Leaf.remote()
	if err != nil {
		return err
	}
	so.LeafNode.Remotes = []*server.RemoteLeafOpts{r}
	so.LeafNode.ReconnectInterval = o.Leaf.ReconnectInterval
	return nil
}

// validDomain reports whether d can be a JetStream domain: one subject
// token ($JS.<domain>.API) without spaces or wildcards.
func validDomain(d string) bool {
	if d == "" || len(d) > 64 {
		return false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// LeafConnected reports whether the link to the hub is up.
func (s *Server) LeafConnected() bool { return s.ns.NumLeafNodes() > 0 }
