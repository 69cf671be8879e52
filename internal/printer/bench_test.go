package printer

import (
	"fmt"

	"github.com/posagent/posagent/internal/printer/escpostest"
	"strings"
	"testing"
	"time"
)

func benchmarkEncode(b *testing.B, cfg Config) {
	enc := mustEncoder(b, cfg)
	r := goldenReceipt(SampleQRData)
	out, err := enc.Encode(r)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out))) // MB/s is receipt bytes produced
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeNative(b *testing.B) { benchmarkEncode(b, Config{Profile: "epson"}) }
func BenchmarkEncodeRaster(b *testing.B) { benchmarkEncode(b, Config{Profile: "generic58"}) }
func BenchmarkEncodeRasterDouble(b *testing.B) {
	benchmarkEncode(b, Config{Profile: "epson", QR: QRRaster})
}

func TestWireTime(t *testing.T) {
	for _, c := range []struct {
		n, baud int
		want    time.Duration
	}{
		{960, 9600, time.Second},
		{191, 9600, 198958333 * time.Nanosecond},
		{12720, 9600, 13250 * time.Millisecond},
		{11520, 115200, time.Second},
		{1, 0, 0},
	} {
		if got := WireTime(c.n, c.baud); got != c.want {
			t.Errorf("WireTime(%d, %d) = %v, want %v", c.n, c.baud, got, c.want)
		}
	}
}

// TestReceiptSizes prints (with -v) the table of receipt sizes and serial
// wire times for the README, for the real dynamic payload (147 chars), and
// checks the orderings the design rests on.
func TestReceiptSizes(t *testing.T) {
	rows := []struct {
		name string
		cfg  Config
	}{
		{"native 58 mm (epson58)", Config{Profile: "epson58"}},
		{"native 80 mm (epson)", Config{Profile: "epson"}},
		{"native 80 mm (tm-t88)", Config{Profile: "tm-t88"}},
		{"raster 58 mm (generic58)", Config{Profile: "generic58"}},
		{"raster 80 mm (generic80)", Config{Profile: "generic80"}},
		{"raster m=3 58 mm (epson58)", Config{Profile: "epson58", QR: QRRaster}},
		{"raster m=3 80 mm (epson)", Config{Profile: "epson", QR: QRRaster}},
	}
	bauds := []int{9600, 19200, 38400, 115200}
	r := goldenReceipt(SampleQRData)
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n| receipt | module dots | QR bytes | receipt bytes | 9600 | 19200 | 38400 | 115200 |\n|---|---|---|---|---|---|---|---|\n")
	sizes := map[string]int{}
	for _, row := range rows {
		enc := mustEncoder(t, row.cfg)
		out, err := enc.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		noQR := len(out) - qrBytes(t, enc, r.QRData)
		sizes[row.name] = len(out)
		fmt.Fprintf(&sb, "| %s | %d | %d | %d |", row.name, moduleOf(t, out), len(out)-noQR, len(out))
		for _, b := range bauds {
			fmt.Fprintf(&sb, " %.2f s |", WireTime(len(out), b).Seconds())
		}
		sb.WriteString("\n")
	}
	t.Log(sb.String())
	if sizes["native 80 mm (epson)"] >= sizes["raster 80 mm (generic80)"] {
		t.Error("native is not smaller than raster")
	}
	if 3*sizes["raster m=3 80 mm (epson)"] >= sizes["raster 80 mm (generic80)"] {
		t.Error("m=3 raster is not well under a third of the normal raster")
	}
}

// moduleOf reads the QR module size (in printed dots) back from a receipt.
func moduleOf(t *testing.T, out []byte) int {
	t.Helper()
	doc, err := escpostest.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if i := doc.Index(escpostest.QR); len(i) == 1 {
		return doc.Ops[i[0]].QR.Module
	}
	img := doc.Ops[doc.Index(escpostest.Raster)[0]].Image
	m, _ := escpostest.FinderModule(img.Image(0, 0))
	return m
}

// qrBytes is what the QR part (feeds, alignment and symbol) of a receipt
// costs.
func qrBytes(t *testing.T, enc *Encoder, data string) int {
	t.Helper()
	var b []byte
	var err error
	if enc.Native() {
		b, err = enc.appendNativeQR(nil, data)
	} else {
		b, err = enc.appendRasterQR(nil, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}
