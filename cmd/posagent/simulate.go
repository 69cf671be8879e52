package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// cmdSimulate serves the built-in Orders API simulator, for trying `order`
// commands and for register integrators testing without Mercado Pago.
func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate", stderr)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve the Orders API on")
	token := fs.String("token", "", "accepted access token (default "+qrordertest.DefaultToken+")")
	posList := fs.String("pos", "", "comma-separated known external_pos_ids (default: any)")
	country := fs.String("country", "AR", "country of the orders: AR, BR, CL, UY, MX, PE, CO")
	autoPay := fs.Duration("auto-pay", 0, "pay every new order after this long (0: never; pay with POST /simulator/orders/{id}/pay)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	var pos []string
	if *posList != "" {
		pos = strings.Split(*posList, ",")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	sim := qrordertest.New(qrordertest.Options{Token: *token, POS: pos, Country: *country, Logger: log})
	if *autoPay > 0 {
		sim.SetAutoPay(*autoPay)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usagef("-listen %s: %v", *listen, err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Orders API simulator on %s (set mercadopago.base_url to it)\n", base)
	if *token == "" {
		fmt.Fprintf(stdout, "accepting the simulator token %s (POSAGENT_MP_ACCESS_TOKEN=%s)\n", qrordertest.DefaultToken, qrordertest.DefaultToken)
	} else {
		fmt.Fprintln(stdout, "accepting the token given with -token")
	}
	fmt.Fprintf(stdout, "pay an order:    curl -X POST %s/simulator/orders/ORDER_ID/pay\n", base)
	fmt.Fprintf(stdout, "expire an order: curl -X POST %s/simulator/orders/ORDER_ID/expire\n", base)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	fmt.Fprintln(stdout, "simulator stopped")
	return nil
}
