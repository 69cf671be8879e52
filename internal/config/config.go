// Package config provides posagent's configuration: the Go form of the YAML
// file configs/posagent.yaml documents, its strict loading (unknown keys,
// wrong types and bad values are all reported at once, each with its key
// path), the machine checks `posagent config check` prints as warnings, and
// the lookup of the Mercado Pago access token.
//
// The file never holds a secret: it names files, and secrets are read only
// by AccessToken (and, for NATS, by the code that connects), never while
// parsing or validating.
package config

import (
	"fmt"
	"github.com/posagent/posagent/internal/printer"
	"image"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/posagent/posagent/internal/isoduration"
)

// Config is the whole file. Field comments name the YAML key; the
// documented example is configs/posagent.yaml.
type Config struct {
	StoreID     string      `yaml:"store_id"`
	StoreName   string      `yaml:"store_name"`
	Locale      string      `yaml:"locale"`
	MercadoPago MercadoPago `yaml:"mercadopago"`
	NATS        NATS        `yaml:"nats"`
	HTTP        HTTP        `yaml:"http"`
	StateDir    string      `yaml:"state_dir"`
	// SaleRetention is how long handled sale ids are remembered.
	SaleRetention time.Duration `yaml:"sale_retention"`
	POS           []POS         `yaml:"pos"`
}

// MercadoPago is how the Orders API is reached.
type MercadoPago struct {
	BaseURL string `yaml:"base_url"`
	// AccessTokenFile is one of the token sources, see Config.AccessToken.
	AccessTokenFile   string        `yaml:"access_token_file"`
	RequestTimeout    time.Duration `yaml:"request_timeout"`
	RetryBudget       time.Duration `yaml:"retry_budget"`
	PollInterval      time.Duration `yaml:"poll_interval"`
	WebhookSecretFile string        `yaml:"webhook_secret_file"`
}

// NATS is the connection to the register's NATS server, or, with an empty
// URL, the embedded server the agent runs itself.
type NATS struct {
	// URL is a comma-separated list of nats://, tls://, ws:// or wss:// URLs;
	// empty runs Embedded.
	URL string `yaml:"url"`
	// Name is the client connection name servers show (default
	// posagent-<store_id>).
	Name           string  `yaml:"name"`
	SubjectPrefix  string  `yaml:"subject_prefix"`
	Streams        Streams `yaml:"streams"`
	EventsMaxBytes int64   `yaml:"events_max_bytes"`
	// CommandsMaxBytes bounds the command stream (when the agent creates
	// it) and RecordsMaxBytes the sale records bucket; with the embedded
	// server the three limits must fit in embedded.max_store.
	CommandsMaxBytes int64 `yaml:"commands_max_bytes"`
	RecordsMaxBytes  int64 `yaml:"records_max_bytes"`
	// UnknownPOS is what happens to commands for a POS this agent does not
	// serve on an external server: "keep" (another agent may serve it) or
	// "reject" (answered unknown_pos and removed). The embedded server
	// always rejects them.
	UnknownPOS string   `yaml:"unknown_pos"`
	Auth       NATSAuth `yaml:"auth"`
	TLS        NATSTLS  `yaml:"tls"`
	Embedded   Embedded `yaml:"embedded"`
}

// Streams names the JetStream streams.
type Streams struct {
	Commands string `yaml:"commands"`
	Events   string `yaml:"events"`
}

// NATSAuth is how the agent authenticates to an external server: at most
// one of user+password_file, token_file and creds_file.
type NATSAuth struct {
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	TokenFile    string `yaml:"token_file"`
	CredsFile    string `yaml:"creds_file"`
}

// NATSTLS is the client TLS setup for an external server.
type NATSTLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Embedded is the NATS server the agent runs when NATS.URL is empty.
type Embedded struct {
	Listen   string       `yaml:"listen"`
	Auth     EmbeddedAuth `yaml:"auth"`
	TLS      EmbeddedTLS  `yaml:"tls"`
	StoreDir string       `yaml:"store_dir"`
	// MaxMemory and MaxStore are the JetStream limits in bytes; without
	// them the server would claim 75% of RAM and up to 1 TB of disk.
	MaxMemory int64 `yaml:"max_memory"`
	MaxStore  int64 `yaml:"max_store"`
	// Sync is "always" (fsync every write) or a Go duration (sync interval).
	Sync string `yaml:"sync"`
	// Domain is the server's JetStream domain: the hub reaches this
	// store's streams as $JS.<domain>.API. With Leaf set it defaults to
	// store_id.
	Domain string `yaml:"domain"`
	// Leaf links the embedded server to a central NATS system (the hub)
	// as a leaf node; no URLs, no link.
	Leaf Leaf `yaml:"leaf"`
}

// Leaf is the embedded server's link to the hub.
type Leaf struct {
	// URLs are the hub's leaf node listeners (nats-leaf://, tls://, ws://,
	// wss://), without credentials.
	URLs      []string `yaml:"urls"`
	CredsFile string   `yaml:"creds_file"`
	// TLS: ca_file trusts a private CA; cert_file and key_file together
	// are a client certificate.
	TLS NATSTLS `yaml:"tls"`
}

// LeafEnabled reports whether the embedded server links to a hub.
func (e Embedded) LeafEnabled() bool { return len(e.Leaf.URLs) > 0 }

// EmbeddedAuth is the user registers authenticate as; UsersFile names
// more of them, one per line (one per register, so one can be cut off
// alone). All get the register role.
type EmbeddedAuth struct {
	User         string `yaml:"user"`
	PasswordFile string `yaml:"password_file"`
	UsersFile    string `yaml:"users_file"`
}

// HasUsers reports whether registers must authenticate.
func (a EmbeddedAuth) HasUsers() bool { return a.User != "" || a.UsersFile != "" }

// EmbeddedTLS is the embedded server's certificate.
type EmbeddedTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// HTTP is the health, metrics, web display and status page listener.
type HTTP struct {
	Listen string `yaml:"listen"`
}

// POS is one Mercado Pago point of sale served by this agent.
type POS struct {
	ExternalPOSID string `yaml:"external_pos_id"`
	// Mode is the default for sales that do not say: static, dynamic or
	// hybrid.
	Mode         string `yaml:"mode"`
	StaticQRData string `yaml:"static_qr_data"`
	// ExpirationTime is the ISO 8601 duration as written ("PT15M"), sent to
	// the API; empty leaves the API default.
	ExpirationTime string `yaml:"expiration_time"`
	// Expiration is ExpirationTime parsed; 0 means the API default. It is
	// filled by Parse, not read from the file.
	Expiration              time.Duration `yaml:"-"`
	ExternalReferencePrefix string        `yaml:"external_reference_prefix"`
	MaxCommandAge           time.Duration `yaml:"max_command_age"`
	ResultHold              time.Duration `yaml:"result_hold"`
	Displays                []Display     `yaml:"displays"`
	// Printer is nil when the POS has none.
	Printer *Printer `yaml:"printer"`
}

// Display is one customer display of a POS.
type Display struct {
	// Type is terminal, web, png or framebuffer.
	Type string `yaml:"type"`
	// Path is the png file (type png only).
	Path string `yaml:"path"`
	// Size is the png's width and height in pixels, "800x480" in the file
	// (type png only).
	Size image.Point `yaml:"size"`
	// Device is the framebuffer device (type framebuffer only).
	Device string `yaml:"device"`
	// ECC is the QR error correction level: L, M, Q or H.
	ECC string `yaml:"ecc"`
}

// Printer is the receipt printer of a POS: the printer package owns its
// keys, defaults and rules, so `config check` and the running printer apply
// one Validate.
type Printer = printer.Config

// Default values, as configs/posagent.yaml documents them.
const (
	DefaultBaseURL       = "https://api.mercadopago.com"
	DefaultTokenFile     = "/etc/posagent/mp-access-token"
	DefaultStateDir      = "/var/lib/posagent"
	DefaultHTTPListen    = "127.0.0.1:8080"
	DefaultNATSListen    = "127.0.0.1:4222"
	DefaultLocale        = "es-AR"
	DefaultFramebuffer   = "/dev/fb0"
	DefaultMaxModuleDots = printer.DefaultRasterModule
	mib                  = 1 << 20
)

// A png display's size when the file does not say.
const (
	DefaultPNGWidth  = 800
	DefaultPNGHeight = 480
)

// defaults is every key's default, with no store and no POS: what Parse
// starts from, so a file without store_id or pos is still an error.
func defaults() *Config {
	return &Config{
		Locale: DefaultLocale,
		MercadoPago: MercadoPago{
			BaseURL:         DefaultBaseURL,
			AccessTokenFile: DefaultTokenFile,
			RequestTimeout:  10 * time.Second,
			RetryBudget:     2 * time.Minute,
			PollInterval:    2 * time.Second,
		},
		NATS: NATS{
			SubjectPrefix:    "pos",
			Streams:          Streams{Commands: "POS_CMD", Events: "POS_EVT"},
			EventsMaxBytes:   64 * mib,
			CommandsMaxBytes: 16 * mib,
			RecordsMaxBytes:  64 * mib,
			UnknownPOS:       "keep",
			Embedded: Embedded{
				Listen:    DefaultNATSListen,
				MaxMemory: 32 * mib,
				MaxStore:  256 * mib,
				Sync:      "always",
			},
		},
		HTTP:          HTTP{Listen: DefaultHTTPListen},
		StateDir:      DefaultStateDir,
		SaleRetention: 168 * time.Hour,
	}
}

// defaultPOS is a list element's starting point before the file's keys.
func defaultPOS() POS {
	return POS{Mode: "dynamic", MaxCommandAge: 5 * time.Minute, ResultHold: 5 * time.Second}
}

func defaultDisplay() Display { return Display{ECC: "M"} }

func defaultPrinter() Printer { return printer.DefaultConfig() }

// Default returns a complete, valid configuration for running without a
// file (the demo): every key's default plus store DEMO with one dynamic POS,
// DEMOPOS1, shown on the terminal and the web display.
func Default() *Config {
	c := defaults()
	c.StoreID = "DEMO"
	c.StoreName = "posagent demo"
	p := defaultPOS()
	p.ExternalPOSID = "DEMOPOS1"
	p.Displays = []Display{{Type: "terminal", ECC: "M"}, {Type: "web", ECC: "M"}}
	c.POS = []POS{p}
	c.fillDerived()
	return c
}

// fillDerived sets the defaults that depend on other keys.
func (c *Config) fillDerived() {
	if c.NATS.Embedded.StoreDir == "" && c.StateDir != "" {
		c.NATS.Embedded.StoreDir = filepath.Join(c.StateDir, "nats")
	}
	if c.NATS.Name == "" && c.StoreID != "" {
		c.NATS.Name = "posagent-" + c.StoreID
	}
	if e := &c.NATS.Embedded; e.Domain == "" && e.LeafEnabled() {
		// One domain per store: store ids are unique and valid domains.
		e.Domain = c.StoreID
	}
	for i := range c.POS {
		p := &c.POS[i]
		if p.ExpirationTime != "" {
			// A bad value stays 0 here; Validate reports it.
			p.Expiration, _ = isoduration.Parse(p.ExpirationTime)
		}
		for j := range p.Displays {
			d := &p.Displays[j]
			switch d.Type {
			case "png":
				if d.Size == (image.Point{}) {
					d.Size = image.Point{X: DefaultPNGWidth, Y: DefaultPNGHeight}
				}
			case "framebuffer":
				if d.Device == "" {
					d.Device = DefaultFramebuffer
				}
			}
		}
	}
}

// maxFileSize bounds what Load reads: a real file is a few KiB.
const maxFileSize = 1 << 20

// Parse decodes a YAML file strictly, applies the defaults and validates
// the result. Any problem makes the error an Errors listing every problem
// found (errors.As works with both Errors and *Errors targets).
func Parse(data []byte) (*Config, error) {
	c := defaults()
	d := newDecoder()
	d.decodeDocument(data, c)
	if len(d.problems) > 0 && d.fatal {
		return nil, capProblems(d.problems)
	}
	c.fillDerived()
	for _, p := range c.Validate() {
		if d.covers(p.Path) {
			continue // the decoder already said what is wrong there
		}
		if p.Value != nil {
			if raw, ok := d.raw[p.Path]; ok {
				p.Value = quote(raw)
			}
		}
		d.problems = append(d.problems, p)
	}
	if len(d.problems) > 0 {
		return nil, capProblems(d.problems)
	}
	return c, nil
}

// maxProblems bounds the list: past it, a file is not a configuration
// with typos, and a screenful of lines helps nobody.
const maxProblems = 200

func capProblems(p Errors) Errors {
	if len(p) <= maxProblems {
		return p
	}
	more := len(p) - maxProblems
	return append(p[:maxProblems:maxProblems], Problem{Reason: fmt.Sprintf("... and %d more problems", more)})
}

// Load reads and parses the file at path. A file that cannot be read is an
// error naming the path; a file with problems gives Errors.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err) // names the path
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config: %s is larger than 1 MiB: not a configuration file", path)
	}
	return Parse(data)
}

// FindPOS returns the POS with external id id.
func (c *Config) FindPOS(id string) (*POS, bool) {
	for i := range c.POS {
		if c.POS[i].ExternalPOSID == id {
			return &c.POS[i], true
		}
	}
	return nil, false
}

// Lower bounds of the storage limits.
const (
	MinCommandsMaxBytes = 1 * mib
	MinRecordsMaxBytes  = 1 * mib
)

// StorageNeeded is what the streams and the records bucket may take in the
// embedded server's store: their limits plus an eighth for the server's
// own overhead (indexes, the stream of a few bytes per message).
func StorageNeeded(n NATS) int64 {
	sum := n.EventsMaxBytes + n.CommandsMaxBytes + n.RecordsMaxBytes
	return sum + sum/8
}
