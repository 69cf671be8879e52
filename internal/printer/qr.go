package printer

import (
	"fmt"

	"github.com/skip2/go-qrcode"
)

// quietModules is the quiet zone the QR specification asks for on each
// side. Printers draw none themselves.
const quietModules = 4

// Native QR (GS ( k, cn 49) parameters.
const (
	qrModel2 = 50 // fn 165 n1
	qrECCM   = 49 // fn 169: 48-51 = L, M, Q, H. M survives smudged thermal paper.
)

// byteCapacityM is how many bytes each QR version holds at ECC M in byte
// mode (ISO/IEC 18004 table 7). The printer picks the version itself; byte
// mode is the largest any encoder needs, so sizing by it never lets the
// symbol outgrow the paper.
func byteCapacityM() [40]int {
	return [40]int{14, 26, 42, 62, 84, 106, 122, 152, 180, 213, 251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
		711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370, 1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099, 2213, 2331}
}

// nativeModules returns the width in modules of the symbol the printer will
// draw for n bytes, or 0 when no version holds them.
func nativeModules(n int) int {
	for i, c := range byteCapacityM() {
		if n <= c {
			return 17 + 4*(i+1)
		}
	}
	return 0
}

// moduleDots picks a module size: the preferred size, shrunk until the
// symbol and both quiet zones fit the line.
func moduleDots(modules, width, preferred int) int {
	return min(preferred, width/(modules+2*quietModules))
}

// appendNativeQR appends the symbol as GS ( k commands, centred, with the
// vertical quiet zone fed as blank paper above and below.
func (e *Encoder) appendNativeQR(b []byte, data string) ([]byte, error) {
	modules := nativeModules(len(data))
	if modules == 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrQRTooLarge, len(data))
	}
	m := moduleDots(modules, e.prof.WidthDots, e.prof.NativeModuleDots)
	if m < 1 {
		return nil, fmt.Errorf("%w: %d modules on %d dots", ErrQRTooLarge, modules, e.prof.WidthDots)
	}
	m = min(m, 16) // fn 167 accepts 1-16
	b = append(b, esc, 'a', 1)
	b = e.feedDots(b, quietModules*m)
	b = appendNativeQRCommands(b, []byte(data), byte(m), qrECCM)
	b = e.feedDots(b, quietModules*m)
	return b, nil
}

// appendNativeQRCommands appends model 2, module size, error correction,
// store and print. For "1234", size 3, ECC L (48) it is python-escpos's
// qr(native=True) byte for byte.
func appendNativeQRCommands(b, data []byte, module, ecc byte) []byte {
	n := len(data) + 3 // pL pH count cn, fn, m and the data
	b = append(b,
		gs, '(', 'k', 4, 0, 49, 65, qrModel2, 0, // fn 165: model 2
		gs, '(', 'k', 3, 0, 49, 67, module, // fn 167: module size
		gs, '(', 'k', 3, 0, 49, 69, ecc, // fn 169: error correction
		gs, '(', 'k', byte(n), byte(n>>8), 49, 80, 48) // fn 180: store
	b = append(b, data...)
	return append(b, gs, '(', 'k', 3, 0, 49, 81, 48) // fn 181: print
}

// rasterQR is a QR symbol as GS v 0 data: widthBytes x rows, MSB leftmost,
// the horizontal quiet zone included, the vertical one left to paper feed.
type rasterQR struct {
	mode          byte // 0 normal, 3 each bit printed as 2x2 dots
	widthBytes    int
	rows          int
	bits          []byte
	moduleDots    int // printed dots per module
	modules       int // symbol width without quiet zone
	bitsPerModule int
}

// makeRasterQR draws data with go-qrcode at ECC M. The bitmap is cropped to
// the symbol plus a 4-module quiet zone on each side (never padded to the
// full line: every byte costs wire time), the module size is the largest
// that fits the line, capped at limit dots (default 5).
func makeRasterQR(data string, width, limit int, double bool) (*rasterQR, error) {
	q, err := qrcode.New(data, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrQRTooLarge, err)
	}
	q.DisableBorder = true
	bm := q.Bitmap()
	n := len(bm)
	if limit <= 0 {
		limit = DefaultRasterModule
	}
	m := moduleDots(n, width, limit)
	if m < 1 {
		return nil, fmt.Errorf("%w: %d modules on %d dots", ErrQRTooLarge, n, width)
	}
	r := &rasterQR{modules: n, moduleDots: m, bitsPerModule: m}
	if double && m >= 2 {
		r.mode, r.bitsPerModule = 3, m/2
		r.moduleDots = 2 * r.bitsPerModule
	}
	k := r.bitsPerModule
	widthBits := (n + 2*quietModules) * k
	r.widthBytes = (widthBits + 7) / 8
	r.rows = n * k
	left := quietModules*k + (r.widthBytes*8-widthBits)/2 // centre the rounding slack
	r.bits = make([]byte, r.widthBytes*r.rows)
	for y, modRow := range bm {
		row := r.bits[y*k*r.widthBytes : (y*k+1)*r.widthBytes]
		for x, dark := range modRow {
			if !dark {
				continue
			}
			for i := left + x*k; i < left+(x+1)*k; i++ {
				row[i>>3] |= 0x80 >> (i & 7)
			}
		}
		for j := 1; j < k; j++ {
			copy(r.bits[(y*k+j)*r.widthBytes:], row)
		}
	}
	return r, nil
}

// appendRasterQR appends the symbol as GS v 0 bands, centred, with the
// vertical quiet zone fed as blank paper.
func (e *Encoder) appendRasterQR(b []byte, data string) ([]byte, error) {
	r, err := makeRasterQR(data, e.prof.WidthDots, e.maxModule, e.prof.RasterDouble)
	if err != nil {
		return nil, err
	}
	b = append(b, esc, 'a', 1)
	b = e.feedDots(b, quietModules*r.moduleDots)
	b = appendRaster(b, r.mode, r.widthBytes, r.bits, e.prof.RasterBandRows)
	b = e.feedDots(b, quietModules*r.moduleDots)
	return b, nil
}

// appendRaster appends GS v 0 commands of at most band rows each (0: one
// command).
func appendRaster(b []byte, mode byte, widthBytes int, bits []byte, band int) []byte {
	rows := len(bits) / widthBytes
	if band <= 0 {
		band = rows
	}
	for y := 0; y < rows; y += band {
		h := min(band, rows-y)
		b = append(b, gs, 'v', '0', mode, byte(widthBytes), byte(widthBytes>>8), byte(h), byte(h>>8))
		b = append(b, bits[y*widthBytes:(y+h)*widthBytes]...)
	}
	return b
}
