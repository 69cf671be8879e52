package config

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	const file = `store_id: S_1
locale: fr
mercadopago:
  poll_interval: 1ms
  timeout: 5s
nats:
  embedded: {max_store: lots}
pos:
  - external_pos_id: P1
    mode: static
  - external_pos_id: P2
    displays: [{type: png, size: 1x1}]
    printer: {transport: serial, device: /dev/ttyUSB0, baud: abc, bauds: 9600}
`
	_, err := Parse([]byte(file))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not Errors", err)
	}
	want := []string{
		// decoding problems first, in file order...
		`mercadopago.timeout: unknown key`,
		`nats.embedded.max_store: must be a size like 512KiB, 64MiB or 1GiB, or a number of bytes ("lots")`,
		`pos[1].printer.baud: must be a whole number ("abc")`,
		`pos[1].printer.bauds: unknown key`,
		// ...then broken rules, in key order.
		`store_id: must be 1-32 of A-Za-z0-9 and '-' (no '_' or '.'): it is a NATS subject token ("S_1")`,
		`locale: must be one of es-AR, pt-BR, es-CL, es-UY, es-MX, es-PE, es-CO, en ("fr")`,
		`mercadopago.poll_interval: must be at least 100ms: the API is asked this often while a QR awaits payment ("1ms")`,
		`pos[0].static_qr_data: required for mode static`,
		`pos[1].displays[0].path: required for type png`,
		`pos[1].displays[0].size: width and height must each be 64 to 8192 pixels ("1x1")`,
	}
	if got := errs.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestParseCapsProblems(t *testing.T) {
	_, err := Parse([]byte(withPOS(strings.Repeat("  - {external_pos_id: P-1}\n", 300))))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != maxProblems+1 {
		t.Fatalf("got %d problems, want %d", len(errs), maxProblems+1)
	}
	if got := errs[maxProblems].String(); got != "... and 100 more problems" {
		t.Errorf("last line %q", got)
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(`store_id: S1
state_dir: /srv/pa
pos:
  - external_pos_id: P1
    expiration_time: PT2M
    displays: [{type: png, path: /srv/pa/q.png}, {type: framebuffer}, {type: web, ecc: H}]
    printer: {transport: tcp, device: "10.0.0.9:9100"}
  - {external_pos_id: P2, mode: hybrid}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.Embedded.StoreDir != "/srv/pa/nats" || c.NATS.Name != "posagent-S1" {
		t.Errorf("derived defaults: store_dir %q name %q", c.NATS.Embedded.StoreDir, c.NATS.Name)
	}
	if c.MercadoPago.BaseURL != DefaultBaseURL || c.MercadoPago.RetryBudget != 2*time.Minute ||
		c.NATS.EventsMaxBytes != 64<<20 || c.NATS.Embedded.MaxStore != 256<<20 || c.HTTP.Listen != DefaultHTTPListen ||
		c.SaleRetention != 168*time.Hour || c.Locale != "es-AR" {
		t.Errorf("top-level defaults not applied: %+v", c)
	}
	p := c.POS[0]
	if p.Mode != "dynamic" || p.MaxCommandAge != 5*time.Minute || p.ResultHold != 5*time.Second || p.Expiration != 2*time.Minute {
		t.Errorf("pos defaults: %+v", p)
	}
	wantDisplays := []Display{
		{Type: "png", Path: "/srv/pa/q.png", Size: image.Point{X: 800, Y: 480}, ECC: "M"},
		{Type: "framebuffer", Device: "/dev/fb0", ECC: "M"},
		{Type: "web", ECC: "H"},
	}
	if !reflect.DeepEqual(p.Displays, wantDisplays) {
		t.Errorf("displays = %+v, want %+v", p.Displays, wantDisplays)
	}
	wantPrinter := Printer{Transport: "tcp", Device: "10.0.0.9:9100", Baud: 9600, FlowControl: "none",
		WriteTimeout: 10 * time.Second, Profile: "epson", QR: "auto", MaxModuleDots: 5, StatusQuery: "auto",
		StatusTimeout: time.Second, StatusInterval: time.Minute, RetryMin: time.Second, RetryMax: 30 * time.Second}
	if *p.Printer != wantPrinter {
		t.Errorf("printer = %+v, want %+v", *p.Printer, wantPrinter)
	}
	if c.POS[1].Printer != nil || c.POS[1].Displays != nil || c.POS[1].Expiration != 0 {
		t.Errorf("pos[1] = %+v, want no printer, no displays, API default expiration", c.POS[1])
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		yaml string
		get  func(*Config) any
		want any
	}{
		{"nats: {events_max_bytes: 512KiB}", func(c *Config) any { return c.NATS.EventsMaxBytes }, int64(512 << 10)},
		{"nats: {events_max_bytes: 1GiB, embedded: {max_store: 2GiB}}", func(c *Config) any { return c.NATS.EventsMaxBytes }, int64(1 << 30)},
		{"nats: {events_max_bytes: 1048576}", func(c *Config) any { return c.NATS.EventsMaxBytes }, int64(1048576)},
		{`nats: {events_max_bytes: "2 MiB"}`, func(c *Config) any { return c.NATS.EventsMaxBytes }, int64(2 << 20)},
		{"nats: {embedded: {sync: 1s}}", func(c *Config) any { return c.NATS.Embedded.Sync }, "1s"},
		{"http: {listen: \"[::1]:0\"}", func(c *Config) any { return c.HTTP.Listen }, "[::1]:0"},
		{"sale_retention: 720h", func(c *Config) any { return c.SaleRetention }, 720 * time.Hour},
		{"locale: ~", func(c *Config) any { return c.Locale }, "es-AR"}, // null keeps the default
		{"store_name: 'Café \"Central\"'", func(c *Config) any { return c.StoreName }, `Café "Central"`},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			c, err := Parse([]byte(base + tt.yaml + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// Anchors and merge keys behave as YAML says: the mapping's own keys win,
// and problems inside a merged mapping are reported where it is used.
func TestParseMergeKeys(t *testing.T) {
	c, err := Parse([]byte(`store_id: S1
pos:
  - external_pos_id: P1
    printer: &printer {transport: serial, device: /dev/ttyUSB0, baud: 19200, profile: epson58}
  - external_pos_id: P2
    printer: {<<: *printer, device: /dev/ttyUSB1}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := *c.POS[1].Printer
	if got.Device != "/dev/ttyUSB1" || got.Baud != 19200 || got.Profile != "epson58" {
		t.Errorf("merged printer = %+v", got)
	}
	_, err = Parse([]byte(`store_id: S1
pos:
  - external_pos_id: P1
    printer: &printer {transport: serial, device: /dev/ttyUSB0, speed: 1}
  - external_pos_id: P2
    printer: {<<: *printer, device: /dev/ttyUSB1}
`))
	want := "pos[0].printer.speed: unknown key\npos[1].printer.speed: unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want\n%s", err, want)
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if errs := c.Validate(); errs != nil {
		t.Fatalf("Default() has problems:\n%v", errs)
	}
	if p, ok := c.FindPOS("DEMOPOS1"); !ok || p != &c.POS[0] {
		t.Errorf("FindPOS(DEMOPOS1) = %v, %v", p, ok)
	}
	if _, ok := c.FindPOS("nope"); ok {
		t.Error("FindPOS found an unknown POS")
	}
	if Default() == c || &Default().POS[0] == &c.POS[0] {
		t.Error("Default shares state between calls")
	}
}

// Validate on a Config built in code reports values as the struct holds
// them (there is no file text to echo).
func TestValidateStruct(t *testing.T) {
	c := Default()
	c.POS[0].MaxCommandAge = -90 * time.Second
	c.POS = append(c.POS, POS{ExternalPOSID: "DEMOPOS1", Mode: "hybrid", MaxCommandAge: time.Minute})
	want := Errors{
		{Path: "pos[0].max_command_age", Reason: "must be positive: older sale commands are rejected as stale", Value: quote("-1m30s")},
		{Path: "pos[1].external_pos_id", Reason: "repeated: already used by pos[0].external_pos_id", Value: quote("DEMOPOS1")},
	}
	if got := c.Validate(); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

func TestProblemAndWarningString(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Problem{Path: "pos[1].printer.baud", Reason: "must be a whole number", Value: quote("abc")}.String(), `pos[1].printer.baud: must be a whole number ("abc")`},
		{Problem{Path: "pos[0].static_qr_data", Reason: "required for mode static"}.String(), `pos[0].static_qr_data: required for mode static`},
		{Problem{Path: "x", Reason: "r", Value: quote("a\"b<\n")}.String(), `x: r ("a\"b<\n")`},
		{Problem{Reason: "YAML syntax error: line 2: x"}.String(), `YAML syntax error: line 2: x`},
		{Warning{Path: "http.listen", Reason: "open"}.String(), `warning: http.listen: open`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestErrorsAs(t *testing.T) {
	_, err := Parse([]byte("store_id: S1\n"))
	var v Errors
	var p *Errors
	wrapped := fmt.Errorf("loading: %w", err)
	if !errors.As(wrapped, &v) || !errors.As(wrapped, &p) || len(v) != 1 || len(*p) != 1 {
		t.Fatalf("errors.As failed: %v %v", v, p)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), big) {
		t.Errorf("big file: %v", err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(good); err != nil || c.StoreID != "S1" {
		t.Errorf("good file: %v %v", c, err)
	}
}

func ExampleParse() {
	_, err := Parse([]byte(`store_id: S001
pos:
  - external_pos_id: STORE001POS001
    mode: static
    printer: {transport: serial, device: /dev/ttyUSB0, baud: fast}
`))
	var problems Errors
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Println(p)
		}
	}
	// Output:
	// pos[0].printer.baud: must be a whole number ("fast")
	// pos[0].static_qr_data: required for mode static
}
