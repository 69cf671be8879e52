package printer

import (
	"bytes"
	"errors"
	"testing"
	"unicode"

	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/printer/escpostest"
)

// FuzzEncode: any text and payload either encodes to a stream the strict
// decoder accepts (one init, one cut at the end, no control byte in text,
// the payload intact in a native QR, a raster narrower than the line) or
// fails with a QR error; it never panics.
func FuzzEncode(f *testing.F) {
	f.Add("Café Central", "Ticket ñandú", "2 x Café", "¡Gracias!", SampleQRData, int64(123450), 3, uint8(0), false)
	f.Add("\x1b@\x1dV\x00", "\x10\x04\x01", "\u009b\u200b", "\xff", "1234", int64(-5), -7, uint8(3), true)
	f.Add("", "", "", "", "x", int64(9223372036854775807), 1<<30, uint8(4), true)
	f.Add("漢字", "e\u0301", "€", "\r\n\t", "\x00\x1b\x1d\x10", int64(0), 0, uint8(1), false)
	names := ProfileNames()
	f.Fuzz(func(t *testing.T, store, title, item, footer, qr string, amount int64, qty int, profile uint8, raster bool) {
		if len(qr) > 600 { // larger symbols only cost time: the capacity checks are tested elsewhere
			return
		}
		cfg := Config{Profile: names[int(profile)%len(names)], QR: QRNative, Location: art}
		if raster {
			cfg.QR = QRRaster
		}
		r := Receipt{StoreName: store, Title: title, Footer: footer, QRData: qr, Amount: money.Cents(amount),
			Locale: "pt-BR", OrderID: item, SaleID: title, Items: []Item{{Title: item, Quantity: qty, UnitPrice: money.Cents(amount)}}}
		enc := mustEncoder(t, cfg)
		out, err := enc.Encode(r)
		if err != nil {
			if qr != "" && !errors.Is(err, ErrQRTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		doc, err := escpostest.Decode(out)
		if err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
		if n := len(doc.Index(escpostest.Init)); n != 1 || doc.Ops[0].Kind != escpostest.Init {
			t.Fatalf("%d ESC @, first op %v", n, doc.Ops[0].Kind)
		}
		if cuts := doc.Index(escpostest.Cut); len(cuts) != 1 || cuts[0] != len(doc.Ops)-1 {
			t.Fatalf("cuts at %v of %d ops", cuts, len(doc.Ops))
		}
		if n := len(doc.Index(escpostest.StatusRequest)) + len(doc.Index(escpostest.CodeTable)) - 1; n != 0 {
			t.Fatalf("%d injected commands", n)
		}
		for _, l := range doc.Lines() {
			for _, c := range l {
				if unicode.IsControl(c) {
					t.Fatalf("control %U in line %q", c, l)
				}
			}
		}
		if enc.Native() {
			qrs := doc.Index(escpostest.QR)
			if len(qrs) != 1 || !bytes.Equal(doc.Ops[qrs[0]].QR.Data, []byte(qr)) {
				t.Fatalf("native QR payload lost")
			}
		} else {
			rs := doc.Index(escpostest.Raster)
			if len(rs) != 1 || doc.Ops[rs[0]].Image.WidthDots() >= enc.Profile().WidthDots {
				t.Fatalf("raster QR missing or padded to the line")
			}
		}
	})
}

// FuzzDecodeStatus: any three answer bytes give a known status or an
// error, never a panic.
func FuzzDecodeStatus(f *testing.F) {
	f.Add(byte(0x12), byte(0x12), byte(0x12))
	f.Add(byte(0x1A), byte(0x72), byte(0x72))
	f.Add(byte(0xFF), byte(0x00), byte(0x13))
	f.Fuzz(func(t *testing.T, a, b, c byte) {
		st, err := DecodeStatus(a, b, c)
		switch {
		case err != nil && st != StatusUnknown:
			t.Fatalf("error %v with status %v", err, st)
		case err == nil && st != StatusOK && !st.Problem() && st != StatusPaperNearEnd:
			t.Fatalf("status %q", st)
		}
	})
}
