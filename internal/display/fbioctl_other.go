//go:build !linux

package display

import (
	"errors"
	"os"
)

// ioctlProbe: framebuffer devices are a Linux interface.
func ioctlProbe(*os.File) (fbInfo, error) {
	return fbInfo{}, errors.New("framebuffer displays need Linux")
}
