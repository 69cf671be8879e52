package display

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"os"
	"strconv"
	"time"

	"golang.org/x/image/font"
)

// fbInfo is what the framebuffer sink needs to know about a device: the
// visible geometry, where the visible page starts, and the pixel layout.
type fbInfo struct {
	width, height    int // visible resolution (xres, yres)
	xoffset, yoffset int // the visible page inside the virtual one
	bitsPerPixel     int
	lineLength       int // bytes per row, which may exceed width*bytes per pixel
	red, green, blue fbField
	transp           fbField
	virtualH         int // yres_virtual: 0 when unknown
}

// fbField says where one colour channel sits in a pixel.
type fbField struct {
	offset, length uint32
}

// Framebuffer draws screens on a Linux framebuffer device (/dev/fbN): it
// reads the geometry and pixel format with the FBIOGET_VSCREENINFO and
// FBIOGET_FSCREENINFO ioctls, renders at the visible resolution and writes
// the frame at the visible page, honouring the row stride. 16-bit (RGB565
// and friends), 24-bit and 32-bit (XRGB/ARGB, any channel order the
// bitfields describe) are supported. The device is opened (and its
// geometry read) for each new screen, so one that comes back after an
// unplug just works again.
//
// A countdown tick of the same screen redraws only the countdown's line:
// it is drawn into the frame kept from the last screen, converted and
// written row by row for just that box, on the device still open from that
// screen, with no allocation.
type Framebuffer struct {
	device string
	opt    RenderOptions
	clock  func() time.Time
	// probe reads the device's geometry; tests swap it to use a plain file.
	probe func(f *os.File) (fbInfo, error)

	// Kept from the last full frame, for its countdown ticks.
	f      *os.File // nil: the next Show opens the device
	info   fbInfo
	last   Screen
	fonts  *fonts
	surf   *rgbaSurface
	frame  []byte
	luts   [3]*[256]uint32
	tick   tickLine
	tickAt []byte // the countdown text on the device
	buf    []byte // the next countdown text
}

// NewFramebuffer returns a sink for device. opt.Now, if set, pins the
// countdown (for tests); zero means the clock (WithClock, default
// time.Now).
func NewFramebuffer(device string, opt RenderOptions) *Framebuffer {
	return &Framebuffer{device: device, opt: opt, clock: time.Now, probe: ioctlProbe}
}

// WithClock sets the clock the countdown counts from; call before use.
func (fb *Framebuffer) WithClock(clock func() time.Time) *Framebuffer {
	fb.clock = clock
	return fb
}

// RefreshInterval asks the Controller for a redraw every second while a
// countdown runs.
func (fb *Framebuffer) RefreshInterval() time.Duration { return time.Second }

// ResultSettle skips result screens replaced within resultSettle.
func (fb *Framebuffer) ResultSettle() time.Duration { return resultSettle }

// Show draws s: only its countdown line when s is the screen already up,
// the whole frame otherwise.
func (fb *Framebuffer) Show(ctx context.Context, s Screen) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	opt := fb.opt
	if opt.Now.IsZero() {
		opt.Now = fb.clock()
	}
	var err error
	if fb.f != nil && fb.tick.drawn && fb.last.equal(s) {
		err = fb.showTick(s, opt)
	} else {
		err = fb.showFrame(s, opt)
	}
	if err != nil {
		fb.close()
		return fmt.Errorf("framebuffer %s: %w", fb.device, err)
	}
	return nil
}

func (fb *Framebuffer) close() {
	if fb.f != nil {
		fb.f.Close()
		fb.f = nil
	}
}

// showFrame opens the device afresh, renders s whole and writes it.
func (fb *Framebuffer) showFrame(s Screen, opt RenderOptions) error {
	fb.close()
	f, err := os.OpenFile(fb.device, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	fb.f = f
	info, err := fb.probe(f)
	if err != nil {
		return err
	}
	if err := info.check(); err != nil {
		return err
	}
	size := image.Pt(info.width, info.height)
	p, err := plan(s, size, opt)
	if err != nil {
		return err
	}
	if fb.surf == nil || fb.info != info {
		fb.surf = newRGBASurface(image.NewRGBA(image.Rectangle{Max: size}))
		fb.frame = make([]byte, info.height*info.lineLength)
		fb.luts = [3]*[256]uint32{channelLUT(info.red), channelLUT(info.green), channelLUT(info.blue)}
		fb.info = info
	}
	if fb.fonts == nil {
		if fb.fonts, err = newFonts(); err != nil {
			return err
		}
	}
	fb.tick, fb.last = tickLine{}, Screen{}
	c := &canvas{dst: fb.surf, bounds: fb.surf.img.Rect, fonts: fb.fonts, tick: &fb.tick}
	c.draw(p)
	fb.encode(fb.surf.img.Rect)
	if _, err := f.WriteAt(fb.frame, int64(info.yoffset)*int64(info.lineLength)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	fb.last = s.clone()
	fb.tickAt = append(fb.tickAt[:0], expiryLine(s.ExpiresAt, textsFor(s.Locale), opt)...)
	if fb.tick.drawn {
		f, text := c.fitLine(string(fb.tickAt), fb.tick.bold, fb.tick.px, fb.tick.r.Dx())
		fb.tick.ink0 = fb.tick.ink(f, text)
	}
	return nil
}

// showTick redraws the countdown line of the screen already up, if its
// text changed.
func (fb *Framebuffer) showTick(s Screen, opt RenderOptions) error {
	t := textsFor(s.Locale)
	fb.buf = appendCountdown(append(append(fb.buf[:0], t.ExpiresIn...), ' '), s.ExpiresAt.Sub(opt.Now))
	if bytes.Equal(fb.buf, fb.tickAt) {
		return nil
	}
	tl := &fb.tick
	c := &canvas{dst: fb.surf, bounds: fb.surf.img.Rect, fonts: fb.fonts}
	f := c.face(tl.bold, tl.px)
	text := string(fb.buf) // does not escape while it fits: no allocation
	if measure(f, text) > tl.r.Dx() {
		f, text = c.fitLine(text, tl.bold, tl.px, tl.r.Dx()) // too wide: as column does (allocates)
	}
	// Clear what the old text covered and what the new one will, no more.
	ink := tl.ink(f, text)
	box := tl.ink0.Union(ink).Intersect(fb.surf.img.Rect)
	c.fill(box, colorPaper)
	c.drawText(f, text, tl.r, tl.top, tl.h, tl.align, tl.color)
	tl.ink0 = ink
	fb.encode(box)
	bpp := fb.info.bitsPerPixel / 8
	base := int64(fb.info.yoffset) * int64(fb.info.lineLength)
	for y := box.Min.Y; y < box.Max.Y; y++ {
		off := y*fb.info.lineLength + (fb.info.xoffset+box.Min.X)*bpp
		if _, err := fb.f.WriteAt(fb.frame[off:off+box.Dx()*bpp], base+int64(off)); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	fb.tickAt = append(fb.tickAt[:0], fb.buf...)
	return nil
}

// check refuses geometries the encoder cannot honour, so that a strange
// device is an error message, not a panic or a garbled screen.
func (i fbInfo) check() error {
	switch i.bitsPerPixel {
	case 16, 24, 32:
	default:
		return fmt.Errorf("bits_per_pixel %d not supported (want 16, 24 or 32)", i.bitsPerPixel)
	}
	if i.width < 1 || i.height < 1 || i.width > MaxSide || i.height > MaxSide {
		return fmt.Errorf("resolution %dx%d not supported", i.width, i.height)
	}
	bpp := i.bitsPerPixel / 8
	if i.xoffset < 0 || i.yoffset < 0 || i.lineLength < (i.xoffset+i.width)*bpp {
		return fmt.Errorf("line_length %d too short for %d+%d pixels of %d bytes", i.lineLength, i.xoffset, i.width, bpp)
	}
	for name, f := range map[string]fbField{"red": i.red, "green": i.green, "blue": i.blue, "transp": i.transp} {
		if f.length > 16 || f.offset+f.length > uint32(i.bitsPerPixel) {
			return fmt.Errorf("%s bitfield offset %d length %d does not fit %d bits", name, f.offset, f.length, i.bitsPerPixel)
		}
	}
	if i.virtualH > 0 && i.yoffset+i.height > i.virtualH {
		return fmt.Errorf("visible page at row %d plus %d rows leaves the virtual %d rows", i.yoffset, i.height, i.virtualH)
	}
	if i.red.length == 0 || i.green.length == 0 || i.blue.length == 0 {
		return fmt.Errorf("not a true-colour format (red %d, green %d, blue %d bits)", i.red.length, i.green.length, i.blue.length)
	}
	return nil
}

// channelLUT maps an 8-bit channel value to its bits in a pixel.
func channelLUT(f fbField) *[256]uint32 {
	var lut [256]uint32
	maxv := uint32(1)<<f.length - 1
	for c := range lut {
		lut[c] = ((uint32(c)*maxv + 127) / 255) << f.offset
	}
	return &lut
}

// encode converts the pixels of r (in the kept image) into the kept frame:
// device pixels, yres rows of lineLength bytes from the visible page's
// first row, padding bytes zero, in the CPU's byte order as the kernel
// keeps them.
func (fb *Framebuffer) encode(r image.Rectangle) {
	info, rgba := fb.info, fb.surf.img
	r = r.Intersect(image.Rect(0, 0, info.width, info.height))
	red, green, blue := fb.luts[0], fb.luts[1], fb.luts[2]
	alpha := (uint32(1)<<info.transp.length - 1) << info.transp.offset // all ones: opaque
	bpp := info.bitsPerPixel / 8
	for y := r.Min.Y; y < r.Max.Y; y++ {
		src := rgba.Pix[y*rgba.Stride+r.Min.X*4 : y*rgba.Stride+r.Max.X*4]
		row := fb.frame[y*info.lineLength+(info.xoffset+r.Min.X)*bpp:]
		for x := range r.Dx() {
			p := src[x*4 : x*4+3]
			v := red[p[0]] | green[p[1]] | blue[p[2]] | alpha
			switch bpp {
			case 2:
				binary.NativeEndian.PutUint16(row[x*2:], uint16(v))
			case 3:
				row[x*3], row[x*3+1], row[x*3+2] = byte(v), byte(v>>8), byte(v>>16)
			case 4:
				binary.NativeEndian.PutUint32(row[x*4:], v)
			}
		}
	}
}

// ink is the part of the line box that text drawn in f may cover: its
// advance, plus a margin for glyphs that reach past it.
func (tl *tickLine) ink(f font.Face, text string) image.Rectangle {
	w := measure(f, text)
	x := tl.r.Min.X
	if tl.align == alignCenter {
		x += (tl.r.Dx() - w) / 2
	}
	pad := tl.px/4 + 1
	return image.Rect(x-pad, tl.top, x+w+pad, tl.top+tl.h).Intersect(image.Rect(tl.r.Min.X, tl.top, tl.r.Max.X, tl.top+tl.h))
}

// appendCountdown appends countdown(left) to b without allocating.
func appendCountdown(b []byte, left time.Duration) []byte {
	if left < 0 {
		left = 0
	}
	if secs := int64((left + time.Second - 1) / time.Second); secs < 60 {
		return append(strconv.AppendInt(b, secs, 10), " s"...)
	}
	mins := max(int64(left/time.Minute), 1)
	if mins < 60 {
		return append(strconv.AppendInt(b, mins, 10), " min"...)
	}
	b = append(strconv.AppendInt(b, mins/60, 10), " h "...)
	return append(b, byte('0'+mins%60/10), byte('0'+mins%10), ' ', 'm', 'i', 'n')
}
