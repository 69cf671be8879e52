package printer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeStatus(t *testing.T) {
	cases := []struct {
		name                    string
		printer, offline, paper byte
		want                    Status
	}{
		{"online", 0x12, 0x12, 0x12, StatusOK},
		{"offline", 0x1A, 0x12, 0x12, StatusOffline},
		{"cover open", 0x1A, 0x16, 0x12, StatusCoverOpen},
		{"paper end stop", 0x1A, 0x32, 0x12, StatusPaperOut},
		{"roll end sensor", 0x1A, 0x72, 0x72, StatusPaperOut},
		{"roll end, still online", 0x12, 0x12, 0x72, StatusPaperOut},
		{"near end", 0x12, 0x12, 0x1E, StatusPaperNearEnd},
		{"near end one sensor bit", 0x12, 0x12, 0x16, StatusPaperNearEnd},
		{"cover open beats paper out", 0x1A, 0x36, 0x72, StatusCoverOpen},
		{"paper out beats near end", 0x1A, 0x32, 0x7E, StatusPaperOut},
	}
	for _, c := range cases {
		got, err := DecodeStatus(c.printer, c.offline, c.paper)
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	for _, bad := range []byte{0x00, 0xFF, 0x13, 0x11, 0x92, 0x10, 0x02} {
		if st, err := DecodeStatus(bad, 0x12, 0x12); err == nil || st != StatusUnknown {
			t.Errorf("byte %#02x: %v, %v; want unknown and an error", bad, st, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	with := func(mod func(*Config)) Config {
		c := DefaultConfig()
		c.Transport, c.Device = "serial", "/dev/ttyUSB0"
		mod(&c)
		return c
	}
	if err := with(func(*Config) {}).Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	cases := []struct {
		cfg  Config
		want []string
	}{
		{Config{}, []string{"transport: required", "device: required"}},
		{with(func(c *Config) { c.Transport = "lpt" }), []string{`transport: must be one of serial, usb, tcp, file ("lpt")`}},
		{with(func(c *Config) { c.Baud = 1234 }), []string{`baud: must be a standard rate`}},
		{with(func(c *Config) { c.Transport, c.Device = "tcp", "printer:notaport:9" }), []string{`device: must be host:port`}},
		{with(func(c *Config) { c.Device = "ttyUSB0" }), []string{`device: must be an absolute path ("ttyUSB0")`}},
		{with(func(c *Config) { c.Transport, c.FlowControl = "usb", "rtscts" }), []string{`flow_control: only applies to transport serial ("rtscts")`}},
		{with(func(c *Config) { c.FlowControl = "hw" }), []string{`flow_control: must be one of none, rtscts, xonxoff ("hw")`}},
		{with(func(c *Config) { c.WriteTimeout = time.Millisecond }), []string{`write_timeout: must be at least 100ms`}},
		{with(func(c *Config) { c.Profile, c.QR = "star", "maybe" }), []string{`profile: must be one of epson, epson58, tm-t88, generic58, generic80 ("star")`, `qr: must be one of`}},
		{with(func(c *Config) { c.CodePage, c.PaperWidthDots, c.MaxModuleDots, c.RasterBandRows = "utf8", 100, 17, -1 }),
			[]string{"code_page:", "paper_width_dots:", "max_module_dots:", "raster_band_rows:"}},
		{with(func(c *Config) { c.StatusQuery, c.StatusTimeout = "always", -1 }), []string{"status_query:", "status_timeout: must be positive"}},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if err == nil {
			t.Errorf("%+v: no error", c.cfg)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q lacks %q", c.cfg, err, w)
			}
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%+v: no *FieldError in %v", c.cfg, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Transport: "tcp", Device: "192.168.1.50"}.withDefaults()
	if c.Device != "192.168.1.50:9100" || c.Baud != 9600 || c.WriteTimeout != 10*time.Second || c.Profile != "epson" ||
		c.QR != QRAuto || c.StatusQuery != StatusQueryAuto || c.Location == nil {
		t.Errorf("defaults: %+v", c)
	}
	if got := tcpAddr("[fe80::1]"); got != "[fe80::1]:9100" {
		t.Errorf("tcpAddr IPv6 = %q", got)
	}
}
