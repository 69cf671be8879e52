package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/printer"
	"github.com/posagent/posagent/internal/printer/escpostest"
)

func TestDisplayAndPrintTest(t *testing.T) {
	dir := t.TempDir()
	shot := filepath.Join(dir, "screen.png")
	spool := filepath.Join(dir, "spool.bin")
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: S1
store_name: "Café Central"
state_dir: %s
pos:
  - external_pos_id: POS1
    displays:
      - {type: png, path: %s, size: 800x480}
      - {type: terminal}
    printer: {transport: file, device: %s, profile: generic58}
  - external_pos_id: POS2
`, dir, shot, spool), 0o600)
	ctx := context.Background()

	r := runCLI(t, ctx, "display-test", "-config", cfg, "-pos", "POS1")
	if r.code != 0 || !strings.Contains(r.stdout, "POS1: test screen shown on the png display") {
		t.Fatalf("%s", r)
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := readQR(t, img); got != display.TestScreen("", "es-AR").QRData {
		t.Fatalf("png display shows %q", got)
	}

	r = runCLI(t, ctx, "print-test", "-config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "POS1: test receipt sent to file") {
		t.Fatalf("%s", r)
	}
	data, err := os.ReadFile(spool)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := escpostest.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, op := range doc.Ops {
		if op.Image != nil {
			found = readQR(t, op.Image.Image(40, 40)) == printer.TestReceipt("", "es-AR").QRData
		}
	}
	if !found {
		t.Fatal("the test receipt has no readable QR with the sample payload")
	}
	if r := runCLI(t, ctx, "print-test", "-config", cfg, "-pos", "POS2"); r.code != 2 || !strings.Contains(r.stderr, "no printer") {
		t.Fatalf("%s", r)
	}
	if r := runCLI(t, ctx, "display-test", "-config", cfg, "-pos", "POS7"); r.code != 2 {
		t.Fatalf("%s", r)
	}
}

// The test QR of print-test and display-test is from the store's country,
// in its currency: an es-AR store does not get a Brazilian payload under
// "$ 1.234,50".
func TestDeviceTestQRMatchesLocale(t *testing.T) {
	for _, c := range []struct{ locale, country, currency string }{
		{"es-AR", "AR", "032"}, {"pt-BR", "BR", "986"}, {"es-MX", "MX", "484"}, {"es-CL", "CL", "152"},
		{"es-UY", "UY", "858"}, {"es-PE", "PE", "604"}, {"es-CO", "CO", "170"},
	} {
		t.Run(c.locale, func(t *testing.T) {
			dir := t.TempDir()
			shot, spool := filepath.Join(dir, "screen.png"), filepath.Join(dir, "spool.bin")
			cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: S1
locale: %s
state_dir: %s
pos:
  - external_pos_id: POS1
    displays: [{type: png, path: %s, size: 800x480}]
    printer: {transport: file, device: %s, profile: generic58}
`, c.locale, dir, shot, spool), 0o600)
			ctx := context.Background()
			if r := runCLI(t, ctx, "display-test", "-config", cfg); r.code != 0 {
				t.Fatalf("%s", r)
			}
			if r := runCLI(t, ctx, "print-test", "-config", cfg); r.code != 0 {
				t.Fatalf("%s", r)
			}
			b, err := os.ReadFile(shot)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			payloads := map[string]string{"display-test": readQR(t, img)}
			data, err := os.ReadFile(spool)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := escpostest.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range doc.Ops {
				if op.Image != nil {
					payloads["print-test"] = readQR(t, op.Image.Image(40, 40))
				}
			}
			for cmd, qr := range payloads {
				p, err := emvco.Parse(qr)
				if err != nil {
					t.Fatalf("%s QR %q: %v", cmd, qr, err)
				}
				country, _ := p.Get("58")
				currency, _ := p.Get("53")
				if country != c.country || currency != c.currency {
					t.Errorf("%s for %s: QR of country %q currency %q, want %s %s", cmd, c.locale, country, currency, c.country, c.currency)
				}
			}
			if len(payloads) != 2 {
				t.Errorf("the receipt has no raster QR: %v", payloads)
			}
		})
	}
}

func readQR(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("no QR: %v", err)
	}
	return res.GetText()
}
