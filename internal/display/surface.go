package display

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// surface is what a canvas draws on: flat rectangles, glyph masks in one
// colour and (RGBA only) a scaled logo. Everything Render draws goes through
// these three calls, so a surface decides the pixel format.
type surface interface {
	fill(r image.Rectangle, c color.RGBA)
	glyph(dr image.Rectangle, mask *image.Alpha, c color.RGBA)
	scale(dst image.Rectangle, src image.Image)
}

// rgbaSurface draws true colour: the pixels Render has always produced.
type rgbaSurface struct {
	img      *image.RGBA
	uniforms map[color.RGBA]*image.Uniform // one per colour, so drawing allocates nothing
}

func newRGBASurface(img *image.RGBA) *rgbaSurface {
	return &rgbaSurface{img: img, uniforms: make(map[color.RGBA]*image.Uniform)}
}

func (s *rgbaSurface) uniform(c color.RGBA) *image.Uniform {
	u, ok := s.uniforms[c]
	if !ok {
		u = image.NewUniform(c)
		s.uniforms[c] = u
	}
	return u
}

func (s *rgbaSurface) fill(r image.Rectangle, c color.RGBA) {
	draw.Draw(s.img, r, s.uniform(c), image.Point{}, draw.Src)
}

func (s *rgbaSurface) glyph(dr image.Rectangle, mask *image.Alpha, c color.RGBA) {
	draw.DrawMask(s.img, dr, s.uniform(c), image.Point{}, mask, mask.Rect.Min, draw.Over)
}

func (s *rgbaSurface) scale(dst image.Rectangle, src image.Image) {
	xdraw.ApproxBiLinear.Scale(s.img, dst, src, src.Bounds(), xdraw.Over, nil)
}

// fonts holds the parsed bundled fonts, the faces made from them and each
// face's rasterized glyphs. It is not safe for concurrent use: a sink keeps
// one for all its renders, Render makes a fresh one.
type fonts struct {
	regular, bold *opentype.Font
	faces         map[faceKey]*glyphFace
	glyphCount    int
}

// Bounds on the caches: outside text (store names, cart titles) could
// otherwise bring in any number of runes and sizes over months of uptime.
const (
	maxFaces  = 64
	maxGlyphs = 4096
)

func newFonts() (*fonts, error) {
	regular, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("bundled font goregular: %w", err)
	}
	bold, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("bundled font gobold: %w", err)
	}
	return &fonts{regular: regular, bold: bold, faces: make(map[faceKey]*glyphFace)}, nil
}

func (fs *fonts) face(k faceKey) *glyphFace {
	if f, ok := fs.faces[k]; ok {
		return f
	}
	if len(fs.faces) >= maxFaces || fs.glyphCount >= maxGlyphs {
		clear(fs.faces)
		fs.glyphCount = 0
	}
	src := fs.regular
	if k.bold {
		src = fs.bold
	}
	f, err := opentype.NewFace(src, &opentype.FaceOptions{Size: float64(k.px), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		// Only a bad size makes NewFace fail, and px is always >= minFontPx;
		// fall back to the smallest face rather than fail a whole screen.
		f, _ = opentype.NewFace(src, &opentype.FaceOptions{Size: minFontPx, DPI: 72})
	}
	gf := &glyphFace{Face: f, glyphs: make(map[glyphKey]glyph), count: &fs.glyphCount}
	fs.faces[k] = gf
	return gf
}

// glyphFace is a face that keeps every glyph it has rasterized: a screen
// redraws the same few dozen characters (digits, the currency, the texts)
// again and again, and rasterizing outlines is most of the cost of text.
type glyphFace struct {
	font.Face
	glyphs map[glyphKey]glyph
	count  *int
}

// glyphKey: a glyph rasterizes the same at every dot with the same
// sub-pixel phase, so a cached mask is exactly what the face would draw.
type glyphKey struct {
	r      rune
	fx, fy fixed.Int26_6
}

type glyph struct {
	off     image.Point  // mask origin relative to the dot's pixel
	mask    *image.Alpha // nil: nothing to draw
	advance fixed.Int26_6
}

func (f *glyphFace) glyph(dot fixed.Point26_6, r rune) glyph {
	k := glyphKey{r, dot.X & 63, dot.Y & 63}
	if g, ok := f.glyphs[k]; ok {
		return g
	}
	dr, mask, maskp, advance, _ := f.Face.Glyph(dot, r)
	g := glyph{advance: advance}
	if !dr.Empty() && mask != nil {
		pix := image.Point{dot.X.Floor(), dot.Y.Floor()}
		g.off = dr.Min.Sub(pix)
		g.mask = image.NewAlpha(image.Rectangle{Max: dr.Size()})
		draw.Draw(g.mask, g.mask.Rect, mask, maskp, draw.Src)
	}
	f.glyphs[k] = g
	*f.count++
	return g
}

// drawString draws s with its left end of the baseline at dot, as
// font.Drawer does (kerning included), from the glyph cache.
func drawString(dst surface, f *glyphFace, dot fixed.Point26_6, s string, c color.RGBA) {
	prev := rune(-1)
	for _, r := range s {
		if prev >= 0 {
			dot.X += f.Kern(prev, r)
		}
		g := f.glyph(dot, r)
		if g.mask != nil {
			at := image.Point{dot.X.Floor(), dot.Y.Floor()}.Add(g.off)
			dst.glyph(g.mask.Rect.Add(at), g.mask, c)
		}
		dot.X += g.advance
		prev = r
	}
}
