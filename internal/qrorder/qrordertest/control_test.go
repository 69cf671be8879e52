package qrordertest_test

import (
	"net/http"
	"testing"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// The control endpoints are served wherever the simulator is (Start is
// what `posagent demo` uses), and an unknown order is 404 as at the API.
func TestControlEndpoints(t *testing.T) {
	sim := qrordertest.NewServer(t, qrordertest.Options{})
	for _, c := range []struct {
		path string
		want int
	}{
		{"/simulator/orders/ORDNOSUCHORDER/pay", http.StatusNotFound},
		{"/simulator/orders/ORDNOSUCHORDER/expire", http.StatusNotFound},
		{"/simulator/orders/ORDNOSUCHORDER/cancel", http.StatusNotFound},
		{"/simulator/orders/ORDNOSUCHORDER/refund", http.StatusNotFound},
	} {
		resp, err := http.Post(sim.URL()+c.path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("POST %s: HTTP %d, want %d", c.path, resp.StatusCode, c.want)
		}
	}
}
