package agent

import (
	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/embeddednats"
)

// leafOptions turns nats.embedded.leaf into the embedded server's link to
// the hub, or nil without one. Register traffic never crosses the link
// (embeddednats.DenyStoreTraffic): every store's streams capture the same
// subject patterns, so one store's commands and events would otherwise be
// stored by all the others too. The hub gets the events by sourcing this
// store's events stream through its JetStream domain instead.
func leafOptions(cfg *config.Config) *embeddednats.Leaf {
	l := cfg.NATS.Embedded.Leaf
	if len(l.URLs) == 0 {
		return nil
	}
	deny := embeddednats.DenyStoreTraffic(cfg.NATS.SubjectPrefix)
	return &embeddednats.Leaf{
		URLs: l.URLs, CredsFile: l.CredsFile,
		CAFile: l.TLS.CAFile, CertFile: l.TLS.CertFile, KeyFile: l.TLS.KeyFile,
		DenyImports: deny, DenyExports: deny,
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
