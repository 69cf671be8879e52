package display_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"time"

	"github.com/posagent/posagent/internal/display"
)

func ExampleRender() {
	s := display.TestScreen("Café Central", "es-AR")
	img, err := display.Render(s, image.Pt(800, 480), display.RenderOptions{})
	fmt.Println(img.Bounds(), err)

	// A 128x64 OLED cannot show a 150-character QR readably.
	_, err = display.Render(s, image.Pt(128, 64), display.RenderOptions{})
	fmt.Println(errors.Is(err, display.ErrTooSmall))
	// Output:
	// (0,0)-(800,480) <nil>
	// true
}

// ExampleController wires one POS the way the daemon does: a web page and a
// PNG file, fed by one Controller.
func ExampleController() {
	ctx := context.Background()
	logger := slog.Default()

	web := display.NewWeb(logger, time.Now)
	mux := http.NewServeMux()
	mux.Handle("/display/", web)
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux}
	srv.RegisterOnShutdown(web.Close)

	ctl := display.NewController(display.ControllerConfig{
		POS: "STORE001POS001",
		Sinks: []display.NamedSink{
			{Type: "web", Sink: web.Sink("STORE001POS001")},
			{Type: "png", Sink: display.NewPNG("/var/lib/posagent/qr-STORE001POS001.png", image.Pt(800, 480), display.RenderOptions{})},
		},
		ResultHold: 5 * time.Second,
		Idle:       display.Screen{StoreName: "Café Central", Locale: "es-AR"},
		Logger:     logger,
		OnError:    func(sinkType string, err error) { /* display_errors_total{pos,type}++ */ },
	})
	go ctl.Run(ctx)
	go srv.ListenAndServe()

	ctl.Show(display.Screen{State: display.StateAwaitingPayment, Amount: 15000,
		QRData: display.SampleDynamicQR, Mode: "dynamic", ExpiresAt: time.Now().Add(15 * time.Minute)})
}
