package display

import (
	"errors"
	"fmt"
	"image"
	"strconv"
	"strings"
	"sync"

	qrcode "github.com/skip2/go-qrcode"
)

// QuietZone is the blank margin, in modules, that the QR standard asks for
// around the symbol; scanners find the symbol by it.
const QuietZone = 4

// MinModulePx is the smallest module, in pixels, that Render draws. Below
// this phones fail to read a 150-character payload from a screen.
const MinModulePx = 3

// ECCLow asks RenderOptions for error correction level L. It exists because
// the zero value of qrcode.RecoveryLevel is qrcode.Low, and the zero value
// of RenderOptions.ECC has to mean "the default", which is Medium.
const ECCLow qrcode.RecoveryLevel = -1

// ErrTooSmall is wrapped by Render's error when the QR would get modules
// smaller than MinModulePx.
var ErrTooSmall = errors.New("too small to show the QR")

// errNoQR: an awaiting-payment screen needs something to scan.
var errNoQR = errors.New("qr_data: required for awaiting_payment")

// ParseECC reads a configured error correction level: L, M, Q or H (or "":
// the default M). L comes back as ECCLow, ready for RenderOptions.ECC.
func ParseECC(s string) (qrcode.RecoveryLevel, error) {
	switch strings.ToUpper(s) {
	case "L":
		return ECCLow, nil
	case "", "M":
		return qrcode.Medium, nil
	case "Q":
		return qrcode.High, nil // skip2 calls Q "High" (25 %) and H "Highest" (30 %)
	case "H":
		return qrcode.Highest, nil
	}
	return 0, fmt.Errorf("ecc: want L, M, Q or H, got %q", s)
}

// optionECC resolves RenderOptions.ECC: the zero value is Medium, ECCLow is L.
func optionECC(l qrcode.RecoveryLevel) (qrcode.RecoveryLevel, error) {
	switch l {
	case qrcode.Low:
		return qrcode.Medium, nil
	case ECCLow:
		return qrcode.Low, nil
	case qrcode.Medium, qrcode.High, qrcode.Highest:
		return l, nil
	}
	return 0, fmt.Errorf("ecc: unknown recovery level %d", int(l))
}

// qrMemo keeps the modules of one payload per error correction level.
// Encoding is most of what a QR screen costs; a POS with a png or
// framebuffer display and the web page would otherwise do it for each.
type qrMemo struct {
	mu   sync.Mutex
	mods map[qrcode.RecoveryLevel][][]bool
}

// qrModules returns QRModules(s.QRData, ecc), encoded once for all the
// copies of s the Controller handed out. The result is shared: read only.
func (s Screen) qrModules(ecc qrcode.RecoveryLevel) ([][]bool, error) {
	m := s.qr
	if m == nil {
		return QRModules(s.QRData, ecc)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if mods, ok := m.mods[ecc]; ok {
		return mods, nil
	}
	mods, err := QRModules(s.QRData, ecc)
	if err != nil {
		return nil, err
	}
	if m.mods == nil {
		m.mods = map[qrcode.RecoveryLevel][][]bool{}
	}
	m.mods[ecc] = mods
	return mods, nil
}

// QRModules encodes payload and returns its modules, [y][x], true for dark,
// without the quiet zone. ecc is taken literally (qrcode.Low is L); ECCLow
// is accepted as L too.
func QRModules(payload string, ecc qrcode.RecoveryLevel) ([][]bool, error) {
	if ecc == ECCLow {
		ecc = qrcode.Low
	}
	if ecc < qrcode.Low || ecc > qrcode.Highest {
		return nil, fmt.Errorf("ecc: unknown recovery level %d", int(ecc))
	}
	if payload == "" {
		return nil, errors.New("qr_data: empty payload")
	}
	q, err := qrcode.New(payload, ecc)
	if err != nil {
		return nil, fmt.Errorf("qr_data: %d bytes: %w", len(payload), err)
	}
	q.DisableBorder = true
	return q.Bitmap(), nil
}

// qrFit is where a QR goes inside its area.
type qrFit struct {
	module int             // pixels per module
	outer  image.Rectangle // symbol plus quiet zone
	symbol image.Rectangle // the modules alone
}

// fitQR places an n-module symbol in area with the largest whole-pixel
// module size at which the symbol and its quiet zone fit, centred.
func fitQR(n int, area image.Rectangle) (qrFit, error) {
	total := n + 2*QuietZone
	side := min(area.Dx(), area.Dy())
	m := side / total
	if m < MinModulePx {
		return qrFit{}, fmt.Errorf("%w: %d modules plus the %d-module quiet zone in %d px give %d px per module, at least %d needed (%d px)",
			ErrTooSmall, n, QuietZone, side, m, MinModulePx, total*MinModulePx)
	}
	px := total * m
	x0 := area.Min.X + (area.Dx()-px)/2
	y0 := area.Min.Y + (area.Dy()-px)/2
	outer := image.Rect(x0, y0, x0+px, y0+px)
	return qrFit{module: m, outer: outer, symbol: outer.Inset(QuietZone * m)}, nil
}

// qrSVG draws modules as an SVG in module units with the quiet zone, one
// path of horizontal runs, crisp edges: the browser scales it to whole
// pixels per module (see the page's script). The output holds only numbers
// and fixed markup, never outside text.
func qrSVG(modules [][]bool) string {
	n := len(modules)
	total := strconv.Itoa(n + 2*QuietZone)
	var b strings.Builder
	b.Grow(64 + n*n*3)
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + total + ` ` + total +
		`" shape-rendering="crispEdges" role="img"><rect width="` + total + `" height="` + total +
		`" fill="#fff"/><path fill="#000" d="`)
	for y, row := range modules {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := x
			for run < len(row) && row[run] {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+QuietZone, y+QuietZone, run-x, run-x)
			x = run
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}

// TerminalQR draws payload with half blocks, two module rows per text line:
// '█' both dark, '▀' top dark, '▄' bottom dark, ' ' both light, with a
// border of light modules. Dark is the glyph, so the lines need dark ink on
// a light background (the Terminal sink sets the colours). ECC L with a
// 2-module border keeps a 150-character payload within 80x24.
func TerminalQR(payload string, ecc qrcode.RecoveryLevel, border int) ([]string, error) {
	mods, err := QRModules(payload, ecc)
	if err != nil {
		return nil, err
	}
	if border < 0 {
		border = 0
	}
	n := len(mods) + 2*border
	inside := func(x, y int) bool {
		x, y = x-border, y-border
		return y >= 0 && y < len(mods) && x >= 0 && x < len(mods)
	}
	lines := make([]string, 0, (n+1)/2)
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		b.Reset()
		b.Grow(n * 3)
		for x := 0; x < n; x++ {
			top := inside(x, y) && mods[y-border][x-border]
			bottom := y+1 < n && inside(x, y+1) && mods[y+1-border][x-border]
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		lines = append(lines, b.String())
	}
	return lines, nil
}
