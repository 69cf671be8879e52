package agent

import (
	"net/http"
	"time"
)

func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", a.health)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.Handle("/display/", a.web)
	if a.webhookSecret != "" { // no secret, no webhooks: the path is 404
		mux.Handle("POST /webhooks/mercadopago", &webhooks{secret: a.webhookSecret, log: a.log, metrics: a.metrics,
			sessions: a.pokers, now: time.Now, seen: map[string]time.Time{}})
	}
	mux.HandleFunc("GET /{$}", a.statusPage)
	mux.HandleFunc("GET /status.json", a.statusJSON)
	mux.HandleFunc("GET /status/events", a.statusEvents)
	return mux
}

func (a *Agent) pokers() []poker {
	ss := a.allSessions()
	out := make([]poker, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
