package display

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
)

// PNG writes the whole screen as a PNG file, for signage players and
// anything else that can show a picture. The file is replaced atomically
// (temp file in the same directory, fsync, rename), so a reader never sees a
// partial image, and only when the screen changes: an SD card is not
// rewritten every second for a countdown. Awaiting screens therefore show
// the expiry as a wall-clock time (RenderOptions.Now left zero).
type PNG struct {
	path string
	size image.Point
	opt  RenderOptions

	written bool
	last    Screen
	swept   bool // stale temp files from a crash have been removed
}

// NewPNG returns a sink writing path at size. opt.Now, if set, pins the
// countdown (for tests); leave it zero in production.
func NewPNG(path string, size image.Point, opt RenderOptions) *PNG {
	return &PNG{path: path, size: size, opt: opt}
}

// Show renders s and replaces the file, unless s is what the file shows.
func (p *PNG) Show(ctx context.Context, s Screen) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.written && p.last.equal(s) {
		return nil
	}
	img, err := Render(s, p.size, p.opt)
	if err != nil {
		return fmt.Errorf("png %s: %w", p.path, err)
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed} // a Pi Zero's CPU matters more than a few KB
	if err := enc.Encode(&buf, img); err != nil {
		return fmt.Errorf("png %s: encode: %w", p.path, err)
	}
	if !p.swept {
		p.sweep()
	}
	if err := writeFileAtomic(p.path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	p.written, p.last = true, s.clone()
	return nil
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

// writeFileAtomic replaces path with data so that path is always either
// the old or the new complete file, also across a power cut.
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
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable only once the directory is synced.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
