package display

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/posagent/posagent/internal/emvco"
)

// What a customer sees, per locale, in a real browser: every state of the
// web display in es-AR and pt-BR, screenshotted; the awaiting screen's QR
// read back from the screenshot by an independent decoder; the page's
// lang and its words in the store's language; and a countdown nobody can
// take for a clock time. POSAGENT_SCREENSHOTS=dir keeps the screenshots.
func TestWebLocalesInChromium(t *testing.T) {
	ctx := browser(t)
	keep := os.Getenv("POSAGENT_SCREENSHOTS")
	for _, c := range []struct {
		locale, welcome, cart, scan, countdown, paid, expired, canceled, amount string
	}{
		{"es-AR", "¡Bienvenido!", "Total", "Escaneá con Mercado Pago", "Vence en", "¡Pago aprobado!", "El código QR venció", "Pago cancelado", "$ 1.234,50"},
		{"pt-BR", "Bem-vindo!", "Total", "Escaneie com o Mercado Pago", "Expira em", "Pagamento aprovado!", "O código QR expirou", "Pagamento cancelado", "R$ 1.234,50"},
	} {
		t.Run(c.locale, func(t *testing.T) {
			web := NewWeb(nil, time.Now)
			sink := web.Sink("POS1")
			srv := httptest.NewServer(web)
			defer func() {
				web.Close()
				srv.Close()
			}()
			bg := context.Background()
			show := func(s Screen) {
				t.Helper()
				s.Locale, s.StoreName = c.locale, "Loja Central"
				if err := sink.Show(bg, s); err != nil {
					t.Fatal(err)
				}
			}
			show(Screen{State: StateIdle})

			// The page itself, before any script runs, says its language.
			resp, err := http.Get(srv.URL + "/display/POS1")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := `<html lang="` + c.locale + `">`; !strings.Contains(string(raw), want) {
				t.Fatalf("the page does not start with %s: %.80s", want, raw)
			}

			if err := chromedp.Do(ctx, chromedp.EmulateViewport(800, 480), chromedp.Navigate(srv.URL+"/display/POS1")); err != nil {
				t.Fatal(err)
			}
			qr := emvco.Sample(c.locale)
			for _, st := range []struct {
				screen Screen
				words  []string
			}{
				{Screen{State: StateIdle}, []string{c.welcome}},
				{Screen{State: StateCart, Amount: 123450, Lines: []Line{{Title: "Café", Quantity: 2, Amount: 123450}}}, []string{c.cart, c.amount}},
				{Screen{State: StateAwaitingPayment, Amount: 123450, QRData: qr, Mode: "dynamic", ExpiresAt: time.Now().Add(10*time.Minute + 30*time.Second)},
					[]string{c.scan, c.amount, c.countdown + " 10 min"}},
				{Screen{State: StatePaid, Amount: 123450}, []string{c.paid, c.amount}},
				{Screen{State: StateExpired}, []string{c.expired}},
				{Screen{State: StateCanceled}, []string{c.canceled}},
			} {
				show(st.screen)
				state := string(st.screen.State)
				cond := `document.body.dataset.state === "` + state + `" && document.documentElement.lang === "` + c.locale + `"`
				for _, w := range st.words {
					cond += ` && document.body.innerText.includes(` + jsString(w) + `)`
				}
				waitFor(t, ctx, c.locale+" "+state, cond)
				shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(bytes.NewReader(shot))
				if err != nil {
					t.Fatal(err)
				}
				if keep != "" {
					_ = os.WriteFile(filepath.Join(keep, "web-"+c.locale+"-"+state+".png"), shot, 0o644)
				}
				if st.screen.State == StateAwaitingPayment {
					if got := decodeQR(t, img); got != qr {
						t.Fatalf("%s: the QR on screen reads %q, want %q", c.locale, got, qr)
					}
					// Never a clock-like "m:ss" countdown.
					if text := evalString(t, ctx, `document.getElementById("countdown").textContent`); strings.Contains(text, ":") {
						t.Errorf("countdown %q reads like a clock time", text)
					}
				}
			}
		})
	}
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
