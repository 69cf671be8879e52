package agent

import (
	"github.com/posagent/posagent/internal/version"
)

// initOperations sets up what the status page, the status query and the
// extra metrics share.
func (a *Agent) initOperations() {
	a.feed = newStatusFeed()
	a.metrics.RegisterOps(opsView{a}, version.Version(), a.cfg.StoreID)
}

// opsView is what the ops metrics read from the agent at scrape time.
type opsView struct{ a *Agent }

func (v opsView) Checks() map[string]string { return v.a.health.report().Checks }

func (v opsView) PrinterHealth() map[string]string {
	out := map[string]string{}
	for _, p := range v.a.cfg.POS {
		if h := v.a.printerHealth(p.ExternalPOSID); h != "" {
			out[p.ExternalPOSID] = h
		}
	}
	return out
}

func (v opsView) HubLink() string { return v.a.hubLink() }
