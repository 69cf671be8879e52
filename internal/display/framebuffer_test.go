package display

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Pixel formats as Pi framebuffers report them.
var (
	fmtRGB565 = fbInfo{bitsPerPixel: 16, red: fbField{11, 5}, green: fbField{5, 6}, blue: fbField{0, 5}}
	fmtXRGB   = fbInfo{bitsPerPixel: 32, red: fbField{16, 8}, green: fbField{8, 8}, blue: fbField{0, 8}}
	fmtARGB   = fbInfo{bitsPerPixel: 32, red: fbField{16, 8}, green: fbField{8, 8}, blue: fbField{0, 8}, transp: fbField{24, 8}}
	fmtXBGR   = fbInfo{bitsPerPixel: 32, red: fbField{0, 8}, green: fbField{8, 8}, blue: fbField{16, 8}}
	fmtRGB24  = fbInfo{bitsPerPixel: 24, red: fbField{16, 8}, green: fbField{8, 8}, blue: fbField{0, 8}}
)

// fakeFB makes a plain file standing in for a framebuffer with the given
// geometry, filled with a marker byte so untouched bytes show.
func fakeFB(t testing.TB, info fbInfo, pages int) (*Framebuffer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fb0")
	if err := os.WriteFile(path, bytes.Repeat([]byte{0xa5}, pages*info.height*info.lineLength), 0o600); err != nil {
		t.Fatal(err)
	}
	fb := NewFramebuffer(path, RenderOptions{Now: fixedNow})
	fb.probe = func(*os.File) (fbInfo, error) { return info, nil }
	return fb, path
}

// readPixel decodes the device pixel at (x, y) back to 8-bit RGB.
func readPixel(info fbInfo, mem []byte, x, y int) color.RGBA {
	bpp := info.bitsPerPixel / 8
	off := (info.yoffset+y)*info.lineLength + (info.xoffset+x)*bpp
	var v uint32
	switch bpp {
	case 2:
		v = uint32(binary.NativeEndian.Uint16(mem[off:]))
	case 3:
		v = uint32(mem[off]) | uint32(mem[off+1])<<8 | uint32(mem[off+2])<<16
	case 4:
		v = binary.NativeEndian.Uint32(mem[off:])
	}
	ch := func(f fbField) uint8 {
		maxv := uint32(1)<<f.length - 1
		return uint8((v >> f.offset & maxv) * 255 / maxv)
	}
	a := uint8(0)
	if info.transp.length > 0 {
		a = ch(info.transp)
	}
	return color.RGBA{ch(info.red), ch(info.green), ch(info.blue), a}
}

func TestFramebufferFormats(t *testing.T) {
	cases := []struct {
		name   string
		format fbInfo
		width  int
		height int
		stride int // bytes per row
		yoff   int
		white  []byte // the top-left pixel's bytes: the background is white
	}{
		{"RGB565", fmtRGB565, 800, 480, 800 * 2, 0, []byte{0xff, 0xff}},
		{"RGB565 wide stride", fmtRGB565, 480, 320, 480*2 + 64, 0, []byte{0xff, 0xff}},
		{"XRGB8888", fmtXRGB, 800, 480, 800 * 4, 0, []byte{0xff, 0xff, 0xff, 0}},
		{"ARGB8888 wide stride", fmtARGB, 656, 416, 656*4 + 256, 0, []byte{0xff, 0xff, 0xff, 0xff}},
		{"XBGR8888", fmtXBGR, 640, 480, 640 * 4, 0, []byte{0xff, 0xff, 0xff, 0}},
		{"RGB888", fmtRGB24, 640, 480, 640*3 + 8, 0, []byte{0xff, 0xff, 0xff}},
		{"XRGB8888 second page", fmtXRGB, 800, 480, 800 * 4, 480, []byte{0xff, 0xff, 0xff, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := c.format
			info.width, info.height, info.lineLength, info.yoffset, info.virtualH = c.width, c.height, c.stride, c.yoff, 2*c.height
			fb, path := fakeFB(t, info, 2)
			s := TestScreen("Café", "es-AR")
			s.ExpiresAt = fixedNow.Add(5 * time.Minute)
			if err := fb.Show(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			mem, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(mem) != 2*c.height*c.stride {
				t.Fatalf("file grew to %d bytes", len(mem))
			}
			want, err := Render(s, image.Pt(c.width, c.height), RenderOptions{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			// Every pixel matches the render, to the precision of the format.
			tol := 0
			if info.bitsPerPixel == 16 {
				tol = 8 // 5 bits: steps of 255/31
			}
			got := image.NewRGBA(image.Rect(0, 0, c.width, c.height))
			for y := range c.height {
				for x := range c.width {
					p := readPixel(info, mem, x, y)
					w := color.RGBAModel.Convert(want.At(x, y)).(color.RGBA)
					if d := max(absDiff(uint32(p.R), uint32(w.R)), absDiff(uint32(p.G), uint32(w.G)), absDiff(uint32(p.B), uint32(w.B))); int(d) > tol {
						t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, p, w)
					}
					if info.transp.length > 0 && p.A != 0xff {
						t.Fatalf("pixel (%d,%d) alpha %d, want opaque", x, y, p.A)
					}
					p.A = 0xff
					got.Set(x, y, p)
				}
			}
			// Spot checks that do not depend on the decoder above.
			if tl := mem[c.yoff*c.stride : c.yoff*c.stride+len(c.white)]; !bytes.Equal(tl, c.white) {
				t.Errorf("top-left pixel bytes % x, want % x", tl, c.white)
			}
			// The padding of each row and the other page are left as they were.
			rowBytes := c.width * info.bitsPerPixel / 8
			for y := range c.height {
				row := mem[(c.yoff+y)*c.stride:]
				for i := rowBytes; i < c.stride; i++ {
					if row[i] != 0 {
						t.Fatalf("row %d padding byte %d = %#x, want 0", y, i, row[i])
					}
				}
			}
			other := mem[:c.height*c.stride]
			if c.yoff == 0 {
				other = mem[c.height*c.stride:]
			}
			if bytes.Count(other, []byte{0xa5}) != len(other) {
				t.Error("the page not shown was written to")
			}
			// And a phone reads the QR off the device memory.
			if got := decodeQR(t, got); got != s.QRData {
				t.Fatalf("QR from the framebuffer reads %q", got)
			}
		})
	}
}

func TestFramebufferRefuses(t *testing.T) {
	base := fmtXRGB
	base.width, base.height, base.lineLength = 320, 240, 320*4
	cases := []struct {
		name   string
		mutate func(*fbInfo)
		want   string
	}{
		{"8 bpp", func(i *fbInfo) { i.bitsPerPixel = 8 }, "bits_per_pixel 8"},
		{"short stride", func(i *fbInfo) { i.lineLength = 320*4 - 1 }, "line_length"},
		{"zero size", func(i *fbInfo) { i.width = 0 }, "resolution"},
		{"bitfield outside", func(i *fbInfo) { i.red.offset = 30 }, "red bitfield"},
		{"palette", func(i *fbInfo) { i.green.length = 0 }, "true-colour"},
		{"page outside", func(i *fbInfo) { i.yoffset, i.virtualH = 240, 240 }, "virtual"},
		{"too small for the QR", func(i *fbInfo) { i.width, i.height, i.lineLength = 128, 64, 128*4 }, "too small"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info := base
			c.mutate(&info)
			fb, _ := fakeFB(t, base, 1)
			fb.probe = func(*os.File) (fbInfo, error) { return info, nil }
			err := fb.Show(context.Background(), TestScreen("x", "en"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	// A missing device and a plain file (no framebuffer ioctls) are errors.
	if err := NewFramebuffer(filepath.Join(t.TempDir(), "fb9"), RenderOptions{}).Show(context.Background(), Screen{}); err == nil {
		t.Error("a missing device was accepted")
	}
	plain := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(plain, make([]byte, 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewFramebuffer(plain, RenderOptions{}).Show(context.Background(), Screen{}); err == nil || !strings.Contains(err.Error(), "FBIOGET_VSCREENINFO") {
		t.Errorf("a plain file as a framebuffer: %v", err)
	}
}

func TestFramebufferClock(t *testing.T) {
	info := fmtXRGB
	info.width, info.height, info.lineLength = 800, 480, 800*4
	fb, path := fakeFB(t, info, 1)
	fb.opt.Now = time.Time{}
	now := fixedNow
	fb.WithClock(func() time.Time { return now })
	s := TestScreen("x", "en")
	s.ExpiresAt = fixedNow.Add(time.Minute)
	if err := fb.Show(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	now = now.Add(time.Second)
	if err := fb.Show(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if bytes.Equal(first, second) {
		t.Error("the countdown did not change with the clock")
	}
	if fb.RefreshInterval() != time.Second {
		t.Error("the framebuffer does not ask for countdown redraws")
	}
}

func TestAppendCountdown(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0, 1, time.Second, 59 * time.Second, 60*time.Second + 1,
		9*time.Minute + 59*time.Second, 10 * time.Minute, 59*time.Minute + 59*time.Second + 500*time.Millisecond,
		time.Hour, 3*time.Hour + 2*time.Minute + 1*time.Second, 100 * time.Hour} {
		if got, want := string(appendCountdown([]byte("x"), d)), "x"+countdown(d); got != want {
			t.Errorf("appendCountdown(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestFramebufferTickMatchesFrame: a countdown tick redraws only its line,
// and the device then holds exactly what a whole new frame at that moment
// would be — across the widths the text takes (1:00:00, 59:59, 10:00, 9:59,
// 0:00), languages, sizes and pixel formats.
func TestFramebufferTickMatchesFrame(t *testing.T) {
	expires := fixedNow.Add(time.Hour + 2*time.Second)
	moments := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 50*time.Minute + 2*time.Second,
		50*time.Minute + 3*time.Second, 59*time.Minute + 59*time.Second, time.Hour + 2*time.Second, 2 * time.Hour}
	type geometry struct {
		name string
		info fbInfo
		w, h int
	}
	for _, g := range []geometry{{"xrgb", fmtXRGB, 800, 480}, {"rgb565", fmtRGB565, 1920, 1080}, {"xbgr-portrait", fmtXBGR, 480, 800}} {
		for _, locale := range []string{"es-AR", "pt-BR", "en"} {
			t.Run(g.name+"/"+locale, func(t *testing.T) {
				info := g.info
				info.width, info.height, info.lineLength = g.w, g.h, g.w*info.bitsPerPixel/8+16
				fb, path := fakeFB(t, info, 1)
				fb.opt.Now = time.Time{}
				now := fixedNow
				fb.WithClock(func() time.Time { return now })
				s, _ := saleScreens(7)
				s.Locale, s.ExpiresAt = locale, expires
				for _, m := range moments {
					now = fixedNow.Add(m)
					if err := fb.Show(context.Background(), s); err != nil {
						t.Fatal(err)
					}
					got, _ := os.ReadFile(path)
					whole, wholePath := fakeFB(t, info, 1)
					whole.opt.Now = now
					if err := whole.Show(context.Background(), s); err != nil {
						t.Fatal(err)
					}
					want, _ := os.ReadFile(wholePath)
					if !bytes.Equal(got, want) {
						t.Fatalf("after the tick at +%v the device differs from a whole frame", m)
					}
				}
			})
		}
	}
}
