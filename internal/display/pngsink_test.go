package display

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
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
	checkSame(t, img, want)
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

func checkSame(t *testing.T, got, want image.Image) {
	t.Helper()
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Fatalf("pixel (%d,%d) differs", x, y)
			}
		}
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
