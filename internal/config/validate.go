package config

import (
	"fmt"
	"github.com/posagent/posagent/internal/printer"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/isoduration"
	"github.com/posagent/posagent/internal/money"
)

// Allowed values, space-separated, in the order problems list them.
const (
	modes        = "static dynamic hybrid"
	displayTypes = "terminal web png framebuffer"
	eccLevels    = "L M Q H"
	natsSchemes  = "nats tls ws wss"
)

// oneOf reports whether s is one of the words of list.
func oneOf(list, s string) bool { return s != "" && slices.Contains(strings.Fields(list), s) }

// choices renders list for a reason: "a, b, c".
func choices(list string) string { return strings.Join(strings.Fields(list), ", ") }

// Bounds the configuration reference (configs/posagent.yaml) and the
// Orders API set.
const (
	minExpiration    = 30 * time.Second
	maxExpiration    = 3600 * time.Hour
	minPollInterval  = 100 * time.Millisecond
	minSaleRetention = 24 * time.Hour
	maxStoreIDLen    = 32
	maxPOSIDLen      = 40
	maxRefPrefixLen  = 63
	maxStoreNameLen  = 64
	minDisplaySide   = 64
	maxDisplaySide   = 8192
)

type checker struct{ errs Errors }

func (v *checker) add(path, reason string, value *string) {
	v.errs = append(v.errs, Problem{Path: path, Reason: reason, Value: value})
}

// Validate checks every rule configs/posagent.yaml documents and returns every
// broken one, in the order of Config's fields. It reads no file: secrets and devices are
// Warnings' business, on the machine that runs the agent.
func (c *Config) Validate() Errors {
	v := &checker{}
	c.validateTop(v)
	c.validateMercadoPago(v)
	c.validateNATS(v)
	v.hostPort("http.listen", c.HTTP.Listen, true) // loopback or not is a warning
	v.absPath("state_dir", c.StateDir, true)
	if c.SaleRetention < minSaleRetention {
		v.add("sale_retention", "must be at least 24h: a register may resend a sale within a day, and a forgotten sale id would make a second order", quote(c.SaleRetention.String()))
	}
	c.validatePOS(v)
	return v.errs
}

func (c *Config) validateTop(v *checker) {
	switch {
	case c.StoreID == "":
		v.add("store_id", "required: 1-32 of A-Za-z0-9 and '-'", nil)
	case len(c.StoreID) > maxStoreIDLen || !allOf(c.StoreID, "-"):
		v.add("store_id", "must be 1-32 of A-Za-z0-9 and '-' (no '_' or '.'): it is a NATS subject token", quote(c.StoreID))
	}
	if !printable(c.StoreName) || utf8.RuneCountInString(c.StoreName) > maxStoreNameLen {
		v.add("store_name", "must be at most 64 printable characters: it is shown on screens and receipts", quote(c.StoreName))
	}
	if !slices.Contains(money.Locales(), c.Locale) {
		v.add("locale", "must be one of "+strings.Join(money.Locales(), ", "), quote(c.Locale))
	}
}

// validateBaseURL checks mercadopago.base_url without ever echoing a part
// of it that could hold a secret (user information, a query such as
// ?access_token=, a fragment): `config check` output ends up in journals
// and support tickets.
func (c *Config) validateBaseURL(v *checker, raw string) {
	const key, like = "mercadopago.base_url", "must be an absolute http or https URL like " + DefaultBaseURL
	u, err := url.Parse(raw)
	switch {
	case strings.Contains(raw, "@"): // user:password@host, wherever the parser would put it
		v.add(key, "must not hold credentials: the token comes from mercadopago.access_token_file", nil)
	case err != nil:
		v.add(key, like+" (not shown: it may hold a secret)", nil)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.Opaque != "":
		v.add(key, like, quote(shownURL(u)))
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		v.add(key, "must not have a query or fragment: API paths are appended to it, and it may hold a secret (not shown)", nil)
	}
}

// shownURL is u without user information, query or fragment.
func shownURL(u *url.URL) string {
	if u.Opaque != "" {
		return u.Scheme + ":"
	}
	s := u.Path
	if u.Scheme != "" || u.Host != "" {
		s = u.Scheme + "://" + u.Host + u.EscapedPath()
	}
	return s
}

func (c *Config) validateMercadoPago(v *checker) {
	m := c.MercadoPago
	if m.BaseURL == "" {
		v.add("mercadopago.base_url", "required: the Orders API URL, like "+DefaultBaseURL, nil)
	} else {
		c.validateBaseURL(v, m.BaseURL)
	}
	v.absPath("mercadopago.access_token_file", m.AccessTokenFile, false)
	if m.RequestTimeout <= 0 {
		v.add("mercadopago.request_timeout", "must be positive: it bounds one API attempt", quote(m.RequestTimeout.String()))
	}
	if m.RetryBudget < m.RequestTimeout || m.RetryBudget <= 0 {
		v.add("mercadopago.retry_budget", "must be positive and at least mercadopago.request_timeout ("+m.RequestTimeout.String()+"): it bounds all attempts", quote(m.RetryBudget.String()))
	}
	if m.PollInterval < minPollInterval {
		v.add("mercadopago.poll_interval", "must be at least 100ms: the API is asked this often while a QR awaits payment", quote(m.PollInterval.String()))
	}
	v.absPath("mercadopago.webhook_secret_file", m.WebhookSecretFile, false)
}

func (c *Config) validateNATS(v *checker) {
	n := c.NATS
	if n.URL != "" {
		for _, s := range strings.Split(n.URL, ",") {
			checkNATSURL(v, strings.TrimSpace(s))
		}
	}
	if !printable(n.Name) || len(n.Name) > 256 {
		v.add("nats.name", "must be at most 256 printable characters", quote(n.Name))
	}
	switch {
	case n.SubjectPrefix == "":
		v.add("nats.subject_prefix", "required: the first subject token(s), like pos", nil)
	case !validSubject(n.SubjectPrefix):
		v.add("nats.subject_prefix", "must be NATS subject tokens separated by '.', without spaces, '*', '>' or empty tokens", quote(n.SubjectPrefix))
	}
	for _, s := range []struct{ path, name string }{
		{"nats.streams.commands", n.Streams.Commands},
		{"nats.streams.events", n.Streams.Events},
	} {
		switch {
		case s.name == "":
			v.add(s.path, "required: a JetStream stream name", nil)
		case !validStreamName(s.name):
			v.add(s.path, "must be a JetStream stream name: at most 255 printable characters without spaces, '.', '*', '>', '/' or '\\'", quote(s.name))
		}
	}
	if n.Streams.Events != "" && n.Streams.Events == n.Streams.Commands {
		v.add("nats.streams.events", "must differ from nats.streams.commands: commands and events are kept by different rules", quote(n.Streams.Events))
	}
	if n.EventsMaxBytes <= 0 {
		v.add("nats.events_max_bytes", "must be positive: the events stream needs a size limit", quote(formatSize(n.EventsMaxBytes)))
	}
	if n.CommandsMaxBytes < MinCommandsMaxBytes {
		v.add("nats.commands_max_bytes", "must be at least 1MiB: the command stream needs room for a few large commands", quote(formatSize(n.CommandsMaxBytes)))
	}
	if n.RecordsMaxBytes < MinRecordsMaxBytes {
		v.add("nats.records_max_bytes", "must be at least 1MiB: the sale records need room", quote(formatSize(n.RecordsMaxBytes)))
	}
	if n.UnknownPOS != "keep" && n.UnknownPOS != "reject" {
		v.add("nats.unknown_pos", `must be "keep" or "reject"`, quote(n.UnknownPOS))
	}
	if n.URL == "" && n.Embedded.MaxStore > 0 {
		// The embedded server refuses a stream or bucket that does not fit
		// in what is left of max_store: say so now, not at run.
		if need := StorageNeeded(n); need > n.Embedded.MaxStore {
			v.add("nats.embedded.max_store", fmt.Sprintf("too small for events_max_bytes + commands_max_bytes + records_max_bytes + 1/8 headroom (%s)", formatSize(need)),
				quote(formatSize(n.Embedded.MaxStore)))
		}
	}
	validateNATSClient(v, n)
	c.validateEmbedded(v, n.Embedded)
}

// validateNATSClient checks how the agent authenticates to an external
// server.
func validateNATSClient(v *checker, n NATS) {
	a := n.Auth
	v.absPath("nats.auth.password_file", a.PasswordFile, false)
	v.absPath("nats.auth.token_file", a.TokenFile, false)
	v.absPath("nats.auth.creds_file", a.CredsFile, false)
	switch {
	case a.PasswordFile != "" && a.User == "":
		v.add("nats.auth.password_file", "requires nats.auth.user", nil)
	case a.User != "" && a.PasswordFile == "":
		v.add("nats.auth.user", "requires nats.auth.password_file (passwords are never written in this file)", quote(a.User))
	}
	if a.TokenFile != "" && a.User != "" {
		v.add("nats.auth.token_file", "not together with nats.auth.user: use one way to authenticate", quote(a.TokenFile))
	}
	if a.CredsFile != "" && (a.User != "" || a.TokenFile != "") {
		v.add("nats.auth.creds_file", "not together with nats.auth.user or nats.auth.token_file: use one way to authenticate", quote(a.CredsFile))
	}
	v.absPath("nats.tls.ca_file", n.TLS.CAFile, false)
	v.absPath("nats.tls.cert_file", n.TLS.CertFile, false)
	v.absPath("nats.tls.key_file", n.TLS.KeyFile, false)
	v.pair("nats.tls.cert_file", n.TLS.CertFile, "nats.tls.key_file", n.TLS.KeyFile)
}

// validateEmbedded checks the embedded server's section.
func (c *Config) validateEmbedded(v *checker, e Embedded) {
	v.hostPort("nats.embedded.listen", e.Listen, true)
	v.absPath("nats.embedded.auth.password_file", e.Auth.PasswordFile, false)
	v.pair("nats.embedded.auth.user", e.Auth.User, "nats.embedded.auth.password_file", e.Auth.PasswordFile)
	v.absPath("nats.embedded.auth.users_file", e.Auth.UsersFile, false)
	v.absPath("nats.embedded.tls.cert_file", e.TLS.CertFile, false)
	v.absPath("nats.embedded.tls.key_file", e.TLS.KeyFile, false)
	v.pair("nats.embedded.tls.cert_file", e.TLS.CertFile, "nats.embedded.tls.key_file", e.TLS.KeyFile)
	if !(e.StoreDir == filepath.Join(c.StateDir, "nats") && !filepath.IsAbs(c.StateDir)) {
		// (a store_dir derived from a bad state_dir is that key's problem)
		v.absPath("nats.embedded.store_dir", e.StoreDir, true)
	}
	if e.MaxMemory <= 0 {
		v.add("nats.embedded.max_memory", "must be positive: without a limit JetStream claims 75% of RAM", quote(formatSize(e.MaxMemory)))
	}
	if e.MaxStore <= 0 {
		v.add("nats.embedded.max_store", "must be positive: without a limit JetStream claims up to 1 TB of disk", quote(formatSize(e.MaxStore)))
	}
	if e.Sync != "always" {
		if d, err := time.ParseDuration(e.Sync); err != nil || d <= 0 {
			v.add("nats.embedded.sync", `must be "always" (fsync every write) or a sync interval like 1s`, quote(e.Sync))
		}
	}
	validateLeaf(v, e)
}

func checkNATSURL(v *checker, s string) {
	const path = "nats.url"
	if strings.Contains(s, "@") { // user:password@host: never echoed
		v.add(path, "must not hold credentials: use nats.auth", nil)
		return
	}
	u, err := url.Parse(s)
	if err != nil || !oneOf(natsSchemes, u.Scheme) || u.Hostname() == "" {
		v.add(path, "must be empty (embedded server) or comma-separated nats://, tls://, ws:// or wss:// URLs like nats://10.0.0.5:4222", quote(s))
		return
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			v.add(path, "port must be 1-65535", quote(s))
		}
	}
}

func (c *Config) validatePOS(v *checker) {
	if len(c.POS) == 0 {
		v.add("pos", "at least one POS is required", nil)
		return
	}
	ids := map[string]string{}     // external_pos_id -> path of its first use
	terminal := ""                 // path of the first terminal display
	outputs := map[string]string{} // png path / framebuffer / printer device -> path of its first use
	for i := range c.POS {
		p := &c.POS[i]
		base := fmt.Sprintf("pos[%d]", i)
		idPath := base + ".external_pos_id"
		switch {
		case p.ExternalPOSID == "":
			v.add(idPath, "required: the Mercado Pago POS external id, 1-40 letters and digits", nil)
		case len(p.ExternalPOSID) > maxPOSIDLen || !allOf(p.ExternalPOSID, ""):
			v.add(idPath, "must be 1-40 letters and digits: the Mercado Pago POS external id", quote(p.ExternalPOSID))
		default:
			if first, dup := ids[p.ExternalPOSID]; dup {
				v.add(idPath, "repeated: already used by "+first, quote(p.ExternalPOSID))
			} else {
				ids[p.ExternalPOSID] = idPath
			}
		}
		validatePOSOrder(v, base, p)
		for j, d := range p.Displays {
			dp := fmt.Sprintf("%s.displays[%d]", base, j)
			validateDisplay(v, dp, d)
			switch d.Type {
			case "terminal":
				if terminal != "" {
					v.add(dp+".type", "only one terminal display in all (there is one terminal): "+terminal+" is one", quote(d.Type))
				} else {
					terminal = dp
				}
			case "png":
				v.unique(outputs, dp+".path", d.Path)
			case "framebuffer":
				v.unique(outputs, dp+".device", d.Device)
			}
		}
		if p.Printer != nil {
			validatePrinter(v, base+".printer", p.Printer)
			if t := p.Printer.Transport; t == "serial" || t == "usb" {
				v.unique(outputs, base+".printer.device", p.Printer.Device)
			}
		}
	}
}

func validatePOSOrder(v *checker, base string, p *POS) {
	if !oneOf(modes, p.Mode) {
		v.add(base+".mode", "must be one of static, dynamic, hybrid", quote(p.Mode))
	}
	qp := base + ".static_qr_data"
	switch {
	case p.StaticQRData == "" && p.Mode == "static":
		v.add(qp, "required for mode static", nil)
	case p.StaticQRData != "":
		if pl, err := emvco.Parse(p.StaticQRData); err != nil {
			v.add(qp, "must be the POS's EMVCo QR payload: "+err.Error(), quote(p.StaticQRData))
		} else if pl.PointOfInitiation() == "12" {
			v.add(qp, "must be the POS's fixed QR (tag 01 = 11), not a one-order QR (12)", quote(p.StaticQRData))
		}
	}
	if p.ExpirationTime != "" {
		ep := base + ".expiration_time"
		d, err := isoduration.Parse(p.ExpirationTime)
		switch {
		case err != nil:
			v.add(ep, "must be an ISO 8601 duration like PT15M", quote(p.ExpirationTime))
		case d < minExpiration || d > maxExpiration:
			v.add(ep, "must be between PT30S and PT3600H (the Orders API's bounds)", quote(p.ExpirationTime))
		}
	}
	if r := p.ExternalReferencePrefix; len(r) > maxRefPrefixLen || (r != "" && !isWord(r)) {
		v.add(base+".external_reference_prefix", "must be at most 63 of A-Za-z0-9, '_' and '-': the Orders API's external_reference alphabet", quote(r))
	}
	if p.MaxCommandAge <= 0 {
		v.add(base+".max_command_age", "must be positive: older sale commands are rejected as stale", quote(p.MaxCommandAge.String()))
	}
	if p.ResultHold < 0 {
		v.add(base+".result_hold", "must not be negative", quote(p.ResultHold.String()))
	}
}

func validateDisplay(v *checker, dp string, d Display) {
	switch {
	case d.Type == "":
		v.add(dp+".type", "required: one of terminal, web, png, framebuffer", nil)
	case !oneOf(displayTypes, d.Type):
		v.add(dp+".type", "must be one of terminal, web, png, framebuffer", quote(d.Type))
	}
	if d.Type == "png" {
		if d.Path == "" {
			v.add(dp+".path", "required for type png", nil)
		} else {
			v.absPath(dp+".path", d.Path, true)
		}
		if d.Size.X < minDisplaySide || d.Size.X > maxDisplaySide || d.Size.Y < minDisplaySide || d.Size.Y > maxDisplaySide {
			v.add(dp+".size", "width and height must each be 64 to 8192 pixels", quote(fmt.Sprintf("%dx%d", d.Size.X, d.Size.Y)))
		}
	} else {
		if d.Path != "" {
			v.add(dp+".path", "only used by type png", quote(d.Path))
		}
		if d.Size.X != 0 || d.Size.Y != 0 {
			v.add(dp+".size", "only used by type png", quote(fmt.Sprintf("%dx%d", d.Size.X, d.Size.Y)))
		}
	}
	if d.Type == "framebuffer" {
		v.absPath(dp+".device", d.Device, true)
	} else if d.Device != "" {
		v.add(dp+".device", "only used by type framebuffer", quote(d.Device))
	}
	if !oneOf(eccLevels, d.ECC) {
		v.add(dp+".ecc", "must be one of L, M, Q, H (QR error correction)", quote(d.ECC))
	}
}

// validatePrinter applies the printer package's own rules, under the
// section's key path.
func validatePrinter(v *checker, pp string, p *Printer) {
	var fes []*printer.FieldError
	collectFieldErrors(p.Validate(), &fes)
	for _, fe := range fes {
		var value *string
		if fe.Value != nil {
			value = quote(*fe.Value)
		}
		v.add(pp+"."+fe.Field, fe.Reason, value)
	}
}

// collectFieldErrors flattens an errors.Join tree into its field errors.
func collectFieldErrors(err error, out *[]*printer.FieldError) {
	if fe, ok := err.(*printer.FieldError); ok {
		*out = append(*out, fe)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			collectFieldErrors(e, out)
		}
	}
}

// absPath checks an optional (or, with required, mandatory) absolute path.
// Relative paths are refused: the service runs in /, `config check` in a
// shell, and the two would read different files.
func (v *checker) absPath(path, value string, required bool) {
	switch {
	case value == "":
		if required {
			v.add(path, "required: an absolute path", nil)
		}
	case !filepath.IsAbs(value) || strings.ContainsFunc(value, unicode.IsControl):
		if secretFile(path) {
			v.add(path, "must be an absolute path (the service runs in /; "+notEchoed+")", nil)
			return
		}
		v.add(path, "must be an absolute path (the service runs in /)", quote(value))
	}
}

// notEchoed says why a problem leaves out its value.
const notEchoed = "a key naming a file with a secret is not echoed: the secret may have been pasted in place of its file name"

// secretFile reports whether the key names a file that holds a secret
// (a token, a password, credentials, a private key): its value is never
// echoed, since the commonest mistake is the secret itself in its place.
func secretFile(path string) bool {
	for _, s := range []string{"token_file", "secret_file", "password_file", "creds_file", "key_file", "users_file"} {
		if strings.HasSuffix(path, s) {
			return true
		}
	}
	return false
}

// pair checks two keys that go together: both set or both empty.
func (v *checker) pair(pa, a, pb, b string) {
	switch {
	case a != "" && b == "":
		v.add(pb, "required with "+pa, nil)
	case a == "" && b != "":
		v.add(pa, "required with "+pb, nil)
	}
}

// hostPort checks a listen address; port 0 picks a free port (tests).
func (v *checker) hostPort(path, s string, required bool) {
	if s == "" {
		if required {
			v.add(path, "required: host:port, like 127.0.0.1:8080", nil)
		}
		return
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || !validPort(port, true) || strings.ContainsFunc(host, func(r rune) bool {
		return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r)
	}) {
		v.add(path, "must be host:port, like 127.0.0.1:8080", quote(s))
	}
}

// unique records that an output (file or device) is used at path, and
// complains when another display or printer already uses it.
func (v *checker) unique(seen map[string]string, path, value string) {
	if value == "" {
		return
	}
	if first, dup := seen[value]; dup {
		v.add(path, "already used by "+first+": two outputs cannot share it", quote(value))
		return
	}
	seen[value] = path
}

func validPort(p string, zeroOK bool) bool {
	n, err := strconv.Atoi(p)
	if err != nil || p == "" || p[0] == '+' || p[0] == '-' {
		return false
	}
	return n <= 65535 && (n > 0 || zeroOK && n == 0)
}

// allOf reports whether s is non-empty and made of ASCII letters, digits and
// the characters in extra.
func allOf(s, extra string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

func validSubject(s string) bool {
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") || strings.ContainsFunc(tok, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r)
		}) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func validStreamName(s string) bool {
	return len(s) <= 255 && printable(s) && !strings.ContainsAny(s, " .*>/\\") &&
		!strings.ContainsFunc(s, unicode.IsSpace)
}
