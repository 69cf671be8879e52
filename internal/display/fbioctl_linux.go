//go:build linux

package display

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The framebuffer ioctls and structs from linux/fb.h, which
// golang.org/x/sys/unix does not carry.
const (
	fbioGetVScreenInfo = 0x4600 // FBIOGET_VSCREENINFO
	fbioGetFScreenInfo = 0x4602 // FBIOGET_FSCREENINFO
)

// fbBitfield is struct fb_bitfield.
type fbBitfield struct {
	Offset   uint32 // beginning of bitfield
	Length   uint32 // length of bitfield
	MsbRight uint32 // != 0: most significant bit is right
}

// fbVarScreeninfo is struct fb_var_screeninfo.
type fbVarScreeninfo struct {
	Xres, Yres               uint32 // visible resolution
	XresVirtual, YresVirtual uint32 // virtual resolution
	Xoffset, Yoffset         uint32 // offset from virtual to visible
	BitsPerPixel             uint32
	Grayscale                uint32 // 0 = colour, 1 = grayscale, >1 = FOURCC
	Red, Green, Blue, Transp fbBitfield
	Nonstd                   uint32
	Activate                 uint32
	Height, Width            uint32 // in mm
	AccelFlags               uint32 // obsolete
	Pixclock                 uint32
	LeftMargin, RightMargin  uint32
	UpperMargin, LowerMargin uint32
	HsyncLen, VsyncLen       uint32
	Sync                     uint32
	Vmode                    uint32
	Rotate                   uint32
	Colorspace               uint32
	Reserved                 [4]uint32
}

// fbFixScreeninfo is struct fb_fix_screeninfo. The C unsigned longs are
// uintptr: the same size and alignment on every Linux Go supports.
type fbFixScreeninfo struct {
	ID           [16]byte
	SmemStart    uintptr // physical start of frame buffer memory
	SmemLen      uint32
	Type         uint32
	TypeAux      uint32
	Visual       uint32
	Xpanstep     uint16
	Ypanstep     uint16
	Ywrapstep    uint16
	LineLength   uint32 // length of a line in bytes
	MmioStart    uintptr
	MmioLen      uint32
	Accel        uint32
	Capabilities uint16
	Reserved     [2]uint16
}

// ioctlProbe reads the geometry of the framebuffer open as f.
func ioctlProbe(f *os.File) (fbInfo, error) {
	var v fbVarScreeninfo
	var fix fbFixScreeninfo
	if err := ioctl(f, fbioGetVScreenInfo, unsafe.Pointer(&v)); err != nil {
		return fbInfo{}, fmt.Errorf("FBIOGET_VSCREENINFO: %w (not a framebuffer?)", err)
	}
	if err := ioctl(f, fbioGetFScreenInfo, unsafe.Pointer(&fix)); err != nil {
		return fbInfo{}, fmt.Errorf("FBIOGET_FSCREENINFO: %w", err)
	}
	field := func(b fbBitfield) fbField { return fbField{offset: b.Offset, length: b.Length} }
	return fbInfo{
		width: int(v.Xres), height: int(v.Yres),
		xoffset: int(v.Xoffset), yoffset: int(v.Yoffset),
		bitsPerPixel: int(v.BitsPerPixel),
		lineLength:   int(fix.LineLength),
		red:          field(v.Red), green: field(v.Green), blue: field(v.Blue), transp: field(v.Transp),
		virtualH: int(v.YresVirtual),
	}, nil
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
