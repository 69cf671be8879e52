package display

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/internal/netgate"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a real headless Chromium with exactly the flags the store
// machines use: the networking flags keep it from flooding a
// closed network. It skips the test when Chromium is not installed, except
// under CI=true, where a skipped browser test would hide a broken page.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found and CI=true: the web display must be tested in a real browser (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s not found: skipping the real-browser test of the web display (apt-get install chromium to run it; with CI=true it fails instead)", chromiumPath)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit, before TempDir is removed
	})
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// waitFor polls a JavaScript condition in the page until it holds; the
// deadline only bounds a failing test.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.state + " | " + document.body.innerText`))
		t.Fatalf("waiting for %s: %v (page: %q)", what, err, state)
	}
}

func evalString(t *testing.T, ctx context.Context, expr string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return s
}

func TestWebInChromium(t *testing.T) {
	ctx := browser(t)

	// The agent's clock is five hours behind the browser's: the countdown
	// must still be right.
	agentClock := func() time.Time { return time.Now().Add(-5 * time.Hour) }
	web := NewWeb(nil, agentClock)
	p1, p2 := web.Sink("STORE001POS001"), web.Sink("STORE001POS002")
	// The page's address is held for the whole test, so the restarted
	// agent below gets it back (no other process can take it meanwhile).
	gate := netgate.New(t)
	srv := serveOn(t, gate, web)
	defer func() {
		web.Close()
		srv.Close()
	}()
	bg := context.Background()
	// Another POS's screen is up the whole time: none of it may show on P1's page.
	if err := p2.Show(bg, Screen{State: StateAwaitingPayment, Amount: 777700, Locale: "es-AR", QRData: sampleStatic, StoreName: "OTHER POS"}); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(800, 480), chromedp.Navigate(srv.URL+"/display/STORE001POS001")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the idle screen", `document.body.dataset.state === "idle"`)
	// Set once after load: a reload would lose it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.loadMarker = "loaded-once"; true`)); err != nil {
		t.Fatal(err)
	}
	sameLoad := ` && window.loadMarker === "loaded-once"`

	s := Screen{State: StateAwaitingPayment, POS: "STORE001POS001", StoreName: "Café Central", Locale: "es-AR",
		Amount: 123450, QRData: sampleDynamic, Mode: "dynamic", ExpiresAt: agentClock().Add(10 * time.Minute)}
	if err := p1.Show(bg, s); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the awaiting screen", `document.body.dataset.state === "awaiting_payment"`+
		` && document.getElementById("amount").textContent === "$ 1.234,50"`+
		` && document.getElementById("scan").textContent === "Escaneá con Mercado Pago"`+
		` && document.querySelector("#qr svg") !== null`+sameLoad)
	// 10:00 left by the agent's clock; uncorrected it would read 0 s
	// (five hours past) or 5 h 10 min.
	waitFor(t, ctx, "a countdown corrected for the clock offset",
		`/^Vence en (10|9) min$/.test(document.getElementById("countdown").textContent)`)
	if got := evalString(t, ctx, `document.body.innerText`); strings.Contains(got, "7.777") || strings.Contains(got, "OTHER POS") {
		t.Fatalf("P2's screen leaked into P1's page: %q", got)
	}

	// The QR in the screenshot decodes to the payload, crisp: whole pixels
	// per module (the largest that fits) and a white quiet zone.
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Size() != image.Pt(800, 480) {
		t.Fatalf("screenshot is %v", img.Bounds())
	}
	if got := decodeQR(t, img); got != s.QRData {
		t.Fatalf("QR in the page reads %q, want %q", got, s.QRData)
	}
	mods, err := QRModules(s.QRData, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	checkQRGeometry(t, img, mods)

	// Paid arrives without a reload.
	if err := p1.Show(bg, Screen{State: StatePaid, Amount: 123450, Locale: "es-AR"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the paid screen", `document.body.dataset.state === "paid"`+
		` && document.getElementById("result-title").textContent === "¡Pago aprobado!"`+
		` && document.querySelector("#qr svg") === null`+sameLoad)

	// The server drops the stream: the page reconnects and gets the next
	// screen (sent while it was away, so only a new stream can carry it).
	web.DropStreams()
	if err := p1.Show(bg, Screen{State: StateExpired, Locale: "pt-BR"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the expired screen after a reconnect", `document.body.dataset.state === "expired"`+
		` && document.getElementById("result-title").textContent === "O código QR expirou"`+
		` && document.documentElement.lang === "pt-BR"`+sameLoad)

	// The agent restarts: the server goes away (the stream is refused with
	// 503 while it stops, then the port is closed) and a new one comes up on
	// the same address with a new screen.
	web.Close()
	srv.Close()
	web2 := NewWeb(nil, agentClock)
	p1b := web2.Sink("STORE001POS001")
	if err := p1b.Show(bg, Screen{State: StateCanceled, Locale: "es-MX"}); err != nil {
		t.Fatal(err)
	}
	srv2 := serveOn(t, gate, web2)
	defer func() {
		web2.Close()
		srv2.Close()
	}()
	waitFor(t, ctx, "the canceled screen from the restarted agent", `document.body.dataset.state === "canceled"`+
		` && document.getElementById("result-title").textContent === "Pago cancelado"`+sameLoad)
	if n := web2.Streams("STORE001POS001"); n != 1 {
		t.Errorf("%d streams after the restart, want 1", n)
	}
	if got := evalString(t, ctx, `String(document.body.classList.contains("offline"))`); got != "false" {
		t.Errorf("the page still shows itself offline")
	}
}

// serveOn serves h on the gate's held address.
func serveOn(t *testing.T, gate *netgate.Gate, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := gate.Listener()
	if err != nil {
		t.Fatalf("listening on %s: %v", gate.Addr(), err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	return srv
}
