//go:build linux

package printer

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A printer error names its device once: "printer: open /dev/ttyUSB0: no
// such file or directory", not "open /dev/ttyUSB0: open /dev/ttyUSB0: ...".
func TestErrorsNameTheDeviceOnce(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ttyUSB9")
	serial := NewSerial(Config{Device: missing, Baud: 9600})
	usb := NewUSB(Config{Device: missing})
	_, serr := serial.Status(context.Background())
	for name, err := range map[string]error{
		"serial write":  firstErr(serial.Write([]byte("x"))),
		"serial status": serr,
		"usb write":     firstErr(usb.Write([]byte("x"))),
	} {
		if err == nil {
			t.Fatalf("%s: no error for a missing device", name)
		}
		if n := strings.Count(err.Error(), missing); n != 1 {
			t.Errorf("%s: the error names the device %d times: %v", name, n, err)
		}
		if !strings.HasPrefix(err.Error(), "printer: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func firstErr(_ int, err error) error { return err }
