package display

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/internal/money"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The real payloads from testdata/qr_data_samples.txt.
const (
	sampleDynamic = SampleDynamicQR
	sampleStatic  = "00020101021143520016com.mercadolibre0128https://mpago.la/pos/1043915501300091234567895204970053030325802AR5909FULL NAME6010CITY LEGAL63040AAB"
)

// fixedNow makes every countdown deterministic.
var fixedNow = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)

func goldenScreens() []struct {
	name string
	s    Screen
} {
	awaiting := Screen{
		State: StateAwaitingPayment, POS: "STORE001POS001", StoreName: "Café Central", Locale: "es-AR",
		Amount: 1523450, QRData: sampleStatic, Mode: "static", SaleID: "000123",
		ExpiresAt: fixedNow.Add(14*time.Minute + 59*time.Second),
	}
	awaitingBR := awaiting
	awaitingBR.Locale, awaitingBR.StoreName, awaitingBR.QRData, awaitingBR.Mode = "pt-BR", "Padaria São João", sampleDynamic, "dynamic"
	return []struct {
		name string
		s    Screen
	}{
		{"idle", Screen{State: StateIdle, StoreName: "Café Central", Locale: "es-AR"}},
		{"cart", Screen{State: StateCart, StoreName: "Café Central", Locale: "es-AR", Amount: 1523450,
			Message: "¡Gracias por elegirnos! Pagá con QR",
			Lines: []Line{
				{Title: "Café con leche", Quantity: 2, Amount: 300000},
				{Title: "Medialunas de manteca (docena)", Quantity: 1, Amount: 1200000},
				{Title: "Agua sin gas 500 ml", Quantity: 1, Amount: 23450},
			}}},
		{"awaiting", awaiting},
		{"awaiting-pt", awaitingBR},
		{"paid", Screen{State: StatePaid, StoreName: "Café Central", Locale: "es-AR", Amount: 1523450}},
		{"expired", Screen{State: StateExpired, Locale: "pt-BR"}},
		{"canceled", Screen{State: StateCanceled, Locale: "es-MX"}},
		{"error", Screen{State: StateError, Locale: "en", Message: "Mercado Pago is not answering, please pay another way"}},
	}
}

var goldenSizes = []image.Point{{800, 480}, {1920, 1080}}

func TestRenderGolden(t *testing.T) {
	for _, g := range goldenScreens() {
		for _, size := range goldenSizes {
			name := fmt.Sprintf("render-%s-%dx%d.png", g.name, size.X, size.Y)
			t.Run(name, func(t *testing.T) {
				img, err := Render(g.s, size, RenderOptions{Now: fixedNow})
				if err != nil {
					t.Fatal(err)
				}
				if img.Bounds().Size() != size {
					t.Fatalf("size %v, want %v", img.Bounds().Size(), size)
				}
				checkGolden(t, filepath.Join("testdata", name), img)
			})
		}
	}
}

// checkGolden compares img with the PNG at path pixel by pixel. A channel
// may differ by a few levels, so that a float rounding difference in the
// glyph rasterizer on another CPU does not fail the test; anything drawn
// differently does.
func checkGolden(t *testing.T, path string, img image.Image) {
	t.Helper()
	if *update {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if want.Bounds() != img.Bounds() {
		t.Fatalf("bounds %v, golden %v", img.Bounds(), want.Bounds())
	}
	const tolerance = 3 // levels of 255
	g, w := toRGBA(img), toRGBA(want)
	diff := 0
	var first image.Point
	for i := 0; i < len(g.Pix); i++ {
		d := int(g.Pix[i]) - int(w.Pix[i])
		if d > tolerance || d < -tolerance {
			if diff == 0 {
				px := i / 4
				first = image.Pt(px%g.Rect.Dx(), px/g.Rect.Dx())
			}
			diff++
			i |= 3 // count each pixel once
		}
	}
	if diff > 0 {
		// Kept after the test (not t.TempDir) so the difference can be looked at.
		got := "(not written)"
		if dir, err := os.MkdirTemp("", "display-golden-"); err == nil {
			got = filepath.Join(dir, filepath.Base(path))
			var buf bytes.Buffer
			_ = png.Encode(&buf, img)
			_ = os.WriteFile(got, buf.Bytes(), 0o644)
		}
		t.Errorf("%d pixels differ from %s, first at %v; got image written to %s (go test -update rewrites the golden)", diff, path, first, got)
	}
}

// toRGBA returns img as an *image.RGBA at the origin.
func toRGBA(img image.Image) *image.RGBA {
	if r, ok := img.(*image.RGBA); ok && r.Rect.Min == (image.Point{}) && r.Stride == 4*r.Rect.Dx() {
		return r
	}
	r := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
	draw.Draw(r, r.Bounds(), img, img.Bounds().Min, draw.Src)
	return r
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// decodeQR reads a QR code out of img the way a phone would, knowing
// nothing of where it was drawn.
func decodeQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no QR found in the image: %v", err)
	}
	return res.GetText()
}

// TestRenderQR decodes the payload back from every awaiting screen and
// checks the geometry: the module size is the largest whole number of pixels
// at which the symbol and its quiet zone fit the QR area, every module is
// where QRModules says, and the 4-module ring around the symbol is white.
func TestRenderQR(t *testing.T) {
	sizes := append([]image.Point{{480, 800}, {320, 240}, {1080, 1920}, {600, 600}}, goldenSizes...)
	for _, payload := range []string{sampleDynamic, sampleStatic} {
		for _, ecc := range []qrcode.RecoveryLevel{0, ECCLow, qrcode.High} {
			for _, size := range sizes {
				t.Run(fmt.Sprintf("%d/%d/%dx%d", len(payload), ecc, size.X, size.Y), func(t *testing.T) {
					s := Screen{State: StateAwaitingPayment, Locale: "es-AR", Amount: 15000, QRData: payload, ExpiresAt: fixedNow.Add(time.Minute)}
					img, err := Render(s, size, RenderOptions{Now: fixedNow, ECC: ecc})
					if err != nil {
						t.Fatal(err)
					}
					if got := decodeQR(t, img); got != payload {
						t.Fatalf("decoded %q, want %q", got, payload)
					}
					want := qrcode.Medium
					switch ecc {
					case ECCLow:
						want = qrcode.Low
					case qrcode.High:
						want = qrcode.High
					}
					mods, err := QRModules(payload, want)
					if err != nil {
						t.Fatal(err)
					}
					checkQRGeometry(t, img, mods)
				})
			}
		}
	}
}

func checkQRGeometry(t *testing.T, img image.Image, mods [][]bool) {
	t.Helper()
	n := len(mods)
	dark := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return r+g+b < 3*0x8000
	}
	white := func(x, y int) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		return r == 0xffff && g == 0xffff && b == 0xffff
	}
	// The top-left finder pattern's first row is 7 dark modules: find its
	// first dark pixel scanning rows top-down, then measure the run.
	qrArea, _ := awaitingAreas(img.Bounds().Size())
	x0, y0 := -1, -1
	for y := qrArea.Min.Y; y < qrArea.Max.Y && x0 < 0; y++ {
		for x := qrArea.Min.X; x < qrArea.Max.X; x++ {
			if dark(x, y) {
				x0, y0 = x, y
				break
			}
		}
	}
	if x0 < 0 {
		t.Fatal("no dark pixel in the QR area")
	}
	run := 0
	for dark(x0+run, y0) {
		run++
	}
	if run%7 != 0 {
		t.Fatalf("finder pattern row is %d px, not a multiple of 7", run)
	}
	m := run / 7
	side := min(qrArea.Dx(), qrArea.Dy())
	if want := side / (n + 2*QuietZone); m != want {
		t.Fatalf("module is %d px, want %d (the largest that fits %d+%d modules in %d px)", m, want, n, 2*QuietZone, side)
	}
	if (m+1)*(n+2*QuietZone) <= side {
		t.Fatalf("module %d px is not the largest: %d px would fit", m, m+1)
	}
	// Every module, sampled at its centre.
	for y := range n {
		for x := range n {
			if got := dark(x0+x*m+m/2, y0+y*m+m/2); got != mods[y][x] {
				t.Fatalf("module (%d,%d) dark=%v, want %v", x, y, got, mods[y][x])
			}
		}
	}
	// The quiet zone: every pixel of the 4-module ring is pure white.
	q := QuietZone * m
	outer := image.Rect(x0-q, y0-q, x0+n*m+q, y0+n*m+q)
	if !outer.In(img.Bounds()) {
		t.Fatalf("quiet zone %v leaves the image %v", outer, img.Bounds())
	}
	symbol := image.Rect(x0, y0, x0+n*m, y0+n*m)
	for y := outer.Min.Y; y < outer.Max.Y; y++ {
		for x := outer.Min.X; x < outer.Max.X; x++ {
			if !image.Pt(x, y).In(symbol) && !white(x, y) {
				t.Fatalf("quiet zone pixel (%d,%d) is not white: %v", x, y, img.At(x, y))
			}
		}
	}
}

func TestRenderTooSmall(t *testing.T) {
	s := TestScreen("Café", "es-AR")
	for _, size := range []image.Point{{128, 64}, {100, 100}, {160, 128}, {1, 1}} {
		_, err := Render(s, size, RenderOptions{})
		if !errors.Is(err, ErrTooSmall) {
			t.Errorf("%v: err = %v, want ErrTooSmall", size, err)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%dx%d", size.X, size.Y)) || !strings.Contains(err.Error(), "at least 3") {
			t.Errorf("%v: error does not say the size and the minimum: %v", size, err)
		}
	}
	// 3 px per module is the smallest accepted: 53 modules (version 7 at M
	// with quiet zone) need 159 px of QR area.
	if _, err := Render(s, image.Pt(265, 159), RenderOptions{}); err != nil {
		t.Errorf("265x159 (3 px per module) refused: %v", err)
	}
	if _, err := Render(s, image.Pt(265, 158), RenderOptions{}); !errors.Is(err, ErrTooSmall) {
		t.Errorf("265x158 (2 px per module) accepted: %v", err)
	}
	// Without a QR, small screens are fine.
	if _, err := Render(Screen{State: StatePaid, Amount: 100}, image.Pt(128, 64), RenderOptions{}); err != nil {
		t.Errorf("paid at 128x64: %v", err)
	}
}

func TestRenderRefuses(t *testing.T) {
	cases := []struct {
		name string
		s    Screen
		size image.Point
		opt  RenderOptions
		want string
	}{
		{"zero size", Screen{}, image.Pt(0, 480), RenderOptions{}, "size"},
		{"negative size", Screen{}, image.Pt(-5, -5), RenderOptions{}, "size"},
		{"huge size", Screen{}, image.Pt(100000, 100000), RenderOptions{}, "size"},
		{"unknown state", Screen{State: "dancing"}, image.Pt(800, 480), RenderOptions{}, `state: unknown "dancing"`},
		{"awaiting without payload", Screen{State: StateAwaitingPayment}, image.Pt(800, 480), RenderOptions{}, "qr_data: required"},
		{"payload too long", Screen{State: StateAwaitingPayment, QRData: strings.Repeat("x", 5000)}, image.Pt(800, 480), RenderOptions{}, "qr_data"},
		{"bad ecc", TestScreen("x", "en"), image.Pt(800, 480), RenderOptions{ECC: 9}, "ecc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := Render(c.s, c.size, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if img != nil {
				t.Fatal("an image came back with the error")
			}
		})
	}
}

func TestParseECC(t *testing.T) {
	for in, want := range map[string]qrcode.RecoveryLevel{"": qrcode.Medium, "L": ECCLow, "m": qrcode.Medium, "Q": qrcode.High, "H": qrcode.Highest} {
		if got, err := ParseECC(in); err != nil || got != want {
			t.Errorf("ParseECC(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseECC("X"); err == nil {
		t.Error("ParseECC(X) accepted")
	}
}

// TestRenderAccents checks that accented letters are drawn with real glyphs:
// a string of them must not look like the same number of unknown-glyph boxes.
func TestRenderAccents(t *testing.T) {
	c, _, err := newCanvas(image.Pt(10, 10))
	if err != nil {
		t.Fatal(err)
	}
	f := c.face(false, 40)
	for _, r := range "áéíóúñçãõÁÉÍÓÚÑÇÃÕ¡¿ü" {
		if _, ok := f.GlyphAdvance(r); !ok {
			t.Errorf("the bundled font has no glyph for %q", r)
		}
	}
}

// TestRenderRobust: nothing a Screen can hold makes Render panic, and
// anything but the refusals of TestRenderRefuses gives an image.
// robustScreens are screens holding everything a Screen can hold.
func robustScreens() []Screen {
	huge := strings.Repeat("Ñandú ", 2000) // > 10 KB
	ctrl := "Caf\x1b[2Jé\x00\n\t\r\u202e\u200bx\xff\xfe"
	many := make([]Line, 500)
	for i := range many {
		many[i] = Line{Title: fmt.Sprintf("item %d %s", i, ctrl), Quantity: i - 10, Amount: money.Cents(i * 1000)}
	}
	screens := []Screen{
		{},
		{State: StateIdle, StoreName: huge, Locale: huge},
		{State: StateCart},
		{State: StateCart, Lines: many, Message: huge, Amount: math.MaxInt64, StoreName: ctrl},
		{State: StateCart, Lines: []Line{{Title: huge, Quantity: math.MaxInt, Amount: math.MinInt64}}, Amount: math.MinInt64},
		{State: StateAwaitingPayment, QRData: "x", Amount: math.MaxInt64, StoreName: huge, ExpiresAt: time.Unix(1<<40, 0)},
		{State: StateAwaitingPayment, QRData: ctrl, Amount: -1, ExpiresAt: time.Unix(0, 1)},
		{State: StatePaid, Amount: math.MinInt64, Locale: "es-CL"},
		{State: StateExpired, Locale: "\x00"},
		{State: StateCanceled, Message: huge},
		{State: StateError, Message: ctrl + huge},
	}
	return screens
}

var robustSizes = []image.Point{{1, 1}, {2, 300}, {300, 2}, {64, 32}, {800, 480}, {480, 800}}

func TestRenderRobust(t *testing.T) {
	screens, sizes := robustScreens(), robustSizes
	for i, s := range screens {
		for _, size := range sizes {
			img, err := Render(s, size, RenderOptions{Now: fixedNow, Logo: image.NewRGBA(image.Rect(0, 0, 3, 1000))})
			if err != nil && !errors.Is(err, ErrTooSmall) {
				t.Errorf("screen %d at %v: %v", i, size, err)
			}
			if err == nil && img.Bounds().Size() != size {
				t.Errorf("screen %d at %v: got %v", i, size, img.Bounds())
			}
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add("cart", "Café", "es-AR", int64(15000), "Coffee", 2, "msg", sampleDynamic, int64(60))
	f.Add("awaiting_payment", "", "pt-BR", int64(-1), "\x1b[31m", -5, "\x00", "x", int64(-60))
	f.Fuzz(func(t *testing.T, state, store, locale string, amount int64, title string, qty int, msg, qr string, secs int64) {
		s := Screen{State: State(state), StoreName: store, Locale: locale, Amount: money.Cents(amount),
			Lines:   []Line{{Title: title, Quantity: qty, Amount: money.Cents(amount)}},
			Message: msg, QRData: qr, ExpiresAt: fixedNow.Add(time.Duration(secs) * time.Second)}
		img, err := Render(s, image.Pt(320, 240), RenderOptions{Now: fixedNow})
		if err == nil && img.Bounds().Size() != image.Pt(320, 240) {
			t.Fatalf("size %v", img.Bounds())
		}
	})
}

func TestCountdown(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Hour: "0 s", 0: "0 s", time.Millisecond: "1 s", 59 * time.Second: "59 s",
		59*time.Second + time.Millisecond: "1 min", time.Minute: "1 min",
		14*time.Minute + 59*time.Second + 500*time.Millisecond: "14 min",
		time.Hour + 2*time.Second:                              "1 h 00 min", 3600 * time.Hour: "3600 h 00 min",
	} {
		if got := countdown(d); got != want {
			t.Errorf("countdown(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestExpiryWallClock(t *testing.T) {
	s := Screen{ExpiresAt: time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)}
	loc := time.FixedZone("ART", -3*3600)
	if got := expiryLine(s.ExpiresAt, textsFor("es-AR"), RenderOptions{Location: loc}); got != "Vence a las 12:04" {
		t.Errorf("got %q", got)
	}
	if got := expiryLine(s.ExpiresAt, textsFor("pt-BR"), RenderOptions{Now: s.ExpiresAt.Add(-90 * time.Second)}); got != "Expira em 1 min" {
		t.Errorf("got %q", got)
	}
	if got := expiryLine(time.Time{}, textsFor("en"), RenderOptions{Now: fixedNow}); got != "" {
		t.Errorf("no expiry gave %q", got)
	}
}

func TestTexts(t *testing.T) {
	for locale, want := range map[string]string{
		"es-AR": "Escaneá con Mercado Pago", "es-UY": "Escaneá con Mercado Pago",
		"es-CL": "Escanea con Mercado Pago", "es-MX": "Escanea con Mercado Pago", "es-PE": "Escanea con Mercado Pago",
		"es-CO": "Escanea con Mercado Pago", "pt-BR": "Escaneie com o Mercado Pago", "en": "Scan with Mercado Pago",
		"fr-FR": "Scan with Mercado Pago", "": "Scan with Mercado Pago",
	} {
		if got := textsFor(locale).Scan; got != want {
			t.Errorf("%q: %q, want %q", locale, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"Café  con\tleche": "Café con leche", "\x1b[2Jx": "[2Jx", "  a\n\nb  ": "a b", "a\xffb": "a?b",
		"\u202eevil": "evil", strings.Repeat("a", 1000): strings.Repeat("a", maxTextRunes),
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderLogo(t *testing.T) {
	logo := image.NewRGBA(image.Rect(0, 0, 40, 20))
	red := color.RGBA{0xff, 0, 0, 0xff}
	for i := range logo.Pix {
		logo.Pix[i] = []uint8{red.R, red.G, red.B, red.A}[i%4]
	}
	img, err := Render(Screen{StoreName: "x"}, image.Pt(800, 480), RenderOptions{Logo: logo})
	if err != nil {
		t.Fatal(err)
	}
	if got := color.RGBAModel.Convert(img.At(400, 120)); got != red {
		t.Errorf("logo not drawn at the top centre: %v", got)
	}
}

func BenchmarkRender1920x1080Awaiting(b *testing.B) {
	s := TestScreen("Café Central", "es-AR")
	s.ExpiresAt = fixedNow.Add(10 * time.Minute)
	opt := RenderOptions{Now: fixedNow}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(s, image.Pt(1920, 1080), opt); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]image.Point{"800x480": {800, 480}, "1920x1080": {1920, 1080}, "1x1": {1, 1}, "8192x8192": {8192, 8192}, "10x10": {10, 10}} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "800", "800x", "x480", "800X480", "800x480x2", "-800x480", "+800x480", "0x480", "800x0", "8193x10", " 800x480", "8e2x480", "0800x480", "99999999999x1"} {
		if got, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), "size:") {
			t.Errorf("ParseSize(%q) = %v, %v; want a size: error", in, got, err)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	f.Add("800x480")
	f.Add("-1x99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseSize(s)
		if err == nil && (p.X < 1 || p.Y < 1 || p.X > MaxSide || p.Y > MaxSide || fmt.Sprintf("%dx%d", p.X, p.Y) != s) {
			t.Fatalf("ParseSize(%q) = %v", s, p)
		}
	})
}
