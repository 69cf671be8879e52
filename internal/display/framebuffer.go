package display

import (
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/draw"
	"os"
	"time"
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
// the frame with one write at the visible page, honouring the row stride.
// 16-bit (RGB565 and friends), 24-bit and 32-bit (XRGB/ARGB, any channel
// order the bitfields describe) are supported. The device is opened for
// each frame, so one that comes back after an unplug just works again.
type Framebuffer struct {
	device string
	opt    RenderOptions
	clock  func() time.Time
	// probe reads the device's geometry; tests swap it to use a plain file.
	probe func(f *os.File) (fbInfo, error)
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

// Show renders s at the device's resolution and writes it.
func (fb *Framebuffer) Show(ctx context.Context, s Screen) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.OpenFile(fb.device, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("framebuffer: %w", err)
	}
	defer f.Close()
	info, err := fb.probe(f)
	if err != nil {
		return fmt.Errorf("framebuffer %s: %w", fb.device, err)
	}
	if err := info.check(); err != nil {
		return fmt.Errorf("framebuffer %s: %w", fb.device, err)
	}
	opt := fb.opt
	if opt.Now.IsZero() {
		opt.Now = fb.clock()
	}
	img, err := Render(s, image.Pt(info.width, info.height), opt)
	if err != nil {
		return fmt.Errorf("framebuffer %s: %w", fb.device, err)
	}
	frame := encodeFrame(img, info)
	if _, err := f.WriteAt(frame, int64(info.yoffset)*int64(info.lineLength)); err != nil {
		return fmt.Errorf("framebuffer %s: write: %w", fb.device, err)
	}
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

// encodeFrame lays img out as device pixels, yres rows of lineLength bytes
// starting at the visible page's first row. Padding bytes are zero. Pixels
// are in the CPU's byte order, as the kernel keeps them.
func encodeFrame(img image.Image, info fbInfo) []byte {
	rgba, ok := img.(*image.RGBA)
	if !ok {
		rgba = image.NewRGBA(img.Bounds())
		draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	}
	r, g, b := channelLUT(info.red), channelLUT(info.green), channelLUT(info.blue)
	alpha := (uint32(1)<<info.transp.length - 1) << info.transp.offset // all ones: opaque
	bpp := info.bitsPerPixel / 8
	frame := make([]byte, info.height*info.lineLength)
	for y := range info.height {
		src := rgba.Pix[y*rgba.Stride : y*rgba.Stride+info.width*4]
		row := frame[y*info.lineLength+info.xoffset*bpp:]
		for x := range info.width {
			p := src[x*4 : x*4+3]
			v := r[p[0]] | g[p[1]] | b[p[2]] | alpha
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
	return frame
}
