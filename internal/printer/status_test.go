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
	ok := Config{Transport: "serial", Device: "/dev/ttyUSB0"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	cases := []struct {
		cfg  Config
		want []string
	}{
		{Config{}, []string{"transport: required", "device: required"}},
		{Config{Transport: "lpt", Device: "x"}, []string{`transport: must be one of serial, usb, tcp, file ("lpt")`}},
		{Config{Transport: "serial", Device: "x", Baud: 1234}, []string{`baud: must be one of`}},
		{Config{Transport: "tcp", Device: "printer:notaport:9"}, []string{`device: must be host or host:port`}},
		{Config{Transport: "usb", Device: "x", FlowControl: "rtscts"}, []string{`flow_control: only applies to transport serial ("rtscts")`}},
		{Config{Transport: "serial", Device: "x", FlowControl: "hw"}, []string{`flow_control: must be one of none, rtscts, xonxoff ("hw")`}},
		{Config{Transport: "file", Device: "x", WriteTimeout: time.Millisecond}, []string{`write_timeout: must be at least 100ms ("1ms")`}},
		{Config{Transport: "file", Device: "x", Profile: "star", QR: "maybe"}, []string{`profile: must be one of epson, epson58, tm-t88, generic58, generic80 ("star")`, `qr: must be one of`}},
		{Config{Transport: "file", Device: "x", CodePage: "utf8", PaperWidthDots: 100, MaxModuleDots: 17, RasterBandRows: -1}, []string{"code_page:", "paper_width_dots:", "max_module_dots:", "raster_band_rows:"}},
		{Config{Transport: "file", Device: "x", StatusQuery: "always", StatusTimeout: -1}, []string{"status_query:", "status_timeout: must not be negative"}},
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
