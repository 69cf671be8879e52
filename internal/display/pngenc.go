package display

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"image"

	kflate "github.com/klauspost/compress/flate"
)

// palettedEncoder writes an *image.Paletted as an 8-bit palette PNG, one
// IDAT chunk. A row equal to the one above goes with filter Up, which makes
// it all zeros: deflate finds those runs faster than a copy of the row
// 801 bytes back, and the file is a fifth smaller. Other rows go unfiltered
// (filtering them all made the file smaller still but cost more time than
// it saved; image/png leaves palette images unfiltered too). It keeps its
// compressor and scratch rows between frames. It uses klauspost/compress's deflate (already in the
// binary through the embedded NATS server), whose level 1 is about 40 %
// faster than compress/flate's BestSpeed on these frames for the same
// size, and writes the zlib wrapper itself so that the checksum is
// computed once per distinct row: a screen's rows repeat (every QR module
// is several pixel rows tall, margins are blank), and Adler-32 over every
// byte was a fifth of a frame's cost.
type palettedEncoder struct {
	fw   *kflate.Writer
	idat bytes.Buffer
	row  []byte // filter byte None and the row's pixels
	up   []byte // filter byte Up and zeros: a row equal to the one above
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// zlibHeader is CMF/FLG for deflate with a 32 KiB window and the
// "fastest" level hint (RFC 1950 section 2.2).
var zlibHeader = []byte{0x78, 0x01}

// encode appends the PNG of img to w.
func (e *palettedEncoder) encode(w *bytes.Buffer, img *image.Paletted) error {
	b := img.Bounds()
	if len(img.Palette) < 1 || len(img.Palette) > 256 {
		return fmt.Errorf("palette of %d colours", len(img.Palette))
	}
	if err := e.compress(img); err != nil {
		return err
	}
	w.Write(pngSignature)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(b.Dx()))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(b.Dy()))
	ihdr[8], ihdr[9] = 8, 3 // bit depth 8, colour type 3: palette
	writeChunk(w, "IHDR", ihdr[:])
	var plte [256 * 3]byte
	for i, c := range img.Palette {
		r, g, bl, _ := c.RGBA()
		plte[3*i], plte[3*i+1], plte[3*i+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
	}
	writeChunk(w, "PLTE", plte[:3*len(img.Palette)])
	writeChunk(w, "IDAT", e.idat.Bytes())
	writeChunk(w, "IEND", nil)
	return nil
}

// compress leaves img's rows, each behind its filter byte, as a zlib
// stream in e.idat.
func (e *palettedEncoder) compress(img *image.Paletted) error {
	b := img.Bounds()
	e.idat.Reset()
	e.idat.Write(zlibHeader)
	if e.fw == nil {
		fw, err := kflate.NewWriter(&e.idat, kflate.BestSpeed)
		if err != nil {
			return err
		}
		e.fw = fw
	} else {
		e.fw.Reset(&e.idat)
	}
	row, up := e.rows(b.Dx())
	upSum := adler32.Checksum(up)
	var prev []byte
	sum := uint32(1) // Adler-32 of nothing is 1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		pix := img.Pix[img.PixOffset(b.Min.X, y):][:b.Dx()]
		out, outSum := up, upSum
		if prev == nil || !bytes.Equal(pix, prev) {
			copy(row[1:], pix)
			out, outSum = row, adler32.Checksum(row)
		}
		prev = pix
		sum = adler32Combine(sum, outSum, len(out))
		if _, err := e.fw.Write(out); err != nil {
			return err
		}
	}
	if err := e.fw.Close(); err != nil {
		return err
	}
	var trailer [4]byte
	binary.BigEndian.PutUint32(trailer[:], sum)
	e.idat.Write(trailer[:])
	return nil
}

// PNG filter types (PNG specification, section 9.2).
const (
	filterNone = 0
	filterUp   = 2
)

// rows returns the scratch rows for a frame width, each behind its filter
// byte: row for a row's own pixels (None), up for a row equal to the one
// above (Up: all zeros).
func (e *palettedEncoder) rows(width int) (row, up []byte) {
	if cap(e.row) < 1+width {
		e.row, e.up = make([]byte, 1+width), make([]byte, 1+width)
	}
	row, up = e.row[:1+width], e.up[:1+width]
	clear(up)
	row[0], up[0] = filterNone, filterUp
	return row, up
}

// adlerBase is Adler-32's modulus (RFC 1950 section 8.2).
const adlerBase = 65521

// adler32Combine returns the Adler-32 of A followed by B from the sums of
// A and B and B's length: the combination zlib's adler32_combine makes.
func adler32Combine(a, b uint32, lenB int) uint32 {
	rem := uint32(lenB % adlerBase)
	sum1 := a & 0xffff
	sum2 := rem * sum1 % adlerBase
	sum1 += b&0xffff + adlerBase - 1
	sum2 += a>>16 + b>>16 + adlerBase - rem
	if sum1 >= adlerBase {
		sum1 -= adlerBase
	}
	if sum1 >= adlerBase {
		sum1 -= adlerBase
	}
	if sum2 >= adlerBase<<1 {
		sum2 -= adlerBase << 1
	}
	if sum2 >= adlerBase {
		sum2 -= adlerBase
	}
	return sum1 | sum2<<16
}

func writeChunk(w *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	w.WriteString(typ)
	w.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}
