package config

import (
	"io/fs"
	"strings"
	"testing"
	"time"
)

// fakeInfo is a file the fake machine has.
type fakeInfo struct {
	name string
	mode fs.FileMode
	size int64
}

func (f fakeInfo) Name() string       { return f.name }
func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return nil }

// fakeEnv is a machine with the given environment and files; a file mode
// of fs.ModeIrregular stands for "stat fails with EACCES".
func fakeEnv(env map[string]string, files map[string]fs.FileMode) Env {
	return Env{
		Getenv: func(k string) string { return env[k] },
		Stat: func(name string) (fs.FileInfo, error) {
			m, ok := files[name]
			if !ok {
				return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
			}
			if m == fs.ModeIrregular {
				return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrPermission}
			}
			return fakeInfo{name: name, mode: m, size: 42}, nil
		},
	}
}

// machine has everything the smallest config (base) names, in good order.
func machine() map[string]fs.FileMode {
	return map[string]fs.FileMode{
		"/var/lib/posagent":                  fs.ModeDir | 0o750,
		"/etc/posagent/token":                0o600,
		"/run/credentials/x":                 fs.ModeDir | 0o500,
		"/run/credentials/x/mp-access-token": 0o400,
	}
}

func TestWarnings(t *testing.T) {
	const tokenFile = "mercadopago: {access_token_file: /etc/posagent/token}\n"
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		files func(map[string]fs.FileMode)
		want  []string
	}{
		{"all good", base + tokenFile, nil, nil, nil},
		{"headless dynamic POS", "store_id: S1\npos: [{external_pos_id: P1}, {external_pos_id: P2, mode: hybrid}]\n" + tokenFile, nil, nil,
			[]string{"warning: pos[0].displays: none and no printer: the dynamic QR is only in the created event, for the register to show"}},
		{"token file open to others", base + tokenFile, nil,
			func(f map[string]fs.FileMode) { f["/etc/posagent/token"] = 0o644 },
			[]string{"warning: mercadopago.access_token_file: readable or writable by group or others (mode 0644): chmod 600 it"}},
		{"token file absent", base + tokenFile, nil,
			func(f map[string]fs.FileMode) { delete(f, "/etc/posagent/token") },
			[]string{"warning: mercadopago.access_token_file: file /etc/posagent/token not found on this machine (and no systemd credential mp-access-token)"}},
		{"token file absent but a credential", base + tokenFile, map[string]string{"CREDENTIALS_DIRECTORY": "/run/credentials/x"},
			func(f map[string]fs.FileMode) { delete(f, "/etc/posagent/token") }, nil},
		{"token file unreadable", base + tokenFile, nil,
			func(f map[string]fs.FileMode) { f["/etc/posagent/token"] = fs.ModeIrregular },
			[]string{"warning: mercadopago.access_token_file: cannot be checked: permission denied"}},
		{"token from env", base + tokenFile, map[string]string{TokenEnv: "x"},
			func(f map[string]fs.FileMode) { f["/etc/posagent/token"] = 0o644 }, nil},
		{"no token source", base + "mercadopago: {access_token_file: \"\"}\n", nil, nil,
			[]string{"warning: mercadopago.access_token_file: no access token on this machine: set this key, env POSAGENT_MP_ACCESS_TOKEN or the systemd credential mp-access-token"}},
		{"default token file absent", base, nil, nil,
			[]string{"warning: mercadopago.access_token_file: file /etc/posagent/mp-access-token not found on this machine (and no systemd credential mp-access-token)"}},
		{"credential only", base, map[string]string{"CREDENTIALS_DIRECTORY": "/run/credentials/x"}, nil, nil},
		{"http on all interfaces", base + tokenFile + "http: {listen: \"0.0.0.0:8080\"}\n", nil, nil,
			[]string{"warning: http.listen: reachable from the network without authentication (status page, metrics, web display): needed only for a web display on another device"}},
		{"http on localhost", base + tokenFile + "http: {listen: \"localhost:8080\"}\n", nil, nil, nil},
		{"nats open without auth", base + tokenFile + "nats: {embedded: {listen: \":4222\"}}\n", nil, nil,
			[]string{"warning: nats.embedded.listen: listens beyond this machine without nats.embedded.auth: anyone on the network can send sales and read events"}},
		{"nats open with auth", base + tokenFile + "nats: {embedded: {listen: \"0.0.0.0:4222\", auth: {user: reg, password_file: /etc/posagent/nats-pw}}}\n", nil,
			func(f map[string]fs.FileMode) { f["/etc/posagent/nats-pw"] = 0o600 }, nil},
		{"external nats leaves embedded alone", base + tokenFile + "nats: {url: \"nats://10.0.0.5:4222\", embedded: {listen: \"0.0.0.0:4222\"}}\n", nil, nil, nil},
		{"client auth with embedded server", base + tokenFile + "nats: {auth: {token_file: /etc/posagent/nt}}\n", nil,
			func(f map[string]fs.FileMode) { f["/etc/posagent/nt"] = 0o600 },
			[]string{"warning: nats.auth: ignored: nats.url is empty, so the embedded server runs (see nats.embedded.auth)"}},
		{"external nats secrets", base + tokenFile + "nats: {url: \"tls://hub:4222\", auth: {creds_file: /etc/posagent/a.creds}, tls: {ca_file: /etc/posagent/ca.pem}}\n", nil,
			func(f map[string]fs.FileMode) { f["/etc/posagent/a.creds"] = 0o640 }, []string{
				"warning: nats.auth.creds_file: readable or writable by group or others (mode 0640): chmod 600 it",
				"warning: nats.tls.ca_file: file /etc/posagent/ca.pem not found on this machine",
			}},
		{"plain http api", base + "mercadopago: {access_token_file: /etc/posagent/token, base_url: \"http://192.168.1.9:8099\"}\n", nil, nil,
			[]string{"warning: mercadopago.base_url: plain http beyond this machine: the access token would travel unencrypted"}},
		{"plain http api on loopback", base + "mercadopago: {access_token_file: /etc/posagent/token, base_url: \"http://127.0.0.1:8099\"}\n", nil, nil, nil},
		{"state dir absent", base + tokenFile, nil,
			func(f map[string]fs.FileMode) { delete(f, "/var/lib/posagent") },
			[]string{"warning: state_dir: directory /var/lib/posagent not found on this machine"}},
		{"devices absent", "store_id: S1\n" + tokenFile + `pos:
  - external_pos_id: P1
    displays: [{type: framebuffer}, {type: png, path: /srv/q/a.png}]
    printer: {transport: serial, device: /dev/ttyUSB0}
  - external_pos_id: P2
    printer: {transport: file, device: /srv/r/receipts.bin}
`, nil, nil, []string{
			"warning: pos[0].displays[0].device: device /dev/fb0 not found on this machine",
			"warning: pos[0].displays[1].path: directory /srv/q not found on this machine",
			"warning: pos[0].printer.device: device /dev/ttyUSB0 not found on this machine",
			"warning: pos[1].printer.device: directory /srv/r not found on this machine",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			files := machine()
			if tt.files != nil {
				tt.files(files)
			}
			var got []string
			for _, w := range c.Warnings(fakeEnv(tt.env, files)) {
				got = append(got, w.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("warnings:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}

// A zero Env is the real machine, and nothing there panics.
func TestWarningsZeroEnv(t *testing.T) {
	c := Default()
	c.StateDir = t.TempDir()
	for _, w := range c.Warnings(Env{}) {
		if w.Path == "state_dir" {
			t.Errorf("existing state dir warned about: %v", w)
		}
	}
}

// Validate refuses zero JetStream limits, but a Config built in code may
// still have them: Warnings says so too.
func TestWarningsNoJetStreamLimits(t *testing.T) {
	c := Default()
	c.NATS.Embedded.MaxStore = 0
	var got []string
	for _, w := range c.Warnings(fakeEnv(map[string]string{TokenEnv: "x"}, machine())) {
		got = append(got, w.String())
	}
	want := "warning: nats.embedded: JetStream limits max_memory and max_store missing: the server would claim 75% of RAM and up to 1 TB of disk"
	if strings.Join(got, "\n") != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
