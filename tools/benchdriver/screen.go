package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	"golang.org/x/sys/unix"
)

// screenWatch times the frames a png display puts on screen: the display
// writes each frame to a temporary file and renames it over its path, so
// a frame is on screen when inotify reports the rename (IN_MOVED_TO). The
// frame is read at once, stamped with that time, and decoded only when a
// register asks which QR it shows, after the agent has answered: the
// decoding never competes with the agent for the CPU while it works.
type screenWatch struct {
	f      *os.File // the inotify descriptor, non-blocking: Close ends the reader
	path   string
	frames chan frame
	done   chan struct{}
}

// frame is one file the display renamed into place, and when.
type frame struct {
	at  time.Time
	png []byte
}

// maxFrames is how many frames may wait for a register to look at them;
// beyond that the oldest would be lost, which await reports.
const maxFrames = 4096

// watchScreen watches the png display file path.
func watchScreen(path string) (*screenWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify %s: %w", filepath.Dir(path), err)
	}
	w := &screenWatch{f: os.NewFile(uintptr(fd), "inotify"), path: path, frames: make(chan frame, maxFrames), done: make(chan struct{})}
	go w.read()
	return w, nil
}

func (w *screenWatch) close() {
	w.f.Close()
	<-w.done
}

// read turns rename events for the display's file into frames.
func (w *screenWatch) read() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	name := filepath.Base(w.path)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		at := time.Now()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if string(bytes.TrimRight(nameBytes, "\x00")) != name {
				continue
			}
			// Read now: a later frame replaces the file. If one already
			// has, this frame is timed by the newer content, which only
			// makes a QR look later on screen than it was, never earlier.
			b, err := os.ReadFile(w.path)
			if err != nil {
				continue
			}
			select {
			case w.frames <- frame{at: at, png: b}:
			default: // a register fell behind by maxFrames: await says so
			}
		}
	}
}

// errNotShown: no frame after the sale was sent showed its QR in time.
var errNotShown = errors.New("QR not seen on screen")

// await returns when the frame showing qr went on screen, skipping frames
// renamed before since (an earlier screen) and frames that show something
// else. It gives up after limit without such a frame (errNotShown: the
// frame may also have been one the QR reader cannot read).
func (w *screenWatch) await(ctx context.Context, since time.Time, qr string, limit time.Duration) (time.Time, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	for {
		select {
		case f := <-w.frames:
			if f.at.Before(since) {
				continue
			}
			if text, err := qrText(f.png); err == nil && text == qr {
				return f.at, nil
			}
		case <-t.C:
			if len(w.frames) == cap(w.frames) {
				return time.Time{}, fmt.Errorf("%s: more than %d frames waiting", w.path, maxFrames)
			}
			return time.Time{}, errNotShown
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// qrText decodes the QR on a png frame.
func qrText(b []byte) (string, error) {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}
