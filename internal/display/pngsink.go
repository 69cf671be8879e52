package display

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"time"
)

// PNG writes the whole screen as a PNG file, for signage players and
// anything else that can show a picture. The file is replaced atomically
// (temp file in the same directory, then rename), so a reader never sees a
// partial image, and only when the screen changes: an SD card is not
// rewritten every second for a countdown. Awaiting screens therefore show
// the expiry as a wall-clock time (RenderOptions.Now left zero).
//
// The file is not fsynced: it is a picture of the moment, and the agent
// rewrites it when it starts (the idle screen), so what a power cut could
// leave behind is replaced before anyone looks. Drawing is made cheap for a
// Pi: one paletted frame reused for every screen (true colour only for an
// idle screen with a logo), fonts and glyphs rasterized once, one deflate
// compressor reused at its fastest level, and the bytes of screens that do
// not depend on the sale (idle, canceled, expired, error) kept for next
// time.
type PNG struct {
	path string
	size image.Point
	opt  RenderOptions

	written bool
	last    Screen
	swept   bool // stale temp files from a crash have been removed

	fonts *fonts
	pal   *palettedSurface
	rgba  *rgbaSurface
	enc   png.Encoder // the true-colour frame
	pEnc  palettedEncoder
	buf   bytes.Buffer
	kept  map[keptKey][]byte
}

// keptKey is everything a screen that does not depend on the sale draws.
type keptKey struct {
	state                      State
	storeName, locale, message string
}

// maxKept bounds the kept screens (error messages vary).
const maxKept = 8

// NewPNG returns a sink writing path at size. opt.Now, if set, pins the
// countdown (for tests); leave it zero in production.
func NewPNG(path string, size image.Point, opt RenderOptions) *PNG {
	p := &PNG{path: path, size: size, opt: opt, kept: make(map[keptKey][]byte)}
	p.enc = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &encoderPool{}}
	return p
}

// encoderPool keeps the one compressor a sink needs between frames.
type encoderPool struct{ b *png.EncoderBuffer }

func (e *encoderPool) Get() *png.EncoderBuffer  { return e.b }
func (e *encoderPool) Put(b *png.EncoderBuffer) { e.b = b }

// resultSettle is how long the png and framebuffer displays let a result
// screen settle (see Settler): longer than the Orders API's usual round
// trip, short next to the seconds a customer looks at "paid".
const resultSettle = 250 * time.Millisecond

// ResultSettle skips result screens replaced within resultSettle.
func (p *PNG) ResultSettle() time.Duration { return resultSettle }

// Show renders s and replaces the file, unless s is what the file shows.
func (p *PNG) Show(ctx context.Context, s Screen) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.written && p.last.equal(s) {
		return nil
	}
	data, err := p.encode(s)
	if err != nil {
		return fmt.Errorf("png %s: %w", p.path, err)
	}
	if !p.swept {
		p.sweep()
	}
	if err := writeFileAtomic(p.path, data, 0o644); err != nil {
		return err
	}
	p.written, p.last = true, s.clone()
	return nil
}

// encode returns the PNG bytes of s, valid until the next call.
func (p *PNG) encode(s Screen) ([]byte, error) {
	key, keep := keptKey{s.State, s.StoreName, s.Locale, s.Message}, false
	switch s.State {
	case "", StateIdle, StateCanceled, StateExpired, StateError:
		if data, ok := p.kept[key]; ok {
			return data, nil
		}
		keep = true
	}
	fp, err := plan(s, p.size, p.opt)
	if err != nil {
		return nil, err
	}
	if p.fonts == nil {
		if p.fonts, err = newFonts(); err != nil {
			return nil, err
		}
	}
	if p.pal == nil {
		p.pal = newPalettedSurface(p.size)
	}
	p.pal.reset()
	c := &canvas{dst: p.pal, bounds: p.pal.img.Rect, fonts: p.fonts}
	c.draw(fp)
	p.buf.Reset()
	if p.pal.ok {
		err = p.pEnc.encode(&p.buf, p.pal.img)
	} else {
		if p.rgba == nil {
			p.rgba = newRGBASurface(image.NewRGBA(image.Rectangle{Max: p.size}))
		}
		c.dst = p.rgba
		c.draw(fp)
		err = p.enc.Encode(&p.buf, p.rgba.img)
	}
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if !keep {
		return p.buf.Bytes(), nil
	}
	if len(p.kept) >= maxKept {
		clear(p.kept)
	}
	data := bytes.Clone(p.buf.Bytes())
	p.kept[key] = data
	return data, nil
}

func (p *PNG) tempPattern() string { return "." + filepath.Base(p.path) + ".tmp-*" }

// sweep removes temp files a crash or power cut left between create and
// rename.
func (p *PNG) sweep() {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(p.path), p.tempPattern()))
	for _, f := range stale {
		_ = os.Remove(f)
	}
	p.swept = true
}

// writeFileAtomic replaces path with data so that a reader always finds
// either the old or the new complete file. It does not fsync (see PNG).
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("png %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("png %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
