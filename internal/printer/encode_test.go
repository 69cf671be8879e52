package printer

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/printer/escpostest"
	"golang.org/x/text/encoding/charmap"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// samples reads the real payloads of testdata/qr_data_samples.txt
// (copied to testdata/ so the package tests stand alone).
func samples(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/qr_data_samples.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) != 2 {
		t.Fatalf("want 2 samples, got %d", len(out))
	}
	return out
}

// art is Argentina's time zone, fixed so golden files do not depend on the
// machine's.
var art = time.FixedZone("ART", -3*3600)

func goldenReceipt(qr string) Receipt {
	return Receipt{
		StoreName: "Café Central",
		Title:     "Ticket 000123",
		Locale:    "es-AR",
		Amount:    money.Cents(123450),
		QRData:    qr,
		OrderID:   "ORD01JQ4S4KY8HWQ6NA5PXB65B3D3",
		SaleID:    "000123",
		ExpiresAt: time.Date(2026, 11, 23, 17, 15, 0, 0, time.UTC),
		Items:     []Item{{Title: "Café con leche", Quantity: 2, UnitPrice: 7500}, {Title: "Medialunas de manteca", Quantity: 6, UnitPrice: 900}},
		Footer:    "¡Gracias!",
	}
}

func mustEncoder(t testing.TB, cfg Config) *Encoder {
	t.Helper()
	if cfg.Location == nil {
		cfg.Location = art
	}
	e, err := NewEncoder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".bin")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s: %d bytes, golden %d; first difference at offset %d (go test -update rewrites it)", path, len(got), len(want), i)
	}
}

func TestGoldenReceipts(t *testing.T) {
	dynamic := samples(t)[0]
	cases := []struct {
		name string
		cfg  Config
		r    Receipt
	}{
		{"native-80mm-epson", Config{Profile: "epson"}, goldenReceipt(dynamic)},
		{"native-58mm-epson58", Config{Profile: "epson58"}, goldenReceipt(dynamic)},
		{"native-80mm-tm-t88", Config{Profile: "tm-t88"}, goldenReceipt(dynamic)},
		{"raster-58mm-generic58", Config{Profile: "generic58"}, goldenReceipt(dynamic)},
		{"raster-80mm-generic80", Config{Profile: "generic80"}, goldenReceipt(dynamic)},
		{"raster-double-80mm-epson", Config{Profile: "epson", QR: QRRaster}, goldenReceipt(dynamic)},
		{"raster-bands-58mm", Config{Profile: "generic58", RasterBandRows: 64}, goldenReceipt(dynamic)},
		{"accents-cp437", Config{Profile: "epson", CodePage: "cp437"}, accentReceipt(dynamic, "es-AR")},
		{"accents-cp850", Config{Profile: "epson", CodePage: "cp850"}, accentReceipt(dynamic, "es-AR")},
		{"accents-cp858", Config{Profile: "epson", CodePage: "cp858"}, accentReceipt(dynamic, "es-AR")},
		{"accents-cp860", Config{Profile: "epson", CodePage: "cp860"}, accentReceipt(dynamic, "pt-BR")},
		{"accents-wpc1252", Config{Profile: "epson", CodePage: "wpc1252"}, accentReceipt(dynamic, "pt-BR")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := mustEncoder(t, c.cfg).Encode(c.r)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := escpostest.Decode(got); err != nil {
				t.Fatalf("output does not decode: %v", err)
			}
			checkGolden(t, c.name, got)
		})
	}
}

// accentText has every letter the issue names plus the euro sign.
const accentText = "ñ á ç ã ¿ €"

func accentReceipt(qr, locale string) Receipt {
	r := goldenReceipt(qr)
	r.Locale = locale
	r.Title = accentText
	return r
}

func TestCodePageTranscoding(t *testing.T) {
	dynamic := samples(t)[0]
	cases := []struct {
		codePage string
		escT     int
		table    *charmap.Charmap
		want     []byte // ñ á ç ã ¿ € with the spaces
	}{
		{"cp437", 0, charmap.CodePage437, []byte{0xA4, ' ', 0xA0, ' ', 0x87, ' ', '?', ' ', 0xA8, ' ', '?'}},
		{"cp850", 2, charmap.CodePage850, []byte{0xA4, ' ', 0xA0, ' ', 0x87, ' ', 0xC6, ' ', 0xA8, ' ', '?'}},
		{"cp858", 19, charmap.CodePage858, []byte{0xA4, ' ', 0xA0, ' ', 0x87, ' ', 0xC6, ' ', 0xA8, ' ', 0xD5}},
		{"cp860", 3, charmap.CodePage860, []byte{0xA4, ' ', 0xA0, ' ', 0x87, ' ', 0x84, ' ', 0xA8, ' ', '?'}},
		{"wpc1252", 16, charmap.Windows1252, []byte{0xF1, ' ', 0xE1, ' ', 0xE7, ' ', 0xE3, ' ', 0xBF, ' ', 0x80}},
	}
	for _, c := range cases {
		t.Run(c.codePage, func(t *testing.T) {
			// The expectation must be what charmap itself says, '?' where
			// the table lacks the letter.
			var fromTable []byte
			for _, r := range accentText {
				b, ok := c.table.EncodeRune(r)
				if !ok {
					b = '?'
				}
				fromTable = append(fromTable, b)
			}
			if !bytes.Equal(fromTable, c.want) {
				t.Fatalf("charmap says % X, table here % X", fromTable, c.want)
			}
			out, err := mustEncoder(t, Config{Profile: "epson", CodePage: c.codePage}).Encode(accentReceipt(dynamic, "es-AR"))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := escpostest.Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			if tables := doc.Index(escpostest.CodeTable); len(tables) != 1 || doc.Ops[tables[0]].N != c.escT {
				t.Fatalf("ESC t: want one, n=%d; ops at %v", c.escT, tables)
			}
			if !bytes.Contains(out, append(c.want, lf)) {
				t.Errorf("title bytes % X not in the output", c.want)
			}
			var decoded []rune
			for _, b := range c.want {
				decoded = append(decoded, c.table.DecodeByte(b))
			}
			if lines := doc.Lines(); !contains(lines, string(decoded)) {
				t.Errorf("decoded lines %q lack %q", lines, string(decoded))
			}
		})
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func TestTextCannotInjectCommands(t *testing.T) {
	cp, _ := lookupCodePage("cp858")
	cases := []struct {
		in, want string
	}{
		{"Caf\u00e9", "Caf\x82"},
		{"Cafe\u0301", "Caf\x82"}, // decomposed é is composed first
		{"x\u0301", "x"},          // a lone mark the table lacks is dropped
		{"a\x1bd\x05b", "adb"},    // ESC d 5 would feed paper
		{"\x1dV\x00cut", "Vcut"},  // GS V would cut
		{"\x10\x04\x01", ""},      // DLE EOT
		{"two\nlines\r\there", "two lines  here"},
		{"\u009b2J", "2J"},                     // C1 CSI
		{"zero\u200bwidth\ufeff", "zerowidth"}, // format characters
		{"\xff\xfe", "??"},                     // invalid UTF-8
		{"漢字", "??"},
		{"\x7f", ""},
	}
	for _, c := range cases {
		if got := string(cp.text(c.in)); got != c.want {
			t.Errorf("text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	r := goldenReceipt(samples(t)[0])
	r.StoreName, r.Title, r.Footer = "Evil\x1b@\x1bt\x00", "\x1dV\x01\x1d!\x77", "\x10\x04\x02"
	r.Items = []Item{{Title: "\x1bJ\xff\x1b", Quantity: 1, UnitPrice: 1}}
	out, err := mustEncoder(t, Config{Profile: "epson"}).Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := escpostest.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[escpostest.Kind]int{}
	for _, op := range doc.Ops {
		counts[op.Kind]++
	}
	if counts[escpostest.Init] != 1 || counts[escpostest.Cut] != 1 || counts[escpostest.CodeTable] != 1 || counts[escpostest.StatusRequest] != 0 {
		t.Errorf("text injected commands: %v", counts)
	}
}

func TestQRRoundTrip(t *testing.T) {
	for _, qr := range samples(t) {
		for _, prof := range profiles() {
			for _, mode := range []string{QRNative, QRRaster} {
				t.Run(prof.Name+"/"+mode+"/"+qr[:22], func(t *testing.T) {
					checkQR(t, Config{Profile: prof.Name, QR: mode}, qr)
				})
			}
		}
	}
}

// checkQR encodes a receipt and checks its one QR: the payload comes back,
// the symbol fits the line with a 4-module quiet zone on every side, and a
// raster is cropped, not padded to the line.
func checkQR(t *testing.T, cfg Config, qr string) {
	t.Helper()
	enc := mustEncoder(t, cfg)
	prof := enc.Profile()
	out, err := enc.Encode(goldenReceipt(qr))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := escpostest.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	natives, rasters := doc.Index(escpostest.QR), doc.Index(escpostest.Raster)
	if len(natives)+len(rasters) != 1 {
		t.Fatalf("want one QR, got %d native and %d raster", len(natives), len(rasters))
	}
	var i, module int
	if enc.Native() {
		i = natives[0]
		q := doc.Ops[i].QR
		if string(q.Data) != qr {
			t.Fatalf("GS ( k payload %q, want %q", q.Data, qr)
		}
		if q.Model != 50 || q.ECC != 49 {
			t.Errorf("model %d ECC %d, want model 2 (50), ECC M (49)", q.Model, q.ECC)
		}
		module = q.Module
		modules := nativeModules(len(qr))
		if w := (modules + 2*quietModules) * module; w > prof.WidthDots {
			t.Errorf("symbol with quiet zone %d dots > line %d", w, prof.WidthDots)
		}
		if module != prof.NativeModuleDots {
			t.Errorf("module %d dots, want the profile's %d", module, prof.NativeModuleDots)
		}
	} else {
		i = rasters[0]
		img := doc.Ops[i].Image
		if want := byte(0); prof.RasterDouble {
			want = 3
			if img.Mode != int(want) {
				t.Errorf("raster mode %d, want %d", img.Mode, want)
			}
		} else if img.Mode != 0 {
			t.Errorf("raster mode %d, want 0", img.Mode)
		}
		if img.WidthDots() >= prof.WidthDots {
			t.Errorf("raster %d dots wide: padded to the %d-dot line", img.WidthDots(), prof.WidthDots)
		}
		if prof.RasterBandRows > 0 && img.MaxBandRows > prof.RasterBandRows {
			t.Errorf("a band of %d rows > %d", img.MaxBandRows, prof.RasterBandRows)
		}
		above, below := doc.FeedAround(i)
		pic := img.Image(above/prof.FeedUnitsPerDot, below/prof.FeedUnitsPerDot)
		got, err := escpostest.DecodeQR(pic)
		if err != nil {
			t.Fatal(err)
		}
		if got != qr {
			t.Fatalf("raster QR reads %q, want %q", got, qr)
		}
		var ok bool
		if module, ok = escpostest.FinderModule(pic); !ok {
			t.Fatal("no finder pattern at the top left")
		}
		if module > DefaultRasterModule {
			t.Errorf("module %d dots > the default cap %d", module, DefaultRasterModule)
		}
		left, right, _, _, _ := escpostest.Margins(pic)
		if min(left, right) < quietModules*module {
			t.Errorf("horizontal quiet zone %d/%d dots < 4 modules of %d", left, right, module)
		}
		if slack := img.WidthDots() - (img.WidthDots()/module-2*quietModules)*module; left+right > 2*quietModules*module+slack {
			t.Errorf("margins %d+%d: not cropped to the symbol", left, right)
		}
	}
	above, below := doc.FeedAround(i)
	if need := quietModules * module * prof.FeedUnitsPerDot; above < need || below < need {
		t.Errorf("feed around the QR %d/%d units, want >= %d (4 modules of %d dots)", above, below, need, module)
	}
	if a := doc.Ops[i].AlignNow; a != 1 {
		t.Errorf("QR alignment %d, want centred", a)
	}
}

func TestRasterDoubleIsAQuarter(t *testing.T) {
	qr := samples(t)[0]
	normal, err := makeRasterQR(qr, 576, 4, false)
	if err != nil {
		t.Fatal(err)
	}
	double, err := makeRasterQR(qr, 576, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	if double.mode != 3 || normal.moduleDots != double.moduleDots {
		t.Fatalf("double: mode %d, module %d dots (normal %d)", double.mode, double.moduleDots, normal.moduleDots)
	}
	if q := float64(len(double.bits)) / float64(len(normal.bits)); q < 0.2 || q > 0.3 {
		t.Errorf("double mode sends %.2f of the bytes, want about a quarter", q)
	}
}

func TestRasterBands(t *testing.T) {
	qr := samples(t)[0]
	for _, band := range []int{1, 7, 64, 255, 0} {
		out, err := mustEncoder(t, Config{Profile: "generic58", RasterBandRows: band}).Encode(goldenReceipt(qr))
		if band == 0 {
			out, err = mustEncoder(t, Config{Profile: "epson58", QR: QRRaster}).Encode(goldenReceipt(qr))
		}
		if err != nil {
			t.Fatal(err)
		}
		doc, err := escpostest.Decode(out)
		if err != nil {
			t.Fatal(err)
		}
		img := doc.Ops[doc.Index(escpostest.Raster)[0]].Image
		wantBands := 1
		if band > 0 {
			wantBands = (img.Rows + band - 1) / band
		}
		if img.Bands != wantBands || (band > 0 && img.MaxBandRows > band) {
			t.Errorf("band %d: %d bands of at most %d rows, want %d", band, img.Bands, img.MaxBandRows, wantBands)
		}
	}
}

func TestNativeQRReferenceVector(t *testing.T) {
	// python-escpos qr("1234", native=True): module size 3, ECC L.
	want := []byte{
		0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x03,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x30,
		0x1D, 0x28, 0x6B, 0x07, 0x00, 0x31, 0x50, 0x30, 0x31, 0x32, 0x33, 0x34,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30,
	}
	if got := appendNativeQRCommands(nil, []byte("1234"), 3, 48); !bytes.Equal(got, want) {
		t.Errorf("got  % X\nwant % X", got, want)
	}
	long := bytes.Repeat([]byte("A"), 300) // pL pH = 303 = 0x012F
	got := appendNativeQRCommands(nil, long, 6, 49)
	if i := bytes.Index(got, []byte{0x1D, 0x28, 0x6B, 0x2F, 0x01, 0x31, 0x50, 0x30}); i < 0 {
		t.Error("store command for 300 bytes lacks pL=0x2F pH=0x01")
	}
	if len(got) != 41+len(long) {
		t.Errorf("native QR is %d bytes, want 41 + payload", len(got))
	}
}

func TestModuleSizes(t *testing.T) {
	qr := samples(t)[0] // 147 bytes: version 8 (49 modules) in byte mode at ECC M
	cases := []struct {
		cfg        Config
		wantModule int
	}{
		{Config{Profile: "epson"}, 6},
		{Config{Profile: "epson58"}, 6}, // 57 * 6 = 342 <= 384
		{Config{Profile: "tm-t88"}, 5},
		{Config{Profile: "epson", PaperWidthDots: 256}, 4}, // shrunk to fit: 256 / 57
		{Config{Profile: "generic58"}, 5},                  // raster, capped at 5
		{Config{Profile: "generic80", MaxModuleDots: 8}, 8},
		{Config{Profile: "generic58", MaxModuleDots: 16}, 7}, // 384 / 53
	}
	for _, c := range cases {
		enc := mustEncoder(t, c.cfg)
		out, err := enc.Encode(goldenReceipt(qr))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := escpostest.Decode(out)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if enc.Native() {
			got = doc.Ops[doc.Index(escpostest.QR)[0]].QR.Module
		} else {
			img := doc.Ops[doc.Index(escpostest.Raster)[0]].Image
			got, _ = escpostest.FinderModule(img.Image(0, 0))
		}
		if got != c.wantModule {
			t.Errorf("%+v: module %d dots, want %d", c.cfg, got, c.wantModule)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	r := goldenReceipt("")
	if _, err := mustEncoder(t, Config{}).Encode(r); err == nil {
		t.Error("empty qr_data: no error")
	}
	r.QRData = strings.Repeat("x", 3000)
	for _, mode := range []string{QRNative, QRRaster} {
		if _, err := mustEncoder(t, Config{QR: mode}).Encode(r); !errors.Is(err, ErrQRTooLarge) {
			t.Errorf("%s: 3000 bytes: err %v, want ErrQRTooLarge", mode, err)
		}
	}
	r.QRData = strings.Repeat("x", 1000) // version 26+ cannot fit 128 dots
	if _, err := mustEncoder(t, Config{QR: QRNative, PaperWidthDots: 128}).Encode(r); !errors.Is(err, ErrQRTooLarge) {
		t.Errorf("too wide for the paper: err %v", err)
	}
}

func TestReceiptText(t *testing.T) {
	r := goldenReceipt(samples(t)[0])
	out, err := mustEncoder(t, Config{Profile: "epson58"}).Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := escpostest.Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Café Central",
		"Ticket 000123",
		"2 x Café con leche      $ 150,00",
		"6 x Medialunas de mantec $ 54,00", // cut to fit 32 columns
		"Total",
		"$ 1.234,50",
		"Escaneá el QR para pagar",
		"Orden:",
		"ORD01JQ4S4KY8HWQ6NA5PXB65B3D3",
		"Venta: 000123",
		"Vence: 23/11/2026 14:15", // 17:15 UTC in ART
		"¡Gracias!",
	}
	got := doc.Lines()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, l := range got {
		if len([]rune(l)) > 32 {
			t.Errorf("line %q longer than 32 columns", l)
		}
	}
	amount := doc.Index(escpostest.Text)
	for _, i := range amount {
		if doc.Ops[i].Text == "$ 1.234,50" && doc.Ops[i].SizeNow != 0x11 {
			t.Errorf("amount printed at size %#x, want double width and height", doc.Ops[i].SizeNow)
		}
	}
	cuts := doc.Index(escpostest.Cut)
	if len(cuts) != 1 || cuts[0] != len(doc.Ops)-1 || doc.Ops[cuts[0]].N != 0 {
		t.Errorf("want one full cut at the end; cuts at %v", cuts)
	}
	if doc.Ops[0].Kind != escpostest.Init {
		t.Errorf("first op %v, want ESC @", doc.Ops[0].Kind)
	}
	partial, _ := mustEncoder(t, Config{Profile: "generic58"}).Encode(r)
	if !bytes.HasSuffix(partial, []byte{gs, 'V', 1}) {
		t.Errorf("generic58 does not end with a partial cut: % X", partial[len(partial)-3:])
	}
}

func TestLabelsPerLocale(t *testing.T) {
	for _, c := range []struct{ locale, scan, amount string }{
		{"es-AR", "Escaneá el QR para pagar", "$ 1.234,50"},
		{"pt-BR", "Escaneie o QR para pagar", "R$ 1.234,50"},
		{"es-CL", "Escanea el QR para pagar", "$ 1.235"},
		{"en", "Scan the QR code to pay", "$ 1,234.50"},
		{"", "Scan the QR code to pay", "$ 1,234.50"},
	} {
		r := goldenReceipt(samples(t)[0])
		r.Locale = c.locale
		out, _ := mustEncoder(t, Config{}).Encode(r)
		doc, err := escpostest.Decode(out)
		if err != nil {
			t.Fatal(err)
		}
		if lines := doc.Lines(); !contains(lines, c.scan) || !contains(lines, c.amount) {
			t.Errorf("%s: lines %q lack %q or %q", c.locale, lines, c.scan, c.amount)
		}
	}
}
