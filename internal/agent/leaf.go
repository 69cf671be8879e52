package agent

import (
	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/embeddednats"
)

// leafOptions turns nats.embedded.leaf into the embedded server's link to
// the hub, or nil without one. The link carries only what head office
// needs (embeddednats.Isolation): register traffic never crosses it, since
// every store's streams capture the same subject patterns and one store's
// commands and events would otherwise be stored by all the others too; the
// hub gets the events by sourcing this store's events stream through its
// JetStream domain instead, and finds the agent and its POS with $SRV
// discovery and status requests. Nothing else of the store's JetStream
// (sale records, commands, stream management) is reachable from the hub,
// and no client of the store reaches another store through it.
func leafOptions(cfg *config.Config) *embeddednats.Leaf {
	l := cfg.NATS.Embedded.Leaf
	if len(l.URLs) == 0 {
		return nil
	}
	iso := embeddednats.Isolation{Prefix: cfg.NATS.SubjectPrefix, Domain: cfg.NATS.Embedded.Domain,
		Commands: cfg.NATS.Streams.Commands, SaleRecords: "KV_" + saleBucket(cfg.StoreID)}
	return &embeddednats.Leaf{
		URLs: l.URLs, CredsFile: l.CredsFile,
		CAFile: l.TLS.CAFile, CertFile: l.TLS.CertFile, KeyFile: l.TLS.KeyFile,
		DenyImports: iso.DenyImports(), DenyExports: iso.DenyExports(),
	}
}

// hubLink describes the link to the hub for the status page: "" without
// one, else "connected" or "disconnected".
func (a *Agent) hubLink() string {
	if a.cfg.NATS.URL != "" || !a.cfg.NATS.Embedded.LeafEnabled() {
		return ""
	}
	a.mu.Lock()
	srv := a.embedded
	a.mu.Unlock()
	if srv != nil && srv.LeafConnected() {
		return "connected"
	}
	return "disconnected"
}

// saleBucket is the KV bucket of the store's sale records (its stream is
// KV_<bucket>).
func saleBucket(storeID string) string { return "posagent_" + storeID }
