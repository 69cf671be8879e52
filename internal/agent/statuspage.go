package agent

import (
	"html/template"
	"net/http"
	"time"

	"github.com/posagent/posagent/internal/session"
	"github.com/posagent/posagent/internal/version"
)

var statusTmpl = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>posagent {{.StoreID}}</title>
<style>body{font-family:system-ui,sans-serif;margin:1rem;max-width:60rem}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}.bad{color:#b00}.ok{color:#070}</style></head>
<body><h1>posagent · {{.StoreName}} ({{.StoreID}})</h1>
<p>version {{.Version}} · up {{.Uptime}} · health <b class="{{if eq .Health.Status "ok"}}ok{{else}}bad{{end}}">{{.Health.Status}}</b></p>
<table><tr><th>check</th><th>state</th></tr>{{range $k, $v := .Health.Checks}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>{{end}}</table>
<h2>POS</h2><table><tr><th>POS</th><th>state</th><th>sale</th><th>order</th><th>last event</th><th>display</th></tr>
{{range .POS}}<tr><td>{{.ID}}</td><td>{{.Status.State}}</td><td>{{.Status.SaleID}}</td><td>{{.Status.OrderID}}</td>
<td>{{with .Status.LastEvent}}{{.Status}} {{.SaleID}} {{.TotalAmount}} {{.At}}{{end}}</td><td><a href="/display/{{.ID}}">open</a></td></tr>{{end}}
</table></body></html>`))

type statusRow struct {
	ID     string
	Status session.StatusReply
}

// statusPage is the page for store IT: every POS and the agent's health.
func (a *Agent) statusPage(w http.ResponseWriter, _ *http.Request) {
	data := struct {
		StoreID, StoreName, Version, Uptime string
		Health                              healthReport
		POS                                 []statusRow
	}{StoreID: a.cfg.StoreID, StoreName: a.cfg.StoreName, Version: version.Version(),
		Uptime: time.Since(a.started).Round(time.Second).String(), Health: a.health.report()}
	for _, p := range a.cfg.POS {
		if s := a.Session(p.ExternalPOSID); s != nil {
			data.POS = append(data.POS, statusRow{ID: p.ExternalPOSID, Status: s.Status()})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = statusTmpl.Execute(w, data)
}
