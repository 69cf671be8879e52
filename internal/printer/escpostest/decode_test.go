package escpostest

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeKnownCommands(t *testing.T) {
	stream := []byte{
		0x1B, '@', 0x1B, 't', 19, 0x1B, 'a', 49, 0x1D, '!', 0x11,
		'C', 'a', 'f', 0x82, 0x0A,
		0x1B, 'J', 24, 0x1B, 'd', 3,
		0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x03,
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x30,
		0x1D, 0x28, 0x6B, 0x07, 0x00, 0x31, 0x50, 0x30, '1', '2', '3', '4',
		0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30,
		0x1D, 'v', '0', 0, 1, 0, 2, 0, 0xF0, 0x0F, // band 1: 1 byte x 2 rows
		0x1D, 'v', '0', 0, 1, 0, 1, 0, 0xAA, // band 2
		0x10, 0x04, 0x02,
		0x1D, 'V', 66, 0,
	}
	doc, err := Decode(stream)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, op := range doc.Ops {
		kinds = append(kinds, op.Kind.String())
	}
	want := "Init CodeTable Align Size Text LineFeed FeedDots FeedLines QR Raster StatusRequest Cut"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("ops %s\nwant %s", got, want)
	}
	if l := doc.Lines(); len(l) != 1 || l[0] != "Café" {
		t.Errorf("lines %q, want [Café] (CP858 0x82)", l)
	}
	qr := doc.Ops[8].QR
	if string(qr.Data) != "1234" || qr.Module != 3 || qr.ECC != 48 || qr.Model != 50 {
		t.Errorf("QR %+v", qr)
	}
	img := doc.Ops[9].Image
	if img.Bands != 2 || img.Rows != 3 || img.MaxBandRows != 2 || !img.Bit(0, 0) || img.Bit(4, 0) || !img.Bit(0, 2) || img.Bit(1, 2) {
		t.Errorf("raster %+v", img)
	}
	if doc.Ops[2].N != 1 || doc.Ops[10].N != 2 || doc.Ops[11].N != 66 {
		t.Errorf("parameters: align %d, DLE EOT %d, cut %d", doc.Ops[2].N, doc.Ops[10].N, doc.Ops[11].N)
	}
}

func TestDecodeQuadrupleRaster(t *testing.T) {
	doc, err := Decode([]byte{0x1D, 'v', '0', 3, 1, 0, 1, 0, 0x80})
	if err != nil {
		t.Fatal(err)
	}
	img := doc.Ops[0].Image
	pic := img.Image(1, 1)
	if img.WidthDots() != 16 || pic.Bounds().Dy() != 4 {
		t.Fatalf("m=3 image %dx%d, want 16 wide, 2+2 tall", img.WidthDots(), pic.Bounds().Dy())
	}
	for _, p := range [][2]int{{0, 1}, {1, 1}, {0, 2}, {1, 2}} {
		if pic.GrayAt(p[0], p[1]).Y != 0 {
			t.Errorf("dot %v white, want black (one bit = 2x2 dots)", p)
		}
	}
	if pic.GrayAt(2, 1).Y == 0 || pic.GrayAt(0, 0).Y == 0 {
		t.Error("dots outside the bit are black")
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := []struct {
		name   string
		stream []byte
	}{
		{"unknown ESC", []byte{0x1B, 'E', 1}},
		{"unknown GS", []byte{0x1D, 'k', 1}},
		{"carriage return", []byte{'a', 0x0D}},
		{"NUL", []byte{0}},
		{"DEL", []byte{0x7F}},
		{"unknown code table", []byte{0x1B, 't', 99}},
		{"bad alignment", []byte{0x1B, 'a', 3}},
		{"bad size", []byte{0x1D, '!', 0x88}},
		{"bad cut", []byte{0x1D, 'V', 2}},
		{"truncated ESC", []byte{0x1B}},
		{"truncated ESC t", []byte{0x1B, 't'}},
		{"truncated GS V B", []byte{0x1D, 'V', 65}},
		{"truncated raster", []byte{0x1D, 'v', '0', 0, 2, 0, 2, 0, 1, 2, 3}},
		{"empty raster", []byte{0x1D, 'v', '0', 0, 0, 0, 1, 0}},
		{"raster mode", []byte{0x1D, 'v', '0', 4, 1, 0, 1, 0, 0}},
		{"QR short store", []byte{0x1D, 0x28, 0x6B, 0x07, 0x00, 0x31, 0x50, 0x30, '1'}},
		{"QR print without store", []byte{0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30}},
		{"QR bad module", []byte{0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 17}},
		{"QR unknown function", []byte{0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x52, 0x30}},
		{"PDF417", []byte{0x1D, 0x28, 0x6B, 0x03, 0x00, 0x30, 0x41, 0x00}},
		{"DLE EOT 9", []byte{0x10, 0x04, 9}},
		{"DLE ENQ", []byte{0x10, 0x05, 1}},
	}
	for _, c := range cases {
		if doc, err := Decode(c.stream); err == nil {
			t.Errorf("%s: decoded %+v, want an error", c.name, doc.Ops)
		}
	}
	if _, err := Decode([]byte{0x1B}); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated: %v, want ErrTruncated", err)
	}
}

func TestFeedAround(t *testing.T) {
	doc, err := Decode([]byte{0x1B, 'J', 200, 0x1B, 'J', 40, 0x1D, 'v', '0', 0, 1, 0, 1, 0, 0xFF, 0x1B, 'J', 255, 'x'})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := doc.FeedAround(2); a != 240 || b != 255 {
		t.Errorf("FeedAround = %d, %d; want 240, 255", a, b)
	}
}
