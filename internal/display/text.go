package display

import (
	"image"
	"image/color"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
)

// Palette shared by every state; the web page's CSS uses the same values.
var (
	colorInk      = color.RGBA{0x1a, 0x1a, 0x1a, 0xff}
	colorMuted    = color.RGBA{0x6b, 0x6b, 0x6b, 0xff}
	colorAccent   = color.RGBA{0x00, 0x9e, 0xe3, 0xff} // Mercado Pago blue
	colorPaper    = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colorPaid     = color.RGBA{0x00, 0xa6, 0x50, 0xff}
	colorExpired  = color.RGBA{0xff, 0xb3, 0x00, 0xff}
	colorCanceled = color.RGBA{0x5f, 0x63, 0x68, 0xff}
	colorError    = color.RGBA{0xd3, 0x2f, 0x2f, 0xff}
	colorRule     = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

// canvas is one rendering: the surface it draws on, its bounds, and the
// fonts (with their faces and glyphs) it draws with.
type canvas struct {
	dst    surface
	bounds image.Rectangle
	fonts  *fonts
	// tick, if set, is told where the countdown line went, so that the
	// framebuffer can redraw just that line every second.
	tick *tickLine
}

// tickLine is where column drew the countdown, and how.
type tickLine struct {
	r      image.Rectangle // the column
	top, h int             // the line box
	px     int
	bold   bool
	align  align
	color  color.RGBA
	drawn  bool
	ink0   image.Rectangle // what the text on the device covers
}

type faceKey struct {
	bold bool
	px   int
}

// newCanvas makes a true-colour canvas of size with fonts of its own.
func newCanvas(size image.Point) (*canvas, *image.RGBA, error) {
	fs, err := newFonts()
	if err != nil {
		return nil, nil, err
	}
	img := image.NewRGBA(image.Rectangle{Max: size})
	return &canvas{dst: newRGBASurface(img), bounds: img.Rect, fonts: fs}, img, nil
}

// minFontPx keeps the rasterizer away from degenerate sizes; text that
// small is unreadable anyway but must not fail the render.
const minFontPx = 4

func (c *canvas) face(bold bool, px int) font.Face {
	return c.fonts.face(faceKey{bold, max(px, minFontPx)})
}

func (c *canvas) fill(r image.Rectangle, col color.RGBA) {
	c.dst.fill(r, col)
}

func measure(f font.Face, s string) int {
	return font.MeasureString(f, s).Ceil()
}

// fitWidth returns s, or s cut with an ellipsis, so that it is at most w
// pixels wide in f.
func fitWidth(f font.Face, s string, w int) string {
	if measure(f, s) <= w {
		return s
	}
	r := []rune(s)
	lo, hi := 0, len(r) // the longest prefix that fits with "…" is in [lo, hi)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if measure(f, string(r[:mid])+"…") <= w {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo == 0 {
		if measure(f, "…") <= w {
			return "…"
		}
		return ""
	}
	return string(r[:lo]) + "…"
}

// span is one line of a text column: its size is a fraction of the column's
// unit, its gap (above it) too.
type span struct {
	text  string
	bold  bool
	size  float64
	gap   float64
	color color.RGBA
	whole bool // never cut (an amount): shrink as far as needed instead
	tick  bool // the countdown: recorded in canvas.tick
}

type align int

const (
	alignCenter align = iota
	alignLeft
)

// column draws spans stacked and centred vertically in r. Everything
// shrinks together when the column is too tall; a line too wide first
// shrinks alone (to 60 %) and is then cut with an ellipsis.
func (c *canvas) column(r image.Rectangle, unit int, a align, spans []span) {
	if r.Empty() {
		return
	}
	height := func(scale float64) int {
		h := 0
		for _, s := range spans {
			px := max(int(s.size*float64(unit)*scale), minFontPx)
			h += int(s.gap*float64(unit)*scale) + px*5/4
		}
		return h
	}
	scale := 1.0
	if h := height(1); h > r.Dy() && h > 0 {
		scale = float64(r.Dy()) / float64(h)
	}
	y := r.Min.Y + (r.Dy()-height(scale))/2
	for _, s := range spans {
		px := max(int(s.size*float64(unit)*scale), minFontPx)
		y += int(s.gap * float64(unit) * scale)
		lineH := px * 5 / 4
		if s.tick && c.tick != nil {
			*c.tick = tickLine{r: r, top: y, h: lineH, px: px, bold: s.bold, align: a, color: s.color, drawn: true}
		}
		if s.text != "" {
			var f font.Face
			text := s.text
			if s.whole {
				f = c.shrinkToFit(text, s.bold, px, r.Dx())
			} else {
				f, text = c.fitLine(text, s.bold, px, r.Dx())
			}
			c.drawText(f, text, r, y, lineH, a, s.color)
		}
		y += lineH
	}
}

// fitLine picks the face and text for one line at most w wide.
func (c *canvas) fitLine(text string, bold bool, px, w int) (font.Face, string) {
	f := c.face(bold, px)
	if tw := measure(f, text); tw > w && w > 0 {
		shrunk := max(px*w/tw, px*3/5)
		f = c.face(bold, shrunk)
	}
	return f, fitWidth(f, text, w)
}

// shrinkToFit returns the largest face, at most px, in which text is at
// most w wide (or the smallest face there is).
func (c *canvas) shrinkToFit(text string, bold bool, px, w int) font.Face {
	f := c.face(bold, px)
	for tw := measure(f, text); tw > w && px > minFontPx; tw = measure(f, text) {
		px = max(min(px*w/tw, px-1), minFontPx)
		f = c.face(bold, px)
	}
	return f
}

// drawText draws text vertically centred in the line box [top, top+lineH),
// aligned within r's width.
func (c *canvas) drawText(f font.Face, text string, r image.Rectangle, top, lineH int, a align, col color.RGBA) {
	x := r.Min.X
	if a == alignCenter {
		x += (r.Dx() - measure(f, text)) / 2
	}
	m := f.Metrics()
	baseline := top + (lineH-(m.Ascent+m.Descent).Ceil())/2 + m.Ascent.Ceil()
	drawString(c.dst, f.(*glyphFace), fixed.P(x, baseline), text, col)
}

// drawRight draws text ending at r's right edge.
func (c *canvas) drawRight(f font.Face, text string, r image.Rectangle, top, lineH int, col color.RGBA) {
	c.drawText(f, text, image.Rect(r.Max.X-measure(f, text), r.Min.Y, r.Max.X, r.Max.Y), top, lineH, alignLeft, col)
}

// wrapWords breaks text into at most maxLines lines no wider than w in f,
// the last one cut with an ellipsis if the text does not fit.
func wrapWords(f font.Face, text string, w, maxLines int) []string {
	var lines []string
	words := strings.Fields(text)
	for len(words) > 0 && len(lines) < maxLines {
		n := 1
		for n < len(words) && measure(f, strings.Join(words[:n+1], " ")) <= w {
			n++
		}
		line := strings.Join(words[:n], " ")
		words = words[n:]
		if len(lines) == maxLines-1 && len(words) > 0 {
			line = strings.Join(append([]string{line}, words...), " ")
			words = nil
		}
		lines = append(lines, fitWidth(f, line, w))
	}
	return lines
}
