package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/emvco"
)

// base is the smallest valid file; cases append to it or replace it.
const base = `store_id: S1
pos:
  - external_pos_id: POS1
    displays: [{type: terminal}]
`

const (
	staticSample  = "00020101021143520016com.mercadolibre0128https://mpago.la/pos/1043915501300091234567895204970053030325802AR5909FULL NAME6010CITY LEGAL63040AAB"
	dynamicSample = "00020101021243650016COM.MERCADOLIBRE020130636cd8fce34-5045-43f2-96ff-ab36b717bbad5204000053039865802BR5909Test Test6009SAO PAULO62070503***63045742"
)

// withPOS is base's store with the given pos list (YAML, indented by 2).
func withPOS(pos string) string { return "store_id: S1\npos:\n" + pos }

func TestParseBad(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every problem line, in order
	}{
		{"baud not a number", withPOS(`
  - external_pos_id: POS1
    displays: [{type: terminal}]
  - external_pos_id: POS2
    printer: {transport: serial, device: /dev/ttyUSB0, baud: abc}
`), []string{`pos[1].printer.baud: must be a whole number ("abc")`}},
		{"baud not standard", withPOS(`
  - external_pos_id: POS1
    printer: {transport: serial, device: /dev/ttyUSB0, baud: 1234}
`), []string{`pos[0].printer.baud: must be a standard rate: 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600 ("1234")`}},
		{"baud ignored off serial", withPOS(`
  - external_pos_id: POS1
    printer: {transport: tcp, device: "printer.local:9100", baud: 1234}
`), nil},
		{"static without qr data", withPOS(`
  - external_pos_id: POS1
    mode: static
`), []string{`pos[0].static_qr_data: required for mode static`}},
		{"static with empty qr data", withPOS(`
  - external_pos_id: POS1
    mode: static
    static_qr_data: ""
`), []string{`pos[0].static_qr_data: required for mode static`}},
		{"unknown printer key", withPOS(`
  - external_pos_id: POS1
    printer: {transport: file, device: /tmp/r.bin, bauds: 9600}
`), []string{`pos[0].printer.bauds: unknown key`}},
		{"unknown top key", base + "colour: blue\n", []string{`colour: unknown key`}},
		{"unknown odd key", base + "\"foo bar\": 1\n", []string{`["foo bar"]: unknown key`}},
		{"repeated key", base + "store_id: S2\n", []string{`store_id: repeated key (first on line 1)`}},
		{"missing store id", "pos: [{external_pos_id: POS1, mode: hybrid}]\n", []string{`store_id: required: 1-32 of A-Za-z0-9 and '-'`}},
		{"store id underscore", strings.Replace(base, "S1", "S_1", 1), []string{`store_id: must be 1-32 of A-Za-z0-9 and '-' (no '_' or '.'): it is a NATS subject token ("S_1")`}},
		{"store id too long", strings.Replace(base, "S1", strings.Repeat("a", 33), 1), []string{`store_id: must be 1-32 of A-Za-z0-9 and '-' (no '_' or '.'): it is a NATS subject token ("` + strings.Repeat("a", 33) + `")`}},
		{"no pos", "store_id: S1\n", []string{`pos: at least one POS is required`}},
		{"empty pos list", "store_id: S1\npos: []\n", []string{`pos: at least one POS is required`}},
		{"pos not a list", "store_id: S1\npos: {external_pos_id: P1}\n", []string{`pos: must be a list (lines starting with -)`}},
		{"section not a mapping", base + "nats: foo\n", []string{`nats: must be a mapping of keys, not a string ("foo")`}},
		{"string given a list", base + "locale: [es-AR]\n", []string{`locale: must be a string, not a list`}},
		{"bad locale", base + "locale: fr-FR\n", []string{`locale: must be one of es-AR, pt-BR, es-CL, es-UY, es-MX, es-PE, es-CO, en ("fr-FR")`}},
		{"store name control char", base + "store_name: \"a\\tb\"\n", []string{`store_name: must be at most 64 printable characters: it is shown on screens and receipts ("a\tb")`}},
		{"duration without unit", base + "mercadopago: {request_timeout: 10}\n", []string{`mercadopago.request_timeout: must be a duration like 10s, 2m or 168h ("10")`}},
		{"zero request timeout", base + "mercadopago: {request_timeout: 0s}\n", []string{`mercadopago.request_timeout: must be positive: it bounds one API attempt ("0s")`}},
		{"budget below timeout", base + "mercadopago: {request_timeout: 30s, retry_budget: 5s}\n", []string{`mercadopago.retry_budget: must be positive and at least mercadopago.request_timeout (30s): it bounds all attempts ("5s")`}},
		{"poll too fast", base + "mercadopago: {poll_interval: 50ms}\n", []string{`mercadopago.poll_interval: must be at least 100ms: the API is asked this often while a QR awaits payment ("50ms")`}},
		{"base url scheme", base + "mercadopago: {base_url: \"ftp://x\"}\n", []string{`mercadopago.base_url: must be an absolute http or https URL like https://api.mercadopago.com ("ftp://x")`}},
		{"base url query", base + "mercadopago: {base_url: \"https://x/?a=1\"}\n", []string{`mercadopago.base_url: must not have a query or fragment: API paths are appended to it, and it may hold a secret (not shown)`}},
		{"base url fragment", base + "mercadopago: {base_url: \"https://x/#tok\"}\n", []string{`mercadopago.base_url: must not have a query or fragment: API paths are appended to it, and it may hold a secret (not shown)`}},
		{"base url scheme and query", base + "mercadopago: {base_url: \"ftp://x/p?access_token=APP_USR-1\"}\n", []string{`mercadopago.base_url: must be an absolute http or https URL like https://api.mercadopago.com ("ftp://x/p")`}},
		{"base url unparsable", base + "mercadopago: {base_url: \"https://x/%zz?access_token=APP_USR-1\"}\n", []string{`mercadopago.base_url: must be an absolute http or https URL like https://api.mercadopago.com (not shown: it may hold a secret)`}},
		{"base url user only", base + "mercadopago: {base_url: \"https://APP_USR-1@x\"}\n", []string{`mercadopago.base_url: must not hold credentials: the token comes from mercadopago.access_token_file`}},
		{"base url credentials", base + "mercadopago: {base_url: \"https://u:hunter2@x\"}\n", []string{`mercadopago.base_url: must not hold credentials: the token comes from mercadopago.access_token_file`}},
		{"relative token file", base + "mercadopago: {access_token_file: token.txt}\n", []string{`mercadopago.access_token_file: must be an absolute path (the service runs in /; a key naming a file with a secret is not echoed: the secret may have been pasted in place of its file name)`}},
		{"secret pasted for its file", base + "mercadopago: {access_token_file: APP_USR-1234567890123456-010203-abcdef}\nnats: {auth: {password_file: hunter2}, embedded: {auth: {password_file: s3cr3t}}}\n", []string{
			`mercadopago.access_token_file: must be an absolute path (the service runs in /; a key naming a file with a secret is not echoed: the secret may have been pasted in place of its file name)`,
			`nats.auth.password_file: must be an absolute path (the service runs in /; a key naming a file with a secret is not echoed: the secret may have been pasted in place of its file name)`,
			`nats.auth.password_file: requires nats.auth.user`,
			`nats.embedded.auth.password_file: must be an absolute path (the service runs in /; a key naming a file with a secret is not echoed: the secret may have been pasted in place of its file name)`,
			`nats.embedded.auth.user: required with nats.embedded.auth.password_file`}},
		{"storage does not fit", base + "nats: {embedded: {max_store: 100MiB}}\n", []string{`nats.embedded.max_store: too small for events_max_bytes + commands_max_bytes + records_max_bytes + 1/8 headroom (162MiB) ("100MiB")`}},
		{"storage limits", base + "nats: {commands_max_bytes: 1KiB, records_max_bytes: 0, unknown_pos: drop}\n", []string{
			`nats.commands_max_bytes: must be at least 1MiB: the command stream needs room for a few large commands ("1KiB")`,
			`nats.records_max_bytes: must be at least 1MiB: the sale records need room ("0")`,
			`nats.unknown_pos: must be "keep" or "reject" ("drop")`,
		}},
		{"bad size", base + "nats: {events_max_bytes: 64MB}\n", []string{`nats.events_max_bytes: must be a size like 512KiB, 64MiB or 1GiB, or a number of bytes ("64MB")`}},
		{"zero max memory", base + "nats: {embedded: {max_memory: 0}}\n", []string{`nats.embedded.max_memory: must be positive: without a limit JetStream claims 75% of RAM ("0")`}},
		{"bad sync", base + "nats: {embedded: {sync: sometimes}}\n", []string{`nats.embedded.sync: must be "always" (fsync every write) or a sync interval like 1s ("sometimes")`}},
		{"wildcard prefix", base + "nats: {subject_prefix: \"pos.*\"}\n", []string{`nats.subject_prefix: must be NATS subject tokens separated by '.', without spaces, '*', '>' or empty tokens ("pos.*")`}},
		{"empty token in prefix", base + "nats: {subject_prefix: \"a..b\"}\n", []string{`nats.subject_prefix: must be NATS subject tokens separated by '.', without spaces, '*', '>' or empty tokens ("a..b")`}},
		{"stream with dot", base + "nats: {streams: {commands: POS.CMD}}\n", []string{`nats.streams.commands: must be a JetStream stream name: at most 255 printable characters without spaces, '.', '*', '>', '/' or '\' ("POS.CMD")`}},
		{"same streams", base + "nats: {streams: {commands: X, events: X}}\n", []string{`nats.streams.events: must differ from nats.streams.commands: commands and events are kept by different rules ("X")`}},
		{"nats url scheme", base + "nats: {url: \"nats://a:4222, http://b:4222\"}\n", []string{`nats.url: must be empty (embedded server) or comma-separated nats://, tls://, ws:// or wss:// URLs like nats://10.0.0.5:4222 ("http://b:4222")`}},
		{"nats url credentials", base + "nats: {url: \"nats://u:hunter2@a:4222\"}\n", []string{`nats.url: must not hold credentials: use nats.auth`}},
		{"nats url list ok", base + "nats: {url: \"nats://a:4222,tls://b,ws://c:8080/x\"}\n", nil},
		{"password without user", base + "nats: {auth: {password_file: /etc/p}}\n", []string{`nats.auth.password_file: requires nats.auth.user`}},
		{"token with user", base + "nats: {auth: {user: u, password_file: /etc/p, token_file: /etc/t}}\n", []string{`nats.auth.token_file: not together with nats.auth.user: use one way to authenticate ("/etc/t")`}},
		{"creds with token", base + "nats: {auth: {token_file: /etc/t, creds_file: /etc/c}}\n", []string{`nats.auth.creds_file: not together with nats.auth.user or nats.auth.token_file: use one way to authenticate ("/etc/c")`}},
		{"tls key without cert", base + "nats: {tls: {key_file: /etc/k}}\n", []string{`nats.tls.cert_file: required with nats.tls.key_file`}},
		{"embedded user without password", base + "nats: {embedded: {auth: {user: reg}}}\n", []string{`nats.embedded.auth.password_file: required with nats.embedded.auth.user`}},
		{"listen without port", base + "http: {listen: \"8080\"}\n", []string{`http.listen: must be host:port, like 127.0.0.1:8080 ("8080")`}},
		{"listen port too big", base + "nats: {embedded: {listen: \"0.0.0.0:70000\"}}\n", []string{`nats.embedded.listen: must be host:port, like 127.0.0.1:8080 ("0.0.0.0:70000")`}},
		{"relative state dir", base + "state_dir: state\n", []string{`state_dir: must be an absolute path (the service runs in /) ("state")`}},
		{"short retention", base + "sale_retention: 1h\n", []string{`sale_retention: must be at least 24h: a register may resend a sale within a day, and a forgotten sale id would make a second order ("1h")`}},
		{"pos id with dash", withPOS("  - {external_pos_id: POS-1, mode: hybrid}\n"), []string{`pos[0].external_pos_id: must be 1-40 letters and digits: the Mercado Pago POS external id ("POS-1")`}},
		{"pos id missing", withPOS("  - {mode: hybrid}\n"), []string{`pos[0].external_pos_id: required: the Mercado Pago POS external id, 1-40 letters and digits`}},
		{"pos id repeated", withPOS("  - {external_pos_id: P1, mode: hybrid}\n  - {external_pos_id: P1, mode: hybrid}\n"), []string{`pos[1].external_pos_id: repeated: already used by pos[0].external_pos_id ("P1")`}},
		{"bad mode", withPOS("  - {external_pos_id: P1, mode: fixed}\n"), []string{`pos[0].mode: must be one of static, dynamic, hybrid ("fixed")`}},
		{"headless dynamic POS", withPOS("  - {external_pos_id: P1}\n"), nil},
		{"static ok", withPOS("  - {external_pos_id: P1, mode: static, static_qr_data: \"" + staticSample + "\"}\n"), nil},
		{"static bad crc", withPOS("  - {external_pos_id: P1, mode: static, static_qr_data: \"" + staticSample[:len(staticSample)-4] + "0AAC\"}\n"),
			[]string{`pos[0].static_qr_data: must be the POS's EMVCo QR payload: ` + checkErr(staticSample[:len(staticSample)-4]+"0AAC") + ` ("` + staticSample[:len(staticSample)-4] + `0AAC")`}},
		{"static given a dynamic qr", withPOS("  - {external_pos_id: P1, mode: hybrid, static_qr_data: \"" + dynamicSample + "\"}\n"),
			[]string{`pos[0].static_qr_data: must be the POS's fixed QR (tag 01 = 11), not a one-order QR (12) ("` + dynamicSample + `")`}},
		{"expiration not iso", withPOS("  - {external_pos_id: P1, mode: hybrid, expiration_time: 15m}\n"), []string{`pos[0].expiration_time: must be an ISO 8601 duration like PT15M ("15m")`}},
		{"expiration too short", withPOS("  - {external_pos_id: P1, mode: hybrid, expiration_time: PT10S}\n"), []string{`pos[0].expiration_time: must be between PT30S and PT3600H (the Orders API's bounds) ("PT10S")`}},
		{"reference prefix", withPOS("  - {external_pos_id: P1, mode: hybrid, external_reference_prefix: a.b}\n"), []string{`pos[0].external_reference_prefix: must be at most 63 of A-Za-z0-9, '_' and '-': the Orders API's external_reference alphabet ("a.b")`}},
		{"negative command age", withPOS("  - {external_pos_id: P1, mode: hybrid, max_command_age: -5m}\n"), []string{`pos[0].max_command_age: must be positive: older sale commands are rejected as stale ("-5m")`}},
		{"display type", withPOS("  - {external_pos_id: P1, displays: [{type: lcd}]}\n"), []string{`pos[0].displays[0].type: must be one of terminal, web, png, framebuffer ("lcd")`}},
		{"display type missing", withPOS("  - {external_pos_id: P1, displays: [{ecc: M}]}\n"), []string{`pos[0].displays[0].type: required: one of terminal, web, png, framebuffer`}},
		{"png without path", withPOS("  - {external_pos_id: P1, displays: [{type: png}]}\n"), []string{`pos[0].displays[0].path: required for type png`}},
		{"png too small", withPOS("  - {external_pos_id: P1, displays: [{type: png, path: /tmp/q.png, size: 10x10}]}\n"), []string{`pos[0].displays[0].size: width and height must each be 64 to 8192 pixels ("10x10")`}},
		{"size not WxH", withPOS("  - {external_pos_id: P1, displays: [{type: png, path: /tmp/q.png, size: big}]}\n"), []string{`pos[0].displays[0].size: must be WIDTHxHEIGHT in pixels like 800x480 ("big")`}},
		{"path on terminal", withPOS("  - {external_pos_id: P1, displays: [{type: terminal, path: /tmp/q.png}]}\n"), []string{`pos[0].displays[0].path: only used by type png ("/tmp/q.png")`}},
		{"bad ecc", withPOS("  - {external_pos_id: P1, displays: [{type: web, ecc: X}]}\n"), []string{`pos[0].displays[0].ecc: must be one of L, M, Q, H (QR error correction) ("X")`}},
		{"two terminals", withPOS("  - {external_pos_id: P1, displays: [{type: terminal}]}\n  - {external_pos_id: P2, displays: [{type: web}, {type: terminal}]}\n"),
			[]string{`pos[1].displays[1].type: only one terminal display in all (there is one terminal): pos[0].displays[0] is one ("terminal")`}},
		{"shared png", withPOS("  - {external_pos_id: P1, displays: [{type: png, path: /tmp/q.png}]}\n  - {external_pos_id: P2, displays: [{type: png, path: /tmp/q.png}]}\n"),
			[]string{`pos[1].displays[0].path: already used by pos[0].displays[0].path: two outputs cannot share it ("/tmp/q.png")`}},
		{"printer transport missing", withPOS("  - {external_pos_id: P1, printer: {device: /dev/ttyUSB0}}\n"), []string{`pos[0].printer.transport: required: one of serial, usb, tcp, file`}},
		{"printer device missing", withPOS("  - {external_pos_id: P1, printer: {transport: usb}}\n"), []string{`pos[0].printer.device: required: the serial/usb device, tcp host:port or file`}},
		{"tcp without port", withPOS("  - {external_pos_id: P1, printer: {transport: tcp, device: printer.local}}\n"), []string{`pos[0].printer.device: must be host:port for transport tcp, like 192.168.1.50:9100 ("printer.local")`}},
		{"native on raster profile", withPOS("  - {external_pos_id: P1, printer: {transport: usb, device: /dev/usb/lp0, profile: generic58, qr: native}}\n"),
			[]string{`pos[0].printer.qr: profile generic58 has no native QR (it would print as text): use raster or auto ("native")`}},
		{"printer enums", withPOS("  - {external_pos_id: P1, printer: {transport: usb, device: /dev/usb/lp0, flow_control: hw, profile: star, qr: maybe, code_page: utf8, paper_width_dots: 100, max_module_dots: 0, write_timeout: 0s, status_query: sometimes}}\n"), []string{
			`pos[0].printer.flow_control: must be one of none, rtscts, xonxoff ("hw")`,
			`pos[0].printer.write_timeout: must be at least 100ms: a stuck printer must not hang the POS ("0s")`,
			`pos[0].printer.profile: must be one of epson, epson58, tm-t88, generic58, generic80 ("star")`,
			`pos[0].printer.qr: must be one of native, raster, auto ("maybe")`,
			`pos[0].printer.paper_width_dots: must be 0 (the profile's) or a multiple of 8 from 128 to 2048 ("100")`,
			`pos[0].printer.code_page: must be "" (the profile's) or one of cp437, cp850, cp858, cp860, wpc1252 ("utf8")`,
			`pos[0].printer.max_module_dots: must be 1 to 16 dots per QR module ("0")`,
			`pos[0].printer.status_query: must be one of auto, on, off ("sometimes")`,
		}},
		{"printer timings", withPOS("  - {external_pos_id: P1, printer: {transport: usb, device: /dev/usb/lp0, status_timeout: 0s, retry_min: 5s, retry_max: 1s, raster_band_rows: -1}}\n"), []string{
			`pos[0].printer.status_timeout: must be positive ("0s")`,
			`pos[0].printer.retry_max: must not be below retry_min ("1s")`,
			`pos[0].printer.raster_band_rows: must be 0 (the profile's) or 1 to 2303 ("-1")`,
		}},
		{"shared serial printer", withPOS("  - {external_pos_id: P1, printer: {transport: serial, device: /dev/ttyS0}}\n  - {external_pos_id: P2, printer: {transport: serial, device: /dev/ttyS0}}\n"),
			[]string{`pos[1].printer.device: already used by pos[0].printer.device: two outputs cannot share it ("/dev/ttyS0")`}},
		{"bad element keeps indices", withPOS("  - 5\n  - {external_pos_id: P-2, mode: hybrid}\n"), []string{
			`pos[0]: must be a mapping of keys, not a value ("5")`,
			`pos[1].external_pos_id: must be 1-40 letters and digits: the Mercado Pago POS external id ("P-2")`,
		}},
		{"syntax error", "store_id: S1\npos: [\n", []string{`YAML syntax error: line 2: did not find expected node content`}},
		{"tab indentation", "store_id: S1\n\tpos: []\n", []string{`YAML syntax error: line 2: found a tab character that violates indentation`}},
		{"not a mapping", "- store_id: S1\n", []string{`the file must be a YAML mapping of keys (like store_id: S001)`}},
		{"two documents", base + "---\nstore_id: S2\n", []string{`YAML: line 5: a second document (after ---): the file must hold one`}},
		{"empty file", "", []string{`store_id: required: 1-32 of A-Za-z0-9 and '-'`, `pos: at least one POS is required`}},
		{"alias bomb", aliasBomb(), []string{`defs: unknown key`, `too many values (aliases expanded): not a configuration file`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected problems:\n%v", err)
				}
				if c == nil {
					t.Fatal("nil config without error")
				}
				return
			}
			if c != nil {
				t.Errorf("got a config with problems")
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v is not Errors", err, err)
			}
			got := strings.Split(errs.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}

// checkErr is emvco's reason for s, which the problem quotes.
func checkErr(s string) string {
	if err := emvco.Check(s); err != nil {
		return err.Error()
	}
	return "<valid>"
}

// aliasBomb is a small file whose merge keys expand to 10^7 mappings.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("store_id: S1\ndefs:\n  - &m0 {external_pos_id: A}\n")
	for i := 1; i <= 7; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "  - &m%d {<<: [%s]}\n", i, refs)
	}
	b.WriteString("pos: [*m7]\n")
	return b.String()
}
