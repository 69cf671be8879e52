package agent

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/printer/escpostest"
)

// showsQR reports whether img shows exactly the QR of payload (error
// correction M, as the displays draw it) at some whole number of pixels per
// module. It checks every module against the encoder's matrix rather than
// running a QR reader: the pure-Go reader misses about one random
// Mercado Pago payload in a hundred, and the order's qr_data is random.
// (The display and printer packages decode fixed payloads with a reader.)
func showsQR(t *testing.T, img image.Image, payload string) bool {
	t.Helper()
	mods, err := display.QRModules(payload, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	n, b := len(mods), img.Bounds()
	dark := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return (r+g+bl)/3 < 0x8000
	}
	for m := 2; m*n <= b.Dx() && m*n <= b.Dy(); m++ {
		for y := b.Min.Y; y+n*m <= b.Max.Y; y++ {
			for x := b.Min.X; x+n*m <= b.Max.X; x++ {
				// The top edge of the top-left finder: 7 dark modules, then
				// the light separator.
				if !dark(x, y) || !dark(x+7*m-1, y) || dark(x+7*m, y) || (x > b.Min.X && dark(x-1, y)) {
					continue
				}
				ok := true
				for i := 0; i < n && ok; i++ {
					for j := 0; j < n; j++ {
						if dark(x+j*m+m/2, y+i*m+m/2) != mods[i][j] {
							ok = false
							break
						}
					}
				}
				if ok {
					return true
				}
			}
		}
	}
	return false
}

// readReceiptQR reads a printed raster QR (it stands alone in its image,
// so the reader is told so, which makes it reliable).
func readReceiptQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// TestReceiptAndPNGDisplay runs a POS with a file printer and a png
// display: the printed receipt and the picture both carry the order's QR.
func TestReceiptAndPNGDisplay(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "receipts.bin")
	shot := filepath.Join(dir, "screen.png")
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.POS[0].Printer = &config.Printer{Transport: "file", Device: spool, Baud: 9600, FlowControl: "none",
			WriteTimeout: 5 * time.Second, Profile: "generic58", QR: "auto", MaxModuleDots: 5}
		c.POS[0].Displays = []config.Display{{Type: "png", Path: shot, Size: image.Pt(800, 480), ECC: "M"}}
	}))
	h.send("POS1", "sale", `{"sale_id":"pr1","total_amount":"1234.50"}`)
	created := h.waitSale("pr1", "created").Event
	// Receipt and picture are written in the background; wait for them.
	waitFile(t, spool, func(b []byte) bool {
		doc, err := escpostest.Decode(b)
		if err != nil {
			return false
		}
		for _, op := range doc.Ops {
			if op.Image != nil {
				got, err := readReceiptQR(op.Image.Image(40, 40))
				return err == nil && got == created.QRData
			}
		}
		return false
	})
	waitFile(t, shot, func(b []byte) bool {
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			return false
		}
		return showsQR(t, img, created.QRData)
	})
	// The check is not satisfied by just any QR.
	if b, err := os.ReadFile(shot); err == nil {
		if img, err := png.Decode(bytes.NewReader(b)); err == nil && showsQR(t, img, staticQR) {
			t.Fatal("showsQR matched a QR that is not on the screen")
		}
	}
	if code, body := h.get("/healthz"); code != 200 || !bytes.Contains([]byte(body), []byte(`"printer:POS1"`)) {
		t.Fatalf("%d %s", code, body)
	}
}

// waitFile waits for a file the agent writes in the background to satisfy
// ok, watching it with a deadline.
func waitFile(t *testing.T, path string, ok func([]byte) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		b, err := os.ReadFile(path)
		if err == nil && ok(b) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became right (%d bytes, %v)", path, len(b), err)
		}
		// A file has no change notification here; read it again shortly.
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWebDisplayThroughTheAgent opens the customer display in headless
// Chromium, runs a sale through the agent, reads the QR off a screenshot
// and pays it: the page shows "paid" without a reload.
func TestWebDisplayThroughTheAgent(t *testing.T) {
	requireChromium(t)
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.POS[0].Displays = []config.Display{{Type: "web", ECC: "M"}}
	}))
	ctx, poll := openBrowser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 720),
		chromedp.Navigate("http://"+h.agent.HTTPAddr()+"/display/POS1")); err != nil {
		t.Fatal(err)
	}
	poll("idle", `document.body.dataset.state === "idle"`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.marker = 1; true`)); err != nil {
		t.Fatal(err)
	}
	h.send("POS1", "sale", `{"sale_id":"web1","total_amount":"1234.50"}`)
	created := h.waitSale("web1", "created").Event
	poll("awaiting", `document.body.dataset.state === "awaiting_payment" && document.querySelector("#qr svg") !== null`)
	png1, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(png1))
	if err != nil {
		t.Fatal(err)
	}
	if !showsQR(t, img, created.QRData) {
		t.Fatalf("the screenshot does not show the QR of the order's qr_data %q", created.QRData)
	}
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("web1", "processed")
	poll("paid without reload", `document.body.dataset.state === "paid" && window.marker === 1`)
	if code, _ := h.get("/display/NOPE"); code != 404 {
		t.Fatalf("unknown POS display answered %d", code)
	}
}

const chromium = "/usr/bin/chromium"

// requireChromium skips a browser test where Chromium is not installed,
// and fails it under CI=true, where a skipped browser test would hide a
// broken page.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing and CI=true", chromium)
		}
		t.Skipf("%s missing: skipping the browser test (apt-get install chromium)", chromium)
	}
}

// openBrowser starts headless Chromium with the flags the store machines
// use, and returns its tab and a function that waits for a JavaScript
// condition in the page (the deadline only bounds a failing test).
func openBrowser(t *testing.T) (context.Context, func(what, cond string)) {
	t.Helper()
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	poll := func(what, cond string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(20*time.Millisecond),
			chromedp.WithPollingTimeout(wait))); err != nil {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, text)
		}
	}
	return ctx, poll
}
