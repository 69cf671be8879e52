// Package escpostest decodes the ESC/POS subset posagent emits, for tests:
// it walks a byte stream command by command, rejects anything it does not
// know (an unknown command, a stray control byte in text, a truncated
// command), pulls the QR payload out of GS ( k, turns GS v 0 bands back
// into one image and reads that image with gozxing.
//
// It knows ESC @, ESC t, ESC a, ESC J, ESC d, GS !, GS V, GS ( k (QR
// functions 165, 167, 169, 180, 181), GS v 0, DLE EOT, LF and text.
package escpostest

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"golang.org/x/text/encoding/charmap"
)

// Kind is what one Op does.
type Kind int

// The operations Decode produces.
const (
	Init          Kind = iota // ESC @
	CodeTable                 // ESC t n: N is the table number
	Align                     // ESC a n: N is 0 left, 1 centre, 2 right
	FeedDots                  // ESC J n: N motion units
	FeedLines                 // ESC d n: N lines
	Size                      // GS ! n: N is the size byte
	Cut                       // GS V: N is m (0/48 full, 1/49 partial, 65/66 feed and cut)
	QR                        // GS ( k fn 181: print the stored symbol (QR field)
	Raster                    // GS v 0, consecutive bands merged (Image field)
	StatusRequest             // DLE EOT n: N is n
	Text                      // printable bytes (Raw, and Text decoded)
	LineFeed                  // LF
)

func (k Kind) String() string {
	names := [...]string{"Init", "CodeTable", "Align", "FeedDots", "FeedLines", "Size", "Cut", "QR", "Raster", "StatusRequest", "Text", "LineFeed"}
	if int(k) < len(names) {
		return names[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Op is one decoded command.
type Op struct {
	Kind   Kind
	Offset int // where the command starts in the stream
	N      int
	Raw    []byte // Text: the bytes as sent
	Text   string // Text: decoded with the code table in force
	QR     *NativeQR
	Image  *RasterImage
	// Align and Size in force when the op was decoded.
	AlignNow int
	SizeNow  int
}

// NativeQR is a printed GS ( k symbol with the settings in force.
type NativeQR struct {
	Model  int // 49 model 1, 50 model 2, 51 micro
	Module int // dots per module (printer default 3)
	ECC    int // 48-51: L, M, Q, H (printer default 48)
	Data   []byte
}

// RasterImage is one GS v 0 image, its bands joined.
type RasterImage struct {
	Mode        int // 0 normal, 1 double width, 2 double height, 3 both
	WidthBytes  int
	Rows        int
	Bits        []byte // WidthBytes per row, MSB leftmost
	Bands       int
	MaxBandRows int
}

// Scale returns how many dots each bit covers across and down.
func (r *RasterImage) Scale() (x, y int) {
	x, y = 1, 1
	if r.Mode&1 != 0 {
		x = 2
	}
	if r.Mode&2 != 0 {
		y = 2
	}
	return x, y
}

// WidthDots is the printed width.
func (r *RasterImage) WidthDots() int {
	sx, _ := r.Scale()
	return r.WidthBytes * 8 * sx
}

// Bit reports whether data bit (x, y) is black.
func (r *RasterImage) Bit(x, y int) bool {
	return r.Bits[y*r.WidthBytes+x/8]&(0x80>>(x%8)) != 0
}

// Image returns the image as printed (bits scaled to dots), black on white,
// with white rows above and below (the paper fed around it).
func (r *RasterImage) Image(above, below int) *image.Gray {
	sx, sy := r.Scale()
	w, h := r.WidthBytes*8*sx, r.Rows*sy
	img := image.NewGray(image.Rect(0, 0, w, above+h+below))
	for i := range img.Pix {
		img.Pix[i] = 0xFF
	}
	for y := range h {
		for x := range w {
			if r.Bit(x/sx, y/sy) {
				img.SetGray(x, above+y, color.Gray{})
			}
		}
	}
	return img
}

// Doc is a decoded stream.
type Doc struct {
	Ops []Op
}

// CodeTableFor maps an Epson ESC t number to its character table.
func CodeTableFor(n int) (*charmap.Charmap, bool) {
	switch n {
	case 0:
		return charmap.CodePage437, true
	case 2:
		return charmap.CodePage850, true
	case 3:
		return charmap.CodePage860, true
	case 16:
		return charmap.Windows1252, true
	case 19:
		return charmap.CodePage858, true
	}
	return nil, false
}

// ErrTruncated means the stream ends inside a command.
var ErrTruncated = errors.New("stream ends inside a command")

type decoder struct {
	b      []byte
	pos    int
	ops    []Op
	table  *charmap.Charmap
	align  int
	size   int
	qr     NativeQR
	stored []byte
}

// Decode walks b. It fails on the first byte it cannot account for.
func Decode(b []byte) (*Doc, error) {
	d := &decoder{b: b, table: charmap.CodePage437}
	d.reset()
	for d.pos < len(d.b) {
		if err := d.step(); err != nil {
			return nil, fmt.Errorf("offset %d: %w", d.pos, err)
		}
	}
	return &Doc{Ops: d.ops}, nil
}

func (d *decoder) reset() {
	d.table, d.align, d.size = charmap.CodePage437, 0, 0
	d.qr = NativeQR{Model: 50, Module: 3, ECC: 48}
	d.stored = nil
}

// need returns the next n bytes after the current position plus skip.
func (d *decoder) need(n int) ([]byte, error) {
	if d.pos+n > len(d.b) {
		return nil, ErrTruncated
	}
	return d.b[d.pos : d.pos+n], nil
}

func (d *decoder) emit(op Op, length int) {
	op.Offset, op.AlignNow, op.SizeNow = d.pos, d.align, d.size
	d.ops = append(d.ops, op)
	d.pos += length
}

func (d *decoder) step() error {
	c := d.b[d.pos]
	switch {
	case c == 0x0A:
		d.emit(Op{Kind: LineFeed}, 1)
		return nil
	case c == 0x1B:
		return d.esc()
	case c == 0x1D:
		return d.gs()
	case c == 0x10:
		p, err := d.need(3)
		if err != nil {
			return err
		}
		if p[1] != 0x04 || p[2] < 1 || p[2] > 4 {
			return fmt.Errorf("unknown DLE command % X", p)
		}
		d.emit(Op{Kind: StatusRequest, N: int(p[2])}, 3)
		return nil
	case c < 0x20 || c == 0x7F:
		return fmt.Errorf("control byte %#02x in text", c)
	}
	end := d.pos
	for end < len(d.b) && d.b[end] >= 0x20 && d.b[end] != 0x7F {
		end++
	}
	raw := d.b[d.pos:end]
	text := make([]rune, len(raw))
	for i, x := range raw {
		text[i] = d.table.DecodeByte(x)
	}
	d.emit(Op{Kind: Text, Raw: raw, Text: string(text)}, len(raw))
	return nil
}

func (d *decoder) esc() error {
	p, err := d.need(2)
	if err != nil {
		return err
	}
	if p[1] == '@' {
		d.reset()
		d.emit(Op{Kind: Init}, 2)
		return nil
	}
	p, err = d.need(3)
	if err != nil {
		return err
	}
	n := int(p[2])
	switch p[1] {
	case 't':
		t, ok := CodeTableFor(n)
		if !ok {
			return fmt.Errorf("ESC t %d: code table not known here", n)
		}
		d.table = t
		d.emit(Op{Kind: CodeTable, N: n}, 3)
	case 'a':
		if n >= 48 {
			n -= 48
		}
		if n > 2 {
			return fmt.Errorf("ESC a %d: not an alignment", p[2])
		}
		d.align = n
		d.emit(Op{Kind: Align, N: n}, 3)
	case 'J':
		d.emit(Op{Kind: FeedDots, N: n}, 3)
	case 'd':
		d.emit(Op{Kind: FeedLines, N: n}, 3)
	default:
		return fmt.Errorf("unknown command ESC %#02x", p[1])
	}
	return nil
}

func (d *decoder) gs() error {
	p, err := d.need(3)
	if err != nil {
		return err
	}
	switch p[1] {
	case '!':
		if p[2]&0x0F > 7 || p[2]>>4 > 7 {
			return fmt.Errorf("GS ! %#02x: size out of range", p[2])
		}
		d.size = int(p[2])
		d.emit(Op{Kind: Size, N: int(p[2])}, 3)
	case 'V':
		switch p[2] {
		case 0, 1, 48, 49:
			d.emit(Op{Kind: Cut, N: int(p[2])}, 3)
		case 65, 66:
			if _, err := d.need(4); err != nil {
				return err
			}
			d.emit(Op{Kind: Cut, N: int(p[2])}, 4)
		default:
			return fmt.Errorf("GS V %d: unknown cut", p[2])
		}
	case '(':
		return d.qrCommand()
	case 'v':
		return d.raster()
	default:
		return fmt.Errorf("unknown command GS %#02x", p[1])
	}
	return nil
}

// qrCommand handles GS ( k pL pH cn fn ...; only cn 49 (QR).
func (d *decoder) qrCommand() error {
	h, err := d.need(7)
	if err != nil {
		return err
	}
	if h[2] != 'k' {
		return fmt.Errorf("unknown command GS ( %#02x", h[2])
	}
	n := int(h[3]) | int(h[4])<<8
	if n < 2 {
		return fmt.Errorf("GS ( k: length %d too short", n)
	}
	p, err := d.need(5 + n)
	if err != nil {
		return err
	}
	args := p[5:]
	cn, fn, params := args[0], args[1], args[2:]
	if cn != 49 {
		return fmt.Errorf("GS ( k cn %d: only QR (49) is known here", cn)
	}
	bad := func() error { return fmt.Errorf("GS ( k fn %d: bad parameters % X", fn, params) }
	switch fn {
	case 65: // model
		if len(params) != 2 || params[0] < 49 || params[0] > 51 || params[1] != 0 {
			return bad()
		}
		d.qr.Model = int(params[0])
	case 67: // module size
		if len(params) != 1 || params[0] < 1 || params[0] > 16 {
			return bad()
		}
		d.qr.Module = int(params[0])
	case 69: // error correction
		if len(params) != 1 || params[0] < 48 || params[0] > 51 {
			return bad()
		}
		d.qr.ECC = int(params[0])
	case 80: // store
		if len(params) < 2 || params[0] != 48 {
			return bad()
		}
		d.stored = append([]byte(nil), params[1:]...)
	case 81: // print
		if len(params) != 1 || params[0] != 48 {
			return bad()
		}
		if d.stored == nil {
			return errors.New("GS ( k fn 81: print with no symbol stored")
		}
		q := d.qr
		q.Data = d.stored
		d.emit(Op{Kind: QR, QR: &q}, 5+n)
		return nil
	default:
		return fmt.Errorf("GS ( k fn %d: not known here", fn)
	}
	d.pos += 5 + n
	return nil
}

// raster handles GS v 0 m xL xH yL yH d..., joining it to the previous op
// when that is a band of the same image.
func (d *decoder) raster() error {
	h, err := d.need(8)
	if err != nil {
		return err
	}
	if h[2] != '0' && h[2] != 0 {
		return fmt.Errorf("unknown command GS v %#02x", h[2])
	}
	m := int(h[3])
	if m >= 48 {
		m -= 48
	}
	if m > 3 {
		return fmt.Errorf("GS v 0 m=%d: not a mode", h[3])
	}
	x, y := int(h[4])|int(h[5])<<8, int(h[6])|int(h[7])<<8
	if x == 0 || y == 0 {
		return fmt.Errorf("GS v 0: empty image %dx%d", x, y)
	}
	p, err := d.need(8 + x*y)
	if err != nil {
		return err
	}
	bits := p[8:]
	if k := len(d.ops) - 1; k >= 0 && d.ops[k].Kind == Raster && d.ops[k].Image.Mode == m && d.ops[k].Image.WidthBytes == x {
		img := d.ops[k].Image
		img.Bits = append(img.Bits, bits...)
		img.Rows += y
		img.Bands++
		img.MaxBandRows = max(img.MaxBandRows, y)
		d.pos += 8 + x*y
		return nil
	}
	img := &RasterImage{Mode: m, WidthBytes: x, Rows: y, Bits: append([]byte(nil), bits...), Bands: 1, MaxBandRows: y}
	d.emit(Op{Kind: Raster, Image: img}, 8+x*y)
	return nil
}

// Lines returns the printed text lines (a line ends at LF, or at ESC J or
// ESC d, which print what is buffered).
func (doc *Doc) Lines() []string {
	var lines []string
	var cur []byte
	pending := false
	for _, op := range doc.Ops {
		switch op.Kind {
		case Text:
			cur = append(cur, op.Text...)
			pending = true
		case LineFeed:
			lines = append(lines, string(cur))
			cur, pending = cur[:0], false
		case FeedDots, FeedLines:
			if pending {
				lines = append(lines, string(cur))
				cur, pending = cur[:0], false
			}
		}
	}
	if pending {
		lines = append(lines, string(cur))
	}
	return lines
}

// Index returns the positions of the ops of kind k.
func (doc *Doc) Index(k Kind) []int {
	var at []int
	for i, op := range doc.Ops {
		if op.Kind == k {
			at = append(at, i)
		}
	}
	return at
}

// FeedAround sums the ESC J units sent right before and right after op i
// (the blank paper around an image, before any other command).
func (doc *Doc) FeedAround(i int) (above, below int) {
	for j := i - 1; j >= 0 && doc.Ops[j].Kind == FeedDots; j-- {
		above += doc.Ops[j].N
	}
	for j := i + 1; j < len(doc.Ops) && doc.Ops[j].Kind == FeedDots; j++ {
		below += doc.Ops[j].N
	}
	return above, below
}
