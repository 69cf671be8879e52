package printer

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of the printer keys.
const (
	minPaperDots     = 128
	maxPaperDots     = 2048 // wider than any receipt printer; GS v 0 takes up to 65535 bytes a row
	maxModuleDots    = 16
	maxRasterBand    = 2303 // Epson's most rows per GS v 0 image
	minWriteTimeout  = 100 * time.Millisecond
	transportChoices = "serial, usb, tcp, file"
)

// serialBauds are the rates tarm/serial accepts on Linux that printers use.
func serialBauds() []int {
	return []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}
}

// rasterOnly reports whether a profile lacks native QR (GS ( k): cheap
// 58/80 mm printers print those bytes as text.
func rasterOnly(profile string) bool {
	p, ok := LookupProfile(profile)
	return ok && !p.NativeQR
}

// FieldError is one problem with one Config key, named as in the YAML file
// so the config package can prefix its path (pos[0].printer.baud).
type FieldError struct {
	Field  string
	Reason string
	// Value is the offending value as written (unquoted); nil for a missing
	// key.
	Value *string
}

func (e *FieldError) Error() string {
	if e.Value == nil {
		return e.Field + ": " + e.Reason
	}
	return fmt.Sprintf("%s: %s (%s)", e.Field, e.Reason, strconv.Quote(*e.Value))
}

// Validate checks a complete printer section and reports every problem,
// each a *FieldError, joined with errors.Join (nil when c is usable). Zero
// values are problems where the key needs a value (write_timeout: 0 would
// let a stuck printer hang the POS): call it on DefaultConfig() plus the
// file's keys, or on a Config that went through the defaults.
func (c Config) Validate() error {
	v := &fieldChecker{}
	c.checkLink(v)
	if c.WriteTimeout < minWriteTimeout {
		v.bad("write_timeout", "must be at least 100ms: a stuck printer must not hang the POS", c.WriteTimeout)
	}
	c.checkOutput(v)
	c.checkStatus(v)
	if c.RasterBandRows < 0 || c.RasterBandRows > maxRasterBand {
		v.bad("raster_band_rows", fmt.Sprintf("must be 0 (the profile's) or 1 to %d", maxRasterBand), c.RasterBandRows)
	}
	return errors.Join(v.errs...)
}

type fieldChecker struct{ errs []error }

func (v *fieldChecker) bad(field, reason string, value any) {
	fe := &FieldError{Field: field, Reason: reason}
	if value != nil {
		s := fmt.Sprint(value)
		if d, ok := value.(time.Duration); ok {
			s = d.String()
		}
		fe.Value = &s
	}
	v.errs = append(v.errs, fe)
}

func (v *fieldChecker) oneOf(field, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		v.bad(field, "must be one of "+strings.Join(allowed, ", "), value)
	}
}

// checkLink checks how the printer is reached.
func (c Config) checkLink(v *fieldChecker) {
	switch {
	case c.Transport == "":
		v.bad("transport", "required: one of "+transportChoices, nil)
	case !slices.Contains(strings.Split(transportChoices, ", "), c.Transport):
		v.bad("transport", "must be one of "+transportChoices, c.Transport)
	}
	switch {
	case c.Device == "":
		v.bad("device", "required: the serial/usb device, tcp host:port or file", nil)
	case c.Transport == "tcp":
		if host, port, err := net.SplitHostPort(c.Device); err != nil || host == "" || strings.ContainsAny(host, " /") || !validPort(port) {
			v.bad("device", "must be host:port for transport tcp, like 192.168.1.50:9100", c.Device)
		}
	case !filepath.IsAbs(c.Device):
		// The service runs in /, `config check` in a shell: a relative
		// path would name two different files.
		v.bad("device", "must be an absolute path", c.Device)
	}
	if c.Transport == "serial" && !slices.Contains(serialBauds(), c.Baud) {
		v.bad("baud", "must be a standard rate: "+strings.Trim(strings.ReplaceAll(fmt.Sprint(serialBauds()), " ", ", "), "[]"), c.Baud)
	}
	if flows := []string{FlowNone, FlowRTSCTS, FlowXONXOFF}; !slices.Contains(flows, c.FlowControl) {
		v.oneOf("flow_control", c.FlowControl, flows)
	} else if c.FlowControl != FlowNone && c.Transport != "serial" && c.Transport != "" {
		v.bad("flow_control", "only applies to transport serial", c.FlowControl)
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536
}

// checkOutput checks what is sent to the printer.
func (c Config) checkOutput(v *fieldChecker) {
	v.oneOf("profile", c.Profile, ProfileNames())
	switch {
	case !slices.Contains([]string{QRNative, QRRaster, QRAuto}, c.QR):
		v.bad("qr", "must be one of native, raster, auto", c.QR)
	case c.QR == QRNative && rasterOnly(c.Profile):
		v.bad("qr", "profile "+c.Profile+" has no native QR (it would print as text): use raster or auto", c.QR)
	}
	if w := c.PaperWidthDots; w != 0 && (w < minPaperDots || w > maxPaperDots || w%8 != 0) {
		v.bad("paper_width_dots", fmt.Sprintf("must be 0 (the profile's) or a multiple of 8 from %d to %d", minPaperDots, maxPaperDots), w)
	}
	if _, ok := lookupCodePage(c.CodePage); c.CodePage != "" && !ok {
		v.bad("code_page", `must be "" (the profile's) or one of `+strings.Join(CodePages(), ", "), c.CodePage)
	}
	if c.MaxModuleDots < 1 || c.MaxModuleDots > maxModuleDots {
		v.bad("max_module_dots", fmt.Sprintf("must be 1 to %d dots per QR module", maxModuleDots), c.MaxModuleDots)
	}
}

// checkStatus checks the status queries and the retry timing.
func (c Config) checkStatus(v *fieldChecker) {
	v.oneOf("status_query", c.StatusQuery, []string{StatusQueryAuto, StatusQueryOn, StatusQueryOff})
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"status_timeout", c.StatusTimeout}, {"status_interval", c.StatusInterval}, {"retry_min", c.RetryMin}, {"retry_max", c.RetryMax}} {
		if d.v <= 0 {
			v.bad(d.field, "must be positive", d.v)
		}
	}
	if c.RetryMin > 0 && c.RetryMax > 0 && c.RetryMax < c.RetryMin {
		v.bad("retry_max", "must not be below retry_min", c.RetryMax)
	}
}

// fieldError is a *FieldError for a key with a value.
func fieldError(field, reason, value string) *FieldError {
	return &FieldError{Field: field, Reason: reason, Value: &value}
}
