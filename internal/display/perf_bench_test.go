package display

import (
	"context"
	"fmt"
	"image"
	"path/filepath"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/money"
)

// saleScreens returns the two state changes one sale makes on a display in
// the benchmark cycle: its QR, then its outcome. Every sale has its own
// amount, sale id and QR payload, as in a store.
func saleScreens(i int) (awaiting, outcome Screen) {
	awaiting = TestScreen("Café Central", "es-AR")
	awaiting.SaleID = fmt.Sprintf("sale-%d", i)
	awaiting.Amount = money.Cents(100000 + i)
	awaiting.QRData = fmt.Sprintf("%s-%08d", SampleDynamicQR[:120], i)
	awaiting.ExpiresAt = fixedNow.Add(15 * time.Minute)
	outcome = Screen{State: StateCanceled, StoreName: awaiting.StoreName, Locale: awaiting.Locale, SaleID: awaiting.SaleID, Amount: awaiting.Amount}
	return awaiting, outcome
}

// BenchmarkPNGStateChange measures what the png display costs per state
// change, render + encode + atomic replace of the file, alternating a
// sale's QR and its canceled screen (one op is one state change).
func BenchmarkPNGStateChange(b *testing.B) {
	for _, size := range []image.Point{{800, 480}, {1920, 1080}} {
		b.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(b *testing.B) {
			p := NewPNG(filepath.Join(b.TempDir(), "qr.png"), size, RenderOptions{Location: time.UTC})
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				awaiting, outcome := saleScreens(i / 2)
				s := awaiting
				if i%2 == 1 {
					s = outcome
				}
				if err := p.Show(ctx, s); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkFramebufferTick measures one countdown tick on a 1080p 32-bit
// framebuffer (a plain file standing in for the device): the same QR
// screen, one second later.
func BenchmarkFramebufferTick(b *testing.B) {
	info := fmtXRGB
	info.width, info.height, info.lineLength = 1920, 1080, 1920*4
	fb, _ := fakeFB(b, info, 1)
	now := fixedNow
	fb.opt.Now = time.Time{}
	fb.WithClock(func() time.Time { return now })
	s, _ := saleScreens(1)
	ctx := context.Background()
	if err := fb.Show(ctx, s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		if err := fb.Show(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
