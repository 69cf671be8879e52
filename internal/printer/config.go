package printer

import (
	"net"
	"strings"
	"time"
)

// Config is one POS's `printer` section of the configuration file: the
// config package decodes it as it is (starting from DefaultConfig) and
// checks it with Validate, the same check New and PrintOnce make, so
// `posagent config check` and `posagent run` can never disagree about a
// printer. A program that builds a Config by hand may leave fields zero:
// New, PrintOnce and the transports fill them with the defaults below
// before validating.
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
	if c.MaxModuleDots == 0 {
		c.MaxModuleDots = DefaultRasterModule
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

// DefaultConfig is every key's default: where the config file's printer
// section starts before its own keys.
func DefaultConfig() Config {
	return Config{
		Baud: DefaultBaud, FlowControl: FlowNone, WriteTimeout: DefaultWriteTimeout,
		Profile: DefaultProfile, QR: QRAuto, MaxModuleDots: DefaultRasterModule,
		StatusQuery: StatusQueryAuto, StatusTimeout: DefaultStatusTimeout, StatusInterval: DefaultStatusInterval,
		RetryMin: DefaultRetryMin, RetryMax: DefaultRetryMax,
	}
}
