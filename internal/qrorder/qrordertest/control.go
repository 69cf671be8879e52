package qrordertest

import (
	"errors"
	"net/http"
)

// ErrNoSuchOrder is returned by Pay, Expire and CancelAtMP for an order
// id the simulator never created.
var ErrNoSuchOrder = errors.New("no such order")

// Handler serves the Orders API and, beside it, the simulator's control
// endpoints POST /simulator/orders/{id}/pay|expire|cancel, which play the
// customer paying, the order expiring and a cancel made at Mercado Pago.
// They answer 204, 404 (order_not_found, as the API answers for an
// unknown order) or 409 when the order is no longer created.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.HandleFunc("POST /simulator/orders/{id}/{action}", s.serveControl)
	return mux
}

func (s *Simulator) serveControl(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var err error
	switch r.PathValue("action") {
	case "pay":
		err = s.Pay(id)
	case "expire":
		err = s.Expire(id)
	case "cancel":
		err = s.CancelAtMP(id)
	default:
		errorResponse(http.StatusNotFound, "not_found", "action must be pay, expire or cancel").write(w)
		return
	}
	switch {
	case errors.Is(err, ErrNoSuchOrder):
		orderNotFound(id).write(w)
	case err != nil:
		errorResponse(http.StatusConflict, "invalid_state", err.Error()).write(w)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
