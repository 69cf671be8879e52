package printer

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is one POS's `printer` section (CONTRACT.md section 2) plus the
// keys this package adds. Zero values mean "the default" as documented per
// field.
type Config struct {
	Transport    string        `yaml:"transport"`     // serial | usb | tcp | file
	Device       string        `yaml:"device"`        // tty, usblp device, host[:port] (port 9100 if left out), or file path
	Baud         int           `yaml:"baud"`          // serial only; 0: 9600
	FlowControl  string        `yaml:"flow_control"`  // none | rtscts | xonxoff; "": none
	WriteTimeout time.Duration `yaml:"write_timeout"` // longest time the printer may take no data; 0: 10s
	Profile      string        `yaml:"profile"`       // see ProfileNames; "": epson
	QR           string        `yaml:"qr"`            // native | raster | auto; "": auto
	// PaperWidthDots overrides the profile's printable width; 0: the profile's.
	PaperWidthDots int `yaml:"paper_width_dots"`
	// CodePage overrides the profile's character table (see CodePages).
	CodePage string `yaml:"code_page"`
	// MaxModuleDots caps the module size of a raster QR in dots (bytes on
	// the wire grow with its square); 0: 5. A native QR costs the same bytes
	// at any size and uses the profile's NativeModuleDots.
	MaxModuleDots int `yaml:"max_module_dots"`
	// RasterBandRows overrides the profile's most rows per GS v 0 command;
	// 0: the profile's.
	RasterBandRows int `yaml:"raster_band_rows"`
	// StatusQuery says whether to ask the printer with DLE EOT (serial, tcp):
	//   auto (""): ask; a printer that never answered is "unknown" and gets
	//        its receipts anyway; one that answered before and then falls
	//        silent is "offline";
	//   on:   ask; silence is "offline" from the start (for printers known
	//         to answer: it catches a switched-off printer on a link without
	//         flow control, where writes go nowhere without an error);
	//   off:  never ask (for printers that print DLE EOT as garbage).
	StatusQuery string `yaml:"status_query"`
	// StatusTimeout is how long to wait for each DLE EOT answer; 0: 1s.
	StatusTimeout time.Duration `yaml:"status_timeout"`
	// StatusInterval is how often an idle printer is asked for its state;
	// 0: 60s.
	StatusInterval time.Duration `yaml:"status_interval"`
	// RetryMin and RetryMax bound the backoff between attempts at a job
	// whose printer failed; 0: 1s and 30s.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// Location is the time zone the expiry is printed in; nil: time.Local.
	Location *time.Location `yaml:"-"`
}

// Defaults for zero Config fields.
const (
	DefaultBaud           = 9600
	DefaultWriteTimeout   = 10 * time.Second
	DefaultProfile        = "epson"
	DefaultRasterModule   = 5
	DefaultStatusTimeout  = time.Second
	DefaultStatusInterval = 60 * time.Second
	DefaultRetryMin       = time.Second
	DefaultRetryMax       = 30 * time.Second
	defaultTCPPort        = "9100"
)

// Values of Config.QR, Config.FlowControl and Config.StatusQuery.
const (
	QRAuto   = "auto"
	QRNative = "native"
	QRRaster = "raster"

	FlowNone    = "none"
	FlowRTSCTS  = "rtscts"
	FlowXONXOFF = "xonxoff"

	StatusQueryAuto = "auto"
	StatusQueryOn   = "on"
	StatusQueryOff  = "off"
)

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Baud == 0 {
		c.Baud = DefaultBaud
	}
	if c.FlowControl == "" {
		c.FlowControl = FlowNone
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.Profile == "" {
		c.Profile = DefaultProfile
	}
	if c.QR == "" {
		c.QR = QRAuto
	}
	if c.StatusQuery == "" {
		c.StatusQuery = StatusQueryAuto
	}
	if c.StatusTimeout == 0 {
		c.StatusTimeout = DefaultStatusTimeout
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = c.RetryMin
	}
	if c.Location == nil {
		c.Location = time.Local
	}
	if c.Transport == "tcp" {
		c.Device = tcpAddr(c.Device)
	}
	return c
}

// tcpAddr adds the raw printing port to an address without one: a name,
// an IPv4 address or an IPv6 address (bracketed or not).
func tcpAddr(dev string) string {
	if _, _, err := net.SplitHostPort(dev); err == nil || dev == "" {
		return dev
	}
	host := strings.TrimSuffix(strings.TrimPrefix(dev, "["), "]")
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return dev // not an address: Validate says so
	}
	return net.JoinHostPort(host, defaultTCPPort)
}

// validTCPAddr checks host:port after tcpAddr.
func validTCPAddr(dev string) bool {
	host, port, err := net.SplitHostPort(tcpAddr(dev))
	if err != nil || host == "" || strings.ContainsAny(host, " /") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

// FieldError is one problem with one Config key, named as in the YAML file
// so the config package can prefix its path (pos[0].printer.baud).
type FieldError struct {
	Field  string
	Reason string
	Value  any // nil: the key is missing
}

func (e *FieldError) Error() string {
	if e.Value == nil {
		return e.Field + ": " + e.Reason
	}
	return fmt.Sprintf("%s: %s (%s)", e.Field, e.Reason, quote(e.Value))
}

func quote(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case time.Duration:
		return strconv.Quote(v.String())
	default:
		return fmt.Sprint(v)
	}
}

// serialBauds are the rates tarm/serial accepts on Linux that printers use.
func serialBauds() []int {
	return []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}
}

// Validate reports every problem in c, each a *FieldError, joined with
// errors.Join (nil when c is usable).
func (c Config) Validate() error {
	var errs []error
	bad := func(field, reason string, v any) { errs = append(errs, &FieldError{field, reason, v}) }
	oneOf := func(field, v string, allowed []string) {
		if v != "" && !slices.Contains(allowed, v) {
			bad(field, "must be one of "+strings.Join(allowed, ", "), v)
		}
	}

	switch c.Transport {
	case "":
		bad("transport", "required", nil)
	case "serial", "usb", "file":
	case "tcp":
		if c.Device != "" && !validTCPAddr(c.Device) {
			bad("device", "must be host or host:port for transport tcp", c.Device)
		}
	default:
		bad("transport", "must be one of serial, usb, tcp, file", c.Transport)
	}
	if c.Device == "" {
		bad("device", "required", nil)
	}
	if bauds := serialBauds(); c.Baud != 0 && !slices.Contains(bauds, c.Baud) {
		bad("baud", "must be one of "+strings.Trim(fmt.Sprint(bauds), "[]"), c.Baud)
	}
	oneOf("flow_control", c.FlowControl, []string{FlowNone, FlowRTSCTS, FlowXONXOFF})
	if c.FlowControl != "" && c.FlowControl != FlowNone && c.Transport != "serial" {
		bad("flow_control", "only applies to transport serial", c.FlowControl)
	}
	if c.WriteTimeout < 0 || (c.WriteTimeout > 0 && c.WriteTimeout < 100*time.Millisecond) {
		bad("write_timeout", "must be at least 100ms", c.WriteTimeout)
	}
	oneOf("profile", c.Profile, ProfileNames())
	oneOf("qr", c.QR, []string{QRAuto, QRNative, QRRaster})
	if c.PaperWidthDots != 0 && (c.PaperWidthDots < 128 || c.PaperWidthDots > 2048) {
		bad("paper_width_dots", "must be 0 (the profile's) or 128-2048", c.PaperWidthDots)
	}
	if c.CodePage != "" {
		if _, ok := lookupCodePage(c.CodePage); !ok {
			oneOf("code_page", c.CodePage, CodePages())
		}
	}
	if c.MaxModuleDots < 0 || c.MaxModuleDots > 16 {
		bad("max_module_dots", "must be 0 (the default, 5) or 1-16", c.MaxModuleDots)
	}
	if c.RasterBandRows < 0 || c.RasterBandRows > 2303 {
		bad("raster_band_rows", "must be 0 (the profile's) or 1-2303", c.RasterBandRows)
	}
	oneOf("status_query", c.StatusQuery, []string{StatusQueryAuto, StatusQueryOn, StatusQueryOff})
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"status_timeout", c.StatusTimeout}, {"status_interval", c.StatusInterval}, {"retry_min", c.RetryMin}, {"retry_max", c.RetryMax}} {
		if d.v < 0 {
			bad(d.field, "must not be negative", d.v)
		}
	}
	return errors.Join(errs...)
}
