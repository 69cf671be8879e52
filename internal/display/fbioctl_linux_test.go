//go:build linux

package display

import (
	"testing"
	"unsafe"
)

// The structs must match linux/fb.h byte for byte, or the ioctls write
// past them.
func TestFramebufferStructSizes(t *testing.T) {
	if got := unsafe.Sizeof(fbVarScreeninfo{}); got != 160 {
		t.Errorf("fb_var_screeninfo is %d bytes, want 160", got)
	}
	want := uintptr(68) // 32-bit: unsigned long is 4 bytes
	if unsafe.Sizeof(uintptr(0)) == 8 {
		want = 80
	}
	if got := unsafe.Sizeof(fbFixScreeninfo{}); got != want {
		t.Errorf("fb_fix_screeninfo is %d bytes, want %d", got, want)
	}
	if got := unsafe.Offsetof(fbFixScreeninfo{}.LineLength); got != unsafe.Sizeof(uintptr(0))+40 {
		t.Errorf("line_length at offset %d", got)
	}
}
