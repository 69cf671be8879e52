package display

import (
	"image"
	"image/color"
)

// The png display draws into a paletted image: one byte per pixel instead of
// four, so the frame is a quarter of the memory to fill and of the bytes to
// compress, and PNG encoders skip the per-row filter search for palettes.
// Every screen but an idle one with a logo uses a few flat colours and text
// in one colour on one background, so the palette is those colours plus, for
// each text colour on each background it is drawn on, the blends that its
// anti-aliased edges need, in alphaLevels steps. An edge pixel is then at
// most half a step (255/30, about 8 levels of 255) from the true-colour
// rendering; flat areas and the QR are exact.

// alphaLevels is the number of steps from background to text colour.
const alphaLevels = 15

// textPair is a text colour on a background.
type textPair struct{ bg, fg color.RGBA }

var colorWhite = color.RGBA{0xff, 0xff, 0xff, 0xff}

// screenPalette lists the flat colours and the text pairs the screens use.
// A colour or pair missing here makes the paletted surface give up (and the
// png display fall back to true colour), so a new colour is never drawn
// wrong, only slower until it is added here.
func screenPalette() ([]color.RGBA, []textPair) {
	black := color.RGBA{0, 0, 0, 0xff}
	flat := []color.RGBA{colorPaper, colorWhite, black, colorInk, colorMuted, colorAccent, colorRule,
		colorPaid, colorExpired, colorCanceled, colorError}
	pairs := []textPair{
		{colorPaper, colorInk}, {colorPaper, colorMuted}, {colorPaper, colorAccent},
		{colorPaid, colorWhite}, {colorExpired, colorInk}, {colorCanceled, colorWhite}, {colorError, colorWhite},
	}
	return flat, pairs
}

// palettedSurface draws on an *image.Paletted with the screen palette. When
// asked for something it cannot draw exactly enough (a colour outside the
// palette, a logo) it sets ok to false and the caller draws in true colour.
type palettedSurface struct {
	img  *image.Paletted
	ok   bool
	flat map[color.RGBA]uint8
	// blend[pair] is the palette index of level 1; levels run to
	// alphaLevels-1, level 0 is the background, alphaLevels the text colour.
	blend map[textPair]uint8
	// pairOf tells, for a blend index, which pair and level it is.
	pairOf map[uint8]pairLevel
}

type pairLevel struct {
	pair  textPair
	level int
}

// newPalettedSurface makes the palette and a reusable image of size.
func newPalettedSurface(size image.Point) *palettedSurface {
	flat, pairs := screenPalette()
	s := &palettedSurface{ok: true, flat: make(map[color.RGBA]uint8), blend: make(map[textPair]uint8), pairOf: make(map[uint8]pairLevel)}
	var pal color.Palette
	for _, c := range flat {
		if _, dup := s.flat[c]; !dup {
			s.flat[c] = uint8(len(pal))
			pal = append(pal, c)
		}
	}
	for _, p := range pairs {
		s.blend[p] = uint8(len(pal))
		for l := 1; l < alphaLevels; l++ {
			s.pairOf[uint8(len(pal))] = pairLevel{p, l}
			pal = append(pal, mix(p.bg, p.fg, l))
		}
	}
	s.img = image.NewPaletted(image.Rectangle{Max: size}, pal)
	return s
}

// mix is fg over bg at level/alphaLevels coverage, as draw.Over would
// compute it for an opaque background.
func mix(bg, fg color.RGBA, level int) color.RGBA {
	ch := func(b, f uint8) uint8 {
		return uint8((int(b)*(alphaLevels-level) + int(f)*level + alphaLevels/2) / alphaLevels)
	}
	return color.RGBA{ch(bg.R, fg.R), ch(bg.G, fg.G), ch(bg.B, fg.B), 0xff}
}

// reset readies the surface for a new frame.
func (s *palettedSurface) reset() { s.ok = true }

func (s *palettedSurface) fill(r image.Rectangle, c color.RGBA) {
	i, ok := s.flat[c]
	if !ok {
		s.ok = false
		return
	}
	r = r.Intersect(s.img.Rect)
	if r.Empty() {
		return
	}
	first := s.img.Pix[s.img.PixOffset(r.Min.X, r.Min.Y):][:r.Dx()]
	for x := range first {
		first[x] = i
	}
	for y := r.Min.Y + 1; y < r.Max.Y; y++ {
		copy(s.img.Pix[s.img.PixOffset(r.Min.X, y):], first)
	}
}

func (s *palettedSurface) glyph(dr image.Rectangle, mask *image.Alpha, c color.RGBA) {
	fgIdx, ok := s.flat[c]
	if !ok {
		s.ok = false
		return
	}
	clip := dr.Intersect(s.img.Rect)
	// Text sits on one background: remember its blend base rather than
	// look it up for every edge pixel.
	memoUnder, memoBase := -1, uint8(0)
	for y := clip.Min.Y; y < clip.Max.Y; y++ {
		dst := s.img.Pix[s.img.PixOffset(clip.Min.X, y):][:clip.Dx()]
		src := mask.Pix[mask.PixOffset(clip.Min.X-dr.Min.X+mask.Rect.Min.X, y-dr.Min.Y+mask.Rect.Min.Y):][:clip.Dx()]
		for x, a := range src {
			switch {
			case a == 0:
			case a == 0xff:
				dst[x] = fgIdx
			case int(dst[x]) == memoUnder:
				if level := (int(a)*alphaLevels + 127) / 255; level >= alphaLevels {
					dst[x] = fgIdx
				} else if level > 0 {
					dst[x] = memoBase + uint8(level-1)
				}
			default:
				if base, ok := s.blend[textPair{s.img.Palette[dst[x]].(color.RGBA), c}]; ok {
					memoUnder, memoBase = int(dst[x]), base
				}
				dst[x] = s.over(dst[x], fgIdx, c, int(a))
			}
		}
	}
}

// over puts text colour c at coverage a (of 255) on the pixel with index
// under, the palette's way.
func (s *palettedSurface) over(under, fgIdx uint8, c color.RGBA, a int) uint8 {
	level := (a*alphaLevels + 127) / 255
	if under == fgIdx || level == 0 {
		return under
	}
	if pl, ok := s.pairOf[under]; ok && pl.pair.fg == c {
		// Another glyph's edge in the same colour: coverages add up as
		// draw.Over's would, 1-(1-a)(1-b).
		level = pl.level + level - pl.level*level/alphaLevels
		under = s.flat[pl.pair.bg]
	}
	if level >= alphaLevels {
		return fgIdx
	}
	bg := s.img.Palette[under].(color.RGBA)
	base, ok := s.blend[textPair{bg, c}]
	if !ok {
		s.ok = false
		return under
	}
	return base + uint8(level-1)
}

func (s *palettedSurface) scale(image.Rectangle, image.Image) { s.ok = false }
