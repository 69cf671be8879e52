package display

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"hash/adler32"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not a complete PNG: %v", path, err)
	}
	return img
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestPNGWritesScreens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "qr-POS1.png")
	// A temp file left by a power cut is swept on the first write.
	if err := os.WriteFile(filepath.Join(dir, ".qr-POS1.png.tmp-123"), []byte("half a png"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := NewPNG(path, image.Pt(800, 480), RenderOptions{Location: time.UTC})
	s := TestScreen("Café", "es-AR")
	s.ExpiresAt = time.Date(2026, 11, 23, 15, 4, 0, 0, time.UTC)
	if err := p.Show(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	img := readPNG(t, path)
	if img.Bounds().Size() != image.Pt(800, 480) {
		t.Fatalf("size %v", img.Bounds())
	}
	if got := decodeQR(t, img); got != s.QRData {
		t.Fatalf("QR reads %q", got)
	}
	// No ticking countdown: the expiry is a wall-clock time.
	want, err := Render(s, image.Pt(800, 480), RenderOptions{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, img, want, paletteTolerance)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("temp files left: %v", l)
	}

	// The same screen again: the file is not rewritten (SD card wear).
	before, _ := os.Stat(path)
	if err := p.Show(context.Background(), s.clone()); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Error("an unchanged screen rewrote the file")
	}
	// A changed screen is written.
	if err := p.Show(context.Background(), Screen{State: StatePaid, Amount: 100, Locale: "es-AR"}); err != nil {
		t.Fatal(err)
	}
	if after2, _ := os.Stat(path); os.SameFile(before, after2) {
		t.Error("a new screen did not replace the file")
	}
}

// paletteTolerance is how far, per 8-bit channel, a png display pixel may
// be from Render's true colour: half a step of the palette's text blends
// (255/30) plus rounding. Flat colours and the QR are exact.
const paletteTolerance = 10

// checkSame compares got with Render's true-colour want, within tol levels
// per channel.
func checkSame(t *testing.T, got, want image.Image, tol uint32) {
	t.Helper()
	b := want.Bounds()
	if got.Bounds() != b {
		t.Fatalf("bounds %v, want %v", got.Bounds(), b)
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			if d := max(absDiff(r1, r2), absDiff(g1, g2), absDiff(b1, b2)) >> 8; d > tol {
				t.Fatalf("pixel (%d,%d) is %v, want %v (%d levels apart)", x, y, got.At(x, y), want.At(x, y), d)
			}
		}
	}
}

// TestPNGMatchesRender: every golden screen, written by the png display,
// is Render's picture within the palette's tolerance; QR screens scan, with
// every module and the quiet zone where Render puts them.
func TestPNGMatchesRender(t *testing.T) {
	for _, g := range goldenScreens() {
		for _, size := range goldenSizes {
			t.Run(fmt.Sprintf("%s-%dx%d", g.name, size.X, size.Y), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "qr.png")
				opt := RenderOptions{Location: time.UTC}
				p := NewPNG(path, size, opt)
				// Draw another screen first: the reused frame must not leak into the next.
				if err := p.Show(context.Background(), TestScreen("Otro", "en")); err != nil {
					t.Fatal(err)
				}
				if err := p.Show(context.Background(), g.s); err != nil {
					t.Fatal(err)
				}
				got := readPNG(t, path)
				want, err := Render(g.s, size, opt)
				if err != nil {
					t.Fatal(err)
				}
				checkSame(t, got, want, paletteTolerance)
				if g.s.State == StateAwaitingPayment {
					if d := decodeQR(t, got); d != g.s.QRData {
						t.Fatalf("QR reads %q", d)
					}
					mods, err := QRModules(g.s.QRData, qrcode.Medium)
					if err != nil {
						t.Fatal(err)
					}
					checkQRGeometry(t, got, mods)
				}
			})
		}
	}
}

// TestPNGLogoTrueColour: an idle screen with a logo cannot be drawn from the
// palette; it comes out in true colour, exactly Render's pixels.
func TestPNGLogoTrueColour(t *testing.T) {
	logo := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for i := range logo.Pix {
		logo.Pix[i] = uint8(i * 7)
	}
	opt := RenderOptions{Logo: logo}
	path := filepath.Join(t.TempDir(), "qr.png")
	p := NewPNG(path, image.Pt(800, 480), opt)
	s := Screen{State: StateIdle, StoreName: "Café", Locale: "es-AR"}
	if err := p.Show(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	want, err := Render(s, image.Pt(800, 480), opt)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, readPNG(t, path), want, 0)
}

// TestPNGKeptScreens: a screen that does not depend on the sale is encoded
// once and its bytes reused, and they are the bytes a fresh sink writes.
func TestPNGKeptScreens(t *testing.T) {
	dir := t.TempDir()
	p := NewPNG(filepath.Join(dir, "a.png"), image.Pt(800, 480), RenderOptions{Location: time.UTC})
	canceled := Screen{State: StateCanceled, Locale: "es-AR", StoreName: "Café"}
	var first []byte
	for i := range 3 {
		awaiting, _ := saleScreens(i)
		for _, s := range []Screen{awaiting, canceled} {
			if err := p.Show(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("canceled screen %d differs from the first", i)
		}
	}
	fresh := NewPNG(filepath.Join(dir, "b.png"), image.Pt(800, 480), RenderOptions{Location: time.UTC})
	if err := fresh.Show(context.Background(), canceled); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fresh.path); !bytes.Equal(b, first) {
		t.Error("a kept screen differs from a fresh encoding")
	}
	if len(p.kept) != 1 {
		t.Errorf("%d screens kept, want 1 (the canceled one)", len(p.kept))
	}
}

// TestPNGAtomic reads the file continuously while screens are written: every
// read is a complete PNG.
func TestPNGAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "screen.png")
	p := NewPNG(path, image.Pt(320, 240), RenderOptions{})
	if err := p.Show(context.Background(), Screen{StoreName: "start"}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err == nil {
				_, err = png.Decode(bytes.NewReader(b))
			}
			if err != nil {
				select {
				case errs <- err:
				default:
				}
				return
			}
			reads++
		}
	}()
	for i := range 20 {
		s := Screen{State: StateCart, StoreName: fmt.Sprint("store ", i), Amount: 100 * 1000000,
			Lines: []Line{{Title: strings.Repeat("x", i), Quantity: i, Amount: 5}}}
		if err := p.Show(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("a reader saw an incomplete file: %v", err)
	default:
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("temp files left: %v", l)
	}
	t.Logf("%d complete reads during 20 writes", reads)
}

func TestPNGFailures(t *testing.T) {
	dir := t.TempDir()
	// The directory is missing: an error, nothing created.
	missing := NewPNG(filepath.Join(dir, "nope", "qr.png"), image.Pt(320, 240), RenderOptions{})
	if err := missing.Show(context.Background(), Screen{}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing dir: %v", err)
	}
	// The rename fails (a directory is in the way): the temp file goes.
	blocked := filepath.Join(dir, "blocked.png")
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := NewPNG(blocked, image.Pt(320, 240), RenderOptions{})
	if err := p.Show(context.Background(), Screen{}); err == nil {
		t.Error("renaming over a directory succeeded")
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("temp files left after a failed write: %v", l)
	}
	// A failed write is retried in full next time, not skipped as unchanged.
	if err := os.RemoveAll(blocked); err != nil {
		t.Fatal(err)
	}
	if err := p.Show(context.Background(), Screen{}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	readPNG(t, blocked)
	// A size too small for the QR is a clear error.
	if err := NewPNG(filepath.Join(dir, "tiny.png"), image.Pt(64, 32), RenderOptions{}).Show(context.Background(), TestScreen("x", "en")); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("tiny: %v", err)
	}
}

// TestPalettedEncoderRoundTrip: what palettedEncoder writes, image/png
// reads back index for index, palette colour for palette colour, also when
// the encoder is reused for a frame of another size.
func TestPalettedEncoderRoundTrip(t *testing.T) {
	var enc palettedEncoder
	for _, size := range []image.Point{{1, 1}, {37, 5}, {800, 480}} {
		pal := newPalettedSurface(size)
		for i := range pal.img.Pix {
			pal.img.Pix[i] = uint8(i*31) % uint8(len(pal.img.Palette))
		}
		// Runs of equal rows, as a screen has: their checksum is combined,
		// not recomputed.
		for y := 1; y < size.Y; y++ {
			if y%4 != 0 {
				copy(pal.img.Pix[y*pal.img.Stride:][:size.X], pal.img.Pix[(y-1)*pal.img.Stride:])
			}
		}
		var buf bytes.Buffer
		if err := enc.encode(&buf, pal.img); err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%v: %v", size, err)
		}
		pi, ok := got.(*image.Paletted)
		if !ok || got.Bounds() != pal.img.Bounds() || !bytes.Equal(pi.Pix, pal.img.Pix) {
			t.Fatalf("%v: decoded %T %v, pixels differ", size, got, got.Bounds())
		}
		for i, c := range pal.img.Palette {
			if r1, g1, b1, a1 := c.RGBA(); [4]uint32{r1, g1, b1, a1} != func() [4]uint32 { r, g, b, a := pi.Palette[i].RGBA(); return [4]uint32{r, g, b, a} }() {
				t.Fatalf("%v: palette entry %d is %v, want %v", size, i, pi.Palette[i], c)
			}
		}
	}
}

// TestPalettedEncoderUpRows: a row equal to the one above is written with
// filter Up (all zeros, which deflate finds faster than a copy of the row
// and packs smaller), every other row unfiltered; image/png reads the
// pixels back.
func TestPalettedEncoderUpRows(t *testing.T) {
	size := image.Point{X: 64, Y: 12}
	pal := newPalettedSurface(size)
	for i := range pal.img.Pix {
		pal.img.Pix[i] = uint8(i*7) % uint8(len(pal.img.Palette))
	}
	repeated := []int{1, 2, 6, 11} // in order: row 2 repeats row 1 as repeated
	repeats := map[int]bool{}
	for _, y := range repeated {
		copy(pal.img.Pix[y*pal.img.Stride:][:size.X], pal.img.Pix[(y-1)*pal.img.Stride:])
		repeats[y] = true
	}
	var enc palettedEncoder
	if err := enc.compress(pal.img); err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(enc.idat.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr) // checks the Adler-32 too
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != size.Y*(1+size.X) {
		t.Fatalf("%d bytes of rows, want %d", len(raw), size.Y*(1+size.X))
	}
	for y := range size.Y {
		line := raw[y*(1+size.X):][:1+size.X]
		want := append([]byte{filterNone}, pal.img.Pix[y*pal.img.Stride:][:size.X]...)
		if repeats[y] {
			want = append([]byte{filterUp}, make([]byte, size.X)...)
		}
		if !bytes.Equal(line, want) {
			t.Errorf("row %d: filter %d, %v; want filter %d", y, line[0], line[1:9], want[0])
		}
	}
	var buf bytes.Buffer
	if err := enc.encode(&buf, pal.img); err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if pi, ok := got.(*image.Paletted); !ok || !bytes.Equal(pi.Pix, pal.img.Pix) {
		t.Fatal("decoded pixels differ")
	}
}

// TestDisplaysRobust: the png display (paletted, reusing its frame from
// screen to screen) and the framebuffer (whole frames and ticks) take every
// screen TestRenderRobust does without panicking, refusing only sizes too
// small for the QR.
func TestDisplaysRobust(t *testing.T) {
	for _, size := range robustSizes {
		p := NewPNG(filepath.Join(t.TempDir(), "qr.png"), size, RenderOptions{Location: time.UTC})
		info := fmtRGB565
		info.width, info.height, info.lineLength = size.X, size.Y, size.X*2
		fb, _ := fakeFB(t, info, 1)
		fb.opt.Now = time.Time{}
		now := fixedNow
		fb.WithClock(func() time.Time { return now })
		for i, s := range robustScreens() {
			if err := p.Show(context.Background(), s); err != nil && !errors.Is(err, ErrTooSmall) {
				t.Errorf("png: screen %d at %v: %v", i, size, err)
			}
			for range 2 { // a whole frame, then a tick
				if err := fb.Show(context.Background(), s); err != nil && !errors.Is(err, ErrTooSmall) {
					t.Errorf("framebuffer: screen %d at %v: %v", i, size, err)
				}
				now = now.Add(time.Second)
			}
		}
	}
}

// TestAdler32Combine: the combined sum of two parts is the sum of the
// whole, for parts of every length around the modulus.
func TestAdler32Combine(t *testing.T) {
	data := make([]byte, 3*adlerBase)
	for i := range data {
		data[i] = uint8(i*7 + i/300)
	}
	for _, cut := range []int{0, 1, 801, adlerBase - 1, adlerBase, adlerBase + 1, 2*adlerBase + 5, len(data)} {
		a, b := data[:cut], data[cut:]
		got := adler32Combine(adler32.Checksum(a), adler32.Checksum(b), len(b))
		if want := adler32.Checksum(data); got != want {
			t.Errorf("cut %d: combined %08x, want %08x", cut, got, want)
		}
	}
}
